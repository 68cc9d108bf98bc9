//! docs/TROUBLESHOOTING.md explains every warning and error the daemon can
//! log: each `log::error!` / `log::warn!` message in src/, and each message
//! of a runtime or set-up failure, must appear there by its fixed start
//! (the text before its first `{placeholder}`). docs/SECURITY.md points
//! each promise at tests: every test it names must exist.

mod support;

use std::path::Path;

/// Messages whose fixed start is shorter than this are all placeholder
/// (`"{e}"`) and are covered where the error they print is documented.
const MIN_STEM: usize = 12;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The first string literal after each `marker` in `text`.
fn literals_after<'a>(text: &'a str, marker: &str) -> Vec<&'a str> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(marker) {
        rest = &rest[at + marker.len()..];
        let Some(open) = rest.find('"') else { break };
        // Only when the literal is the macro's first argument.
        if !rest[..open].trim().is_empty() && !rest[..open].trim_end().ends_with('(') {
            continue;
        }
        let body = &rest[open + 1..];
        let mut end = 0;
        let bytes = body.as_bytes();
        while end < bytes.len() {
            match bytes[end] {
                b'\\' => end += 2,
                b'"' => break,
                _ => end += 1,
            }
        }
        found.push(&body[..end.min(body.len())]);
    }
    found
}

/// The literal's text before its first placeholder, with line
/// continuations joined as the compiler joins them.
fn stem(literal: &str) -> String {
    let mut joined = String::new();
    let mut lines = literal.split("\\\n");
    if let Some(first) = lines.next() {
        joined.push_str(first);
    }
    for line in lines {
        joined.push_str(line.trim_start());
    }
    // A placeholder or an escaped newline ends the fixed part.
    let cut = [joined.find('{'), joined.find("\\n")]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(joined.len());
    joined[..cut].trim().to_owned()
}

#[test]
fn every_logged_problem_is_explained() {
    let root = support::root();
    let doc = std::fs::read_to_string(root.join("docs/TROUBLESHOOTING.md"))
        .expect("docs/TROUBLESHOOTING.md exists");
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    files.sort();
    let mut missing = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read");
        // Unit tests log nothing a user sees.
        let text = text.split("#[cfg(test)]").next().unwrap_or("");
        for marker in [
            "log::error!(",
            "log::warn!(",
            "Error::Runtime(format!(",
            "Error::Setup(format!(",
        ] {
            for literal in literals_after(text, marker) {
                let stem = stem(literal);
                if stem.chars().count() >= MIN_STEM && !doc.contains(&stem) {
                    let name = file.strip_prefix(&root).unwrap_or(&file);
                    missing.push(format!("{}: {stem}", name.display()));
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "docs/TROUBLESHOOTING.md does not mention these messages (quote each one's start):\n{}",
        missing.join("\n")
    );
}

#[test]
fn stems_are_the_fixed_start_of_a_message() {
    assert_eq!(stem("cannot read {}: {e}"), "cannot read");
    assert_eq!(
        stem("posting to {dest} failed"),
        "posting to",
        "placeholders end the stem"
    );
    assert_eq!(stem("a long \\\n     message {x}"), "a long message");
    assert_eq!(stem("refused:\\n{e}"), "refused:");
    let found = literals_after(
        "log::warn!(\n  \"first {x}\", y); log::warn!(\"second\")",
        "log::warn!(",
    );
    assert_eq!(found, vec!["first {x}", "second"]);
}

/// Every `snake_case` name in backticks in docs/SECURITY.md that is not a
/// config key or a path names a function in src/ or tests/: a promise
/// never points at a test that was renamed or removed.
#[test]
fn every_test_named_in_security_md_exists() {
    let root = support::root();
    let doc = std::fs::read_to_string(root.join("docs/SECURITY.md")).expect("SECURITY.md");
    let mut code = String::new();
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    rust_files(&root.join("tests"), &mut files);
    for f in files {
        code.push_str(&std::fs::read_to_string(&f).expect("source"));
    }
    let mut named = 0;
    let mut missing = Vec::new();
    for quoted in doc.split('`').skip(1).step_by(2) {
        // Test names here are sentences: three words or more.
        let is_name = quoted.split('_').count() >= 3
            && quoted
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        // A config key is a struct field somewhere.
        if !is_name || code.contains(&format!("pub {quoted}:")) {
            continue;
        }
        named += 1;
        if !code.contains(&format!("fn {quoted}(")) {
            missing.push(quoted);
        }
    }
    assert!(named >= 30, "only {named} test names found in SECURITY.md");
    assert!(
        missing.is_empty(),
        "docs/SECURITY.md names tests that do not exist: {missing:?}"
    );
}
