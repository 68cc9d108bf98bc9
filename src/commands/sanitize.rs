//! Making Discord text safe to put into a Factorio console command.
//!
//! Everything a Discord user types reaches the game through one of three
//! doors, and each has its own rule:
//!
//! - **Command arguments** (`/kick NAME REASON`): a player name must pass
//!   [`player`] (Factorio splits arguments on spaces, so anything else could
//!   change what the command does); free text passes [`clean_text`], which
//!   keeps it on one line, so a second line can never be a second command.
//! - **Plain chat** (RCON text not starting with `/`): built by
//!   [`relay_line`], which always starts with [`RELAY_PREFIX`], so it can
//!   never start with `/` and never be run as a command.
//! - **Lua string literals** (only where a server sets `allow_lua`):
//!   [`lua_string`] produces a long-bracket literal the text cannot close.
//!
//! NUL is removed everywhere: an RCON body ends at the first NUL, so one in
//! the middle would cut the command short at a place the user chose.

use crate::discord::format::escape_markdown;
use crate::factorio::valid_player_name;

/// The longest console command we send, in bytes. Factorio drops the RCON
/// session on bodies of about 4 KB (clusterio #34, protocols.md B1); the
/// exact limit is unverified, so keep a margin below it.
pub const MAX_COMMAND_BYTES: usize = 3500;

/// Kick and ban reasons. Factorio prints the reason in the `[KICK]`/`[BAN]`
/// log line and keeps ban reasons in the ban list; a sentence is enough.
pub const MAX_REASON_BYTES: usize = 200;

/// Chat, whispers and broadcasts. Factorio's chat box shows a few lines for
/// a few seconds: 1000 bytes is already a wall of text there, and leaves a
/// wide margin under [`MAX_COMMAND_BYTES`] even inside a Lua call.
pub const MAX_MESSAGE_BYTES: usize = 1000;

/// A Discord display name is at most 32 characters; 64 bytes keeps most of
/// them whole and stops a name from crowding out the message.
pub const MAX_AUTHOR_BYTES: usize = 64;

/// What every relayed Discord line starts with. The `[` means the line can
/// never start with `/`, and the log follower can recognise the bridge's
/// own `[CHAT] <server>: [Discord] ...` lines and not relay them back.
pub const RELAY_PREFIX: &str = "[Discord] ";

/// Bidirectional-text controls: they make a reason or message display in
/// a different order than it was typed (in the game and in its logs).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `s` as one line: every run of whitespace (newlines, tabs, U+2028, ...)
/// becomes one space, other control characters (NUL, ESC, ...) and
/// bidirectional controls are removed, the ends are trimmed, and the result
/// is at most `max_bytes` long, cut at a character boundary and ending in
/// `…` when something was cut.
pub fn clean_text(s: &str, max_bytes: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max_bytes.saturating_add(4)));
    let mut space = false;
    for c in s.chars() {
        if c.is_whitespace() {
            space = !out.is_empty();
        } else if c.is_control() || is_bidi_control(c) {
            continue;
        } else {
            if space {
                out.push(' ');
                space = false;
            }
            out.push(c);
        }
    }
    cap(out, max_bytes)
}

/// Cuts `s` to at most `max_bytes`, marking the cut with `…`.
fn cap(mut s: String, max_bytes: usize) -> String {
    if s.len() <= max_bytes {
        return s;
    }
    const MARK: char = '…';
    let room = max_bytes.saturating_sub(MARK.len_utf8());
    let mut cut = room;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    s.truncate(cut);
    let trimmed = s.trim_end().len();
    s.truncate(trimmed);
    if max_bytes >= MARK.len_utf8() {
        s.push(MARK);
    }
    s
}

/// `s` as a Lua long-bracket string literal (`[=[...]=]`) that `s` cannot
/// end early, so text from Discord can never become Lua code.
///
/// A long bracket has no escapes: it ends only at `]`, `=`×level, `]`. The
/// level is the smallest (from 1) whose closing sequence occurs neither in
/// `s` nor at its end followed by the closing `]`: a text ending in `]=`
/// would otherwise close `[==[` one character early (`x]=` + `]=]`).
/// Level 0 (`[[`) is never used, so Lua 5.1's nesting quirk cannot apply.
///
/// Control characters become spaces: NUL would end the RCON body, Lua
/// silently drops a newline right after the opening bracket and rewrites
/// CR LF, and a console command is one line anyway.
pub fn lua_string(s: &str) -> String {
    let text: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let probe = format!("{text}]");
    let mut level = 1;
    while probe.contains(&format!("]{}]", "=".repeat(level))) {
        level += 1;
    }
    let eq = "=".repeat(level);
    format!("[{eq}[{text}]{eq}]")
}

/// The plain-chat line that relays `text` by `author` from Discord into
/// the game: `[Discord] author: text`, one line, at most
/// [`MAX_MESSAGE_BYTES`]. `None` when `text` is empty once cleaned.
///
/// Sent over RCON without a leading `/`, Factorio shows it as chat from
/// `<server>` and runs no command and no Lua, so achievements are kept.
/// Mentions, channels and emoji must already be resolved to names by the
/// caller; the author is cleaned too, so a newline in a nickname cannot
/// start a second line (which could start with `/`).
pub fn relay_line(author: &str, text: &str) -> Option<String> {
    let text = clean_text(text, MAX_MESSAGE_BYTES);
    if text.is_empty() {
        return None;
    }
    let author = clean_text(author, MAX_AUTHOR_BYTES);
    let author = if author.is_empty() {
        "someone"
    } else {
        &author
    };
    Some(cap(
        format!("{RELAY_PREFIX}{author}: {text}"),
        MAX_MESSAGE_BYTES,
    ))
}

/// `name` (trimmed) if it is safe to put into a console command, or a
/// refusal the Discord user can act on.
pub fn player(name: &str) -> Result<&str, String> {
    let name = name.trim();
    if valid_player_name(name) {
        Ok(name)
    } else {
        Err(format!(
            "“{}” is not a Factorio player name: names are 1 to 60 letters, digits, `_`, `-` or `.`, with no spaces. Pick a name from the list as you type.",
            shown(name)
        ))
    }
}

/// A save name for `/save NAME`: Factorio appends `.zip` and writes it in
/// its saves directory, so dots and slashes (`../x`) are refused along with
/// spaces (which would end the argument).
pub fn save_name(name: &str) -> Result<&str, String> {
    let name = name.trim();
    if (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        Ok(name)
    } else {
        Err(format!(
            "“{}” is not a save name: use 1 to 64 letters, digits, `_` or `-` (Factorio adds `.zip`).",
            shown(name)
        ))
    }
}

/// A prototype or object name (technology, force, surface) for Lua. It is
/// also encoded with [`lua_string`]; this check is so a typo gets a clear
/// answer instead of a Lua error. `what` names the thing in the refusal.
pub fn game_name<'a>(what: &str, name: &'a str) -> Result<&'a str, String> {
    let name = name.trim();
    if (1..=100).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
    {
        Ok(name)
    } else {
        Err(format!(
            "“{}” is not a {what} name: use its internal name, letters, digits, `_`, `-` or `.` (e.g. `automation-2`, `player`, `nauvis`).",
            shown(name)
        ))
    }
}

/// User text quoted back in a refusal: capped and escaped, so a refusal
/// cannot be used to post formatting or pings.
fn shown(s: &str) -> String {
    escape_markdown(&clean_text(s, 80))
}

/// The first word of a console command, lowercased, if it is a command.
fn command_word(command: &str) -> Option<String> {
    let word = command.split_whitespace().next()?;
    word.starts_with('/').then(|| word.to_ascii_lowercase())
}

/// Whether `command` runs Lua (`/c`, `/command`, `/sc`, `/silent-command`,
/// `/measured-command`), which disables achievements on the save.
pub fn runs_lua(command: &str) -> bool {
    matches!(
        command_word(command).as_deref(),
        Some("/c" | "/command" | "/sc" | "/silent-command" | "/measured-command")
    )
}

/// Whether `command` disables achievements: Lua, and the two cheats a
/// console can switch on (`/cheat`, `/editor`).
pub fn disables_achievements(command: &str) -> bool {
    runs_lua(command) || matches!(command_word(command).as_deref(), Some("/cheat" | "/editor"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_text_table() {
        let check = |input: &str, max: usize, expected: &str| {
            let got = clean_text(input, max);
            assert_eq!(got, expected, "{input:?}");
            assert!(got.len() <= max, "{input:?}");
        };
        check("hello", 100, "hello");
        check("  two\nlines \r\n here ", 100, "two lines here");
        check("tab\there", 100, "tab here");
        check("nul\0byte", 100, "nulbyte");
        check("esc\u{1b}[31mred", 100, "esc[31mred");
        check("line\u{2028}sep", 100, "line sep");
        check("rtl\u{202E}txet", 100, "rtltxet");
        check("\n/c game.print(1)", 100, "/c game.print(1)");
        check("abcdef", 6, "abcdef");
        check("abcdefg", 6, "abc…");
        check("ab   cdefg", 6, "ab…");
        // Never inside a character: "日" is 3 bytes.
        check("日本語です", 8, "日…");
        check("日本語です", 2, "");
        check("", 10, "");
        check("\n\t \0", 10, "");
    }

    #[test]
    fn lua_strings_cannot_be_escaped() {
        let check = |input: &str, expected: &str| {
            assert_eq!(lua_string(input), expected, "{input:?}");
        };
        check("hello", "[=[hello]=]");
        check("", "[=[]=]");
        check("say \"hi\" 'there'", "[=[say \"hi\" 'there']=]");
        check("\"); game.print(1) --", "[=[\"); game.print(1) --]=]");
        check("a]]b", "[=[a]]b]=]");
        check("a]=]b", "[==[a]=]b]==]");
        check("a]=]b]==]c", "[===[a]=]b]==]c]===]");
        // Ends in `]=`: with level 1 the closing `]=]` would start one
        // character early, leaving `=]` as code.
        check("x]=", "[==[x]=]==]");
        check("x]", "[=[x]]=]");
        check("x]==", "[=[x]==]=]");
        check("two\nlines", "[=[two lines]=]");
        check("\nleading", "[=[ leading]=]");
        check("nul\0", "[=[nul ]=]");
        check("[=[ nested ]=]", "[==[[=[ nested ]=]]==]");
    }

    /// Reads a long bracket back the way Lua's lexer does (skip_sep /
    /// read_long_string in llex.c): the literal must end exactly at its
    /// last byte and hold the input.
    fn lua_read_long(literal: &str) -> Option<(String, usize)> {
        let b = literal.as_bytes();
        let level = b[1..].iter().take_while(|c| **c == b'=').count();
        if b.first() != Some(&b'[') || b.get(level + 1) != Some(&b'[') {
            return None;
        }
        let start = level + 2;
        let mut i = start;
        while i < b.len() {
            if b[i] == b']' {
                let eqs = b[i + 1..].iter().take_while(|c| **c == b'=').count();
                if eqs == level && b.get(i + 1 + eqs) == Some(&b']') {
                    return Some((literal[start..i].to_owned(), i + 2 + eqs));
                }
            }
            i += 1;
        }
        None
    }

    #[test]
    fn lua_strings_read_back_whole() {
        let mut inputs: Vec<String> = [
            "]",
            "]]",
            "]=",
            "]=]",
            "]==]",
            "]]]]",
            "x]=]==]===]",
            "[==[",
            "=]",
            "]==",
            "]=]=",
            "\"); os.exit() --",
            "日本]=]語",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        // Every string of up to 6 characters over the bracket alphabet.
        let alphabet = [']', '=', 'a', '['];
        let mut frontier = vec![String::new()];
        for _ in 0..6 {
            frontier = frontier
                .iter()
                .flat_map(|s| alphabet.iter().map(move |c| format!("{s}{c}")))
                .collect();
            inputs.extend(frontier.iter().cloned());
        }
        for input in inputs {
            let literal = lua_string(&input);
            let (text, end) =
                lua_read_long(&literal).unwrap_or_else(|| panic!("{input:?} -> {literal}"));
            assert_eq!(text, input, "{literal}");
            assert_eq!(end, literal.len(), "{input:?} ends early in {literal}");
        }
    }

    #[test]
    fn relay_lines() {
        let check = |author: &str, text: &str, expected: Option<&str>| {
            assert_eq!(
                relay_line(author, text).as_deref(),
                expected,
                "{author:?} {text:?}"
            );
        };
        check("Alice", "hello", Some("[Discord] Alice: hello"));
        check(
            "Alice",
            "/c game.print(1)",
            Some("[Discord] Alice: /c game.print(1)"),
        );
        check(
            "Eve\n/c game.print(1)",
            "hi",
            Some("[Discord] Eve /c game.print(1): hi"),
        );
        check(
            "Bob",
            "one\ntwo\n/ban Alice",
            Some("[Discord] Bob: one two /ban Alice"),
        );
        check("Bob", "nul\0here", Some("[Discord] Bob: nulhere"));
        check("", "hi", Some("[Discord] someone: hi"));
        check("Bob", " \n\0 ", None);
        let long = relay_line(&"N".repeat(200), &"x".repeat(5000)).expect("line");
        assert!(long.len() <= MAX_MESSAGE_BYTES);
        assert!(long.starts_with(&format!("[Discord] {}…: x", "N".repeat(61))));
        assert!(long.ends_with('…'));
    }

    #[test]
    fn player_names() {
        assert_eq!(player("bardella"), Ok("bardella"));
        assert_eq!(player(" j.doe-2 "), Ok("j.doe-2"));
        for bad in ["", "a b", "bob\" --", "/c", "x\ny", "<@123>", "日本"] {
            let err = player(bad).expect_err(bad);
            assert!(err.contains("not a Factorio player name"), "{err}");
        }
        // The refusal quotes the name escaped: no pings, no formatting.
        let err = player("@everyone **x**").expect_err("refused");
        assert!(err.contains("@\u{200B}everyone \\*\\*x\\*\\*"), "{err}");
    }

    #[test]
    fn other_names() {
        assert_eq!(save_name("before-reset_2"), Ok("before-reset_2"));
        for bad in ["", "../x", "a b", "x.zip", &"a".repeat(65)] {
            assert!(save_name(bad).is_err(), "{bad}");
        }
        assert_eq!(game_name("technology", "automation-2"), Ok("automation-2"));
        assert!(game_name("technology", "x\"]").is_err());
    }

    #[test]
    fn lua_detection() {
        for lua in [
            "/c game.print(1)",
            "/C x",
            "  /sc rcon.print(1)",
            "/silent-command x",
            "/command x",
            "/measured-command x",
            "/c",
        ] {
            assert!(runs_lua(lua), "{lua}");
            assert!(disables_achievements(lua), "{lua}");
        }
        for not_lua in ["/clear", "/color red", "/players", "hello /c", "c x", ""] {
            assert!(!runs_lua(not_lua), "{not_lua}");
        }
        assert!(!runs_lua("/cheat") && disables_achievements("/cheat"));
        assert!(disables_achievements("/editor"));
    }
}
