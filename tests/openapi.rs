//! The request-body validator in `tests/support/openapi.rs`, against
//! Discord's real OpenAPI document: valid bodies pass, each kind of
//! violation is reported with a pointer to the offending value, and concrete
//! paths map to the spec's templates.

mod support;

use serde_json::{Value, json};
use support::openapi::{Spec, template_of};

const CREATE_MESSAGE: &str = "/channels/{channel_id}/messages";
const EXECUTE_WEBHOOK: &str = "/webhooks/{webhook_id}/{webhook_token}";

fn create_message(body: &Value) -> Vec<String> {
    Spec::load().validate_request("POST", CREATE_MESSAGE, body)
}

/// Asserts exactly one violation, at `pointer` (`""` for the body itself),
/// and returns its text.
fn single_violation_at(errors: &[String], pointer: &str) -> String {
    let pointer = if pointer.is_empty() {
        "(body)"
    } else {
        pointer
    };
    assert_eq!(
        errors.len(),
        1,
        "expected one violation at {pointer}, got {errors:#?}"
    );
    assert!(
        errors[0].starts_with(&format!("{pointer}: ")),
        "expected a violation at {pointer}, got {errors:#?}"
    );
    errors[0].clone()
}

/// A message like the bridge sends: content, an embed using every limited
/// field, mentions switched off, and a nonce the daemon can retry with.
fn full_message() -> Value {
    json!({
        "content": "👋 **p000001** joined the game",
        "allowed_mentions": {"parse": []},
        "embeds": [{
            "title": "Research finished",
            "description": "Automation 2",
            "color": 3066993,
            "fields": [{"name": "server", "value": "s1", "inline": true}],
            "footer": {"text": "factorio-isr"},
            "author": {"name": "p000001"},
            "timestamp": "2024-04-09T06:08:43Z"
        }],
        "nonce": "isr-1-42",
        "enforce_nonce": true,
        "flags": 4096
    })
}

#[test]
fn a_valid_message_create_request_passes() {
    let body = full_message();
    assert_eq!(create_message(&body), Vec::<String>::new());
    let by_name = Spec::load().validate_schema("MessageCreateRequest", &body);
    assert_eq!(by_name, Vec::<String>::new());
}

#[test]
fn content_of_4001_characters_fails_at_content() {
    let errors = create_message(&json!({"content": "a".repeat(4001)}));
    let error = single_violation_at(&errors, "/content");
    assert!(error.contains("maxLength 4000"), "{error}");
}

/// Lengths are counted in characters: 4000 two-byte characters are 8000
/// bytes and still pass.
#[test]
fn content_length_counts_characters_not_bytes() {
    assert_eq!(
        create_message(&json!({"content": "é".repeat(4000)})),
        Vec::<String>::new()
    );
    let errors = create_message(&json!({"content": "🏭".repeat(4001)}));
    single_violation_at(&errors, "/content");
}

#[test]
fn eleven_embeds_fail_at_embeds() {
    let embeds: Vec<Value> = (0..11).map(|i| json!({"title": format!("e{i}")})).collect();
    let errors = create_message(&json!({"content": "x", "embeds": embeds}));
    let error = single_violation_at(&errors, "/embeds");
    assert!(error.contains("maxItems 10"), "{error}");
}

#[test]
fn an_unknown_allowed_mentions_parse_value_fails() {
    let errors = create_message(&json!({"content": "x", "allowed_mentions": {"parse": ["here"]}}));
    let error = single_violation_at(&errors, "/allowed_mentions/parse/0");
    assert!(error.contains(r#""here" is not one of"#), "{error}");
    assert!(error.contains(r#""everyone""#), "{error}");
}

#[test]
fn allowed_mentions_parse_values_must_be_unique() {
    let body = json!({"content": "x", "allowed_mentions": {"parse": ["users", "users"]}});
    single_violation_at(&create_message(&body), "/allowed_mentions/parse/1");
}

#[test]
fn a_webhook_body_with_a_username_passes() {
    let body = json!({
        "content": "the rocket has launched",
        "username": "p000001",
        "avatar_url": "https://example.com/a.png",
        "allowed_mentions": {"parse": []}
    });
    let errors = Spec::load().validate_request("post", EXECUTE_WEBHOOK, &body);
    assert_eq!(errors, Vec::<String>::new());
}

/// Webhook content is limited to 2000 in the spec (in both schemas of its
/// `anyOf`, reported once), unlike message create.
#[test]
fn webhook_content_over_2000_characters_fails() {
    let body = json!({"content": "a".repeat(2001)});
    let errors = Spec::load().validate_request("POST", EXECUTE_WEBHOOK, &body);
    let error = single_violation_at(&errors, "/content");
    assert!(error.contains("maxLength 2000"), "{error}");
}

/// The spec cannot hold webhook usernames to 1-80 characters: the body is
/// `anyOf` a schema with `username` and one without, and the second accepts
/// any username. `support::discord` checks it instead.
#[test]
fn webhook_username_length_is_not_enforced_by_the_spec() {
    let body = json!({"content": "x", "username": "u".repeat(81)});
    let errors = Spec::load().validate_request("POST", EXECUTE_WEBHOOK, &body);
    assert_eq!(errors, Vec::<String>::new());
    let strict = Spec::load().validate_schema("IncomingWebhookRequestPartial", &body);
    single_violation_at(&strict, "/username");
}

#[test]
fn nonce_is_an_integer_or_a_string_of_at_most_25_characters() {
    assert_eq!(
        create_message(&json!({"content": "x", "nonce": 42})),
        Vec::<String>::new()
    );
    let nonce = "n".repeat(25);
    assert_eq!(
        create_message(&json!({"content": "x", "nonce": nonce})),
        Vec::<String>::new()
    );
    let errors = create_message(&json!({"content": "x", "nonce": "n".repeat(26)}));
    let error = single_violation_at(&errors, "/nonce");
    assert!(error.contains("maxLength 25"), "{error}");
    single_violation_at(
        &create_message(&json!({"content": "x", "nonce": 1.5})),
        "/nonce",
    );
}

#[test]
fn wrong_types_and_bounds_are_reported() {
    let errors = create_message(&json!({"content": 5}));
    let error = single_violation_at(&errors, "/content");
    assert!(
        error.contains("expected string or null, got integer"),
        "{error}"
    );

    let errors = create_message(&json!({"embeds": [{"color": 16777216}]}));
    single_violation_at(&errors, "/embeds/0/color");

    let errors = create_message(&json!({"embeds": [{"fields": [{"name": "n"}]}]}));
    let error = single_violation_at(&errors, "/embeds/0/fields/0");
    assert!(
        error.contains(r#"missing required property "value""#),
        "{error}"
    );

    let errors = create_message(&json!("just a string"));
    single_violation_at(&errors, "");
}

/// "integer" accepts whole numbers written with a fraction part.
#[test]
fn whole_floats_are_integers() {
    assert_eq!(
        create_message(&json!({"content": "x", "flags": 4096.0})),
        Vec::<String>::new()
    );
    single_violation_at(
        &create_message(&json!({"content": "x", "flags": 0.5})),
        "/flags",
    );
}

#[test]
fn snowflakes_must_be_decimal_strings() {
    let ok = json!({"content": "x", "allowed_mentions": {"users": ["80351110224678912"]}});
    assert_eq!(create_message(&ok), Vec::<String>::new());
    let bad = json!({"content": "x", "allowed_mentions": {"users": ["not-a-snowflake"]}});
    let error = single_violation_at(&create_message(&bad), "/allowed_mentions/users/0");
    assert!(error.contains("pattern"), "{error}");
}

/// Unknown members are allowed: no request schema the bridge uses sets
/// `additionalProperties: false`.
#[test]
fn unknown_members_are_allowed() {
    assert_eq!(
        create_message(&json!({"content": "x", "sparkles": true})),
        Vec::<String>::new()
    );
}

#[test]
fn slash_command_registration_and_interaction_replies_pass() {
    let spec = Spec::load();
    let commands = json!([{
        "name": "players",
        "description": "Who is online",
        "type": 1,
        "options": [{"type": 3, "name": "server", "description": "Which server", "required": false}]
    }]);
    let errors = spec.validate_request("PUT", "/applications/{application_id}/commands", &commands);
    assert_eq!(errors, Vec::<String>::new());

    let reply = json!({"type": 4, "data": {"content": "3 online", "flags": 64, "allowed_mentions": {"parse": []}}});
    let callback = "/interactions/{interaction_id}/{interaction_token}/callback";
    assert_eq!(
        spec.validate_request("POST", callback, &reply),
        Vec::<String>::new()
    );
}

/// In a union of objects told apart by `type`, the member the body names is
/// the one reported on; a `type` no member has is reported as such.
#[test]
fn union_members_are_chosen_by_type() {
    let spec = Spec::load();
    let commands = "/applications/{application_id}/commands";
    let option = |option: Value| json!([{"name": "players", "description": "Who is online", "options": [option]}]);

    let unnamed = option(json!({"type": 3, "name": "", "description": "Which server"}));
    let errors = spec.validate_request("PUT", commands, &unnamed);
    let error = single_violation_at(&errors, "/0/options/0/name");
    assert!(error.contains("minLength 1"), "{error}");

    let unknown = option(json!({"type": 99, "name": "server", "description": "Which server"}));
    let errors = spec.validate_request("PUT", commands, &unknown);
    let error = single_violation_at(&errors, "/0/options/0/type");
    assert!(error.contains("99 is not one of"), "{error}");
}

#[test]
fn a_route_without_a_json_body_is_an_error_not_a_pass() {
    let errors = Spec::load().validate_request("GET", CREATE_MESSAGE, &json!({}));
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(
        errors[0].contains("no application/json body"),
        "{errors:#?}"
    );
    let errors = Spec::load().validate_schema("NoSuchSchema", &json!({}));
    assert_eq!(errors.len(), 1, "{errors:#?}");
}

/// Every JSON request schema in the spec can be walked: all `$ref`s resolve
/// and every `pattern` compiles.
#[test]
fn every_request_schema_can_be_checked() {
    let spec = Spec::load();
    let mut checked = 0;
    for template in spec.templates() {
        for method in ["post", "put", "patch", "delete"] {
            if spec.request_schema(method, template).is_some() {
                for body in [json!({}), json!([{}]), json!({"content": "x", "id": "1"})] {
                    spec.validate_request(method, template, &body);
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 50, "only {checked} request schemas found");
}

#[test]
fn concrete_paths_map_to_templates() {
    let cases = [
        ("/channels/123/messages", Some(CREATE_MESSAGE)),
        ("/api/v10/channels/123/messages?x=1", Some(CREATE_MESSAGE)),
        ("/webhooks/1/abc", Some(EXECUTE_WEBHOOK)),
        ("/api/webhooks/1/abc?wait=true", Some(EXECUTE_WEBHOOK)),
        (
            "/interactions/1/tok/callback",
            Some("/interactions/{interaction_id}/{interaction_token}/callback"),
        ),
        (
            "/webhooks/1/tok/messages/@original",
            Some("/webhooks/{webhook_id}/{webhook_token}/messages/@original"),
        ),
        (
            "/webhooks/1/tok/messages/99",
            Some("/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}"),
        ),
        (
            "/applications/1/commands",
            Some("/applications/{application_id}/commands"),
        ),
        (
            "/applications/1/guilds/2/commands",
            Some("/applications/{application_id}/guilds/{guild_id}/commands"),
        ),
        ("/users/@me", Some("/users/@me")),
        ("/gateway/bot", Some("/gateway/bot")),
        ("/channels//messages", None),
        ("/no/such/route", None),
    ];
    for (path, expected) in cases {
        assert_eq!(template_of(path), expected, "{path}");
    }
}
