//! The fake Discord in `tests/support/discord.rs`, tested over real HTTP
//! with ureq (the client the daemon uses) and, where the wire itself is the
//! point, a raw `TcpStream`: message create and what is recorded, rate
//! limits and their headers, nonce dedupe, authorisation, Discord's
//! validation, webhooks, every failure switch, and shutdown; then the
//! gateway and application reads, command overwrites, interaction
//! responses, and the channel, guild, role and member reads.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::discord::{
    APPLICATION_ID, BOT_USER_ID, COMMANDS_BUCKET, FakeDiscord, GATEWAY_MESSAGE_CONTENT,
    GATEWAY_MESSAGE_CONTENT_LIMITED, MESSAGE_BUCKET, OVERWRITE_MEMBER, OVERWRITE_ROLE, ReplyKind,
    SEND_MESSAGES, TOKEN, VIEW_CHANNEL, WEBHOOK_BUCKET,
};
use ureq::typestate::WithBody;
use ureq::{Agent, RequestBuilder};

/// The longest any request may take before the test fails: generous, so a
/// loaded machine does not fail a test.
const PATIENCE: Duration = Duration::from_secs(10);

/// More requests than the fake has handler threads, so a stuck handler
/// would show.
const HANDLER_COUNT_PROBE: u64 = 8;

/// One answer: status, headers (names lower-cased) and JSON body (`Null`
/// when empty).
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Value,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn header_f64(&self, name: &str) -> f64 {
        self.header(name)
            .unwrap_or_else(|| panic!("no {name} header in {self:#?}"))
            .parse()
            .unwrap_or_else(|e| panic!("{name} is not a number ({e}) in {self:#?}"))
    }
}

fn agent_with_timeout(timeout: Duration) -> Agent {
    Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .build()
        .into()
}

fn agent() -> Agent {
    agent_with_timeout(PATIENCE)
}

fn answer(response: ureq::http::Response<ureq::Body>) -> Answer {
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(name, value)| {
            let value = value.to_str().expect("the fake sends ASCII headers");
            (name.as_str().to_owned(), value.to_owned())
        })
        .collect();
    let text = response
        .into_body()
        .read_to_string()
        .expect("the fake's body is readable");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    };
    Answer {
        status,
        headers,
        body,
    }
}

/// POSTs `body` as JSON to `url`, with the bot token if `token` is set.
fn post_with(agent: &Agent, url: &str, token: Option<&str>, body: &Value) -> Answer {
    send_json(agent.post(url), token, body)
}

/// Sends `body` as JSON with `request` (a POST, PUT or PATCH), with the bot
/// token if `token` is set.
fn send_json(request: RequestBuilder<WithBody>, token: Option<&str>, body: &Value) -> Answer {
    let mut request = request.header("User-Agent", "DiscordBot (https://example.invalid, 0.1)");
    if let Some(token) = token {
        request = request.header("Authorization", format!("Bot {token}"));
    }
    let response = request
        .content_type("application/json")
        .send(body.to_string())
        .expect("the fake answers");
    answer(response)
}

/// Creates a message in channel `channel` with the right token.
fn create(fake: &FakeDiscord, channel: u64, body: &Value) -> Answer {
    let url = format!("{}/channels/{channel}/messages", fake.api_base());
    post_with(&agent(), &url, Some(TOKEN), body)
}

fn get(fake: &FakeDiscord, path: &str, token: Option<&str>) -> Answer {
    let mut request = agent().get(format!("{}{path}", fake.api_base()));
    if let Some(token) = token {
        request = request.header("Authorization", format!("Bot {token}"));
    }
    answer(request.call().expect("the fake answers"))
}

fn text(content: &str) -> Value {
    json!({"content": content, "allowed_mentions": {"parse": []}})
}

/// The `errors` tree of a 400 Invalid Form Body, after checking its shape.
fn form_errors(answer: &Answer) -> &Value {
    assert_eq!(answer.status, 400, "{answer:#?}");
    assert_eq!(answer.body["code"], 50035, "{answer:#?}");
    assert_eq!(answer.body["message"], "Invalid Form Body", "{answer:#?}");
    &answer.body["errors"]
}

#[test]
fn a_message_is_created_recorded_and_answered() {
    let fake = FakeDiscord::start();
    let sent = create(&fake, 11, &text("hello"));

    assert_eq!(sent.status, 200, "{sent:#?}");
    assert_eq!(sent.body["channel_id"], "11");
    assert_eq!(sent.body["content"], "hello");
    let id = sent.body["id"].as_str().expect("the id is a string");
    assert!(id.parse::<u64>().is_ok(), "{id} is a snowflake");
    assert_eq!(sent.header("content-type"), Some("application/json"));
    assert_eq!(sent.header("x-ratelimit-limit"), Some("5"));
    assert_eq!(sent.header("x-ratelimit-remaining"), Some("4"));
    assert_eq!(sent.header("x-ratelimit-bucket"), Some(MESSAGE_BUCKET));
    let reset_after = sent.header_f64("x-ratelimit-reset-after");
    assert!((4.0..=5.0).contains(&reset_after), "{sent:#?}");
    assert!(
        sent.header_f64("x-ratelimit-reset") > 1.7e9,
        "epoch seconds: {sent:#?}"
    );

    let messages = fake.messages("channel:11");
    assert_eq!(messages.len(), 1);
    assert_eq!(
        (messages[0].id.as_str(), messages[0].content.as_str()),
        (id, "hello")
    );
    assert_eq!(messages[0].embeds, json!([]));
    assert!(fake.messages("channel:12").is_empty());

    let requests = fake.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!((request.method.as_str(), request.status), ("POST", 200));
    assert_eq!(request.path, "/api/v10/channels/11/messages");
    assert_eq!(request.query, "");
    assert_eq!(request.header("authorization"), Some("Bot fake-bot-token"));
    assert!(
        request.headers.iter().any(|(n, _)| n == "user-agent"),
        "names are lower-cased"
    );
    assert_eq!(request.body, Some(text("hello")));
    assert_eq!(fake.count_status(200), 1);
    assert_eq!(fake.schema_violations(), Vec::<String>::new());
}

/// Snowflakes increase with every message, across destinations.
#[test]
fn message_ids_increase() {
    let fake = FakeDiscord::start();
    let ids: Vec<u64> = (0..4)
        .map(|n| {
            let sent = create(&fake, 20 + n % 2, &text(&format!("m{n}")));
            sent.body["id"]
                .as_str()
                .expect("an id")
                .parse()
                .expect("a snowflake")
        })
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
}

#[test]
fn the_sixth_message_within_five_seconds_is_rate_limited() {
    let fake = FakeDiscord::start();
    for n in 0..5 {
        let sent = create(&fake, 1, &text(&format!("m{n}")));
        assert_eq!(sent.status, 200, "{sent:#?}");
        assert_eq!(
            sent.header("x-ratelimit-remaining"),
            Some((4 - n).to_string().as_str())
        );
    }
    let limited = create(&fake, 1, &text("m5"));

    assert_eq!(limited.status, 429, "{limited:#?}");
    assert_eq!(limited.body["message"], "You are being rate limited.");
    assert_eq!(limited.body["global"], false);
    let retry_after = limited.body["retry_after"].as_f64().expect("a float");
    assert!(retry_after > 0.0 && retry_after <= 5.0, "{limited:#?}");
    let whole: u64 = limited
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("whole seconds");
    assert_eq!(whole, retry_after.ceil() as u64, "{limited:#?}");
    assert_eq!(limited.header("x-ratelimit-scope"), Some("user"));
    assert_eq!(limited.header("x-ratelimit-limit"), Some("5"));
    assert_eq!(limited.header("x-ratelimit-remaining"), Some("0"));
    assert_eq!(limited.header("x-ratelimit-bucket"), Some(MESSAGE_BUCKET));
    assert!((limited.header_f64("x-ratelimit-reset-after") - retry_after).abs() < 0.01);
    assert_eq!(limited.header("x-ratelimit-global"), None);

    assert_eq!(
        fake.messages("channel:1").len(),
        5,
        "the limited request created nothing"
    );
    assert_eq!(fake.count_status(429), 1);
    assert_eq!(
        create(&fake, 2, &text("other channel")).status,
        200,
        "limits are per channel"
    );
}

/// After `retry_after` a new window opens with the full limit.
#[test]
fn a_window_reopens_after_retry_after() {
    let fake = FakeDiscord::start();
    fake.set_channel_limit(1, Duration::from_millis(200));
    assert_eq!(create(&fake, 1, &text("a")).status, 200);
    let limited = create(&fake, 1, &text("b"));
    assert_eq!(limited.status, 429, "{limited:#?}");
    let retry_after = limited.body["retry_after"].as_f64().expect("a float");
    assert!(retry_after <= 0.2, "{limited:#?}");
    thread::sleep(Duration::from_secs_f64(retry_after));
    let again = create(&fake, 1, &text("b"));
    assert_eq!(again.status, 200, "{again:#?}");
    assert_eq!(again.header("x-ratelimit-remaining"), Some("0"));
}

#[test]
fn the_global_limit_spans_every_route() {
    let fake = FakeDiscord::start();
    fake.set_global_limit(3);
    for channel in 1..=2 {
        assert_eq!(create(&fake, channel, &text("x")).status, 200);
    }
    assert_eq!(get(&fake, "/users/@me", Some(TOKEN)).status, 200);
    let limited = create(&fake, 3, &text("x"));

    assert_eq!(limited.status, 429, "{limited:#?}");
    assert_eq!(limited.body["global"], true);
    let retry_after = limited.body["retry_after"].as_f64().expect("a float");
    assert!(retry_after > 0.0 && retry_after <= 1.0, "{limited:#?}");
    assert_eq!(limited.header("x-ratelimit-global"), Some("true"));
    assert_eq!(limited.header("x-ratelimit-scope"), Some("global"));
    assert_eq!(limited.header("retry-after"), Some("1"));
    assert_eq!(get(&fake, "/gateway/bot", Some(TOKEN)).status, 429);
    assert!(fake.messages("channel:3").is_empty());
}

#[test]
fn enforce_nonce_returns_the_earlier_message() {
    let fake = FakeDiscord::start();
    let body = json!({"content": "once", "nonce": "isr-7", "enforce_nonce": true});
    let first = create(&fake, 1, &body);
    let again = create(&fake, 1, &body);

    assert_eq!((first.status, again.status), (200, 200));
    assert_eq!(
        first.body["id"], again.body["id"],
        "the earlier message is returned"
    );
    assert_eq!(again.body["nonce"], "isr-7");
    let messages = fake.messages("channel:1");
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].nonce.as_deref(), Some("isr-7"));

    assert_eq!(create(&fake, 2, &body).status, 200);
    assert_eq!(
        fake.messages("channel:2").len(),
        1,
        "nonces are per channel"
    );
    let unenforced = json!({"content": "twice", "nonce": "isr-7"});
    create(&fake, 1, &unenforced);
    assert_eq!(
        fake.messages("channel:1").len(),
        2,
        "without enforce_nonce a nonce is only echoed"
    );
    let numeric = json!({"content": "n", "nonce": 42, "enforce_nonce": true});
    assert_eq!(
        create(&fake, 3, &numeric).body["id"],
        create(&fake, 3, &numeric).body["id"]
    );
    assert_eq!(fake.messages("channel:3")[0].nonce.as_deref(), Some("42"));
}

#[test]
fn requests_without_the_bot_token_get_401() {
    let fake = FakeDiscord::start();
    let url = format!("{}/channels/1/messages", fake.api_base());
    for token in [None, Some("wrong-token")] {
        let refused = post_with(&agent(), &url, token, &text("x"));
        assert_eq!(refused.status, 401, "{refused:#?}");
        assert_eq!(
            refused.body,
            json!({"message": "401: Unauthorized", "code": 0})
        );
        assert_eq!(refused.header("x-ratelimit-bucket"), None);
    }
    assert_eq!(get(&fake, "/gateway/bot", None).status, 401);
    assert!(fake.messages("channel:1").is_empty());
    assert_eq!(fake.count_status(401), 3);
}

#[test]
fn fail_next_answers_the_status_then_recovers() {
    let fake = FakeDiscord::start();
    fake.fail_next(1, 502);
    let failed = create(&fake, 1, &text("x"));
    assert_eq!(failed.status, 502, "{failed:#?}");
    assert_eq!(failed.body["code"], 0);
    assert!(
        failed.body["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("502")),
        "{failed:#?}"
    );
    assert_eq!(
        failed.header("x-ratelimit-remaining"),
        Some("5"),
        "no slot was used"
    );
    assert!(fake.messages("channel:1").is_empty());

    let sent = create(&fake, 1, &text("x"));
    assert_eq!(sent.status, 200, "{sent:#?}");
    assert_eq!(fake.messages("channel:1").len(), 1);
    assert_eq!((fake.count_status(502), fake.count_status(200)), (1, 1));
}

#[test]
fn injected_failures_have_discords_bodies() {
    let fake = FakeDiscord::start();
    for status in [403, 404, 500, 503, 401] {
        fake.fail_next(1, status);
    }
    fake.fail_next(1, 404);
    let expected = [
        (
            403,
            json!({"message": "Missing Permissions", "code": 50013}),
        ),
        (404, json!({"message": "Unknown Channel", "code": 10003})),
        (
            500,
            json!({"message": "500: Internal Server Error", "code": 0}),
        ),
        (
            503,
            json!({"message": "503: Service Unavailable", "code": 0}),
        ),
        (401, json!({"message": "401: Unauthorized", "code": 0})),
    ];
    for (status, body) in expected {
        let failed = create(&fake, 1, &text("x"));
        assert_eq!((failed.status, &failed.body), (status, &body));
    }
    let webhook = post_with(&agent(), &fake.webhook_url(5), None, &text("x"));
    assert_eq!(webhook.status, 404);
    assert_eq!(
        webhook.body,
        json!({"message": "Unknown Webhook", "code": 10015})
    );
    assert_eq!(create(&fake, 1, &text("x")).status, 200);
}

/// Discord allows bots 2000 characters although the spec says 4000: the
/// fake refuses 2001 with a 400, and that is not a schema violation.
#[test]
fn content_over_2000_characters_is_refused_but_not_a_schema_violation() {
    let fake = FakeDiscord::start();
    let refused = create(&fake, 1, &text(&"a".repeat(2001)));
    let errors = form_errors(&refused);
    assert_eq!(
        errors["content"]["_errors"][0]["code"], "BASE_TYPE_MAX_LENGTH",
        "{refused:#?}"
    );
    assert_eq!(fake.schema_violations(), Vec::<String>::new());
    assert!(fake.messages("channel:1").is_empty());

    let multibyte = "🏭".repeat(2000);
    let sent = create(&fake, 1, &text(&multibyte));
    assert_eq!(
        sent.status, 200,
        "2000 characters of 4 bytes each: {}",
        sent.body
    );
    assert_eq!(fake.messages("channel:1")[0].content, multibyte);
}

#[test]
fn schema_violations_are_recorded_and_refused() {
    let fake = FakeDiscord::start();
    let embeds: Vec<Value> = (0..11).map(|i| json!({"title": format!("e{i}")})).collect();
    let refused = create(&fake, 1, &json!({"content": "x", "embeds": embeds}));
    let errors = form_errors(&refused);
    assert!(errors["embeds"]["_errors"].is_array(), "{refused:#?}");

    let violations = fake.schema_violations();
    assert_eq!(violations.len(), 1, "{violations:#?}");
    assert!(
        violations[0].starts_with("POST /channels/{channel_id}/messages: /embeds: "),
        "{violations:#?}"
    );
    assert!(fake.messages("channel:1").is_empty());
}

#[test]
fn embed_limits_are_enforced() {
    let fake = FakeDiscord::start();
    let big = "d".repeat(3500);
    let two = json!({"embeds": [{"description": big}, {"description": big}]});
    let refused = create(&fake, 1, &two);
    let errors = form_errors(&refused);
    assert_eq!(
        errors["embeds"]["_errors"][0]["code"], "MAX_EMBED_SIZE_EXCEEDED",
        "{refused:#?}"
    );

    // 8000 characters as sent, 6000 once each text is trimmed.
    let padded = format!("{}{}", "d".repeat(3000), " ".repeat(1000));
    let trimmed = create(
        &fake,
        1,
        &json!({"embeds": [{"description": padded}, {"description": padded}]}),
    );
    assert_eq!(
        trimmed.status, 200,
        "whitespace is trimmed before counting: {trimmed:#?}"
    );

    let blank = json!({"embeds": [{"fields": [{"name": " ", "value": "v"}]}]});
    let refused = create(&fake, 1, &blank);
    let errors = form_errors(&refused);
    assert_eq!(
        errors["embeds"]["0"]["fields"]["0"]["name"]["_errors"][0]["code"],
        "BASE_TYPE_REQUIRED"
    );
    assert_eq!(fake.schema_violations(), Vec::<String>::new());
}

#[test]
fn an_empty_message_is_refused() {
    let fake = FakeDiscord::start();
    for body in [
        json!({}),
        json!({"content": "   "}),
        json!({"content": "", "embeds": []}),
    ] {
        let refused = create(&fake, 1, &body);
        assert_eq!(refused.status, 400, "{body}: {refused:#?}");
        assert_eq!(
            refused.body,
            json!({"message": "Cannot send an empty message", "code": 50006})
        );
    }
    assert_eq!(
        create(&fake, 2, &json!({"embeds": [{"title": "t"}]})).status,
        200
    );
}

#[test]
fn the_body_must_be_json() {
    let fake = FakeDiscord::start();
    let url = format!("{}/channels/1/messages", fake.api_base());
    let untyped = agent()
        .post(&url)
        .header("Authorization", format!("Bot {TOKEN}"))
        .send(text("x").to_string())
        .expect("the fake answers");
    let untyped = answer(untyped);
    form_errors(&untyped);

    let broken = agent()
        .post(&url)
        .header("Authorization", format!("Bot {TOKEN}"))
        .content_type("application/json; charset=utf-8")
        .send("{\"content\": ")
        .expect("the fake answers");
    let broken = answer(broken);
    assert_eq!(broken.status, 400);
    assert_eq!(broken.body["code"], 50109);
    assert!(fake.messages("channel:1").is_empty());
}

#[test]
fn a_webhook_username_containing_discord_is_refused() {
    let fake = FakeDiscord::start();
    let url = format!("{}?wait=true", fake.webhook_url(42));
    for name in ["Discord Bot", "my CLYDE", "", &"n".repeat(81)] {
        let body = json!({"content": "x", "username": name});
        let refused = post_with(&agent(), &url, None, &body);
        let errors = form_errors(&refused);
        assert!(
            errors["username"]["_errors"].is_array(),
            "{name:?}: {refused:#?}"
        );
    }
    assert!(fake.messages("webhook:42").is_empty());
}

#[test]
fn webhooks_answer_the_message_with_wait_and_204_without() {
    let fake = FakeDiscord::start();
    let url = fake.webhook_url(42);
    assert!(
        url.ends_with("/api/webhooks/42/fake-webhook-token"),
        "{url}"
    );
    let body = json!({"content": "gg", "username": "p000001", "allowed_mentions": {"parse": []}});

    let waited = post_with(&agent(), &format!("{url}?wait=true"), None, &body);
    assert_eq!(waited.status, 200, "{waited:#?}");
    assert_eq!(waited.body["webhook_id"], "42");
    assert_eq!(waited.body["content"], "gg");
    assert_eq!(waited.header("x-ratelimit-limit"), Some("5"));

    let versioned = format!("{}/webhooks/42/fake-webhook-token", fake.api_base());
    let quiet = post_with(&agent(), &versioned, None, &body);
    assert_eq!(
        (quiet.status, &quiet.body),
        (204, &Value::Null),
        "{quiet:#?}"
    );

    let wrong = url.replace("fake-webhook-token", "stale-token");
    assert_eq!(post_with(&agent(), &wrong, None, &body).status, 401);

    let messages = fake.messages("webhook:42");
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0].username.as_deref(), Some("p000001"));
    assert_eq!(fake.requests()[0].query, "wait=true");
    assert_eq!(fake.schema_violations(), Vec::<String>::new());
}

#[test]
fn storm_429_limits_the_next_requests_then_stops() {
    let fake = FakeDiscord::start();
    fake.storm_429(2, 0.25);
    for _ in 0..2 {
        let limited = create(&fake, 1, &text("x"));
        assert_eq!(limited.status, 429, "{limited:#?}");
        assert_eq!(limited.body["retry_after"], 0.25);
        assert_eq!(limited.body["global"], false);
        assert_eq!(limited.header("retry-after"), Some("1"));
        assert_eq!(limited.header("x-ratelimit-scope"), Some("user"));
        assert_eq!(limited.header("x-ratelimit-remaining"), Some("0"));
    }
    assert_eq!(create(&fake, 1, &text("x")).status, 200);
    assert_eq!(fake.count_status(429), 2);
}

#[test]
fn fail_for_is_an_outage_until_it_ends() {
    let fake = FakeDiscord::start();
    let outage = Duration::from_millis(300);
    let end = Instant::now() + outage;
    fake.fail_for(outage, 503);
    assert_eq!(create(&fake, 1, &text("x")).status, 503);
    assert_eq!(
        create(&fake, 2, &text("x")).status,
        503,
        "every channel is out"
    );
    thread::sleep(end.saturating_duration_since(Instant::now()));
    assert_eq!(create(&fake, 1, &text("x")).status, 200);
    assert_eq!(fake.messages("channel:1").len(), 1);
}

#[test]
fn set_status_all_answers_every_request_until_cleared() {
    let fake = FakeDiscord::start();
    fake.set_status_all(Some(500));
    assert_eq!(create(&fake, 1, &text("x")).status, 500);
    assert_eq!(get(&fake, "/users/@me", Some(TOKEN)).status, 500);
    fake.set_status_all(None);
    assert_eq!(create(&fake, 1, &text("x")).status, 200);

    fake.fail_next(1, 502);
    assert_eq!(
        get(&fake, "/users/@me", Some(TOKEN)).status,
        200,
        "fail_next is for messages"
    );
    assert_eq!(create(&fake, 1, &text("x")).status, 502);
}

/// A hung answer: the message exists, the client times out, other requests
/// are answered meanwhile, and dropping the fake does not wait for the hang.
#[test]
fn a_hung_answer_creates_the_message_and_blocks_nothing_else() {
    let fake = FakeDiscord::start();
    let hang = Duration::from_secs(60);
    fake.hang_next(1, hang);
    let url = format!("{}/channels/1/messages", fake.api_base());
    let impatient = agent_with_timeout(Duration::from_millis(300));
    let timed_out = impatient
        .post(&url)
        .header("Authorization", format!("Bot {TOKEN}"))
        .content_type("application/json")
        .send(text("slow").to_string());
    assert!(timed_out.is_err(), "the client gave up: {timed_out:?}");

    let messages = fake.wait_for_messages("channel:1", 1, PATIENCE);
    assert_eq!(messages.len(), 1, "Discord took the message");
    assert_eq!(messages[0].content, "slow");
    let others: Vec<Answer> = (0..HANDLER_COUNT_PROBE)
        .map(|n| create(&fake, 2 + n, &text("fast")))
        .collect();
    assert!(others.iter().all(|a| a.status == 200), "{others:#?}");
    assert_eq!(
        fake.requests()[0].status,
        200,
        "recorded with the status it will have"
    );

    let dropping = Instant::now();
    drop(fake);
    assert!(dropping.elapsed() < hang / 2, "drop ended the hang early");
}

#[test]
fn fixed_routes_answer_and_unknown_ones_are_404() {
    let fake = FakeDiscord::start();
    let gateway = get(&fake, "/gateway/bot", Some(TOKEN));
    assert_eq!(gateway.status, 200);
    assert_eq!(gateway.body["url"], "ws://127.0.0.1:1");
    assert_eq!(gateway.body["session_start_limit"]["max_concurrency"], 1);
    let me = get(&fake, "/users/@me", Some(TOKEN));
    assert_eq!(
        me.body,
        json!({"id": BOT_USER_ID, "username": "fake-bot", "bot": true})
    );

    let unknown = get(&fake, "/voice/regions", Some(TOKEN));
    assert_eq!(
        (unknown.status, &unknown.body),
        (404, &json!({"message": "404: Not Found", "code": 0}))
    );
    assert_eq!(get(&fake, "/channels/1/messages", Some(TOKEN)).status, 405);
}

/// Several requests on one connection, as ureq sends them from its pool.
#[test]
fn connections_are_kept_alive() {
    let fake = FakeDiscord::start();
    let mut stream = TcpStream::connect(("127.0.0.1", fake.port())).expect("connect to the fake");
    stream
        .set_read_timeout(Some(PATIENCE))
        .expect("set a read timeout");
    stream
        .set_write_timeout(Some(PATIENCE))
        .expect("set a write timeout");
    let mut reader = BufReader::new(stream.try_clone().expect("clone the stream"));
    for n in 0..3 {
        let body = text(&format!("m{n}")).to_string();
        let request = format!(
            "POST /api/v10/channels/1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\n\
             Authorization: Bot {TOKEN}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        stream
            .write_all(request.as_bytes())
            .expect("send a request");
        let (status, body) = read_response(&mut reader);
        assert_eq!(status, 200, "request {n} on the same connection: {body}");
    }
    assert_eq!(fake.messages("channel:1").len(), 3);
}

/// Reads one HTTP/1.1 response with a `Content-Length`: status and body.
fn read_response(reader: &mut impl BufRead) -> (u16, String) {
    let mut line = String::new();
    reader.read_line(&mut line).expect("read the status line");
    let status = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a status line: {line:?}"));
    let mut length = 0;
    loop {
        line.clear();
        reader.read_line(&mut line).expect("read a header line");
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().expect("a numeric Content-Length");
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).expect("read the body");
    (status, String::from_utf8(body).expect("a UTF-8 body"))
}

/// Without `unblock` the handler threads would wait forever; after the drop
/// the port refuses connections.
#[test]
fn dropping_the_fake_stops_it() {
    let fake = FakeDiscord::start();
    let port = fake.port();
    assert_eq!(create(&fake, 1, &text("x")).status, 200);
    drop(fake);
    let deadline = Instant::now() + PATIENCE;
    while TcpStream::connect(("127.0.0.1", port)).is_ok() {
        assert!(
            Instant::now() < deadline,
            "port {port} still accepts connections"
        );
        thread::sleep(Duration::from_millis(10));
    }
}

/// The first error code at `pointer` (`""` for the body itself) of a 400
/// Invalid Form Body; panics if there is none there.
fn form_error_at<'a>(answer: &'a Answer, pointer: &str) -> &'a str {
    form_errors(answer)
        .pointer(pointer)
        .and_then(|node| node["_errors"][0]["code"].as_str())
        .unwrap_or_else(|| panic!("no error at {pointer:?} in {answer:#?}"))
}

#[test]
fn the_gateway_url_and_session_start_limit_are_settable() {
    let fake = FakeDiscord::start();
    fake.set_gateway_url("ws://127.0.0.1:4567");
    fake.set_session_start_limit(1000, 0, 60_000, 16);
    let gateway = get(&fake, "/gateway/bot", Some(TOKEN));
    assert_eq!(gateway.status, 200, "{gateway:#?}");
    assert_eq!(gateway.body["url"], "ws://127.0.0.1:4567");
    assert_eq!(
        gateway.body["session_start_limit"],
        json!({"total": 1000, "remaining": 0, "reset_after": 60_000, "max_concurrency": 16})
    );
}

#[test]
fn the_application_answers_its_id_and_flags() {
    let fake = FakeDiscord::start();
    let app = get(&fake, "/applications/@me", Some(TOKEN));
    assert_eq!(app.status, 200, "{app:#?}");
    assert_eq!(app.body["id"], APPLICATION_ID);
    assert_eq!(app.body["bot"]["id"], BOT_USER_ID);
    assert_ne!(APPLICATION_ID, BOT_USER_ID, "a client must not mix them up");
    assert_eq!(app.body["bot_public"], true);
    assert_eq!(
        app.body["flags"], GATEWAY_MESSAGE_CONTENT_LIMITED,
        "the portal toggle of an unverified bot"
    );
    for flags in [0, GATEWAY_MESSAGE_CONTENT] {
        fake.set_application_flags(flags);
        let app = get(&fake, "/applications/@me", Some(TOKEN));
        assert_eq!(app.body["flags"], flags);
    }
    assert_eq!(get(&fake, "/applications/@me", None).status, 401);
}

fn commands_url(fake: &FakeDiscord, guild: Option<&str>) -> String {
    match guild {
        None => format!("{}/applications/{APPLICATION_ID}/commands", fake.api_base()),
        Some(guild) => format!(
            "{}/applications/{APPLICATION_ID}/guilds/{guild}/commands",
            fake.api_base()
        ),
    }
}

/// Overwrites the commands of `guild` (global for `None`) with the token.
fn put_commands(fake: &FakeDiscord, guild: Option<&str>, body: &Value) -> Answer {
    send_json(agent().put(&commands_url(fake, guild)), Some(TOKEN), body)
}

/// A slash command as the bot registers it: admins only, guild only, an
/// autocompleted option.
fn status_command() -> Value {
    json!({
        "name": "status",
        "description": "Show a server's status",
        "type": 1,
        "default_member_permissions": "0",
        "contexts": [0],
        "options": [{
            "type": 3, "name": "server", "description": "Which server",
            "required": true, "autocomplete": true
        }]
    })
}

/// A command with a subcommand, a group, and choices.
fn rcon_command() -> Value {
    json!({
        "name": "rcon",
        "description": "Server administration",
        "options": [
            {"type": 1, "name": "kick", "description": "Kick a player", "options": [
                {"type": 3, "name": "player", "description": "Who", "required": true},
                {"type": 3, "name": "reason", "description": "Why",
                 "choices": [{"name": "Griefing", "value": "griefing"}]}
            ]},
            {"type": 2, "name": "whitelist", "description": "The whitelist", "options": [
                {"type": 1, "name": "add", "description": "Add a player"}
            ]}
        ]
    })
}

#[test]
fn a_command_overwrite_is_echoed_with_ids_and_recorded() {
    let fake = FakeDiscord::start();
    let before = Instant::now();
    let body = json!([status_command(), rcon_command()]);
    let put = put_commands(&fake, None, &body);

    assert_eq!(put.status, 200, "{put:#?}");
    let commands = put.body.as_array().expect("an array of commands");
    assert_eq!(commands.len(), 2, "{put:#?}");
    for command in commands {
        let id = command["id"].as_str().expect("an id");
        assert!(id.parse::<u64>().is_ok(), "{id} is a snowflake");
        assert_eq!(command["application_id"], APPLICATION_ID);
        assert!(command["version"].is_string(), "{command}");
        assert_eq!(command["type"], 1, "the default type");
        assert_eq!(command.get("guild_id"), None, "global");
    }
    assert_ne!(commands[0]["id"], commands[1]["id"]);
    assert_eq!(commands[0]["default_member_permissions"], "0");
    assert_eq!(commands[1]["default_member_permissions"], Value::Null);
    assert_eq!(commands[1]["options"], rcon_command()["options"]);
    assert_eq!(put.header("x-ratelimit-bucket"), Some(COMMANDS_BUCKET));
    assert_eq!(put.header("x-ratelimit-limit"), Some("50"));
    assert_eq!(put.header("x-ratelimit-remaining"), Some("49"));

    let players = json!({"name": "players", "description": "Who is online"});
    let again = put_commands(&fake, None, &json!([status_command(), players]));
    assert_eq!(again.status, 200, "{again:#?}");
    assert_eq!(
        again.body[0]["id"], put.body[0]["id"],
        "a command kept keeps its id"
    );
    assert_ne!(again.body[0]["version"], put.body[0]["version"]);
    assert_ne!(again.body[1]["id"], put.body[1]["id"]);
    assert_eq!(again.body[1]["description"], "Who is online");

    let guild = put_commands(&fake, Some("555"), &json!([status_command()]));
    assert_eq!(guild.status, 200, "{guild:#?}");
    assert_eq!(guild.body[0]["guild_id"], "555");
    assert_ne!(
        guild.body[0]["id"], put.body[0]["id"],
        "each scope has its own"
    );
    assert_eq!(
        guild.header("x-ratelimit-remaining"),
        Some("49"),
        "and its own bucket"
    );

    let overwrites = fake.command_overwrites();
    let scopes: Vec<Option<&str>> = overwrites.iter().map(|(g, _, _)| g.as_deref()).collect();
    assert_eq!(scopes, [None, None, Some("555")]);
    assert_eq!(overwrites[0].1, body);
    assert!(overwrites[0].2 >= before && overwrites[0].2 <= overwrites[1].2);
    assert_eq!(
        fake.schema_violations(),
        Vec::<String>::new(),
        "\"0\" as permissions is what the docs say, though the spec wants a number"
    );
}

#[test]
fn command_names_must_be_lowercase_words() {
    let fake = FakeDiscord::start();
    for name in ["Status", "server status", "status!", "ÉTAT", "a/b"] {
        let refused = put_commands(&fake, None, &json!([{"name": name, "description": "d"}]));
        assert_eq!(
            form_error_at(&refused, "/0/name"),
            "APPLICATION_COMMAND_INVALID_NAME",
            "{name:?}"
        );
    }
    let option = json!([{"name": "kick", "description": "d", "options": [
        {"type": 3, "name": "Player", "description": "d"}
    ]}]);
    form_error_at(&put_commands(&fake, None, &option), "/0/options/0/name");
    let localised =
        json!([{"name": "kick", "description": "d", "name_localizations": {"de": "Kick"}}]);
    form_error_at(
        &put_commands(&fake, None, &localised),
        "/0/name_localizations/de",
    );
    assert!(fake.command_overwrites().is_empty());

    for name in ["état", "स्थिति", "สถานะ", "don't", "ups-2_x", "日本"] {
        let taken = put_commands(&fake, None, &json!([{"name": name, "description": "d"}]));
        assert_eq!(taken.status, 200, "{name:?}: {taken:#?}");
    }
    let menu = json!([{"name": "Show Stats", "type": 2}]);
    assert_eq!(
        put_commands(&fake, None, &menu).status,
        200,
        "context-menu names may have capitals and spaces"
    );
    assert_eq!(fake.command_overwrites().len(), 7);
    assert_eq!(
        fake.schema_violations(),
        Vec::<String>::new(),
        "these are Discord's rules, not the spec's"
    );
}

#[test]
fn more_than_25_options_is_a_schema_violation() {
    let fake = FakeDiscord::start();
    let options: Vec<Value> = (0..26)
        .map(|i| json!({"type": 3, "name": format!("o{i}"), "description": "d"}))
        .collect();
    let body = json!([{"name": "many", "description": "d", "options": options}]);
    let refused = put_commands(&fake, None, &body);
    assert_eq!(
        form_error_at(&refused, "/0/options"),
        "BASE_TYPE_MAX_LENGTH"
    );

    let violations = fake.schema_violations();
    assert_eq!(violations.len(), 1, "{violations:#?}");
    assert!(
        violations[0].starts_with("PUT /applications/{application_id}/commands: /0/options: "),
        "{violations:#?}"
    );
    assert!(fake.command_overwrites().is_empty());
}

/// Two options of 25 choices with 100-character names and values: 10 000
/// characters, over Discord's 8000 per command.
fn oversized_command(options: usize) -> Value {
    let choices: Vec<Value> = (0..25)
        .map(|k| json!({"name": format!("{k:0>100}"), "value": format!("{k:0>100}")}))
        .collect();
    let options: Vec<Value> = (0..options)
        .map(
            |j| json!({"type": 3, "name": format!("o{j}"), "description": "d", "choices": choices}),
        )
        .collect();
    json!([{"name": "big", "description": "d", "options": options}])
}

#[test]
fn discords_documented_command_limits_are_enforced() {
    let fake = FakeDiscord::start();
    let opt = |name: &str, required: bool| json!({"type": 3, "name": name, "description": "d", "required": required});
    let sub = |name: &str, options: Value| json!({"type": 1, "name": name, "description": "d", "options": options});
    let command = |options: Value| json!([{"name": "a", "description": "d", "options": options}]);
    let many: Vec<Value> = (0..101)
        .map(|i| json!({"name": format!("c{i}"), "description": "d"}))
        .collect();
    let cases = [
        (
            command(json!([opt("x", false), opt("y", true)])),
            "/0/options/1/required",
        ),
        (
            command(json!([opt("x", true), opt("x", false)])),
            "/0/options/1/name",
        ),
        (
            command(json!([sub("s", json!([])), opt("x", false)])),
            "/0/options",
        ),
        (
            command(
                json!([{"type": 3, "name": "x", "description": "d", "autocomplete": true,
                             "choices": [{"name": "n", "value": "v"}]}]),
            ),
            "/0/options/0/autocomplete",
        ),
        (
            command(json!([{"type": 3, "name": "x", "description": "d",
                             "choices": [{"name": "n", "value": "v".repeat(101)}]}])),
            "/0/options/0/choices/0/value",
        ),
        (json!([{"name": "a", "description": ""}]), "/0/description"),
        (json!([{"name": "a"}]), "/0/description"),
        (
            json!([{"name": "a", "description": "d"}, {"name": "a", "description": "e"}]),
            "",
        ),
        (Value::Array(many), ""),
        (oversized_command(2), "/0"),
        // The spec has the nesting: a subcommand holds no subcommand.
        (
            command(json!([sub("s", json!([sub("deeper", json!([]))]))])),
            "/0/options/0/options/0/type",
        ),
    ];
    for (body, pointer) in &cases {
        let refused = put_commands(&fake, None, body);
        form_error_at(&refused, pointer);
    }
    assert!(fake.command_overwrites().is_empty());
    let violations = fake.schema_violations();
    assert_eq!(violations.len(), 1, "only the nesting: {violations:#?}");
    assert!(
        violations[0].contains("/0/options/0/options/0/type"),
        "{violations:#?}"
    );

    let big = put_commands(&fake, None, &oversized_command(1));
    assert_eq!(
        big.status, 200,
        "5000 characters: the limit is 8000 now, no longer 4000"
    );
}

#[test]
fn commands_need_the_bot_token_and_our_application() {
    let fake = FakeDiscord::start();
    let body = json!([status_command()]);
    let other = format!("{}/applications/999/commands", fake.api_base());
    let refused = send_json(agent().put(&other), Some(TOKEN), &body);
    assert_eq!(
        (refused.status, &refused.body),
        (403, &json!({"message": "Missing Access", "code": 50001}))
    );
    let anonymous = send_json(agent().put(&commands_url(&fake, None)), None, &body);
    assert_eq!(anonymous.status, 401, "{anonymous:#?}");
    let path = format!("/applications/{APPLICATION_ID}/commands");
    assert_eq!(get(&fake, &path, Some(TOKEN)).status, 405);
    assert!(fake.command_overwrites().is_empty());
}

#[test]
fn command_overwrites_are_rate_limited_per_scope() {
    let fake = FakeDiscord::start();
    fake.set_commands_limit(1, Duration::from_secs(60));
    let body = json!([status_command()]);
    let first = put_commands(&fake, None, &body);
    assert_eq!(first.status, 200, "{first:#?}");
    assert_eq!(first.header("x-ratelimit-remaining"), Some("0"));

    let limited = put_commands(&fake, None, &body);
    assert_eq!(limited.status, 429, "{limited:#?}");
    assert_eq!(limited.header("x-ratelimit-bucket"), Some(COMMANDS_BUCKET));
    let retry_after = limited.body["retry_after"].as_f64().expect("a float");
    assert!(retry_after > 0.0 && retry_after <= 60.0, "{limited:#?}");
    assert_eq!(put_commands(&fake, Some("555"), &body).status, 200);
    assert_eq!(fake.command_overwrites().len(), 2);
}

/// An interaction token, as long and opaque as Discord's are.
const INTERACTION_TOKEN: &str = "aW50ZXJhY3Rpb246MTAwMTpmYWtlLWludGVyYWN0aW9uLXRva2Vu";

fn callback_url(fake: &FakeDiscord, id: &str, token: &str) -> String {
    format!("{}/interactions/{id}/{token}/callback", fake.api_base())
}

/// Answers interaction `id` as the daemon does: no `Authorization`.
fn callback(fake: &FakeDiscord, id: &str, token: &str, body: &Value) -> Answer {
    post_with(&agent(), &callback_url(fake, id, token), None, body)
}

fn original_url(fake: &FakeDiscord, token: &str) -> String {
    format!(
        "{}/webhooks/{APPLICATION_ID}/{token}/messages/@original",
        fake.api_base()
    )
}

fn edit_original(fake: &FakeDiscord, token: &str, body: &Value) -> Answer {
    send_json(agent().patch(&original_url(fake, token)), None, body)
}

fn get_original(fake: &FakeDiscord, token: &str) -> Answer {
    answer(
        agent()
            .get(&original_url(fake, token))
            .call()
            .expect("the fake answers"),
    )
}

fn followup(fake: &FakeDiscord, token: &str, body: &Value) -> Answer {
    let url = format!("{}/webhooks/{APPLICATION_ID}/{token}", fake.api_base());
    post_with(&agent(), &url, None, body)
}

/// The kind and status of every reply the fake kept for `id`.
fn reply_kinds(fake: &FakeDiscord, id: &str) -> Vec<(ReplyKind, u16)> {
    fake.interaction_responses(id)
        .iter()
        .map(|r| (r.kind, r.status))
        .collect()
}

#[test]
fn an_interaction_is_deferred_edited_and_followed_up() {
    let fake = FakeDiscord::start();
    fake.register_interaction("1001", INTERACTION_TOKEN);
    let defer = json!({"type": 5, "data": {"flags": 64}});
    let deferred = callback(&fake, "1001", INTERACTION_TOKEN, &defer);
    assert_eq!(
        (deferred.status, &deferred.body),
        (204, &Value::Null),
        "{deferred:#?}"
    );
    let loading = get_original(&fake, INTERACTION_TOKEN);
    assert_eq!(loading.status, 200, "{loading:#?}");
    assert_eq!(loading.body["flags"], 64 | 128, "ephemeral and loading");

    let edit = json!({"content": "prod: 60 UPS", "allowed_mentions": {"parse": []}});
    let edited = edit_original(&fake, INTERACTION_TOKEN, &edit);
    assert_eq!(edited.status, 200, "{edited:#?}");
    assert_eq!(edited.body["content"], "prod: 60 UPS");
    assert_eq!(edited.body["id"], loading.body["id"]);
    assert_eq!(
        edited.body["flags"], 64,
        "still ephemeral, no longer loading"
    );
    assert_eq!(edited.header("x-ratelimit-limit"), Some("5"));
    assert_eq!(
        get_original(&fake, INTERACTION_TOKEN).body["content"],
        "prod: 60 UPS"
    );

    let more = followup(
        &fake,
        INTERACTION_TOKEN,
        &json!({"content": "more", "flags": 64}),
    );
    assert_eq!(more.status, 200, "{more:#?}");
    assert_eq!(more.body["content"], "more");
    assert_eq!(more.body["flags"], 64);
    assert_ne!(more.body["id"], edited.body["id"], "a new message");
    assert_eq!(more.header("x-ratelimit-bucket"), Some(WEBHOOK_BUCKET));

    use ReplyKind::{Callback, Edit, Followup};
    assert_eq!(
        reply_kinds(&fake, "1001"),
        [(Callback, 204), (Edit, 200), (Followup, 200)]
    );
    let replies = fake.interaction_responses("1001");
    assert_eq!(replies[0].body, defer);
    assert!(replies.windows(2).all(|w| w[0].at <= w[1].at));
    let found = fake.wait_for_interaction_reply("1001", |r| r.kind == Edit, PATIENCE);
    assert_eq!(found.body, edit);
    assert!(found.accepted());
    assert_eq!(fake.schema_violations(), Vec::<String>::new());
}

#[test]
fn interaction_requests_ignore_authorization() {
    let fake = FakeDiscord::start();
    fake.register_interaction("1002", INTERACTION_TOKEN);
    let url = callback_url(&fake, "1002", INTERACTION_TOKEN);
    let pong = json!({"type": 4, "data": {"content": "pong"}});
    let answered = post_with(&agent(), &url, Some("not-the-bot-token"), &pong);
    assert_eq!(answered.status, 204, "{answered:#?}");
    let edit = json!({"content": "pong!"});
    let edited = send_json(
        agent().patch(&original_url(&fake, INTERACTION_TOKEN)),
        Some(TOKEN),
        &edit,
    );
    assert_eq!(edited.status, 200, "{edited:#?}");
    assert_eq!(edited.body["content"], "pong!");
}

#[test]
fn with_response_answers_the_callback_response() {
    let fake = FakeDiscord::start();
    fake.register_interaction("1003", INTERACTION_TOKEN);
    let url = format!(
        "{}?with_response=true",
        callback_url(&fake, "1003", INTERACTION_TOKEN)
    );
    let body = json!({"type": 4, "data": {"content": "hi", "flags": 64}});
    let answered = post_with(&agent(), &url, None, &body);
    assert_eq!(answered.status, 200, "{answered:#?}");
    let (interaction, resource) = (&answered.body["interaction"], &answered.body["resource"]);
    assert_eq!(interaction["id"], "1003");
    assert_eq!(interaction["response_message_ephemeral"], true);
    assert_eq!(interaction["response_message_loading"], false);
    assert_eq!(resource["type"], 4);
    assert_eq!(resource["message"]["content"], "hi");
    assert_eq!(
        interaction["response_message_id"],
        resource["message"]["id"]
    );
}

#[test]
fn a_second_callback_is_refused_with_40060() {
    let fake = FakeDiscord::start();
    fake.register_interaction("1004", INTERACTION_TOKEN);
    let first = json!({"type": 4, "data": {"content": "first"}});
    assert_eq!(
        callback(&fake, "1004", INTERACTION_TOKEN, &first).status,
        204
    );
    let second = json!({"type": 4, "data": {"content": "second"}});
    let refused = callback(&fake, "1004", INTERACTION_TOKEN, &second);
    assert_eq!(
        (refused.status, &refused.body),
        (
            400,
            &json!({"message": "Interaction has already been acknowledged.", "code": 40060})
        )
    );
    assert_eq!(
        reply_kinds(&fake, "1004"),
        [(ReplyKind::Callback, 204), (ReplyKind::Callback, 400)]
    );
    assert_eq!(
        get_original(&fake, INTERACTION_TOKEN).body["content"],
        "first"
    );
}

#[test]
fn a_callback_after_the_deadline_is_unknown() {
    let fake = FakeDiscord::start();
    fake.register_interaction("1005", "token-of-1005");
    let registered_by = Instant::now();
    fake.register_interaction("1006", "token-of-1006");
    let pong = json!({"type": 4, "data": {"content": "pong"}});
    assert_eq!(
        callback(&fake, "1006", "token-of-1006", &pong).status,
        204,
        "in time"
    );

    let deadline = Duration::from_millis(200);
    fake.set_interaction_deadline(deadline);
    let past = registered_by + deadline + Duration::from_millis(5);
    thread::sleep(past.saturating_duration_since(Instant::now()));
    let late = callback(&fake, "1005", "token-of-1005", &pong);
    assert_eq!(
        (late.status, &late.body),
        (
            404,
            &json!({"message": "Unknown interaction", "code": 10062})
        )
    );
    assert_eq!(reply_kinds(&fake, "1005"), [(ReplyKind::Callback, 404)]);

    let orphan = followup(&fake, "token-of-1005", &json!({"content": "x"}));
    assert_eq!(
        (orphan.status, &orphan.body["code"]),
        (404, &json!(10015)),
        "never acknowledged, so there is no webhook: {orphan:#?}"
    );
}

#[test]
fn an_unregistered_interaction_is_unknown() {
    let fake = FakeDiscord::start();
    let pong = json!({"type": 4, "data": {"content": "pong"}});
    let unknown = callback(&fake, "1007", INTERACTION_TOKEN, &pong);
    assert_eq!(
        (unknown.status, &unknown.body),
        (
            404,
            &json!({"message": "Unknown interaction", "code": 10062})
        )
    );
    assert!(fake.interaction_responses("1007").is_empty());

    fake.register_interaction("1008", INTERACTION_TOKEN);
    assert_eq!(
        callback(&fake, "1008", "another-token", &pong).status,
        404,
        "the token must be the interaction's"
    );

    let stranger = edit_original(&fake, "never-registered", &json!({"content": "x"}));
    assert_eq!(
        (stranger.status, &stranger.body),
        (
            401,
            &json!({"message": "Invalid Webhook Token", "code": 50027})
        )
    );
    let other_app = format!(
        "{}/webhooks/999/{INTERACTION_TOKEN}/messages/@original",
        fake.api_base()
    );
    let refused = send_json(agent().patch(&other_app), None, &json!({"content": "x"}));
    assert_eq!(
        (refused.status, &refused.body),
        (404, &json!({"message": "Unknown Webhook", "code": 10015}))
    );
}

#[test]
fn an_expired_token_can_no_longer_edit() {
    let fake = FakeDiscord::start();
    fake.register_interaction("1009", INTERACTION_TOKEN);
    let defer = json!({"type": 5});
    assert_eq!(
        callback(&fake, "1009", INTERACTION_TOKEN, &defer).status,
        204
    );
    fake.set_interaction_lifetime(Duration::ZERO);

    let edit = edit_original(&fake, INTERACTION_TOKEN, &json!({"content": "late"}));
    assert_eq!(edit.status, 401, "{edit:#?}");
    assert_eq!(edit.body["code"], 50027);
    let again = callback(&fake, "1009", INTERACTION_TOKEN, &defer);
    assert_eq!(
        again.body["code"], 10062,
        "acknowledged, then forgotten: {again:#?}"
    );
    assert_eq!(
        reply_kinds(&fake, "1009"),
        [
            (ReplyKind::Callback, 204),
            (ReplyKind::Edit, 401),
            (ReplyKind::Callback, 404)
        ]
    );
}

#[test]
fn callback_bodies_are_validated_and_refusals_acknowledge_nothing() {
    let fake = FakeDiscord::start();
    fake.register_interaction("1010", INTERACTION_TOKEN);
    let choices: Vec<Value> = (0..26)
        .map(|k| json!({"name": format!("s{k}"), "value": format!("s{k}")}))
        .collect();
    let cases = [
        (
            json!({"type": 4, "data": {"content": "x".repeat(2001)}}),
            "/data/content",
        ),
        // CROSSPOSTED is not a flag a response may set.
        (
            json!({"type": 4, "data": {"content": "x", "flags": 2}}),
            "/data/flags",
        ),
        (json!({"type": 5, "data": {"flags": 4}}), "/data/flags"),
        (json!({"type": 8, "data": {"choices": choices}}), "/data"),
        (
            json!({"type": 8, "data": {"choices": [{"name": "n", "value": "v".repeat(101)}]}}),
            "/data/choices/0/value",
        ),
        (json!({"type": 8, "data": {}}), "/data/choices"),
        (json!({"type": 42}), "/type"),
    ];
    for (body, pointer) in &cases {
        let refused = callback(&fake, "1010", INTERACTION_TOKEN, body);
        form_error_at(&refused, pointer);
    }
    let empty = callback(
        &fake,
        "1010",
        INTERACTION_TOKEN,
        &json!({"type": 4, "data": {"content": " "}}),
    );
    assert_eq!(
        (empty.status, &empty.body),
        (
            400,
            &json!({"message": "Cannot send an empty message", "code": 50006})
        )
    );

    let violations = fake.schema_violations();
    let template = "POST /interactions/{interaction_id}/{interaction_token}/callback: ";
    let pointers: Vec<&str> = violations
        .iter()
        .map(|v| {
            let rest = v.strip_prefix(template).unwrap_or_else(|| panic!("{v}"));
            rest.split(": ").next().unwrap_or_default()
        })
        .collect();
    assert_eq!(
        pointers,
        ["/data/content", "/data", "/type"],
        "{violations:#?}"
    );

    let choices = json!({"type": 8, "data": {"choices": [{"name": "prod", "value": "prod"}]}});
    let taken = callback(&fake, "1010", INTERACTION_TOKEN, &choices);
    assert_eq!(taken.status, 204, "the refusals acknowledged nothing");
    let kept = fake.interaction_responses("1010");
    assert_eq!(kept.len(), cases.len() + 2);
    assert!(kept[..kept.len() - 1].iter().all(|r| r.status == 400));
    let original = get_original(&fake, INTERACTION_TOKEN);
    assert_eq!(
        (original.status, &original.body["code"]),
        (404, &json!(10008)),
        "an autocomplete result creates no message: {original:#?}"
    );
}

#[test]
fn edits_and_followups_are_validated() {
    let fake = FakeDiscord::start();
    fake.register_interaction("1011", INTERACTION_TOKEN);
    assert_eq!(
        callback(&fake, "1011", INTERACTION_TOKEN, &json!({"type": 5})).status,
        204
    );
    let long = json!({"content": "x".repeat(2001)});
    form_error_at(&edit_original(&fake, INTERACTION_TOKEN, &long), "/content");
    let ephemeral = json!({"content": "x", "flags": 64});
    form_error_at(
        &edit_original(&fake, INTERACTION_TOKEN, &ephemeral),
        "/flags",
    );
    form_error_at(&followup(&fake, INTERACTION_TOKEN, &long), "/content");
    let crossposted = json!({"content": "x", "flags": 2});
    form_error_at(&followup(&fake, INTERACTION_TOKEN, &crossposted), "/flags");
    let empty = followup(&fake, INTERACTION_TOKEN, &json!({}));
    assert_eq!(empty.body["code"], 50006, "{empty:#?}");

    let violations = fake.schema_violations();
    assert_eq!(violations.len(), 2, "{violations:#?}");
    assert!(
        violations[0].starts_with(
            "PATCH /webhooks/{webhook_id}/{webhook_token}/messages/@original: /content: "
        ),
        "{violations:#?}"
    );
    assert!(
        violations[1].starts_with("POST /webhooks/{webhook_id}/{webhook_token}: /content: "),
        "{violations:#?}"
    );
    assert!(
        fake.interaction_responses("1011")[1..]
            .iter()
            .all(|r| r.status == 400)
    );
    assert_eq!(get_original(&fake, INTERACTION_TOKEN).body["flags"], 128);
}

#[test]
fn a_followup_after_a_deferral_fills_in_the_loading_response() {
    let fake = FakeDiscord::start();
    fake.register_interaction("1012", INTERACTION_TOKEN);
    assert_eq!(
        callback(&fake, "1012", INTERACTION_TOKEN, &json!({"type": 5})).status,
        204
    );
    let original_id = get_original(&fake, INTERACTION_TOKEN).body["id"].clone();
    let done = followup(
        &fake,
        INTERACTION_TOKEN,
        &json!({"content": "done", "flags": 64}),
    );
    assert_eq!(done.status, 200, "{done:#?}");
    assert_eq!(done.body["id"], original_id);
    assert_eq!(
        done.body["flags"], 0,
        "the deferral chose: not ephemeral, and no longer loading"
    );
    assert_eq!(
        get_original(&fake, INTERACTION_TOKEN).body["content"],
        "done"
    );
    let next = followup(
        &fake,
        INTERACTION_TOKEN,
        &json!({"content": "next", "flags": 64}),
    );
    assert_ne!(next.body["id"], original_id, "a new message");
    assert_eq!(next.body["flags"], 64);
}

#[test]
fn channels_guilds_roles_and_members_answer_what_was_set_up() {
    let fake = FakeDiscord::start();
    let (guild, owner, bot_role) = ("700", "701", "702");
    fake.add_guild(guild, owner);
    fake.add_role(guild, guild, VIEW_CHANNEL);
    fake.add_role(guild, bot_role, SEND_MESSAGES);
    fake.add_member(guild, BOT_USER_ID, &[bot_role]);
    fake.add_channel(
        "710",
        guild,
        &[
            (guild, OVERWRITE_ROLE, 0, VIEW_CHANNEL),
            (
                BOT_USER_ID,
                OVERWRITE_MEMBER,
                VIEW_CHANNEL | SEND_MESSAGES,
                0,
            ),
        ],
    );

    let channel = get(&fake, "/channels/710", Some(TOKEN));
    assert_eq!(channel.status, 200, "{channel:#?}");
    assert_eq!(channel.body["id"], "710");
    assert_eq!(channel.body["type"], 0);
    assert_eq!(channel.body["guild_id"], guild);
    assert_eq!(
        channel.body["permission_overwrites"],
        json!([
            {"id": guild, "type": 0, "allow": "0", "deny": "1024"},
            {"id": BOT_USER_ID, "type": 1, "allow": "3072", "deny": "0"}
        ])
    );
    assert_eq!(channel.header("x-ratelimit-limit"), Some("50"));

    let details = get(&fake, "/guilds/700", Some(TOKEN));
    assert_eq!(details.status, 200, "{details:#?}");
    assert_eq!(details.body["owner_id"], owner);
    let roles = details.body["roles"].as_array().expect("roles");
    let summary: Vec<(&str, &str, u64, &str)> = roles
        .iter()
        .map(|r| {
            (
                r["id"].as_str().expect("an id"),
                r["name"].as_str().expect("a name"),
                r["position"].as_u64().expect("a position"),
                r["permissions"].as_str().expect("a string"),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (guild, "@everyone", 0, "1024"),
            (bot_role, "role-702", 1, "2048")
        ]
    );
    let listed = get(&fake, "/guilds/700/roles", Some(TOKEN));
    assert_eq!(listed.body, details.body["roles"]);

    let path = format!("/guilds/700/members/{BOT_USER_ID}");
    let member = get(&fake, &path, Some(TOKEN));
    assert_eq!(member.status, 200, "{member:#?}");
    assert_eq!(member.body["user"]["id"], BOT_USER_ID);
    assert_eq!(member.body["roles"], json!([bot_role]));

    fake.add_role(guild, guild, 0);
    let roles = get(&fake, "/guilds/700/roles", Some(TOKEN));
    assert_eq!(roles.body[0]["permissions"], "0", "set, not added");
    assert_eq!(roles.body.as_array().map(Vec::len), Some(2));

    for path in ["/channels/710", "/guilds/700", "/guilds/700/roles", &path] {
        assert_eq!(get(&fake, path, None).status, 401, "{path}");
    }
}

#[test]
fn unknown_and_hidden_resources_have_discords_errors() {
    let fake = FakeDiscord::start();
    let error = |path: &str| {
        let answer = get(&fake, path, Some(TOKEN));
        (answer.status, answer.body)
    };
    assert_eq!(
        error("/channels/711"),
        (404, json!({"message": "Unknown Channel", "code": 10003}))
    );
    fake.add_channel("712", "700", &[]);
    fake.hide_channel("712");
    fake.hide_channel("713");
    for hidden in ["/channels/712", "/channels/713"] {
        assert_eq!(
            error(hidden),
            (403, json!({"message": "Missing Access", "code": 50001})),
            "{hidden}"
        );
    }
    let unknown_guild = (404, json!({"message": "Unknown Guild", "code": 10004}));
    assert_eq!(error("/guilds/799"), unknown_guild);
    assert_eq!(error("/guilds/799/roles"), unknown_guild);
    assert_eq!(error("/guilds/799/members/5"), unknown_guild);
    fake.add_guild("700", "701");
    assert_eq!(
        error("/guilds/700/members/5"),
        (404, json!({"message": "Unknown Member", "code": 10007}))
    );

    for channel in [711, 712] {
        assert_eq!(
            create(&fake, channel, &text("x")).status,
            200,
            "message create does not look at the channel set-up"
        );
    }
}
