//! Typed, error-collecting reads of YAML documents (config and pattern files).
//!
//! serde's derive stops at the first problem and serde_yaml's `Value` keeps no
//! positions, yet an admin fixing a file wants every mistake at once, each with
//! its file, line and key. So documents are parsed to a `Value`, walked with a
//! [`Reader`] that records each problem as a [`Problem`], and lines are found
//! by [`locate`], which maps a key path back to the block-style source text.
//!
//! This module does no I/O: callers hand it the text they read.

use std::fmt;
use std::path::{Path, PathBuf};

use serde_yaml::Value;

use crate::expand::{self, Expanded};

/// One step of a key path: a mapping key or a list index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Key(String),
    Index(usize),
}

/// Where a value sits in a document, e.g. `servers.prod.rcon_port`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyPath(Vec<Step>);

impl KeyPath {
    pub fn root() -> Self {
        Self::default()
    }

    pub fn key(&self, key: &str) -> Self {
        let mut steps = self.0.clone();
        steps.push(Step::Key(key.to_owned()));
        Self(steps)
    }

    pub fn index(&self, index: usize) -> Self {
        let mut steps = self.0.clone();
        steps.push(Step::Index(index));
        Self(steps)
    }

    pub fn steps(&self) -> &[Step] {
        &self.0
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(top level)");
        }
        for (i, step) in self.0.iter().enumerate() {
            match step {
                Step::Key(k) if i == 0 => write!(f, "{k}")?,
                Step::Key(k) => write!(f, ".{k}")?,
                Step::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// One mistake in a file, with enough context to fix it without guessing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    /// 1-based line, when the source could be mapped back.
    pub line: Option<usize>,
    /// Key path (`servers.prod.rcon_port`) or a pattern's name; empty for
    /// whole-file problems such as unreadable files or YAML syntax.
    pub key: String,
    /// What is wrong and what to do about it.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if self.key.is_empty() {
            write!(f, ": {}", self.message)
        } else {
            write!(f, ": {}: {}", self.key, self.message)
        }
    }
}

/// Every problem found in one load, in file order. Never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problems(pub Vec<Problem>);

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Problems {}

/// Parses YAML text, turning a syntax error into a located [`Problem`].
pub fn parse(file: &Path, text: &str) -> Result<Value, Problem> {
    serde_yaml::from_str(text).map_err(|e| Problem {
        file: file.to_owned(),
        line: e.location().map(|l| l.line()),
        key: String::new(),
        // serde_yaml's messages end with "at line N column M"; the line is
        // already in front, the column helps find the character.
        message: format!("invalid YAML: {e} (fix the syntax; YAML is indentation-sensitive and tabs are not allowed)"),
    })
}

/// Looks up an environment variable for `${VAR}` expansion.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Walks one document and collects problems instead of stopping at the first.
pub struct Reader<'t> {
    file: PathBuf,
    text: &'t str,
    /// `None`: values are taken literally (pattern files).
    env: Option<Env<'t>>,
    problems: Vec<Problem>,
}

impl<'t> Reader<'t> {
    /// `env` looks up environment variables for `${VAR}` expansion (tests
    /// pass a map instead of touching the process environment); without it
    /// values are taken literally.
    pub fn new(file: &Path, text: &'t str, env: Option<Env<'t>>) -> Self {
        Self {
            file: file.to_owned(),
            text,
            env,
            problems: Vec::new(),
        }
    }

    pub fn file(&self) -> &Path {
        &self.file
    }

    /// Records a problem at `path`.
    pub fn problem(&mut self, path: &KeyPath, message: impl Into<String>) {
        self.problem_named(path, &path.to_string(), message);
    }

    /// Records a problem located at `path` but named differently (a pattern's
    /// name reads better than `patterns[12].regex`).
    pub fn problem_named(&mut self, path: &KeyPath, key: &str, message: impl Into<String>) {
        self.problems.push(Problem {
            file: self.file.clone(),
            line: locate(self.text, path),
            key: key.to_owned(),
            message: message.into(),
        });
    }

    pub fn has_problems(&self) -> bool {
        !self.problems.is_empty()
    }

    /// The problems in file order (problems without a line last).
    pub fn into_problems(mut self) -> Vec<Problem> {
        self.problems.sort_by_key(|p| p.line.unwrap_or(usize::MAX));
        self.problems
    }

    /// Checks that `value` is a mapping whose keys are all in `allowed`, and
    /// reports each unknown key with the closest allowed one.
    pub fn mapping<'v>(
        &mut self,
        value: &'v Value,
        path: &KeyPath,
        allowed: &[&str],
    ) -> Option<&'v serde_yaml::Mapping> {
        let map = match value {
            Value::Mapping(m) => m,
            Value::Null => return None,
            other => {
                self.problem(
                    path,
                    format!("expected a mapping of keys, found {}", describe(other)),
                );
                return None;
            }
        };
        for key in map.keys() {
            let Some(name) = key.as_str() else {
                self.problem(path, format!("keys must be text, found {}", describe(key)));
                continue;
            };
            if !allowed.contains(&name) {
                let hint = match closest(name, allowed) {
                    Some(near) => format!("did you mean `{near}`?"),
                    None => format!("allowed keys: {}", allowed.join(", ")),
                };
                self.problem(&path.key(name), format!("unknown key ({hint})"));
            }
        }
        Some(map)
    }

    /// Checks that `value` is a mapping, whatever its keys (for maps keyed by
    /// user-chosen names, checked by the caller).
    pub fn mapping_any<'v>(
        &mut self,
        value: &'v Value,
        path: &KeyPath,
    ) -> Option<&'v serde_yaml::Mapping> {
        match value {
            Value::Mapping(m) => Some(m),
            Value::Null => None,
            other => {
                self.problem(
                    path,
                    format!("expected a mapping of keys, found {}", describe(other)),
                );
                None
            }
        }
    }

    /// A string scalar, with `${VAR}` expanded. Numbers and booleans are taken
    /// as their text, because IDs and names are often written unquoted.
    pub fn string(
        &mut self,
        map: &serde_yaml::Mapping,
        path: &KeyPath,
        key: &str,
    ) -> Option<String> {
        let value = map.get(key)?;
        let path = path.key(key);
        self.scalar_text(value, &path)
    }

    /// Never echoes the value in a problem, so secrets read through it stay
    /// out of error output.
    fn scalar_text(&mut self, value: &Value, path: &KeyPath) -> Option<String> {
        let raw = match value {
            Value::Null => return None,
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            other => {
                self.problem(path, format!("expected text, found {}", describe(other)));
                return None;
            }
        };
        let Some(env) = self.env else {
            return Some(raw);
        };
        match expand::expand(&raw, env) {
            Ok(Expanded(s)) => Some(s),
            Err(e) => {
                self.problem(path, e.to_string());
                None
            }
        }
    }

    /// A whole number within `range`; `what` names the kind of value for the
    /// message ("a port").
    pub fn integer(
        &mut self,
        map: &serde_yaml::Mapping,
        path: &KeyPath,
        key: &str,
        range: std::ops::RangeInclusive<u64>,
        what: &str,
    ) -> Option<u64> {
        let value = map.get(key)?;
        let path = path.key(key);
        let text = match value {
            Value::Number(n) => n.to_string(),
            Value::String(_) => self.scalar_text(value, &path)?,
            Value::Null => return None,
            other => {
                self.problem(
                    &path,
                    format!("expected a number, found {}", describe(other)),
                );
                return None;
            }
        };
        match text.trim().parse::<u64>() {
            Ok(n) if range.contains(&n) => Some(n),
            _ => {
                self.problem(
                    &path,
                    format!("{text} is not {what} ({}-{})", range.start(), range.end()),
                );
                None
            }
        }
    }

    /// A decimal number within `range`.
    pub fn number(
        &mut self,
        map: &serde_yaml::Mapping,
        path: &KeyPath,
        key: &str,
        range: std::ops::RangeInclusive<f64>,
        what: &str,
    ) -> Option<f64> {
        let value = map.get(key)?;
        let path = path.key(key);
        let text = match value {
            Value::Number(n) => n.to_string(),
            Value::String(_) => self.scalar_text(value, &path)?,
            Value::Null => return None,
            other => {
                self.problem(
                    &path,
                    format!("expected a number, found {}", describe(other)),
                );
                return None;
            }
        };
        match text.trim().parse::<f64>() {
            Ok(n) if range.contains(&n) => Some(n),
            _ => {
                self.problem(
                    &path,
                    format!("{text} is not {what} ({}-{})", range.start(), range.end()),
                );
                None
            }
        }
    }

    /// `true`/`false` (YAML booleans, or `${VAR}` expanding to one of them).
    pub fn boolean(
        &mut self,
        map: &serde_yaml::Mapping,
        path: &KeyPath,
        key: &str,
    ) -> Option<bool> {
        let value = map.get(key)?;
        let path = path.key(key);
        match value {
            Value::Bool(b) => Some(*b),
            Value::String(_) => {
                let text = self.scalar_text(value, &path)?;
                match text.trim() {
                    "true" => Some(true),
                    "false" => Some(false),
                    _ => {
                        self.problem(&path, format!("`{text}` is not true or false"));
                        None
                    }
                }
            }
            Value::Null => None,
            other => {
                self.problem(
                    &path,
                    format!("expected true or false, found {}", describe(other)),
                );
                None
            }
        }
    }

    /// A list of strings; a single string is accepted as a one-item list.
    pub fn string_list(
        &mut self,
        map: &serde_yaml::Mapping,
        path: &KeyPath,
        key: &str,
    ) -> Option<Vec<String>> {
        let value = map.get(key)?;
        let path = path.key(key);
        match value {
            Value::Sequence(items) => Some(
                items
                    .iter()
                    .enumerate()
                    .filter_map(|(i, item)| self.scalar_text(item, &path.index(i)))
                    .collect(),
            ),
            Value::Null => None,
            _ => self.scalar_text(value, &path).map(|s| vec![s]),
        }
    }
}

/// A short description of a value's type for messages.
pub fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing",
        Value::Bool(_) => "true/false",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

/// The allowed name closest to a misspelt one, if it is close enough to be a
/// plausible typo.
pub fn closest<'a>(name: &str, allowed: &[&'a str]) -> Option<&'a str> {
    allowed
        .iter()
        .map(|a| (edit_distance(name, a), *a))
        .filter(|(d, a)| *d <= 2.max(a.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, a)| a)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// One significant source line, reduced to what key lookup needs.
struct Entry<'a> {
    line: usize,
    /// Column of the `- ` marker for list items.
    item: Option<usize>,
    /// Column and name of the key on this line, if any.
    key: Option<(usize, &'a str)>,
}

fn entries(text: &str) -> Vec<Entry<'_>> {
    let mut out = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let trimmed = raw.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with("---") {
            continue;
        }
        let mut col = raw.len() - trimmed.len();
        let mut rest = trimmed;
        let mut item = None;
        while rest == "-" || rest.starts_with("- ") {
            item.get_or_insert(col);
            let after = rest[1..].trim_start();
            col += rest.len() - after.len();
            rest = after;
        }
        let key = key_of(rest).map(|k| (col, k));
        if item.is_none() && key.is_none() {
            continue; // continuation of a multi-line scalar
        }
        out.push(Entry {
            line: n + 1,
            item,
            key,
        });
    }
    out
}

/// The key of a `key: value` line; quoted keys are unquoted.
fn key_of(rest: &str) -> Option<&str> {
    let (k, _) = rest
        .split_once(':')
        .filter(|(_, v)| v.is_empty() || v.starts_with(' '))?;
    let k = k.trim();
    let k = k
        .strip_prefix('"')
        .and_then(|k| k.strip_suffix('"'))
        .or_else(|| k.strip_prefix('\'').and_then(|k| k.strip_suffix('\'')))
        .unwrap_or(k);
    (!k.is_empty() && !k.starts_with('{') && !k.starts_with('[')).then_some(k)
}

/// The 1-based line of `path` in block-style YAML `text`: the line of the
/// deepest step that can be found, or `None` when not even the first can.
pub fn locate(text: &str, path: &KeyPath) -> Option<usize> {
    let entries = entries(text);
    let mut lo = 0;
    let mut hi = entries.len();
    let mut parent_col: Option<usize> = None;
    let mut found = None;
    for step in path.steps() {
        // Children are the entries in (lo, hi) at the smallest column deeper
        // than the parent's.
        let child_col = entries[lo..hi]
            .iter()
            .filter_map(|e| match step {
                Step::Key(_) => e.key.map(|(c, _)| c),
                Step::Index(_) => e.item,
            })
            .filter(|c| parent_col.is_none_or(|p| *c > p))
            .min();
        let Some(col) = child_col else { break };
        let hit = match step {
            Step::Key(k) => entries[lo..hi]
                .iter()
                .position(|e| e.key == Some((col, k.as_str()))),
            Step::Index(n) => entries[lo..hi]
                .iter()
                .enumerate()
                .filter(|(_, e)| e.item == Some(col))
                .nth(*n)
                .map(|(i, _)| i),
        };
        let Some(offset) = hit else { break };
        let at = lo + offset;
        found = Some(entries[at].line);
        // The step's block ends at the next entry at the same or a lower column.
        let end = entries[at + 1..hi]
            .iter()
            .position(|e| {
                let c = match step {
                    Step::Key(_) => e.key.map(|(c, _)| c).into_iter().chain(e.item).min(),
                    Step::Index(_) => e.item.or(e.key.map(|(c, _)| c)),
                };
                c.is_some_and(|c| c <= col)
            })
            .map_or(hi, |p| at + 1 + p);
        // A list item's own first key sits on its line: search from it.
        lo = if matches!(step, Step::Index(_)) {
            at
        } else {
            at + 1
        };
        hi = end;
        parent_col = Some(col);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(s: &str) -> KeyPath {
        let mut p = KeyPath::root();
        for part in s.split('.') {
            if let Ok(n) = part.parse::<usize>() {
                p = p.index(n);
            } else {
                p = p.key(part);
            }
        }
        p
    }

    const DOC: &str = "\
# comment
discord:
  bot_token: x
servers:
  prod:
    name: Prod
    rcon_port: 70000
  test:
    rcon_port: 1
patterns:
  - name: join
    regex: a
  -   name: leave
      regex: b
";

    #[test]
    fn locate_finds_nested_keys_and_list_items() {
        let check = |p: &str, line: Option<usize>| assert_eq!(locate(DOC, &path(p)), line, "{p}");
        check("discord", Some(2));
        check("discord.bot_token", Some(3));
        check("servers.prod.rcon_port", Some(7));
        check("servers.test.rcon_port", Some(9));
        check("patterns.0", Some(11));
        check("patterns.0.regex", Some(12));
        check("patterns.1.name", Some(13));
        check("patterns.1.regex", Some(14));
        // Missing leaf: the deepest found step.
        check("servers.test.nope", Some(8));
        check("nope", None);
    }

    #[test]
    fn key_path_display() {
        assert_eq!(
            path("servers.prod.rcon_port").to_string(),
            "servers.prod.rcon_port"
        );
        assert_eq!(path("patterns.3.regex").to_string(), "patterns[3].regex");
        assert_eq!(KeyPath::root().to_string(), "(top level)");
    }

    #[test]
    fn closest_suggests_typos_only() {
        assert_eq!(
            closest("rcon_prot", &["rcon_port", "name"]),
            Some("rcon_port")
        );
        assert_eq!(closest("zzzzzz", &["rcon_port", "name"]), None);
    }
}
