//! Discord to game: a message in a server's `chat_channel_id`, written by
//! a person, goes into the game as plain chat `[Discord] name: text`.
//!
//! Plain chat (an RCON command not starting with `/`) runs no Lua, so the
//! relay never costs the save its achievements, and `[Discord]` first means
//! the text cannot be read as a console command. With `relay_lua` (which
//! needs `allow_lua`) the same line is shown with a coloured `game.print`
//! instead, the text inside a Lua literal it cannot close. Messages from bots and
//! webhooks, our own included, are not relayed, and the line Factorio echoes
//! into console.log is dropped by the patterns, so nothing loops.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;

use regex::Regex;
use serde_json::Value;

use super::Shared;
use crate::commands::plan::{coloured_print, lua_api};
use crate::commands::sanitize::relay_line;

/// Relays `d` (a MESSAGE_CREATE) if it is chat for a server. The line is
/// queued on the server's RCON thread at once, so messages keep their
/// order; the answer is only for logging a failure.
pub fn handle(shared: &Shared, d: &Value) -> Option<Pending> {
    let channel = d["channel_id"].as_str()?;
    let server = shared.config.servers.iter().find(|s| {
        s.chat_channel_id
            .as_ref()
            .is_some_and(|c| c.to_string() == channel)
    })?;
    let author = &d["author"];
    let ours = shared
        .ids()
        .is_some_and(|ids| author["id"].as_str() == Some(ids.user.as_str()));
    if ours || author["bot"].as_bool() == Some(true) || !d["webhook_id"].is_null() {
        return None;
    }
    let name = d["member"]["nick"]
        .as_str()
        .or_else(|| author["global_name"].as_str())
        .or_else(|| author["username"].as_str())
        .unwrap_or("someone");
    let mut line = relay_line(name, &game_text(d))?;
    if server.relay_lua && server.allow_lua {
        let version = shared
            .health
            .lock()
            .rcon
            .iter()
            .find(|r| r.server == server.id)
            .and_then(|r| r.version.clone());
        line = coloured_print(&line, lua_api(version.as_deref()));
    }
    let Some(rcon) = shared.rcon.get(&server.id) else {
        log::debug!("chat for {} not relayed: no RCON configured", server.id);
        return None;
    };
    let (tx, rx) = crossbeam_channel::bounded(1);
    let request = crate::rcon::Request {
        command: line,
        reply: tx,
        // Chat that arrives much later than it was written is confusing.
        deadline: Instant::now() + RELAY_PATIENCE,
    };
    rcon.send(request).ok()?;
    Some(Pending {
        server: server.id.clone(),
        author: crate::logging::printable(name).into_owned(),
        since: Instant::now(),
        answer: rx,
    })
}

/// How long a relayed line may wait for RCON.
const RELAY_PATIENCE: Duration = Duration::from_secs(15);

/// A relayed line's RCON answer, awaited only for logging a failure.
pub struct Pending {
    server: Arc<str>,
    /// Whose line, for the warning: the Discord name, shown escaped.
    author: String,
    since: Instant,
    answer: Receiver<Result<String, crate::rcon::Error>>,
}

impl Pending {
    /// Logs the outcome if it is known; false while still waiting.
    pub fn settled(&self) -> bool {
        match self.answer.try_recv() {
            Ok(Ok(_)) => true,
            // Sent, or perhaps sent (a timeout): the game may show it.
            Ok(Err(
                e @ (crate::rcon::Error::Lost(_)
                | crate::rcon::Error::Protocol(_)
                | crate::rcon::Error::Timeout),
            )) => {
                log::warn!(
                    "chat from Discord may not have reached {} (from {}): {e}",
                    self.server,
                    self.author
                );
                true
            }
            Ok(Err(e)) => {
                log::warn!(
                    "chat from Discord did not reach {} (from {}): {e}",
                    self.server,
                    self.author
                );
                true
            }
            Err(crossbeam_channel::TryRecvError::Disconnected) => true,
            Err(crossbeam_channel::TryRecvError::Empty)
                if self.since.elapsed() > RELAY_PATIENCE =>
            {
                log::warn!(
                    "chat from Discord to {} (from {}): no answer from RCON",
                    self.server,
                    self.author
                );
                true
            }
            Err(crossbeam_channel::TryRecvError::Empty) => false,
        }
    }
}

/// The message as a player should read it: mentions as names, custom
/// emoji as `:name:`, attachments as `[attachment]`.
pub fn game_text(d: &Value) -> String {
    static TOKENS: OnceLock<Option<Regex>> = OnceLock::new();
    let tokens = TOKENS.get_or_init(|| Regex::new(r"<(@!?|@&|#|a?:(\w+):)(\d+)>").ok());
    let content = d["content"].as_str().unwrap_or("");
    let user_name = |id: &str| {
        d["mentions"].as_array().and_then(|list| {
            list.iter().find(|u| u["id"].as_str() == Some(id)).map(|u| {
                u["member"]["nick"]
                    .as_str()
                    .or_else(|| u["global_name"].as_str())
                    .or_else(|| u["username"].as_str())
                    .unwrap_or("someone")
                    .to_owned()
            })
        })
    };
    let mut text = match tokens {
        Some(re) => re
            .replace_all(content, |c: &regex::Captures<'_>| {
                let id = &c[3];
                match &c[1] {
                    "@" | "@!" => {
                        format!("@{}", user_name(id).unwrap_or_else(|| "someone".to_owned()))
                    }
                    "@&" => "@role".to_owned(),
                    "#" => "#channel".to_owned(),
                    _ => format!(":{}:", c.get(2).map_or("emoji", |m| m.as_str())),
                }
            })
            .into_owned(),
        None => content.to_owned(),
    };
    let attachments = d["attachments"].as_array().map_or(0, Vec::len);
    for _ in 0..attachments {
        if !text.is_empty() {
            text.push(' ');
        }
        text.push_str("[attachment]");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn mentions_emoji_and_attachments_read_as_text() {
        let d = json!({
            "content": "hi <@123> and <@!456>, see <#789> <@&5> <:factorio:111> <a:spin:222>",
            "mentions": [
                {"id": "123", "username": "ann", "global_name": "Ann"},
                {"id": "456", "username": "bob", "member": {"nick": "Bobby"}}
            ],
            "attachments": [{"id": "1"}, {"id": "2"}]
        });
        assert_eq!(
            game_text(&d),
            "hi @Ann and @Bobby, see #channel @role :factorio: :spin: [attachment] [attachment]"
        );
        assert_eq!(game_text(&json!({"content": "<@9>"})), "@someone");
        assert_eq!(
            game_text(&json!({"content": "", "attachments": [{}]})),
            "[attachment]"
        );
    }
}
