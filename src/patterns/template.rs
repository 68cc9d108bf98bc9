//! Message templates: `**{player}** joined {server}`.
//!
//! A template is parsed once, at load time, into literal text and
//! placeholders resolved to field indices, so an unknown placeholder is a
//! load error and rendering is a single pass with no look-ups.

use std::fmt;

use crate::discord::format::{escape_markdown_into, rich_text_to_plain};

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    /// A captured field, by index into the pattern's field list.
    Field {
        index: usize,
        raw: bool,
    },
    /// The server's display name.
    Server {
        raw: bool,
    },
}

/// Why a template cannot be used.
#[derive(Debug, PartialEq, Eq)]
pub enum Error {
    Unknown {
        name: String,
        available: Vec<String>,
    },
    Unclosed,
    StrayBrace,
    BadModifier(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Unknown { name, available } => write!(
                f,
                "template uses {{{name}}}, which the regex does not capture (available: {}; add a named group (?P<{name}>...) or fix the name)",
                available
                    .iter()
                    .map(|a| format!("{{{a}}}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Error::Unclosed => {
                f.write_str("template has a `{` without its `}` (write `{{` for a literal brace)")
            }
            Error::StrayBrace => {
                f.write_str("template has a `}` without its `{` (write `}}` for a literal brace)")
            }
            Error::BadModifier(m) => {
                write!(f, "unknown template modifier `:{m}` (only `:raw` exists)")
            }
        }
    }
}

impl Template {
    /// Parses `text`; `fields` are the names a placeholder may use, besides
    /// the built-in `{server}`.
    pub fn parse(text: &str, fields: &[&str]) -> Result<Self, Error> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(at) = rest.find(['{', '}']) {
            literal.push_str(&rest[..at]);
            let tail = &rest[at..];
            if let Some(after) = tail.strip_prefix("{{") {
                literal.push('{');
                rest = after;
            } else if let Some(after) = tail.strip_prefix("}}") {
                literal.push('}');
                rest = after;
            } else if tail.starts_with('}') {
                return Err(Error::StrayBrace);
            } else {
                let end = tail.find('}').ok_or(Error::Unclosed)?;
                let inner = &tail[1..end];
                let (name, raw) = match inner.split_once(':') {
                    Some((n, "raw")) => (n, true),
                    Some((_, m)) => return Err(Error::BadModifier(m.to_owned())),
                    None => (inner, false),
                };
                if !literal.is_empty() {
                    parts.push(Part::Text(std::mem::take(&mut literal)));
                }
                parts.push(match fields.iter().position(|f| *f == name) {
                    Some(index) => Part::Field { index, raw },
                    None if name == "server" => Part::Server { raw },
                    None => {
                        return Err(Error::Unknown {
                            name: name.to_owned(),
                            available: fields
                                .iter()
                                .map(|f| (*f).to_owned())
                                .chain(["server".to_owned()])
                                .collect(),
                        });
                    }
                });
                rest = &tail[end + 1..];
            }
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            parts.push(Part::Text(literal));
        }
        Ok(Self { parts })
    }

    /// Renders with `values[i]` for field `i` (absent optional groups are
    /// empty). Field values have Factorio rich text turned into words and are
    /// escaped, unless the placeholder says `:raw`; the template's own text
    /// is the admin's markdown and is kept.
    pub fn render<V: AsRef<str>>(&self, values: &[Option<V>], server: &str, out: &mut String) {
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Field { index, raw } => {
                    let value = values
                        .get(*index)
                        .and_then(Option::as_ref)
                        .map_or("", AsRef::as_ref);
                    if *raw {
                        out.push_str(value);
                    } else if value.contains('[') {
                        // Factorio rich text reads as words, then is escaped.
                        escape_markdown_into(&rich_text_to_plain(value), out);
                    } else {
                        escape_markdown_into(value, out);
                    }
                }
                Part::Server { raw: true } => out.push_str(server),
                Part::Server { raw: false } => escape_markdown_into(server, out),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(template: &str, values: &[Option<&str>]) -> String {
        let t = Template::parse(template, &["player", "message"]).expect("template parses");
        let mut out = String::new();
        t.render(values, "My *Server*", &mut out);
        out
    }

    #[test]
    fn renders_fields_escaped_and_text_verbatim() {
        assert_eq!(
            render("**{player}**: {message}", &[Some("a_b"), Some("*hi*")]),
            "**a\\_b**: \\*hi\\*"
        );
        assert_eq!(render("{message:raw}", &[None, Some("**x**")]), "**x**");
        assert_eq!(
            render("[{server}] {player}", &[Some("p"), None]),
            "[My \\*Server\\*] p"
        );
        assert_eq!(render("{{literal}} {message}", &[None, None]), "{literal} ");
        assert_eq!(render("{server:raw}", &[None, None]), "My *Server*");
    }

    #[test]
    fn rejects_bad_templates() {
        let check = |t: &str, e: Error| assert_eq!(Template::parse(t, &["player"]), Err(e), "{t}");
        check(
            "{plaer} joined",
            Error::Unknown {
                name: "plaer".into(),
                available: vec!["player".into(), "server".into()],
            },
        );
        check("{player", Error::Unclosed);
        check("player}", Error::StrayBrace);
        check("{player:bold}", Error::BadModifier("bold".into()));
    }
}
