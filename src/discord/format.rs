//! Making untrusted text safe to show in a Discord message.
//!
//! Player names and chat come from anyone who can join the game. They must
//! render exactly as typed: no formatting, no fake mentions, no broken code
//! blocks. Pings are prevented twice: every message is sent with
//! `allowed_mentions: {"parse": []}`, and the text itself is escaped so
//! that nothing even looks like a mention.

/// Characters that start or end inline formatting anywhere in a line.
const INLINE: &[char] = &['\\', '*', '_', '~', '|', '`', '<', '[', ']'];

/// Characters that only format at the start of a line (quote, heading, list).
const LINE_START: &[char] = &['>', '#', '-', '+'];

/// A zero-width space: breaks `@everyone` and `@here` without changing what
/// a reader sees.
const ZWSP: char = '\u{200B}';

/// Escapes `text` so Discord shows it literally. Newlines become spaces:
/// a game line is one line, and a newline could start a quote or heading.
pub fn escape_markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    escape_markdown_into(text, &mut out);
    out
}

/// [`escape_markdown`], appending to `out`. "Line start" means the start of
/// `text`: a value is escaped as if it began the message, which is the safe
/// reading wherever a template puts it.
pub fn escape_markdown_into(text: &str, out: &mut String) {
    let mut at_line_start = true;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' | '\r' => {
                out.push(' ');
                at_line_start = false;
                continue;
            }
            c if INLINE.contains(&c) => {
                out.push('\\');
                out.push(c);
            }
            c if at_line_start && LINE_START.contains(&c) => {
                out.push('\\');
                out.push(c);
            }
            '@' => {
                out.push('@');
                let rest = chars.clone();
                if starts_with(rest.clone(), "everyone") || starts_with(rest, "here") {
                    out.push(ZWSP);
                }
            }
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
        at_line_start = at_line_start && c.is_whitespace();
    }
}

fn starts_with(mut chars: impl Iterator<Item = char>, word: &str) -> bool {
    word.chars().all(|w| chars.next() == Some(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: &str) {
        assert_eq!(escape_markdown(input), expected, "{input:?}");
    }

    #[test]
    fn escaping_table() {
        check("hello", "hello");
        check("**bold**", "\\*\\*bold\\*\\*");
        check(
            "__under__ ~~strike~~ ||spoiler||",
            "\\_\\_under\\_\\_ \\~\\~strike\\~\\~ \\|\\|spoiler\\|\\|",
        );
        check("`code` ```block```", "\\`code\\` \\`\\`\\`block\\`\\`\\`");
        check("> quote", "\\> quote");
        check("a > b", "a > b");
        check("# heading", "\\# heading");
        check("- list", "\\- list");
        check("well-known", "well-known");
        check("@everyone hi", "@\u{200B}everyone hi");
        check("@here", "@\u{200B}here");
        check("@hereford", "@\u{200B}hereford");
        check("mail@example", "mail@example");
        check("<@123> <@&456> <#789>", "\\<@123> \\<@&456> \\<#789>");
        check("[click](https://evil)", "\\[click\\](https://evil)");
        check("back\\slash", "back\\\\slash");
        check("two\nlines", "two lines");
        check("bell\u{7}", "bell ");
        check("日本語 ✓", "日本語 ✓");
        check("", "");
    }
}
