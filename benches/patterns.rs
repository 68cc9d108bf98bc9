//! Pattern-matching throughput over a generated 1,000,000-line mixed log
//! with the full shipped pattern set, on one thread.
//!
//! Run: `cargo bench --bench patterns` (release profile: LTO, opt-level as
//! shipped). Prints lines/s for classification alone and for classification
//! plus building the event (captures copied, template rendered and escaped),
//! best and median of several rounds. Method and results: docs/PERFORMANCE.md.

use std::sync::Arc;
use std::time::Instant;

use factorio_isr::event::Position;

const LINES: usize = 1_000_000;
const ROUNDS: usize = 5;

#[path = "../tests/support/mod.rs"]
#[allow(unused_imports)]
mod support;

fn rate(lines: usize, secs: f64) -> f64 {
    lines as f64 / secs
}

fn main() {
    let set = support::shipped_set();
    let lines = support::lines::console_mix(LINES);
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
