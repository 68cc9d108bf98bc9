//! Gateway frames as a hostile or broken Discord (or a member crafting
//! interactions) could send them, through everything that reads them
//! without I/O: the gateway's payload reading (`Payload::read`: op, d, s,
//! t), then what the bot does with the dispatches it acts on.
//!
//! - INTERACTION_CREATE: the invocation is parsed, its server resolved
//!   and it is planned against a fixed two-server config (one with Lua and
//!   RCON, one without), autocompleted, and a planned RCON reply rendered
//!   with game outputs taken from the payload's `_outputs` (a fuzz-only
//!   key Discord never sends; `_version` likewise picks the Lua API and
//!   `_default` the member's default server).
//! - MESSAGE_CREATE: the chat relay's text (`game_text`), its game line
//!   (`relay_line`) and its Lua form (`coloured_print`).
//!
//! Properties: nothing panics on any bytes (text frames are UTF-8, so the
//! input is read lossily); non-JSON is an error, not a payload; and the
//! rules `commands::plan` promises hold for whatever the payload says:
//! every step is at most `MAX_COMMAND_BYTES`, on one line with no control
//! characters, runs no Lua on a server without `allow_lua` (unless the raw
//! `rcon` leaf was told `lose_achievements: true`), a relayed chat line
//! starts with `[Discord] ` and so never with `/`; and every reply fits
//! Discord's 2000 characters and renders no ping or mention
//! (`common::pingable`).
#![no_main]

use std::path::Path;
use std::sync::LazyLock;

use factorio_isr::bot::relay::game_text;
use factorio_isr::commands::plan::{coloured_print, lua_api};
use factorio_isr::commands::sanitize::{MAX_COMMAND_BYTES, RELAY_PREFIX, runs_lua};
use factorio_isr::commands::{Facts, Invocation, Plan, complete, plan, relay_line, resolve_server};
use factorio_isr::config::{self, Config};
use factorio_isr::discord::format::MAX_CONTENT;
use factorio_isr::discord::gateway::Payload;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

#[path = "common.rs"]
mod common;

const CONFIG: &str = r#"
discord:
  bot_token: fuzz-token
  guild_id: "100"
  admin_role_ids: ["200"]
servers:
  prod:
    name: "Prod *main*"
    log_path: /nonexistent/prod.log
    rcon_host: 127.0.0.1
    rcon_password: secret
    allow_lua: true
    relay_lua: true
    chat_channel_id: "300"
  test:
    name: Test
    log_path: /nonexistent/test.log
    rcon_password: secret
    chat_channel_id: "301"
"#;

static CONFIG_VALUE: LazyLock<Config> = LazyLock::new(|| {
    config::parse(Path::new("fuzz.yml"), CONFIG, &|_| None, &|p| {
        Err(std::io::Error::other(format!("no file {}", p.display())))
    })
    .unwrap_or_else(|e| panic!("the fuzz config: {e}"))
});

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(payload) = Payload::read(&text) else {
        assert!(
            serde_json::from_str::<Value>(&text).is_err(),
            "JSON refused"
        );
        return;
    };
    if let Payload::Dispatch { t, d, .. } = payload {
        match t.as_str() {
            "INTERACTION_CREATE" => interaction(&d),
            "MESSAGE_CREATE" => message(&d),
            _ => {}
        }
    }
});

fn interaction(d: &Value) {
    let config = &*CONFIG_VALUE;
    let inv = match Invocation::from_interaction(d) {
        Ok(inv) => inv,
        Err(refusal) => return check_reply(&refusal),
    };
    // Autocomplete answers whatever the server: players from `_outputs`.
    let players: Vec<String> = strings(&d["_outputs"]);
    for (name, value) in complete(&inv, config, &players) {
        assert!(name.chars().count() <= 100, "choice name {name:?}");
        assert!(value.chars().count() <= 100, "choice value {value:?}");
    }
    // The member's default server (the bot's `connect` or the channel's).
    let default = d["_default"].as_str();
    let server = match resolve_server(&inv, config, default) {
        Ok(s) => s,
        Err(refusal) => return check_reply(&refusal),
    };
    let facts = Facts {
        version: d["_version"].as_str().map(str::to_owned),
        ..Facts::default()
    };
    match plan(&inv, config, server, &facts) {
        Err(refusal) => check_reply(&refusal),
        Ok(Plan::Reply(text)) => check_reply(&text),
        Ok(Plan::Connect(id)) => assert!(config.server(&id).is_some(), "{id}"),
        Ok(Plan::Rcon { steps, render }) => {
            let raw_lua_allowed = inv.path == "rcon" && inv.flag("lose_achievements") == Some(true);
            for step in &steps {
                assert!(step.len() <= MAX_COMMAND_BYTES, "{} bytes", step.len());
                assert!(!step.chars().any(char::is_control), "{step:?}");
                if !server.allow_lua && !raw_lua_allowed {
                    assert!(!runs_lua(step), "Lua on {}: {step:?}", server.id);
                }
                if inv.path == "say" {
                    assert!(step.starts_with(RELAY_PREFIX), "{step:?}");
                }
            }
            check_reply(&render(&strings(&d["_outputs"])));
        }
    }
}

fn message(d: &Value) {
    let text = game_text(d);
    let author = d["author"]["username"].as_str().unwrap_or("");
    if let Some(line) = relay_line(author, &text) {
        assert!(line.starts_with(RELAY_PREFIX), "{line:?}");
        assert!(!line.chars().any(char::is_control), "{line:?}");
        let lua = coloured_print(&line, lua_api(d["_version"].as_str()));
        assert!(!lua.chars().any(char::is_control), "{lua:?}");
    }
}

/// A fuzz knob's list of strings; anything else is none.
fn strings(v: &Value) -> Vec<String> {
    serde_json::from_value(v.clone()).unwrap_or_default()
}

/// A reply to a member: within Discord's limit and pinging no one.
fn check_reply(text: &str) {
    assert!(
        text.chars().count() <= MAX_CONTENT,
        "{} characters",
        text.chars().count()
    );
    if let Some(ping) = common::pingable(text) {
        panic!("reply renders a ping ({ping}): {text:?}");
    }
}
