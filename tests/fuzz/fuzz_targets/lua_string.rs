//! The Lua string encoder, `commands::sanitize::lua_string`.
//!
//! Property: for any text, a real Lua (5.4) decodes the literal back to
//! the text with each control character replaced by a space (the encoder
//! does that on purpose: RCON commands are one line and NUL would end the
//! body), and the literal is one long bracket that nothing in the text can
//! close early, so no part of the text ever runs as code.
//!
//! In process, at libFuzzer's speed, that is checked against a model of
//! Lua's lexer (`llex.c`'s `read_long_string`): the literal is `[`
//! `=`×k `[` text′ `]` `=`×k `]` with k >= 1 (level 0 has Lua 5.1's
//! nesting quirk), the first closing `]` `=`×k `]` after the opening is its
//! last bytes, and it holds no control character. A real interpreter per
//! input would cost a process each (about 4 ms: 250 inputs/s instead of
//! tens of thousands), so instead run.sh replays the corpus once with
//! `LUA_CHECK_CASES=FILE` set, which makes this target write each input as
//! a `check(literal, want)` line, and one `lua5.4` runs lua_check.lua over
//! the file.
#![no_main]

use std::fs::File;
use std::io::Write;
use std::sync::{LazyLock, Mutex};

use factorio_isr::commands::lua_string;
use libfuzzer_sys::fuzz_target;

/// Where to write the cases for lua_check.lua, when asked to.
static CASES: LazyLock<Option<Mutex<File>>> = LazyLock::new(|| {
    let path = std::env::var_os("LUA_CHECK_CASES")?;
    let file = File::create(&path).unwrap_or_else(|e| panic!("LUA_CHECK_CASES: {e}"));
    Some(Mutex::new(file))
});

/// `s` as a Lua quoted string of decimal escapes, one per byte.
fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 4 + 2);
    out.push('"');
    for b in s.bytes() {
        out.push_str(&format!("\\{b}"));
    }
    out.push('"');
    out
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let literal = lua_string(&text);
    let expected: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if let Some(cases) = &*CASES {
        let line = format!("check({}, {})\n", quoted(&literal), quoted(&expected));
        let mut file = cases.lock().unwrap_or_else(|e| e.into_inner());
        file.write_all(line.as_bytes()).expect("case written");
    }
    assert!(!literal.chars().any(char::is_control), "{literal:?}");

    let b = literal.as_bytes();
    let level = b[1..].iter().take_while(|c| **c == b'=').count();
    assert_eq!(b[0], b'[', "{literal:?}");
    assert!(level >= 1, "level 0: {literal:?}");
    assert_eq!(b[level + 1], b'[', "{literal:?}");
    let close = format!("]{}]", "=".repeat(level));
    let body_start = level + 2;
    let end = literal[body_start..]
        .find(&close)
        .map(|i| body_start + i)
        .unwrap_or_else(|| panic!("never closed: {literal:?}"));
    assert_eq!(
        end + close.len(),
        literal.len(),
        "closed early: {literal:?}"
    );
    assert_eq!(&literal[body_start..end], expected, "{literal:?}");
});
