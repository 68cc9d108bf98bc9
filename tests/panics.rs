//! A panic is a bug, and it must cost only the input that caused it: the
//! line is skipped (and checkpointed past, so a restart does not meet it
//! again), the same file and the other servers go on, and a bad RCON reply
//! costs one sample. The panics are injected from outside with
//! `ISR_INJECT_PANIC`, which debug builds (the binary tests run) honour.

mod support;

use std::time::{Duration, Instant};

use support::daemon::{Run, Workspace, append, join_line, yaml_path};
use support::rcon::FakeRcon;

/// Text that makes the daemon panic where it reads it.
const MARKER: &str = "💥inject-panic💥";
const ENV: [(&str, &str); 1] = [("ISR_INJECT_PANIC", MARKER)];
const PASSWORD: &str = "rcon-test-password";

/// Two servers, `a` and `b`, each following its own log from the start;
/// `rcon` adds RCON keys to `a`.
fn two_servers(ws: &Workspace, rcon: &str) -> std::path::PathBuf {
    let text = format!(
        "discord:\n  event_channel_id: \"1100000000000000001\"\nhealth:\n  bind: 127.0.0.1:0\n\
         patterns_dir: {}\nstate_dir: {}\nservers:\n  a:\n    log_path: {}\n    start_at: beginning\n{rcon}\
         \n  b:\n    log_path: {}\n    start_at: beginning\n",
        yaml_path(&support::root().join("patterns")),
        yaml_path(&ws.state_dir()),
        yaml_path(&ws.file("a.log")),
        yaml_path(&ws.file("b.log")),
    );
    let path = ws.file("config.yml");
    std::fs::write(&path, text).expect("config");
    path
}

/// `(server, player number)` of the next `n` join messages.
fn joins(run: &mut Run, n: usize) -> Vec<(String, usize)> {
    run.take(n)
        .into_iter()
        .map(|m| {
            (
                m.server.clone(),
                m.player().unwrap_or_else(|| panic!("{m:?}")),
            )
        })
        .collect()
}

/// A line that panics is skipped with an error naming the file and where;
/// the lines after it in the same file and the other server's lines are
/// delivered; after a restart the line is not met again (no second panic,
/// nothing repeated).
#[test]
fn a_panicking_line_is_skipped_and_the_rest_goes_on_across_a_restart() {
    let ws = Workspace::new();
    let config = two_servers(&ws, "");
    let (a, b) = (ws.file("a.log"), ws.file("b.log"));
    append(&a, &format!("{}\n", join_line(1)));
    append(
        &a,
        &format!("2024-04-09 06:08:44 [CHAT] mallory: {MARKER}\n"),
    );
    append(&a, &format!("{}\n", join_line(2)));
    append(&b, &format!("{}\n", join_line(3)));
    let mut run = ws.start_with_env(&config, &ENV);
    let mut got = joins(&mut run, 3);
    got.sort();
    assert_eq!(
        got,
        [
            ("a".to_owned(), 1),
            ("a".to_owned(), 2),
            ("b".to_owned(), 3)
        ]
    );
    let error = run.wait_stderr("a bug: handling a line of");
    assert!(
        error.contains("a.log") && error.contains("the line is skipped"),
        "{error}"
    );
    assert!(run.is_running());
    append(&a, &format!("{}\n", join_line(4)));
    assert_eq!(joins(&mut run, 1), [("a".to_owned(), 4)]);
    assert_eq!(run.stop(), 0);

    let mut run = ws.start_with_env(&config, &ENV);
    run.wait_stderr("following");
    append(&b, &format!("{}\n", join_line(5)));
    assert_eq!(
        joins(&mut run, 1),
        [("b".to_owned(), 5)],
        "nothing repeated"
    );
    assert_eq!(run.stop(), 0);
    let again: Vec<&String> = run
        .stderr()
        .iter()
        .filter(|l| l.contains("a bug"))
        .collect();
    assert!(again.is_empty(), "the line was met again: {again:?}");
}

/// An RCON reply that panics costs that sample: the monitor thread goes
/// on, and once the game answers normally its figures reach /metrics.
#[test]
fn a_panicking_reply_costs_one_sample() {
    let game = FakeRcon::start(PASSWORD);
    game.set_players(&[MARKER], &[]);
    let ws = Workspace::new();
    std::fs::write(ws.file("a.log"), "").expect("log");
    std::fs::write(ws.file("b.log"), "").expect("log");
    let rcon = format!(
        "    rcon_host: 127.0.0.1\n    rcon_port: {}\n    rcon_password: {PASSWORD}\n    collect_interval_seconds: 1\n",
        game.port()
    );
    let config = two_servers(&ws, &rcon);
    let mut run = ws.start_with_env(&config, &ENV);
    run.wait_stderr("a bug: reading the game's answers for a panicked");
    game.set_players(&["alice"], &[]);
    let base = run.health_base();
    let deadline = Instant::now() + Duration::from_secs(15);
    let players = loop {
        let (_, text) = support::http_get(&format!("{base}/metrics"));
        let m = support::prometheus::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let n = m.get("factorio_isr_players_online", &[("server", "a")]);
        if n == Some(1.0) || Instant::now() > deadline {
            break n;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(players, Some(1.0));
    assert!(run.is_running());
    assert_eq!(run.stop(), 0);
}
