//! Which Discord destination an event goes to.
//!
//! Most specific first: the pattern's routing key in the server's
//! `channels`, the event kind in `channels`, the server's dedicated alert or
//! stats channel, the server's `event_channel_id`, then the global
//! `discord.event_channel_id`. In webhook mode the webhook is the only
//! destination. [`check`] runs at start-up so that an event with nowhere to
//! go is a config error, not a silent drop.

use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;

use crate::config::{Config, Mode, Server, Snowflake};
use crate::event::Kind;
use crate::patterns::PatternSet;
use crate::yaml::{self, KeyPath, Problem};

/// Where a message is posted.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Destination {
    Channel(Snowflake),
    /// The configured webhook; its URL is a secret and never shown.
    Webhook,
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Destination::Channel(id) => write!(f, "channel:{id}"),
            Destination::Webhook => f.write_str("webhook"),
        }
    }
}

/// The destination of an event of `kind` with routing key `route`.
pub fn destination(
    config: &Config,
    server: &Server,
    kind: Kind,
    route: Option<&str>,
) -> Option<Destination> {
    if config.mode() == Mode::Webhook {
        return Some(Destination::Webhook);
    }
    let dedicated = match kind {
        Kind::Alert => server.alert_channel_id.as_ref(),
        Kind::Stats => server.stats.stats_channel_id.as_ref(),
        _ => None,
    };
    route
        .and_then(|r| server.channels.get(r))
        .or_else(|| server.channels.get(kind.name()))
        .or(dedicated)
        .or(server.event_channel_id.as_ref())
        .or(config.discord.event_channel_id.as_ref())
        .cloned()
        .map(Destination::Channel)
}

/// Checks that every event a server can produce has a destination and that
/// every `channels` key means something. `sets` holds each server's pattern
/// set, in config order.
pub fn check(config: &Config, sets: &[PatternSet]) -> Vec<Problem> {
    let mut problems = Vec::new();
    let text = crate::text_file::read(&config.source).unwrap_or_default();
    let file: &Path = &config.source;
    let problem = |path: KeyPath, message: String| Problem {
        file: file.to_owned(),
        line: yaml::locate(&text, &path),
        key: path.to_string(),
        message,
    };
    for (server, set) in config.servers.iter().zip(sets) {
        let at = KeyPath::root().key("servers").key(&server.id);
        let routes: BTreeSet<&str> = set
            .patterns()
            .iter()
            .filter_map(|p| p.route.as_deref())
            .collect();
        let mut known: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
        known.extend(routes.iter().copied());
        for key in server.channels.keys() {
            if !known.contains(&key.as_str()) {
                let hint = yaml::closest(key, &known)
                    .map_or(String::new(), |n| format!("did you mean `{n}`? "));
                problems.push(problem(
                    at.key("channels").key(key),
                    format!("`{key}` is neither an event kind nor a pattern's `channel` key ({hint}see docs/PATTERNS.md)"),
                ));
            }
        }
        let mut kinds: BTreeSet<(Kind, Option<&str>)> = set
            .patterns()
            .iter()
            .map(|p| (p.kind, p.route.as_deref()))
            .collect();
        kinds.insert((Kind::Notice, None));
        if server.rcon.is_some() && server.stats.enabled {
            kinds.insert((Kind::Alert, None));
        }
        for (kind, route) in kinds {
            if destination(config, server, kind, route).is_none() {
                problems.push(problem(
                    at.clone(),
                    format!(
                        "`{kind}` events have no destination (set discord.event_channel_id, \
                         servers.{}.event_channel_id or servers.{}.channels.{kind})",
                        server.id, server.id
                    ),
                ));
                break;
            }
        }
    }
    problems
}
