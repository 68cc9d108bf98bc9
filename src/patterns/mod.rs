//! The pattern engine: turns a console line into at most one event.
//!
//! Every enabled pattern of a server is compiled into one [`RegexSet`], so a
//! line is scanned once whatever the number of patterns; only the winning
//! pattern's own regex then runs to extract captures. Patterns are sorted by
//! rank (priority, then file, then position in the file) before the set is
//! built, so the winner is simply the lowest matching index and the choice is
//! deterministic.
//!
//! A pattern may also read a JSON object out of one capture group (its
//! `json:` option, for lines a mod writes as `[TAG] {...}`): the object's
//! keys become fields, and conditions on them decide whether the pattern
//! applies at all, so the next matching pattern in rank order is tried when
//! they fail. The object is decoded once per line, only when such a pattern
//! matches; text that is not a JSON object makes the line [`Malformed`]:
//! it produces no event and the caller logs it.
//!
//! The engine does no I/O; [`load`] reads pattern files.

pub mod load;
pub mod template;

use std::borrow::Cow;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use regex::{CaptureLocations, Regex, RegexSet};
use serde_json::{Map, Value};

use crate::event::{Event, Kind, Position};
use template::Template;

/// The prefix the chat relay puts in front of Discord messages it sends to
/// the game. Factorio echoes them as `[CHAT] <server>: [Discord] ...`, and
/// those lines must never travel back to Discord.
pub const RELAY_PREFIX: &str = "[Discord] ";

/// Where a pattern was defined, for ranking ties and for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub file: PathBuf,
    /// Rank of the file in load order (directories in order, files sorted).
    pub file_rank: usize,
    /// Position of the pattern within its file.
    pub index: usize,
}

/// One compiled pattern.
#[derive(Debug, Clone)]
pub struct Pattern {
    pub name: Arc<str>,
    pub kind: Kind,
    /// Routing key (`channel:` in the file), looked up in `channels`.
    pub route: Option<Arc<str>>,
    /// Lower wins when several patterns match a line.
    pub priority: i64,
    pub enabled: bool,
    pub origin: Origin,
    regex: Regex,
    /// The fields, in order: captured ones first, then JSON keys.
    fields: Vec<Field>,
    /// The `json:` option, when the pattern has one.
    json: Option<JsonSpec>,
    template: Template,
    emoji: String,
}

/// One field of a pattern: its name and where its text comes from.
#[derive(Debug, Clone)]
struct Field {
    name: Arc<str>,
    source: Source,
}

#[derive(Debug, Clone, Copy)]
enum Source {
    /// A capture group, by index (`usize::MAX` for "never captured", as
    /// the Python format's `{message}` without a second group).
    Group(usize),
    /// The key of the same name in the pattern's JSON object.
    Key,
}

/// A pattern's `json:` option.
#[derive(Debug, Clone)]
struct JsonSpec {
    /// The capture group holding the object: name (for messages) and index.
    group_name: Arc<str>,
    group: usize,
    /// `key: text` conditions, all of which must hold for the pattern to
    /// apply. A value is compared as text ([`json_text`]), so `true` and
    /// `1` in YAML match JSON's `true` and `1`.
    conditions: Vec<(String, String)>,
}

impl JsonSpec {
    fn holds(&self, object: &Map<String, Value>) -> bool {
        self.conditions.iter().all(|(key, want)| {
            object
                .get(key)
                .and_then(json_text)
                .is_some_and(|got| got == want.as_str())
        })
    }
}

/// A JSON value as field text: a string as it is, a whole number without a
/// fraction (Lua writes every number as a double, so `5.0` is `5`), `true`
/// or `false`, and arrays and objects as compact JSON. `null` is no text,
/// like a group that did not take part in the match.
fn json_text(value: &Value) -> Option<Cow<'_, str>> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(Cow::Borrowed(s)),
        Value::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
        Value::Number(n) => Some(Cow::Owned(match n.as_f64() {
            // Below 2^53 a double holds the whole number exactly.
            Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 => {
                format!("{f:.0}")
            }
            _ => n.to_string(),
        })),
        Value::Array(_) | Value::Object(_) => Some(Cow::Owned(value.to_string())),
    }
}

impl Pattern {
    pub fn regex(&self) -> &str {
        self.regex.as_str()
    }

    pub fn field_names(&self) -> impl Iterator<Item = &str> {
        self.fields.iter().map(|f| &*f.name)
    }

    fn rank(&self) -> (i64, usize, usize) {
        (self.priority, self.origin.file_rank, self.origin.index)
    }
}

/// The patterns one server uses, ready to classify lines.
///
/// The `RegexSet` holds each distinct regex once: a mod's patterns often
/// share one regex and differ by their JSON conditions (the 17 of
/// patterns/mod-events.yml do), and every regex in the set costs every line
/// its share of the scan.
#[derive(Debug, Clone)]
pub struct PatternSet {
    set: RegexSet,
    /// In rank order.
    patterns: Vec<Arc<Pattern>>,
    /// Per pattern, its regex's index in `set`.
    regex_of: Vec<usize>,
    /// Per regex of `set`, the patterns that use it, in rank order.
    users: Vec<Vec<usize>>,
}

/// Reusable storage, one per thread, so matching allocates nothing.
pub struct Scratch {
    /// Per regex of the set: its captures on the current line.
    locations: Vec<Option<CaptureLocations>>,
    /// Per regex of the set: whether it captured on the current line
    /// (`None`: not tried yet).
    captured: Vec<Option<bool>>,
    /// The candidate patterns of the current line, in rank order.
    candidates: Vec<usize>,
}

/// A line matched by a pattern; borrows the line and the scratch space.
pub struct Match<'a> {
    pub pattern: &'a Pattern,
    line: &'a str,
    locations: &'a CaptureLocations,
    /// The decoded object of a `json:` pattern.
    object: Option<Map<String, Value>>,
}

/// A line whose JSON, in a group a `json:` pattern reads, is not a JSON
/// object. It produces no event; the caller logs it with the line's place.
#[derive(Debug)]
pub struct Malformed<'a> {
    pub pattern: &'a Pattern,
    pub line: &'a str,
    pub error: serde_json::Error,
}

/// How much of a malformed line a message quotes.
const QUOTED_CHARS: usize = 160;

impl fmt::Display for Malformed<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = self.pattern;
        let group = p.json.as_ref().map_or("?", |j| &*j.group_name);
        // serde_json counts lines and columns within the captured text.
        write!(
            f,
            "pattern `{}` ({}) reads group `{group}` as a JSON object, but it is not one ({} of the group's text; fix or update whatever wrote the line, or the pattern's group); the line: ",
            p.name,
            p.origin.file.display(),
            self.error
        )?;
        match self.line.char_indices().nth(QUOTED_CHARS) {
            Some((cut, _)) => write!(f, "{}...", &self.line[..cut]),
            None => f.write_str(self.line),
        }
    }
}

impl Match<'_> {
    /// The text of each field, in the pattern's field order.
    pub fn values(&self) -> Vec<Option<Cow<'_, str>>> {
        self.pattern
            .fields
            .iter()
            .map(|field| match field.source {
                Source::Group(group) => self
                    .locations
                    .get(group)
                    .map(|(start, end)| Cow::Borrowed(&self.line[start..end])),
                Source::Key => self
                    .object
                    .as_ref()
                    .and_then(|o| o.get(&*field.name))
                    .and_then(json_text),
            })
            .collect()
    }

    /// The message Discord should show, with `server` as `{server}`.
    pub fn render(&self, server: &str) -> String {
        self.render_values(&self.values(), server)
    }

    fn render_values(&self, values: &[Option<Cow<'_, str>>], server: &str) -> String {
        let p = self.pattern;
        let mut out = String::with_capacity(p.emoji.len() + self.line.len() + 16);
        if !p.emoji.is_empty() {
            out.push_str(&p.emoji);
            out.push(' ');
        }
        p.template.render(values, server, &mut out);
        out
    }

    /// The event this match stands for.
    pub fn to_event(&self, server_id: &Arc<str>, server_name: &str, position: Position) -> Event {
        let values = self.values();
        let content = self.render_values(&values, server_name);
        Event {
            server: server_id.clone(),
            kind: self.pattern.kind,
            pattern: self.pattern.name.clone(),
            route: self.pattern.route.clone(),
            fields: self
                .pattern
                .fields
                .iter()
                .zip(values)
                .filter_map(|(field, v)| v.map(|v| (field.name.clone(), v.into_owned())))
                .collect(),
            content,
            embed: None,
            position,
            id: 0,
        }
    }
}

impl PatternSet {
    /// Builds the set from every enabled pattern whose kind `wanted` accepts.
    /// Fails when the patterns, each within the regex engine's size limit,
    /// are too many or too large together (thousands of patterns): the
    /// error says how many and what to do.
    pub fn new(patterns: &[Arc<Pattern>], wanted: impl Fn(Kind) -> bool) -> Result<Self, String> {
        let mut chosen: Vec<Arc<Pattern>> = patterns
            .iter()
            .filter(|p| p.enabled && wanted(p.kind))
            .cloned()
            .collect();
        chosen.sort_by_key(|p| p.rank());
        let mut distinct: Vec<&str> = Vec::new();
        let mut users: Vec<Vec<usize>> = Vec::new();
        let mut regex_of = Vec::with_capacity(chosen.len());
        for (index, p) in chosen.iter().enumerate() {
            let at = match distinct.iter().position(|r| *r == p.regex.as_str()) {
                Some(at) => at,
                None => {
                    distinct.push(p.regex.as_str());
                    users.push(Vec::new());
                    distinct.len() - 1
                }
            };
            users[at].push(index);
            regex_of.push(at);
        }
        let set = RegexSet::new(&distinct).map_err(|e| {
            format!(
                "the {} patterns cannot be matched together: {e} (remove patterns that are not needed, switch off \
                 event kinds with `events:` or `enabled: false`, or simplify the largest regexes)",
                chosen.len()
            )
        })?;
        Ok(Self {
            set,
            patterns: chosen,
            regex_of,
            users,
        })
    }

    pub fn patterns(&self) -> &[Arc<Pattern>] {
        &self.patterns
    }

    pub fn scratch(&self) -> Scratch {
        Scratch {
            locations: vec![None; self.users.len()],
            captured: vec![None; self.users.len()],
            candidates: Vec::new(),
        }
    }

    /// The winning pattern for `line`: the first in rank order whose regex
    /// matches and, for a `json:` pattern, whose conditions hold. `None`
    /// when there is none or the line is the relay's own echo; an error
    /// when a `json:` pattern's group is not a JSON object.
    pub fn classify<'a>(
        &'a self,
        line: &'a str,
        scratch: &'a mut Scratch,
    ) -> Result<Option<Match<'a>>, Malformed<'a>> {
        if is_relay_echo(line) {
            return Ok(None);
        }
        // The object last decoded and where it came from: the `json:`
        // patterns of one mod usually share a regex, so the next candidate
        // reuses it instead of decoding the same text again.
        let mut decoded: Option<((usize, usize), Map<String, Value>)> = None;
        let mut winner = None;
        let mut candidates = std::mem::take(&mut scratch.candidates);
        candidates.clear();
        let mut regexes = 0;
        for at in self.set.matches(line).iter() {
            candidates.extend_from_slice(&self.users[at]);
            scratch.captured[at] = None;
            regexes += 1;
        }
        if regexes > 1 {
            // Patterns of several regexes: back into rank order.
            candidates.sort_unstable();
        }
        let mut failed = None;
        for &index in &candidates {
            let pattern = &*self.patterns[index];
            let at = self.regex_of[index];
            let locations =
                scratch.locations[at].get_or_insert_with(|| pattern.regex.capture_locations());
            // Patterns sharing a regex capture once per line.
            let captured = *scratch.captured[at]
                .get_or_insert_with(|| pattern.regex.captures_read(locations, line).is_some());
            if !captured {
                continue;
            }
            let Some(spec) = &pattern.json else {
                winner = Some((at, index, None));
                break;
            };
            // An optional group that did not take part: nothing to read.
            let Some(span) = locations.get(spec.group) else {
                continue;
            };
            let object = match decoded.take() {
                Some((seen, object)) if seen == span => object,
                _ => match serde_json::from_str(&line[span.0..span.1]) {
                    Ok(object) => object,
                    Err(error) => {
                        failed = Some((index, error));
                        break;
                    }
                },
            };
            if spec.holds(&object) {
                winner = Some((at, index, Some(object)));
                break;
            }
            decoded = Some((span, object));
        }
        scratch.candidates = candidates;
        if let Some((index, error)) = failed {
            return Err(Malformed {
                pattern: &self.patterns[index],
                line,
                error,
            });
        }
        let Some((at, index, object)) = winner else {
            return Ok(None);
        };
        let Some(locations) = scratch.locations[at].as_ref() else {
            return Ok(None);
        };
        Ok(Some(Match {
            pattern: &self.patterns[index],
            line,
            locations,
            object,
        }))
    }
}

/// Whether `line` is Factorio's echo of a message the chat relay sent.
pub fn is_relay_echo(line: &str) -> bool {
    let body = strip_timestamp(line);
    body.strip_prefix("[CHAT] <server>: ")
        .is_some_and(|rest| rest.starts_with(RELAY_PREFIX))
}

/// The line without a leading `YYYY-MM-DD HH:MM:SS ` stamp.
fn strip_timestamp(line: &str) -> &str {
    let b = line.as_bytes();
    let stamped = b.len() > 20
        && b[..19].iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b' ',
            13 | 16 => *c == b':',
            _ => c.is_ascii_digit(),
        })
        && b[19] == b' ';
    if stamped { &line[20..] } else { line }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A set from one pattern file's text, every kind on.
    fn set_of(yaml: &str) -> PatternSet {
        let patterns: Vec<Arc<Pattern>> = load::load_text(std::path::Path::new("m.yml"), 0, yaml)
            .unwrap_or_else(|e| panic!("loads: {e:?}"))
            .into_iter()
            .map(Arc::new)
            .collect();
        PatternSet::new(&patterns, |_| true).expect("a pattern set")
    }

    /// Pattern name and rendered message, `None` for no event; malformed
    /// JSON gives the error's text.
    fn outcome(set: &PatternSet, line: &str) -> Result<Option<(String, String)>, String> {
        let mut scratch = set.scratch();
        match set.classify(line, &mut scratch) {
            Ok(m) => Ok(m.map(|m| (m.pattern.name.to_string(), m.render("S")))),
            Err(e) => Err(e.to_string()),
        }
    }

    const MOD_PATTERNS: &str = r#"patterns:
  - name: died
    kind: death
    regex: '^\[M\] (?P<data>\{.*\})$'
    json: {group: data, fields: [player, cause], match: {event: died}}
    template: '**{player}** died ({cause})'
  - name: flagged
    kind: other
    regex: '^\[M\] (?P<data>\{.*\})$'
    json: {group: data, fields: [n], match: {event: flag, on: true, count: 2}}
    template: 'flag {n}'
  - name: any-m
    kind: other
    regex: '^\[M\] '
    template: 'some other M line'
    priority: 50
"#;

    /// Patterns sharing a regex are one entry of the set, yet the winner
    /// is still the first in rank order across every regex that matched.
    #[test]
    fn shared_regexes_keep_the_rank_order() {
        let set = set_of(
            r#"patterns:
  - name: json-first
    kind: other
    regex: '^\[M\] (?P<data>\{.*\})$'
    json: {group: data, fields: [n], match: {event: first}}
    template: 'first {n}'
    priority: 1
  - name: plain-second
    kind: other
    regex: '^\[M\] \{"event":"(?P<event>second|third)"'
    template: 'plain {event}'
    priority: 2
  - name: json-third
    kind: other
    regex: '^\[M\] (?P<data>\{.*\})$'
    json: {group: data, fields: [n], match: {event: third}}
    template: 'third {n}'
    priority: 3
"#,
        );
        assert_eq!(set.set.len(), 2, "one entry per distinct regex");
        let won = |line: &str| outcome(&set, line).map(|m| m.map(|(name, _)| name));
        assert_eq!(
            won(r#"[M] {"event":"first","n":1}"#),
            Ok(Some("json-first".into()))
        );
        // Both regexes match; the plain pattern outranks the later user of
        // the shared regex.
        assert_eq!(
            won(r#"[M] {"event":"third","n":3}"#),
            Ok(Some("plain-second".into()))
        );
        assert_eq!(won(r#"[M] {"event":"other","n":4}"#), Ok(None));
        let mut scratch = set.scratch();
        for line in [
            r#"[M] {"event":"first","n":1}"#,
            "nothing",
            r#"[M] {"event":"first","n":2}"#,
        ] {
            let _ = set.classify(line, &mut scratch);
        }
        assert!(
            matches!(set.classify(r#"[M] {"event":"first","n":5}"#, &mut scratch), Ok(Some(m)) if m.render("S") == "first 5")
        );
    }

    #[test]
    fn json_keys_are_fields_and_conditions_choose_the_pattern() {
        let set = set_of(MOD_PATTERNS);
        let check = |line: &str, want: Option<(&str, &str)>| {
            assert_eq!(
                outcome(&set, line),
                Ok(want.map(|(p, c)| (p.to_owned(), c.to_owned()))),
                "{line}"
            );
        };
        check(
            r#"[M] {"cause":"small-biter","event":"died","player":"a_b"}"#,
            Some(("died", "**a\\_b** died (small-biter)")),
        );
        // Player text is escaped like chat: no mass ping, no markdown.
        check(
            r#"[M] {"event":"died","player":"@everyone","cause":"[item=grenade]"}"#,
            Some(("died", "**@\u{200B}everyone** died (grenade)")),
        );
        // An absent key is empty, like a group that did not take part.
        check(
            r#"[M] {"event":"died","player":"p"}"#,
            Some(("died", "**p** died ()")),
        );
        // YAML `true` and `2` equal JSON `true` and `2.0` (Lua's numbers).
        check(
            r#"[M] {"event":"flag","on":true,"count":2.0,"n":[1,"x"]}"#,
            Some(("flagged", "flag \\[1,\"x\"\\]")),
        );
        // Conditions that fail hand the line to the next pattern in rank.
        check(
            r#"[M] {"event":"flag","on":false,"count":2}"#,
            Some(("any-m", "some other M line")),
        );
        check(
            r#"[M] {"event":"unknown"}"#,
            Some(("any-m", "some other M line")),
        );
        check("[N] nothing", None);
    }

    #[test]
    fn numbers_read_as_lua_wrote_them() {
        let set = set_of(
            "patterns:\n  - name: n\n    kind: other\n    regex: '^(?P<j>\\{.*\\})$'\n    json: {group: j, fields: [a]}\n    template: '{a}'\n",
        );
        for (json, want) in [
            (r#"{"a":5}"#, "5"),
            (r#"{"a":5.0}"#, "5"),
            (r#"{"a":-3.0}"#, "\\-3"),
            (r#"{"a":1.5}"#, "1.5"),
            (r#"{"a":123456789012.0}"#, "123456789012"),
            (r#"{"a":1e300}"#, "1e+300"),
            (r#"{"a":null}"#, ""),
        ] {
            assert_eq!(
                outcome(&set, json),
                Ok(Some(("n".to_owned(), want.to_owned()))),
                "{json}"
            );
        }
    }

    #[test]
    fn malformed_json_is_an_error_and_no_other_pattern_takes_the_line() {
        let set = set_of(MOD_PATTERNS);
        for line in [
            r#"[M] {"event":"died","player":}"#,
            r#"[M] {oops}"#,
            r#"[M] {"event":"died"} {"event":"died"}"#,
        ] {
            let e = outcome(&set, line).expect_err(line);
            assert!(
                e.starts_with("pattern `died` (m.yml) reads group `data` as a JSON object, but it is not one ("),
                "{e}"
            );
            assert!(e.ends_with(&format!("; the line: {line}")), "{e}");
        }
        // A long line is quoted in part, cut on a character boundary.
        let long = format!("[M] {{\"x\":\"{}}}", "é".repeat(400));
        let e = outcome(&set, &long).expect_err("malformed");
        assert!(e.ends_with("éé..."), "{e}");
    }

    #[test]
    fn json_group_is_not_a_field_and_captures_still_are() {
        let set = set_of(
            "patterns:\n  - name: t\n    kind: other\n    regex: '^(?P<tag>[A-Z]+) (?P<j>\\{.*\\})$'\n    json: {group: j, fields: [a]}\n    template: '{tag} {a}'\n",
        );
        let mut scratch = set.scratch();
        let m = set
            .classify(r#"X {"a":"b"}"#, &mut scratch)
            .expect("valid")
            .expect("matches");
        let fields: Vec<(&str, Option<String>)> = m
            .pattern
            .field_names()
            .zip(m.values().into_iter().map(|v| v.map(Cow::into_owned)))
            .collect();
        assert_eq!(
            fields,
            vec![("tag", Some("X".to_owned())), ("a", Some("b".to_owned()))]
        );
    }

    #[test]
    fn relay_echo_is_recognised_only_in_its_exact_shape() {
        assert!(is_relay_echo(
            "2024-04-09 06:08:51 [CHAT] <server>: [Discord] bob: hi"
        ));
        assert!(is_relay_echo("[CHAT] <server>: [Discord] bob: hi"));
        assert!(!is_relay_echo("2024-04-09 06:08:51 [CHAT] <server>: sup"));
        assert!(!is_relay_echo(
            "2024-04-09 06:08:51 [CHAT] bob: [Discord] fake"
        ));
    }
}
