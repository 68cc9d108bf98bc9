//! `factorio-isr doctor` against the fake Discord and the fake Factorio:
//! one line per check, ✓ when the set-up works, ✗ with the fix when it
//! does not, and exit code 1 when anything fails.

mod support;

use support::command;
use support::daemon::{Workspace, append};
use support::discord::{
    self, FakeDiscord, GATEWAY_MESSAGE_CONTENT, OVERWRITE_ROLE, SEND_MESSAGES, VIEW_CHANNEL,
};
use support::rcon::FakeRcon;

const GUILD: &str = "1600000000000000001";
const EVENTS: &str = "1100000000000000001";
const CHAT: &str = "1600000000000000002";
const BOT_ROLE: &str = "1600000000000000003";
const PASSWORD: &str = "doctor-rcon-password";

/// A guild where the bot's role may post in both channels.
fn discord_ok() -> FakeDiscord {
    let fake = FakeDiscord::start();
    fake.add_guild(GUILD, "1600000000000000009");
    fake.add_role(GUILD, GUILD, 0);
    fake.add_role(GUILD, BOT_ROLE, VIEW_CHANNEL | SEND_MESSAGES | (1 << 16));
    fake.add_member(GUILD, discord::BOT_USER_ID, &[BOT_ROLE]);
    fake.add_channel(EVENTS, GUILD, &[]);
    fake.add_channel(CHAT, GUILD, &[]);
    fake.set_application_flags(GATEWAY_MESSAGE_CONTENT);
    fake
}

fn run_doctor(
    ws: &Workspace,
    fake: &FakeDiscord,
    game: &FakeRcon,
    password: &str,
) -> (i32, String) {
    let token = format!("\"{}\"", discord::TOKEN);
    let api = format!("\"{}\"", fake.api_base());
    let port = game.port().to_string();
    let chat = format!("\"{CHAT}\"");
    let config = ws.config_with_discord(
        &[("bot_token", &token), ("api_base", &api)],
        &[
            ("rcon_host", "127.0.0.1"),
            ("rcon_port", &port),
            ("rcon_password", password),
            ("chat_channel_id", &chat),
        ],
    );
    let out = command(ws.path())
        .args(["doctor", "--config"])
        .arg(&config)
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(!stdout.contains(discord::TOKEN), "{stdout}");
    assert!(!stdout.contains(PASSWORD), "{stdout}");
    (out.status.code().unwrap_or(-1), stdout)
}

#[test]
fn a_working_set_up_passes_every_check() {
    let fake = discord_ok();
    let game = FakeRcon::start(PASSWORD);
    let ws = Workspace::new();
    append(
        &ws.log(),
        "2024-04-09 06:08:43 [JOIN] alice joined the game\n",
    );
    let (code, out) = run_doctor(&ws, &fake, &game, PASSWORD);
    assert_eq!(code, 0, "{out}");
    for want in [
        "✓ config",
        "✓ state dir",
        "is readable",
        "accepts the password (Factorio 2.0.28)",
        "the bot token is valid",
        "the Message Content intent is enabled",
        &format!("✓ channel {EVENTS}"),
        &format!("✓ channel {CHAT}"),
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
    assert!(!out.contains('✗'), "{out}");
    assert!(game.lua_commands().is_empty(), "doctor runs no Lua");
}

#[test]
fn each_broken_piece_is_named_with_its_fix() {
    let fake = discord_ok();
    // The chat channel denies the bot's role; the intent is off.
    fake.add_channel(CHAT, GUILD, &[(BOT_ROLE, OVERWRITE_ROLE, 0, VIEW_CHANNEL)]);
    fake.hide_channel(EVENTS);
    fake.set_application_flags(0);
    let game = FakeRcon::start(PASSWORD);
    let ws = Workspace::new();
    let (code, out) = run_doctor(&ws, &fake, &game, "wrong-password");
    assert_eq!(code, 1, "{out}");
    for want in [
        "does not exist yet; start Factorio with --console-log",
        "wrong RCON password",
        "the Message Content intent is off",
        &format!("✗ channel {EVENTS}"),
        "the bot cannot see it",
        &format!("✗ channel {CHAT}"),
        "lacks View Channel",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
    assert!(!out.contains("wrong-password"), "{out}");
}

#[test]
fn a_rejected_token_stops_the_discord_checks() {
    let fake = discord_ok();
    let game = FakeRcon::start(PASSWORD);
    let ws = Workspace::new();
    append(&ws.log(), "");
    let token = "\"rejected-token\"".to_owned();
    let api = format!("\"{}\"", fake.api_base());
    let config = ws.config_with_discord(&[("bot_token", &token), ("api_base", &api)], &[]);
    let out = command(ws.path())
        .args(["doctor", "--config"])
        .arg(&config)
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("✗ Discord rejected the bot token (401)"),
        "{stdout}"
    );
    assert!(!stdout.contains("rejected-token"), "{stdout}");
    let _ = game;
}
