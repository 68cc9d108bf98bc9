//! What flows from the followers to Discord: an [`Event`] of some [`Kind`].
//!
//! Kinds are a closed set so that per-server toggles, routing keys and
//! pattern files are checked against it at load time: a typo such as
//! `kind: jion` is an error, not a silently unrouted event.

use std::fmt;
use std::sync::Arc;

macro_rules! kinds {
    ($($variant:ident => $name:literal, $doc:literal;)*) => {
        /// The kind of an event; its name is used in pattern files, in
        /// `servers.<id>.events` toggles and in `channels` routing.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Kind {
            $(#[doc = $doc] $variant,)*
        }

        impl Kind {
            pub const ALL: &[Kind] = &[$(Kind::$variant,)*];

            pub fn name(self) -> &'static str {
                match self {
                    $(Kind::$variant => $name,)*
                }
            }

            pub fn from_name(name: &str) -> Option<Kind> {
                match name {
                    $($name => Some(Kind::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

kinds! {
    Join => "join", "A player joined the game.";
    Leave => "leave", "A player left the game.";
    Chat => "chat", "Chat from a player or from the server console.";
    Shout => "shout", "A player shouted to all forces.";
    Whisper => "whisper", "A private message between two players.";
    Command => "command", "A console command (Lua) was run.";
    Kick => "kick", "A player was kicked.";
    Ban => "ban", "A player was banned.";
    Unban => "unban", "A player was unbanned.";
    Promote => "promote", "A player was made admin.";
    Demote => "demote", "A player's admin rights were removed.";
    Death => "death", "A player died (from a mod or scenario line).";
    Respawn => "respawn", "A player respawned (from a mod line).";
    Research => "research", "Research started, finished or was cancelled.";
    Rocket => "rocket", "A rocket was launched.";
    Achievement => "achievement", "A player gained an achievement.";
    Milestone => "milestone", "A milestone (production, play time, ...) was reached.";
    Task => "task", "A task or to-do item was finished (mods).";
    Server => "server", "The server itself: started, stopping, mod messages.";
    Alert => "alert", "An alert raised by the daemon (low UPS, unreachable).";
    Stats => "stats", "A periodic statistics report.";
    Notice => "notice", "A notice from the daemon about itself (skipped lines, recovery).";
    Other => "other", "Anything a custom pattern reports that fits no other kind.";
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which follower an event came from and its place in that follower's
/// sequence: delivery acknowledges events by this, and the follower's
/// checkpoint moves past a line once all its events and all earlier ones
/// are acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// Index of the follower (one per followed file, in config order).
    pub source: usize,
    /// Sequence number within that follower, from 0.
    pub seq: u64,
}

/// One thing that happened on a server, ready to be delivered.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The server's id (the key under `servers:`).
    pub server: Arc<str>,
    pub kind: Kind,
    /// The pattern that produced it.
    pub pattern: Arc<str>,
    /// The pattern's routing key, when it names one (`channel: admin`).
    pub route: Option<Arc<str>>,
    /// Captured fields, in the pattern's order.
    pub fields: Vec<(Arc<str>, String)>,
    /// The rendered Discord message text (markdown, player text escaped).
    pub content: String,
    /// An embed posted with the content (stats reports). An event with
    /// one gets a message of its own: embeds are not coalesced.
    pub embed: Option<serde_json::Value>,
    pub position: Position,
    /// Stable across restarts (from the line's file identity and offset):
    /// message nonces are derived from it, so a message re-sent after a
    /// crash can be recognised by Discord.
    pub id: u64,
}

impl Event {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| &**n == name)
            .map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for kind in Kind::ALL {
            assert_eq!(Kind::from_name(kind.name()), Some(*kind));
        }
        assert_eq!(Kind::from_name("jion"), None);
    }
}
