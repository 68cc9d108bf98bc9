//! `factorio-isr doctor`: checks the set-up end to end and says how to fix
//! each failure, one line per check.
//!
//! Every bridge's most common support thread is "it runs but nothing
//! arrives": a token from the wrong application, the Message Content intent
//! off, a channel the bot cannot see, an RCON password with a stray space, a
//! log path Factorio never writes. Each of those is asked here the way the
//! daemon will meet it, with the same clients, and nothing is changed: no
//! message is posted, no command that acts runs on a game server, no lock
//! is taken on the state dir (a running daemon may hold it).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, SystemTime};

use serde_json::Value;

use crate::config::{Config, Mode};
use crate::discord::rest::{Reply, Rest};

/// Permission bits the checks need (Discord's permission flags).
pub mod perm {
    pub const ADMINISTRATOR: u64 = 1 << 3;
    pub const VIEW_CHANNEL: u64 = 1 << 10;
    pub const SEND_MESSAGES: u64 = 1 << 11;
    pub const READ_MESSAGE_HISTORY: u64 = 1 << 16;
}

/// Application flags for the Message Content intent (approved or not).
const GATEWAY_MESSAGE_CONTENT: u64 = (1 << 18) | (1 << 19);

/// RCON connect and auth timeout for the check.
const RCON_TIMEOUT: Duration = Duration::from_secs(5);

/// A log not written for this long may not be the one Factorio writes.
const STALE_LOG: Duration = Duration::from_secs(24 * 3600);

/// One check's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Ok(String),
    /// Works, but something deserves a look.
    Warn(String),
    /// Does not work; the text says what to do.
    Fail(String),
}

/// Writes each check as it completes; returns whether none failed.
pub fn run(config: &Config, out: &mut dyn Write) -> bool {
    let mut ok = true;
    let mut say = |o: Outcome| {
        let line = match &o {
            Outcome::Ok(m) => format!("✓ {m}"),
            Outcome::Warn(m) => format!("! {m}"),
            Outcome::Fail(m) => {
                ok = false;
                format!("✗ {m}")
            }
        };
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    };
    match crate::app::prepare(config) {
        Ok(_) => say(Outcome::Ok(format!(
            "config {} and its patterns are valid ({} server(s))",
            config.source.display(),
            config.servers.len(),
        ))),
        Err(e) => say(Outcome::Fail(format!("config: {e}"))),
    }
    say(state_dir(&config.state_dir));
    for server in &config.servers {
        for path in &server.log_paths {
            say(log_file(&server.id, path));
        }
    }
    for server in &config.servers {
        match &server.rcon {
            Some(rcon) => say(rcon_check(&server.id, rcon)),
            None => say(Outcome::Ok(format!(
                "server {}: no RCON configured (stats, alerts and commands need rcon_host and rcon_password)",
                server.id
            ))),
        }
    }
    match config.mode() {
        Mode::DryRun => say(Outcome::Warn(
            "no bot token and no webhook URL: the daemon runs dry and prints messages instead of posting \
             (set discord.bot_token or discord.webhook_url)"
                .to_owned(),
        )),
        Mode::Webhook => say(webhook(config)),
        Mode::Bot => {
            for o in discord(config) {
                say(o);
            }
        }
    }
    ok
}

fn state_dir(dir: &Path) -> Outcome {
    if let Err(e) = std::fs::create_dir_all(dir) {
        return Outcome::Fail(format!(
            "state dir {}: cannot create it: {e} (set state_dir to a writable directory)",
            dir.display()
        ));
    }
    let probe = dir.join(format!(".doctor-{}", std::process::id()));
    let written = std::fs::write(&probe, b"probe");
    let _ = std::fs::remove_file(&probe);
    match written {
        Ok(()) => Outcome::Ok(format!("state dir {} is writable", dir.display())),
        Err(e) => Outcome::Fail(format!(
            "state dir {}: cannot write there: {e} (give the daemon's user write access, or set state_dir)",
            dir.display()
        )),
    }
}

fn log_file(server: &str, path: &Path) -> Outcome {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Outcome::Fail(format!(
                "server {server}: {} does not exist yet; start Factorio with --console-log {} (or fix log_path); \
                 the daemon waits for it",
                path.display(),
                path.display()
            ));
        }
        Err(e) => {
            return Outcome::Fail(format!(
                "server {server}: {}: {e} (give the daemon's user read access to the file and its directory)",
                path.display()
            ));
        }
    };
    if let Err(e) = std::fs::File::open(path) {
        return Outcome::Fail(format!(
            "server {server}: cannot read {}: {e} (give the daemon's user read access)",
            path.display()
        ));
    }
    let age = meta
        .modified()
        .ok()
        .and_then(|m| SystemTime::now().duration_since(m).ok());
    let written = age.map_or_else(
        || "last write time unknown".to_owned(),
        |a| format!("last written {} ago", crate::monitor::duration(a)),
    );
    let text = format!(
        "server {server}: {} is readable ({} bytes, {written})",
        path.display(),
        meta.len()
    );
    match age {
        Some(a) if a > STALE_LOG => Outcome::Warn(format!(
            "{text}; if the game is running, check that --console-log points at this file"
        )),
        _ => Outcome::Ok(text),
    }
}

fn rcon_check(server: &str, rcon: &crate::config::Rcon) -> Outcome {
    let addr = format!("{}:{}", rcon.host, rcon.port);
    match crate::rcon::Client::connect(&addr, &rcon.password, RCON_TIMEOUT) {
        Ok(mut client) => match client.exec("/version") {
            Ok(v) => Outcome::Ok(format!(
                "server {server}: RCON at {addr} accepts the password (Factorio {})",
                v.trim()
            )),
            Err(e) => Outcome::Warn(format!(
                "server {server}: RCON at {addr} accepts the password but /version failed: {e}"
            )),
        },
        Err(e) => Outcome::Fail(format!(
            "server {server}: {e} (see docs/RCON_SETUP.md: Factorio needs --rcon-port and --rcon-password, and \
             the port must be reachable from here)"
        )),
    }
}

fn webhook(config: &Config) -> Outcome {
    let Some(url) = &config.discord.webhook_url else {
        return Outcome::Fail("no webhook URL".to_owned());
    };
    let rest = match Rest::new(&config.discord.api_base, None) {
        Ok(r) => r,
        Err(e) => return Outcome::Fail(e),
    };
    match rest.get(url.expose()) {
        Ok(r) if r.status == 200 => {
            let channel = json(&r)["channel_id"].as_str().unwrap_or("?").to_owned();
            Outcome::Ok(format!("the webhook exists and posts to channel {channel}"))
        }
        Ok(r) if matches!(r.status, 401 | 404) => Outcome::Fail(format!(
            "Discord does not know the webhook ({}): create one (channel settings > Integrations > Webhooks) \
             and set discord.webhook_url",
            r.message()
        )),
        Ok(r) => Outcome::Fail(format!(
            "the webhook check failed: HTTP {} {}",
            r.status,
            r.message()
        )),
        Err(e) => Outcome::Fail(format!("the webhook check failed: {e}")),
    }
}

/// Token, intent, and each configured channel.
fn discord(config: &Config) -> Vec<Outcome> {
    let rest = match Rest::new(&config.discord.api_base, config.discord.bot_token.clone()) {
        Ok(r) => r,
        Err(e) => return vec![Outcome::Fail(e)],
    };
    let me = match rest.get(&rest.url("users/@me")) {
        Ok(r) if r.status == 200 => json(&r),
        Ok(r) if r.status == 401 => {
            return vec![Outcome::Fail(
                "Discord rejected the bot token (401): copy it again from Developer Portal > Bot > Reset Token \
                 into discord.bot_token"
                    .to_owned(),
            )];
        }
        Ok(r) => {
            return vec![Outcome::Fail(format!(
                "GET /users/@me failed: HTTP {} {}",
                r.status,
                r.message()
            ))];
        }
        Err(e) => {
            return vec![Outcome::Fail(format!(
                "{e} (check discord.api_base and the network)"
            ))];
        }
    };
    let bot_id = me["id"].as_str().unwrap_or_default().to_owned();
    let mut out = vec![Outcome::Ok(format!(
        "the bot token is valid: {} (id {bot_id})",
        me["username"].as_str().unwrap_or("?")
    ))];
    let relays = config.servers.iter().any(|s| s.chat_channel_id.is_some());
    if relays && config.discord.gateway {
        out.push(match rest.get(&rest.url("applications/@me")) {
            Ok(r) if r.status == 200 => {
                let flags = json(&r)["flags"].as_u64().unwrap_or(0);
                if flags & GATEWAY_MESSAGE_CONTENT != 0 {
                    Outcome::Ok("the Message Content intent is enabled (needed by chat_channel_id)".to_owned())
                } else {
                    Outcome::Fail(
                        "the Message Content intent is off, so chat_channel_id cannot relay: enable it in \
                         Developer Portal > Bot > Privileged Gateway Intents, or remove chat_channel_id and use \
                         /factorio say"
                            .to_owned(),
                    )
                }
            }
            Ok(r) => Outcome::Warn(format!(
                "cannot read the application's intents: HTTP {} {}",
                r.status,
                r.message()
            )),
            Err(e) => Outcome::Warn(format!("cannot read the application's intents: {e}")),
        });
    }
    let mut guilds = Guilds::default();
    for (channel, (uses, needs)) in channels(config) {
        out.push(channel_check(
            &rest,
            &mut guilds,
            &bot_id,
            &channel,
            &uses,
            needs,
        ));
    }
    out
}

/// Every channel the config names, with what it is used for and the
/// permissions that use needs.
fn channels(config: &Config) -> BTreeMap<String, (Vec<String>, u64)> {
    let post = perm::VIEW_CHANNEL | perm::SEND_MESSAGES;
    let mut map: BTreeMap<String, (Vec<String>, u64)> = BTreeMap::new();
    let mut add = |id: &crate::config::Snowflake, what: String, needs: u64| {
        let e = map.entry(id.to_string()).or_default();
        e.0.push(what);
        e.1 |= needs;
    };
    if let Some(id) = &config.discord.event_channel_id {
        add(id, "discord.event_channel_id".to_owned(), post);
    }
    if let Some(id) = &config.discord.audit_channel_id {
        add(id, "discord.audit_channel_id".to_owned(), post);
    }
    for s in &config.servers {
        let key = |k: &str| format!("servers.{}.{k}", s.id);
        if let Some(id) = &s.event_channel_id {
            add(id, key("event_channel_id"), post);
        }
        for (kind, id) in &s.channels {
            add(id, key(&format!("channels.{kind}")), post);
        }
        if let Some(id) = &s.chat_channel_id {
            add(
                id,
                key("chat_channel_id"),
                perm::VIEW_CHANNEL | perm::READ_MESSAGE_HISTORY,
            );
        }
        if let Some(id) = &s.alert_channel_id {
            add(id, key("alert_channel_id"), post);
        }
        if let Some(id) = &s.stats.stats_channel_id {
            add(id, key("stats_channel_id"), post);
        }
    }
    map
}

/// Guild data fetched once per guild.
#[derive(Default)]
struct Guilds {
    cache: BTreeMap<String, Result<Guild, String>>,
}

struct Guild {
    owner_id: String,
    /// Role ID to permissions.
    roles: BTreeMap<String, u64>,
    /// The bot's roles.
    member_roles: Vec<String>,
}

impl Guilds {
    fn get(&mut self, rest: &Rest, guild_id: &str, bot_id: &str) -> &Result<Guild, String> {
        self.cache
            .entry(guild_id.to_owned())
            .or_insert_with(|| fetch_guild(rest, guild_id, bot_id))
    }
}

fn fetch_guild(rest: &Rest, guild_id: &str, bot_id: &str) -> Result<Guild, String> {
    let get = |path: String| -> Result<Value, String> {
        match rest.get(&rest.url(&path)) {
            Ok(r) if r.status == 200 => Ok(json(&r)),
            Ok(r) => Err(format!("GET /{path}: HTTP {} {}", r.status, r.message())),
            Err(e) => Err(e.to_string()),
        }
    };
    let guild = get(format!("guilds/{guild_id}"))?;
    let roles = get(format!("guilds/{guild_id}/roles"))?;
    let member = get(format!("guilds/{guild_id}/members/{bot_id}"))?;
    Ok(Guild {
        owner_id: guild["owner_id"].as_str().unwrap_or_default().to_owned(),
        roles: roles
            .as_array()
            .map(|list| {
                list.iter()
                    .filter_map(|r| Some((r["id"].as_str()?.to_owned(), bits(&r["permissions"]))))
                    .collect()
            })
            .unwrap_or_default(),
        member_roles: strings(&member["roles"]),
    })
}

fn channel_check(
    rest: &Rest,
    guilds: &mut Guilds,
    bot_id: &str,
    channel: &str,
    uses: &[String],
    needs: u64,
) -> Outcome {
    let uses = uses.join(", ");
    let reply = match rest.get(&rest.url(&format!("channels/{channel}"))) {
        Ok(r) => r,
        Err(e) => return Outcome::Fail(format!("channel {channel} ({uses}): {e}")),
    };
    let channel_json = match reply.status {
        200 => json(&reply),
        404 => {
            return Outcome::Fail(format!(
                "channel {channel} ({uses}) does not exist: copy the ID again (Developer Mode, right-click the \
                 channel, Copy Channel ID)"
            ));
        }
        403 => {
            return Outcome::Fail(format!(
                "channel {channel} ({uses}): the bot cannot see it; invite the bot to that server, or give it \
                 View Channel there"
            ));
        }
        status => {
            return Outcome::Fail(format!(
                "channel {channel} ({uses}): HTTP {status} {}",
                reply.message()
            ));
        }
    };
    let name = channel_json["name"].as_str().unwrap_or("?").to_owned();
    let Some(guild_id) = channel_json["guild_id"].as_str() else {
        return Outcome::Fail(format!(
            "channel {channel} ({uses}) is not in a server (a DM?); use a server text channel"
        ));
    };
    let guild = match guilds.get(rest, guild_id, bot_id) {
        Ok(g) => g,
        Err(e) => {
            return Outcome::Warn(format!(
                "channel {channel} #{name} ({uses}) exists; its permissions could not be read: {e}"
            ));
        }
    };
    let overwrites: Vec<Overwrite> = channel_json["permission_overwrites"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|o| Overwrite {
                    id: o["id"].as_str().unwrap_or_default().to_owned(),
                    member: o["type"].as_u64() == Some(1),
                    allow: bits(&o["allow"]),
                    deny: bits(&o["deny"]),
                })
                .collect()
        })
        .unwrap_or_default();
    let have = permissions(guild_id, bot_id, guild, &overwrites);
    let missing = needs & !have;
    if missing == 0 {
        return Outcome::Ok(format!(
            "channel {channel} #{name} ({uses}): the bot may {}",
            if needs & perm::SEND_MESSAGES != 0 {
                "view it and post there"
            } else {
                "read it"
            }
        ));
    }
    let names: Vec<&str> = [
        (perm::VIEW_CHANNEL, "View Channel"),
        (perm::SEND_MESSAGES, "Send Messages"),
        (perm::READ_MESSAGE_HISTORY, "Read Message History"),
    ]
    .iter()
    .filter(|(bit, _)| missing & bit != 0)
    .map(|(_, n)| *n)
    .collect();
    Outcome::Fail(format!(
        "channel {channel} #{name} ({uses}): the bot lacks {}; allow it in the channel's permissions (for the \
         bot's role or the bot)",
        names.join(" and ")
    ))
}

/// A channel permission overwrite.
#[derive(Debug, Clone)]
pub struct Overwrite {
    pub id: String,
    /// Member (true) or role (false).
    pub member: bool,
    pub allow: u64,
    pub deny: u64,
}

/// The bot's permissions in a channel, computed as Discord documents it:
/// @everyone and the member's roles, Administrator and ownership grant
/// everything, then the channel's @everyone, role and member overwrites in
/// that order.
fn permissions(guild_id: &str, user_id: &str, guild: &Guild, overwrites: &[Overwrite]) -> u64 {
    if guild.owner_id == user_id {
        return u64::MAX;
    }
    let mut base = guild.roles.get(guild_id).copied().unwrap_or(0);
    for role in &guild.member_roles {
        base |= guild.roles.get(role).copied().unwrap_or(0);
    }
    if base & perm::ADMINISTRATOR != 0 {
        return u64::MAX;
    }
    let mut p = base;
    if let Some(o) = overwrites.iter().find(|o| !o.member && o.id == guild_id) {
        p = (p & !o.deny) | o.allow;
    }
    let (mut allow, mut deny) = (0, 0);
    for o in overwrites
        .iter()
        .filter(|o| !o.member && guild.member_roles.contains(&o.id))
    {
        allow |= o.allow;
        deny |= o.deny;
    }
    p = (p & !deny) | allow;
    if let Some(o) = overwrites.iter().find(|o| o.member && o.id == user_id) {
        p = (p & !o.deny) | o.allow;
    }
    p
}

fn json(reply: &Reply) -> Value {
    serde_json::from_str(&reply.body).unwrap_or(Value::Null)
}

/// Discord sends permissions as decimal strings.
fn bits(v: &Value) -> u64 {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .or_else(|| v.as_u64())
        .unwrap_or(0)
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guild(roles: &[(&str, u64)], member_roles: &[&str]) -> Guild {
        Guild {
            owner_id: "owner".into(),
            roles: roles.iter().map(|(id, p)| ((*id).to_owned(), *p)).collect(),
            member_roles: member_roles.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    fn ow(id: &str, member: bool, allow: u64, deny: u64) -> Overwrite {
        Overwrite {
            id: id.into(),
            member,
            allow,
            deny,
        }
    }

    const POST: u64 = perm::VIEW_CHANNEL | perm::SEND_MESSAGES;

    #[test]
    fn overwrites_apply_everyone_then_roles_then_member() {
        let g = guild(&[("g", POST), ("bot-role", 0)], &["bot-role"]);
        assert_eq!(permissions("g", "bot", &g, &[]) & POST, POST);
        // @everyone denied in the channel, the bot's role allowed back.
        let hidden = [ow("g", false, 0, POST)];
        assert_eq!(permissions("g", "bot", &g, &hidden) & POST, 0);
        let role_back = [ow("g", false, 0, POST), ow("bot-role", false, POST, 0)];
        assert_eq!(permissions("g", "bot", &g, &role_back) & POST, POST);
        // The member overwrite has the last word.
        let member_denied = [
            ow("bot-role", false, POST, 0),
            ow("bot", true, 0, perm::SEND_MESSAGES),
        ];
        assert_eq!(
            permissions("g", "bot", &g, &member_denied) & POST,
            perm::VIEW_CHANNEL
        );
        // A role overwrite of a role the bot lacks does nothing.
        let others = [ow("mods", false, 0, POST)];
        assert_eq!(permissions("g", "bot", &g, &others) & POST, POST);
    }

    #[test]
    fn administrator_and_owner_see_everything() {
        let g = guild(&[("g", 0), ("admin", perm::ADMINISTRATOR)], &["admin"]);
        assert_eq!(
            permissions("g", "bot", &g, &[ow("g", false, 0, POST)]),
            u64::MAX
        );
        let g = guild(&[("g", 0)], &[]);
        assert_eq!(permissions("g", "owner", &g, &[]), u64::MAX);
        assert_eq!(permissions("g", "bot", &g, &[]), 0);
    }
}
