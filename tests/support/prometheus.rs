//! A strict reader of the Prometheus text exposition format (0.0.4), the
//! stand-in for `promtool check metrics` on a machine without it.
//!
//! It refuses what Prometheus would refuse or warn about: a sample before
//! its family's `# TYPE`, a family declared twice, metric and label names
//! outside `[a-zA-Z_:][a-zA-Z0-9_:]*`, bad escapes in label values, a value
//! that is not a float, a duplicate series, a counter not named `_total`,
//! and summary series other than `_sum`, `_count` or quantiles.

use std::collections::{BTreeMap, HashSet};

/// One series: metric name and sorted labels.
pub type Series = (String, Vec<(String, String)>);

/// Every family's type and every sample's value.
#[derive(Debug, Default)]
pub struct Exposition {
    pub types: BTreeMap<String, String>,
    pub samples: BTreeMap<Series, f64>,
}

impl Exposition {
    /// The value of `name` with exactly `labels`.
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let mut labels: Vec<(String, String)> = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        labels.sort();
        self.samples.get(&(name.to_owned(), labels)).copied()
    }

    /// The sum of every series of `name`, whatever its labels (0 if none).
    pub fn sum(&self, name: &str) -> f64 {
        self.samples
            .iter()
            .filter(|((n, _), _)| n == name)
            .map(|(_, v)| v)
            .sum()
    }
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Parses `text`, or says which line is wrong and why.
pub fn parse(text: &str) -> Result<Exposition, String> {
    let mut out = Exposition::default();
    let mut helped = HashSet::new();
    for (n, line) in text.lines().enumerate() {
        let at = |why: String| format!("line {}: {why}: {line:?}", n + 1);
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let (word, name, tail) = (parts.next(), parts.next(), parts.next());
            match (word, name) {
                (Some("HELP"), Some(name))
                    if !valid_name(name) || !helped.insert(name.to_owned()) =>
                {
                    return Err(at("bad or repeated HELP".into()));
                }
                (Some("TYPE"), Some(name)) => {
                    let kind = tail.unwrap_or("");
                    if !valid_name(name) {
                        return Err(at("bad metric name".into()));
                    }
                    if !["counter", "gauge", "summary", "histogram", "untyped"].contains(&kind) {
                        return Err(at(format!("unknown type {kind:?}")));
                    }
                    if kind == "counter" && !name.ends_with("_total") {
                        return Err(at("a counter's name must end in _total".into()));
                    }
                    if out
                        .samples
                        .keys()
                        .any(|(s, _)| s == name || s.starts_with(&format!("{name}_")))
                    {
                        return Err(at("TYPE after samples of the family".into()));
                    }
                    if out.types.insert(name.to_owned(), kind.to_owned()).is_some() {
                        return Err(at("family declared twice".into()));
                    }
                }
                _ => {}
            }
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let (series, value) = sample(line).map_err(&at)?;
        let family = family_of(&out.types, &series.0)
            .ok_or_else(|| at("sample without a TYPE for its family".into()))?;
        let kind = &out.types[&family];
        let suffix = &series.0[family.len()..];
        let allowed = match kind.as_str() {
            "summary" => {
                suffix == "_sum"
                    || suffix == "_count"
                    || (suffix.is_empty() && series.1.iter().any(|(k, _)| k == "quantile"))
            }
            "histogram" => ["_sum", "_count", "_bucket"].contains(&suffix),
            _ => suffix.is_empty(),
        };
        if !allowed {
            return Err(at(format!(
                "series {} does not belong to a {kind}",
                series.0
            )));
        }
        if out.samples.insert(series, value).is_some() {
            return Err(at("duplicate series".into()));
        }
    }
    Ok(out)
}

/// The declared family a series name belongs to.
fn family_of(types: &BTreeMap<String, String>, name: &str) -> Option<String> {
    if types.contains_key(name) {
        return Some(name.to_owned());
    }
    ["_sum", "_count", "_bucket"]
        .iter()
        .filter_map(|s| name.strip_suffix(s))
        .find(|base| types.contains_key(*base))
        .map(str::to_owned)
}

fn sample(line: &str) -> Result<(Series, f64), String> {
    let name_end = line.find(['{', ' ']).ok_or("no value")?;
    let name = &line[..name_end];
    if !valid_name(name) {
        return Err(format!("bad metric name {name:?}"));
    }
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(inner) = rest.strip_prefix('{') {
        let mut chars = inner.char_indices().peekable();
        let close = loop {
            let start = match chars.peek() {
                Some(&(_, '}')) => break chars.next().map(|(i, _)| i),
                Some(&(i, _)) => i,
                None => return Err("unclosed {".into()),
            };
            let mut eq = None;
            for (i, c) in chars.by_ref() {
                if c == '=' {
                    eq = Some(i);
                    break;
                }
            }
            let eq = eq.ok_or("label without =")?;
            let key = &inner[start..eq];
            if !valid_name(key) || key.starts_with("__") {
                return Err(format!("bad label name {key:?}"));
            }
            if chars.next().map(|(_, c)| c) != Some('"') {
                return Err("label value must be quoted".into());
            }
            let mut value = String::new();
            loop {
                match chars.next().map(|(_, c)| c) {
                    Some('\\') => match chars.next().map(|(_, c)| c) {
                        Some('\\') => value.push('\\'),
                        Some('"') => value.push('"'),
                        Some('n') => value.push('\n'),
                        other => return Err(format!("bad escape \\{other:?}")),
                    },
                    Some('"') => break,
                    Some('\n') | None => return Err("unterminated label value".into()),
                    Some(c) => value.push(c),
                }
            }
            if labels.iter().any(|(k, _): &(String, String)| k == key) {
                return Err(format!("label {key} twice"));
            }
            labels.push((key.to_owned(), value));
            match chars.peek() {
                Some(&(_, ',')) => {
                    chars.next();
                }
                Some(&(_, '}')) => {}
                _ => return Err("expected , or }".into()),
            }
        };
        let close = close.ok_or("unclosed {")?;
        rest = &inner[close + 1..];
    }
    let mut fields = rest.split_ascii_whitespace();
    let value = fields.next().ok_or("no value")?;
    let value: f64 = match value {
        "NaN" => f64::NAN,
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v
            .parse()
            .map_err(|_| format!("value {v:?} is not a float"))?,
    };
    if let Some(ts) = fields.next() {
        ts.parse::<i64>()
            .map_err(|_| format!("timestamp {ts:?} is not an integer"))?;
    }
    if fields.next().is_some() {
        return Err("trailing text".into());
    }
    labels.sort();
    Ok(((name.to_owned(), labels), value))
}
