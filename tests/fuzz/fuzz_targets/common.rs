//! What Discord does with message text, written from Discord's behaviour
//! rather than from the escaper, so the targets check the escaper against
//! an independent reading of the same rules.

#![allow(dead_code)]

use std::sync::Arc;

use factorio_isr::event::{Event, Position};
use factorio_isr::patterns::PatternSet;

/// One character as Discord shows it, and whether a backslash escaped it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shown {
    pub c: char,
    pub escaped: bool,
}

/// Discord's markdown escape rule (simple-markdown's `escape`:
/// `^\\([^0-9A-Za-z\s])`): a backslash before any character that is not an
/// ASCII letter or digit and not whitespace shows that character literally
/// and is not shown itself; any other backslash is shown as typed.
pub fn discord_unescape(text: &str) -> Vec<Shown> {
    let mut out = Vec::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\'
            && let Some(&next) = chars.peek()
            && !(next.is_ascii_alphanumeric() || next.is_whitespace())
        {
            chars.next();
            out.push(Shown {
                c: next,
                escaped: true,
            });
        } else {
            out.push(Shown { c, escaped: false });
        }
    }
    out
}

/// The text a reader sees.
pub fn visible(text: &str) -> String {
    discord_unescape(text).iter().map(|s| s.c).collect()
}

/// Characters that format anywhere in a line: emphasis, strike, spoiler,
/// code, masked links, and `<` which opens mentions, channels, custom
/// emoji and timestamps (`<@1>`, `<#1>`, `<:e:1>`, `<t:1>`).
pub const INLINE_MARKUP: &[char] = &['*', '_', '~', '|', '`', '<', '[', ']'];

/// Characters that format at the start of a line: quote, heading, subtext
/// (`-#`) and lists.
pub const LINE_START_MARKUP: &[char] = &['>', '#', '-', '+'];

/// What in `text` Discord would render as a ping or as a mention, if
/// anything: `@everyone`, `@here`, or an unescaped `<@`, `<@!`, `<@&` or
/// `<#` (user, role and channel mentions all start so). A zero-width space
/// between `@` and the word, as the escaper puts there, breaks the ping.
pub fn pingable(text: &str) -> Option<String> {
    let shown = discord_unescape(text);
    let plain: String = shown.iter().map(|s| s.c).collect();
    for word in ["@everyone", "@here"] {
        if plain.contains(word) {
            return Some(word.to_owned());
        }
    }
    for (i, s) in shown.iter().enumerate() {
        if s.c == '<' && !s.escaped && matches!(shown.get(i + 1).map(|n| n.c), Some('@' | '#')) {
            return Some(format!("unescaped mention at character {i}"));
        }
    }
    None
}

/// Markup Discord would act on in a message of only escaped text, if any:
/// an unescaped [`INLINE_MARKUP`] character anywhere, or an unescaped
/// [`LINE_START_MARKUP`] character first on the message's only line
/// (after spaces).
pub fn active_markup(text: &str) -> Option<String> {
    let shown = discord_unescape(text);
    for (i, s) in shown.iter().enumerate() {
        if !s.escaped && INLINE_MARKUP.contains(&s.c) {
            return Some(format!("unescaped {:?} at character {i}", s.c));
        }
    }
    if let Some((i, s)) = shown.iter().enumerate().find(|(_, s)| !s.c.is_whitespace())
        && !s.escaped
        && LINE_START_MARKUP.contains(&s.c)
    {
        return Some(format!(
            "unescaped {:?} starts the line at character {i}",
            s.c
        ));
    }
    None
}

/// Splits `data` at the first NUL: the part before and after (empty when
/// there is none). Targets use it to take two inputs from one.
pub fn split_nul(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|b| *b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[]),
    }
}

/// Every line of `text` through `set`, as the follower runs them (a
/// trailing `\r` dropped): the events, each with its line. A line whose
/// `json:` group is not an object gives none, but its message is built.
pub fn events<'t>(set: &PatternSet, text: &'t str, server_name: &str) -> Vec<(&'t str, Event)> {
    let server: Arc<str> = Arc::from("fuzz");
    let mut scratch = set.scratch();
    let mut out = Vec::new();
    for (seq, line) in text.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        match set.classify(line, &mut scratch) {
            Ok(Some(m)) => {
                let position = Position {
                    source: 0,
                    seq: seq as u64,
                };
                out.push((line, m.to_event(&server, server_name, position)));
            }
            Ok(None) => {}
            Err(malformed) => {
                let _ = malformed.to_string();
            }
        }
    }
    out
}
