//! Durable state end to end, through the real binary in dry-run mode:
//! resuming from the checkpoint after SIGTERM and after kill -9,
//! `max_resume_age`, the state dir's lock, and an unusable state dir.
//!
//! In dry-run mode a message counts as delivered once it is printed, so
//! "exactly once across runs" means: the first run's output followed by the
//! second run's output is every line once, in order.

mod support;

use std::fs;
use std::time::{Duration, Instant};

use support::daemon::{
    DESTINATION, SERVER, Workspace, append, assert_players, assert_sequence, fault_ceiling_kib,
    join_lines, mentions_number, players, spawn_writer,
};

const BEGINNING: (&str, &str) = ("start_at", "beginning");

/// SIGTERM, lines written while the daemon is down, start again with the
/// same state dir: the first run exits with 0, and across both runs every
/// line is printed exactly once, in order; the second run prints nothing of
/// the first again, although `start_at: beginning` is set (it applies to the
/// first run only).
#[test]
fn sigterm_then_restart_resumes_exactly_once() {
    let ws = Workspace::new();
    let log = ws.log();
    append(&log, &join_lines(0..10));
    let config = ws.config(&[BEGINNING]);

    let mut first = ws.start(&config);
    let mut got = first.take(10);
    assert_eq!(first.stop(), 0, "SIGTERM is a clean exit");
    got.extend(first.rest());

    append(&log, &join_lines(10..20));
    let mut second = ws.start(&config);
    got.extend(second.take(10));
    assert_players(&got, 0..20);
    second.assert_next_is_appended(&log, 20);
    assert_eq!(second.stop(), 0);
}

/// SIGTERM while a writer thread is appending lines in a steady stream; the
/// writer goes on while the daemon is down and after it starts again. Across
/// both runs every line is printed exactly once, in order (the first run
/// checkpoints what it printed before exiting, including what it drained);
/// the second run is healthy, within the fault suite's memory ceiling.
#[test]
fn sigterm_mid_stream_then_restart_resumes_exactly_once() {
    const TOTAL: usize = 4000;
    let ws = Workspace::release();
    let log = ws.log();
    fs::write(&log, "").expect("create an empty log");
    let config = ws.config(&[BEGINNING]);

    let mut first = ws.start(&config);
    // About 2,000 lines a second for about 2 s.
    let writer = spawn_writer(log.clone(), 0..TOTAL, 10, Duration::from_millis(5));
    let mut got = first.take(300);
    assert_eq!(first.stop(), 0, "SIGTERM is a clean exit");
    got.extend(first.rest());
    let first_count = got.len();

    let mut second = ws.start(&config);
    got.extend(second.until_player(TOTAL - 1));
    writer.join().expect("the writer finishes");
    eprintln!("first run printed {first_count} lines");
    assert_players(&got, 0..TOTAL);
    second.assert_next_is_appended(&log, TOTAL);
    second.assert_recovered(fault_ceiling_kib(), &[]);
}

/// Events that may be in flight when the process dies: the event queue holds
/// 1024.
const QUEUE: usize = 1024;

/// The checkpoint interval (checkpoints are written at most once a second)
/// plus slack for a loaded machine.
const CHECKPOINT_WINDOW: Duration = Duration::from_secs(2);

/// kill -9 in the middle of a stream, then start again: no line is lost, and
/// only lines that were in flight are printed twice.
///
/// The first run prints a burst of 3,000 lines, stays quiet for 2.5 s (longer
/// than the checkpoint interval, so nothing of the burst is in flight any
/// more), then follows a steady stream and is killed after printing line
/// 3,500. Asserted:
/// - the first run printed lines 0..=m in order, and the second run prints
///   lines s..6000 in order with s <= m + 1 (it starts at or before the first
///   line the first run did not print): together they cover every line;
/// - the duplicates, m + 1 - s, are at most [`QUEUE`] (events in flight)
///   plus the number of lines the first run printed in the last
///   [`CHECKPOINT_WINDOW`] before the kill (printed after the last
///   checkpoint). A daemon that only checkpoints at shutdown would print
///   the whole burst again and fail this;
/// - the second run is healthy, its peak memory under the fault suite's
///   ceiling, and it stops cleanly.
#[test]
fn kill_9_mid_stream_then_restart_loses_nothing() {
    const BURST: usize = 3000;
    const KILL_AFTER: usize = 3500;
    const TOTAL: usize = 6000;
    let ws = Workspace::release();
    let log = ws.log();
    append(&log, &join_lines(0..BURST));
    let config = ws.config(&[BEGINNING]);

    let mut first = ws.start(&config);
    let mut printed = first.take(BURST);
    // The scheme: a quiet spell longer than the checkpoint interval.
    std::thread::sleep(Duration::from_millis(2500));
    // About 1,000 lines a second for about 3 s.
    let writer = spawn_writer(log.clone(), BURST..TOTAL, 10, Duration::from_millis(10));
    printed.extend(first.until_player(KILL_AFTER));
    let killed_at = Instant::now();
    first.kill9();
    printed.extend(first.rest());

    let first_players = players(&printed);
    assert_sequence(&first_players, 0..first_players.len());
    let first_missing = first_players.len();
    let recent = printed
        .iter()
        .filter(|m| m.at + CHECKPOINT_WINDOW >= killed_at)
        .count();
    let bound = QUEUE + recent;

    let mut second = ws.start(&config);
    let again = players(&second.until_player(TOTAL - 1));
    let resumed_at = again[0];
    assert!(
        resumed_at <= first_missing,
        "lost lines: the first run printed 0..{first_missing}, the second resumed at {resumed_at}"
    );
    assert_sequence(&again, resumed_at..TOTAL);
    let duplicates = first_missing - resumed_at;
    eprintln!(
        "first run printed {first_missing} lines ({recent} in the last {CHECKPOINT_WINDOW:?}); \
         second run resumed at {resumed_at}: {duplicates} duplicates, bound {bound}"
    );
    assert!(
        duplicates <= bound,
        "{duplicates} lines printed twice; at most {QUEUE} queued + {recent} printed in the \
         last {CHECKPOINT_WINDOW:?} before the kill = {bound} may be"
    );

    writer.join().expect("the writer finishes");
    second.assert_next_is_appended(&log, TOTAL);
    second.assert_recovered(fault_ceiling_kib(), &[]);
}

/// A checkpoint older than `max_resume_age` is not replayed: after a clean
/// stop, 50 lines are written, and the second run starts 2 s later with
/// `max_resume_age: 1s`. It prints exactly one `notice` whose content says
/// "skipped 50 lines", none of the 50 lines, and then the lines written
/// after it started. (`start_at: beginning` stays set: it does not apply
/// once a checkpoint exists, old or not.)
#[test]
fn old_checkpoint_is_skipped_with_one_notice() {
    let ws = Workspace::new();
    let log = ws.log();
    append(&log, &join_lines(0..5));

    let mut first = ws.start(&ws.config(&[BEGINNING]));
    assert_players(&first.take(5), 0..5);
    assert_eq!(first.stop(), 0);
    assert!(first.rest().is_empty());

    append(&log, &join_lines(5..55));
    let config = ws.config(&[BEGINNING, ("max_resume_age", "1s")]);
    // The scheme: let the checkpoint grow older than max_resume_age.
    std::thread::sleep(Duration::from_secs(2));

    let mut second = ws.start(&config);
    let notice = second.next();
    assert_eq!(notice.kind, "notice", "{notice:?}");
    assert_eq!(notice.server, SERVER);
    assert_eq!(notice.destination, DESTINATION);
    assert!(
        notice.content.contains("skipped 50 lines"),
        "{:?}",
        notice.content
    );
    // Written after the notice, so after the daemon chose where to start.
    append(&log, &join_lines(55..60));
    // A second notice or any of the 50 skipped lines would come first.
    assert_players(&second.take(5), 55..60);
    second.assert_next_is_appended(&log, 60);
    assert_eq!(second.stop(), 0);
}

/// A second daemon on the same state dir is refused: it exits with a
/// non-zero code, prints no message, and its stderr names the first
/// daemon's pid and the state dir; the first keeps running and following.
#[test]
fn second_daemon_on_the_same_state_dir_is_refused() {
    let ws = Workspace::new();
    let log = ws.log();
    append(&log, &join_lines(0..1));
    let config = ws.config(&[BEGINNING]);

    let mut first = ws.start(&config);
    assert_players(&first.take(1), 0..1); // running, lock taken

    let mut second = ws.start(&config);
    let status = second
        .wait_exit(support::daemon::PATIENCE)
        .expect("the second daemon exits");
    assert!(
        matches!(status.code(), Some(c) if c != 0),
        "exit status {status:?}"
    );
    let printed = second.rest();
    assert!(printed.is_empty(), "refused before reading: {printed:?}");
    let stderr = second.stderr_to_end().join("\n");
    let state_dir = ws.state_dir();
    let state_dir = state_dir.to_str().expect("UTF-8 path");
    assert!(stderr.contains(state_dir), "names {state_dir}:\n{stderr}");
    assert!(
        mentions_number(&stderr, first.pid()),
        "names pid {}:\n{stderr}",
        first.pid()
    );

    assert!(first.is_running());
    first.assert_next_is_appended(&log, 1);
    assert_eq!(first.stop(), 0);
}

/// A state dir that cannot be used at start (a path under a regular file;
/// a regular file) does not keep the bridge down: events still flow,
/// stderr names the state dir, and /health answers 503 with the reason.
#[test]
fn an_unusable_state_dir_runs_without_checkpoints_and_is_unhealthy() {
    for under_a_file in [true, false] {
        let ws = Workspace::new();
        append(&ws.log(), &join_lines(0..1));
        let blocker = ws.file("blocker");
        fs::write(&blocker, "a regular file\n").expect("write a regular file");
        let state_dir = if under_a_file {
            blocker.join("state")
        } else {
            blocker
        };
        let config = ws.config_with_state_dir(&state_dir, &[BEGINNING]);

        let mut run = ws.start(&config);
        let named = state_dir.to_str().expect("UTF-8 path");
        let line = run.wait_stderr("running without checkpoints");
        assert!(line.contains(named), "names {named}: {line}");
        let _ = run.take(1);
        let base = run.health_base();
        let (status, body) = support::http_get(&format!("{base}/health"));
        assert_eq!(status, 503, "{body}");
        assert!(body.contains("the state dir cannot be used"), "{body}");
        assert_eq!(run.stop(), 0);
    }
}

/// A checkpoint that cannot be written (here its temp file's name is taken
/// by a directory, which stops root too) is reported once, delivery goes
/// on, and the follower does not spin: it retries once a second. The CPU
/// bound is loose (a busy loop burns a whole core).
#[test]
fn a_failing_checkpoint_write_is_reported_once_without_spinning() {
    let ws = Workspace::new();
    append(&ws.log(), &join_lines(0..3));
    let mut run = ws.start(&ws.config(&[BEGINNING]));
    let _ = run.take(3);
    let deadline = Instant::now() + Duration::from_secs(10);
    let checkpoint = loop {
        let found = fs::read_dir(ws.state_dir())
            .expect("state dir")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.to_string_lossy().ends_with(".checkpoint.json"));
        if let Some(p) = found {
            break p;
        }
        assert!(Instant::now() < deadline, "no checkpoint was written");
        std::thread::sleep(Duration::from_millis(50));
    };
    fs::create_dir(checkpoint.with_extension("tmp")).expect("block the temp file");
    let cpu = |pid: u32| -> u64 {
        fs::read_dir(format!("/proc/{pid}/task"))
            .expect("tasks")
            .filter_map(|t| fs::read_to_string(t.ok()?.path().join("schedstat")).ok())
            .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
            .sum()
    };
    let before = cpu(run.pid());
    append(&ws.log(), &join_lines(3..6));
    let _ = run.take(3);
    std::thread::sleep(Duration::from_secs(3));
    let used = cpu(run.pid()) - before;
    assert_eq!(run.stop(), 0);
    let errors = run
        .stderr_to_end()
        .iter()
        .filter(|l| l.contains("cannot write the checkpoint"))
        .count();
    assert_eq!(errors, 1, "reported once");
    assert!(
        used < 1_000_000_000,
        "{used} ns of CPU in 3 s: the follower spins"
    );
}
