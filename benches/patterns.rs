//! Pattern-matching throughput over a generated 1,000,000-line mixed log
//! with the full shipped pattern set, on one thread.
//!
//! Run: `cargo bench --bench patterns` (release profile: LTO, opt-level as
//! shipped). Prints lines/s for classification alone and for classification
//! plus building the event (captures copied, template rendered and escaped),
//! best and median of several rounds. Method and results: docs/PERFORMANCE.md.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use factorio_isr::event::Position;
use factorio_isr::patterns::PatternSet;
use factorio_isr::patterns::load::load_dirs;

const LINES: usize = 1_000_000;
const ROUNDS: usize = 5;

#[path = "../tests/support/rng.rs"]
mod rng;
use rng::Rng;

impl Rng {
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

const NAMES: &[&str] = &[
    "bardella",
    "j.doe-2",
    "Player_123",
    "Alice",
    "some-player",
    "日本語",
    "x",
];
const CHAT: &[&str] = &[
    "lol",
    "anyone building a mall?",
    "time: 12:30, ok?",
    "look at [gps=12,-4,nauvis] and [item=iron-plate]",
    "",
    "@everyone the base is on fire **help**",
    "a somewhat longer chat message about trains, signals, chain signals and deadlocks at the main bus",
];

/// The mix of a busy server's console log: mostly chat and stdout noise.
fn generate() -> Vec<String> {
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let mut lines = Vec::with_capacity(LINES);
    for i in 0..LINES {
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

fn rate(lines: usize, secs: f64) -> f64 {
    lines as f64 / secs
}

fn main() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("patterns");
    let patterns = load_dirs(&[dir]).unwrap_or_else(|e| panic!("shipped patterns: {e}"));
    let set = PatternSet::new(&patterns, |_| true).expect("the shipped patterns make a set");
    let lines = generate();
    let bytes: usize = lines.iter().map(|l| l.len() + 1).sum();
    println!(
        "pattern throughput: {} lines ({:.1} MiB), {} patterns, {ROUNDS} rounds, 1 thread",
        lines.len(),
        bytes as f64 / (1 << 20) as f64,
        set.patterns().len()
    );

    // The first stage alone: which patterns match, without captures.
    let set_only =
        regex::RegexSet::new(set.patterns().iter().map(|p| p.regex())).expect("set builds");
    let mut stage1 = Vec::new();
    let mut classify = Vec::new();
    let mut full = Vec::new();
    let mut matched = 0;
    let server: Arc<str> = Arc::from("bench");
    for _ in 0..ROUNDS {
        let start = Instant::now();
        let first = lines
            .iter()
            .filter(|l| set_only.matches(l).iter().next().is_some())
            .count();
        std::hint::black_box(first);
        stage1.push(rate(lines.len(), start.elapsed().as_secs_f64()));

        let mut scratch = set.scratch();
        let start = Instant::now();
        let mut hits = 0usize;
        for line in &lines {
            if matches!(set.classify(line, &mut scratch), Ok(Some(_))) {
                hits += 1;
            }
        }
        classify.push(rate(lines.len(), start.elapsed().as_secs_f64()));
        matched = hits;

        let start = Instant::now();
        let mut content_bytes = 0usize;
        for (i, line) in lines.iter().enumerate() {
            if let Ok(Some(m)) = set.classify(line, &mut scratch) {
                let event = m.to_event(
                    &server,
                    "Bench",
                    Position {
                        source: 0,
                        seq: i as u64,
                    },
                );
                content_bytes += event.content.len();
            }
        }
        std::hint::black_box(content_bytes);
        full.push(rate(lines.len(), start.elapsed().as_secs_f64()));
    }
    let report = |name: &str, v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        println!(
            "{name:<28} best {:>12.0} lines/s   median {:>12.0} lines/s",
            v[v.len() - 1],
            v[v.len() / 2]
        );
    };
    println!(
        "lines producing an event: {matched} ({:.0}%)",
        matched as f64 * 100.0 / lines.len() as f64
    );
    report("RegexSet stage only", &mut stage1);
    report("classify", &mut classify);
    report("classify + build event", &mut full);
}
