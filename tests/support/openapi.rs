//! Request bodies checked against Discord's own OpenAPI 3.1 description
//! (`tests/fixtures/discord-openapi.json`), so a body the bridge builds is
//! judged by the published schema rather than by our reading of the docs.
//!
//! This is a small JSON-Schema validator for the keywords the spec uses in
//! request schemas: `$ref` (within the document), `type` (one type or a list;
//! `integer` accepts any whole number), `enum`, `const`, `minLength` and
//! `maxLength` (counted in Unicode scalar values, as Discord counts), `pattern`,
//! `minimum` and `maximum`, `items`, `minItems`, `maxItems`, `uniqueItems`,
//! `properties`, `required`, `additionalProperties`, `minProperties`,
//! `maxProperties`, `allOf`, `anyOf` and `oneOf` (exactly one branch). Annotations
//! (`format`, `contentEncoding`, `title`, `x-discord-union`, ...) and unknown
//! keywords are ignored.
//!
//! The spec is looser than Discord in places (message `content` may be 4000
//! characters where bots get 2000; a webhook body is `anyOf` two schemas, and
//! the one without `username` accepts any username), so passing here is
//! necessary, not sufficient: `support::discord` adds Discord's documented
//! limits on top.
//!
//! Tests of the validator itself are in `tests/openapi.rs`.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt;
use std::fs;
use std::sync::{Mutex, OnceLock};

use regex::Regex;
use serde_json::{Map, Number, Value};

/// Discord's OpenAPI document, parsed once per test process. A cheap handle:
/// copy it freely.
#[derive(Clone, Copy)]
pub struct Spec {
    doc: &'static Value,
}

/// One way a value breaks a schema.
#[derive(Clone, Debug, PartialEq)]
pub struct Violation {
    /// JSON pointer (RFC 6901) to the offending value; empty for the body.
    pub pointer: String,
    /// The schema keyword that failed (`maxLength`, `required`, `oneOf`, ...).
    pub keyword: &'static str,
    /// What is wrong, for a person reading a failed test.
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = if self.pointer.is_empty() {
            "(body)"
        } else {
            &self.pointer
        };
        write!(f, "{at}: {}", self.message)
    }
}

impl Spec {
    /// The spec from `tests/fixtures/discord-openapi.json`; read and parsed on
    /// the first call only.
    pub fn load() -> Spec {
        static DOC: OnceLock<Value> = OnceLock::new();
        let doc = DOC.get_or_init(|| {
            let path = super::fixture("discord-openapi.json");
            let text = fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
            serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
        });
        Spec { doc }
    }

    /// Every path template in the spec, such as `/channels/{channel_id}/messages`.
    pub fn templates(&self) -> impl Iterator<Item = &'static str> + use<> {
        let doc: &'static Value = self.doc;
        doc["paths"]
            .as_object()
            .expect("the spec has a `paths` object")
            .keys()
            .map(String::as_str)
    }

    /// The `application/json` request schema of `method` (any case) on
    /// `path_template`, if the spec declares one.
    pub fn request_schema(&self, method: &str, path_template: &str) -> Option<&'static Value> {
        let doc: &'static Value = self.doc;
        doc.get("paths")?
            .get(path_template)?
            .get(method.to_ascii_lowercase())?
            .get("requestBody")?
            .get("content")?
            .get("application/json")?
            .get("schema")
    }

    /// Checks `body` against the JSON request schema of `method` on
    /// `path_template`; one line per violation, each naming a JSON pointer.
    /// Empty means valid.
    pub fn validate_request(&self, method: &str, path_template: &str, body: &Value) -> Vec<String> {
        strings(self.check_request(method, path_template, body))
    }

    /// [`Spec::validate_request`], with the violations as values.
    pub fn check_request(&self, method: &str, path_template: &str, body: &Value) -> Vec<Violation> {
        match self.request_schema(method, path_template) {
            Some(schema) => self.check(schema, body),
            None => vec![Violation {
                pointer: String::new(),
                keyword: "requestBody",
                message: format!(
                    "the spec declares no application/json body for {} {path_template}",
                    method.to_ascii_uppercase()
                ),
            }],
        }
    }

    /// Checks `body` against `#/components/schemas/{schema_name}`; one line
    /// per violation. Empty means valid.
    pub fn validate_schema(&self, schema_name: &str, body: &Value) -> Vec<String> {
        strings(self.check_schema(schema_name, body))
    }

    /// [`Spec::validate_schema`], with the violations as values.
    pub fn check_schema(&self, schema_name: &str, body: &Value) -> Vec<Violation> {
        match self.doc["components"]["schemas"].get(schema_name) {
            Some(schema) => self.check(schema, body),
            None => vec![Violation {
                pointer: String::new(),
                keyword: "$ref",
                message: format!("the spec has no schema named {schema_name}"),
            }],
        }
    }

    /// Checks `value` against any schema taken from this document.
    pub fn check(&self, schema: &Value, value: &Value) -> Vec<Violation> {
        let mut out = Vec::new();
        self.validate(schema, value, "", &mut out);
        out
    }

    /// The schema a `$ref` such as `#/components/schemas/RichEmbed` points to.
    fn resolve(&self, reference: &str) -> &'static Value {
        let doc: &'static Value = self.doc;
        reference
            .strip_prefix('#')
            .and_then(|pointer| doc.pointer(pointer))
            .unwrap_or_else(|| panic!("the spec has a dangling $ref {reference}"))
    }

    fn validate(&self, schema: &Value, value: &Value, at: &str, out: &mut Vec<Violation>) {
        let schema = match schema {
            Value::Bool(true) => return,
            Value::Bool(false) => {
                out.push(violation(
                    at,
                    "false",
                    "no value is allowed here".to_owned(),
                ));
                return;
            }
            Value::Object(schema) => schema,
            _ => panic!("not a schema at {at}: {schema}"),
        };
        if let Some(Value::String(reference)) = schema.get("$ref") {
            self.validate(self.resolve(reference), value, at, out);
        }
        if let Some(types) = schema.get("type")
            && !type_matches(types, value)
        {
            let expected = match types {
                Value::Array(list) => list
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(" or "),
                other => other.as_str().unwrap_or("?").to_owned(),
            };
            let message = format!("expected {expected}, got {}", kind(value));
            out.push(violation(at, "type", message));
            // The other keywords would only repeat that the type is wrong.
            return;
        }
        if let Some(constant) = schema.get("const")
            && !json_eq(constant, value)
        {
            let message = format!("expected {}, got {}", short(constant), short(value));
            out.push(violation(at, "const", message));
        }
        if let Some(Value::Array(allowed)) = schema.get("enum")
            && !allowed.iter().any(|a| json_eq(a, value))
        {
            let message = format!("{} is not one of {}", short(value), short_list(allowed));
            out.push(violation(at, "enum", message));
        }
        match value {
            Value::String(s) => self.validate_string(schema, s, at, out),
            Value::Number(n) => validate_number(schema, n, at, out),
            Value::Array(items) => self.validate_array(schema, items, at, out),
            Value::Object(members) => self.validate_object(schema, members, at, out),
            Value::Null | Value::Bool(_) => {}
        }
        if let Some(Value::Array(all)) = schema.get("allOf") {
            for branch in all {
                self.validate(branch, value, at, out);
            }
        }
        for keyword in ["anyOf", "oneOf"] {
            if let Some(Value::Array(branches)) = schema.get(keyword) {
                self.validate_union(keyword, branches, value, at, out);
            }
        }
    }

    fn validate_string(
        &self,
        schema: &Map<String, Value>,
        s: &str,
        at: &str,
        out: &mut Vec<Violation>,
    ) {
        let chars = s.chars().count();
        if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
            && chars as u64 > max
        {
            let message = format!("string of {chars} characters is longer than maxLength {max}");
            out.push(violation(at, "maxLength", message));
        }
        if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
            && (chars as u64) < min
        {
            let message = format!("string of {chars} characters is shorter than minLength {min}");
            out.push(violation(at, "minLength", message));
        }
        if let Some(Value::String(pattern)) = schema.get("pattern")
            && !pattern_matches(pattern, s)
        {
            let message = format!("{} does not match the pattern {pattern}", short_str(s));
            out.push(violation(at, "pattern", message));
        }
    }

    fn validate_array(
        &self,
        schema: &Map<String, Value>,
        items: &[Value],
        at: &str,
        out: &mut Vec<Violation>,
    ) {
        let len = items.len() as u64;
        if let Some(max) = schema.get("maxItems").and_then(Value::as_u64)
            && len > max
        {
            let message = format!("array of {len} items is longer than maxItems {max}");
            out.push(violation(at, "maxItems", message));
        }
        if let Some(min) = schema.get("minItems").and_then(Value::as_u64)
            && len < min
        {
            let message = format!("array of {len} items is shorter than minItems {min}");
            out.push(violation(at, "minItems", message));
        }
        if schema.get("uniqueItems") == Some(&Value::Bool(true)) {
            for (j, b) in items.iter().enumerate() {
                if let Some(i) = items[..j].iter().position(|a| json_eq(a, b)) {
                    let message = format!("duplicate of item {i} ({})", short(b));
                    out.push(violation(
                        &child(at, &j.to_string()),
                        "uniqueItems",
                        message,
                    ));
                }
            }
        }
        if let Some(item_schema) = schema.get("items") {
            for (i, item) in items.iter().enumerate() {
                self.validate(item_schema, item, &child(at, &i.to_string()), out);
            }
        }
    }

    fn validate_object(
        &self,
        schema: &Map<String, Value>,
        members: &Map<String, Value>,
        at: &str,
        out: &mut Vec<Violation>,
    ) {
        let count = members.len() as u64;
        if let Some(max) = schema.get("maxProperties").and_then(Value::as_u64)
            && count > max
        {
            let message = format!("object of {count} properties has more than maxProperties {max}");
            out.push(violation(at, "maxProperties", message));
        }
        if let Some(min) = schema.get("minProperties").and_then(Value::as_u64)
            && count < min
        {
            let message =
                format!("object of {count} properties has fewer than minProperties {min}");
            out.push(violation(at, "minProperties", message));
        }
        if let Some(Value::Array(required)) = schema.get("required") {
            for name in required.iter().filter_map(Value::as_str) {
                if !members.contains_key(name) {
                    let message = format!("missing required property {name:?}");
                    out.push(violation(at, "required", message));
                }
            }
        }
        let declared = schema.get("properties").and_then(Value::as_object);
        for (name, member) in members {
            let here = child(at, name);
            match declared.and_then(|d| d.get(name)) {
                Some(member_schema) => self.validate(member_schema, member, &here, out),
                None => match schema.get("additionalProperties") {
                    Some(Value::Bool(false)) => {
                        let message = format!("unexpected property {name:?}");
                        out.push(violation(&here, "additionalProperties", message));
                    }
                    Some(extra) => self.validate(extra, member, &here, out),
                    None => {}
                },
            }
        }
    }

    /// `anyOf` (at least one branch) and `oneOf` (exactly one branch). When no
    /// branch matches, reports what the most plausible branch found rather
    /// than every branch's complaints (see [`Spec::explain_union`]).
    fn validate_union(
        &self,
        keyword: &'static str,
        branches: &[Value],
        value: &Value,
        at: &str,
        out: &mut Vec<Violation>,
    ) {
        let results: Vec<Vec<Violation>> = branches
            .iter()
            .map(|b| self.check_at(b, value, at))
            .collect();
        let matched: Vec<usize> = (0..results.len())
            .filter(|&i| results[i].is_empty())
            .collect();
        match (keyword, matched.len()) {
            (_, 0) => out.extend(self.explain_union(keyword, branches, results, value, at)),
            ("oneOf", n) if n > 1 => {
                let message = format!(
                    "{} matches {n} oneOf branches ({matched:?}); exactly one must match",
                    short(value)
                );
                out.push(violation(at, "oneOf", message));
            }
            _ => {}
        }
    }

    fn check_at(&self, schema: &Value, value: &Value, at: &str) -> Vec<Violation> {
        let mut out = Vec::new();
        self.validate(schema, value, at, &mut out);
        out
    }

    /// Why no branch of a union matched. Branches of the wrong type (the
    /// `null` in "null or object") and, among several objects, those whose
    /// `type` member differs are set aside; if one branch is left its own
    /// violations are the answer, and if none is left because `type` fits
    /// no member, that is the answer. A union of
    /// constants (Discord's enums) becomes one "is not one of" message.
    /// Branches that all object alike (a webhook's content is too long for
    /// both of its schemas) are reported as one.
    fn explain_union(
        &self,
        keyword: &'static str,
        branches: &[Value],
        results: Vec<Vec<Violation>>,
        value: &Value,
        at: &str,
    ) -> Vec<Violation> {
        let constants: Option<Vec<Value>> = branches
            .iter()
            .map(|b| self.deref(b).get("const").cloned())
            .collect();
        if let Some(constants) = constants {
            let message = format!("{} is not one of {}", short(value), short_list(&constants));
            return vec![violation(at, "enum", message)];
        }
        let wrong_type = |errors: &Vec<Violation>| {
            errors
                .iter()
                .any(|e| e.pointer == at && e.keyword == "type")
        };
        let mut candidates: Vec<usize> = (0..results.len())
            .filter(|&i| !wrong_type(&results[i]))
            .collect();
        // Discord's object unions tell their members apart by `type`.
        let discriminator = child(at, "type");
        let wrong_discriminator =
            |errors: &Vec<Violation>| errors.iter().any(|e| e.pointer == discriminator);
        let plausible: Vec<usize> = candidates
            .iter()
            .copied()
            .filter(|&i| !wrong_discriminator(&results[i]))
            .collect();
        if plausible.is_empty()
            && !candidates.is_empty()
            && let Some(sent) = value.get("type")
        {
            let allowed: Option<Vec<Value>> = candidates
                .iter()
                .map(|&i| self.discriminator_values(&branches[i]))
                .collect::<Option<Vec<Vec<Value>>>>()
                .map(|lists| lists.concat());
            if let Some(allowed) = allowed {
                let message = format!("{} is not one of {}", short(sent), short_list(&allowed));
                return vec![violation(&discriminator, "enum", message)];
            }
        }
        if !plausible.is_empty() {
            candidates = plausible;
        }
        if let [first, rest @ ..] = &candidates[..]
            && rest.iter().all(|&i| results[i] == results[*first])
        {
            // One plausible branch, or several that object alike.
            return results
                .into_iter()
                .nth(*first)
                .expect("a candidate is an index of results");
        }
        let shown = if candidates.is_empty() {
            (0..results.len()).collect()
        } else {
            candidates
        };
        let reasons: Vec<String> = shown
            .iter()
            .map(|&i| {
                let first = results[i]
                    .first()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                format!("branch {i}: {first}")
            })
            .collect();
        let message = format!(
            "{} matches none of the {} {keyword} branches ({})",
            short(value),
            branches.len(),
            reasons.join("; ")
        );
        vec![violation(at, keyword, message)]
    }

    /// The values a union member allows for its `type` member (`enum` or
    /// `const`), if it declares them.
    fn discriminator_values(&self, branch: &Value) -> Option<Vec<Value>> {
        let schema = self.deref(branch).get("properties")?.get("type")?;
        match (schema.get("enum"), schema.get("const")) {
            (Some(Value::Array(values)), _) => Some(values.clone()),
            (_, Some(value)) => Some(vec![value.clone()]),
            _ => None,
        }
    }

    /// A schema with its top-level `$ref` followed.
    fn deref<'a>(&self, schema: &'a Value) -> &'a Value {
        match schema.get("$ref").and_then(Value::as_str) {
            Some(reference) => self.resolve(reference),
            None => schema,
        }
    }
}

/// The spec's path template for a concrete request path, e.g.
/// `/channels/123/messages` → `/channels/{channel_id}/messages`. A leading
/// `/api` or `/api/v10` and any query string are ignored. Where several
/// templates fit, the one with more literal segments wins, so
/// `/webhooks/1/tok/messages/@original` is not taken for `{message_id}`.
pub fn template_of(path: &str) -> Option<&'static str> {
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let path = path
        .strip_prefix("/api/v10")
        .or_else(|| path.strip_prefix("/api"))
        .filter(|rest| rest.starts_with('/'))
        .unwrap_or(path);
    let segments: Vec<&str> = path.split('/').collect();
    Spec::load()
        .templates()
        .filter_map(|template| literal_matches(template, &segments).map(|score| (score, template)))
        .max_by(|(a, ta), (b, tb)| a.cmp(b).then_with(|| tb.cmp(ta)))
        .map(|(_, template)| template)
}

/// How many literal segments of `template` equal those of the path, or `None`
/// if the path does not fit the template.
fn literal_matches(template: &str, segments: &[&str]) -> Option<usize> {
    let parts: Vec<&str> = template.split('/').collect();
    if parts.len() != segments.len() {
        return None;
    }
    let mut literal = 0;
    for (part, segment) in parts.iter().zip(segments) {
        if part.starts_with('{') && part.ends_with('}') {
            if segment.is_empty() {
                return None;
            }
        } else if part == segment {
            literal += 1;
        } else {
            return None;
        }
    }
    Some(literal)
}

fn strings(violations: Vec<Violation>) -> Vec<String> {
    violations.iter().map(ToString::to_string).collect()
}

fn violation(at: &str, keyword: &'static str, message: String) -> Violation {
    Violation {
        pointer: at.to_owned(),
        keyword,
        message,
    }
}

/// The pointer to member or index `name` of the value at `at`.
fn child(at: &str, name: &str) -> String {
    format!("{at}/{}", name.replace('~', "~0").replace('/', "~1"))
}

fn type_matches(types: &Value, value: &Value) -> bool {
    match types {
        Value::String(t) => is_type(t, value),
        Value::Array(list) => list
            .iter()
            .filter_map(Value::as_str)
            .any(|t| is_type(t, value)),
        _ => true,
    }
}

fn is_type(name: &str, value: &Value) -> bool {
    match name {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "string" => value.is_string(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        "number" => value.is_number(),
        "integer" => value.as_number().is_some_and(is_whole),
        _ => true,
    }
}

/// JSON Schema's "integer": any number without a fractional part, `1.0`
/// included.
fn is_whole(n: &Number) -> bool {
    n.is_i64()
        || n.is_u64()
        || n.as_f64()
            .is_some_and(|f| f.is_finite() && f.fract() == 0.0)
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if is_whole(n) => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn validate_number(schema: &Map<String, Value>, n: &Number, at: &str, out: &mut Vec<Violation>) {
    let bounds = [
        ("minimum", Ordering::Less, "less than"),
        ("maximum", Ordering::Greater, "greater than"),
    ];
    for (keyword, bad, words) in bounds {
        if let Some(Value::Number(bound)) = schema.get(keyword)
            && compare(n, bound) == Some(bad)
        {
            out.push(violation(
                at,
                keyword,
                format!("{n} is {words} {keyword} {bound}"),
            ));
        }
    }
}

/// Numbers compared exactly when both are integers (the spec's int64 bounds
/// do not survive a trip through f64), as floats otherwise.
fn compare(a: &Number, b: &Number) -> Option<Ordering> {
    let exact = |n: &Number| {
        n.as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))
    };
    match (exact(a), exact(b)) {
        (Some(a), Some(b)) => Some(a.cmp(&b)),
        _ => a.as_f64()?.partial_cmp(&b.as_f64()?),
    }
}

/// JSON equality as JSON Schema means it: `1` equals `1.0`.
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(a), Value::Number(b)) => compare(a, b) == Some(Ordering::Equal),
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(a, b)| json_eq(a, b))
        }
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len()
                && a.iter()
                    .all(|(k, v)| b.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

fn pattern_matches(pattern: &str, s: &str) -> bool {
    static COMPILED: OnceLock<Mutex<HashMap<String, Regex>>> = OnceLock::new();
    let mut compiled = COMPILED
        .get_or_init(Mutex::default)
        .lock()
        .expect("no thread panics while holding the pattern cache");
    compiled
        .entry(pattern.to_owned())
        .or_insert_with(|| {
            Regex::new(pattern)
                .unwrap_or_else(|e| panic!("the spec's pattern {pattern} is not supported: {e}"))
        })
        .is_match(s)
}

/// A value as JSON, cut short for messages.
fn short(value: &Value) -> String {
    match value {
        Value::String(s) => short_str(s),
        other => cut(other.to_string()),
    }
}

fn short_str(s: &str) -> String {
    cut(Value::String(s.to_owned()).to_string())
}

fn short_list(values: &[Value]) -> String {
    let items: Vec<String> = values.iter().map(short).collect();
    cut(format!("[{}]", items.join(", ")))
}

fn cut(text: String) -> String {
    const MAX: usize = 60;
    match text.char_indices().nth(MAX) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text,
    }
}
