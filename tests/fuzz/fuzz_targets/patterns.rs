//! The pattern engine with the shipped patterns: every line of the input
//! is classified and, when it matches, turned into an event, as the
//! follower does with each line of console.log.
//!
//! Property: classifying and building events never panics, for any line
//! (invalid UTF-8 is read lossily, as the tailer does); a `json:` line
//! that is not an object is a `Malformed` whose message can be shown; and
//! an event's content, for every pattern whose template has no `:raw`
//! placeholder, contains no ping or mention Discord would render
//! (`@everyone`, `@here`, unescaped `<@`, `<@&`, `<#`; see
//! `common::pingable`), whatever the line's player text says.
#![no_main]

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::LazyLock;

use factorio_isr::patterns::PatternSet;
use factorio_isr::patterns::load::load_dirs;
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

/// The shipped patterns, loaded once, and the names of those whose
/// template passes a field through raw (mods' own Discord text).
static SHIPPED: LazyLock<(PatternSet, HashSet<String>)> = LazyLock::new(|| {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../patterns");
    let patterns =
        load_dirs(std::slice::from_ref(&dir)).unwrap_or_else(|e| panic!("shipped patterns: {e}"));
    let mut raw = HashSet::new();
    for entry in std::fs::read_dir(&dir).expect("patterns dir") {
        let text = std::fs::read_to_string(entry.expect("entry").path()).expect("pattern file");
        let doc: serde_yaml::Value = serde_yaml::from_str(&text).expect("yaml");
        for p in doc["patterns"].as_sequence().into_iter().flatten() {
            if p["template"].as_str().is_some_and(|t| t.contains(":raw}")) {
                raw.insert(p["name"].as_str().expect("name").to_owned());
            }
        }
    }
    let set =
        PatternSet::new(&patterns, |_| true).unwrap_or_else(|e| panic!("shipped patterns: {e}"));
    (set, raw)
});

fuzz_target!(|data: &[u8]| {
    let (set, raw) = &*SHIPPED;
    let text = String::from_utf8_lossy(data);
    for (line, event) in common::events(set, &text, "Fuzz *Server* @everyone") {
        if !raw.contains(&*event.pattern)
            && let Some(ping) = common::pingable(&event.content)
        {
            panic!(
                "pattern {} renders a ping ({ping}): {:?} from {line:?}",
                event.pattern, event.content
            );
        }
    }
});
