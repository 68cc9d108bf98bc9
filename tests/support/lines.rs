//! Generated console logs for the benchmarks: the mix of a busy server
//! ([`console_mix`], for pattern throughput) and numbered chat lines
//! ([`chat_lines`], for the delivery burst). Deterministic: a seed gives
//! the same lines on every host, so runs compare.

use std::ops::Range;

use super::rng::Rng;

/// Player names as Factorio allows them: dots, dashes, digits, non-Latin.
pub const NAMES: &[&str] = &[
    "bardella",
    "j.doe-2",
    "Player_123",
    "Alice",
    "some-player",
    "日本語",
    "x",
];

/// Chat as players write it: short, empty, rich text, mentions, markdown.
pub const CHAT: &[&str] = &[
    "lol",
    "anyone building a mall?",
    "time: 12:30, ok?",
    "look at [gps=12,-4,nauvis] and [item=iron-plate]",
    "",
    "@everyone the base is on fire **help**",
    "a somewhat longer chat message about trains, signals, chain signals and deadlocks at the main bus",
];

/// `n` lines in the mix of a busy server's console log: 45% chat (5% of it
/// server chat), 10% join/leave, some shouts, kicks, commands, deaths,
/// research and rocket lines, the relay's own echo, and 26% stdout
/// diagnostics and errors that must give no event (67% give one).
pub fn console_mix(n: usize) -> Vec<String> {
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let mut lines = Vec::with_capacity(n);
    for i in 0..n {
        let ts = format!(
            "2024-04-09 {:02}:{:02}:{:02}",
            (i / 3600) % 24,
            (i / 60) % 60,
            i % 60
        );
        let name = rng.pick(NAMES);
        let line = match rng.next() % 100 {
            0..=39 => format!("{ts} [CHAT] {name}: {}", rng.pick(CHAT)),
            40..=44 => format!("{ts} [CHAT] <server>: {}", rng.pick(CHAT)),
            45..=49 => format!("{ts} [JOIN] {name} joined the game"),
            50..=54 => format!("{ts} [LEAVE] {name} left the game"),
            55..=56 => format!("{ts} [SHOUT] {name} (shout): {}", rng.pick(CHAT)),
            57 => format!("{ts} [KICK] {name} was kicked by <server>. Reason: unspecified."),
            58 => format!("{ts} [COMMAND] {name} (command): game.print(1)"),
            59..=62 => format!("{ts} {name} was killed by a small biter."),
            63..=65 => format!("[RESEARCH] Finished researching Automation {}.", i % 7),
            66 => format!("{name} launched a rocket!"),
            67 => format!("{ts} [CHAT] <server>: [Discord] alice: relayed"),
            68..=84 => format!(
                "{:>8}.{:03} Info ServerMultiplayerManager.cpp:943: updateTick({i}) received stateChanged peerID(1)",
                i / 60,
                i % 1000
            ),
            85..=92 => format!(
                "{:>8}.{:03} Info AppManager.cpp:287: Saving to _autosave{} (blocking).",
                i / 60,
                i % 1000,
                i % 9
            ),
            _ => format!(
                "{ts} Cannot execute command. Error: [string \"blah\"]:1: syntax error near <eof>"
            ),
        };
        lines.push(line);
    }
    lines
}

/// Chat lines `range`, each ended by a newline, as one string: player `n`
/// is `p` and six digits (as in [`super::daemon::join_line`], so a message
/// names its lines), saying one of [`CHAT`] chosen by `seed`.
pub fn chat_lines(range: Range<usize>, seed: u64) -> String {
    let mut rng = Rng(seed | 1);
    let mut text = String::with_capacity(range.len() * 64);
    for n in range {
        text.push_str(&format!(
            "2024-04-09 06:08:43 [CHAT] p{n:06}: {}\n",
            rng.pick(CHAT)
        ));
    }
    text
}

/// The numbers of the players a message's lines name (`**p000042**`), in
/// order: which lines of [`chat_lines`] or join lines it holds.
pub fn players_in(content: &str) -> impl Iterator<Item = usize> + '_ {
    content.lines().filter_map(|line| {
        let at = line.find("**p")? + 3;
        let digits = line.get(at..at + 8)?.strip_suffix("**")?;
        digits.parse().ok()
    })
}
