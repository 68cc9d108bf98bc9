//! /health, /ready and /metrics of the real daemon, in each failure mode
//! the issue names (a missing log, a dead RCON, a rejected token, a state
//! dir that cannot be written), and the `healthcheck` subcommand's exit
//! codes against them.

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::daemon::{PATIENCE, Run, SERVER, Workspace, append, join_lines};
use support::discord::{self, FakeDiscord};
use support::{command, http_get, prometheus};

const RCON_PASSWORD: &str = "rcon-pw-never-shown";

/// Polls `/health` until `want` holds for its status code and JSON body.
fn wait_health(base: &str, what: &str, want: impl Fn(u16, &Value) -> bool) -> (u16, Value) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let (status, body) = http_get(&format!("{base}/health"));
        let json: Value = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("/health is not JSON ({e}): {body}"));
        if want(status, &json) {
            return (status, json);
        }
        assert!(
            Instant::now() < deadline,
            "/health never showed {what}; last: {status} {json:#}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A port with nothing listening.
fn dead_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

fn healthcheck(ws: &Workspace, url: &str) -> (Option<i32>, String) {
    let out = command(ws.path())
        .args(["healthcheck", url])
        .output()
        .expect("runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn a_missing_log_and_a_dead_rcon_are_degraded_not_unhealthy() {
    let ws = Workspace::new();
    let port = dead_port().to_string();
    let config = ws.config(&[
        ("rcon_host", "127.0.0.1"),
        ("rcon_port", &port),
        ("rcon_password", RCON_PASSWORD),
    ]);
    let mut run = ws.start(&config);
    let base = run.health_base();
    let (status, body) = wait_health(&base, "RCON down", |_, b| b["rcon"][0]["status"] == "down");
    assert_eq!(status, 200, "degraded keeps liveness: {body:#}");
    assert_eq!(body["status"], "degraded");
    assert_eq!(body["service"], "factorio-isr");
    assert_eq!(body["followers"][0]["status"], "waiting");
    let reasons = body["reasons"].to_string();
    assert!(reasons.contains("waiting for"), "{reasons}");
    assert!(
        reasons.contains(&format!("RCON of server {SERVER} is down")),
        "{reasons}"
    );
    let (code, line) = healthcheck(&ws, &format!("{base}/health"));
    assert_eq!(code, Some(0), "degraded is alive: {line}");
    assert!(line.starts_with("degraded: "), "{line}");
    assert_eq!(http_get(&format!("{base}/ready")).0, 200);

    // The file appears: the follower says so, with its lag.
    append(&ws.log(), &join_lines(0..3));
    let _ = run.take(3);
    let (_, body) = wait_health(&base, "the file followed", |_, b| {
        b["followers"][0]["status"] == "following" && b["followers"][0]["lag_bytes"] == 0
    });
    let text = body.to_string();
    assert!(!text.contains(RCON_PASSWORD), "{text}");

    let (status, metrics) = http_get(&format!("{base}/metrics"));
    assert_eq!(status, 200);
    assert!(!metrics.contains(RCON_PASSWORD));
    let m = prometheus::parse(&metrics).unwrap_or_else(|e| panic!("{e}\n{metrics}"));
    assert_eq!(
        m.get(
            "factorio_isr_events_total",
            &[("server", SERVER), ("kind", "join")]
        ),
        Some(3.0)
    );
    assert_eq!(
        m.get("factorio_isr_rcon_up", &[("server", SERVER)]),
        Some(0.0)
    );
    let path = ws.log().display().to_string();
    assert_eq!(
        m.get(
            "factorio_isr_follower_file_present",
            &[("server", SERVER), ("path", &path)]
        ),
        Some(1.0)
    );
    assert_eq!(m.get("factorio_isr_healthy", &[]), Some(1.0));
    for family in [
        "factorio_isr_build_info",
        "factorio_isr_messages_sent_total",
        "factorio_isr_events_coalesced_total",
        "factorio_isr_rate_limited_total",
        "factorio_isr_retries_total",
        "factorio_isr_outbox_depth",
        "factorio_isr_follower_lag_bytes",
        "factorio_isr_rcon_command_seconds",
        "factorio_isr_ups",
        "factorio_isr_ups_ema",
        "factorio_isr_evolution",
        "factorio_isr_last_sample_age_seconds",
        "factorio_isr_players_online",
    ] {
        assert!(m.types.contains_key(family), "{family} missing:\n{metrics}");
    }
    assert_eq!(http_get(&format!("{base}/nothing")).0, 404);
    // Read-only: nothing but GET and HEAD.
    let addr = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    std::io::Write::write_all(
        &mut stream,
        b"POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
    )
    .expect("send");
    let mut answer = String::new();
    std::io::Read::read_to_string(&mut stream, &mut answer).expect("answer");
    assert!(answer.starts_with("HTTP/1.1 405"), "{answer}");
    assert_eq!(run.stop(), 0);
}

#[test]
fn a_rejected_token_is_unhealthy_and_never_shown() {
    let discord = FakeDiscord::start();
    let ws = Workspace::new();
    let token = "a-token-discord-rejects";
    let config = ws.config_with_discord(
        &[
            ("bot_token", &format!("\"{token}\"")),
            ("api_base", &discord.api_base()),
        ],
        &[],
    );
    append(&ws.log(), "");
    let mut run = ws.start(&config);
    let base = run.health_base();
    wait_health(&base, "following", |_, b| {
        b["followers"][0]["status"] == "following"
    });
    append(&ws.log(), &join_lines(0..1));
    // The gateway (GET /gateway/bot) and delivery (the post) both meet the
    // rejected token; each says so.
    let (status, body) = wait_health(&base, "unhealthy and halted", |s, b| {
        s == 503 && b["discord"]["status"] == "halted"
    });
    assert_eq!(body["status"], "unhealthy");
    assert!(
        body["discord"]["gateway"]
            .as_str()
            .is_some_and(|g| g.contains("rejected the bot token")),
        "{body:#}"
    );
    let reasons = body["reasons"].to_string();
    assert!(reasons.contains("rejected the bot token"), "{reasons}");
    assert!(!body.to_string().contains(token));
    assert_eq!(status, 503);
    assert_eq!(http_get(&format!("{base}/ready")).0, 503);
    let (code, line) = healthcheck(&ws, &format!("{base}/health"));
    assert_eq!(code, Some(1), "{line}");
    assert!(line.starts_with("unhealthy: "), "{line}");
    assert!(!line.contains(token));
    let (_, metrics) = http_get(&format!("{base}/metrics"));
    assert!(!metrics.contains(token));
    let m = prometheus::parse(&metrics).unwrap_or_else(|e| panic!("{e}\n{metrics}"));
    assert_eq!(m.get("factorio_isr_healthy", &[]), Some(0.0));
    assert_eq!(run.stop(), 0);
    for line in run.stderr_to_end() {
        assert!(!line.contains(token), "{line}");
    }
}

/// Webhook mode: a webhook Discord has deleted shows on /health by its
/// name, never by its URL (whose last part is its token).
#[test]
fn a_failing_webhook_shows_without_its_url() {
    let discord = FakeDiscord::start();
    let ws = Workspace::new();
    let url = discord.webhook_url(42);
    let config = ws.config_with_discord(&[("webhook_url", &format!("\"{url}\""))], &[]);
    append(&ws.log(), "");
    let mut run = ws.start(&config);
    let base = run.health_base();
    wait_health(&base, "following", |_, b| {
        b["followers"][0]["status"] == "following"
    });
    discord.fail_for(Duration::from_secs(60), 503);
    append(&ws.log(), &join_lines(0..1));
    let (status, body) = wait_health(&base, "a failing webhook", |_, b| {
        b["discord"]["destinations"][0]["status"] == "failing"
    });
    assert_eq!(
        status, 200,
        "one destination failing for a moment is degraded"
    );
    assert_eq!(body["discord"]["mode"], "webhook");
    assert_eq!(body["discord"]["destinations"][0]["destination"], "webhook");
    let (_, metrics) = http_get(&format!("{base}/metrics"));
    for text in [body.to_string(), metrics] {
        assert!(!text.contains(discord::WEBHOOK_TOKEN), "{text}");
        assert!(!text.contains(&url), "{text}");
    }
    assert_eq!(run.stop(), 0);
}

#[test]
fn checkpoints_that_cannot_be_written_are_unhealthy_until_they_can() {
    let ws = Workspace::new();
    let config = ws.config(&[]);
    append(&ws.log(), "");
    let mut run = ws.start(&config);
    let base = run.health_base();
    // Following, not just healthy: before the workers start there is
    // nothing to be unhealthy about, and `start_at: end` would skip lines
    // written before the file is opened.
    wait_health(&base, "healthy and following", |s, b| {
        s == 200 && b["status"] == "healthy" && b["followers"][0]["status"] == "following"
    });
    // The state dir goes away under the daemon (an unmounted volume).
    std::fs::remove_dir_all(ws.state_dir()).expect("remove the state dir");
    append(&ws.log(), &join_lines(0..2));
    let _ = run.take(2);
    let (_, body) = wait_health(&base, "unhealthy", |s, _| s == 503);
    assert_eq!(http_get(&format!("{base}/ready")).0, 503);
    assert_eq!(body["state_dir"]["status"], "failing");
    assert!(
        body["reasons"][0]
            .as_str()
            .is_some_and(|r| r.starts_with("cannot write checkpoints in")),
        "{body:#}"
    );
    std::fs::create_dir(ws.state_dir()).expect("recreate");
    append(&ws.log(), &join_lines(2..3));
    let _ = run.take(1);
    wait_health(&base, "healthy again", |s, b| {
        s == 200 && b["status"] == "healthy"
    });
    assert_eq!(run.stop(), 0);
}

#[test]
fn healthcheck_fails_when_nothing_answers_and_reads_the_config_bind() {
    let ws = Workspace::new();
    let url = format!("http://127.0.0.1:{}/health", dead_port());
    let (code, line) = healthcheck(&ws, &url);
    assert_eq!(code, Some(1));
    assert!(line.contains("no answer from"), "{line}");

    // Without a URL it asks the address in the config.
    let port = dead_port();
    let config = ws.config(&[]);
    let text = std::fs::read_to_string(&config)
        .expect("config")
        .replace("bind: 127.0.0.1:0", &format!("bind: 0.0.0.0:{port}"));
    std::fs::write(&config, text).expect("write");
    append(&ws.log(), "");
    let mut run: Run = ws.start(&config);
    let base = run.health_base();
    wait_health(&base, "healthy and following", |_, b| {
        b["status"] == "healthy" && b["followers"][0]["status"] == "following"
    });
    let out = command(ws.path())
        .args(["healthcheck", "--config"])
        .arg(&config)
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert_eq!(stdout.trim(), "healthy");
    assert_eq!(run.stop(), 0);
}

#[test]
fn the_metrics_reader_refuses_what_prometheus_refuses() {
    let ok = "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"q\\\"\\\\\\n\"} 3\n";
    let e = prometheus::parse(ok).expect("valid");
    assert_eq!(e.get("a_total", &[("x", "q\"\\\n")]), Some(3.0));
    for bad in [
        "a_total 1\n",
        "# TYPE a counter\na 1\n",
        "# TYPE a gauge\n# TYPE a gauge\n",
        "# TYPE a gauge\na{x=\"1\"} one\n",
        "# TYPE a gauge\na{x=1} 1\n",
        "# TYPE a gauge\na{x=\"\\t\"} 1\n",
        "# TYPE a gauge\na 1\na 2\n",
        "# TYPE a gauge\na_sum 1\n",
        "# TYPE 1a gauge\n",
    ] {
        assert!(prometheus::parse(bad).is_err(), "accepted {bad:?}");
    }
}
