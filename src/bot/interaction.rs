//! One slash command or autocomplete, from INTERACTION_CREATE to the
//! final answer, on a `cmd/N` worker.
//!
//! The order is fixed so that nothing reaches a game server unchecked:
//! parse, find the command, check the member's permission (again: Discord's
//! `default_member_permissions` only hides commands), the cooldown, pick
//! the server, plan. Anything that waits on RCON is deferred at once (type
//! 5) and its `@original` edited when the game answers, so Discord's 3 s
//! deadline holds however slow the game is; a server that does not answer
//! within [`RCON_BUDGET`] gets a clear answer. Admin answers and every
//! refusal are ephemeral. Every admin action is logged and, with
//! `audit_channel_id`, posted there.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::Shared;
use crate::commands::plan::{
    Facts, Invocation, OptionValue, Plan, complete, connect_reply, fit, plan, resolve_server,
};
use crate::commands::spec::{self, Cooldown, Leaf};
use crate::config::Server;
use crate::discord::format::escape_markdown;
use crate::rcon;

/// Message flag: only the member who ran the command sees the answer.
const EPHEMERAL: u64 = 1 << 6;
/// Discord permission bits that make a member an admin when no roles are
/// configured.
const ADMINISTRATOR: u64 = 1 << 3;
const MANAGE_GUILD: u64 = 1 << 5;
/// How long a command waits for the game before saying it did not answer.
pub const RCON_BUDGET: Duration = Duration::from_secs(5);
/// How long after a member's previous command one of each kind may run:
/// reads are cheap, undoable changes less so, and bans, promotions,
/// research and raw RCON least of all.
pub fn cooldown(kind: Cooldown) -> Duration {
    match kind {
        Cooldown::None => Duration::ZERO,
        Cooldown::Query => Duration::from_secs(2),
        Cooldown::Admin => Duration::from_secs(3),
        Cooldown::Danger => Duration::from_secs(10),
    }
}
/// Online players are asked again for autocomplete after this long.
const PLAYERS_FRESH: Duration = Duration::from_secs(15);
/// Autocomplete must answer within 3 s; the game gets this much of it.
const AUTOCOMPLETE_RCON: Duration = Duration::from_millis(1500);

/// When each member last ran a command that reached a game server.
#[derive(Default)]
pub struct Cooldowns(Mutex<HashMap<String, Instant>>);

impl Cooldowns {
    /// Lets the member run a command that needs `wait` since their last
    /// one, or says how long is left.
    pub fn take(&self, user: &str, wait: Duration, now: Instant) -> Result<(), Duration> {
        if wait.is_zero() {
            return Ok(());
        }
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(last) = map.get(user) {
            let since = now.saturating_duration_since(*last);
            if since < wait {
                return Err(wait - since);
            }
        }
        map.insert(user.to_owned(), now);
        // Forget members long gone so the map stays small.
        map.retain(|_, t| now.saturating_duration_since(*t) < Duration::from_secs(600));
        Ok(())
    }
}

/// When a server's online players were asked, and who they were.
type Seen = (Instant, Vec<String>);

/// Online players per server, for autocomplete.
#[derive(Default)]
pub struct PlayerCache(Mutex<HashMap<Arc<str>, Seen>>);

/// Handles one INTERACTION_CREATE payload.
pub fn handle(shared: &Shared, d: &Value) {
    let (Some(id), Some(token)) = (d["id"].as_str(), d["token"].as_str()) else {
        return;
    };
    let reply = Reply {
        shared,
        callback: shared
            .rest
            .url(&format!("interactions/{id}/{token}/callback")),
        original: shared.rest.url(&format!(
            "webhooks/{}/{token}/messages/@original",
            d["application_id"].as_str().unwrap_or_default()
        )),
    };
    // A public bot can be added to any Discord server; only ours may
    // reach the game.
    if let Some(guild) = &shared.config.discord.guild_id
        && d["guild_id"].as_str() != Some(guild.to_string().as_str())
    {
        log::info!(
            "audit: refused an interaction from Discord server {} (not discord.guild_id)",
            d["guild_id"].as_str().unwrap_or("none")
        );
        return match d["type"].as_u64() {
            Some(4) => reply.choices(Vec::new()),
            _ => reply.message("This bridge answers only in its own Discord server.", true),
        };
    }
    let handled = crate::fault::contain(|| {
        crate::fault::inject(&d.to_string());
        match d["type"].as_u64() {
            Some(2) => command(shared, d, &reply),
            Some(4) => autocomplete(shared, d, &reply),
            _ => {}
        }
    });
    if let Err(why) = handled {
        log::error!(
            "a bug: handling a slash command panicked ({why}); the member was told, the other commands go on. \
             Please report it with the command"
        );
        let sorry = "Something went wrong inside the bridge (a bug, logged). Nothing was done.";
        // Answer if nothing was sent yet, else fill in the deferred answer.
        let body = json!({"type": 4, "data": data(sorry, true)});
        if !reply.post(&body) {
            reply.edit(sorry);
        }
    }
}

/// Where and how to answer one interaction.
struct Reply<'a> {
    shared: &'a Shared,
    callback: String,
    original: String,
}

impl Reply<'_> {
    fn message(&self, content: &str, ephemeral: bool) {
        let body = json!({"type": 4, "data": data(content, ephemeral)});
        self.post(&body);
    }

    fn defer(&self, ephemeral: bool) -> bool {
        let body = json!({"type": 5, "data": {"flags": if ephemeral { EPHEMERAL } else { 0 }}});
        self.post(&body)
    }

    fn choices(&self, choices: Vec<(String, String)>) {
        let choices: Vec<Value> = choices
            .into_iter()
            .take(25)
            .map(|(name, value)| json!({"name": name, "value": value}))
            .collect();
        self.post(&json!({"type": 8, "data": {"choices": choices}}));
    }

    fn edit(&self, content: &str) {
        let mut body = data(content, false);
        if let Some(map) = body.as_object_mut() {
            map.remove("flags");
        }
        match self.shared.rest.patch(&self.original, &body, false) {
            Ok(r) if (200..300).contains(&r.status) => {}
            Ok(r) => log::warn!(
                "cannot edit a command's answer: HTTP {} {}",
                r.status,
                r.message()
            ),
            Err(e) => log::warn!("cannot edit a command's answer: {e}"),
        }
    }

    fn post(&self, body: &Value) -> bool {
        match self.shared.rest.post(&self.callback, body, false) {
            Ok(r) if (200..300).contains(&r.status) => true,
            Ok(r) => {
                log::warn!(
                    "cannot answer an interaction: HTTP {} {}",
                    r.status,
                    r.message()
                );
                false
            }
            Err(e) => {
                log::warn!("cannot answer an interaction: {e}");
                false
            }
        }
    }
}

/// A message body: capped, no pings, ephemeral when asked.
fn data(content: &str, ephemeral: bool) -> Value {
    json!({
        "content": fit(content),
        "allowed_mentions": {"parse": []},
        "flags": if ephemeral { EPHEMERAL } else { 0 },
    })
}

/// Who ran a command.
struct Member<'a> {
    id: &'a str,
    name: &'a str,
    roles: Vec<&'a str>,
    permissions: u64,
}

fn member(d: &Value) -> Option<Member<'_>> {
    let m = &d["member"];
    let user = &m["user"];
    Some(Member {
        id: user["id"].as_str()?,
        name: m["nick"]
            .as_str()
            .or_else(|| user["global_name"].as_str())
            .or_else(|| user["username"].as_str())
            .unwrap_or("someone"),
        roles: m["roles"]
            .as_array()
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default(),
        permissions: m["permissions"]
            .as_str()
            .and_then(|p| p.parse().ok())
            .unwrap_or(0),
    })
}

/// Whether `member` may run `leaf`: the command's own roles, else
/// `admin_role_ids`, else Administrator or Manage Server, but that last
/// only with `guild_id` set: without it, the member may be an admin of any
/// server the bot was added to.
fn permitted(shared: &Shared, leaf: &Leaf, member: &Member<'_>) -> bool {
    if !leaf.admin {
        return true;
    }
    let discord = &shared.config.discord;
    let has_any = |ids: &[crate::config::Snowflake]| {
        ids.iter()
            .any(|id| member.roles.iter().any(|r| *r == id.to_string()))
    };
    if let Some(roles) = discord.command_roles.get(leaf.path) {
        return has_any(roles);
    }
    if !discord.admin_role_ids.is_empty() {
        return has_any(&discord.admin_role_ids);
    }
    discord.guild_id.is_some() && member.permissions & (ADMINISTRATOR | MANAGE_GUILD) != 0
}

/// The server a command goes to when it names none: the member's default
/// (`/factorio connect`), else the one server bound to the channel. The
/// rest of the choice (the `server` option, the only server) is
/// [`resolve_server`]'s.
fn default_server(shared: &Shared, user: &str, channel: Option<&str>) -> Option<String> {
    let config = &shared.config;
    if let Some(id) = shared
        .defaults
        .get(user)
        .filter(|id| config.server(id).is_some())
    {
        return Some(id);
    }
    let channel = channel?;
    let bound: Vec<&Server> = config
        .servers
        .iter()
        .filter(|s| {
            [&s.chat_channel_id, &s.event_channel_id, &s.alert_channel_id]
                .into_iter()
                .flatten()
                .chain(s.channels.values())
                .any(|c| c.to_string() == channel)
        })
        .collect();
    match bound[..] {
        [one] => Some(one.id.to_string()),
        _ => None,
    }
}

fn facts(shared: &Shared, server: &Server) -> Facts {
    let (status, _) = shared.health.verdict();
    let state = shared.health.lock();
    let rcon = state.rcon.iter().find(|r| r.server == server.id);
    Facts {
        ups: rcon.and_then(|r| r.ups),
        rcon_up: rcon.and_then(|r| r.up),
        bridge_status: status.name().to_owned(),
        bridge_uptime: shared.health.uptime(),
        version: rcon.and_then(|r| r.version.clone()),
    }
}

fn command(shared: &Shared, d: &Value, reply: &Reply<'_>) {
    let inv = match Invocation::from_interaction(d) {
        Ok(inv) => inv,
        Err(e) => return reply.message(&e, true),
    };
    let Some(leaf) = spec::find(&inv.root, &inv.path) else {
        return reply.message(
            "This command is not known to this bridge; it may be from an older version.",
            true,
        );
    };
    let Some(member) = member(d) else {
        return reply.message("Use this command in a server channel, not in a DM.", true);
    };
    let shown = format!("/{} {}", inv.root, inv.path);
    if !permitted(shared, leaf, &member) {
        log::info!(
            "audit: {} ({}) was refused {shown}: not an admin",
            member.name,
            member.id
        );
        return reply.message(
            "You are not allowed to run this command (it needs an admin role of this bridge).",
            true,
        );
    }
    let default = default_server(shared, member.id, d["channel_id"].as_str());
    let server = match resolve_server(&inv, &shared.config, default.as_deref()) {
        Ok(s) => s,
        Err(e) => return reply.message(&e, true),
    };
    if let Err(left) = shared
        .cooldowns
        .take(member.id, cooldown(leaf.cooldown), Instant::now())
    {
        return reply.message(
            &format!("Slow down: try again in {} s.", left.as_secs() + 1),
            true,
        );
    }
    let ephemeral = leaf.ephemeral;
    let planned = plan(&inv, &shared.config, server, &facts(shared, server));
    let outcome = match planned {
        Err(refusal) => {
            reply.message(&refusal, true);
            format!("refused: {refusal}")
        }
        Ok(Plan::Reply(text)) => {
            reply.message(&text, ephemeral);
            "answered".to_owned()
        }
        Ok(Plan::Connect(id)) => {
            let chosen = shared.config.server(&id).unwrap_or(server);
            let mut text = connect_reply(chosen);
            if let Err(e) = shared.defaults.set(member.id, &id) {
                log::warn!("{e}");
                text.push_str(" (Until the bridge restarts: it could not save this.)");
            }
            reply.message(&text, true);
            format!("default server set to {id}")
        }
        Ok(Plan::Rcon { steps, render }) => {
            if !reply.defer(ephemeral) {
                return;
            }
            let text = match run_steps(shared, server, &steps) {
                Ok(outputs) => render(&outputs),
                Err(why) => why,
            };
            reply.edit(&text);
            text
        }
    };
    if leaf.admin {
        audit(shared, &member, &shown, &inv, server, &outcome);
    }
}

/// Runs `steps` in order within [`RCON_BUDGET`]; the error is the answer
/// to show (it never names the RCON host or port).
fn run_steps(shared: &Shared, server: &Server, steps: &[String]) -> Result<Vec<String>, String> {
    let name = escape_markdown(&server.name);
    let Some(rcon) = shared.rcon.get(&server.id) else {
        return Err(format!(
            "**{name}** has no RCON configured (set rcon_host and rcon_password for it)."
        ));
    };
    let deadline = Instant::now() + RCON_BUDGET;
    let mut outputs = Vec::with_capacity(steps.len());
    for step in steps {
        match ask(
            rcon,
            step,
            deadline.saturating_duration_since(Instant::now()),
        ) {
            Ok(out) => outputs.push(out),
            Err(rcon::Error::Timeout) => {
                return Err(format!(
                    "**{name}** did not answer within {} s (it may be saving); the command may still run.",
                    RCON_BUDGET.as_secs()
                ));
            }
            Err(rcon::Error::WrongPassword { .. }) => {
                return Err(format!("**{name}** refuses the bridge's RCON password."));
            }
            // Sent, then the connection broke: "try again" would run it
            // twice if it had run.
            Err(rcon::Error::Lost(_) | rcon::Error::Protocol(_)) => {
                return Err(format!(
                    "The connection to **{name}** broke after the command was sent, so it may have run; check before sending it again."
                ));
            }
            Err(_) => {
                return Err(format!(
                    "**{name}** is not reachable over RCON right now; try again in a minute."
                ));
            }
        }
    }
    Ok(outputs)
}

fn ask(
    rcon: &crossbeam_channel::Sender<rcon::Request>,
    command: &str,
    wait: Duration,
) -> Result<String, rcon::Error> {
    let (tx, rx) = crossbeam_channel::bounded(1);
    rcon.send(rcon::Request {
        command: command.to_owned(),
        reply: tx,
        deadline: Instant::now() + wait,
    })
    .map_err(|_| rcon::Error::Closed("the RCON thread stopped".to_owned()))?;
    rx.recv_timeout(wait).unwrap_or(Err(rcon::Error::Timeout))
}

fn audit(
    shared: &Shared,
    member: &Member<'_>,
    shown: &str,
    inv: &Invocation,
    server: &Server,
    outcome: &str,
) {
    let options: Vec<String> = inv
        .options
        .iter()
        .map(|(k, v)| format!("{k}:{}", shown_value(v)))
        .collect();
    let first_line = outcome.lines().next().unwrap_or("");
    log::info!(
        "audit: {} ({}) ran {shown} {} on {}: {first_line}",
        member.name,
        member.id,
        options.join(" "),
        server.id
    );
    let Some(channel) = &shared.config.discord.audit_channel_id else {
        return;
    };
    let content = format!(
        "🛡️ **{}** ran `{shown}{}{}` on **{}**: {}",
        escape_markdown(member.name),
        if options.is_empty() { "" } else { " " },
        options.join(" ").replace('`', "'"),
        escape_markdown(&server.name),
        first_line
    );
    let body = json!({"content": fit(&content), "allowed_mentions": {"parse": []}});
    let url = shared.rest.url(&format!("channels/{channel}/messages"));
    match shared.rest.post(&url, &body, true) {
        Ok(r) if (200..300).contains(&r.status) => {}
        Ok(r) => log::warn!(
            "cannot post to the audit channel: HTTP {} {}",
            r.status,
            r.message()
        ),
        Err(e) => log::warn!("cannot post to the audit channel: {e}"),
    }
}

/// An option's value as the audit line shows it, on one line.
fn shown_value(v: &OptionValue) -> String {
    match v {
        OptionValue::Str(s) => s.replace(['\n', '\r'], " "),
        OptionValue::Int(i) => i.to_string(),
        OptionValue::Bool(b) => b.to_string(),
        OptionValue::Num(n) => n.to_string(),
    }
}

fn autocomplete(shared: &Shared, d: &Value, reply: &Reply<'_>) {
    let Ok(inv) = Invocation::parse(&d["data"]) else {
        return reply.choices(Vec::new());
    };
    let Some(focused) = inv.focused.clone() else {
        return reply.choices(Vec::new());
    };
    // Autocomplete of an admin command asks the game too: only for admins.
    let allowed = match (inv.leaf(), member(d)) {
        (Some(leaf), Some(m)) => permitted(shared, leaf, &m),
        _ => false,
    };
    let players = if focused == "player" && allowed {
        let user = d["member"]["user"]["id"].as_str().unwrap_or("");
        let default = default_server(shared, user, d["channel_id"].as_str());
        resolve_server(&inv, &shared.config, default.as_deref())
            .map(|server| online_players(shared, server))
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    let choices = complete(&inv, &shared.config, &players);
    reply.choices(choices);
}

/// Online players of `server`, from the cache or a quick `/players online`.
fn online_players(shared: &Shared, server: &Server) -> Vec<String> {
    if let Some((at, names)) = shared
        .players
        .0
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&server.id)
        && at.elapsed() < PLAYERS_FRESH
    {
        return names.clone();
    }
    let Some(rcon) = shared.rcon.get(&server.id) else {
        return Vec::new();
    };
    // A failure is remembered too, so a server that is down is not asked
    // again on every keystroke.
    let names: Vec<String> = match ask(rcon, "/players online", AUTOCOMPLETE_RCON) {
        Ok(text) => crate::factorio::parse_players(&text)
            .into_iter()
            .filter(|p| p.online)
            .map(|p| p.name)
            .collect(),
        Err(_) => Vec::new(),
    };
    shared
        .players
        .0
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(server.id.clone(), (Instant::now(), names.clone()));
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cooldowns_are_per_member_and_kind() {
        let c = Cooldowns::default();
        let t = Instant::now();
        let query = cooldown(Cooldown::Query);
        assert_eq!(c.take("a", query, t), Ok(()));
        assert!(c.take("a", query, t + Duration::from_secs(1)).is_err());
        assert_eq!(c.take("b", query, t + Duration::from_secs(1)), Ok(()));
        assert_eq!(c.take("a", query, t + query), Ok(()));
        let danger = cooldown(Cooldown::Danger);
        assert!(
            c.take("a", danger, t + query + Duration::from_secs(3))
                .is_err()
        );
        assert_eq!(c.take("a", Duration::ZERO, t), Ok(()), "help needs no wait");
    }
}
