//! `${VAR}` and `${VAR:-default}` expansion in config values.
//!
//! Expansion runs on parsed scalar values, never on the raw file text, so a
//! variable's value cannot change the YAML structure, and an error can name
//! the key it came from. `$${` is a literal `${`.

use std::fmt;

/// A string after expansion.
#[derive(Debug, PartialEq, Eq)]
pub struct Expanded(pub String);

/// Why a value could not be expanded. Messages name the variable, never a
/// value, because the variable may hold a secret.
#[derive(Debug, PartialEq, Eq)]
pub enum Error {
    /// `${NAME}` without a default, and `NAME` is not set.
    Unset(String),
    /// `${` without its closing `}`.
    Unterminated,
    /// `${}` or a name with characters other than letters, digits and `_`.
    BadName(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Unset(name) => write!(
                f,
                "environment variable {name} is not set (export it, or give a default: ${{{name}:-value}})"
            ),
            Error::Unterminated => {
                f.write_str("`${` has no closing `}` (write `$${` for a literal `${`)")
            }
            Error::BadName(name) => write!(
                f,
                "`${{{name}}}` is not a variable name (use letters, digits and _)"
            ),
        }
    }
}

/// Expands every `${...}` in `raw` using `env` for look-ups.
pub fn expand(raw: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Expanded, Error> {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        if let Some(after) = tail.strip_prefix("$${") {
            out.push_str("${");
            rest = after;
        } else if let Some(after) = tail.strip_prefix("${") {
            let end = after.find('}').ok_or(Error::Unterminated)?;
            let inner = &after[..end];
            let (name, default) = match inner.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (inner, None),
            };
            let valid =
                !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(Error::BadName(inner.to_owned()));
            }
            // As in the shell, `:-` also replaces a variable that is set but empty.
            match (env(name), default) {
                (Some(v), Some(d)) if v.is_empty() => out.push_str(d),
                (Some(v), _) => out.push_str(&v),
                (None, Some(d)) => out.push_str(d),
                (None, None) => return Err(Error::Unset(name.to_owned())),
            }
            rest = &after[end + 1..];
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    Ok(Expanded(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOST" => Some("example.org".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    fn check(raw: &str, expected: Result<&str, Error>) {
        assert_eq!(
            expand(raw, &env),
            expected.map(|s| Expanded(s.to_owned())),
            "{raw}"
        );
    }

    #[test]
    fn expansion_table() {
        check("plain", Ok("plain"));
        check("${HOST}", Ok("example.org"));
        check(
            "http://${HOST}:80/${HOST}",
            Ok("http://example.org:80/example.org"),
        );
        check("${MISSING:-fallback}", Ok("fallback"));
        check("${EMPTY:-fallback}", Ok("fallback"));
        check("${MISSING:-}", Ok(""));
        check("${EMPTY}", Ok(""));
        check("cost $5", Ok("cost $5"));
        check("$${HOST}", Ok("${HOST}"));
        check("${MISSING}", Err(Error::Unset("MISSING".into())));
        check("${HOST", Err(Error::Unterminated));
        check("${}", Err(Error::BadName(String::new())));
        check("${A B}", Err(Error::BadName("A B".into())));
    }

    #[test]
    fn messages_name_the_variable_and_the_fix() {
        let msg = Error::Unset("RCON_PASSWORD".into()).to_string();
        assert!(
            msg.contains("RCON_PASSWORD") && msg.contains("${RCON_PASSWORD:-value}"),
            "{msg}"
        );
    }
}
