//! Delivery benchmarks: the real daemon binary in bot mode posting to the
//! fake Discord on loopback (tests/support/discord.rs, hosted in this
//! process so its timestamps share our clock).
//!
//! 1. append-to-POST latency: 1,000 JOIN lines, one every 50 ms; for each,
//!    the time from the append to the fake creating the message that holds
//!    it. The fake's channel limit is raised for this part, so what is
//!    measured is the daemon, not Discord's limit. (At one line every 10 ms
//!    the daemon's own cap of 50 requests a second sets in and p99 becomes
//!    the cap's wait, about 0.5 s: correct, but not a latency figure.)
//! 2. burst: 10,000 JOIN lines appended at once (`BURST_LINES` to change)
//!    with the fake enforcing 5 messages per 5 s per channel: messages used,
//!    seconds until the last line arrives, 429s seen.
//!
//! Run: `cargo bench --bench delivery` (about 5 minutes, mostly the burst
//! waiting on the rate limit). Results: docs/PERFORMANCE.md.

#[path = "../tests/support/mod.rs"]
#[allow(unused_imports)]
mod support;

use std::io::Write;
use std::time::{Duration, Instant};

use support::daemon::{Workspace, join_lines};
use support::discord::{Created, FakeDiscord, TOKEN};

const CHANNEL: &str = "channel:1100000000000000001";

fn config(ws: &Workspace, fake: &FakeDiscord) -> std::path::PathBuf {
    let base = format!("\"{}\"", fake.api_base());
    let token = format!("\"{TOKEN}\"");
    ws.config_with_discord(&[("bot_token", &token), ("api_base", &base)], &[])
}

/// The player number of each JOIN line in a message.
fn numbers(m: &Created) -> impl Iterator<Item = usize> + '_ {
    m.content
        .lines()
        .filter_map(|l| l.split("**p").nth(1)?.get(..6)?.parse().ok())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn latency() {
    const LINES: usize = 1000;
    let fake = FakeDiscord::start();
    fake.set_channel_limit(100_000, Duration::from_secs(1));
    let ws = Workspace::new();
    std::fs::write(ws.log(), "").expect("create log");
    let mut run = ws.start(&config(&ws, &fake));
    std::thread::sleep(Duration::from_millis(500));
    let mut log = std::fs::OpenOptions::new()
        .append(true)
        .open(ws.log())
        .expect("log");
    let mut appended = Vec::with_capacity(LINES);
    for i in 0..LINES {
        appended.push(Instant::now());
        log.write_all(join_lines(i..i + 1).as_bytes())
            .expect("append");
        std::thread::sleep(Duration::from_millis(50));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut messages = fake.messages(CHANNEL);
    while messages.iter().flat_map(numbers).count() < LINES && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        messages = fake.messages(CHANNEL);
    }
    let mut samples: Vec<Duration> = messages
        .iter()
        .flat_map(|m| numbers(m).map(move |n| (n, m.at)))
        .filter_map(|(n, at)| appended.get(n).map(|t| at.saturating_duration_since(*t)))
        .collect();
    samples.sort();
    if samples.is_empty() {
        run.stop();
        panic!(
            "nothing was posted; the daemon said:\n{}",
            run.stderr_to_end().join("\n")
        );
    }
    println!(
        "append-to-POST latency, {} lines (one per 50 ms) in {} messages: p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
        samples.len(),
        messages.len(),
        percentile(&samples, 0.5).as_secs_f64() * 1000.0,
        percentile(&samples, 0.99).as_secs_f64() * 1000.0,
        samples[samples.len() - 1].as_secs_f64() * 1000.0
    );
    run.stop();
}

fn burst() {
    let lines: usize = std::env::var("BURST_LINES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let fake = FakeDiscord::start();
    fake.set_channel_limit(5, Duration::from_secs(5));
    let ws = Workspace::new();
    std::fs::write(ws.log(), "").expect("create log");
    let mut run = ws.start(&config(&ws, &fake));
    std::thread::sleep(Duration::from_millis(500));
    let text = join_lines(0..lines);
    let start = Instant::now();
    std::fs::OpenOptions::new()
        .append(true)
        .open(ws.log())
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .expect("append");
    let deadline = start + Duration::from_secs(900);
    let mut messages = Vec::new();
    while Instant::now() < deadline {
        messages = fake.messages(CHANNEL);
        if messages.iter().flat_map(numbers).count() >= lines {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let delivered = messages.iter().flat_map(numbers).count();
    let last = messages
        .last()
        .map_or(Duration::ZERO, |m| m.at.saturating_duration_since(start));
    let chars: usize = messages.iter().map(|m| m.content.chars().count()).sum();
    println!(
        "burst of {lines} lines ({chars} characters): {delivered} delivered in {} messages ({:.0} chars per message), \
         last after {:.1} s, {} 429s",
        messages.len(),
        chars as f64 / messages.len().max(1) as f64,
        last.as_secs_f64(),
        fake.count_status(429)
    );
    run.stop();
}

fn main() {
    latency();
    burst();
}
