//! Discord delivery end to end: the real daemon binary follows a log and
//! posts to the fake Discord on loopback (tests/support/discord.rs), which
//! enforces Discord's rules and records every request.
//!
//! Every test checks what went over the wire: each JOIN line `n` appears
//! exactly once, in order, across the messages the fake created; every
//! request body is valid against Discord's OpenAPI spec; every request
//! carries the bot token and Discord's User-Agent and disables mentions.

mod support;

use std::time::Duration;

use support::daemon::{Run, Workspace, append, join_lines};
use support::discord::{Created, FakeDiscord, TOKEN, assert_wire_rules};

const CHANNEL: &str = "channel:1100000000000000001";
const BEGINNING: (&str, &str) = ("start_at", "beginning");

/// Waits long enough for anything here; never a claim about speed.
const LONG: Duration = Duration::from_secs(120);

fn bot_config(ws: &Workspace, fake: &FakeDiscord) -> std::path::PathBuf {
    let base = format!("\"{}\"", fake.api_base());
    let token = format!("\"{TOKEN}\"");
    ws.config_with_discord(&[("bot_token", &token), ("api_base", &base)], &[BEGINNING])
}

/// Every JOIN line of `0..n` exactly once and in order.
fn assert_exactly_once(messages: &[Created], n: usize) {
    support::discord::assert_joins(messages, 0..n);
}

fn stop(mut run: Run) {
    assert_eq!(run.stop(), 0, "a clean exit on SIGTERM");
}

/// Many events coalesce into few messages, in order, each within 2000
/// characters.
#[test]
fn order_is_kept_across_coalescing() {
    let fake = FakeDiscord::start();
    let ws = Workspace::new();
    append(&ws.log(), &join_lines(0..300));
    let run = ws.start(&bot_config(&ws, &fake));
    let messages = wait_for_lines(&fake, CHANNEL, 300);
    assert_exactly_once(&messages, 300);
    // 300 lines of 33 characters fit in 6 messages; the first may go out
    // before the whole backlog is read.
    assert!(
        messages.len() <= 8,
        "{} messages for 300 short lines",
        messages.len()
    );
    assert_wire_rules(&fake);
    stop(run);
}

/// Waits until `n` JOIN lines arrived at `dest`, then returns its messages.
fn wait_for_lines(fake: &FakeDiscord, dest: &str, n: usize) -> Vec<Created> {
    let deadline = std::time::Instant::now() + LONG;
    loop {
        let messages = fake.messages(dest);
        if support::discord::join_numbers(&messages).len() >= n
            || std::time::Instant::now() > deadline
        {
            return messages;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A 2,000-line burst under Discord's 5 messages per 5 s per channel:
/// delivered completely, in order, with zero 429s (the headers are read and
/// obeyed, not discovered by hitting the limit).
#[test]
fn a_burst_is_delivered_in_order_without_429s() {
    let fake = FakeDiscord::start();
    fake.set_channel_limit(5, Duration::from_secs(5));
    let ws = Workspace::new();
    let run = ws.start(&bot_config(&ws, &fake));
    std::thread::sleep(Duration::from_millis(300));
    append(&ws.log(), &join_lines(0..2000));
    let messages = wait_for_lines(&fake, CHANNEL, 2000);
    assert_exactly_once(&messages, 2000);
    assert_eq!(fake.count_status(429), 0, "no 429 at all");
    assert_wire_rules(&fake);
    stop(run);
}

/// A 60-second outage (every request answered 502): events keep arriving
/// in the log meanwhile; after it every event is delivered exactly once and
/// in order.
#[test]
fn a_minute_of_502s_loses_and_repeats_nothing() {
    let fake = FakeDiscord::start();
    let ws = Workspace::new();
    let run = ws.start(&bot_config(&ws, &fake));
    std::thread::sleep(Duration::from_millis(300));
    fake.fail_for(Duration::from_secs(60), 502);
    for chunk in 0..6 {
        append(&ws.log(), &join_lines(chunk * 50..(chunk + 1) * 50));
        std::thread::sleep(Duration::from_secs(5));
    }
    let messages = wait_for_lines(&fake, CHANNEL, 300);
    assert_exactly_once(&messages, 300);
    assert!(fake.count_status(502) >= 3, "the outage was seen");
    assert_wire_rules(&fake);
    stop(run);
}

/// Discord takes a message but the answer never comes in time: the retry
/// carries the same nonce, and the fake (like Discord) returns the first
/// message instead of posting twice.
#[test]
fn a_retry_after_a_timeout_does_not_post_twice() {
    let fake = FakeDiscord::start();
    fake.hang_next(1, Duration::from_secs(20));
    let ws = Workspace::new();
    append(&ws.log(), &join_lines(0..3));
    let run = ws.start(&bot_config(&ws, &fake));
    let deadline = std::time::Instant::now() + LONG;
    while fake
        .requests()
        .iter()
        .filter(|r| r.method == "POST")
        .count()
        < 2
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    append(&ws.log(), &join_lines(3..4));
    let messages = wait_for_lines(&fake, CHANNEL, 4);
    assert_exactly_once(&messages, 4);
    let posts: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .collect();
    assert!(
        posts.len() >= 3,
        "the first message was sent twice, then the next one"
    );
    assert_eq!(
        posts[0].body.as_ref().map(|b| b["nonce"].clone()),
        posts[1].body.as_ref().map(|b| b["nonce"].clone())
    );
    assert_wire_rules(&fake);
    stop(run);
}

/// A rejected token stops all sending at once (no retry storm); the events
/// are kept, and after a restart with Discord accepting again they arrive.
#[test]
fn a_401_stops_sending_and_keeps_the_events() {
    let fake = FakeDiscord::start();
    fake.fail_next(1, 401);
    let ws = Workspace::new();
    append(&ws.log(), &join_lines(0..5));
    let config = bot_config(&ws, &fake);
    let mut run = ws.start(&config);
    run.wait_stderr("rejected the bot token");
    append(&ws.log(), &join_lines(5..10));
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        fake.requests()
            .iter()
            .filter(|r| r.method == "POST")
            .count(),
        1,
        "nothing after the 401"
    );
    stop(run);

    let run = ws.start(&config);
    let messages = wait_for_lines(&fake, CHANNEL, 10);
    assert_exactly_once(&messages, 10);
    stop(run);
}

/// 403 (missing permissions) is reported once, with what to fix, and not
/// hammered; the events are kept and arrive after a restart.
#[test]
fn a_403_is_reported_once_and_the_events_are_kept() {
    let fake = FakeDiscord::start();
    fake.fail_next(1, 403);
    let ws = Workspace::new();
    append(&ws.log(), &join_lines(0..5));
    let config = bot_config(&ws, &fake);
    let mut run = ws.start(&config);
    let line = run.wait_stderr("cannot post to channel:1100000000000000001");
    assert!(line.contains("Send Messages"), "{line}");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        fake.requests()
            .iter()
            .filter(|r| r.method == "POST")
            .count(),
        1,
        "held, not retried at once"
    );
    stop(run);

    let run = ws.start(&config);
    assert_exactly_once(&wait_for_lines(&fake, CHANNEL, 5), 5);
    stop(run);
}

/// 404 for a channel names the channel ID as the thing to check.
#[test]
fn a_404_channel_says_to_check_the_id() {
    let fake = FakeDiscord::start();
    fake.fail_next(1, 404);
    let ws = Workspace::new();
    append(&ws.log(), &join_lines(0..1));
    let mut run = ws.start(&bot_config(&ws, &fake));
    let line = run.wait_stderr("cannot post to channel:1100000000000000001");
    assert!(
        line.contains("Unknown Channel") && line.contains("channel ID"),
        "{line}"
    );
    stop(run);
}

/// Webhook mode end to end: `?wait=true`, no bot token sent, the player's
/// name as the username (sanitised), and a deleted webhook (404) is not
/// retried.
#[test]
fn webhook_mode_end_to_end() {
    let fake = FakeDiscord::start();
    let ws = Workspace::new();
    append(
        &ws.log(),
        "2024-04-09 06:08:43 [JOIN] DiscordFan joined the game\n",
    );
    append(&ws.log(), &join_lines(0..3));
    let url = format!("\"{}\"", fake.webhook_url(42));
    let config = ws.config_with_discord(
        &[("webhook_url", &url), ("webhook_player_names", "true")],
        &[BEGINNING],
    );
    let run = ws.start(&config);
    let dest = "webhook:42";
    let messages = {
        let deadline = std::time::Instant::now() + LONG;
        loop {
            let m = fake.messages(dest);
            if support::discord::join_numbers(&m).len() >= 3 || std::time::Instant::now() > deadline
            {
                break m;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    assert_eq!(
        messages[0].username.as_deref(),
        Some("Fan"),
        "\"Discord\" is removed from usernames"
    );
    assert_eq!(messages[0].content, "👋 **DiscordFan** joined the game");
    assert_exactly_once(&messages[1..], 3);
    for r in fake.requests() {
        assert!(r.query.contains("wait=true"), "{r:?}");
        assert!(
            !r.headers.iter().any(|(k, _)| k == "authorization"),
            "no token to a webhook"
        );
    }
    assert_wire_rules(&fake);
    stop(run);

    fake.fail_next(1, 404);
    append(&ws.log(), &join_lines(3..6));
    let mut run = ws.start(&config);
    run.wait_stderr("webhook was deleted");
    let before = fake.requests().len();
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        fake.requests().len(),
        before,
        "a deleted webhook is not retried"
    );
    stop(run);
}

/// kill -9 while messages are being delivered under rate limits, then a
/// restart: no event is lost. Duplicates are allowed only for events in
/// flight: at most what was delivered since the last checkpoint (written at
/// most once a second) plus one message.
#[test]
fn a_crash_during_delivery_loses_nothing() {
    let fake = FakeDiscord::start();
    fake.set_channel_limit(2, Duration::from_secs(1));
    let ws = Workspace::new();
    append(&ws.log(), &join_lines(0..1500));
    let config = bot_config(&ws, &fake);
    let mut run = ws.start(&config);
    let delivered_before = loop {
        let got = support::discord::join_numbers(&fake.messages(CHANNEL)).len();
        if got >= 300 {
            break got;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    run.kill9();
    let run = ws.start(&config);
    let unique_of = |m: &[Created]| {
        support::discord::join_numbers(m)
            .into_iter()
            .collect::<std::collections::BTreeSet<usize>>()
    };
    let deadline = std::time::Instant::now() + LONG;
    let messages = loop {
        let messages = fake.messages(CHANNEL);
        if unique_of(&messages).len() >= 1500 || std::time::Instant::now() > deadline {
            break messages;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let got = support::discord::join_numbers(&messages);
    let unique = unique_of(&messages);
    assert_eq!(unique.len(), 1500, "every line arrived");
    let duplicates = got.len() - unique.len();
    // In flight at the kill: up to two messages a second for the last
    // checkpoint interval (1 s), plus one message, of about 60 lines each.
    assert!(
        duplicates <= 3 * 70,
        "{duplicates} duplicates (delivered before the kill: {delivered_before})"
    );
    stop(run);
}

/// Text from players reaches Discord literally: no pings (every message
/// sends `allowed_mentions: {"parse": []}` and the text breaks `@everyone`),
/// no markdown, no link previews, rich text as words, unicode kept, and a
/// 2,500-character line split into two messages at a word boundary.
#[test]
fn player_text_arrives_escaped() {
    let fake = FakeDiscord::start();
    let ws = Workspace::new();
    let long = "word ".repeat(500);
    let chat = |name: &str, text: &str| format!("2024-04-09 06:09:46 [CHAT] {name}: {text}\n");
    let table: &[(&str, &str, &str)] = &[
        ("a", "@everyone look", "💬 **a**: @\u{200B}everyone look"),
        ("b", "@here", "💬 **b**: @\u{200B}here"),
        (
            "c",
            "hi <@123> and <@&456>",
            "💬 **c**: hi \\<@123> and \\<@&456>",
        ),
        (
            "d",
            "**bold** __u__ ~~s~~ ||spoiler||",
            "💬 **d**: \\*\\*bold\\*\\* \\_\\_u\\_\\_ \\~\\~s\\~\\~ \\|\\|spoiler\\|\\|",
        ),
        (
            "e",
            "```code``` `x`",
            "💬 **e**: \\`\\`\\`code\\`\\`\\` \\`x\\`",
        ),
        ("f", "> quote", "💬 **f**: \\> quote"),
        (
            "g",
            "[free nitro](https://evil.example)",
            "💬 **g**: \\[free nitro\\](https://evil.example)",
        ),
        (
            "h",
            "at [gps=12,-4,nauvis] take [item=iron-plate]",
            "💬 **h**: at (map 12, -4 on nauvis) take iron plate",
        ),
        ("日本語", "Hello 世界! ✓", "💬 **日本語**: Hello 世界! ✓"),
        ("under_score", "x", "💬 **under\\_score**: x"),
    ];
    let mut log = String::new();
    for (name, text, _) in table {
        log.push_str(&chat(name, text));
    }
    log.push_str(&chat("long", &long));
    append(&ws.log(), &log);
    let run = ws.start(&bot_config(&ws, &fake));
    let deadline = std::time::Instant::now() + LONG;
    let messages = loop {
        let m = fake.messages(CHANNEL);
        let text: String = m.iter().map(|m| m.content.as_str()).collect();
        if text.contains("word word") && text.matches("word").count() >= 500
            || std::time::Instant::now() > deadline
        {
            break m;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let all: String = messages
        .iter()
        .map(|m| format!("{}\n", m.content))
        .collect();
    for (_, _, want) in table {
        assert!(
            all.lines().any(|l| l == *want),
            "missing line {want:?} in:\n{all}"
        );
    }
    assert!(messages.iter().all(|m| m.content.chars().count() <= 2000));
    let long_parts: Vec<&Created> = messages
        .iter()
        .filter(|m| m.content.contains("word word"))
        .collect();
    assert_eq!(long_parts.len(), 2, "2,500 characters take two messages");
    assert!(
        long_parts[0].content.ends_with(' ') || long_parts[0].content.ends_with('\n'),
        "cut at a word boundary"
    );
    assert_eq!(all.matches("word").count(), 500);
    // The gateway's GET /gateway/bot carries no body; every post does.
    for r in fake.requests().iter().filter(|r| r.method == "POST") {
        let body = r.body.as_ref().expect("JSON body");
        assert_eq!(body["allowed_mentions"], serde_json::json!({"parse": []}));
        assert_eq!(body["flags"], 4, "link previews suppressed");
    }
    assert_wire_rules(&fake);
    stop(run);
}

/// A file truncated in place and written again reuses its inode and
/// offsets; the new line at an old offset is a new event, posted, not taken
/// for the old one by nonce.
#[test]
fn a_new_line_at_a_reused_offset_is_posted() {
    let fake = FakeDiscord::start();
    let ws = Workspace::new();
    append(&ws.log(), &join_lines(0..1));
    let run = ws.start(&bot_config(&ws, &fake));
    assert_exactly_once(&wait_for_lines(&fake, CHANNEL, 1), 1);
    std::fs::write(ws.log(), join_lines(1..2))
        .expect("truncate and write a line of the same length");
    assert_exactly_once(&wait_for_lines(&fake, CHANNEL, 2), 2);
    stop(run);
}

/// Even at `LOG_LEVEL=trace`, neither the bot token nor a webhook's token
/// reaches the log (the HTTP crates' request dumps are kept quiet).
#[test]
fn trace_logging_never_shows_tokens() {
    let fake = FakeDiscord::start();
    for webhook in [false, true] {
        let ws = Workspace::new();
        append(&ws.log(), &join_lines(0..2));
        let config = if webhook {
            let url = format!("\"{}\"", fake.webhook_url(7));
            ws.config_with_discord(&[("webhook_url", &url)], &[BEGINNING])
        } else {
            bot_config(&ws, &fake)
        };
        let mut run = ws.start_with_env(&config, &[("LOG_LEVEL", "trace")]);
        let dest = if webhook { "webhook:7" } else { CHANNEL };
        assert_exactly_once(&wait_for_lines(&fake, dest, 2), 2);
        assert_eq!(run.stop(), 0);
        let logs = run.stderr_to_end().join("\n");
        assert!(logs.lines().count() > 2, "trace logging is on: {logs}");
        for secret in ["fake-bot", "Bot fake", "fake-webhook", "webhooks/7"] {
            assert!(
                !logs.contains(secret),
                "{secret} leaked into the log:\n{logs}"
            );
        }
    }
}
