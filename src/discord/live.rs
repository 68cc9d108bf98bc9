//! Status messages edited in place (`stats_message: edit`): which Discord
//! message is each server's, kept in `state_dir/live-messages.json` so a
//! restart edits the same message instead of posting a second one.
//!
//! A saved id only counts for the destination it was posted to: after the
//! config moves `stats_channel_id`, the next report posts a new message
//! there. Losing the file costs one extra message, never an error.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::route::Destination;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Saved {
    destination: String,
    message_id: String,
}

#[derive(Debug)]
pub struct LiveIds {
    path: PathBuf,
    map: BTreeMap<String, Saved>,
    /// A failed save is logged once, not on every report.
    save_failed: bool,
}

impl LiveIds {
    /// Loads `state_dir/live-messages.json`; missing or unreadable is empty.
    pub fn load(state_dir: &Path) -> Self {
        let path = state_dir.join("live-messages.json");
        let map = crate::checkpoint::read_json_or_default(&path);
        Self {
            path,
            map,
            save_failed: false,
        }
    }

    /// The message `server`'s status lives in at `dest`, if one was posted.
    pub fn get(&self, server: &str, dest: &Destination) -> Option<&str> {
        self.map
            .get(server)
            .filter(|s| s.destination == dest.to_string())
            .map(|s| s.message_id.as_str())
    }

    /// Remembers the message just posted for `server`.
    pub fn set(&mut self, server: &str, dest: &Destination, message_id: &str) {
        let saved = Saved {
            destination: dest.to_string(),
            message_id: message_id.to_owned(),
        };
        self.map.insert(server.to_owned(), saved);
        self.save();
    }

    /// The message was deleted in Discord: the next report posts anew.
    pub fn forget(&mut self, server: &str) {
        if self.map.remove(server).is_some() {
            self.save();
        }
    }

    fn save(&mut self) {
        let written = serde_json::to_vec_pretty(&self.map)
            .map_err(std::io::Error::other)
            .and_then(|bytes| crate::checkpoint::write_atomic(&self.path, &bytes));
        match written {
            Ok(()) => self.save_failed = false,
            Err(e) if !std::mem::replace(&mut self.save_failed, true) => log::warn!(
                "cannot save {}: {e}; after a restart each status message is posted anew",
                self.path.display()
            ),
            Err(_) => {}
        }
    }
}

/// A webhook message's URL: `{webhook}/messages/{id}`, keeping the
/// webhook URL's query (`?thread_id=`).
pub fn webhook_message_url(webhook: &str, message_id: &str) -> String {
    match webhook.split_once('?') {
        Some((base, query)) => format!(
            "{}/messages/{message_id}?{query}",
            base.trim_end_matches('/')
        ),
        None => format!("{}/messages/{message_id}", webhook.trim_end_matches('/')),
    }
}

/// The `id` of the message Discord returned.
pub fn message_id(body: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    let id = v.get("id")?.as_str()?;
    (!id.is_empty() && id.bytes().all(|b| b.is_ascii_digit())).then(|| id.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Snowflake;

    #[test]
    fn ids_survive_a_restart_for_their_destination_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let here = Destination::Channel(Snowflake(7));
        let there = Destination::Channel(Snowflake(8));
        let mut ids = LiveIds::load(dir.path());
        assert_eq!(ids.get("main", &here), None);
        ids.set("main", &here, "123");
        let mut again = LiveIds::load(dir.path());
        assert_eq!(again.get("main", &here), Some("123"));
        assert_eq!(again.get("main", &there), None, "the channel moved");
        assert_eq!(again.get("other", &here), None);
        again.forget("main");
        assert_eq!(LiveIds::load(dir.path()).get("main", &here), None);
    }

    #[test]
    fn a_failed_save_is_not_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut ids = LiveIds::load(&dir.path().join("missing"));
        ids.set("main", &Destination::Webhook, "1");
        assert!(ids.save_failed);
        assert_eq!(ids.get("main", &Destination::Webhook), Some("1"));
    }

    #[test]
    fn urls_and_ids() {
        assert_eq!(
            webhook_message_url("https://d/api/webhooks/1/t", "9"),
            "https://d/api/webhooks/1/t/messages/9"
        );
        assert_eq!(
            webhook_message_url("https://d/api/webhooks/1/t?thread_id=2", "9"),
            "https://d/api/webhooks/1/t/messages/9?thread_id=2"
        );
        assert_eq!(
            message_id(r#"{"id":"1234","content":"x"}"#).as_deref(),
            Some("1234")
        );
        assert_eq!(message_id(r#"{"id":"../x"}"#), None);
        assert_eq!(message_id("not json"), None);
    }
}
