//! Hostile input: a corpus of bad inputs, each with the clear outcome it
//! must have. Config and pattern files are refused with the file and what
//! to do (never a hang, a crash or a config that silently matches
//! nothing); log lines crafted to ping, break markdown, inject terminal
//! escapes or carry NUL bytes and invalid UTF-8 reach Discord escaped and
//! the admin's terminal harmless. Other parts of the corpus live with their
//! subject: 10 MB lines (tests/follow.rs), Lua and console injection from
//! Discord (tests/bot.rs `injection_attempts_reach_rcon_harmless`), RCON
//! replies with lying lengths (src/rcon.rs, tests/fake_rcon.rs), malformed
//! mod JSON (tests/factorio_mod.rs).

mod support;

use std::path::Path;
use std::process::Output;

/// Runs the daemon in `dir` with `args`.
fn run(dir: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = support::command(dir).args(args).output().expect("runs");
    (
        status.code(),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

/// A config file that YAML itself makes hostile is refused at once (exit
/// 2) with the file and the reason.
#[test]
fn hostile_config_files_are_refused_with_the_file_and_the_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut bomb = String::from("a: &a [\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\"]\n");
    for (name, prev) in ["b", "c", "d", "e", "f", "g", "h", "i"]
        .iter()
        .zip(["a", "b", "c", "d", "e", "f", "g", "h"])
    {
        let refs = vec![format!("*{prev}"); 9].join(",");
        bomb.push_str(&format!("{name}: &{name} [{refs}]\n"));
    }
    let cases: [(&str, Vec<u8>, &str); 4] = [
        // A billion laughs: 9^9 strings if expanded.
        (
            "bomb.yml",
            bomb.into_bytes(),
            "bomb.yml: invalid YAML: repetition limit exceeded",
        ),
        (
            "deep.yml",
            "[".repeat(100_000).into_bytes(),
            "deep.yml:1: invalid YAML: recursion limit exceeded",
        ),
        (
            "latin1.yml",
            b"servers:\n  a:\n    log_path: /x\xff\n".to_vec(),
            "latin1.yml: cannot read the config file: stream did not contain valid UTF-8",
        ),
        (
            "tabs.yml",
            b"servers:\n\ta:\n\t\tlog_path: /x\n".to_vec(),
            "tabs.yml",
        ),
    ];
    for (name, bytes, want) in cases {
        std::fs::write(dir.path().join(name), bytes).expect("write");
        let (code, _, stderr) = run(dir.path(), &["--config", name, "check-config"]);
        assert_eq!(code, Some(2), "{name}: {stderr}");
        assert!(stderr.contains(want), "{name}: {stderr}");
    }
}

/// Oversized and endless files where a config or a secret file is
/// expected (a wrong path: a log, `/dev/zero`) are refused after reading
/// 1 MiB, naming the file or the key, instead of filling memory.
#[test]
fn oversized_and_endless_config_and_secret_files_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let huge = "# padding\n".repeat(200_000);
    std::fs::write(dir.path().join("huge.yml"), huge).expect("write");
    std::fs::write(
        dir.path().join("secret.yml"),
        "servers:\n  a:\n    log_path: /x\ndiscord:\n  bot_token_file: /dev/zero\n",
    )
    .expect("write");
    for (name, want) in [
        (
            "huge.yml",
            "huge.yml: cannot read the config file: it is over 1024 KiB",
        ),
        (
            "/dev/zero",
            "cannot read the config file: it is over 1024 KiB",
        ),
        ("secret.yml", "discord.bot_token_file"),
    ] {
        let (code, _, stderr) = run(dir.path(), &["--config", name, "check-config"]);
        assert_eq!(code, Some(2), "{name}: {stderr}");
        assert!(stderr.contains(want), "{name}: {stderr}");
        assert!(stderr.contains("is it the right file?"), "{name}: {stderr}");
    }
}

/// A config whose patterns live in `pats/` of `dir`.
fn with_patterns(dir: &Path, patterns: &str) {
    std::fs::create_dir_all(dir.join("pats")).expect("pats");
    std::fs::write(dir.join("pats/hostile.yml"), patterns).expect("patterns");
    std::fs::write(
        dir.join("c.yml"),
        "discord:\n  event_channel_id: \"1100000000000000001\"\npatterns_dir: ./pats\nstate_dir: ./state\n\
         servers:\n  a:\n    log_path: ./a.log\n",
    )
    .expect("config");
}

/// One pattern entry of a pattern file.
fn pattern(name: &str, regex: &str) -> String {
    format!("  - name: {name}\n    kind: chat\n    regex: '{regex}'\n    template: 'x'\n")
}

/// A regex too large for the engine is refused naming its file, line and
/// pattern; thousands of patterns that are fine one by one but too many
/// together are refused by check-config and at start, instead of a daemon
/// that matches nothing.
#[test]
fn hostile_pattern_files_are_refused_before_the_daemon_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    with_patterns(
        dir.path(),
        &format!("patterns:\n{}", pattern("huge", "a{1000}{1000}")),
    );
    let (code, _, stderr) = run(dir.path(), &["--config", "c.yml", "check-config"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("pats/hostile.yml:") && stderr.contains("pattern `huge`: invalid regex"),
        "{stderr}"
    );

    let mut many = String::from("patterns:\n");
    for i in 0..3000 {
        many.push_str(&pattern(
            &format!("p{i}"),
            &format!(r"^\[CHAT\] (?P<player>\S+): hello{i} (?P<message>.*)$"),
        ));
    }
    with_patterns(dir.path(), &many);
    for args in [
        &["--config", "c.yml", "check-config"][..],
        &["--config", "c.yml"],
    ] {
        let (code, _, stderr) = run(dir.path(), args);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(
                "server a (patterns from ./pats): the 3000 patterns cannot be matched together"
            ),
            "{args:?}: {stderr}"
        );
    }
}

/// A regex that backtracking engines take exponential time on runs in
/// linear time here: a 100,000-character line that almost matches
/// `(a+)+$` is answered (no hang; the suite's timeout is the bound).
#[test]
fn catastrophic_looking_regexes_run_in_linear_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    with_patterns(
        dir.path(),
        &format!("patterns:\n{}", pattern("evil", r"^(?P<message>(a+)+)$")),
    );
    let line = format!("{}b\n{}\n", "a".repeat(100_000), "a".repeat(10));
    std::fs::write(dir.path().join("a.log"), line).expect("log");
    let (code, stdout, stderr) = run(dir.path(), &["--config", "c.yml", "replay", "a.log"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        stdout.lines().count(),
        1,
        "only the short line matches: {stdout}"
    );
}

/// Chat crafted against Discord and against the admin's terminal: the
/// message Discord gets pings no one (`@everyone` broken by a zero-width
/// space, mentions escaped), breaks no markdown, and carries no control
/// characters; the daemon's own log shows them escaped.
#[test]
fn crafted_chat_reaches_discord_escaped_and_the_terminal_harmless() {
    let repo = support::root();
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("hostile.log");
    let lines: [&[u8]; 5] = [
        b"2024-04-09 07:00:00 [CHAT] bob: @everyone @here <@123> <@&456> <#789> @\xe2\x80\x8beveryone\n",
        b"2024-04-09 07:00:00 [CHAT] bob: ```\n",
        b"2024-04-09 07:00:00 [CHAT] bob: ||x|| ~~y~~ **z** [link](https://evil.example) # h\n",
        b"2024-04-09 07:00:00 [CHAT] bob: red \x1b[31mtext\x1b[0m \x1b]0;title\x07 nul\x00 done\n",
        b"2024-04-09 07:00:00 [CHAT] bob: caf\xe9 \xff\xfe\n",
    ];
    std::fs::write(&log, lines.concat()).expect("log");
    std::fs::write(
        dir.path().join("mod.log"),
        "[ISR] {\"event\":\"player_died\",\"player\":\"x\u{1b}[2J\", }\n",
    )
    .expect("log");
    let (code, stdout, stderr) = run(
        &repo,
        &[
            "--config",
            "config/example.yml",
            "replay",
            &log.display().to_string(),
        ],
    );
    assert_eq!(code, Some(0), "{stderr}");
    let contents: Vec<String> = stdout
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("JSON");
            v["content"].as_str().expect("content").to_owned()
        })
        .collect();
    assert_eq!(contents.len(), 5, "{stdout}");
    let pings = &contents[0];
    // `\<@123>` shows the text, a bare `<@123>` is a mention.
    let unescaped = |needle: &str| {
        pings
            .match_indices(needle)
            .any(|(i, _)| !pings[..i].ends_with('\\'))
    };
    for ping in ["@everyone", "@here", "<@123>", "<@&456>", "<#789>"] {
        assert!(!unescaped(ping), "{ping} survives: {pings}");
    }
    assert!(contents[1].contains("\\`\\`\\`"), "{}", contents[1]);
    assert!(
        contents[2].contains("\\|\\|x\\|\\|") && contents[2].contains("\\[link\\]"),
        "{}",
        contents[2]
    );
    for c in &contents {
        assert!(
            !c.chars().any(char::is_control),
            "a control character: {c:?}"
        );
    }
    assert!(contents[4].contains("caf\u{fffd}"), "{}", contents[4]);

    let (code, _, stderr) = run(
        &repo,
        &[
            "--config",
            "config/example.yml",
            "replay",
            &dir.path().join("mod.log").display().to_string(),
        ],
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("line skipped, its JSON is malformed"),
        "{stderr}"
    );
    assert!(
        !stderr.contains('\u{1b}'),
        "a raw escape reached the terminal: {stderr:?}"
    );
    assert!(stderr.contains("\\u{1b}[2J"), "{stderr}");
}

/// A gateway payload over the 8 MiB limit is refused without being
/// buffered whole; the daemon starts a new session (a resume would replay
/// the same payload), stays within its memory and ends healthy. (Payloads
/// that are not JSON take the same path; the gateway fuzz target feeds
/// arbitrary bytes to the payload reader.)
#[test]
fn an_oversized_gateway_payload_starts_a_new_session() {
    use support::daemon::Workspace;
    use support::discord::{FakeDiscord, TOKEN};
    use support::gateway::FakeGateway;
    let fake = FakeDiscord::start();
    let gateway = FakeGateway::start();
    gateway.set_heartbeat_interval(std::time::Duration::from_millis(500));
    fake.set_gateway_url(&gateway.url());
    let ws = Workspace::new();
    std::fs::write(ws.log(), "").expect("log");
    let base = format!("\"{}\"", fake.api_base());
    let token = format!("\"{TOKEN}\"");
    let config = ws.config_with_discord(&[("bot_token", &token), ("api_base", &base)], &[]);
    let mut run = ws.start(&config);
    let wait = std::time::Duration::from_secs(60);
    gateway.wait_for_identifies(1, wait);
    let huge = "x".repeat(9 << 20);
    gateway.dispatch("MESSAGE_CREATE", serde_json::json!({ "content": huge }));
    gateway.wait_for_identifies(2, wait);
    let line = run.wait_stderr("a payload was refused");
    assert!(
        line.contains("Message too long") || line.contains("too long"),
        "{line}"
    );
    let peak = run.vm_hwm_kib();
    assert!(
        peak < 64 * 1024,
        "VmHWM {peak} KiB: the payload was buffered"
    );
    let base = run.health_base();
    let deadline = std::time::Instant::now() + wait;
    loop {
        let (status, text) = support::http_get(&format!("{base}/health"));
        if status == 200 && text.contains("\"status\":\"healthy\"") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{status} {text}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert_eq!(run.stop(), 0);
}

/// What a raw HTTP client got: the status code of the first line (0 when
/// the connection ended before one) and the whole answer.
fn http_answer(stream: &mut std::net::TcpStream) -> (u16, String) {
    use std::io::Read;
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .expect("read timeout");
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    // Up to the end, a reset or the timeout: the part read so far counts.
    while let Ok(n) = stream.read(&mut chunk) {
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&chunk[..n]);
    }
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    (status, answer)
}

/// A daemon with nothing to post, serving /health; its address.
fn serving() -> (support::daemon::Workspace, support::daemon::Run, String) {
    let ws = support::daemon::Workspace::new();
    std::fs::write(ws.log(), "").expect("log");
    let mut run = ws.start(&ws.config(&[]));
    let base = run.health_base();
    let addr = base.trim_start_matches("http://").to_owned();
    assert_eq!(support::http_get(&format!("{base}/health")).0, 200);
    (ws, run, addr)
}

/// A request head that never ends (16 MiB of one header line, sent while
/// the answer is read) is answered 431 once it passes 8 KiB, and the
/// daemon's memory does not grow with it; /health answers afterwards.
#[test]
fn an_endless_request_header_is_431_and_costs_no_memory() {
    use std::io::Write;
    let (_ws, mut run, addr) = serving();
    let before = run.vm_hwm_kib();
    let mut stream = std::net::TcpStream::connect(&addr).expect("connect");
    let mut writer = stream.try_clone().expect("clone");
    let sender = std::thread::spawn(move || {
        let _ = writer.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Junk: ");
        let junk = [b'a'; 64 * 1024];
        let mut sent = 0;
        // The daemon stops reading: a write fails or times out, and that
        // ends the flood.
        writer
            .set_write_timeout(Some(std::time::Duration::from_secs(5)))
            .expect("write timeout");
        while sent < 16 << 20 && writer.write_all(&junk).is_ok() {
            sent += junk.len();
        }
        sent
    });
    let (status, answer) = http_answer(&mut stream);
    let sent = sender.join().expect("sender");
    assert_eq!(status, 431, "{answer}");
    assert!(answer.contains("over 8192 bytes"), "{answer}");
    assert!(sent < 16 << 20, "the daemon read all {sent} bytes");
    let grown = run.vm_hwm_kib().saturating_sub(before);
    assert!(grown < 4 * 1024, "VmHWM grew by {grown} KiB");
    let base = format!("http://{addr}");
    assert_eq!(support::http_get(&format!("{base}/health")).0, 200);
    assert_eq!(run.stop(), 0);
}

/// Slowloris: 100 connections that start a request and never finish it,
/// one of them sending a byte every 200 ms. /health answers while a few
/// hang; the guard holds at most 64 at once (each one thread) and answers
/// the rest 503 at once; each held one is cut off with 408 five seconds
/// after it connected, however it trickles; afterwards /health answers at
/// once and the threads are back.
#[test]
fn slowloris_clients_are_cut_off_and_threads_stay_bounded() {
    use std::io::Write;
    use std::net::TcpStream;
    use std::time::{Duration, Instant};
    let (_ws, mut run, addr) = serving();
    let base = format!("http://{addr}");
    let idle_threads = run.threads();
    let open = |n: usize| -> Vec<TcpStream> {
        (0..n)
            .map(|_| {
                let mut s = TcpStream::connect(&addr).expect("connect");
                s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
                    .expect("a start");
                s
            })
            .collect()
    };
    let started = Instant::now();
    let mut hanging = open(10);
    let (status, _) = support::http_get(&format!("{base}/health"));
    assert_eq!(status, 200, "answered while 10 clients hang");
    let trickler = {
        let mut s = TcpStream::connect(&addr).expect("connect");
        std::thread::spawn(move || {
            let _ = s.write_all(b"GET /health HTTP/1.1\r\n");
            let trickled = Instant::now();
            // A byte at a time, never the blank line; stops when cut off.
            while trickled.elapsed() < Duration::from_secs(30) && s.write_all(b"X").is_ok() {
                std::thread::sleep(Duration::from_millis(200));
            }
            let answer = http_answer(&mut s);
            (answer, trickled.elapsed())
        })
    };
    hanging.extend(open(89));
    // All 100 are in: each is either held or refused by now.
    std::thread::sleep(Duration::from_millis(500));
    let held_threads = run.threads();
    assert!(
        held_threads <= idle_threads + 64 + 4,
        "{held_threads} threads with 100 slow clients ({idle_threads} idle)"
    );
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for s in &mut hanging {
        let (status, answer) = http_answer(s);
        assert!(matches!(status, 408 | 503), "{answer}");
        if status == 408 {
            assert!(answer.contains("within 5 s"), "{answer}");
        } else {
            assert!(answer.contains("64 connections are open"), "{answer}");
        }
        *statuses.entry(status).or_default() += 1;
    }
    let ((status, answer), cut_after) = trickler.join().expect("trickler");
    assert_eq!(
        status, 408,
        "trickling does not extend the deadline: {answer}"
    );
    assert!(cut_after < Duration::from_secs(30), "never cut off");
    // Those that got a thread are 64 minus any the first 10's /health
    // request still held; the rest were refused at once.
    let held = statuses.get(&408).copied().unwrap_or(0) + 1;
    assert!((60..=64).contains(&held), "{statuses:?}");
    assert_eq!(statuses.values().sum::<usize>(), 99, "{statuses:?}");
    assert!(started.elapsed() >= Duration::from_secs(5));
    assert_eq!(support::http_get(&format!("{base}/health")).0, 200);
    let deadline = Instant::now() + Duration::from_secs(30);
    while run.threads() > idle_threads + 4 {
        assert!(Instant::now() < deadline, "{} threads", run.threads());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(run.stop(), 0);
}

/// Malformed JSON from Discord's gateway: a frame that is not JSON is
/// refused and a new session started (a resume would replay it); frames
/// that are JSON of the wrong shape (a dispatch whose `d` is a number, an
/// opcode that is a string, an interaction with no fields) are ignored
/// without a new session. Afterwards the session still relays commands
/// and the daemon is healthy.
#[test]
fn malformed_gateway_frames_are_refused_or_ignored_and_the_session_goes_on() {
    use std::time::Duration;
    use support::bot::{World, final_answer, public};
    let w = World::start(&[]);
    let wait = Duration::from_secs(60);
    for wrong in [
        r#"{"op":0,"t":"INTERACTION_CREATE","s":2,"d":7}"#,
        r#"{"op":"0","t":"MESSAGE_CREATE","d":{}}"#,
        r#"{"op":0,"t":"INTERACTION_CREATE","s":3,"d":{}}"#,
        r#"{"op":0,"t":"MESSAGE_CREATE","s":4,"d":{"content":7,"author":"x"}}"#,
        r#"[1,2,3]"#,
        r#"null"#,
    ] {
        w.gateway.send_text(wrong);
    }
    let (answer, _) = final_answer(&w.invoke(&public("players")));
    assert!(answer.contains("alice"), "{answer}");
    assert_eq!(
        w.gateway.identifies().len(),
        1,
        "wrong shapes start no new session"
    );
    w.gateway
        .send_text("{\"op\":0,\"t\":\"MESSAGE_CREATE\",\"d\":{");
    w.gateway.wait_for_identifies(2, wait);
    let (answer, _) = final_answer(&w.invoke(&public("players")));
    assert!(answer.contains("alice"), "{answer}");
    let mut run = w.run;
    // The debug build: the fault suite's ceiling for it.
    run.assert_recovered(48 * 1024, &[support::discord::TOKEN]);
}
