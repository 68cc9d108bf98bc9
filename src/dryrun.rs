//! Dry-run delivery: print each message the daemon would post, one JSON
//! object per line on stdout, instead of sending it.
//!
//! It sits where the Discord sender will: it receives the same events, routes
//! them with the same rules, and shows the request body Discord would get.

use std::io::{self, Write};
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};
use serde_json::json;

use crate::config::Config;
use crate::event::Event;
use crate::route;

/// The JSON line for one event: where it would go and what would be sent.
pub fn render(config: &Config, event: &Event) -> serde_json::Value {
    let destination = config
        .server(&event.server)
        .and_then(|s| route::destination(config, s, event.kind, event.route.as_deref()))
        .map_or_else(|| "unrouted".to_owned(), |d| d.to_string());
    let mut line = json!({
        "destination": destination,
        "server": &*event.server,
        "kind": event.kind.name(),
        "content": event.content,
        "allowed_mentions": { "parse": [] },
    });
    if let Some(embed) = &event.embed {
        line["embeds"] = json!([embed]);
    }
    line
}

/// Prints events until every sender is gone. Each line is flushed at once
/// so a reader sees messages as they happen, and then acknowledged to its
/// follower (`acks[source]`), as Discord's 2xx will be.
pub fn run(
    config: Arc<Config>,
    events: Receiver<Event>,
    acks: &[Sender<u64>],
    out: &mut dyn Write,
) -> io::Result<()> {
    for event in events {
        writeln!(out, "{}", render(&config, &event))?;
        out.flush()?;
        if let Some(ack) = acks.get(event.position.source) {
            // A follower that already stopped needs no acknowledgement.
            let _ = ack.send(event.position.seq);
        }
    }
    Ok(())
}
