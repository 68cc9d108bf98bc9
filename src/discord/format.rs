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
            // Line breaks included: a game line is one line.
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
        // A line break or other control went out as a space: still the
        // line's start, so `\n> x` cannot show as a quote.
        at_line_start = at_line_start && (c.is_whitespace() || c.is_control());
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

    /// Found by the `escape` fuzz target (tests/fuzz): a line break or
    /// control character first became a space but ended the line start,
    /// so the `>` after it went out unescaped and Discord showed a quote.
    #[test]
    fn line_breaks_and_controls_first_keep_the_line_start() {
        check("\n> quote\r# head", " \\> quote # head");
        check("\r\n- list", "  \\- list");
        check("\u{7}# heading", " \\# heading");
        check(" \t\n+ x", "   \\+ x");
        // Text before the break still ends the line start.
        check("a\n> b", "a > b");
    }
}

/// Discord's limit on a message's content, in characters.
pub const MAX_CONTENT: usize = 2000;

/// Factorio rich text tags with a value worth showing, and the reading of it.
const VALUE_TAGS: &[&str] = &[
    "item",
    "img",
    "entity",
    "recipe",
    "technology",
    "fluid",
    "virtual-signal",
    "tile",
    "planet",
    "space-location",
    "quality",
    "achievement",
    "armor",
    "train",
    "train-stop",
    "tooltip",
    "item-group",
    "space-platform",
];

/// Renders Factorio rich text (`[gps=12,-4,nauvis]`, `[item=iron-plate]`,
/// `[color=red]hi[/color]`, ...) as readable plain text, so chat shows
/// "iron plate" rather than bracket soup. Unknown brackets stay as typed.
pub fn rich_text_to_plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        out.push_str(&rest[..open]);
        let tail = &rest[open..];
        let Some(close) = tail.find(']') else {
            out.push_str(tail);
            return out;
        };
        let inner = &tail[1..close];
        let (tag, value) = inner.split_once('=').unwrap_or((inner, ""));
        let rendered = match tag {
            "color" | "font" | "/color" | "/font" | ".color" | ".font" => Some(String::new()),
            "gps" => {
                let mut parts = value.split(',');
                let (x, y, surface) = (
                    parts.next().unwrap_or(""),
                    parts.next().unwrap_or(""),
                    parts.next(),
                );
                Some(match surface {
                    Some(s) => format!("(map {x}, {y} on {s})"),
                    None => format!("(map {x}, {y})"),
                })
            }
            "special-item" => Some("(blueprint)".to_owned()),
            t if VALUE_TAGS.contains(&t) && !value.is_empty() => {
                // `img=item.iron-plate` names its type; `train=123` an id.
                let name = value.rsplit_once('.').map_or(value, |(_, n)| n);
                Some(name.replace('-', " "))
            }
            _ => None,
        };
        match rendered {
            Some(r) => out.push_str(&r),
            None => out.push_str(&tail[..=close]),
        }
        rest = &tail[close + 1..];
    }
    out.push_str(rest);
    out
}

/// Splits `text` into parts of at most `max` characters that show what
/// `text` shows: at a newline if one is in reach, else at a space, else at
/// the limit; never inside a character or between a backslash and the
/// character it escapes. The parts join back to `text`, except that a
/// cut inside a line which would put `>`, `#`, `-` or `+` first in a
/// message escapes it (with `max` of 2 or more), since there it would
/// start a quote, heading or list that the text never had, and that a
/// part of only whitespace is left out: Discord refuses it. A `max` of 0
/// is taken as 1.
pub fn split_message(text: &str, max: usize) -> Vec<String> {
    let max = max.max(1);
    let mut parts = Vec::new();
    let mut rest = text;
    // Whether `rest` starts mid-line with line-start markup.
    let mut escape = false;
    loop {
        // The backslash takes one of the part's characters.
        let room = max - usize::from(escape);
        if rest.chars().count() <= room {
            break;
        }
        // Byte index just past the first `room` characters.
        let limit = rest.char_indices().nth(room).map_or(rest.len(), |(i, _)| i);
        let window = &rest[..limit];
        let cut = window
            .rfind('\n')
            .map(|i| i + 1)
            .filter(|i| *i > limit / 2)
            .or_else(|| window.rfind(' ').map(|i| i + 1).filter(|i| *i > limit / 2))
            .unwrap_or(limit);
        let cut = back_off_escape(rest, cut);
        // Discord refuses a message of only whitespace (and trims the
        // ends of others): a part that fell among spaces is left out.
        if !rest[..cut].trim().is_empty() {
            parts.push(escaped_start(&rest[..cut], escape));
        }
        escape = max >= 2 && !rest[..cut].ends_with('\n') && starts_with_line_markup(&rest[cut..]);
        rest = &rest[cut..];
    }
    if !rest.trim().is_empty() || parts.is_empty() {
        parts.push(escaped_start(rest, escape));
    }
    parts
}

/// Whether `text`, first in a message, starts a quote, heading or list:
/// a [`LINE_START`] character after only spaces.
fn starts_with_line_markup(text: &str) -> bool {
    text.trim_start().starts_with(LINE_START)
}

/// `part`, with a backslash before its first non-space character when
/// `escape` says it is line-start markup. A part of only spaces (the cut
/// fell among them) has none, and the next part begins the message the
/// markup starts.
fn escaped_start(part: &str, escape: bool) -> String {
    let mut out = String::with_capacity(part.len() + 1);
    let spaces = part.len() - part.trim_start().len();
    if escape && spaces < part.len() {
        out.push_str(&part[..spaces]);
        out.push('\\');
        out.push_str(&part[spaces..]);
    } else {
        out.push_str(part);
    }
    out
}

/// Moves `cut` left past a backslash that would be separated from the
/// character it escapes (an odd run of backslashes just before it).
fn back_off_escape(text: &str, cut: usize) -> usize {
    let run = text[..cut]
        .bytes()
        .rev()
        .take_while(|b| *b == b'\\')
        .count();
    if run % 2 == 1 && cut > 1 {
        cut - 1
    } else {
        cut
    }
}

#[cfg(test)]
mod split_tests {
    use super::*;

    #[test]
    fn rich_text_reads_as_text() {
        let check = |i: &str, o: &str| assert_eq!(rich_text_to_plain(i), o, "{i}");
        check(
            "Look at [gps=12,-4,nauvis]",
            "Look at (map 12, -4 on nauvis)",
        );
        check(
            "[gps=12,-4][img=item.iron-plate] [item=iron-plate]",
            "(map 12, -4)iron plate iron plate",
        );
        check(
            "[color=red]Dude![/color] [font=default-bold]check this out![/font] is that a chest of [item=iron-plate]iron plate?",
            "Dude! check this out! is that a chest of iron plateiron plate?",
        );
        check("[special-item=0eNqVkM...]", "(blueprint)");
        check("[not a tag] and [unclosed", "[not a tag] and [unclosed");
        check("[technology=automation-2]", "automation 2");
    }

    #[test]
    fn split_prefers_lines_then_words_and_keeps_escapes() {
        let text = format!("{}\n{}", "a".repeat(1500), "b".repeat(1000));
        let parts = split_message(&text, MAX_CONTENT);
        assert_eq!(parts, [format!("{}\n", "a".repeat(1500)), "b".repeat(1000)]);

        let words = "word ".repeat(500);
        let parts = split_message(&words, MAX_CONTENT);
        assert!(parts[0].ends_with(' ') && parts[0].chars().count() <= MAX_CONTENT);
        assert_eq!(parts.concat(), words);

        let escaped = format!("{}\\*", "x".repeat(1999));
        let parts = split_message(&escaped, MAX_CONTENT);
        assert_eq!(parts, ["x".repeat(1999), "\\*".to_owned()]);

        let unicode = "日本語".repeat(1000);
        let parts = split_message(&unicode, MAX_CONTENT);
        assert_eq!(
            parts.iter().map(|p| p.chars().count()).collect::<Vec<_>>(),
            [2000, 1000]
        );
        assert_eq!(split_message("", MAX_CONTENT), [""]);
        assert_eq!(split_message("ab", 0), ["a", "b"]);
    }

    /// Found by the `escape` fuzz target (tests/fuzz): escaped chat
    /// `> quote # head` cut at the space before `#` sent `# head` as a
    /// message of its own, which Discord shows as a heading.
    #[test]
    fn a_cut_inside_a_line_escapes_what_would_start_markup() {
        assert_eq!(
            split_message(" \\> quote # head", 7),
            [" \\> ", "quote ", "\\# head"]
        );
        let chat = format!("{} -#subtext", "a".repeat(1997));
        let parts = split_message(&chat, MAX_CONTENT);
        assert_eq!(parts[1], "\\-#subtext");
        // Leading spaces stay; the backslash goes before the markup.
        assert_eq!(split_message("abc  # x", 4), ["abc ", " \\# ", "x"]);
        // After a line break the text already starts a line: kept as is.
        assert_eq!(split_message("**a**\n> b", 6), ["**a**\n", "> b"]);
        // Found next: a cut among the spaces before the markup put the
        // backslash in a part of spaces, away from the `>`; and parts of
        // only spaces, which Discord refuses, are left out.
        assert_eq!(split_message(". \u{2003} > q", 2), [". ", "\\>", " q"]);
        // One character per part leaves no room for a backslash.
        assert_eq!(split_message("a #", 1), ["a", "#"]);
    }

    /// Found by the `escape` fuzz target (tests/fuzz) once it checked for
    /// blank parts: Discord refuses a message of only whitespace (50006),
    /// and the outbox gives up a message Discord refuses.
    #[test]
    fn parts_of_only_whitespace_are_left_out() {
        assert_eq!(split_message("\\] ", 2), ["\\]"]);
        let chat = format!("hi{}there", " ".repeat(2500));
        let parts = split_message(&chat, MAX_CONTENT);
        assert_eq!(parts.len(), 2, "{parts:?}");
        assert!(parts[0].starts_with("hi ") && parts[1].ends_with(" there"));
        // A text of only whitespace still gives one part (blank: nothing
        // to show), never none.
        assert_eq!(split_message("   ", 2), [" "]);
    }

    /// Property: for any text, the parts show it in order, none is blank
    /// (unless the text is), none exceeds the limit, and whitespace left
    /// out between parts is all that goes (seeded random texts mixing
    /// escapes, spaces, newlines and multi-byte characters).
    #[test]
    fn split_parts_keep_the_text_in_order() {
        let alphabet: Vec<char> = "ab \n\\*_日é🚀".chars().collect();
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for round in 0..300 {
            let len = (round * 37) % 5000;
            let text: String = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    alphabet[(state % alphabet.len() as u64) as usize]
                })
                .collect();
            for max in [1, 2, 7, 100, MAX_CONTENT] {
                let parts = split_message(&text, max);
                let mut rest = text.as_str();
                for p in &parts {
                    assert!(p.chars().count() <= max, "round {round}, max {max}");
                    assert!(
                        parts.len() == 1 || !p.trim().is_empty(),
                        "round {round}, max {max}: blank part"
                    );
                    // Next in the text, after nothing but whitespace.
                    let at = rest
                        .find(p.as_str())
                        .filter(|at| rest[..*at].trim().is_empty())
                        .unwrap_or_else(|| panic!("round {round}, max {max}: {p:?} out of place"));
                    rest = &rest[at + p.len()..];
                }
                assert!(
                    rest.trim().is_empty(),
                    "round {round}, max {max}: lost {rest:?}"
                );
            }
        }
    }
}
