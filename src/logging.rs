//! Log output on stderr: plain lines for people, JSON lines for collectors.
//!
//! `LOG_LEVEL` (or `RUST_LOG`) sets the filter, `LOG_FORMAT=json` the shape.
//! stdout is left alone: in dry-run mode it carries the messages.
//! Each JSON record has `ts`, `level`, `target`, `msg`, and `thread` plus
//! `server` when logged from a per-server thread (named `tail/<server>`).

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

/// Installs the global logger; call once, first thing in `main`.
pub fn init() {
    let filter = std::env::var("LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".to_owned());
    let json = std::env::var("LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let mut builder = env_logger::Builder::new();
    builder.parse_filters(&filter.to_ascii_lowercase().replace("warning", "warn"));
    // The HTTP and TLS crates log raw requests at debug and trace level,
    // headers (the bot token) and paths (a webhook's token) included: they
    // never get past warnings, whatever LOG_LEVEL says.
    for quiet in ["ureq", "ureq_proto", "rustls", "tungstenite"] {
        builder.filter_module(quiet, log::LevelFilter::Warn);
    }
    builder.format(move |out, record| {
        let thread = std::thread::current();
        let thread = thread.name().unwrap_or("main");
        let ts = rfc3339(SystemTime::now());
        if json {
            let mut obj = serde_json::json!({
                "ts": ts,
                "level": record.level().as_str(),
                "target": record.target(),
                "msg": record.args().to_string(),
                "thread": thread,
            });
            if let Some(server) = server_of(thread) {
                obj["server"] = server.into();
            }
            writeln!(out, "{obj}")
        } else {
            writeln!(
                out,
                "{ts} {:<5} [{thread}] {}",
                record.level(),
                printable(&record.args().to_string())
            )
        }
    });
    // A second init (tests) keeps the first logger.
    let _ = builder.try_init();
}

/// A message safe for a terminal and a journal: messages quote text from
/// players, mods and the network, whose control characters (terminal
/// escapes, NUL) are shown escaped (`\u{1b}`), and a line break is
/// indented, so no text can pass for a record of its own.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\n    "),
            c if c.is_control() => out.extend(c.escape_unicode()),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// The server a per-server thread works for: `tail/prod`, and `tail/prod#1`
/// for its second file.
fn server_of(thread: &str) -> Option<&str> {
    let (_, rest) = thread.split_once('/')?;
    Some(rest.split_once('#').map_or(rest, |(s, _)| s))
}

/// `2026-11-27T02:53:27.123Z`, without a date crate.
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, day) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}

/// Days since 1970-01-01 to (year, month, day); Howard Hinnant's algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn server_from_thread_name() {
        assert_eq!(server_of("tail/prod"), Some("prod"));
        assert_eq!(server_of("tail/prod#1"), Some("prod"));
        assert_eq!(server_of("discord"), None);
    }

    #[test]
    fn control_characters_are_shown_escaped() {
        assert!(matches!(
            printable("plain é"),
            std::borrow::Cow::Borrowed(_)
        ));
        assert_eq!(printable("x\u{1b}[2Jy\0z"), "x\\u{1b}[2Jy\\u{0}z");
        assert_eq!(
            printable("one\n2026-11-27T00:00:00.000Z ERROR forged"),
            "one\n    2026-11-27T00:00:00.000Z ERROR forged"
        );
    }

    #[test]
    fn formats_utc_timestamps() {
        let at = |s: u64| rfc3339(UNIX_EPOCH + Duration::from_millis(s));
        assert_eq!(at(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(at(1_795_748_007_123), "2026-11-27T02:53:27.123Z");
    }
}
