//! Pattern files as an admin (or an attacker with write access to the
//! patterns directory) may write them: arbitrary YAML, in our format or the
//! Python project's, with any regex and template.
//!
//! The input is a pattern file, then optionally a NUL byte and log lines.
//! Property: loading returns patterns or problems and never panics, and
//! each problem can be shown; the patterns of a file that loads build a
//! set that classifies the lines and renders events without panicking.
#![no_main]

use std::path::Path;
use std::sync::Arc;

use factorio_isr::patterns::PatternSet;
use factorio_isr::patterns::load::load_text;
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let (file, lines) = common::split_nul(data);
    let Ok(text) = std::str::from_utf8(file) else {
        return;
    };
    let patterns = match load_text(Path::new("fuzz.yml"), 0, text) {
        Ok(patterns) => patterns,
        Err(problems) => {
            assert!(!problems.is_empty(), "an error without a problem");
            for p in problems {
                let _ = p.to_string();
            }
            return;
        }
    };
    let patterns: Vec<Arc<_>> = patterns.into_iter().map(Arc::new).collect();
    // Too many or too large patterns together is an error for the user,
    // not a crash: it must say something.
    let set = match PatternSet::new(&patterns, |_| true) {
        Ok(set) => set,
        Err(e) => {
            assert!(!e.is_empty(), "an empty error for a pattern set");
            return;
        }
    };
    common::events(&set, &String::from_utf8_lossy(lines), "Fuzz");
});
