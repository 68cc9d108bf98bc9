//! Making player and Discord text safe: the Discord escaper, the message
//! splitter, and the sanitizers Discord text passes on its way to the game.
//!
//! Input: one byte choosing the split length, then text (read lossily);
//! a NUL inside splits it into an author and a message for the relay.
//!
//! Properties, with Discord's rendering modelled in `common.rs` (a
//! backslash before a character that is not an ASCII letter, digit or
//! whitespace shows that character; any other backslash shows itself):
//! 1. `escape_markdown(x)` renders no ping or mention (`@everyone`,
//!    `@here`, `<@`, `<@&`, `<#` unescaped) and no markup (an unescaped
//!    `* _ ~ | \` < [ ]` anywhere, or `> # - +` first on the line after
//!    spaces);
//! 2. its visible text is `x` with each line break and other control
//!    character shown as one space, and nothing else changed: removing
//!    Discord's escaping backslashes gives back the input (the zero-width
//!    space it puts after `@` in `@everyone`/`@here` is invisible and not
//!    counted);
//! 3. `split_message(escape_markdown(x), n)` gives parts of at most `n`
//!    characters (n >= 2: an escape is two) that each, sent as its own
//!    message, still satisfy 1 and are not blank (Discord refuses a
//!    message of only whitespace), and that show the whole's visible text
//!    in order, losing only whitespace between parts (which Discord trims
//!    from a message's ends anyway);
//! 4. `fit` keeps a reply within 2000 characters and pings no one;
//! 5. `clean_text` gives one trimmed line within its byte budget, with no
//!    control or bidirectional-control characters and single spaces;
//!    `relay_line` starts with `[Discord] ` (never `/`), is one such line
//!    within `MAX_MESSAGE_BYTES`, and is `None` exactly when the message
//!    is empty once cleaned; the refusals of `player`, `save_name` and
//!    `game_name` quote the input without pings, and what they accept
//!    cannot end a console argument (no whitespace, quotes or control
//!    characters).
#![no_main]

use factorio_isr::commands::fit;
use factorio_isr::commands::sanitize::{
    MAX_MESSAGE_BYTES, RELAY_PREFIX, clean_text, game_name, player, relay_line, save_name,
};
use factorio_isr::discord::format::{
    MAX_CONTENT, escape_markdown, escape_markdown_into, rich_text_to_plain, split_message,
};
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

const ZWSP: char = '\u{200B}';

fuzz_target!(|data: &[u8]| {
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let max = 2 + usize::from(n % 64);
    let text = String::from_utf8_lossy(rest);

    let escaped = escape_markdown(&text);
    check_message(&escaped, &text);
    let mut appended = String::from("prefix ");
    escape_markdown_into(&text, &mut appended);
    assert_eq!(appended.strip_prefix("prefix "), Some(escaped.as_str()));
    // Chat with rich text is made plain first, then escaped.
    let plain = escape_markdown(&rich_text_to_plain(&text));
    check_message(&plain, &rich_text_to_plain(&text));

    for limit in [max, MAX_CONTENT] {
        let parts = split_message(&escaped, limit);
        assert!(!parts.is_empty());
        let whole = common::visible(&escaped);
        let mut shown = whole.as_str();
        for part in &parts {
            assert!(part.chars().count() <= limit, "{part:?} over {limit}");
            if let Some(bad) = common::pingable(part).or_else(|| common::active_markup(part)) {
                panic!("part {part:?} of {escaped:?} (limit {limit}): {bad}");
            }
            // Discord refuses a message of only whitespace (50006).
            assert!(
                parts.len() == 1 || !part.trim().is_empty(),
                "blank part of {escaped:?} (limit {limit}): {parts:?}"
            );
            // The parts show the text in order; only whitespace between
            // them, which Discord trims from a message's ends, may go.
            let v = common::visible(part);
            let at = shown
                .find(&v)
                .filter(|at| shown[..*at].trim().is_empty())
                .unwrap_or_else(|| panic!("split at {limit} loses text: {parts:?}"));
            shown = &shown[at + v.len()..];
        }
        assert!(
            shown.trim().is_empty(),
            "split at {limit} loses {shown:?}: {parts:?}"
        );
    }

    let fitted = fit(&escaped);
    assert!(fitted.chars().count() <= MAX_CONTENT);
    assert_eq!(common::pingable(&fitted), None, "{fitted:?}");

    for budget in [max, MAX_MESSAGE_BYTES] {
        check_clean(&clean_text(&text, budget), budget);
    }
    let (author, message) = match text.split_once('\0') {
        Some((a, m)) => (a, m),
        None => ("", &*text),
    };
    match relay_line(author, message) {
        None => assert!(clean_text(message, MAX_MESSAGE_BYTES).is_empty()),
        Some(line) => {
            assert!(line.starts_with(RELAY_PREFIX), "{line:?}");
            check_clean(&line, MAX_MESSAGE_BYTES);
        }
    }
    check_name(player(&text));
    check_name(save_name(&text));
    check_name(game_name("technology", &text));
});

/// Properties 1 and 2 for `escaped`, the escaping of `input`.
fn check_message(escaped: &str, input: &str) {
    if let Some(bad) = common::pingable(escaped).or_else(|| common::active_markup(escaped)) {
        panic!("{input:?} escaped as {escaped:?}: {bad}");
    }
    let expected: String = input
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let without_zwsp = |s: &str| s.replace(&format!("@{ZWSP}"), "@");
    assert_eq!(
        without_zwsp(&common::visible(escaped)),
        without_zwsp(&expected),
        "visible text of {escaped:?}"
    );
}

fn check_clean(s: &str, budget: usize) {
    assert!(s.len() <= budget, "{} bytes over {budget}", s.len());
    assert_eq!(s, s.trim(), "{s:?} is not trimmed");
    assert!(!s.contains("  "), "{s:?} has a run of spaces");
    for c in s.chars() {
        assert!(c == ' ' || !c.is_whitespace(), "{s:?} has {c:?}");
        assert!(!c.is_control(), "{s:?} has {c:?}");
        assert!(
            !matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'),
            "{s:?} has bidi control {c:?}"
        );
    }
}

fn check_name(result: Result<&str, String>) {
    match result {
        Ok(name) => assert!(
            !name.is_empty()
                && !name
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || "\"'/\\".contains(c)),
            "accepted {name:?}"
        ),
        Err(refusal) => assert_eq!(common::pingable(&refusal), None, "{refusal:?}"),
    }
}
