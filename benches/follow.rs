//! Follower benchmarks against the real daemon binary (dry run):
//!
//! 1. append-to-event latency: a line is appended to the followed log and
//!    the clock stops when the daemon prints its message on stdout; 1,000
//!    lines at a realistic pace (one every 5 ms), with inotify and with
//!    polling (250 ms); p50, p99 and max.
//! 2. idle CPU: the daemon follows 10 files and nothing happens for 60 s
//!    (`IDLE_SECS` to change); CPU time of all its threads from
//!    /proc/<pid>/task/*/schedstat (nanoseconds).
//!
//! Run: `cargo bench --bench follow`. Results and method: docs/PERFORMANCE.md.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const LINES: usize = 1000;
const PACE: Duration = Duration::from_millis(5);

fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_factorio-isr")
}

fn patterns() -> String {
    format!("{}/patterns", env!("CARGO_MANIFEST_DIR"))
}

fn config(dir: &Path, servers: usize, watch: &str) -> std::path::PathBuf {
    let mut text = format!(
        "discord:\n  event_channel_id: \"1100000000000000001\"\nstate_dir: {}\npatterns_dir: {}\nservers:\n",
        dir.join("state").display(),
        patterns()
    );
    for i in 0..servers {
        let log = dir.join(format!("console-{i}.log"));
        std::fs::write(&log, "").expect("create log");
        text.push_str(&format!(
            "  s{i}:\n    log_path: {}\n    watch: {watch}\n    poll_interval: 250ms\n",
            log.display()
        ));
    }
    let path = dir.join("config.yml");
    std::fs::write(&path, text).expect("write config");
    path
}

fn start(config: &Path) -> Child {
    Command::new(binary())
        .args(["--config", config.to_str().expect("utf-8 path")])
        .env("LOG_LEVEL", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("daemon starts")
}

fn stop(mut child: Child) {
    let _ = Command::new("kill")
        .args(["-s", "TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn latency(watch: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(dir.path(), 1, watch);
    let mut child = start(&cfg);
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut log = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.path().join("console-0.log"))
        .expect("log");
    // Let it start and open the file.
    std::thread::sleep(Duration::from_millis(500));
    let mut samples = Vec::with_capacity(LINES);
    let mut line = String::new();
    for i in 0..LINES {
        let t0 = Instant::now();
        writeln!(log, "2024-04-09 06:08:43 [JOIN] p{i} joined the game").expect("append");
        line.clear();
        out.read_line(&mut line).expect("daemon output");
        samples.push(t0.elapsed());
        assert!(
            line.contains(&format!("**p{i}**")),
            "unexpected output: {line}"
        );
        std::thread::sleep(PACE);
    }
    stop(child);
    samples.sort();
    println!(
        "append-to-event latency, {watch:<7} {LINES} lines: p50 {:>8.2} ms  p99 {:>8.2} ms  max {:>8.2} ms",
        percentile(&samples, 0.50).as_secs_f64() * 1000.0,
        percentile(&samples, 0.99).as_secs_f64() * 1000.0,
        samples[samples.len() - 1].as_secs_f64() * 1000.0
    );
}

/// CPU time used so far by every thread of a process, in nanoseconds
/// (the first field of each thread's schedstat: time spent on a CPU).
fn cpu_ns(pid: u32) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .expect("proc task dir")
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

fn idle_cpu() {
    let secs: u64 = std::env::var("IDLE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(dir.path(), 10, "auto");
    let child = start(&cfg);
    std::thread::sleep(Duration::from_secs(2));
    let before = cpu_ns(child.id());
    std::thread::sleep(Duration::from_secs(secs));
    let after = cpu_ns(child.id());
    let ms = (after - before) as f64 / 1e6;
    println!(
        "idle CPU, 10 followed files, {secs} s: {ms:.2} ms ({:.2} ms per minute)",
        ms * 60.0 / secs as f64
    );
    stop(child);
}

fn main() {
    latency("auto");
    latency("poll");
    idle_cpu();
}
