//! SIGHUP reloads and systemd's notify protocol, against the real daemon.

mod support;

use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use support::daemon::{
    PATIENCE, Workspace, append, assert_players, join_line, join_lines, spawn_writer, yaml_path,
};
use support::{http_get, prometheus};

fn metric(base: &str, name: &str) -> Option<f64> {
    let (_, text) = http_get(&format!("{base}/metrics"));
    prometheus::parse(&text)
        .unwrap_or_else(|e| panic!("{e}\n{text}"))
        .get(name, &[])
}

/// A bad config is refused and the old one keeps running; a good one is
/// taken while lines are being written, and no line is lost or posted
/// twice across the switch.
#[test]
fn sighup_refuses_a_bad_config_and_applies_a_good_one_without_loss() {
    let ws = Workspace::new();
    append(&ws.log(), "");
    let config = ws.config(&[]);
    let mut run = ws.start(&config);
    let base = run.health_base();
    // `start_at: end`: lines written before the file is opened are skipped.
    run.wait_stderr("following");
    append(&ws.log(), &join_lines(0..10));
    let mut got = run.take(10);

    // Broken: the daemon says where and carries on with the old config.
    let good = std::fs::read_to_string(&config).expect("config");
    std::fs::write(&config, format!("{good}    max_line_bytes: lots\n")).expect("write");
    run.signal("HUP");
    let refused = run.wait_stderr("SIGHUP: the new config is not used");
    let problem = run.wait_stderr("max_line_bytes");
    assert!(problem.contains("config.yml:"), "{refused}\n{problem}");
    append(&ws.log(), &join_lines(10..20));
    got.extend(run.take(10));
    assert_eq!(
        metric(&base, "factorio_isr_config_reload_failures_total"),
        Some(1.0)
    );
    assert_eq!(
        metric(&base, "factorio_isr_config_reloads_total"),
        Some(0.0)
    );

    // Good, and it follows a second file; the first is written throughout.
    let other = ws.file("other.log");
    append(&other, "");
    let paths = format!("[{}, {}]", yaml_path(&ws.log()), yaml_path(&other));
    ws.config(&[("log_paths", &paths)]);
    let writer = spawn_writer(ws.log(), 20..400, 5, Duration::from_millis(3));
    std::thread::sleep(Duration::from_millis(150));
    run.signal("HUP");
    run.wait_stderr("config reloaded");
    writer.join().expect("writer");
    got.extend(run.until_player(399));
    assert_players(&got, 0..400);

    append(&other, &format!("{}\n", join_line(1000)));
    let m = run.next();
    assert_eq!(m.player(), Some(1000), "{m:?}");
    assert_eq!(
        metric(&base, "factorio_isr_config_reloads_total"),
        Some(1.0)
    );
    assert_eq!(run.stop(), 0);
    assert!(run.rest().is_empty(), "nothing posted twice at the end");
}

/// The datagrams systemd would receive: READY, watchdog pings at half of
/// WATCHDOG_USEC, RELOADING then READY on SIGHUP, STOPPING on SIGTERM.
#[test]
fn systemd_hears_ready_watchdog_reloading_and_stopping() {
    let ws = Workspace::new();
    append(&ws.log(), "");
    let config = ws.config(&[]);
    let socket_path = ws.file("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).expect("bind the notify socket");
    socket
        .set_read_timeout(Some(PATIENCE))
        .expect("read timeout");
    let mut run = ws.start_with_env(
        &config,
        &[
            ("NOTIFY_SOCKET", socket_path.to_str().expect("utf-8")),
            ("WATCHDOG_USEC", "400000"),
        ],
    );
    let mut buf = [0u8; 1024];
    let mut next = || {
        let len = socket.recv(&mut buf).expect("a notify datagram in time");
        String::from_utf8_lossy(&buf[..len]).into_owned()
    };
    let ready = next();
    assert!(ready.starts_with("READY=1\nSTATUS="), "{ready:?}");
    assert!(
        ready.contains("following 1 log file(s) of 1 server(s)"),
        "{ready:?}"
    );

    // Pings every 200 ms; count a few, allowing for a slow machine.
    let started = Instant::now();
    let mut pings = 0;
    while pings < 3 {
        assert_eq!(next(), "WATCHDOG=1");
        pings += 1;
    }
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "pings are paced"
    );

    run.signal("HUP");
    let mut seen = Vec::new();
    loop {
        let m = next();
        if m.starts_with("READY=1") {
            break;
        }
        if m != "WATCHDOG=1" {
            seen.push(m);
        }
    }
    assert_eq!(seen, vec!["RELOADING=1\nSTATUS=reloading the config"]);

    run.signal("TERM");
    loop {
        let m = next();
        if m != "WATCHDOG=1" {
            assert_eq!(m, "STOPPING=1\nSTATUS=stopping");
            break;
        }
    }
    assert_eq!(run.wait_exit(PATIENCE).and_then(|s| s.code()), Some(0));
}
