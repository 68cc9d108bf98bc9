//! Stats and alerts end to end: UPS measured from `/time` against the fake
//! Factorio RCON server, and the daemon posting a low-UPS alert and its
//! recovery to the fake Discord, players and evolution on /metrics, with no
//! Lua ever sent.

mod support;

use std::time::{Duration, Instant};

use factorio_isr::factorio::parse_map_age;
use factorio_isr::rcon::Client;
use factorio_isr::secret::Secret;
use factorio_isr::stats::UpsEstimator;
use support::daemon::Workspace;
use support::discord::{FakeDiscord, TOKEN};
use support::rcon::{FakeRcon, Version};

const PASSWORD: &str = "rcon-test-password";

/// The fake ages its map at 60 and at 30 UPS; after one window of samples
/// taken once a second, the measured EMA is within the estimator's
/// documented bound (2 * 60 / window) of the truth.
#[test]
fn ups_from_the_map_age_is_within_the_documented_bound() {
    let runs: Vec<_> = [60.0, 30.0]
        .into_iter()
        .map(|ups| {
            std::thread::spawn(move || {
                let fake = FakeRcon::start(PASSWORD);
                fake.set_ups(ups);
                let mut client = Client::connect(
                    &fake.addr().to_string(),
                    &Secret::new(PASSWORD),
                    Duration::from_secs(5),
                )
                .expect("auth");
                let window = Duration::from_secs(20);
                let mut est = UpsEstimator::new(window);
                let start = Instant::now();
                let mut last = None;
                while start.elapsed() < window + Duration::from_secs(3) {
                    let age =
                        parse_map_age(&client.exec("/time").expect("time")).expect("a map age");
                    last = est.add(Instant::now(), age).ups_ema;
                    std::thread::sleep(Duration::from_secs(1));
                }
                let got = last.expect("an estimate after a window");
                assert!(
                    (got - ups).abs() <= est.error_bound(),
                    "{ups} UPS measured as {got} (bound {})",
                    est.error_bound()
                );
                assert!(fake.lua_commands().is_empty());
            })
        })
        .collect();
    for r in runs {
        r.join().expect("measurement");
    }
}

/// How the daemon posts to the fake Discord.
#[derive(Clone, Copy)]
enum Via {
    Bot,
    /// Webhook 42.
    Webhook,
}

/// A config for one server polled every second by RCON on `game`, posting
/// to `fake`: alerts after 2 samples below 45 UPS, recovery at 50, stats
/// every 10 s. `extra` adds server keys.
fn monitored(
    ws: &Workspace,
    fake: &FakeDiscord,
    via: Via,
    game: &FakeRcon,
    extra: &[(&str, &str)],
) -> std::path::PathBuf {
    std::fs::write(ws.log(), "").expect("log");
    let base = format!("\"{}\"", fake.api_base());
    let token = format!("\"{TOKEN}\"");
    let webhook = format!("\"{}\"", fake.webhook_url(42));
    let discord = match via {
        Via::Bot => [("bot_token", &token), ("api_base", &base)],
        Via::Webhook => [("webhook_url", &webhook), ("api_base", &base)],
    };
    let port = game.port().to_string();
    let password = format!("\"{PASSWORD}\"");
    let mut server = vec![
        ("rcon_host", "127.0.0.1"),
        ("rcon_port", port.as_str()),
        ("rcon_password", password.as_str()),
        ("collect_interval_seconds", "1"),
        ("alert_samples", "2"),
        ("ups_warning_threshold", "45"),
        ("ups_recover_threshold", "50"),
        ("alert_cooldown_seconds", "0"),
        ("alert_channel_id", ALERTS_ID),
        ("stats_channel_id", STATS_ID),
        ("stats_interval_seconds", "10"),
    ];
    server.extend_from_slice(extra);
    let discord: Vec<(&str, &str)> = discord.iter().map(|(k, v)| (*k, v.as_str())).collect();
    ws.config_with_discord(&discord, &server)
}

const ALERTS_ID: &str = "\"1100000000000000009\"";
const ALERTS: &str = "channel:1100000000000000009";
const STATS_ID: &str = "\"1100000000000000008\"";
const STATS: &str = "channel:1100000000000000008";

/// Daemon + fake RCON at 30 UPS + fake Discord: exactly one low-UPS alert
/// in the alert channel; back at 60 UPS, exactly one recovery. No command
/// that reached the game contained Lua.
#[test]
fn low_ups_alert_then_recovery() {
    let fake = FakeDiscord::start();
    let game = FakeRcon::start(PASSWORD);
    game.set_ups(30.0);
    game.set_players(&["alice", "bob"], &["carol"]);
    game.set_evolution(&[("Nauvis", 0.4321), ("Gleba", 0.9)]);
    let ws = Workspace::new();
    let config = monitored(&ws, &fake, Via::Bot, &game, &[]);
    let mut run = ws.start(&config);
    let alerts = ALERTS;
    let low = fake.wait_for_messages(alerts, 1, Duration::from_secs(60));
    assert_eq!(low.len(), 1, "one alert");
    assert!(
        low[0].content.contains("UPS is") && low[0].content.contains("below 45"),
        "{}",
        low[0].content
    );
    game.set_ups(60.0);
    let both = fake.wait_for_messages(alerts, 2, Duration::from_secs(90));
    assert_eq!(both.len(), 2, "then one recovery");
    assert!(
        both[1].content.contains("UPS is back to"),
        "{}",
        both[1].content
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(fake.messages(alerts).len(), 2, "no more alerts");
    // Stats reports every 10 s, from the same polls.
    let stats = fake.wait_for_messages(STATS, 1, Duration::from_secs(30));
    assert!(
        stats[0].content.contains("2 players online"),
        "{}",
        stats[0].content
    );
    let fields = &stats[0].embeds[0]["fields"];
    assert_eq!(fields[0]["name"], "Players online (2)");
    assert_eq!(fields[0]["value"], "alice, bob");
    assert_eq!(fields[2]["value"], "43.2%");
    assert_eq!(fake.schema_violations(), Vec::<String>::new());
    // The gauges come from the same polls.
    let base = run.health_base();
    let (_, text) = support::http_get(&format!("{base}/metrics"));
    let m = support::prometheus::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let server = [("server", support::daemon::SERVER)];
    assert_eq!(m.get("factorio_isr_players_online", &server), Some(2.0));
    let nauvis = [("server", support::daemon::SERVER), ("surface", "nauvis")];
    assert_eq!(m.get("factorio_isr_evolution", &nauvis), Some(0.4321));
    let gleba = [("server", support::daemon::SERVER), ("surface", "gleba")];
    assert_eq!(m.get("factorio_isr_evolution", &gleba), Some(0.9));
    assert!(
        m.get("factorio_isr_last_sample_age_seconds", &server)
            .is_some_and(|age| age < 5.0)
    );
    assert_eq!(m.get("factorio_isr_rcon_up", &server), Some(1.0));
    assert!(m.get("factorio_isr_ups", &server).is_some_and(|u| u > 50.0));
    assert!(
        m.get("factorio_isr_ups_ema", &server)
            .is_some_and(|u| u > 50.0)
    );
    assert_eq!(run.stop(), 0);
    assert!(
        game.commands()
            .iter()
            .all(|c| ["/version", "/time", "/players online", "/evolution"].contains(&c.as_str())),
        "only commands without Lua were asked: {:?}",
        game.commands()
    );
    assert!(game.lua_commands().is_empty());
}

/// With `allow_lua: true` each sample is one `/sc` returning JSON (exact
/// tick, players, evolution, research) and nothing else is asked; the
/// research progress reaches /metrics and the stats embed, and the low-UPS
/// alert measured from the exact tick carries a titled embed.
#[test]
fn with_allow_lua_one_sc_per_sample_gives_exact_figures() {
    let fake = FakeDiscord::start();
    let game = FakeRcon::start(PASSWORD);
    game.set_ups(30.0);
    game.set_players(&["alice"], &[]);
    game.set_research(Some(("automation-2", 1, 0.25)));
    let ws = Workspace::new();
    let config = monitored(&ws, &fake, Via::Bot, &game, &[("allow_lua", "true")]);
    let mut run = ws.start(&config);
    let low = fake.wait_for_messages(ALERTS, 1, Duration::from_secs(60));
    let embed = &low[0].embeds[0];
    assert_eq!(
        embed["title"],
        format!("⚠️ Low UPS on {}", support::daemon::SERVER)
    );
    let ups: f64 = embed["fields"][0]["value"]
        .as_str()
        .and_then(|v| v.parse().ok())
        .expect("a UPS field");
    // Exact ticks: no rounding allowance needed.
    assert!((ups - 30.0).abs() < 0.5, "{ups}");
    let stats = fake.wait_for_messages(STATS, 1, Duration::from_secs(30));
    let fields = stats[0].embeds[0]["fields"].as_array().expect("fields");
    assert!(
        fields
            .iter()
            .any(|f| f["name"] == "Research" && f["value"] == "automation-2: 25%"),
        "{fields:?}"
    );
    assert_eq!(fake.schema_violations(), Vec::<String>::new());
    let (_, text) = support::http_get(&format!("{}/metrics", run.health_base()));
    let m = support::prometheus::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let research = [
        ("server", support::daemon::SERVER),
        ("technology", "automation-2"),
    ];
    assert_eq!(
        m.get("factorio_isr_research_progress", &research),
        Some(0.25)
    );
    let server = [("server", support::daemon::SERVER)];
    assert_eq!(m.get("factorio_isr_players_online", &server), Some(1.0));
    assert_eq!(run.stop(), 0);
    let asked = game.commands();
    let samples: Vec<&String> = asked.iter().filter(|c| c.as_str() != "/version").collect();
    assert!(samples.len() >= 10, "{asked:?}");
    assert!(
        samples
            .iter()
            .all(|c| c.starts_with("/sc ") && c.contains("helpers.table_to_json")),
        "one /sc per sample and nothing else: {asked:?}"
    );
}

/// Waits until message `id` on `dest` has at least `edits` edits.
fn wait_for_edits(fake: &FakeDiscord, dest: &str, id: &str, edits: u32) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let now = fake
            .messages(dest)
            .iter()
            .find(|m| m.id == id)
            .map_or(0, |m| m.edits);
        if now >= edits || Instant::now() >= deadline {
            return now;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `stats_message: edit`: the first report is posted, later ones edit that
/// message (no second message); a restart edits the same message; once a
/// moderator deletes it, the next report posts a new one.
#[test]
fn stats_message_edit_keeps_one_message_across_restarts() {
    let fake = FakeDiscord::start();
    let game = FakeRcon::start(PASSWORD);
    game.set_players(&["alice"], &[]);
    let ws = Workspace::new();
    let config = monitored(&ws, &fake, Via::Bot, &game, &[("stats_message", "edit")]);
    let mut run = ws.start(&config);
    let first = fake.wait_for_messages(STATS, 1, Duration::from_secs(30));
    let id = first[0].id.clone();
    assert!(
        first[0].content.contains("1 player online"),
        "{}",
        first[0].content
    );
    assert_eq!(
        wait_for_edits(&fake, STATS, &id, 1),
        1,
        "the second report edits it"
    );
    assert_eq!(run.stop(), 0);
    game.set_players(&["alice", "bob"], &[]);
    let mut run = ws.start(&config);
    assert!(
        wait_for_edits(&fake, STATS, &id, 2) >= 2,
        "after a restart too"
    );
    let all = fake.messages(STATS);
    assert_eq!(all.len(), 1, "one message, edited: {all:?}");
    assert!(
        all[0].content.contains("2 players online"),
        "{}",
        all[0].content
    );
    fake.delete_message(STATS, &id);
    let again = fake.wait_for_messages(STATS, 1, Duration::from_secs(30));
    assert_ne!(again[0].id, id, "a new message once the old one is gone");
    assert_eq!(run.stop(), 0);
    let edits: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH")
        .collect();
    assert!(edits.iter().all(|r| r.header("authorization").is_some()));
    assert!(
        edits
            .iter()
            .all(|r| r.body.as_ref().is_some_and(|b| b.get("nonce").is_none()))
    );
    assert_eq!(fake.schema_violations(), Vec::<String>::new());
}

/// The same through a webhook: posted with `?wait=true` to learn its id,
/// then edited at `/messages/{id}` under the webhook.
#[test]
fn stats_message_edit_through_a_webhook() {
    let fake = FakeDiscord::start();
    let game = FakeRcon::start(PASSWORD);
    let ws = Workspace::new();
    let config = monitored(
        &ws,
        &fake,
        Via::Webhook,
        &game,
        &[("stats_message", "edit")],
    );
    let mut run = ws.start(&config);
    let first = fake.wait_for_messages("webhook:42", 1, Duration::from_secs(30));
    assert!(
        first[0].content.contains("0 players online"),
        "{}",
        first[0].content
    );
    assert_eq!(wait_for_edits(&fake, "webhook:42", &first[0].id, 1), 1);
    assert_eq!(run.stop(), 0);
    assert_eq!(fake.messages("webhook:42").len(), 1);
    assert_eq!(fake.schema_violations(), Vec::<String>::new());
}

/// On Factorio 1.1 (told by `/version` at connect) the sample uses 1.1's
/// Lua: `game.table_to_json` and the force's single `evolution_factor`.
#[test]
fn with_allow_lua_a_1_1_server_gets_1_1_lua() {
    let fake = FakeDiscord::start();
    let game = FakeRcon::start(PASSWORD);
    game.set_version(Version::V1_1);
    game.set_players(&["alice", "bob"], &[]);
    game.set_evolution(&[("Nauvis", 0.25)]);
    let ws = Workspace::new();
    let config = monitored(&ws, &fake, Via::Bot, &game, &[("allow_lua", "true")]);
    let mut run = ws.start(&config);
    let base = run.health_base();
    let server = [("server", support::daemon::SERVER)];
    let deadline = Instant::now() + Duration::from_secs(20);
    let metrics = loop {
        let (_, text) = support::http_get(&format!("{base}/metrics"));
        let m = support::prometheus::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        if m.get("factorio_isr_players_online", &server).is_some() || Instant::now() > deadline {
            break m;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(
        metrics.get("factorio_isr_players_online", &server),
        Some(2.0)
    );
    let nauvis = [("server", support::daemon::SERVER), ("surface", "nauvis")];
    assert_eq!(metrics.get("factorio_isr_evolution", &nauvis), Some(0.25));
    assert_eq!(run.stop(), 0);
    let lua = game.lua_commands();
    assert!(!lua.is_empty());
    assert!(
        lua.iter().all(|c| c.contains("game.table_to_json(r)")
            && c.contains("e.evolution_factor")
            && !c.contains("helpers.")),
        "{lua:?}"
    );
    let asked = game.commands();
    assert!(
        asked
            .iter()
            .all(|c| c == "/version" || c.starts_with("/sc ")),
        "nothing but the sample: {asked:?}"
    );
}
