//! Reading pattern files: our format and the Python factorio-isr format.
//!
//! Every `*.yml` and `*.yaml` file of each directory is read, directories in
//! the order given and files sorted by name, which fixes the tie-breaking
//! rank. All problems of all files are collected before giving up, each
//! naming its file, line and pattern.
//!
//! Our format is a `patterns:` list (see docs/PATTERNS.md); the Python
//! project's is an `events:` mapping with positional captures, which is
//! translated here so its users can bring their files unchanged.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use regex::{Regex, RegexBuilder};
use serde_yaml::{Mapping, Value};

use super::template::Template;
use super::{Field, JsonSpec, Origin, Pattern, Source};
use crate::event::Kind;
use crate::yaml::{self, KeyPath, Problem, Problems, Reader};

/// Longest regex source accepted, and the compiled-size cap: generous for
/// real patterns, small enough that a hostile file cannot eat the host.
const MAX_REGEX_LEN: usize = 4096;
const REGEX_SIZE_LIMIT: usize = 1 << 20;

const NATIVE_KEYS: &[&str] = &[
    "name",
    "kind",
    "regex",
    "template",
    "emoji",
    "priority",
    "enabled",
    "channel",
    "description",
    "json",
];

/// The keys of a native pattern's `json:` mapping.
const JSON_KEYS: &[&str] = &["group", "fields", "match"];

const PYTHON_KEYS: &[&str] = &[
    "pattern",
    "type",
    "emoji",
    "message",
    "enabled",
    "priority",
    "channel",
    "description",
];

/// The default priority when a pattern gives none (as in factorio-isr).
pub const DEFAULT_PRIORITY: i64 = 10;

/// Loads every pattern file in `dirs`; an unreadable directory is a problem.
pub fn load_dirs(dirs: &[PathBuf]) -> Result<Vec<Arc<Pattern>>, Problems> {
    let mut problems = Vec::new();
    let mut files = Vec::new();
    for dir in dirs {
        match list(dir) {
            Ok(found) => files.extend(found),
            Err(p) => problems.push(p),
        }
    }
    let mut patterns = Vec::new();
    for (rank, file) in files.iter().enumerate() {
        match crate::text_file::read(file) {
            Ok(text) => match load_text(file, rank, &text) {
                Ok(found) => patterns.extend(found),
                Err(mut p) => problems.append(&mut p),
            },
            Err(e) => problems.push(Problem {
                file: file.clone(),
                line: None,
                key: String::new(),
                message: format!("cannot read pattern file: {e}"),
            }),
        }
    }
    check_duplicates(&patterns, &mut problems);
    if problems.is_empty() {
        Ok(patterns.into_iter().map(Arc::new).collect())
    } else {
        Err(Problems(problems))
    }
}

fn list(dir: &Path) -> Result<Vec<PathBuf>, Problem> {
    let entries = std::fs::read_dir(dir).map_err(|e| Problem {
        file: dir.to_owned(),
        line: None,
        key: String::new(),
        message: format!("cannot read the patterns directory: {e} (check `patterns_dir` and the path's permissions)"),
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
        .collect();
    files.sort();
    Ok(files)
}

fn check_duplicates(patterns: &[Pattern], problems: &mut Vec<Problem>) {
    let mut seen: HashMap<&str, &Pattern> = HashMap::new();
    for p in patterns {
        if let Some(first) = seen.get(&*p.name) {
            problems.push(Problem {
                file: p.origin.file.clone(),
                line: None,
                key: format!("pattern `{}`", p.name),
                message: format!(
                    "duplicate pattern name, first defined in {} (names must be unique across all pattern files; rename one)",
                    first.origin.file.display()
                ),
            });
        } else {
            seen.insert(&p.name, p);
        }
    }
}

/// Loads the patterns of one file's text. `rank` is the file's load order.
pub fn load_text(file: &Path, rank: usize, text: &str) -> Result<Vec<Pattern>, Vec<Problem>> {
    let doc = yaml::parse(file, text).map_err(|p| vec![p])?;
    // Pattern files are taken literally: `$` is common in regexes.
    let mut r = Reader::new(file, text, None);
    let root = KeyPath::root();
    let mut out = Vec::new();
    let Some(map) = r.mapping(&doc, &root, &["patterns", "events"]) else {
        if !r.has_problems() {
            r.problem(&root, "empty pattern file (expected a `patterns:` list, or the factorio-isr `events:` mapping)");
        }
        return Err(r.into_problems());
    };
    match (map.get("patterns"), map.get("events")) {
        (Some(_), Some(_)) => r.problem(
            &root,
            "a file holds either `patterns:` or `events:`, not both; split it in two",
        ),
        (Some(list), None) => native(&mut r, list, rank, &mut out),
        (None, Some(events)) => python(&mut r, events, rank, &mut out),
        (None, None) => {}
    }
    if r.has_problems() {
        Err(r.into_problems())
    } else {
        Ok(out)
    }
}

fn native(r: &mut Reader, list: &Value, rank: usize, out: &mut Vec<Pattern>) {
    let path = KeyPath::root().key("patterns");
    let Value::Sequence(items) = list else {
        r.problem(
            &path,
            format!(
                "expected a list of patterns (`- name: ...`), found {}",
                yaml::describe(list)
            ),
        );
        return;
    };
    for (index, item) in items.iter().enumerate() {
        let at = path.index(index);
        let Some(map) = r.mapping(item, &at, NATIVE_KEYS) else {
            continue;
        };
        let Some(name) = required(r, map, &at, "name") else {
            continue;
        };
        let label = format!("pattern `{name}`");
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            || name.is_empty()
        {
            r.problem_named(
                &at.key("name"),
                &label,
                "a name may use letters, digits, `_` and `-`",
            );
        }
        let kind = required(r, map, &at, "kind").and_then(|k| {
            let kind = Kind::from_name(&k);
            if kind.is_none() {
                r.problem_named(&at.key("kind"), &label, unknown_kind(&k));
            }
            kind
        });
        let regex = required(r, map, &at, "regex")
            .and_then(|src| compile(r, &at.key("regex"), &label, &src));
        let template = required(r, map, &at, "template");
        let common = Common::read(r, map, &at);
        let (Some(kind), Some(regex), Some(template)) = (kind, regex, template) else {
            continue;
        };
        let mut fields: Vec<Field> = regex
            .capture_names()
            .enumerate()
            .filter_map(|(group, n)| {
                n.map(|n| Field {
                    name: Arc::from(n),
                    source: Source::Group(group),
                })
            })
            .collect();
        if fields.iter().any(|f| &*f.name == "server") {
            r.problem_named(
                &at.key("regex"),
                &label,
                "the capture name `server` is reserved for the server's name; rename the group",
            );
            continue;
        }
        let json = match map.get("json") {
            Some(value) => match json_spec(r, value, &at.key("json"), &label, &mut fields) {
                Some(spec) => Some(spec),
                None => continue,
            },
            None => None,
        };
        let names: Vec<&str> = fields.iter().map(|f| &*f.name).collect();
        let template = match Template::parse(&template, &names) {
            Ok(t) => t,
            Err(e) => {
                r.problem_named(&at.key("template"), &label, e.to_string());
                continue;
            }
        };
        out.push(Pattern {
            name: name.into(),
            kind,
            route: common.channel.map(Arc::from),
            priority: common.priority,
            enabled: common.enabled,
            origin: Origin {
                file: r.file().to_owned(),
                file_rank: rank,
                index,
            },
            regex,
            fields,
            json,
            template,
            emoji: common.emoji,
        });
    }
}

/// Reads a pattern's `json:` mapping. The group holding the object stops
/// being a field (its text is the raw JSON); each of `fields` is added as a
/// field read from the object. `None` after reporting a problem.
fn json_spec(
    r: &mut Reader,
    value: &Value,
    at: &KeyPath,
    label: &str,
    fields: &mut Vec<Field>,
) -> Option<JsonSpec> {
    if value.is_null() {
        r.problem_named(at, label, "`json:` is empty; it needs at least `group:`");
        return None;
    }
    let map = r.mapping(value, at, JSON_KEYS)?;
    let group_name = required(r, map, at, "group")?;
    let group_at = fields
        .iter()
        .position(|f| *f.name == *group_name)
        .and_then(|i| match fields[i].source {
            Source::Group(g) => Some((i, g)),
            Source::Key => None,
        });
    let Some((position, group)) = group_at else {
        let names: Vec<&str> = fields.iter().map(|f| &*f.name).collect();
        r.problem_named(
            &at.key("group"),
            label,
            format!(
                "`{group_name}` is not a named group of the regex (named groups: {}); add (?P<{group_name}>\\{{.*\\}}) around the JSON",
                if names.is_empty() {
                    "none".to_owned()
                } else {
                    names.join(", ")
                }
            ),
        );
        return None;
    };
    fields.remove(position);
    // Problems of our own; the mapping's unknown keys fail the file anyway.
    let mut ok = true;
    for (i, key) in r
        .string_list(map, at, "fields")
        .unwrap_or_default()
        .into_iter()
        .enumerate()
    {
        let key_at = at.key("fields").index(i);
        let problem = if key.is_empty()
            || !key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            Some(format!(
                "`{key}`: a field name may use letters, digits, `_` and `-`"
            ))
        } else if key == "server" {
            Some("`server` is reserved for the server's name".to_owned())
        } else if fields.iter().any(|f| *f.name == *key) || key == group_name {
            Some(format!(
                "`{key}` is already a field (a capture group or an earlier entry); each name once"
            ))
        } else {
            None
        };
        match problem {
            Some(message) => {
                ok = false;
                r.problem_named(&key_at, label, message);
            }
            None => fields.push(Field {
                name: Arc::from(key),
                source: Source::Key,
            }),
        }
    }
    let mut conditions = Vec::new();
    if let Some(value) = map.get("match") {
        let match_at = at.key("match");
        if let Some(entries) = r.mapping_any(value, &match_at) {
            for (key, want) in entries {
                let Some(key) = key.as_str() else {
                    ok = false;
                    r.problem_named(&match_at, label, "`match:` keys must be text");
                    continue;
                };
                let want = match want {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    other => {
                        ok = false;
                        r.problem_named(
                            &match_at.key(key),
                            label,
                            format!(
                                "expected the text, number or true/false the key must equal, found {}",
                                yaml::describe(other)
                            ),
                        );
                        continue;
                    }
                };
                conditions.push((key.to_owned(), want));
            }
        }
    }
    if !ok {
        return None;
    }
    Some(JsonSpec {
        group_name: Arc::from(group_name),
        group,
        conditions,
    })
}

/// Keys both formats share.
struct Common {
    emoji: String,
    priority: i64,
    enabled: bool,
    channel: Option<String>,
}

impl Common {
    fn read(r: &mut Reader, map: &Mapping, at: &KeyPath) -> Self {
        let priority = r
            .integer(map, at, "priority", 0..=1_000_000, "a priority")
            .map_or(DEFAULT_PRIORITY, |p| p as i64);
        Self {
            emoji: r.string(map, at, "emoji").unwrap_or_default(),
            priority,
            enabled: r.boolean(map, at, "enabled").unwrap_or(true),
            channel: r
                .string(map, at, "channel")
                .filter(|c| !c.is_empty() && c != "-"),
        }
    }
}

fn required(r: &mut Reader, map: &Mapping, at: &KeyPath, key: &str) -> Option<String> {
    let v = r.string(map, at, key);
    if v.is_none() && !map.contains_key(key) {
        r.problem(&at.key(key), "required key is missing");
    }
    v
}

fn unknown_kind(k: &str) -> String {
    let names: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
    match yaml::closest(k, &names) {
        Some(near) => format!("`{k}` is not an event kind (did you mean `{near}`?)"),
        None => format!("`{k}` is not an event kind (one of: {})", names.join(", ")),
    }
}

fn compile(r: &mut Reader, at: &KeyPath, label: &str, src: &str) -> Option<Regex> {
    if src.len() > MAX_REGEX_LEN {
        r.problem_named(
            at,
            label,
            format!(
                "regex is {} bytes long, the limit is {MAX_REGEX_LEN}",
                src.len()
            ),
        );
        return None;
    }
    match RegexBuilder::new(src).size_limit(REGEX_SIZE_LIMIT).build() {
        Ok(re) => Some(re),
        Err(e) => {
            // The regex crate's message spans several lines with a caret
            // under the culprit; keep it, indented under ours.
            let detail = e.to_string().replace('\n', "\n    ");
            r.problem_named(at, label, format!("invalid regex:\n    {detail}"));
            None
        }
    }
}

/// The Python project's `type:` values and what they mean here.
fn python_kind(t: &str) -> Option<Kind> {
    match t {
        "mention" => Some(Kind::Chat),
        "unknown" => Some(Kind::Other),
        other => Kind::from_name(other),
    }
}

fn python(r: &mut Reader, events: &Value, rank: usize, out: &mut Vec<Pattern>) {
    let path = KeyPath::root().key("events");
    let Value::Mapping(entries) = events else {
        r.problem(
            &path,
            format!(
                "expected a mapping of event names to entries, found {}",
                yaml::describe(events)
            ),
        );
        return;
    };
    for (index, (key, entry)) in entries.iter().enumerate() {
        let Some(name) = key.as_str() else {
            r.problem(&path, "event names must be text");
            continue;
        };
        let at = path.key(name);
        let label = format!("pattern `{name}`");
        let Some(map) = r.mapping(entry, &at, PYTHON_KEYS) else {
            continue;
        };
        // As in factorio-isr: `type` defaults to the entry's name, and a name
        // that is no known type means "unknown". An explicit type is checked.
        let kind = match r.string(map, &at, "type") {
            Some(t) => python_kind(&t).or_else(|| {
                r.problem_named(&at.key("type"), &label, unknown_kind(&t));
                None
            }),
            None => Some(python_kind(name).unwrap_or(Kind::Other)),
        };
        // factorio-isr compiles with IGNORECASE.
        let regex = required(r, map, &at, "pattern")
            .and_then(|src| compile(r, &at.key("pattern"), &label, &format!("(?i){src}")));
        let message = r
            .string(map, &at, "message")
            .unwrap_or_else(|| "{player}: {message}".to_owned());
        let common = Common::read(r, map, &at);
        let (Some(kind), Some(regex)) = (kind, regex) else {
            continue;
        };
        // Captures are positional there: group 1 is the player and group 2
        // the message; a lone group of a `server` pattern is the message.
        let groups = regex.captures_len() - 1;
        let fields: Vec<(Arc<str>, usize)> = match groups {
            0 => vec![],
            1 if kind == Kind::Server => vec![("message".into(), 1)],
            1 => vec![("player".into(), 1)],
            _ => vec![("player".into(), 1), ("message".into(), 2)],
        };
        // Its templates may only use {player} and {message}; either may be
        // empty when the regex does not capture it.
        let template = match Template::parse(&message, &["player", "message"]) {
            Ok(t) => t,
            Err(e) => {
                r.problem_named(&at.key("message"), &label, e.to_string());
                continue;
            }
        };
        // The template indexes `player`, `message`; map them onto `fields`.
        let template_fields: Vec<Field> = ["player", "message"]
            .iter()
            .map(|n| {
                let group = fields
                    .iter()
                    .find(|(f, _)| &**f == *n)
                    .map_or(usize::MAX, |(_, g)| *g);
                Field {
                    name: Arc::from(*n),
                    source: Source::Group(group),
                }
            })
            .collect();
        out.push(Pattern {
            name: name.into(),
            kind,
            route: common.channel.map(Arc::from),
            priority: common.priority,
            enabled: common.enabled,
            origin: Origin {
                file: r.file().to_owned(),
                file_rank: rank,
                index,
            },
            regex,
            fields: template_fields,
            json: None,
            template,
            emoji: common.emoji,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Vec<Pattern>, Vec<Problem>> {
        load_text(Path::new("p.yml"), 0, text)
    }

    fn errors(text: &str) -> Vec<String> {
        load(text)
            .expect_err("file must be rejected")
            .iter()
            .map(|p| p.to_string())
            .collect()
    }

    #[test]
    fn native_pattern_loads() {
        let ps = load(
            "patterns:\n  - name: join\n    kind: join\n    regex: '\\[JOIN\\] (?P<player>\\S+) joined'\n    template: '**{player}** joined'\n    emoji: '👋'\n    priority: 2\n",
        )
        .expect("loads");
        assert_eq!(ps.len(), 1);
        assert_eq!(
            (&*ps[0].name, ps[0].kind, ps[0].priority),
            ("join", Kind::Join, 2)
        );
    }

    #[test]
    fn invalid_regex_names_file_line_and_pattern() {
        let e = errors(
            "patterns:\n  - name: broken\n    kind: chat\n    regex: '(unclosed'\n    template: x\n",
        );
        assert_eq!(e.len(), 1);
        assert!(
            e[0].starts_with("p.yml:4: pattern `broken`: invalid regex"),
            "{}",
            e[0]
        );
    }

    #[test]
    fn unknown_placeholder_names_pattern_and_fix() {
        let e = errors(
            "patterns:\n  - name: j\n    kind: join\n    regex: '(?P<player>\\S+)'\n    template: '{plyer} joined'\n",
        );
        assert!(
            e[0].starts_with("p.yml:5: pattern `j`: template uses {plyer}"),
            "{}",
            e[0]
        );
        assert!(e[0].contains("{player}"), "{}", e[0]);
    }

    #[test]
    fn every_problem_is_reported() {
        let e = errors(
            "patterns:\n  - name: a\n    kind: jion\n    regex: x\n    template: x\n    colour: red\n  - kind: chat\n    regex: x\n    template: x\n",
        );
        assert_eq!(e.len(), 3, "{e:#?}");
        assert!(
            e[0].contains(
                "p.yml:3: pattern `a`: `jion` is not an event kind (did you mean `join`?)"
            ),
            "{e:#?}"
        );
        assert!(
            e[1].contains("p.yml:6: patterns[0].colour: unknown key"),
            "{e:#?}"
        );
        assert!(
            e[2].contains("p.yml:7: patterns[1].name: required key is missing"),
            "{e:#?}"
        );
    }

    #[test]
    fn python_format_maps_positional_groups() {
        let ps = load(
            "events:\n  player_death:\n    pattern: '(\\w+) was killed by (.+)\\.'\n    type: death\n    message: '**{player}** was killed by {message}'\n    emoji: '💀'\n    channel: general\n    priority: 95\n",
        )
        .expect("loads");
        let p = &ps[0];
        assert_eq!(
            (p.kind, p.priority, p.route.as_deref()),
            (Kind::Death, 95, Some("general"))
        );
        assert!(p.regex().starts_with("(?i)"));
    }

    #[test]
    fn python_unknown_type_is_an_error_but_unknown_name_is_other() {
        let e = errors("events:\n  x:\n    pattern: a\n    type: jion\n");
        assert!(e[0].contains("did you mean `join`"), "{e:?}");
        let ps = load("events:\n  custom_thing:\n    pattern: a\n").expect("loads");
        assert_eq!(ps[0].kind, Kind::Other);
    }

    #[test]
    fn values_are_literal_and_server_is_reserved() {
        let text = "patterns:\n  - name: d\n    kind: other\n    regex: 'cost \\$(?P<n>[0-9]+)$'\n    template: '$${{X}} {n}'\n";
        let ps: Vec<_> = load(text)
            .expect("loads")
            .into_iter()
            .map(Arc::new)
            .collect();
        assert_eq!(ps[0].regex(), "cost \\$(?P<n>[0-9]+)$");
        let set = crate::patterns::PatternSet::new(&ps, |_| true).expect("a pattern set");
        let mut scratch = set.scratch();
        let rendered = set
            .classify("cost $5", &mut scratch)
            .expect("no JSON here")
            .map(|m| m.render("s"));
        assert_eq!(rendered.as_deref(), Some("$${X} 5"));
        let e = errors(
            "patterns:\n  - name: s\n    kind: other\n    regex: '(?P<server>x)'\n    template: '{server}'\n",
        );
        assert!(
            e[0].contains("p.yml:4: pattern `s`: the capture name `server` is reserved"),
            "{e:?}"
        );
    }

    #[test]
    fn json_option_problems_name_file_line_pattern_and_fix() {
        let pattern = |json: &str, template: &str| {
            format!(
                "patterns:\n  - name: m\n    kind: death\n    regex: '^\\[M\\] (?P<data>\\{{.*\\}})$'\n    json: {json}\n    template: '{template}'\n"
            )
        };
        let e = errors(&pattern("{group: dat}", "x"));
        assert_eq!(
            e,
            vec![
                "p.yml:5: pattern `m`: `dat` is not a named group of the regex (named groups: data); add (?P<dat>\\{.*\\}) around the JSON"
            ]
        );
        let e = errors(&pattern(
            "{group: data, fields: [player, server, data, 'a b', player]}",
            "x",
        ));
        assert_eq!(e.len(), 4, "{e:#?}");
        assert!(e[0].contains("`server` is reserved"), "{e:#?}");
        assert!(e[1].contains("`data` is already a field"), "{e:#?}");
        assert!(e[2].contains("`a b`: a field name may use"), "{e:#?}");
        assert!(e[3].contains("`player` is already a field"), "{e:#?}");
        let e = errors(&pattern("{group: data, fields: [player]}", "{playr} died"));
        assert!(
            e[0].starts_with("p.yml:6: pattern `m`: template uses {playr}")
                && e[0].contains("(available: {player}, {server};"),
            "{e:#?}"
        );
        let e = errors(&pattern("{group: data, feilds: [player]}", "x"));
        assert!(
            e[0].contains("json.feilds: unknown key (did you mean `fields`?)"),
            "{e:#?}"
        );
        let e = errors(&pattern("{group: data, match: {event: [a]}}", "x"));
        assert!(
            e[0].contains(
                "expected the text, number or true/false the key must equal, found a list"
            ),
            "{e:#?}"
        );
        let e = errors(&pattern("", "x"));
        assert!(e[0].contains("`json:` is empty"), "{e:#?}");
        let e = errors(&pattern("{fields: [a]}", "x"));
        assert!(
            e[0].contains("json.group: required key is missing"),
            "{e:#?}"
        );
    }

    #[test]
    fn both_sections_or_neither_is_an_error() {
        assert!(errors("patterns: []\nevents: {}\n")[0].contains("not both"));
        assert!(errors("")[0].contains("empty pattern file"));
        assert!(errors("foo: 1\n")[0].contains("unknown key"));
    }
}
