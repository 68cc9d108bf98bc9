//! The sending half of the `discord` thread: events in, messages out,
//! acknowledgements back.
//!
//! Each event is routed to its destination's [`Outbox`]. The loop sends
//! whatever is due (an outbox with something to send, past its backoff,
//! on a route the [`RateLimiter`] allows), one request per outbox per pass
//! so one slow channel cannot starve the others, then waits in `select!`
//! for the next event or the next deadline; it never sleeps. After Discord
//! answers 2xx for the last part of a message, each of its events is
//! acknowledged to its follower, which lets the checkpoint move on.
//!
//! Failures keep events: network errors and 5xx back off and retry the same
//! message with the same nonce; a 401 stops all sending (repeating a
//! rejected token risks a Cloudflare ban); 403 and 404 are reported once
//! with what to fix and retried every few minutes; a deleted webhook is not
//! retried at all. When outboxes hold [`MAX_PENDING`] events the loop stops
//! taking new ones, the bounded event channel fills and the followers stop
//! reading: the log file is the queue.
//!
//! A server with `stats_message: edit` has one more outbox, its live status
//! message: a new report replaces the one waiting, is posted once and then
//! edited in place (PATCH), and a deleted message is posted anew.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, select};
use serde_json::json;

use super::live::{LiveIds, message_id, webhook_message_url};
use super::outbox::Outbox;
use super::ratelimit::RateLimiter;
use super::rest::{Reply, Rest};
use crate::backoff::Jitter;
use crate::config::{Config, Mode};
use crate::event::{Event, Kind, Position};
use crate::health::Health;
use crate::route::{self, Destination};

/// Message flag: show links without their previews.
const SUPPRESS_EMBEDS: u64 = 1 << 2;

/// Discord's JSON error code for a message that no longer exists.
const UNKNOWN_MESSAGE: u64 = 10008;
/// ... and for one posted by someone else (a new bot token or webhook).
const NOT_AUTHOR: u64 = 50005;

/// Events held in outboxes before the loop stops taking more.
pub const MAX_PENDING: usize = 4096;
/// How long a channel that answered 403 or 404 rests before a new try.
const HOLD: Duration = Duration::from_secs(300);
/// Wait when nothing at all is due (a new event wakes the loop anyway).
const IDLE: Duration = Duration::from_secs(3600);

pub struct Delivery {
    config: Arc<Config>,
    rest: Rest,
    limiter: RateLimiter,
    outboxes: BTreeMap<Destination, Outbox>,
    /// Each `stats_message: edit` server's status message.
    live: BTreeMap<Arc<str>, Outbox>,
    live_ids: LiveIds,
    acks: Vec<Sender<u64>>,
    /// The token was rejected: nothing more is sent.
    halted: bool,
    jitter: Jitter,
    health: Arc<Health>,
}

impl Delivery {
    pub fn new(
        config: Arc<Config>,
        rest: Rest,
        acks: Vec<Sender<u64>>,
        health: Arc<Health>,
    ) -> Self {
        Self {
            live_ids: LiveIds::load(&config.state_dir),
            config,
            rest,
            limiter: RateLimiter::default(),
            outboxes: BTreeMap::new(),
            live: BTreeMap::new(),
            acks,
            halted: false,
            jitter: Jitter::seeded(),
            health,
        }
    }

    /// Runs until the event channel closes (every follower has stopped).
    /// Events still queued then are not acknowledged: their followers'
    /// checkpoints did not pass them, so the next start sends them.
    pub fn run(mut self, events: Receiver<Event>) -> Result<(), String> {
        loop {
            self.send_due();
            let now = Instant::now();
            let next = self
                .outboxes
                .values()
                .map(|o| self.due_at(o, None, now))
                .chain(self.live.iter().map(|(s, o)| self.due_at(o, Some(s), now)))
                .flatten()
                .min();
            let timeout = next.map_or(IDLE, |t| t.saturating_duration_since(now));
            if self.pending() < MAX_PENDING {
                select! {
                    recv(events) -> event => match event {
                        Ok(event) => {
                            self.route(event);
                            // Take everything already queued, so messages are
                            // formed as full as the backlog allows.
                            while self.pending() < MAX_PENDING {
                                let Ok(event) = events.try_recv() else { break };
                                self.route(event);
                            }
                        }
                        Err(_) => return Ok(()),
                    },
                    default(timeout) => {}
                }
            } else {
                // Full: let the channel, then the followers, wait. Look
                // again within a second even when nothing is due (sending
                // halted), so a shutdown is noticed.
                select! {
                    recv(crossbeam_channel::after(timeout.min(Duration::from_secs(1)))) -> _ => {}
                }
                match events.try_recv() {
                    // One event over the cap is fine; it is not lost.
                    Ok(event) => self.route(event),
                    Err(crossbeam_channel::TryRecvError::Disconnected) => return Ok(()),
                    Err(crossbeam_channel::TryRecvError::Empty) => {}
                }
            }
        }
    }

    fn pending(&self) -> usize {
        self.outboxes
            .values()
            .chain(self.live.values())
            .map(Outbox::len)
            .sum()
    }

    fn route(&mut self, event: Event) {
        let Some(server) = self.config.server(&event.server) else {
            return;
        };
        let Some(dest) =
            route::destination(&self.config, server, event.kind, event.route.as_deref())
        else {
            // Routing was checked at start-up for every kind a server can
            // produce; this cannot happen, but never lose an event silently.
            log::error!(
                "no destination for a {} event of server {}; it is not posted",
                event.kind,
                event.server
            );
            return;
        };
        let username = self.username(&event);
        // Only the monitor's reports: a `kind: stats` line from a pattern
        // has a follower waiting for its acknowledgement.
        if event.kind == Kind::Stats
            && event.position.source == crate::monitor::NO_SOURCE
            && server.stats.edit_in_place
        {
            // Only the newest report matters; one that never went out is
            // not worth a request. (Reports come from no follower: nothing
            // to acknowledge.)
            self.live
                .entry(event.server.clone())
                .or_insert_with(|| Outbox::new(dest))
                .replace(event, username);
            return;
        }
        let outbox = self
            .outboxes
            .entry(dest.clone())
            .or_insert_with(|| Outbox::new(dest.clone()));
        outbox.push(event, username);
        let pending = outbox.len();
        self.health.lock().destination(dest.to_string()).pending = pending;
    }

    /// In webhook mode, with `webhook_player_names`, post as the player.
    fn username(&self, event: &Event) -> Option<String> {
        if self.config.mode() != Mode::Webhook || !self.config.discord.webhook_player_names {
            return None;
        }
        event.field("player").and_then(webhook_username)
    }

    /// When `outbox` (`live`: the status message of that server) may send.
    fn due_at(&self, outbox: &Outbox, live: Option<&Arc<str>>, now: Instant) -> Option<Instant> {
        if self.halted {
            return None;
        }
        let due = outbox.due(now)?;
        let editing = live.is_some_and(|s| self.live_ids.get(s, &outbox.destination).is_some());
        let (route, counted) = route_key(&outbox.destination, editing);
        Some(due.max(self.limiter.ready_at(&route, counted, now)))
    }

    fn outbox(&mut self, target: &Target) -> Option<&mut Outbox> {
        outbox_of(&mut self.outboxes, &mut self.live, target)
    }

    /// Sends every message that is due now, round-robin over outboxes.
    fn send_due(&mut self) {
        loop {
            let now = Instant::now();
            let is_due = |o: &Outbox, live| self.due_at(o, live, now).is_some_and(|t| t <= now);
            let due: Vec<Target> = self
                .outboxes
                .iter()
                .filter(|(_, o)| is_due(o, None))
                .map(|(d, _)| Target::Shared(d.clone()))
                .chain(
                    self.live
                        .iter()
                        .filter(|(s, o)| is_due(o, Some(s)))
                        .map(|(s, _)| Target::Live(s.clone())),
                )
                .collect();
            if due.is_empty() {
                return;
            }
            for target in due {
                self.send_one(&target);
            }
        }
    }

    fn send_one(&mut self, target: &Target) {
        let dest = match target {
            Target::Shared(dest) => dest.clone(),
            Target::Live(server) => match self.live.get(server) {
                Some(o) => o.destination.clone(),
                None => return,
            },
        };
        let dest = &dest;
        // A live message already posted is edited.
        let editing = match target {
            Target::Live(server) => self.live_ids.get(server, dest).map(str::to_owned),
            Target::Shared(_) => None,
        };
        let (route, counted) = route_key(dest, editing.is_some());
        let (url, auth) = match (dest, &editing) {
            (Destination::Channel(id), None) => {
                (self.rest.url(&format!("channels/{id}/messages")), true)
            }
            (Destination::Channel(id), Some(m)) => {
                (self.rest.url(&format!("channels/{id}/messages/{m}")), true)
            }
            (Destination::Webhook, _) => match (&self.config.discord.webhook_url, &editing) {
                (Some(url), None) => (with_wait(url.expose()), false),
                (Some(url), Some(m)) => (webhook_message_url(url.expose(), m), false),
                (None, _) => return,
            },
        };
        let Some(outbox) = self.outbox(target) else {
            return;
        };
        let Some(message) = outbox.current() else {
            return;
        };
        // No pings whatever the text says, and no link previews: a player
        // must not make the bot post someone's image.
        let mut body = json!({
            "content": message.content,
            "allowed_mentions": { "parse": [] },
            "flags": SUPPRESS_EMBEDS,
        });
        // Our own embed: link previews stay off by having none in it, as
        // the flag would hide the embed too.
        if let Some(embed) = message.embed {
            body["embeds"] = json!([embed]);
            body["flags"] = 0.into();
        }
        match dest {
            // An edit takes neither a nonce nor a new username.
            _ if editing.is_some() => {}
            // Webhooks take no nonce; a channel message does, and with
            // enforce_nonce Discord returns the first message for a repeat.
            Destination::Channel(_) => {
                body["nonce"] = message.nonce.clone().into();
                body["enforce_nonce"] = true.into();
            }
            Destination::Webhook => {
                if let Some(name) = message.username {
                    body["username"] = name.into();
                }
            }
        }
        let now = Instant::now();
        self.limiter.sent(counted, now);
        let result = match editing {
            Some(_) => self.rest.patch(&url, &body, auth),
            None => self.rest.post(&url, &body, auth),
        };
        let now = Instant::now();
        let jitter = self.jitter.sample();
        if let (Target::Live(server), Ok(reply)) = (target, &result) {
            match (reply.status, &editing) {
                // Deleted in Discord (Unknown Message): post a new one now.
                // Deleted in Discord, or posted by another bot or webhook
                // than the one configured now: post a new one.
                (404 | 403, Some(_))
                    if matches!(reply.code(), Some(UNKNOWN_MESSAGE | NOT_AUTHOR)) =>
                {
                    log::info!(
                        "the status message of {server} cannot be edited ({}); posting a new one",
                        reply.message()
                    );
                    self.limiter.replied(&route, 404, &reply.headers, None, now);
                    self.live_ids.forget(server);
                    return;
                }
                (200..=299, None) => match message_id(&reply.body) {
                    Some(id) => self.live_ids.set(server, dest, &id),
                    None => log::warn!(
                        "Discord's reply for the status message of {server} has no message id; the next report is posted anew"
                    ),
                },
                _ => {}
            }
        }
        let Some(outbox) = outbox_of(&mut self.outboxes, &mut self.live, target) else {
            return;
        };
        match result {
            Ok(reply) => {
                self.limiter.replied(
                    &route,
                    reply.status,
                    &reply.headers,
                    reply.retry_after(),
                    now,
                );
                let done = handle(outbox, &reply, now, jitter, &mut self.halted);
                let pending = outbox.len();
                self.report(dest, pending, &reply, &done, now);
                self.acknowledge(&done);
            }
            Err(e) => {
                let wait = outbox.failed(now, jitter);
                let pending = outbox.len();
                let mut health = self.health.lock();
                health.counters.retries += 1;
                let d = health.destination(dest.to_string());
                d.pending = pending;
                d.failing_since.get_or_insert(now);
                d.last_error = Some(e.to_string());
                drop(health);
                if outbox.failures() == 1 {
                    log::warn!(
                        "posting to {dest} failed: {e}; retrying in {wait:?} (events are kept)"
                    );
                }
            }
        }
    }

    /// Tells /health and /metrics what Discord answered.
    fn report(
        &self,
        dest: &Destination,
        pending: usize,
        reply: &Reply,
        done: &[Position],
        now: Instant,
    ) {
        let mut health = self.health.lock();
        let c = &mut health.counters;
        match reply.status {
            200..=299 => {
                c.messages_sent += 1;
                c.events_delivered += done.len() as u64;
                c.coalesced += done.len().saturating_sub(1) as u64;
            }
            429 => c.rate_limited += 1,
            400 => c.rejected += 1,
            401 | 403 | 404 => {}
            _ => c.retries += 1,
        }
        if self.halted {
            health.discord.halted = Some(
                "Discord rejected the bot token (401); nothing is sent until discord.bot_token is fixed and the \
                 daemon restarted"
                    .to_owned(),
            );
        }
        let d = health.destination(dest.to_string());
        d.pending = pending;
        match reply.status {
            200..=299 => {
                d.failing_since = None;
                d.last_error = None;
            }
            // A 429 is the limiter's business, not a failure; a refused
            // message is skipped and the destination works on.
            429 => {}
            400 => d.last_error = Some(format!("a message was refused: {}", reply.message())),
            status => {
                d.failing_since.get_or_insert(now);
                d.last_error = Some(format!("HTTP {status} {}", reply.message()));
            }
        }
    }

    fn acknowledge(&self, done: &[Position]) {
        for p in done {
            if let Some(ack) = self.acks.get(p.source) {
                let _ = ack.send(p.seq);
            }
        }
    }
}

/// Acts on Discord's answer for the message in flight; returns the events
/// now delivered.
fn handle(
    outbox: &mut Outbox,
    reply: &Reply,
    now: Instant,
    jitter: f64,
    halted: &mut bool,
) -> Vec<Position> {
    let dest = outbox.destination.clone();
    let webhook = dest == Destination::Webhook;
    match reply.status {
        200..=299 => {
            if outbox.failures() > 0 {
                log::info!("posting to {dest} works again");
            }
            outbox.delivered()
        }
        429 => Vec::new(),
        401 if !webhook => {
            *halted = true;
            log::error!(
                "Discord rejected the bot token (401 Unauthorized); nothing more is sent. Check discord.bot_token \
                 (Developer Portal > Bot > Reset Token) and restart; events are kept and will be posted then"
            );
            Vec::new()
        }
        401 | 404 if webhook => {
            outbox.kill();
            log::error!(
                "the webhook was deleted or its URL is wrong ({}); nothing more is sent to it. Create a webhook and set \
                 discord.webhook_url, then restart; events are kept and will be posted then",
                reply.message()
            );
            Vec::new()
        }
        403 | 404 => {
            if outbox.failures() == 0 {
                let fix = if reply.status == 403 {
                    "give the bot View Channel and Send Messages in that channel"
                } else {
                    "check the channel ID in the config (Developer Mode, right-click the channel, Copy ID)"
                };
                log::error!(
                    "cannot post to {dest}: {} ({}); {fix}. Retrying every {} min; events are kept",
                    reply.message(),
                    reply.status,
                    HOLD.as_secs() / 60
                );
            }
            outbox.hold(now, HOLD);
            Vec::new()
        }
        400 => {
            // The message itself is refused and never will be accepted; keeping
            // it would block the channel forever.
            log::error!(
                "Discord refused a message for {dest} as invalid ({}); it is skipped",
                reply.body
            );
            outbox.reject()
        }
        status => {
            let wait = outbox.failed(now, jitter);
            if outbox.failures() == 1 {
                log::warn!(
                    "posting to {dest} failed: HTTP {status} {}; retrying in {wait:?} (events are kept)",
                    reply.message()
                );
            }
            Vec::new()
        }
    }
}

/// An outbox: a destination's, or a server's live status message.
#[derive(Debug, Clone)]
enum Target {
    Shared(Destination),
    Live(Arc<str>),
}

/// The outbox of `target`, borrowed apart from the rest of `Delivery`.
fn outbox_of<'a>(
    outboxes: &'a mut BTreeMap<Destination, Outbox>,
    live: &'a mut BTreeMap<Arc<str>, Outbox>,
    target: &Target,
) -> Option<&'a mut Outbox> {
    match target {
        Target::Shared(dest) => outboxes.get_mut(dest),
        Target::Live(server) => live.get_mut(server),
    }
}

/// The rate-limit route of a destination and whether it counts towards the
/// global limit.
/// Discord keeps separate buckets per method: edits have their own key.
fn route_key(dest: &Destination, edit: bool) -> (String, bool) {
    let (mut route, counted) = match dest {
        Destination::Channel(id) => (format!("channel:{id}"), true),
        Destination::Webhook => ("webhook".to_owned(), false),
    };
    if edit {
        route.push_str(":edit");
    }
    (route, counted)
}

fn with_wait(url: &str) -> String {
    if url.contains('?') {
        format!("{url}&wait=true")
    } else {
        format!("{url}?wait=true")
    }
}

/// A player name made acceptable as a webhook username: Discord refuses
/// names containing "discord" or "clyde", and takes 1 to 80 characters.
pub fn webhook_username(name: &str) -> Option<String> {
    let mut out = name.to_owned();
    // Removing one word can join the letters of another ("discclydeord"):
    // repeat until neither is left.
    while let Some((at, len)) = ["discord", "clyde"]
        .iter()
        .find_map(|w| out.to_ascii_lowercase().find(w).map(|at| (at, w.len())))
    {
        out.replace_range(at..at + len, "");
    }
    let out: String = out.trim().chars().take(80).collect();
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_usernames_are_made_acceptable() {
        assert_eq!(webhook_username("bardella").as_deref(), Some("bardella"));
        assert_eq!(webhook_username("DiscordFan").as_deref(), Some("Fan"));
        assert_eq!(webhook_username("xCLYDEx").as_deref(), Some("xx"));
        assert_eq!(webhook_username("discord"), None);
        assert_eq!(webhook_username("discclydeord"), None);
        assert_eq!(webhook_username("ddiscordiscordx").as_deref(), Some("x"));
        assert_eq!(
            webhook_username(&"a".repeat(100)).map(|s| s.len()),
            Some(80)
        );
    }

    #[test]
    fn wait_is_added_to_webhook_urls() {
        assert_eq!(
            with_wait("https://d/api/webhooks/1/t"),
            "https://d/api/webhooks/1/t?wait=true"
        );
        assert_eq!(
            with_wait("https://d/api/webhooks/1/t?thread_id=2"),
            "https://d/api/webhooks/1/t?thread_id=2&wait=true"
        );
    }
}
