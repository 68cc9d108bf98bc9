//! The configuration: its schema, where it comes from, and its validation.
//!
//! A config is a value, validated completely before any thread starts and
//! then passed into each thread. Loading collects every problem (file, line,
//! key, what to do) rather than stopping at the first, and unknown keys are
//! errors so a typo cannot silently turn a feature off.
//!
//! Sources, first match wins: `--config PATH`, `ISR_CONFIG`,
//! `config/servers.yml`, and, when none of these exists, a single server
//! described by environment variables (`FACTORIO_LOG_PATH`, ...), which is
//! turned into the same YAML shape and read by the same code.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_yaml::{Mapping, Value};

use crate::event::Kind;
use crate::secret::Secret;
use crate::yaml::{self, KeyPath, Problem, Problems, Reader};

/// Where the config is read from when nothing says otherwise.
pub const DEFAULT_PATH: &str = "config/servers.yml";
pub const DEFAULT_API_BASE: &str = "https://discord.com/api/v10";

/// A Discord ID (channel, role, guild), kept as Discord spells it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Snowflake(pub u64);

impl fmt::Display for Snowflake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// How the daemon talks to Discord, decided by which secrets are set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Bot token: gateway, slash commands, channel messages.
    Bot,
    /// Webhook URL only: events are posted through the webhook.
    Webhook,
    /// Neither: every message is printed to stdout as JSON, nothing is sent.
    DryRun,
}

/// How a follower learns that its file changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watch {
    /// inotify where it works (Linux, local file systems), polling where not.
    Auto,
    /// Always poll every `poll_interval` (NFS and some container mounts
    /// deliver no inotify events).
    Poll,
}

/// Where a server's follower starts on its very first run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAt {
    Beginning,
    End,
}

#[derive(Debug, Clone)]
pub struct Config {
    /// The file it came from, or `(environment)`.
    pub source: PathBuf,
    pub discord: Discord,
    pub health_bind: Option<SocketAddr>,
    pub state_dir: PathBuf,
    /// `patterns_dir` followed by `extra_patterns_dirs`, in that order.
    pub patterns_dirs: Vec<PathBuf>,
    /// In file order.
    pub servers: Vec<Server>,
}

#[derive(Debug, Clone)]
pub struct Discord {
    pub bot_token: Option<Secret>,
    pub webhook_url: Option<Secret>,
    /// REST base without a trailing slash.
    pub api_base: String,
    pub guild_id: Option<Snowflake>,
    pub event_channel_id: Option<Snowflake>,
    pub admin_role_ids: Vec<Snowflake>,
    /// Per admin command (`kick`, `whitelist add`): the roles that may run
    /// it, instead of `admin_role_ids`.
    pub command_roles: BTreeMap<String, Vec<Snowflake>>,
    pub audit_channel_id: Option<Snowflake>,
    /// False runs edge mode: events only, no gateway session.
    pub gateway: bool,
    /// Webhook mode: post each event under the player's name.
    pub webhook_player_names: bool,
}

#[derive(Debug, Clone)]
pub struct Server {
    /// The key under `servers:`; used in commands, metrics and state files.
    pub id: Arc<str>,
    /// Display name; defaults to the id.
    pub name: String,
    pub log_paths: Vec<PathBuf>,
    pub start_at: StartAt,
    pub max_resume_age: Duration,
    pub watch: Watch,
    pub poll_interval: Duration,
    /// Longer lines are cut, keeping this many bytes.
    pub max_line_bytes: usize,
    pub allow_lua: bool,
    /// Relay Discord chat with a coloured `game.print` (Lua) instead of
    /// plain chat; needs `allow_lua`.
    pub relay_lua: bool,
    pub rcon: Option<Rcon>,
    pub event_channel_id: Option<Snowflake>,
    /// Routing: event kind or pattern routing key to channel.
    pub channels: BTreeMap<String, Snowflake>,
    pub chat_channel_id: Option<Snowflake>,
    pub alert_channel_id: Option<Snowflake>,
    pub stats: Stats,
    /// Per-kind switches; a kind not listed uses [`Server::default_enabled`].
    pub events: BTreeMap<Kind, bool>,
}

impl Server {
    /// Whether events of `kind` are posted for this server.
    pub fn wants(&self, kind: Kind) -> bool {
        self.events
            .get(&kind)
            .copied()
            .unwrap_or_else(|| Self::default_enabled(kind))
    }

    /// Console commands are Lua an admin typed, and whispers are private:
    /// posting either to a channel is an opt-in.
    pub fn default_enabled(kind: Kind) -> bool {
        !matches!(kind, Kind::Command | Kind::Whisper)
    }
}

#[derive(Debug, Clone)]
pub struct Rcon {
    pub host: String,
    pub port: u16,
    pub password: Secret,
}

#[derive(Debug, Clone)]
pub struct Stats {
    pub enabled: bool,
    pub collect_interval: Duration,
    pub stats_interval: Duration,
    pub stats_channel_id: Option<Snowflake>,
    /// `stats_message: edit`: one status message per server, edited in
    /// place, instead of a new message per report.
    pub edit_in_place: bool,
    pub ups_warning_threshold: f64,
    pub ups_recover_threshold: f64,
    pub alert_samples: u32,
    pub alert_cooldown: Duration,
}

impl Config {
    pub fn mode(&self) -> Mode {
        match (&self.discord.bot_token, &self.discord.webhook_url) {
            (Some(_), _) => Mode::Bot,
            (None, Some(_)) => Mode::Webhook,
            (None, None) => Mode::DryRun,
        }
    }

    pub fn server(&self, id: &str) -> Option<&Server> {
        self.servers.iter().find(|s| &*s.id == id)
    }

    /// Files that hold a secret in clear and that every user on the host
    /// may read, with their mode: each deserves a warning.
    pub fn readable_secret_files(&self) -> Vec<(PathBuf, u32)> {
        use std::os::unix::fs::PermissionsExt;
        let secrets = [&self.discord.bot_token, &self.discord.webhook_url]
            .into_iter()
            .flatten()
            .chain(
                self.servers
                    .iter()
                    .filter_map(|s| s.rcon.as_ref().map(|r| &r.password)),
            );
        let mut files: Vec<PathBuf> = secrets
            .filter_map(|s| s.file().map(Path::to_owned))
            .collect();
        files.sort();
        files.dedup();
        files
            .into_iter()
            .filter_map(|f| {
                let mode = std::fs::metadata(&f).ok()?.permissions().mode() & 0o7777;
                (mode & 0o004 != 0).then_some((f, mode))
            })
            .collect()
    }

    /// Logs a warning for each of [`Config::readable_secret_files`].
    pub fn warn_readable_secrets(&self) {
        for (file, mode) in self.readable_secret_files() {
            log::warn!(
                "{} holds a secret and every user on this host may read it (mode {mode:o}); run `chmod 600 {}` \
                 (or 640 with the daemon's group)",
                file.display(),
                file.display()
            );
        }
    }
}

/// Where to look for the config, from the command line and environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// `--config` or `ISR_CONFIG`: must exist.
    Explicit(PathBuf),
    /// Nothing given: `config/servers.yml` if present, else the environment.
    Default,
}

/// Loads and validates the config, reading files and the process
/// environment.
pub fn load(location: &Location) -> Result<Config, Problems> {
    let env = |name: &str| std::env::var(name).ok();
    let read = crate::text_file::read;
    load_with(location, &env, &read)
}

/// [`load`] with the environment and file reads supplied by the caller.
pub fn load_with(
    location: &Location,
    env: &dyn Fn(&str) -> Option<String>,
    read: &dyn Fn(&Path) -> std::io::Result<String>,
) -> Result<Config, Problems> {
    let path = match location {
        Location::Explicit(p) => p.clone(),
        Location::Default => PathBuf::from(DEFAULT_PATH),
    };
    match read(&path) {
        Ok(text) => parse(&path, &text, env, read),
        Err(e) if *location == Location::Default && e.kind() == std::io::ErrorKind::NotFound => {
            if env("FACTORIO_LOG_PATH").is_some() {
                parse(Path::new(ENV_SOURCE), &ENV_TEMPLATE, env, read).map_err(from_environment)
            } else {
                Err(one_problem(
                    &path,
                    format!(
                        "no config file: {DEFAULT_PATH} does not exist and FACTORIO_LOG_PATH is not set \
                         (copy config/example.yml to {DEFAULT_PATH}, pass --config PATH, or set the \
                         environment variables listed in docs/configuration.md)"
                    ),
                ))
            }
        }
        Err(e) => Err(one_problem(
            &path,
            format!(
                "cannot read the config file: {e} (check the path given with --config or ISR_CONFIG)"
            ),
        )),
    }
}

/// What the config's source is called when it comes from the environment.
pub const ENV_SOURCE: &str = "(environment)";

/// Problems found in the environment-only config point at lines of a
/// template the user never sees; name the variable instead.
fn from_environment(mut problems: Problems) -> Problems {
    for p in &mut problems.0 {
        let var = p
            .line
            .and_then(|n| ENV_TEMPLATE.lines().nth(n - 1))
            .and_then(|l| l.split_once("${"))
            .map(|(_, rest)| rest.split([':', '}']).next().unwrap_or_default().to_owned());
        if let Some(var) = var {
            p.message.push_str(&format!(" (set by {var})"));
        }
        p.line = None;
    }
    problems
}

fn one_problem(file: &Path, message: String) -> Problems {
    Problems(vec![Problem {
        file: file.to_owned(),
        line: None,
        key: String::new(),
        message,
    }])
}

/// The environment-only config, in the file format, so both share one reader
/// and one set of messages.
static ENV_TEMPLATE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    "\
discord:
  bot_token: ${DISCORD_BOT_TOKEN:-}
  bot_token_file: ${DISCORD_BOT_TOKEN_FILE:-}
  webhook_url: ${DISCORD_WEBHOOK_URL:-}
  webhook_url_file: ${DISCORD_WEBHOOK_URL_FILE:-}
  api_base: ${DISCORD_API_BASE:-https://discord.com/api/v10}
  event_channel_id: ${DISCORD_EVENT_CHANNEL_ID:-}
  guild_id: ${DISCORD_GUILD_ID:-}
state_dir: ${STATE_DIR:-./state}
patterns_dir: ${PATTERNS_DIR:-./patterns}
servers:
  default:
    name: ${SERVER_NAME:-Factorio}
    log_path: ${FACTORIO_LOG_PATH}
    rcon_host: ${RCON_HOST:-}
    rcon_port: ${RCON_PORT:-27015}
    rcon_password: ${RCON_PASSWORD:-}
    rcon_password_file: ${RCON_PASSWORD_FILE:-}
"
    .to_owned()
});

const TOP_KEYS: &[&str] = &[
    "discord",
    "health",
    "state_dir",
    "patterns_dir",
    "extra_patterns_dirs",
    "servers",
];

const DISCORD_KEYS: &[&str] = &[
    "bot_token",
    "bot_token_file",
    "webhook_url",
    "webhook_url_file",
    "api_base",
    "guild_id",
    "event_channel_id",
    "admin_role_ids",
    "command_roles",
    "audit_channel_id",
    "gateway",
    "webhook_player_names",
];

const HEALTH_KEYS: &[&str] = &["bind"];

const SERVER_KEYS: &[&str] = &[
    "name",
    "log_path",
    "log_paths",
    "start_at",
    "max_resume_age",
    "watch",
    "poll_interval",
    "max_line_bytes",
    "allow_lua",
    "relay_lua",
    "rcon_host",
    "rcon_port",
    "rcon_password",
    "rcon_password_file",
    "event_channel_id",
    "channels",
    "chat_channel_id",
    "alert_channel_id",
    "enable_stats_collector",
    "collect_interval_seconds",
    "stats_interval_seconds",
    "stats_channel_id",
    "stats_message",
    "ups_warning_threshold",
    "ups_recover_threshold",
    "alert_samples",
    "alert_cooldown_seconds",
    "events",
];

/// Every key the config file accepts, as dotted paths (`servers.*.name`);
/// docs/configuration.md must document each.
pub fn known_keys() -> Vec<String> {
    let mut keys: Vec<String> = TOP_KEYS.iter().map(|k| (*k).to_owned()).collect();
    keys.extend(DISCORD_KEYS.iter().map(|k| format!("discord.{k}")));
    keys.extend(HEALTH_KEYS.iter().map(|k| format!("health.{k}")));
    keys.extend(SERVER_KEYS.iter().map(|k| format!("servers.*.{k}")));
    keys
}

/// Parses and validates config `text` read from `file`.
pub fn parse(
    file: &Path,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
    read: &dyn Fn(&Path) -> std::io::Result<String>,
) -> Result<Config, Problems> {
    let doc = yaml::parse(file, text).map_err(|p| Problems(vec![p]))?;
    let mut r = Reader::new(file, text, Some(env));
    let root = KeyPath::root();
    let empty = Mapping::new();
    let top = r.mapping(&doc, &root, TOP_KEYS).unwrap_or(&empty);

    let discord = read_discord(&mut r, top, read);
    let health_bind = read_health(&mut r, top);
    let state_dir = PathBuf::from(
        r.string(top, &root, "state_dir")
            .unwrap_or_else(|| "./state".into()),
    );
    let mut patterns_dirs = vec![PathBuf::from(
        r.string(top, &root, "patterns_dir")
            .unwrap_or_else(|| "./patterns".into()),
    )];
    patterns_dirs.extend(
        r.string_list(top, &root, "extra_patterns_dirs")
            .unwrap_or_default()
            .into_iter()
            .map(PathBuf::from),
    );
    let servers = read_servers(&mut r, top, read);

    if r.has_problems() {
        return Err(Problems(r.into_problems()));
    }
    Ok(Config {
        source: file.to_owned(),
        discord,
        health_bind,
        state_dir,
        patterns_dirs,
        servers,
    })
}

fn sub<'v>(
    r: &mut Reader,
    map: &'v Mapping,
    path: &KeyPath,
    key: &str,
    allowed: &[&str],
) -> Option<&'v Mapping> {
    map.get(key)
        .and_then(|v| r.mapping(v, &path.key(key), allowed))
}

fn read_discord(
    r: &mut Reader,
    top: &Mapping,
    read: &dyn Fn(&Path) -> std::io::Result<String>,
) -> Discord {
    let path = KeyPath::root().key("discord");
    let empty = Mapping::new();
    let m = sub(r, top, &KeyPath::root(), "discord", DISCORD_KEYS).unwrap_or(&empty);
    let bot_token = secret(r, m, &path, "bot_token", read);
    let webhook_url = secret(r, m, &path, "webhook_url", read);
    if let Some(url) = &webhook_url {
        // Never echo the URL: its last segment is the webhook's token.
        if !(url.expose().starts_with("https://") || url.expose().starts_with("http://")) {
            r.problem(
                &path.key("webhook_url"),
                "is not an http(s) URL (copy it from Discord: Channel settings > Integrations > Webhooks > Copy Webhook URL)",
            );
        }
    }
    let api_base = r
        .string(m, &path, "api_base")
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| DEFAULT_API_BASE.to_owned());
    if !(api_base.starts_with("https://") || api_base.starts_with("http://")) {
        r.problem(
            &path.key("api_base"),
            format!("`{api_base}` is not an http(s) URL (the default is {DEFAULT_API_BASE})"),
        );
    }
    Discord {
        bot_token,
        webhook_url,
        api_base: api_base.trim_end_matches('/').to_owned(),
        guild_id: snowflake(r, m, &path, "guild_id"),
        event_channel_id: snowflake(r, m, &path, "event_channel_id"),
        admin_role_ids: r
            .string_list(m, &path, "admin_role_ids")
            .unwrap_or_default()
            .iter()
            .enumerate()
            .filter_map(|(i, s)| parse_snowflake(r, &path.key("admin_role_ids").index(i), s))
            .collect(),
        command_roles: command_roles(r, m, &path),
        audit_channel_id: snowflake(r, m, &path, "audit_channel_id"),
        gateway: r.boolean(m, &path, "gateway").unwrap_or(true),
        webhook_player_names: r.boolean(m, &path, "webhook_player_names").unwrap_or(false),
    }
}

fn read_health(r: &mut Reader, top: &Mapping) -> Option<SocketAddr> {
    let path = KeyPath::root().key("health");
    let default = || "127.0.0.1:8080".parse().ok();
    let Some(m) = sub(r, top, &KeyPath::root(), "health", HEALTH_KEYS) else {
        return default();
    };
    match m.get("bind") {
        None => default(),
        // `bind: null` or `bind: ""` turns the endpoint off.
        Some(Value::Null) => None,
        Some(_) => {
            let text = r.string(m, &path, "bind")?;
            if text.is_empty() {
                return None;
            }
            match text.parse() {
                Ok(addr) => Some(addr),
                Err(_) => {
                    r.problem(&path.key("bind"), format!("`{text}` is not an address:port (e.g. 127.0.0.1:8080, or 0.0.0.0:8080 in a container)"));
                    None
                }
            }
        }
    }
}

/// `discord.command_roles`: admin command paths to role IDs.
fn command_roles(r: &mut Reader, m: &Mapping, path: &KeyPath) -> BTreeMap<String, Vec<Snowflake>> {
    let mut out = BTreeMap::new();
    let Some(value) = m.get("command_roles") else {
        return out;
    };
    let cpath = path.key("command_roles");
    let admin: Vec<&str> = crate::commands::spec::leaves()
        .iter()
        .filter(|l| l.admin)
        .map(|l| l.path)
        .collect();
    let Some(cm) = r.mapping(value, &cpath, &admin) else {
        return out;
    };
    for key in cm.keys() {
        let Some(name) = key.as_str().filter(|k| admin.contains(k)) else {
            continue;
        };
        let ids = r
            .string_list(cm, &cpath, name)
            .unwrap_or_default()
            .iter()
            .enumerate()
            .filter_map(|(i, s)| parse_snowflake(r, &cpath.key(name).index(i), s))
            .collect();
        out.insert(name.to_owned(), ids);
    }
    out
}

/// A secret given inline (`key`) or as a file (`key_file`), never both.
fn secret(
    r: &mut Reader,
    m: &Mapping,
    path: &KeyPath,
    key: &str,
    read: &dyn Fn(&Path) -> std::io::Result<String>,
) -> Option<Secret> {
    let file_key = format!("{key}_file");
    // A literal in the file, not `${VAR}`: the config file holds it.
    let literal = m
        .get(key)
        .and_then(|v| v.as_str())
        .is_some_and(|raw| !raw.contains("${"));
    let inline = r.string(m, path, key).filter(|s| !s.is_empty());
    let file = r.string(m, path, &file_key).filter(|s| !s.is_empty());
    match (inline, file) {
        (Some(_), Some(_)) => {
            r.problem(
                &path.key(&file_key),
                format!("both `{key}` and `{file_key}` are set; keep one"),
            );
            None
        }
        (Some(v), None) => Some(Secret::stored_in(v, literal.then(|| r.file().to_owned()))),
        (None, Some(f)) => match read(Path::new(&f)) {
            Ok(text) if text.trim().is_empty() => {
                r.problem(
                    &path.key(&file_key),
                    format!("{f} is empty (write the secret into it)"),
                );
                None
            }
            Ok(text) => Some(Secret::stored_in(text.trim(), Some(PathBuf::from(&f)))),
            Err(e) => {
                r.problem(
                    &path.key(&file_key),
                    format!("cannot read {f}: {e} (check the path, and that the daemon's user may read it)"),
                );
                None
            }
        },
        (None, None) => None,
    }
}

fn snowflake(r: &mut Reader, m: &Mapping, path: &KeyPath, key: &str) -> Option<Snowflake> {
    let text = r.string(m, path, key).filter(|s| !s.is_empty())?;
    parse_snowflake(r, &path.key(key), &text)
}

fn parse_snowflake(r: &mut Reader, at: &KeyPath, text: &str) -> Option<Snowflake> {
    match text.trim().parse::<u64>() {
        Ok(n) if n > 0 => Some(Snowflake(n)),
        _ => {
            r.problem(
                at,
                format!("`{text}` is not a Discord ID (enable Developer Mode in Discord, right-click the channel or role, Copy ID)"),
            );
            None
        }
    }
}

fn seconds(
    r: &mut Reader,
    m: &Mapping,
    path: &KeyPath,
    key: &str,
    default: u64,
    min: u64,
) -> Duration {
    Duration::from_secs(
        r.integer(m, path, key, min..=86_400 * 7, "a number of seconds")
            .unwrap_or(default),
    )
}

/// `90` (seconds), `250ms`, `90s`, `30m`, `1h`, `2h30m`, `1d`.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if let Ok(secs) = text.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let mut total_ms = 0u64;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let n: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let (unit_ms, len) = [
            ("ms", 1),
            ("s", 1000),
            ("m", 60_000),
            ("h", 3_600_000),
            ("d", 86_400_000),
        ]
        .iter()
        .find(|(u, _)| rest.starts_with(u))
        .map(|(u, ms)| (*ms, u.len()))?;
        rest = &rest[len..];
        total_ms = total_ms.checked_add(n.checked_mul(unit_ms)?)?;
    }
    Some(Duration::from_millis(total_ms))
}

fn read_servers(
    r: &mut Reader,
    top: &Mapping,
    read: &dyn Fn(&Path) -> std::io::Result<String>,
) -> Vec<Server> {
    let path = KeyPath::root().key("servers");
    let servers = match top.get("servers") {
        Some(Value::Mapping(m)) if !m.is_empty() => m,
        Some(
            other @ (Value::Sequence(_) | Value::String(_) | Value::Number(_) | Value::Bool(_)),
        ) => {
            r.problem(
                &path,
                format!(
                    "expected a mapping of server ids to settings, found {}",
                    yaml::describe(other)
                ),
            );
            return Vec::new();
        }
        _ => {
            r.problem(
                &path,
                "no servers configured (add at least one under `servers:`, see config/example.yml)",
            );
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for (key, value) in servers {
        let Some(id) = key
            .as_str()
            .map(str::to_owned)
            .or_else(|| key.as_u64().map(|n| n.to_string()))
        else {
            r.problem(&path, "server ids must be text");
            continue;
        };
        let at = path.key(&id);
        if id.is_empty()
            || id.len() > 32
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            r.problem(&at, "a server id is 1-32 letters, digits, `_` or `-` (it appears in commands and file names)");
        }
        let empty = Mapping::new();
        let m = r.mapping(value, &at, SERVER_KEYS).unwrap_or(&empty);
        if let Some(server) = read_server(r, m, &at, &id, read) {
            out.push(server);
        }
    }
    out
}

fn read_server(
    r: &mut Reader,
    m: &Mapping,
    at: &KeyPath,
    id: &str,
    read: &dyn Fn(&Path) -> std::io::Result<String>,
) -> Option<Server> {
    let log_path = r.string(m, at, "log_path").filter(|s| !s.is_empty());
    let log_paths = r.string_list(m, at, "log_paths").unwrap_or_default();
    let log_paths: Vec<PathBuf> = match (log_path, log_paths.is_empty()) {
        (Some(_), false) => {
            r.problem(
                &at.key("log_paths"),
                "both `log_path` and `log_paths` are set; put every file in `log_paths`",
            );
            Vec::new()
        }
        (Some(p), true) => vec![PathBuf::from(p)],
        (None, false) => {
            let paths: Vec<PathBuf> = log_paths.into_iter().map(PathBuf::from).collect();
            for (i, p) in paths.iter().enumerate() {
                if paths[..i].contains(p) {
                    r.problem(
                        &at.key("log_paths").index(i),
                        format!("{} is listed twice; follow each file once", p.display()),
                    );
                }
            }
            paths
        }
        // A server reached only over RCON: a bot instance next to edge
        // instances that follow the logs (docs/TOPOLOGY.md).
        (None, true) if m.contains_key("rcon_password") || m.contains_key("rcon_password_file") => {
            Vec::new()
        }
        (None, true) => {
            r.problem(
                &at.key("log_path"),
                "required key is missing (the file Factorio writes with --console-log, e.g. /opt/factorio/console.log; \
                 a server reached only over RCON needs rcon_password instead)",
            );
            Vec::new()
        }
    };

    let allow_lua = r.boolean(m, at, "allow_lua").unwrap_or(false);
    let relay_lua = r.boolean(m, at, "relay_lua").unwrap_or(false);
    if relay_lua && !allow_lua {
        r.problem(
            &at.key("relay_lua"),
            "needs allow_lua: true (a coloured relay runs Lua, which disables achievements on the save); \
             remove relay_lua to relay as plain chat",
        );
    }
    let start_at = match r.string(m, at, "start_at").as_deref() {
        None | Some("end") => StartAt::End,
        Some("beginning") => StartAt::Beginning,
        Some(other) => {
            r.problem(
                &at.key("start_at"),
                format!("`{other}` is not `end` or `beginning`"),
            );
            StartAt::End
        }
    };
    let max_resume_age = match r.string(m, at, "max_resume_age") {
        None => Duration::from_secs(3600),
        Some(text) => parse_duration(&text).unwrap_or_else(|| {
            r.problem(
                &at.key("max_resume_age"),
                format!("`{text}` is not a duration (e.g. 90s, 30m, 1h, 2d)"),
            );
            Duration::from_secs(3600)
        }),
    };

    let watch = match r.string(m, at, "watch").as_deref() {
        None | Some("auto") => Watch::Auto,
        Some("poll") => Watch::Poll,
        Some(other) => {
            r.problem(
                &at.key("watch"),
                format!("`{other}` is not `auto` or `poll`"),
            );
            Watch::Auto
        }
    };
    let poll_interval = match r.string(m, at, "poll_interval") {
        None => Duration::from_millis(250),
        Some(text) => match parse_duration(&text) {
            Some(d) if d >= Duration::from_millis(10) && d <= Duration::from_secs(60) => d,
            _ => {
                r.problem(
                    &at.key("poll_interval"),
                    format!("`{text}` is not a duration from 10ms to 60s (e.g. 250ms, 1s)"),
                );
                Duration::from_millis(250)
            }
        },
    };
    let max_line_bytes = r
        .integer(
            m,
            at,
            "max_line_bytes",
            1024..=16 << 20,
            "a line length in bytes",
        )
        .map_or(64 * 1024, |n| n as usize);

    let rcon_host = r.string(m, at, "rcon_host").filter(|s| !s.is_empty());
    let rcon_port = r
        .integer(m, at, "rcon_port", 1..=65535, "a port")
        .map(|p| p as u16);
    let rcon_password = secret(r, m, at, "rcon_password", read);
    let rcon = match (rcon_host, rcon_password) {
        (host, Some(password)) => Some(Rcon {
            host: host.unwrap_or_else(|| "127.0.0.1".to_owned()),
            port: rcon_port.unwrap_or(27015),
            password,
        }),
        // A password key that is present but failed has its own problem.
        (Some(_), None)
            if !m.contains_key("rcon_password") && !m.contains_key("rcon_password_file") =>
        {
            r.problem(
                &at.key("rcon_password"),
                "rcon_host is set but no password (set rcon_password or rcon_password_file to the server's --rcon-password)",
            );
            None
        }
        (_, None) => None,
    };

    let mut channels = BTreeMap::new();
    if let Some(cm) = m.get("channels") {
        let cpath = at.key("channels");
        if let Some(cm) = r.mapping_any(cm, &cpath) {
            for key in cm.keys() {
                let Some(k) = key.as_str() else { continue };
                if let Some(id) = snowflake(r, cm, &cpath, k) {
                    channels.insert(k.to_owned(), id);
                }
            }
        }
    }

    let mut events = BTreeMap::new();
    if let Some(em) = m.get("events") {
        let epath = at.key("events");
        let names: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
        if let Some(em) = r.mapping(em, &epath, &names) {
            for key in em.keys() {
                let Some(kind) = key.as_str().and_then(Kind::from_name) else {
                    continue;
                };
                if let Some(on) = r.boolean(em, &epath, kind.name()) {
                    events.insert(kind, on);
                }
            }
        }
    }

    let warn = r
        .number(m, at, "ups_warning_threshold", 1.0..=1000.0, "a UPS value")
        .unwrap_or(55.0);
    let recover = r
        .number(m, at, "ups_recover_threshold", 1.0..=1000.0, "a UPS value")
        .unwrap_or(58.0_f64.max(warn));
    if recover < warn {
        r.problem(
            &at.key("ups_recover_threshold"),
            format!("{recover} is below ups_warning_threshold ({warn}); recovery must be at or above the warning level"),
        );
    }
    let stats = Stats {
        enabled: r.boolean(m, at, "enable_stats_collector").unwrap_or(true),
        collect_interval: seconds(r, m, at, "collect_interval_seconds", 30, 1),
        stats_interval: seconds(r, m, at, "stats_interval_seconds", 300, 10),
        stats_channel_id: snowflake(r, m, at, "stats_channel_id"),
        edit_in_place: match r.string(m, at, "stats_message").as_deref() {
            None | Some("post") => false,
            Some("edit") => true,
            Some(other) => {
                r.problem(
                    &at.key("stats_message"),
                    format!("`{other}` is not `post` (a new message per report) or `edit` (one message updated in place)"),
                );
                false
            }
        },
        ups_warning_threshold: warn,
        ups_recover_threshold: recover,
        alert_samples: r
            .integer(m, at, "alert_samples", 1..=1000, "a sample count")
            .map_or(3, |n| n as u32),
        alert_cooldown: seconds(r, m, at, "alert_cooldown_seconds", 300, 0),
    };

    Some(Server {
        id: Arc::from(id),
        name: r
            .string(m, at, "name")
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| id.to_owned()),
        log_paths,
        start_at,
        max_resume_age,
        watch,
        poll_interval,
        max_line_bytes,
        allow_lua,
        relay_lua,
        rcon,
        event_channel_id: snowflake(r, m, at, "event_channel_id"),
        channels,
        chat_channel_id: snowflake(r, m, at, "chat_channel_id"),
        alert_channel_id: snowflake(r, m, at, "alert_channel_id"),
        stats,
        events,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let check = |t: &str, s: Option<u64>| {
            assert_eq!(parse_duration(t), s.map(Duration::from_secs), "{t}")
        };
        check("90", Some(90));
        check("90s", Some(90));
        check("30m", Some(1800));
        check("1h", Some(3600));
        check("2h30m", Some(9000));
        check("1d", Some(86_400));
        check("1x", None);
        check("h", None);
        check("5m3", None);
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("1s500ms"), Some(Duration::from_millis(1500)));
        check("", None);
    }
}
