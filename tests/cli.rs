//! The real binary, end to end: the bundled dry-run example, following an
//! appended line, clean shutdown on SIGTERM and SIGINT, JSON logs, replay,
//! check-config and exit codes.

mod support;

use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use support::{Daemon, command, lines_of, root, signal};

/// How long to wait for output that should come at once; generous so a
/// loaded CI machine does not fail the test, never a performance claim.
const PATIENCE: Duration = Duration::from_secs(10);

/// Copies the bundled example (config, log, patterns) into a temp dir so the
/// test can append to the log without touching the repository.
fn example_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("config")).expect("mkdir");
    std::fs::create_dir_all(dir.path().join("patterns")).expect("mkdir");
    std::fs::copy(
        root().join("config/example-console.log"),
        dir.path().join("config/example-console.log"),
    )
    .expect("copy");
    // The example as shipped, but on a free port: tests run side by side.
    let example = std::fs::read_to_string(root().join("config/example.yml")).expect("example");
    assert!(
        example.contains("bind: 127.0.0.1:8080"),
        "the example's health.bind"
    );
    std::fs::write(
        dir.path().join("config/example.yml"),
        example.replace("bind: 127.0.0.1:8080", "bind: 127.0.0.1:0"),
    )
    .expect("write the example");
    for e in std::fs::read_dir(root().join("patterns")).expect("patterns") {
        let p = e.expect("entry").path();
        std::fs::copy(
            &p,
            dir.path()
                .join("patterns")
                .join(p.file_name().expect("name")),
        )
        .expect("copy");
    }
    dir
}

fn next_json(rx: &mpsc::Receiver<String>) -> serde_json::Value {
    let line = rx.recv_timeout(PATIENCE).expect("a message line in time");
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
}

fn start(
    dir: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> (Daemon, mpsc::Receiver<String>, mpsc::Receiver<String>) {
    let mut cmd = command(dir);
    cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("binary starts");
    let out = lines_of(child.stdout.take().expect("stdout"));
    let err = lines_of(child.stderr.take().expect("stderr"));
    (Daemon(child), out, err)
}

/// In order; the `[ISR]` lines are the companion mod's (patterns/mod-events.yml).
const EXAMPLE_CONTENTS: &[&str] = &[
    "🟢 **Example Server** started after an update (Factorio 2.0.72)",
    "👋 **bardella** joined the game",
    "🖥️ **Server**: welcome, restart at 20:00",
    "💬 **bardella**: lol, anyone building a mall?",
    "👋 **j.doe-2** joined the game",
    "💬 **j.doe-2**: @\u{200B}everyone look at (map 12, -4 on nauvis) \\*\\*now\\*\\*",
    "🔬 Research started: **Automation**",
    "✅ Research completed: **Automation**",
    "💀 **j.doe-2** was killed by a small biter",
    "🔄 **j.doe-2** respawned",
    "📢 **bardella** shouts: behind you!",
    "⌨️ **bardella** ran a command: game.player.print(game.tick)",
    "⭐ **j.doe-2** was promoted to admin by bardella",
    "🔬 Research started: **logistics-2**",
    "🚂 **bardella** was run over by a train (locomotive)",
    "🔄 **bardella** respawned",
    "🏆 **bardella** earned the achievement **Smoke me a kipper**",
    "✅ Research completed: **logistics-2**",
    "🚀 **bardella** launched a rocket!",
    "🚀 A rocket was launched from **nauvis** (launch 2)",
    "👢 **griefer** was kicked by bardella. Reason: spamming belts",
    "🔨 **griefer** was banned by bardella. Reason: came back",
    "🚪 **j.doe-2** left the game",
    "🚪 **bardella** left the game",
];

/// The README's first command: the example's messages (the companion mod's
/// deaths, research and rockets among them), then following the file, then
/// a clean exit on SIGTERM (the daemon's own grace is 2 s).
#[test]
fn bundled_example_dry_run_prints_follows_and_stops_cleanly() {
    let dir = example_dir();
    let (mut daemon, out, err) = start(dir.path(), &["--config", "config/example.yml"], &[]);
    let mut seen = Vec::new();
    for expected in EXAMPLE_CONTENTS {
        let msg = next_json(&out);
        assert_eq!(msg["content"], *expected);
        seen.push((msg["kind"].clone(), msg["content"].clone()));
        assert_eq!(msg["allowed_mentions"], serde_json::json!({"parse": []}));
        assert_eq!(msg["server"], "example");
        let want = if msg["kind"] == "chat" {
            "channel:1100000000000000002"
        } else {
            "channel:1100000000000000001"
        };
        assert_eq!(msg["destination"], want, "{msg}");
    }
    // The companion mod's lines reach Discord as deaths, research and
    // rockets (issue #10).
    for (kind, content) in [
        (
            "death",
            "🚂 **bardella** was run over by a train (locomotive)",
        ),
        ("research", "✅ Research completed: **logistics-2**"),
        (
            "rocket",
            "🚀 A rocket was launched from **nauvis** (launch 2)",
        ),
    ] {
        assert!(
            seen.contains(&(kind.into(), content.into())),
            "{kind}: {content} in {seen:#?}"
        );
    }
    // The relay echo in the example was not posted, and nothing else came.
    assert!(out.recv_timeout(Duration::from_millis(300)).is_err());

    let mut log = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.path().join("config/example-console.log"))
        .expect("open log");
    // A mod line cut short is skipped with a warning; following goes on.
    writeln!(log, r#"[ISR] {{"event":"player_died","player":}}"#).expect("append");
    writeln!(log, "2024-04-09 07:00:00 [JOIN] late_comer joined the game").expect("append");
    assert_eq!(
        next_json(&out)["content"],
        "👋 **late\\_comer** joined the game"
    );

    signal(&daemon.0, "TERM");
    let status = daemon
        .wait_exit(Duration::from_secs(5))
        .expect("exits after SIGTERM");
    assert_eq!(status.code(), Some(0));
    let logs: Vec<String> = err.try_iter().collect();
    assert!(logs.iter().any(|l| l.contains("dry run")), "{logs:#?}");
    assert!(
        logs.iter().any(|l| l.contains("WARN")
            && l.contains("line skipped, its JSON is malformed (more such lines of this file are logged at debug level): config/example-console.log (the line ending at byte ")
            && l.contains("pattern `mod-server-new-game`")),
        "{logs:#?}"
    );
    assert!(
        logs.iter().any(|l| l.contains("received SIGTERM")),
        "{logs:#?}"
    );
}

#[test]
fn sigint_stops_and_missing_file_is_awaited_then_followed() {
    let dir = example_dir();
    let log = dir.path().join("config/example-console.log");
    std::fs::remove_file(&log).expect("remove log");
    let (mut daemon, out, err) = start(
        dir.path(),
        &["--config", "config/example.yml"],
        &[("LOG_FORMAT", "json"), ("LOG_LEVEL", "info")],
    );
    // Said once in the log, as JSON with the server named.
    let waiting = loop {
        let line = err.recv_timeout(PATIENCE).expect("log line");
        let v: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
        for key in ["ts", "level", "target", "msg"] {
            assert!(v.get(key).is_some(), "{key} missing: {line}");
        }
        if v["msg"]
            .as_str()
            .is_some_and(|m| m.starts_with("waiting for"))
        {
            break v;
        }
    };
    assert_eq!(waiting["server"], "example");
    std::fs::write(
        &log,
        "2024-04-09 07:00:00 [JOIN] newcomer joined the game\n",
    )
    .expect("create log");
    assert_eq!(
        next_json(&out)["content"],
        "👋 **newcomer** joined the game"
    );
    signal(&daemon.0, "INT");
    let status = daemon
        .wait_exit(Duration::from_secs(5))
        .expect("exits after SIGINT");
    assert_eq!(status.code(), Some(0));
    let waits = err.try_iter().filter(|l| l.contains("waiting for")).count();
    assert_eq!(waits, 0, "the wait is logged once, not repeated");
}

#[test]
fn check_config_accepts_the_example_and_rejects_broken_patterns() {
    let dir = example_dir();
    let out = command(dir.path())
        .args(["check-config", "--config", "config/example.yml"])
        .output()
        .expect("runs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("config/example.yml: ok") && stdout.contains("mode: DryRun"),
        "{stdout}"
    );

    std::fs::write(
        dir.path().join("patterns/broken.yml"),
        "patterns:\n  - name: b\n    kind: chat\n    regex: '('\n    template: x\n",
    )
    .expect("write");
    let out = command(dir.path())
        .args(["--config", "config/example.yml", "check-config"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("patterns/broken.yml:4: pattern `b`: invalid regex"),
        "{stderr}"
    );
}

#[test]
fn unrouted_events_are_a_config_error() {
    let dir = example_dir();
    let config = std::fs::read_to_string(dir.path().join("config/example.yml")).expect("read");
    let config = config.replace("  event_channel_id: \"1100000000000000001\"\n", "");
    std::fs::write(dir.path().join("config/example.yml"), config).expect("write");
    let out = command(dir.path())
        .args(["check-config", "--config", "config/example.yml"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("servers.example: `join` events have no destination"),
        "{stderr}"
    );
}

#[test]
fn channels_keys_must_mean_something() {
    let dir = example_dir();
    let config = std::fs::read_to_string(dir.path().join("config/example.yml")).expect("read");
    let config = config.replace("      chat: ", "      caht: ");
    let line = 1 + config
        .lines()
        .position(|l| l.contains("caht:"))
        .expect("the misspelt key");
    std::fs::write(dir.path().join("config/example.yml"), config).expect("write");
    let out = command(dir.path())
        .args(["check-config", "--config", "config/example.yml"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "config/example.yml:{line}: servers.example.channels.caht: `caht` is neither an event kind"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("did you mean `chat`?"), "{stderr}");
}

#[test]
fn replay_prints_events_and_summary() {
    let fixture = support::fixture("console-real.log");
    let fixture = fixture.to_str().expect("utf-8 path");
    let out = command(&root())
        .args(["replay", fixture, "--summary"])
        .output()
        .expect("runs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = String::from_utf8_lossy(&out.stdout);
    let counts: Vec<(String, u64)> = summary
        .lines()
        .map(|l| {
            let (k, n) = l.rsplit_once(' ').expect("two columns");
            (k.trim().to_owned(), n.parse().expect("count"))
        })
        .collect();
    let want = [
        ("(no event)", 17),
        ("ban", 1),
        ("chat", 9),
        ("command", 2),
        ("join", 5),
        ("kick", 2),
        ("leave", 4),
        ("unban", 1),
        ("total", 41),
    ];
    let want: Vec<(String, u64)> = want.iter().map(|(k, n)| ((*k).to_owned(), *n)).collect();
    assert_eq!(
        counts, want,
        "without a config every kind is on, command included"
    );

    let out = command(&root())
        .args(["replay", fixture])
        .output()
        .expect("runs");
    let events: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(events.len(), 24);
    assert_eq!(events[0]["line"], 6);
    assert_eq!(events[0]["kind"], "join");
    assert_eq!(events[0]["pattern"], "join");
    assert_eq!(events[0]["fields"], serde_json::json!({"player": "User"}));
    assert_eq!(events[0]["content"], "👋 **User** joined the game");
}

#[test]
fn replay_with_other_pattern_dirs_and_bad_server() {
    let dir = example_dir();
    let log = dir.path().join("config/example-console.log");
    let log = log.to_str().expect("utf-8");
    let patterns = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        patterns.path().join("only.yml"),
        "patterns:\n  - name: rocket\n    kind: rocket\n    regex: 'launched a rocket'\n    template: 'rocket!'\n",
    )
    .expect("write");
    let out = command(dir.path())
        .args([
            "replay",
            log,
            "--summary",
            "--patterns",
            patterns.path().to_str().expect("utf-8"),
        ])
        .output()
        .expect("runs");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "(no event)   27\nrocket       1\ntotal        28\n"
    );

    let out = command(dir.path())
        .args([
            "--config",
            "config/example.yml",
            "replay",
            log,
            "--server",
            "nope",
        ])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("no server `nope` in the config (servers: example)")
    );
}

#[test]
fn replay_refuses_a_broken_default_config() {
    let dir = example_dir();
    std::fs::write(dir.path().join("config/servers.yml"), "servers: [\n").expect("write");
    let out = command(dir.path())
        .args(["replay", "config/example-console.log"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("config/servers.yml:2: invalid YAML"),
        "{stderr}"
    );
}

#[test]
fn version_help_and_usage_errors() {
    let out = command(&root()).arg("--version").output().expect("runs");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("factorio-isr {}\n", env!("CARGO_PKG_VERSION"))
    );
    let out = command(&root()).arg("--help").output().expect("runs");
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        help.contains(
            "Exit codes: 0 ok, 1 runtime failure (or a failed check), 2 bad usage or config."
        ),
        "{help}"
    );
    for command in [
        "check-config",
        "replay FILE",
        "doctor",
        "healthcheck [URL]",
        "SIGHUP",
    ] {
        assert!(help.contains(command), "--help lacks {command}");
    }
    let out = command(&root()).arg("--frobnicate").output().expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown option --frobnicate"));
}

#[test]
fn no_config_anywhere_explains_how_to_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = command(dir.path()).output().expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("config/servers.yml does not exist and FACTORIO_LOG_PATH is not set"),
        "{stderr}"
    );
}

#[test]
fn isr_config_variable_selects_the_file() {
    let dir = example_dir();
    let out = command(dir.path())
        .arg("check-config")
        .env("ISR_CONFIG", "config/example.yml")
        .output()
        .expect("runs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Bot mode starts and says so, and the token appears in no output even at
/// trace level (Discord is unreachable here: a closed loopback port).
#[test]
fn bot_mode_starts_without_printing_the_token() {
    let dir = example_dir();
    let config = std::fs::read_to_string(dir.path().join("config/example.yml")).expect("read");
    let config = config.replace(
        "discord:\n",
        "discord:\n  bot_token: ${TOKEN}\n  api_base: http://127.0.0.1:9/api/v10\n",
    );
    std::fs::write(dir.path().join("config/example.yml"), config).expect("write");
    let (mut daemon, out, err) = start(
        dir.path(),
        &["--config", "config/example.yml"],
        &[("TOKEN", "secret-token-value"), ("LOG_LEVEL", "trace")],
    );
    let mut logs = Vec::new();
    while !logs
        .iter()
        .any(|l: &String| l.contains("posting to channel:"))
    {
        logs.push(
            err.recv_timeout(PATIENCE)
                .expect("a log line about the failed post"),
        );
    }
    signal(&daemon.0, "TERM");
    let status = daemon
        .wait_exit(Duration::from_secs(5))
        .expect("exits after SIGTERM");
    assert_eq!(status.code(), Some(0));
    logs.extend(err.try_iter());
    let all = logs.join("\n") + &out.try_iter().collect::<String>();
    assert!(all.contains("posting with the bot token"), "{all}");
    assert!(!all.contains("secret-token-value"), "token leaked: {all}");
}
