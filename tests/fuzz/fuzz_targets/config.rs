//! The config file as anyone who can write it may: arbitrary YAML text,
//! with `${VAR}` references and `*_file` secrets.
//!
//! `config::parse` runs with a fixed environment (`FUZZ_A=1`, `FUZZ_EMPTY`
//! empty, `FUZZ_TOKEN=tok`, everything else unset) and a file reader that
//! returns a secret for paths ending in `.ok` and an error otherwise, so
//! expansion and secret files are exercised without touching the disk.
//! `yaml::locate` (which places every problem on a line) also runs over
//! the text with key paths made from the text's own words, and
//! `parse_duration` over each line.
//!
//! Properties: parsing returns a config or problems and never panics;
//! every problem can be shown and its line, when given, is a line of the
//! text (or, for a YAML syntax error, the end of the text); a config that
//! parses has at least one server, each with a log path or RCON (a server
//! reached only over RCON has no log); `locate` returns `None` or a line
//! of the text.
#![no_main]

use std::path::Path;

use factorio_isr::config;
use factorio_isr::yaml::{KeyPath, locate};
use libfuzzer_sys::fuzz_target;

fn env(name: &str) -> Option<String> {
    match name {
        "FUZZ_A" => Some("1".to_owned()),
        "FUZZ_EMPTY" => Some(String::new()),
        "FUZZ_TOKEN" => Some("tok".to_owned()),
        _ => None,
    }
}

fn read(path: &Path) -> std::io::Result<String> {
    if path.extension().is_some_and(|e| e == "ok") {
        Ok("secret-from-file\n".to_owned())
    } else {
        Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "no such file",
        ))
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Lines as YAML counts them (`\n`, `\r\n`, a lone `\r`, and NEL, LS
    // and PS end one), including the empty one after a final line break.
    const BREAKS: [char; 5] = ['\n', '\r', '\u{85}', '\u{2028}', '\u{2029}'];
    let lines = 1 + text.matches(BREAKS).count() - text.matches("\r\n").count();
    // libyaml places an error at the end of a text without a final line
    // break on the line after the last (`a: [` fails "at line 2").
    let eof_line = lines + usize::from(!text.ends_with(BREAKS));
    match config::parse(Path::new("fuzz.yml"), text, &env, &read) {
        Ok(config) => {
            assert!(!config.servers.is_empty(), "a config without servers");
            for s in &config.servers {
                // Without logs a server is reached over RCON only.
                assert!(
                    !s.log_paths.is_empty() || s.rcon.is_some(),
                    "server {} with neither logs nor RCON",
                    s.id
                );
            }
            let _ = config.mode();
        }
        Err(problems) => {
            assert!(!problems.0.is_empty(), "an error without a problem");
            for p in &problems.0 {
                if let Some(line) = p.line {
                    assert!((1..=eof_line).contains(&line), "line {line} of {lines}");
                }
            }
            let _ = problems.to_string();
        }
    }

    // Key paths from the text's words: `a`, `a.b`, `a.0.b`, ...
    let words: Vec<&str> = text
        .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))
        .filter(|w| !w.is_empty())
        .take(8)
        .collect();
    let mut path = KeyPath::root();
    for w in words {
        path = match w.parse::<usize>() {
            Ok(n) => path.index(n % 16),
            Err(_) => path.key(w),
        };
        if let Some(line) = locate(text, &path) {
            assert!(
                (1..=lines).contains(&line),
                "located line {line} of {lines}"
            );
        }
    }
    for line in text.lines().take(16) {
        let _ = config::parse_duration(line);
    }
});
