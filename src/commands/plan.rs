//! From a slash-command invocation to a plan: the reply itself, or the
//! console commands to run on a server and how to render their outputs.
//!
//! No I/O: the caller parses the interaction with [`Invocation::parse`],
//! picks the server ([`resolve_server`]), checks permissions and cooldowns,
//! calls [`plan`], runs the steps over RCON in order and edits the deferred
//! reply with what `render` makes of their outputs.
//!
//! Rules every plan keeps (tests below check each):
//! - Without the server's `allow_lua`, no step runs Lua (`/c`, `/sc`, ...),
//!   because any Lua disables achievements for the save; a leaf that needs
//!   Lua is refused with what it would cost and how to allow it.
//! - With `allow_lua`, Lua goes through `/sc` (not echoed to players), reads
//!   results with `rcon.print`, and takes Discord text only as
//!   [`lua_string`] literals.
//! - Player names pass [`player`]; free text passes [`clean_text`]; plain
//!   chat never starts with `/`; no step is longer than
//!   [`MAX_COMMAND_BYTES`].
//! - Every reply fits Discord's 2000 characters, escapes game text, and
//!   never shows an RCON host or port.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde_json::Value;

use super::sanitize::{
    MAX_COMMAND_BYTES, MAX_MESSAGE_BYTES, MAX_REASON_BYTES, clean_text, disables_achievements,
    game_name, lua_string, player, relay_line, runs_lua, save_name,
};
use super::spec::{self, ADMIN_ROOT, Kind, Leaf, ROOT};
use crate::config::{Config, Server};
use crate::discord::format::{MAX_CONTENT, escape_markdown};
use crate::factorio::{parse_evolution, parse_map_age, parse_name_list, parse_players};

/// A typed option value as Discord sends it.
#[derive(Debug, Clone, PartialEq)]
pub enum OptionValue {
    Str(String),
    Int(i64),
    Bool(bool),
    Num(f64),
}

/// One slash-command use (type 2) or autocomplete request (type 4).
#[derive(Debug, Clone, PartialEq)]
pub struct Invocation {
    pub root: String,
    /// The leaf's path: `"kick"`, `"whitelist add"`.
    pub path: String,
    pub options: BTreeMap<String, OptionValue>,
    /// Autocomplete: the option being typed (its value may be partial).
    pub focused: Option<String>,
    /// The invoking member's display name, for `say`. Discord's `data`
    /// does not carry it: [`Invocation::from_interaction`] fills it in,
    /// [`Invocation::parse`] leaves it empty.
    pub user: String,
}

impl Invocation {
    /// Reads an interaction's `data`: the command name, the nested
    /// SUB_COMMAND_GROUP (type 2) / SUB_COMMAND (type 1) options, and the
    /// leaf's typed option values. Err for anything that is not one of our
    /// leaves.
    pub fn parse(data: &Value) -> Result<Invocation, String> {
        let root = data.get("name").and_then(Value::as_str).unwrap_or("");
        if root != ROOT && root != ADMIN_ROOT {
            return Err(format!(
                "Unknown command “/{}”: this bot only knows /{ROOT} and /{ADMIN_ROOT}.",
                escape_markdown(&clean_text(root, 40))
            ));
        }
        let mut path: Vec<&str> = Vec::new();
        let mut options = option_list(data);
        // Command → group → subcommand at most (Discord's nesting rule).
        for _ in 0..2 {
            let Some(first) = options.first() else { break };
            let kind = first.get("type").and_then(Value::as_u64);
            if !matches!(kind, Some(1 | 2)) {
                break;
            }
            path.push(first.get("name").and_then(Value::as_str).unwrap_or(""));
            options = option_list(first);
            if kind == Some(1) {
                break;
            }
        }
        let path = path.join(" ");
        let leaf = spec::find(root, &path).ok_or_else(|| {
            format!(
                "Unknown command “/{root} {}”: the bot's command list may be out of date; try again in a minute or see /{ROOT} help.",
                escape_markdown(&clean_text(&path, 70))
            )
        })?;
        let mut inv = Invocation {
            root: leaf.root.to_owned(),
            path: leaf.path.to_owned(),
            options: BTreeMap::new(),
            focused: None,
            user: String::new(),
        };
        for o in options {
            let Some(name) = o.get("name").and_then(Value::as_str) else {
                continue;
            };
            let kind = o.get("type").and_then(Value::as_u64).unwrap_or(0);
            if let Some(value) = o.get("value").and_then(|v| option_value(kind, v)) {
                inv.options.insert(name.to_owned(), value);
            }
            if o.get("focused").and_then(Value::as_bool) == Some(true) {
                inv.focused = Some(name.to_owned());
            }
        }
        Ok(inv)
    }

    /// [`Invocation::parse`] of a whole interaction (`d` of
    /// INTERACTION_CREATE), with [`Invocation::user`] set to the member's
    /// server nickname, else their display name, else their username.
    pub fn from_interaction(interaction: &Value) -> Result<Invocation, String> {
        let data = interaction.get("data").unwrap_or(&Value::Null);
        let mut inv = Invocation::parse(data)?;
        let member = interaction.get("member");
        let user = member
            .and_then(|m| m.get("user"))
            .or_else(|| interaction.get("user"));
        let field = |v: Option<&Value>, key: &str| {
            v.and_then(|v| v.get(key))
                .and_then(Value::as_str)
                .filter(|s| !s.trim().is_empty())
                .map(str::to_owned)
        };
        inv.user = field(member, "nick")
            .or_else(|| field(user, "global_name"))
            .or_else(|| field(user, "username"))
            .unwrap_or_default();
        Ok(inv)
    }

    /// The named option's text, if it was given as text.
    pub fn str(&self, name: &str) -> Option<&str> {
        match self.options.get(name) {
            Some(OptionValue::Str(s)) => Some(s),
            _ => None,
        }
    }

    /// The named option as a number (INTEGER or NUMBER).
    pub fn num(&self, name: &str) -> Option<f64> {
        match self.options.get(name) {
            Some(OptionValue::Num(n)) => Some(*n),
            Some(OptionValue::Int(n)) => Some(*n as f64),
            _ => None,
        }
    }

    pub fn flag(&self, name: &str) -> Option<bool> {
        match self.options.get(name) {
            Some(OptionValue::Bool(b)) => Some(*b),
            _ => None,
        }
    }

    /// The leaf this invocation is for (always found after `parse`).
    pub fn leaf(&self) -> Option<&'static Leaf> {
        spec::find(&self.root, &self.path)
    }
}

fn option_list(v: &Value) -> &[Value] {
    v.get("options")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// A value by its JSON shape, the declared type breaking ties: during
/// autocomplete a number option being typed may arrive as partial text.
fn option_value(kind: u64, v: &Value) -> Option<OptionValue> {
    Some(match v {
        Value::String(s) => OptionValue::Str(s.clone()),
        Value::Bool(b) => OptionValue::Bool(*b),
        Value::Number(n) if kind == u64::from(Kind::Num.wire()) => OptionValue::Num(n.as_f64()?),
        Value::Number(n) => match n.as_i64() {
            Some(i) => OptionValue::Int(i),
            None => OptionValue::Num(n.as_f64()?),
        },
        _ => return None,
    })
}

/// What the bridge knows without asking the game, filled in by the caller.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// Last UPS measurement (from `/time`); `None` before two samples.
    pub ups: Option<f64>,
    /// Whether the RCON connection is up; `None` if not known yet.
    pub rcon_up: Option<bool>,
    /// The bridge's overall health, e.g. "healthy".
    pub bridge_status: String,
    pub bridge_uptime: Duration,
    /// The server's last `/version` answer, which picks the Lua API.
    pub version: Option<String>,
}

/// Turns the outputs of a plan's steps, in order, into the reply. It is
/// given fewer outputs than steps only if the caller gives up early; it
/// never panics on that.
pub type Render = Box<dyn FnOnce(&[String]) -> String + Send>;

pub enum Plan {
    /// Answered without RCON (servers, help, ups from Facts, health).
    Reply(String),
    /// Set the user's default server to this id (it exists in the config).
    Connect(String),
    /// Run `steps` in order on the server; `render` gets their outputs.
    Rcon { steps: Vec<String>, render: Render },
}

impl fmt::Debug for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Plan::Reply(text) => f.debug_tuple("Reply").field(text).finish(),
            Plan::Connect(id) => f.debug_tuple("Connect").field(id).finish(),
            Plan::Rcon { steps, .. } => f.debug_struct("Rcon").field("steps", steps).finish(),
        }
    }
}

/// Which Lua API a server speaks. Only what differs between the versions
/// and is used here matters: `game.print`'s second argument is a colour in
/// 1.1 and a `PrintSettings` table in 2.0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LuaApi {
    V1_1,
    V2_0,
}

/// The API for a `/version` answer; 2.0 when unknown, the current release.
pub fn lua_api(version: Option<&str>) -> LuaApi {
    match version.and_then(parse_version) {
        Some(v) if v.split('.').next().is_some_and(|m| m == "0" || m == "1") => LuaApi::V1_1,
        _ => LuaApi::V2_0,
    }
}

/// The first dotted version number in `text` ("2.0.28" from "2.0.28" or
/// "Version: 2.0.28 (build 80000, linux64, headless)").
pub fn parse_version(text: &str) -> Option<String> {
    text.split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .map(|w| w.trim_matches('.'))
        .find(|w| {
            w.contains('.')
                && w.split('.')
                    .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        })
        .map(str::to_owned)
}

/// The refusal for a Lua leaf on a server without `allow_lua`.
fn lua_refused(what: &str, server: &Server) -> String {
    format!(
        "{what} runs Lua, which disables achievements on this save; set servers.{}.allow_lua: true to allow it.",
        server.id
    )
}

/// Plans `inv` for `server`. Err is a refusal to show the user.
pub fn plan(
    inv: &Invocation,
    config: &Config,
    server: &Server,
    facts: &Facts,
) -> Result<Plan, String> {
    let leaf = inv.leaf().ok_or_else(|| {
        format!(
            "Unknown command: see /{ROOT} help for what this bot can do (its command list may be out of date)."
        )
    })?;
    for opt in leaf.options.iter().filter(|o| o.required) {
        if !inv.options.contains_key(opt.name) {
            return Err(format!(
                "{} needs the `{}` option.",
                leaf.command(),
                opt.name
            ));
        }
    }
    let name = escape_markdown(&server.name);
    if leaf.rcon && server.rcon.is_none() {
        return Err(format!(
            "{name} has no RCON connection configured, so the bridge cannot ask the game; set servers.{}.rcon_password (and rcon_host) to use {}.",
            server.id,
            leaf.command()
        ));
    }
    if leaf.lua && !server.allow_lua {
        return Err(lua_refused(&leaf.command(), server));
    }
    let api = lua_api(facts.version.as_deref());
    let text = |opt: &str| inv.str(opt).unwrap_or("");
    let who = || player(text("player")).map(str::to_owned);

    match (leaf.root, leaf.path) {
        (ROOT, "servers") => Ok(Plan::Reply(servers_reply(config, server))),
        (ROOT, "connect") => {
            let wanted = text("server");
            find_server(config, wanted)
                .map(|s| Plan::Connect(s.id.to_string()))
                .ok_or_else(|| no_such_server(config, wanted))
        }
        (ROOT, "help") => Ok(Plan::Reply(help_text(false))),
        (ADMIN_ROOT, "help") => Ok(Plan::Reply(help_text(true))),
        (ROOT, "health") => Ok(Plan::Reply(health_reply(server, facts))),
        (ROOT, "ups") => Ok(Plan::Reply(ups_reply(&name, facts.ups))),

        (ROOT, "status") => {
            let facts = facts.clone();
            rcon(
                vec![
                    "/players online".into(),
                    "/time".into(),
                    "/evolution".into(),
                ],
                move |o| render_status(&name, &facts, o),
            )
        }
        (ROOT, "players") => rcon(vec!["/players online".into()], move |o| {
            render_players(&name, output(o, 0))
        }),
        (ROOT, "version") => rcon(vec!["/version".into()], move |o| {
            render_version(&name, output(o, 0))
        }),
        (ROOT, "seed") => rcon(vec!["/seed".into()], move |o| {
            render_seed(&name, output(o, 0))
        }),
        (ROOT, "evolution") => {
            let surface = inv.str("surface").map(|s| clean_text(s, 100));
            rcon(vec!["/evolution".into()], move |o| {
                render_evolution(&name, output(o, 0), surface.as_deref())
            })
        }
        (ROOT, "admins") => rcon(vec!["/admins".into()], move |o| {
            render_admins(&name, output(o, 0))
        }),
        (ROOT, "time") => rcon(vec!["/time".into()], move |o| {
            render_time(&name, output(o, 0))
        }),
        (ROOT, "uptime") => {
            let bridge = facts.bridge_uptime;
            rcon(vec!["/time".into()], move |o| {
                render_uptime(&name, output(o, 0), bridge)
            })
        }
        (ROOT, "bans") => rcon(vec!["/bans".into()], move |o| {
            render_names(&name, output(o, 0), "Banned players", "No one is banned")
        }),
        (ROOT, "mods") => rcon(vec![format!("/sc {LUA_MODS}")], move |o| {
            render_mods(&name, output(o, 0))
        }),
        (ROOT, "say") => {
            let line = relay_line(&inv.user, text("message")).ok_or(
                "There is nothing to say once line breaks and control characters are removed.",
            )?;
            let shown = escape_markdown(&line);
            rcon(vec![line], move |o| {
                acted(format!("Said on {name}: {shown}"), output(o, 0))
            })
        }

        (ADMIN_ROOT, "kick" | "ban") => {
            let who = who()?;
            let reason = clean_text(text("reason"), MAX_REASON_BYTES);
            let verb = leaf.path;
            let step = if reason.is_empty() {
                format!("/{verb} {who}")
            } else {
                format!("/{verb} {who} {reason}")
            };
            let done = if reason.is_empty() {
                format!("Asked {name} to {verb} {}.", escape_markdown(&who))
            } else {
                format!(
                    "Asked {name} to {verb} {} (reason: {}).",
                    escape_markdown(&who),
                    escape_markdown(&reason)
                )
            };
            rcon(vec![step], move |o| acted(done, output(o, 0)))
        }
        (ADMIN_ROOT, verb @ ("unban" | "mute" | "unmute" | "promote" | "demote")) => {
            let who = who()?;
            let done = format!("Asked {name} to {verb} {}.", escape_markdown(&who));
            rcon(vec![format!("/{verb} {who}")], move |o| {
                acted(done, output(o, 0))
            })
        }
        (ADMIN_ROOT, "mutes") => rcon(vec!["/mutes".into()], move |o| {
            render_raw(&format!("Muted players on {name}:"), output(o, 0))
        }),
        (ADMIN_ROOT, "save") => {
            // `/server-save` saves over the running save; `/save NAME`
            // writes NAME.zip (RCON runs commands as the server itself).
            let (step, done) = match inv.str("name").filter(|s| !s.trim().is_empty()) {
                None => (
                    "/server-save".to_owned(),
                    format!("Asked {name} to save the map."),
                ),
                Some(n) => {
                    let n = save_name(n)?;
                    (
                        format!("/save {n}"),
                        format!("Asked {name} to save the map as {n}."),
                    )
                }
            };
            rcon(vec![step], move |o| acted(done, output(o, 0)))
        }
        (ADMIN_ROOT, "broadcast") => {
            let message = clean_text(text("message"), MAX_MESSAGE_BYTES);
            if message.is_empty() {
                return Err("There is nothing to broadcast once line breaks and control characters are removed.".into());
            }
            let step = if server.allow_lua {
                // Coloured, and not echoed as `<server>:` chat.
                coloured_print(&message, api)
            } else if message.starts_with('/') {
                // Plain RCON text starting with `/` would run as a command.
                return Err("A broadcast cannot start with `/`: Factorio would run it as a console command. Reword it, or use /factorio-admin rcon for commands.".into());
            } else {
                message.clone()
            };
            let done = format!("Announced on {name}: {}", escape_markdown(&message));
            rcon(vec![step], move |o| acted(done, output(o, 0)))
        }
        (ADMIN_ROOT, "whisper") => {
            let who = who()?;
            let message = clean_text(text("message"), MAX_MESSAGE_BYTES);
            if message.is_empty() {
                return Err("There is nothing to whisper once line breaks and control characters are removed.".into());
            }
            let done = format!(
                "Whispered to {} on {name}: {}",
                escape_markdown(&who),
                escape_markdown(&message)
            );
            rcon(vec![format!("/whisper {who} {message}")], move |o| {
                acted(done, output(o, 0))
            })
        }
        (ADMIN_ROOT, "whitelist add" | "whitelist remove") => {
            let who = who()?;
            let verb = leaf.path.trim_start_matches("whitelist ");
            let done = format!(
                "Asked {name} to {verb} {} {} the whitelist.",
                escape_markdown(&who),
                if verb == "add" { "to" } else { "from" }
            );
            rcon(vec![format!("/whitelist {verb} {who}")], move |o| {
                acted(done, output(o, 0))
            })
        }
        (ADMIN_ROOT, "whitelist list") => rcon(vec!["/whitelist get".into()], move |o| {
            render_names(
                &name,
                output(o, 0),
                "Whitelisted players",
                "The whitelist is empty (anyone may join)",
            )
        }),
        (ADMIN_ROOT, "whitelist clear") => {
            let done = format!("Asked {name} to clear its whitelist: anyone may join now.");
            rcon(vec!["/whitelist clear".into()], move |o| {
                acted(done, output(o, 0))
            })
        }
        (ADMIN_ROOT, "clock") => plan_clock(inv, name),
        (ADMIN_ROOT, "speed") => {
            let set = match inv.num("value") {
                None => String::new(),
                Some(v) if (0.1..=10.0).contains(&v) => format!("game.speed={v} "),
                Some(v) => {
                    return Err(format!(
                        "A game speed of {v} is out of range: use 0.1 to 10 (1 = normal)."
                    ));
                }
            };
            rcon(vec![format!("/sc {set}rcon.print(game.speed)")], move |o| {
                render_speed(&name, output(o, 0))
            })
        }
        (ADMIN_ROOT, path) if path.starts_with("research ") => plan_research(inv, leaf, name),
        (ADMIN_ROOT, "rcon") => plan_raw(inv, server, name),
        _ => Err(format!(
            "{} is not implemented in this version of the bridge.",
            leaf.command()
        )),
    }
}

/// Wraps a render so every reply fits Discord, and refuses steps that
/// Factorio's RCON would drop.
fn rcon(
    steps: Vec<String>,
    render: impl FnOnce(&[String]) -> String + Send + 'static,
) -> Result<Plan, String> {
    if let Some(long) = steps.iter().find(|s| s.len() > MAX_COMMAND_BYTES) {
        return Err(format!(
            "That console command would be {} bytes; Factorio's RCON drops commands over about 4000 bytes. Shorten the text.",
            long.len()
        ));
    }
    Ok(Plan::Rcon {
        steps,
        render: Box::new(move |o: &[String]| fit(&render(o))),
    })
}

fn output(outputs: &[String], i: usize) -> &str {
    outputs.get(i).map_or("", String::as_str)
}

// ---------------------------------------------------------------------
// Lua. Fixed snippets; Discord text enters only as `lua_string` literals,
// always after `(`, `=` or `[ ` (with the space: `[[` would open a long
// string at the index bracket). Same in 1.1 and 2.0 unless noted.

/// `script.active_mods` maps names to versions in 1.1 and 2.0 alike.
const LUA_MODS: &str = "local t={} for n,v in pairs(script.active_mods) do t[#t+1]=n..\" \"..v end table.sort(t) rcon.print(table.concat(t,\"\\n\"))";

/// Pink, as the Python bot's broadcasts were; a `Color` table (1.1's
/// second `game.print` argument, 2.0's `PrintSettings.color`).
const BROADCAST_COLOR: &str = "{r=1,g=0.6,b=0.8}";

/// `/sc game.print(<text>, <colour>)` for the version's API: the Lua form
/// of a broadcast and of the opt-in coloured chat relay. The text is a
/// long-bracket literal it cannot close.
pub fn coloured_print(text: &str, api: LuaApi) -> String {
    let settings = match api {
        LuaApi::V1_1 => BROADCAST_COLOR.to_owned(),
        LuaApi::V2_0 => format!("{{color={BROADCAST_COLOR}}}"),
    };
    format!("/sc game.print({}, {settings})", lua_string(text))
}

fn plan_clock(inv: &Invocation, name: String) -> Result<Plan, String> {
    let surface = game_name("surface", inv.str("surface").unwrap_or("nauvis"))?.to_owned();
    // Factorio's daytime: 0 is noon (brightest), 0.5 midnight;
    // `freeze_daytime` is a boolean.
    let set = match (inv.str("set"), inv.num("daytime")) {
        (Some(_), Some(_)) => {
            return Err("Give either `set` or `daytime`, not both.".into());
        }
        (None, None) => "",
        (Some("day"), None) => "s.daytime=0 ",
        (Some("night"), None) => "s.daytime=0.5 ",
        (Some("eternal-day"), None) => "s.daytime=0 s.freeze_daytime=true ",
        (Some("eternal-night"), None) => "s.daytime=0.5 s.freeze_daytime=true ",
        (Some("unfreeze"), None) => "s.freeze_daytime=false ",
        (Some(other), None) => {
            return Err(format!(
                "“{}” is not a clock preset: use day, night, eternal-day, eternal-night or unfreeze.",
                escape_markdown(&clean_text(other, 40))
            ));
        }
        (None, Some(t)) if (0.0..=1.0).contains(&t) => {
            return clock_step(&surface, &format!("s.daytime={t} "), name);
        }
        (None, Some(t)) => {
            return Err(format!(
                "A daytime of {t} is out of range: use 0 to 1 (0 = noon, 0.5 = midnight)."
            ));
        }
    };
    clock_step(&surface, set, name)
}

fn clock_step(surface: &str, set: &str, name: String) -> Result<Plan, String> {
    let step = format!(
        "/sc local s=game.surfaces[ {} ] if not s then rcon.print(\"no-surface\") return end {set}rcon.print(s.daytime..\" \"..tostring(s.freeze_daytime))",
        lua_string(surface)
    );
    let surface = escape_markdown(surface);
    rcon(vec![step], move |o| {
        render_clock(&name, &surface, output(o, 0))
    })
}

fn plan_research(inv: &Invocation, leaf: &Leaf, name: String) -> Result<Plan, String> {
    let force = game_name("force", inv.str("force").unwrap_or("player"))?.to_owned();
    let head = format!(
        "/sc local f=game.forces[ {} ] if not f then rcon.print(\"no-force\") return end ",
        lua_string(&force)
    );
    let tech = || -> Result<String, String> {
        let t = game_name("technology", inv.str("technology").unwrap_or(""))?;
        Ok(format!(
            "local t=f.technologies[ {} ] if not t then rcon.print(\"no-tech\") return end ",
            lua_string(t)
        ))
    };
    let technology = escape_markdown(inv.str("technology").unwrap_or("").trim());
    let force_shown = escape_markdown(&force);
    let (body, done) = match leaf.path {
        "research status" => {
            let body = "local n,t=0,0 for _,x in pairs(f.technologies) do t=t+1 if x.researched then n=n+1 end end rcon.print(n..\"/\"..t) rcon.print(f.current_research and f.current_research.name or \"\") rcon.print(f.current_research and f.research_progress or 0)".to_owned();
            return rcon(vec![format!("{head}{body}")], move |o| {
                render_research_status(&name, &force_shown, output(o, 0))
            });
        }
        "research complete" => (
            format!("{}t.researched=true rcon.print(\"ok\")", tech()?),
            format!("Marked {technology} researched for {force_shown} on {name}."),
        ),
        "research undo" => (
            format!("{}t.researched=false rcon.print(\"ok\")", tech()?),
            format!("Marked {technology} not researched for {force_shown} on {name}."),
        ),
        "research all" => (
            "f.research_all_technologies() rcon.print(\"ok\")".to_owned(),
            format!("Researched every technology for {force_shown} on {name}."),
        ),
        _ => return Err(format!("{} is not implemented.", leaf.command())),
    };
    rcon(vec![format!("{head}{body}")], move |o| {
        let out = answer(output(o, 0));
        match out.as_str() {
            "ok" => done,
            "no-force" => format!("There is no force named {force_shown} on {name}."),
            "no-tech" => format!(
                "There is no technology named {technology} on {name} (use its internal name, e.g. automation-2)."
            ),
            _ => unexpected(&name, &out),
        }
    })
}

fn plan_raw(inv: &Invocation, server: &Server, name: String) -> Result<Plan, String> {
    // Admin text passes through as typed, minus what cannot be meant:
    // line breaks (a second line is not part of the same command) and NUL
    // (it would cut the RCON body short).
    let command = clean_text(inv.str("command").unwrap_or(""), usize::MAX);
    if command.is_empty() {
        return Err("The command is empty.".into());
    }
    if runs_lua(&command) && !server.allow_lua && inv.flag("lose_achievements") != Some(true) {
        return Err(format!(
            "That command runs Lua, which disables achievements on this save for good. To run it anyway, repeat it with `lose_achievements: True`; to allow Lua on this server, set servers.{}.allow_lua: true.",
            server.id
        ));
    }
    let warning = if disables_achievements(&command) {
        "\n⚠️ This command disables achievements on this save."
    } else {
        ""
    };
    let chat = !command.starts_with('/');
    let shown = escape_markdown(&command);
    rcon(vec![command], move |o| {
        let head = if chat {
            format!("Sent to {name} as chat (it does not start with `/`): {shown}{warning}")
        } else {
            format!("Ran on {name}: {shown}{warning}")
        };
        let reply = output(o, 0).trim();
        if reply.is_empty() {
            format!("{head}\n(no output)")
        } else {
            format!("{head}\n{}", quote(reply))
        }
    })
}

// ---------------------------------------------------------------------
// Replies without RCON.

fn servers_reply(config: &Config, current: &Server) -> String {
    let mut out = String::from("**Factorio servers**");
    for s in &config.servers {
        out.push_str(&format!("\n- {} (`{}`)", escape_markdown(&s.name), s.id));
        if s.id == current.id {
            out.push_str(" ← your default");
        }
        if s.rcon.is_none() {
            out.push_str(" · events only, no RCON");
        }
        if s.allow_lua {
            out.push_str(" · Lua allowed");
        }
    }
    out.push_str(&format!("\nPick yours with /{ROOT} connect."));
    fit(&out)
}

/// The reply after [`Plan::Connect`] was applied.
pub fn connect_reply(server: &Server) -> String {
    format!(
        "Your default server is now {} (`{}`).",
        escape_markdown(&server.name),
        server.id
    )
}

fn health_reply(server: &Server, facts: &Facts) -> String {
    let name = escape_markdown(&server.name);
    let status = if facts.bridge_status.is_empty() {
        "unknown".to_owned()
    } else {
        escape_markdown(&facts.bridge_status)
    };
    let rcon = match (&server.rcon, facts.rcon_up) {
        (None, _) => "not configured",
        (Some(_), Some(true)) => "connected",
        (Some(_), Some(false)) => "not connected (the bridge keeps retrying)",
        (Some(_), None) => "not checked yet",
    };
    let lua = if server.allow_lua {
        "allowed (achievements are off on this save)"
    } else {
        "not allowed (achievements are safe)"
    };
    format!(
        "**{name}**\nBridge: {status}, up {}\nRCON: {rcon}\nUPS: {}\nLua: {lua}",
        compact(facts.bridge_uptime),
        ups_text(facts.ups)
    )
}

fn ups_text(ups: Option<f64>) -> String {
    match ups {
        None => "not measured yet".to_owned(),
        Some(u) if u < 0.5 => "0 (paused: no player online, or the game is paused)".to_owned(),
        Some(u) => format!("{u:.1} (60 is full speed)"),
    }
}

fn ups_reply(name: &str, ups: Option<f64>) -> String {
    match ups {
        None => format!(
            "No UPS measured yet on {name}: the bridge needs two samples of the map's age, a collect interval apart."
        ),
        Some(_) => format!("UPS on {name}: {}", ups_text(ups)),
    }
}

/// The command list for `help`: `/factorio`'s, or with `admin` those
/// of `/factorio-admin` (each list fits one Discord message).
pub fn help_text(admin: bool) -> String {
    let (root, other) = if admin {
        (ADMIN_ROOT, ROOT)
    } else {
        (ROOT, ADMIN_ROOT)
    };
    let mut out = format!("**/{root}**");
    for l in spec::leaves().iter().filter(|l| l.root == root) {
        out.push_str(&format!("\n`{}", l.path));
        for o in l
            .options
            .iter()
            .filter(|o| o.name != "server" || l.path == "connect")
        {
            if o.required {
                out.push_str(&format!(" <{}>", o.name));
            } else {
                out.push_str(&format!(" [{}]", o.name));
            }
        }
        let description = l.description.split(" (runs Lua").next().unwrap_or_default();
        out.push_str(&format!("` {description}"));
        if l.lua {
            out.push_str(" (Lua)");
        }
    }
    out.push_str(
        "\nCommands about a server take `server:` (default: yours, see `/factorio connect`).",
    );
    out.push_str(
        "\n(Lua) commands need the server's allow_lua: Lua disables achievements on the save.",
    );
    out.push_str(&format!("\nSee also /{other} help."));
    fit(&out)
}

// ---------------------------------------------------------------------
// Server choice and autocomplete.

/// A server by id, else by id or name ignoring case.
fn find_server<'c>(config: &'c Config, wanted: &str) -> Option<&'c Server> {
    let wanted = wanted.trim();
    config.server(wanted).or_else(|| {
        config
            .servers
            .iter()
            .find(|s| s.id.eq_ignore_ascii_case(wanted) || s.name.eq_ignore_ascii_case(wanted))
    })
}

fn server_ids(config: &Config) -> String {
    config
        .servers
        .iter()
        .map(|s| format!("`{}`", s.id))
        .collect::<Vec<_>>()
        .join(", ")
}

fn no_such_server(config: &Config, wanted: &str) -> String {
    format!(
        "There is no server “{}”. Servers: {}.",
        escape_markdown(&clean_text(wanted, 40)),
        server_ids(config)
    )
}

/// The server an invocation is about: its `server` option, else
/// `default` (the user's choice from `connect`, or the channel's server),
/// else the only server. `connect` resolves to the server it names;
/// `servers` and `help`, which need none, get the default or the first.
pub fn resolve_server<'c>(
    inv: &Invocation,
    config: &'c Config,
    default: Option<&str>,
) -> Result<&'c Server, String> {
    let fallback = default
        .and_then(|id| config.server(id))
        .or_else(|| config.servers.first());
    if let Some(wanted) = inv.str("server").filter(|s| !s.trim().is_empty()) {
        return find_server(config, wanted).ok_or_else(|| no_such_server(config, wanted));
    }
    let takes_server = inv.leaf().is_some_and(|l| l.option("server").is_some());
    match default.and_then(|id| config.server(id)) {
        Some(s) => Ok(s),
        None if config.servers.len() == 1 || !takes_server => {
            fallback.ok_or_else(|| "No servers are configured.".to_owned())
        }
        None => Err(format!(
            "Which server? Add `server:` or pick a default with /{ROOT} connect. Servers: {}.",
            server_ids(config)
        )),
    }
}

/// Autocomplete choices `(name, value)` for the focused option, at most
/// 25: servers by id or name, players from `players` (the caller's cache
/// of online names). Other options get none.
pub fn complete(inv: &Invocation, config: &Config, players: &[String]) -> Vec<(String, String)> {
    let Some(focused) = inv.focused.as_deref() else {
        return Vec::new();
    };
    let typed = inv.str(focused).unwrap_or("").trim().to_lowercase();
    match focused {
        "server" => config
            .servers
            .iter()
            .filter(|s| {
                s.id.to_lowercase().contains(&typed) || s.name.to_lowercase().contains(&typed)
            })
            .take(25)
            .map(|s| {
                let label = if *s.id == *s.name {
                    s.id.to_string()
                } else {
                    format!("{} ({})", s.id, s.name)
                };
                (clip_chars(&label, 100), s.id.to_string())
            })
            .collect(),
        "player" => {
            let mut names: Vec<&String> = players
                .iter()
                .filter(|p| crate::factorio::valid_player_name(p))
                .filter(|p| p.to_lowercase().contains(&typed))
                .collect();
            // Prefix matches first, then alphabetical.
            names.sort_by_key(|p| (!p.to_lowercase().starts_with(&typed), p.to_lowercase()));
            names.dedup();
            names
                .into_iter()
                .take(25)
                .map(|p| (p.clone(), p.clone()))
                .collect()
        }
        _ => Vec::new(),
    }
}

fn clip_chars(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

// ---------------------------------------------------------------------
// Rendering game output. Every piece of game text is escaped; lines of
// raw output are shown as a quote.

/// The part of an RCON answer that is the answer: some set-ups also
/// return buffered log lines (`2024-04-10 02:26:58 [CHAT] ...`) first.
fn answer(raw: &str) -> String {
    raw.lines()
        .filter(|l| !is_log_line(l))
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_owned()
}

fn is_log_line(line: &str) -> bool {
    let b = line.as_bytes();
    b.len() > 21
        && b[..19].iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b' ',
            13 | 16 => *c == b':',
            _ => c.is_ascii_digit(),
        })
        && b[19] == b' '
        && b[20] == b'['
}

/// Game text as a Discord quote, escaped line by line.
fn quote(text: &str) -> String {
    text.lines()
        .map(|l| format!("> {}", escape_markdown(l)))
        .collect::<Vec<_>>()
        .join("\n")
}

fn unexpected(name: &str, text: &str) -> String {
    if text.trim().is_empty() {
        format!("{name} gave no answer.")
    } else {
        format!("{name} answered:\n{}", quote(text))
    }
}

/// An action's reply: what was asked, and Factorio's answer if it gave
/// one (it reports unknown players and the like as text).
fn acted(done: String, raw: &str) -> String {
    let reply = answer(raw);
    if reply.is_empty() {
        done
    } else {
        format!("{done}\nFactorio replied:\n{}", quote(&reply))
    }
}

fn render_raw(head: &str, raw: &str) -> String {
    let text = answer(raw);
    if text.is_empty() {
        format!("{head} (no output)")
    } else {
        format!("{head}\n{}", quote(&text))
    }
}

fn online_names(text: &str) -> Option<Vec<String>> {
    let players = parse_players(text);
    let header = text.lines().next().unwrap_or("").trim();
    if players.is_empty() && !(header.ends_with("(0):") || header.ends_with("(0)")) {
        return None;
    }
    Some(
        players
            .into_iter()
            .filter(|p| p.online)
            .map(|p| p.name)
            .collect(),
    )
}

fn render_players(name: &str, raw: &str) -> String {
    let text = answer(raw);
    match online_names(&text) {
        None => unexpected(name, &text),
        Some(online) if online.is_empty() => format!("Nobody is online on {name}."),
        Some(online) => format!(
            "**{} online on {name}**\n{}",
            online.len(),
            bullets(online.iter().map(String::as_str))
        ),
    }
}

fn bullets<'a>(items: impl Iterator<Item = &'a str>) -> String {
    items
        .map(|i| format!("- {}", escape_markdown(i)))
        .collect::<Vec<_>>()
        .join("\n")
}

fn render_admins(name: &str, raw: &str) -> String {
    let text = answer(raw);
    let admins = parse_players(&text);
    if admins.is_empty() {
        return unexpected(name, &text);
    }
    let lines: Vec<String> = admins
        .iter()
        .map(|p| {
            format!(
                "- {}{}",
                escape_markdown(&p.name),
                if p.online { " (online)" } else { "" }
            )
        })
        .collect();
    format!("**Admins of {name}**\n{}", lines.join("\n"))
}

/// `/bans` and `/whitelist get`: "Banned players: a, b and c".
fn render_names(name: &str, raw: &str, prefix: &str, empty: &str) -> String {
    let text = answer(raw);
    if text.is_empty() {
        return format!("{empty} on {name}.");
    }
    if !text.starts_with(prefix) {
        return unexpected(name, &text);
    }
    let names = parse_name_list(&text);
    if names.is_empty() {
        return format!("{empty} on {name}.");
    }
    format!(
        "**{prefix} on {name} ({})**\n{}",
        names.len(),
        bullets(names.iter().map(String::as_str))
    )
}

fn render_version(name: &str, raw: &str) -> String {
    let text = answer(raw);
    match parse_version(&text) {
        Some(v) => format!("{name} runs Factorio {v}."),
        None => unexpected(name, &text),
    }
}

fn render_seed(name: &str, raw: &str) -> String {
    let text = answer(raw);
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        format!("Map seed of {name}: `{text}`")
    } else {
        unexpected(name, &text)
    }
}

fn render_time(name: &str, raw: &str) -> String {
    let text = answer(raw);
    match parse_map_age(&text) {
        Some(_) => format!(
            "The map on {name} has been played for {}.",
            escape_markdown(&text)
        ),
        None => unexpected(name, &text),
    }
}

fn render_uptime(name: &str, raw: &str, bridge: Duration) -> String {
    let text = answer(raw);
    let bridge = format!("The bridge has been up for {}.", compact(bridge));
    match parse_map_age(&text) {
        // Factorio reports no process uptime; the map's age is game time,
        // which stops while the game is paused.
        Some(secs) => format!(
            "{name}: {} of game time on this map.\n{bridge}",
            compact(Duration::from_secs(secs))
        ),
        None => format!("{}\n{bridge}", unexpected(name, &text)),
    }
}

fn evolution_lines(text: &str, surface: Option<&str>) -> Result<Vec<String>, String> {
    let mut rows = parse_evolution(text);
    // 1.1 has one factor for the whole map: a surface filter cannot apply.
    if let Some(want) = surface.filter(|_| rows.iter().any(|(s, _)| s.is_some())) {
        let known: Vec<String> = rows.iter().filter_map(|(s, _)| s.clone()).collect();
        rows.retain(|(s, _)| s.as_deref().is_some_and(|s| s.eq_ignore_ascii_case(want)));
        if rows.is_empty() {
            return Err(format!(
                "No surface “{}” has an evolution factor. Surfaces: {}.",
                escape_markdown(want),
                escape_markdown(&known.join(", "))
            ));
        }
    }
    Ok(rows
        .into_iter()
        .map(|(s, f)| match s {
            Some(s) => format!("- {}: {:.2}%", escape_markdown(&s), f * 100.0),
            None => format!("- {:.2}%", f * 100.0),
        })
        .collect())
}

fn render_evolution(name: &str, raw: &str, surface: Option<&str>) -> String {
    let text = answer(raw);
    match evolution_lines(&text, surface) {
        Ok(lines) if lines.is_empty() => unexpected(name, &text),
        Ok(lines) => format!("**Enemy evolution on {name}**\n{}", lines.join("\n")),
        Err(e) => e,
    }
}

fn render_status(name: &str, facts: &Facts, o: &[String]) -> String {
    let mut out = format!("**{name}**");
    out.push_str(&format!(
        "\nRCON: {} · UPS: {}",
        match facts.rcon_up {
            Some(false) => "not connected",
            _ => "connected",
        },
        ups_text(facts.ups)
    ));
    let players = answer(output(o, 0));
    match online_names(&players) {
        Some(online) if online.is_empty() => out.push_str("\nPlayers online: none"),
        Some(online) => {
            let names: Vec<String> = online.iter().map(|n| escape_markdown(n)).collect();
            out.push_str(&format!(
                "\nPlayers online ({}): {}",
                online.len(),
                names.join(", ")
            ));
        }
        None => out.push_str("\nPlayers online: unknown"),
    }
    let time = answer(output(o, 1));
    match parse_map_age(&time) {
        Some(secs) => out.push_str(&format!(
            "\nMap age: {}",
            compact(Duration::from_secs(secs))
        )),
        None => out.push_str("\nMap age: unknown"),
    }
    match evolution_lines(&answer(output(o, 2)), None) {
        Ok(lines) if !lines.is_empty() => {
            out.push_str("\nEvolution:\n");
            out.push_str(&lines.join("\n"));
        }
        _ => out.push_str("\nEvolution: unknown"),
    }
    out
}

fn render_mods(name: &str, raw: &str) -> String {
    let text = answer(raw);
    if text.is_empty() {
        return format!("{name} reported no active mods.");
    }
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    format!(
        "**{} active mods on {name}**\n{}",
        lines.len(),
        bullets(lines.into_iter())
    )
}

fn render_clock(name: &str, surface: &str, raw: &str) -> String {
    let text = answer(raw);
    if text == "no-surface" {
        return format!("There is no surface named {surface} on {name}.");
    }
    let mut words = text.split_whitespace();
    let (Some(Ok(daytime)), Some(frozen)) = (words.next().map(str::parse::<f64>), words.next())
    else {
        return unexpected(name, &text);
    };
    if !(0.0..=1.0).contains(&daytime) {
        return unexpected(name, &text);
    }
    // Daytime 0 is noon: the clock reads 12:00 there.
    let minutes = ((daytime * 24.0 * 60.0).round() as u32 + 12 * 60) % (24 * 60);
    format!(
        "Time of day on {name} ({surface}): {:02}:{:02} (daytime {daytime:.3}){}",
        minutes / 60,
        minutes % 60,
        if frozen == "true" { ", frozen" } else { "" }
    )
}

fn render_speed(name: &str, raw: &str) -> String {
    let text = answer(raw);
    match text.parse::<f64>() {
        Ok(s) if s.is_finite() => format!("Game speed on {name}: {s}× (1 = normal)."),
        _ => unexpected(name, &text),
    }
}

fn render_research_status(name: &str, force: &str, raw: &str) -> String {
    let text = answer(raw);
    if text == "no-force" {
        return format!("There is no force named {force} on {name}.");
    }
    let lines: Vec<&str> = text.lines().collect();
    let Some((done, total)) = lines.first().and_then(|l| l.split_once('/')) else {
        return unexpected(name, &text);
    };
    let (Ok(done), Ok(total)) = (done.trim().parse::<u32>(), total.trim().parse::<u32>()) else {
        return unexpected(name, &text);
    };
    let current = lines.get(1).map(|l| l.trim()).unwrap_or("");
    let progress = lines
        .get(2)
        .and_then(|l| l.trim().parse::<f64>().ok())
        .unwrap_or(0.0);
    let mut out = format!("Research of {force} on {name}: {done} of {total} technologies.");
    if current.is_empty() {
        out.push_str("\nNothing is being researched.");
    } else {
        out.push_str(&format!(
            "\nResearching {} ({:.0}%).",
            escape_markdown(current),
            progress * 100.0
        ));
    }
    out
}

/// "3d 4h 5m 6s", largest units first, zeros left out.
fn compact(d: Duration) -> String {
    let s = d.as_secs();
    let parts = [
        (s / 86_400, "d"),
        (s / 3600 % 24, "h"),
        (s / 60 % 60, "m"),
        (s % 60, "s"),
    ];
    let text: Vec<String> = parts
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, u)| format!("{n}{u}"))
        .collect();
    if text.is_empty() {
        "0s".to_owned()
    } else {
        text.join(" ")
    }
}

/// The truncation note's largest size, reserved when cutting.
const NOTE_ROOM: usize = 40;

/// `text` within Discord's 2000 characters: whole lines while they fit,
/// then "… (truncated, N more lines)". A first line too long on its own
/// is cut inside, never between a backslash and what it escapes.
pub fn fit(text: &str) -> String {
    if text.chars().count() <= MAX_CONTENT {
        return text.to_owned();
    }
    let budget = MAX_CONTENT - NOTE_ROOM;
    let lines: Vec<&str> = text.split('\n').collect();
    let mut out = String::new();
    let mut used = 0;
    let mut kept = 0;
    for line in &lines {
        let n = line.chars().count() + usize::from(kept > 0);
        if used + n > budget {
            break;
        }
        if kept > 0 {
            out.push('\n');
        }
        out.push_str(line);
        used += n;
        kept += 1;
    }
    if kept == 0 {
        let cut: String = lines[0].chars().take(budget).collect();
        let backslashes = cut.chars().rev().take_while(|c| *c == '\\').count();
        out = cut;
        if backslashes % 2 == 1 {
            out.pop();
        }
        kept = 1;
    }
    let more = lines.len() - kept;
    if more == 0 {
        out.push_str(" … (truncated)");
    } else {
        out.push_str(&format!(
            "\n… (truncated, {more} more line{})",
            if more == 1 { "" } else { "s" }
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::sanitize::runs_lua;
    use crate::commands::spec::{leaves, registration};
    use serde_json::json;

    const FIXTURE: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/rcon-responses-real.txt"
    ));

    /// The body of the fixture group whose heading starts with `starts`.
    fn fixture(starts: &str) -> String {
        let mut body: Option<String> = None;
        for line in FIXTURE.lines() {
            if let Some(heading) = line.strip_prefix("# ") {
                if body.is_some() {
                    break;
                }
                if heading.starts_with(starts) {
                    body = Some(String::new());
                }
            } else if let Some(b) = body.as_mut() {
                b.push_str(line);
                b.push('\n');
            }
        }
        body.unwrap_or_else(|| panic!("no fixture group {starts:?}"))
    }

    /// Distinctive RCON endpoints, so a leak into a reply is easy to find.
    const HOST: &str = "10.9.8.7";
    const PORT: &str = "27999";

    fn config() -> Config {
        let text = format!(
            "discord: {{event_channel_id: \"1\"}}
servers:
  prod:
    name: \"Prod *Main*\"
    log_path: /a.log
    rcon_host: {HOST}
    rcon_port: {PORT}
    rcon_password: pw
  lua:
    name: Modded
    log_path: /b.log
    allow_lua: true
    rcon_host: {HOST}
    rcon_port: {PORT}
    rcon_password: pw
  edge:
    log_path: /c.log
"
        );
        crate::config::parse(std::path::Path::new("c.yml"), &text, &|_| None, &|_| {
            Err(std::io::ErrorKind::NotFound.into())
        })
        .expect("valid config")
    }

    fn inv(path_with_root: &str, options: &[(&str, OptionValue)]) -> Invocation {
        let (root, path) = path_with_root.split_once(' ').expect("root and path");
        Invocation {
            root: root.to_owned(),
            path: path.to_owned(),
            options: options
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
            focused: None,
            user: "Alice".to_owned(),
        }
    }

    fn s(v: &str) -> OptionValue {
        OptionValue::Str(v.to_owned())
    }

    fn facts() -> Facts {
        Facts {
            ups: Some(59.87),
            rcon_up: Some(true),
            bridge_status: "healthy".into(),
            bridge_uptime: Duration::from_secs(3 * 3600 + 120),
            version: None,
        }
    }

    fn plan_on(server: &str, i: &Invocation, facts: &Facts) -> Result<Plan, String> {
        let config = config();
        let server = config.server(server).expect("server").clone();
        plan(i, &config, &server, facts)
    }

    fn steps(p: &Result<Plan, String>) -> Vec<String> {
        match p {
            Ok(Plan::Rcon { steps, .. }) => steps.clone(),
            other => panic!("not an RCON plan: {other:?}"),
        }
    }

    /// A minimal valid invocation of every leaf.
    fn minimal(leaf: &Leaf) -> Invocation {
        let mut options: Vec<(&str, OptionValue)> = Vec::new();
        for o in leaf.options.iter().filter(|o| o.required) {
            let v = match o.name {
                "player" => s("bob"),
                "message" => s("hi"),
                "technology" => s("automation-2"),
                "command" => s("/players"),
                "server" => s("lua"),
                other => panic!("no minimal value for {other}"),
            };
            options.push((o.name, v));
        }
        inv(&format!("{} {}", leaf.root, leaf.path), &options)
    }

    enum Want {
        Steps(&'static [&'static str]),
        Reply,
        Connect(&'static str),
        LuaRefused,
    }

    /// Every leaf with its minimal invocation: what it sends without Lua
    /// (server `prod`) and with it (server `lua`, version unknown = 2.0).
    fn table() -> Vec<(&'static str, Want, Want)> {
        use Want::*;
        let mods = "/sc local t={} for n,v in pairs(script.active_mods) do t[#t+1]=n..\" \"..v end table.sort(t) rcon.print(table.concat(t,\"\\n\"))";
        let leak: &'static str = Box::leak(mods.to_owned().into_boxed_str());
        let mods_steps: &'static [&'static str] = Box::leak(Box::new([leak]));
        vec![
            ("factorio servers", Reply, Reply),
            ("factorio connect", Connect("lua"), Connect("lua")),
            (
                "factorio status",
                Steps(&["/players online", "/time", "/evolution"]),
                Steps(&["/players online", "/time", "/evolution"]),
            ),
            (
                "factorio players",
                Steps(&["/players online"]),
                Steps(&["/players online"]),
            ),
            (
                "factorio version",
                Steps(&["/version"]),
                Steps(&["/version"]),
            ),
            ("factorio seed", Steps(&["/seed"]), Steps(&["/seed"])),
            (
                "factorio evolution",
                Steps(&["/evolution"]),
                Steps(&["/evolution"]),
            ),
            ("factorio admins", Steps(&["/admins"]), Steps(&["/admins"])),
            ("factorio health", Reply, Reply),
            ("factorio time", Steps(&["/time"]), Steps(&["/time"])),
            ("factorio bans", Steps(&["/bans"]), Steps(&["/bans"])),
            ("factorio ups", Reply, Reply),
            ("factorio mods", LuaRefused, Steps(mods_steps)),
            ("factorio uptime", Steps(&["/time"]), Steps(&["/time"])),
            ("factorio help", Reply, Reply),
            (
                "factorio say",
                Steps(&["[Discord] Alice: hi"]),
                Steps(&["[Discord] Alice: hi"]),
            ),
            (
                "factorio-admin kick",
                Steps(&["/kick bob"]),
                Steps(&["/kick bob"]),
            ),
            (
                "factorio-admin ban",
                Steps(&["/ban bob"]),
                Steps(&["/ban bob"]),
            ),
            (
                "factorio-admin unban",
                Steps(&["/unban bob"]),
                Steps(&["/unban bob"]),
            ),
            (
                "factorio-admin mute",
                Steps(&["/mute bob"]),
                Steps(&["/mute bob"]),
            ),
            (
                "factorio-admin unmute",
                Steps(&["/unmute bob"]),
                Steps(&["/unmute bob"]),
            ),
            (
                "factorio-admin mutes",
                Steps(&["/mutes"]),
                Steps(&["/mutes"]),
            ),
            (
                "factorio-admin promote",
                Steps(&["/promote bob"]),
                Steps(&["/promote bob"]),
            ),
            (
                "factorio-admin demote",
                Steps(&["/demote bob"]),
                Steps(&["/demote bob"]),
            ),
            (
                "factorio-admin save",
                Steps(&["/server-save"]),
                Steps(&["/server-save"]),
            ),
            (
                "factorio-admin broadcast",
                Steps(&["hi"]),
                Steps(&["/sc game.print([=[hi]=], {color={r=1,g=0.6,b=0.8}})"]),
            ),
            (
                "factorio-admin whisper",
                Steps(&["/whisper bob hi"]),
                Steps(&["/whisper bob hi"]),
            ),
            (
                "factorio-admin whitelist add",
                Steps(&["/whitelist add bob"]),
                Steps(&["/whitelist add bob"]),
            ),
            (
                "factorio-admin whitelist remove",
                Steps(&["/whitelist remove bob"]),
                Steps(&["/whitelist remove bob"]),
            ),
            (
                "factorio-admin whitelist list",
                Steps(&["/whitelist get"]),
                Steps(&["/whitelist get"]),
            ),
            (
                "factorio-admin whitelist clear",
                Steps(&["/whitelist clear"]),
                Steps(&["/whitelist clear"]),
            ),
            (
                "factorio-admin clock",
                LuaRefused,
                Steps(&[
                    "/sc local s=game.surfaces[ [=[nauvis]=] ] if not s then rcon.print(\"no-surface\") return end rcon.print(s.daytime..\" \"..tostring(s.freeze_daytime))",
                ]),
            ),
            (
                "factorio-admin speed",
                LuaRefused,
                Steps(&["/sc rcon.print(game.speed)"]),
            ),
            (
                "factorio-admin research status",
                LuaRefused,
                Steps(&[
                    "/sc local f=game.forces[ [=[player]=] ] if not f then rcon.print(\"no-force\") return end local n,t=0,0 for _,x in pairs(f.technologies) do t=t+1 if x.researched then n=n+1 end end rcon.print(n..\"/\"..t) rcon.print(f.current_research and f.current_research.name or \"\") rcon.print(f.current_research and f.research_progress or 0)",
                ]),
            ),
            (
                "factorio-admin research complete",
                LuaRefused,
                Steps(&[
                    "/sc local f=game.forces[ [=[player]=] ] if not f then rcon.print(\"no-force\") return end local t=f.technologies[ [=[automation-2]=] ] if not t then rcon.print(\"no-tech\") return end t.researched=true rcon.print(\"ok\")",
                ]),
            ),
            (
                "factorio-admin research undo",
                LuaRefused,
                Steps(&[
                    "/sc local f=game.forces[ [=[player]=] ] if not f then rcon.print(\"no-force\") return end local t=f.technologies[ [=[automation-2]=] ] if not t then rcon.print(\"no-tech\") return end t.researched=false rcon.print(\"ok\")",
                ]),
            ),
            (
                "factorio-admin research all",
                LuaRefused,
                Steps(&[
                    "/sc local f=game.forces[ [=[player]=] ] if not f then rcon.print(\"no-force\") return end f.research_all_technologies() rcon.print(\"ok\")",
                ]),
            ),
            (
                "factorio-admin rcon",
                Steps(&["/players"]),
                Steps(&["/players"]),
            ),
            ("factorio-admin help", Reply, Reply),
        ]
    }

    fn check(at: &str, got: &Result<Plan, String>, want: &Want, server: &str) {
        match (want, got) {
            (Want::Steps(expected), Ok(Plan::Rcon { steps, .. })) => {
                assert_eq!(steps, expected, "{at} on {server}")
            }
            (Want::Reply, Ok(Plan::Reply(text))) => {
                assert!(
                    !text.is_empty() && text.chars().count() <= MAX_CONTENT,
                    "{at}"
                )
            }
            (Want::Connect(id), Ok(Plan::Connect(got))) => assert_eq!(got, id, "{at}"),
            (Want::LuaRefused, Err(e)) => {
                assert!(
                    e.contains("runs Lua, which disables achievements on this save"),
                    "{at}: {e}"
                );
                assert!(
                    e.contains(&format!("set servers.{server}.allow_lua: true to allow it")),
                    "{at}: {e}"
                );
            }
            (_, other) => panic!("{at} on {server}: unexpected {other:?}"),
        }
    }

    #[test]
    fn every_leaf_plans_as_the_table_says() {
        let table = table();
        for leaf in leaves() {
            let at = format!("{} {}", leaf.root, leaf.path);
            let (_, plain, lua) = table
                .iter()
                .find(|(p, _, _)| *p == at)
                .unwrap_or_else(|| panic!("{at} is missing from the table"));
            let i = minimal(leaf);
            check(&at, &plan_on("prod", &i, &facts()), plain, "prod");
            check(&at, &plan_on("lua", &i, &facts()), lua, "lua");
        }
        assert_eq!(table.len(), leaves().len());
    }

    /// Without allow_lua no leaf sends Lua, whatever its options say.
    #[test]
    fn no_default_plan_runs_lua() {
        let mut tried = 0;
        for leaf in leaves() {
            let mut variants = vec![minimal(leaf)];
            // Every optional option set as well.
            let mut full = minimal(leaf);
            for o in leaf.options.iter().filter(|o| !o.required) {
                let v = match o.kind {
                    Kind::Str => s(match o.name {
                        "set" => "eternal-day",
                        "surface" => "nauvis",
                        "server" => "prod",
                        "name" => "backup",
                        _ => "x",
                    }),
                    Kind::Num => OptionValue::Num(0.5),
                    Kind::Int => OptionValue::Int(1),
                    Kind::Bool => OptionValue::Bool(false),
                };
                full.options.insert(o.name.to_owned(), v);
            }
            variants.push(full);
            for i in variants {
                tried += 1;
                match plan_on("prod", &i, &facts()) {
                    Ok(Plan::Rcon { steps, .. }) => {
                        for step in steps {
                            assert!(!runs_lua(&step), "{}: {step}", leaf.command());
                            for lua in ["/c ", "/sc ", "/silent-command", "/command", "rcon.print"]
                            {
                                assert!(!step.contains(lua), "{}: {step}", leaf.command());
                            }
                        }
                    }
                    Ok(_) => {}
                    Err(e) => assert!(leaf.lua, "{} refused: {e}", leaf.command()),
                }
            }
        }
        assert!(tried >= 2 * leaves().len());
    }

    /// With allow_lua, Lua goes through `/sc`, and a literal never sits
    /// right after an index bracket (`[[` would open a long string).
    #[test]
    fn lua_plans_use_sc() {
        for leaf in leaves().iter().filter(|l| l.lua) {
            for step in steps(&plan_on("lua", &minimal(leaf), &facts())) {
                assert!(step.starts_with("/sc "), "{step}");
                assert!(!step.contains("[["), "{step}");
            }
        }
        let b = steps(&plan_on(
            "lua",
            &inv("factorio-admin broadcast", &[("message", s("hi"))]),
            &facts(),
        ));
        assert!(b[0].starts_with("/sc "));
    }

    #[test]
    fn the_lua_api_follows_the_version() {
        let i = inv("factorio-admin broadcast", &[("message", s("hi"))]);
        let with = |v: Option<&str>| {
            let f = Facts {
                version: v.map(str::to_owned),
                ..facts()
            };
            steps(&plan_on("lua", &i, &f))
        };
        let v1 = ["/sc game.print([=[hi]=], {r=1,g=0.6,b=0.8})"];
        let v2 = ["/sc game.print([=[hi]=], {color={r=1,g=0.6,b=0.8}})"];
        assert_eq!(with(Some("1.1.110")), v1);
        assert_eq!(
            with(Some("Version: 1.1.110 (build 62451, linux64, headless)")),
            v1
        );
        assert_eq!(with(Some("0.18.47")), v1);
        assert_eq!(with(Some("2.0.28")), v2);
        assert_eq!(with(None), v2);
        assert_eq!(with(Some("garbage")), v2);
        assert_eq!(parse_version("2.0.28\n").as_deref(), Some("2.0.28"));
        assert_eq!(
            parse_version("Factorio 1.1.110.").as_deref(),
            Some("1.1.110")
        );
        assert_eq!(parse_version("no version"), None);
        assert_eq!(parse_version("1."), None);
    }

    /// Nasty inputs and the exact console command each becomes (or the
    /// refusal).
    #[test]
    fn injection_table() {
        let nasty_reason = "spam\n/c game.print(1)\0 \u{1b}[2J";
        let cases: Vec<(&str, Invocation, Result<&str, &str>)> = vec![
            (
                "prod",
                inv(
                    "factorio-admin kick",
                    &[("player", s("bob")), ("reason", s(nasty_reason))],
                ),
                Ok("/kick bob spam /c game.print(1) [2J"),
            ),
            (
                "prod",
                inv(
                    "factorio-admin kick",
                    &[("player", s("bob\"); game.print(1) --"))],
                ),
                Err("not a Factorio player name"),
            ),
            (
                "prod",
                inv(
                    "factorio-admin ban",
                    &[("player", s("bob /c x")), ("reason", s("r"))],
                ),
                Err("not a Factorio player name"),
            ),
            (
                "prod",
                inv("factorio-admin ban", &[("player", s("bob\n/c x"))]),
                Err("not a Factorio player name"),
            ),
            (
                "prod",
                inv(
                    "factorio-admin ban",
                    &[("player", s("bob")), ("reason", s(&"r".repeat(500)))],
                ),
                Ok(Box::leak(
                    format!("/ban bob {}…", "r".repeat(197)).into_boxed_str(),
                )),
            ),
            (
                "prod",
                inv(
                    "factorio-admin whisper",
                    &[("player", s("bob")), ("message", s("hi\r\n/ban bob"))],
                ),
                Ok("/whisper bob hi /ban bob"),
            ),
            (
                "prod",
                inv("factorio say", &[("message", s("/c game.print(1)"))]),
                Ok("[Discord] Alice: /c game.print(1)"),
            ),
            (
                "prod",
                inv("factorio say", &[("message", s("a\n/c game.print(1)"))]),
                Ok("[Discord] Alice: a /c game.print(1)"),
            ),
            (
                "prod",
                inv("factorio say", &[("message", s("\n\0 "))]),
                Err("nothing to say"),
            ),
            (
                "prod",
                inv(
                    "factorio-admin broadcast",
                    &[("message", s("/c game.print(1)"))],
                ),
                Err("cannot start with `/`"),
            ),
            (
                "prod",
                inv("factorio-admin broadcast", &[("message", s(" \n/sc x"))]),
                Err("cannot start with `/`"),
            ),
            (
                "prod",
                inv(
                    "factorio-admin broadcast",
                    &[("message", s("\"); game.print(1) --"))],
                ),
                Ok("\"); game.print(1) --"),
            ),
            (
                "lua",
                inv(
                    "factorio-admin broadcast",
                    &[("message", s("\"); game.print(1) --"))],
                ),
                Ok("/sc game.print([=[\"); game.print(1) --]=], {color={r=1,g=0.6,b=0.8}})"),
            ),
            (
                "lua",
                inv(
                    "factorio-admin broadcast",
                    &[("message", s("]=]) game.print(1) --[=["))],
                ),
                Ok("/sc game.print([==[]=]) game.print(1) --[=[]==], {color={r=1,g=0.6,b=0.8}})"),
            ),
            (
                "lua",
                inv("factorio-admin broadcast", &[("message", s("a]]b]==]c"))]),
                Ok("/sc game.print([=[a]]b]==]c]=], {color={r=1,g=0.6,b=0.8}})"),
            ),
            (
                "lua",
                inv("factorio-admin broadcast", &[("message", s("ends in ]="))]),
                Ok("/sc game.print([==[ends in ]=]==], {color={r=1,g=0.6,b=0.8}})"),
            ),
            (
                "lua",
                inv(
                    "factorio-admin broadcast",
                    &[("message", s("nul\0and\nnewline"))],
                ),
                Ok("/sc game.print([=[nuland newline]=], {color={r=1,g=0.6,b=0.8}})"),
            ),
            (
                "lua",
                inv(
                    "factorio-admin research complete",
                    &[("technology", s("x]=] game.print(1) --"))],
                ),
                Err("not a technology name"),
            ),
            (
                "lua",
                inv(
                    "factorio-admin research all",
                    &[("force", s("player\"] --"))],
                ),
                Err("not a force name"),
            ),
            (
                "lua",
                inv("factorio-admin clock", &[("surface", s("nauvis ]] x"))]),
                Err("not a surface name"),
            ),
            (
                "lua",
                inv(
                    "factorio-admin clock",
                    &[("set", s("day")), ("daytime", OptionValue::Num(0.2))],
                ),
                Err("either `set` or `daytime`"),
            ),
            (
                "lua",
                inv(
                    "factorio-admin clock",
                    &[("daytime", OptionValue::Num(0.25))],
                ),
                Ok(
                    "/sc local s=game.surfaces[ [=[nauvis]=] ] if not s then rcon.print(\"no-surface\") return end s.daytime=0.25 rcon.print(s.daytime..\" \"..tostring(s.freeze_daytime))",
                ),
            ),
            (
                "lua",
                inv(
                    "factorio-admin clock",
                    &[("set", s("eternal-night")), ("surface", s("gleba"))],
                ),
                Ok(
                    "/sc local s=game.surfaces[ [=[gleba]=] ] if not s then rcon.print(\"no-surface\") return end s.daytime=0.5 s.freeze_daytime=true rcon.print(s.daytime..\" \"..tostring(s.freeze_daytime))",
                ),
            ),
            (
                "lua",
                inv(
                    "factorio-admin clock",
                    &[("daytime", OptionValue::Num(2.0))],
                ),
                Err("out of range"),
            ),
            (
                "lua",
                inv("factorio-admin speed", &[("value", OptionValue::Num(2.5))]),
                Ok("/sc game.speed=2.5 rcon.print(game.speed)"),
            ),
            (
                "lua",
                inv("factorio-admin speed", &[("value", OptionValue::Int(1000))]),
                Err("out of range"),
            ),
            (
                "prod",
                inv("factorio-admin save", &[("name", s("../../etc/x"))]),
                Err("not a save name"),
            ),
            (
                "prod",
                inv("factorio-admin save", &[("name", s("before-reset"))]),
                Ok("/save before-reset"),
            ),
            (
                "prod",
                inv("factorio-admin rcon", &[("command", s("/c game.print(1)"))]),
                Err("lose_achievements: True"),
            ),
            (
                "prod",
                inv("factorio-admin rcon", &[("command", s("  /SC x"))]),
                Err("lose_achievements: True"),
            ),
            (
                "prod",
                inv(
                    "factorio-admin rcon",
                    &[
                        ("command", s("/c game.print(1)")),
                        ("lose_achievements", OptionValue::Bool(true)),
                    ],
                ),
                Ok("/c game.print(1)"),
            ),
            (
                "lua",
                inv(
                    "factorio-admin rcon",
                    &[("command", s("/sc rcon.print(1)\n/ban bob"))],
                ),
                Ok("/sc rcon.print(1) /ban bob"),
            ),
            (
                "prod",
                inv(
                    "factorio-admin rcon",
                    &[("command", s(&format!("/ban bob {}", "x".repeat(4000))))],
                ),
                Err("Factorio's RCON drops commands over about 4000 bytes"),
            ),
            (
                "prod",
                inv("factorio-admin whitelist add", &[("player", s("<@123>"))]),
                Err("not a Factorio player name"),
            ),
        ];
        for (server, i, want) in cases {
            let got = plan_on(server, &i, &facts());
            match (want, &got) {
                (Ok(step), Ok(Plan::Rcon { steps, .. })) => {
                    assert_eq!(steps, &[step], "{} {:?}", i.path, i.options);
                    assert!(
                        steps.iter().all(
                            |s| s.len() <= MAX_COMMAND_BYTES && !s.contains(['\n', '\r', '\0'])
                        )
                    );
                }
                (Err(part), Err(e)) => assert!(e.contains(part), "{} {:?}: {e}", i.path, i.options),
                _ => panic!("{} {:?}: {got:?}", i.path, i.options),
            }
        }
    }

    #[test]
    fn refusals_say_what_to_do() {
        let e = plan_on("edge", &inv("factorio players", &[]), &facts()).expect_err("no rcon");
        assert!(
            e.contains("no RCON connection configured") && e.contains("servers.edge.rcon_password"),
            "{e}"
        );
        let e = plan_on("prod", &inv("factorio-admin kick", &[]), &facts()).expect_err("no player");
        assert_eq!(e, "/factorio-admin kick needs the `player` option.");
        let e = plan_on(
            "prod",
            &inv("factorio connect", &[("server", s("nope"))]),
            &facts(),
        )
        .expect_err("unknown");
        assert!(e.contains("`prod`, `lua`, `edge`"), "{e}");
        assert!(matches!(
            plan_on("prod", &inv("factorio connect", &[("server", s("MODDED"))]), &facts()),
            Ok(Plan::Connect(id)) if id == "lua"
        ));
    }

    fn render(server: &str, i: &Invocation, facts: &Facts, outputs: &[&str]) -> String {
        match plan_on(server, i, facts) {
            Ok(Plan::Rcon { render, .. }) => {
                let outputs: Vec<String> = outputs.iter().map(|o| (*o).to_owned()).collect();
                render(&outputs)
            }
            other => panic!("not an RCON plan: {other:?}"),
        }
    }

    #[test]
    fn renders_real_outputs() {
        let f = facts();
        let players = format!("Online players (2):\n{}", fixture("/players"));
        assert_eq!(
            render("prod", &inv("factorio players", &[]), &f, &[&players]),
            "**1 online on Prod \\*Main\\***\n- NekoMeow"
        );
        // The fixture's body lines without the header parse the same.
        assert_eq!(
            render(
                "prod",
                &inv("factorio players", &[]),
                &f,
                &[&fixture("/players")]
            ),
            "**1 online on Prod \\*Main\\***\n- NekoMeow"
        );
        assert_eq!(
            render(
                "prod",
                &inv("factorio players", &[]),
                &f,
                &["Online players (0):\n"]
            ),
            "Nobody is online on Prod \\*Main\\*."
        );
        let evo2 = fixture("/evolution (Factorio 2.0");
        let got = render("prod", &inv("factorio evolution", &[]), &f, &[&evo2]);
        assert!(got.starts_with("**Enemy evolution on Prod \\*Main\\***\n- Nauvis: 94.95%\n- bpsb-lab-p-Kynazori: 63.58%"), "{got}");
        assert!(got.ends_with("- Fulgora: 53.47%"), "{got}");
        assert_eq!(
            render(
                "prod",
                &inv("factorio evolution", &[("surface", s("gleba"))]),
                &f,
                &[&evo2]
            ),
            "**Enemy evolution on Prod \\*Main\\***\n- Gleba: 64.36%"
        );
        let got = render(
            "prod",
            &inv("factorio evolution", &[("surface", s("moon"))]),
            &f,
            &[&evo2],
        );
        assert!(
            got.starts_with("No surface “moon” has an evolution factor. Surfaces: Nauvis, "),
            "{got}"
        );
        let evo1 = fixture("/evolution (Factorio 1.1");
        assert_eq!(
            render(
                "prod",
                &inv("factorio evolution", &[("surface", s("nauvis"))]),
                &f,
                &[&evo1]
            ),
            "**Enemy evolution on Prod \\*Main\\***\n- 0.00%"
        );
        let time = fixture("/time");
        assert_eq!(
            render("prod", &inv("factorio time", &[]), &f, &[&time]),
            "The map on Prod \\*Main\\* has been played for 1 day, 11 hours, 1 minute and 26 seconds."
        );
        assert_eq!(
            render("prod", &inv("factorio uptime", &[]), &f, &[&time]),
            "Prod \\*Main\\*: 1d 11h 1m 26s of game time on this map.\nThe bridge has been up for 3h 2m."
        );
        // Log lines some set-ups return before the answer are skipped.
        let with_log = "2024-04-10 02:28:53 [CHAT] <server>: random chat message\n1 day, 11 hours, 1 minute and 26 seconds";
        assert!(
            render("prod", &inv("factorio time", &[]), &f, &[with_log]).contains("1 day, 11 hours")
        );
        // No real /version capture exists; Factorio prints the number.
        assert_eq!(
            render("prod", &inv("factorio version", &[]), &f, &["2.0.28\n"]),
            "Prod \\*Main\\* runs Factorio 2.0.28."
        );
        assert_eq!(
            render("prod", &inv("factorio bans", &[]), &f, &[&fixture("/bans")]),
            "**Banned players on Prod \\*Main\\* (1)**\n- user"
        );
        assert_eq!(
            render(
                "prod",
                &inv("factorio-admin whitelist list", &[]),
                &f,
                &[&fixture("/whitelist get")]
            ),
            "**Whitelisted players on Prod \\*Main\\* (3)**\n- LemonNeko\n- LittleSound\n- NekoMeow"
        );
        assert_eq!(
            render("prod", &inv("factorio seed", &[]), &f, &["1234567890\n"]),
            "Map seed of Prod \\*Main\\*: `1234567890`"
        );
        let status = render(
            "prod",
            &inv("factorio status", &[]),
            &f,
            &[&players, &time, &evo1],
        );
        assert_eq!(
            status,
            "**Prod \\*Main\\***\nRCON: connected · UPS: 59.9 (60 is full speed)\nPlayers online (1): NekoMeow\nMap age: 1d 11h 1m 26s\nEvolution:\n- 0.00%"
        );
    }

    #[test]
    fn renders_lua_and_action_outputs() {
        let f = facts();
        let clock = inv("factorio-admin clock", &[]);
        assert_eq!(
            render("lua", &clock, &f, &["0.25 true"]),
            "Time of day on Modded (nauvis): 18:00 (daytime 0.250), frozen"
        );
        assert_eq!(
            render("lua", &clock, &f, &["0 false"]),
            "Time of day on Modded (nauvis): 12:00 (daytime 0.000)"
        );
        assert_eq!(
            render("lua", &clock, &f, &["no-surface"]),
            "There is no surface named nauvis on Modded."
        );
        assert_eq!(
            render("lua", &inv("factorio-admin speed", &[]), &f, &["1"]),
            "Game speed on Modded: 1× (1 = normal)."
        );
        assert_eq!(
            render(
                "lua",
                &inv("factorio-admin research status", &[]),
                &f,
                &["12/200\nautomation-2\n0.5"]
            ),
            "Research of player on Modded: 12 of 200 technologies.\nResearching automation-2 (50%)."
        );
        let complete = inv(
            "factorio-admin research complete",
            &[("technology", s("automation-2"))],
        );
        assert_eq!(
            render("lua", &complete, &f, &["ok"]),
            "Marked automation-2 researched for player on Modded."
        );
        assert!(
            render("lua", &complete, &f, &["no-tech"])
                .starts_with("There is no technology named automation-2")
        );
        assert_eq!(
            render(
                "lua",
                &inv("factorio mods", &[]),
                &f,
                &["base 2.0.28\nquality 2.0.28"]
            ),
            "**2 active mods on Modded**\n- base 2.0.28\n- quality 2.0.28"
        );
        let kick = inv(
            "factorio-admin kick",
            &[("player", s("bob")), ("reason", s("*spam*"))],
        );
        assert_eq!(
            render("prod", &kick, &f, &[""]),
            "Asked Prod \\*Main\\* to kick bob (reason: \\*spam\\*)."
        );
        assert_eq!(
            render("prod", &kick, &f, &["Player bob doesn't exist."]),
            "Asked Prod \\*Main\\* to kick bob (reason: \\*spam\\*).\nFactorio replied:\n> Player bob doesn't exist."
        );
        // Fewer outputs than steps (the caller gave up) do not panic.
        assert_eq!(
            render("prod", &kick, &f, &[]),
            "Asked Prod \\*Main\\* to kick bob (reason: \\*spam\\*)."
        );
        let raw = inv(
            "factorio-admin rcon",
            &[("command", s("/sc rcon.print('@everyone')"))],
        );
        let got = render("lua", &raw, &f, &["@everyone <@123>"]);
        assert_eq!(
            got,
            "Ran on Modded: /sc rcon.print('@\u{200B}everyone')\n⚠️ This command disables achievements on this save.\n> @\u{200B}everyone \\<@123>"
        );
        let chat = inv("factorio-admin rcon", &[("command", s("hello"))]);
        assert!(render("prod", &chat, &f, &[""]).contains("as chat"));
    }

    #[test]
    fn long_output_is_truncated_with_a_note() {
        let many: String = (0..500)
            .map(|i| format!("  Player{i} (online)\n"))
            .collect();
        let got = render("prod", &inv("factorio players", &[]), &facts(), &[&many]);
        assert!(
            got.chars().count() <= MAX_CONTENT,
            "{}",
            got.chars().count()
        );
        assert!(
            got.starts_with("**500 online on Prod \\*Main\\***\n- Player0\n"),
            "{got}"
        );
        let note = got.lines().last().unwrap_or_default();
        assert!(
            note.starts_with("… (truncated, ") && note.ends_with(" more lines)"),
            "{note}"
        );
        // One huge line: cut inside, never leaving a lone backslash.
        let one = format!("{}\\*{}", "x".repeat(1959), "y".repeat(100));
        let got = fit(&one);
        assert!(got.chars().count() <= MAX_CONTENT);
        assert!(got.ends_with("x … (truncated)"), "{got}");
        assert_eq!(fit("short"), "short");
    }

    /// No reply or refusal of any leaf shows the RCON host or port.
    #[test]
    fn replies_never_show_rcon_endpoints() {
        let outputs: Vec<String> = ["Error connecting to 10.9.8.7:27999"; 3]
            .iter()
            .map(|s| (*s).replace(HOST, "h").replace(PORT, "p"))
            .collect();
        for server in ["prod", "lua", "edge"] {
            for leaf in leaves() {
                let text = match plan_on(server, &minimal(leaf), &facts()) {
                    Ok(Plan::Reply(t)) => t,
                    Ok(Plan::Connect(id)) => id,
                    Ok(Plan::Rcon { render, .. }) => render(&outputs),
                    Err(e) => e,
                };
                assert!(
                    !text.contains(HOST) && !text.contains(PORT),
                    "{}: {text}",
                    leaf.command()
                );
            }
        }
    }

    #[test]
    fn local_replies() {
        let config = config();
        let prod = config.server("prod").expect("prod");
        let f = facts();
        let Ok(Plan::Reply(servers)) = plan(&inv("factorio servers", &[]), &config, prod, &f)
        else {
            panic!("servers");
        };
        assert_eq!(
            servers,
            "**Factorio servers**\n- Prod \\*Main\\* (`prod`) ← your default\n- Modded (`lua`) · Lua allowed\n- edge (`edge`) · events only, no RCON\nPick yours with /factorio connect."
        );
        let Ok(Plan::Reply(health)) = plan(&inv("factorio health", &[]), &config, prod, &f) else {
            panic!("health");
        };
        assert_eq!(
            health,
            "**Prod \\*Main\\***\nBridge: healthy, up 3h 2m\nRCON: connected\nUPS: 59.9 (60 is full speed)\nLua: not allowed (achievements are safe)"
        );
        let ups = |u| match plan(
            &inv("factorio ups", &[]),
            &config,
            prod,
            &Facts { ups: u, ..facts() },
        ) {
            Ok(Plan::Reply(t)) => t,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            ups(Some(30.04)),
            "UPS on Prod \\*Main\\*: 30.0 (60 is full speed)"
        );
        assert!(ups(Some(0.0)).contains("paused"));
        assert!(ups(None).starts_with("No UPS measured yet"));
        for admin in [false, true] {
            let h = help_text(admin);
            assert!(h.chars().count() <= MAX_CONTENT, "{}", h.chars().count());
            assert!(!h.contains("truncated"), "{h}");
            assert_eq!(
                h.contains("`kick <player> [reason]` Kick a player"),
                admin,
                "{h}"
            );
            assert_eq!(
                h.contains("`say <message>` Send a chat message into the game"),
                !admin,
                "{h}"
            );
            assert_eq!(
                h.contains("`speed [value]` Show or set the game speed (Lua)"),
                admin,
                "{h}"
            );
            assert_eq!(h.contains("`mods` Active mods (Lua)"), !admin, "{h}");
        }
        assert_eq!(
            connect_reply(prod),
            "Your default server is now Prod \\*Main\\* (`prod`)."
        );
    }

    #[test]
    fn parses_commands_and_autocomplete() {
        let data = json!({
            "id": "1", "name": "factorio-admin", "type": 1,
            "options": [{"type": 2, "name": "whitelist", "options": [
                {"type": 1, "name": "add", "options": [
                    {"type": 3, "name": "player", "value": "bob"},
                    {"type": 3, "name": "server", "value": "prod"}
                ]}
            ]}]
        });
        let i = Invocation::parse(&data).expect("parse");
        assert_eq!(
            (i.root.as_str(), i.path.as_str()),
            ("factorio-admin", "whitelist add")
        );
        assert_eq!(i.str("player"), Some("bob"));
        assert_eq!(i.str("server"), Some("prod"));
        assert_eq!(i.focused, None);

        let data = json!({"name": "factorio-admin", "options": [{"type": 1, "name": "clock", "options": [
            {"type": 10, "name": "daytime", "value": 0},
            {"type": 3, "name": "set", "value": "day"}
        ]}]});
        let i = Invocation::parse(&data).expect("parse");
        assert_eq!(i.options.get("daytime"), Some(&OptionValue::Num(0.0)));
        let data = json!({"name": "factorio-admin", "options": [{"type": 1, "name": "rcon", "options": [
            {"type": 5, "name": "lose_achievements", "value": true},
            {"type": 4, "name": "n", "value": 7}
        ]}]});
        let i = Invocation::parse(&data).expect("parse");
        assert_eq!(i.flag("lose_achievements"), Some(true));
        assert_eq!(i.options.get("n"), Some(&OptionValue::Int(7)));
        assert_eq!(i.num("n"), Some(7.0));

        // Autocomplete (type 4): the focused option, partial value.
        let interaction = json!({
            "type": 4,
            "member": {"nick": null, "user": {"username": "mason", "global_name": "Mason"}},
            "data": {"name": "factorio-admin", "type": 1, "options": [
                {"type": 1, "name": "kick", "options": [
                    {"type": 3, "name": "player", "value": "ne", "focused": true}
                ]}
            ]}
        });
        let i = Invocation::from_interaction(&interaction).expect("parse");
        assert_eq!(i.focused.as_deref(), Some("player"));
        assert_eq!(i.user, "Mason");
        let config = config();
        let online = [
            "Bob".to_owned(),
            "NekoMeow".to_owned(),
            "aneko".to_owned(),
            "bad name".to_owned(),
        ];
        assert_eq!(
            complete(&i, &config, &online),
            [
                ("NekoMeow".to_owned(), "NekoMeow".to_owned()),
                ("aneko".to_owned(), "aneko".to_owned())
            ]
        );
        let mut i = i;
        i.focused = Some("server".into());
        i.options.insert("server".into(), s("mod"));
        assert_eq!(
            complete(&i, &config, &online),
            [("lua (Modded)".to_owned(), "lua".to_owned())]
        );

        for bad in [
            json!({"name": "cardsearch", "options": []}),
            json!({"name": "factorio", "options": [{"type": 1, "name": "nope"}]}),
            json!({"name": "factorio"}),
            json!({"name": "factorio-admin", "options": [{"type": 2, "name": "whitelist", "options": [{"type": 1, "name": "enable"}]}]}),
            json!(null),
        ] {
            let e = Invocation::parse(&bad).expect_err("unknown");
            assert!(e.starts_with("Unknown command"), "{e}");
        }
    }

    #[test]
    fn the_server_is_resolved() {
        let config = config();
        let players = inv("factorio players", &[]);
        assert_eq!(
            &*resolve_server(&players, &config, Some("lua"))
                .expect("default")
                .id,
            "lua"
        );
        let e = resolve_server(&players, &config, None).expect_err("ambiguous");
        assert!(
            e.contains("Which server?") && e.contains("`prod`, `lua`, `edge`"),
            "{e}"
        );
        let named = inv("factorio players", &[("server", s("Prod *Main*"))]);
        assert_eq!(
            &*resolve_server(&named, &config, Some("lua"))
                .expect("named")
                .id,
            "prod"
        );
        let bad = inv("factorio players", &[("server", s("x"))]);
        assert!(resolve_server(&bad, &config, None).is_err());
        let help = inv("factorio help", &[]);
        assert_eq!(
            &*resolve_server(&help, &config, None).expect("any").id,
            "prod"
        );
    }

    /// Every option a plan reads exists in the registration, so Discord
    /// can actually send it.
    #[test]
    fn registration_is_built_from_the_same_table() {
        let reg = registration();
        let text = reg.to_string();
        for leaf in leaves() {
            for o in leaf.options {
                assert!(
                    text.contains(&format!("\"name\":\"{}\"", o.name)),
                    "{}",
                    o.name
                );
            }
        }
    }
}
