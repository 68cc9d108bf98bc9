//! One destination's queue: events waiting, coalesced into as few messages
//! as Discord's limits allow, and the retry state of the message in flight.
//!
//! Events are taken in order and joined with newlines into one message of at
//! most 2000 characters; a single event longer than that becomes several
//! messages, split at line or word boundaries. Once formed, a batch is never
//! re-formed: a retry sends exactly the same text with the same nonce, so
//! Discord can drop the copy if the first attempt did arrive. The outbox
//! holds no sockets and no clock: the delivery loop passes `now` in.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::format::{MAX_CONTENT, split_message};
use crate::event::{Event, Position};
use crate::route::Destination;

/// Backoff after failures: 1 s doubling to at most 30 s, with jitter.
const BACKOFF_BASE: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// Slots a drained queue keeps. A burst grows the queue to thousands of
/// events (hundreds of KiB); without giving that back, the daemon would stay
/// at its burst size for the rest of its life.
const QUEUE_KEEP: usize = 64;

/// A message being delivered: its events and its text, in parts.
#[derive(Debug)]
struct Batch {
    positions: Vec<Position>,
    parts: Vec<String>,
    next: usize,
    /// Stable across restarts: derived from the events' ids.
    key: u64,
    username: Option<String>,
    /// Sent with the first part.
    embed: Option<serde_json::Value>,
}

/// What to send next.
#[derive(Debug, PartialEq, Eq)]
pub struct Message<'a> {
    pub content: &'a str,
    pub embed: Option<&'a serde_json::Value>,
    /// At most 25 characters, as Discord requires.
    pub nonce: String,
    pub username: Option<&'a str>,
}

#[derive(Debug)]
pub struct Outbox {
    pub destination: Destination,
    queue: VecDeque<(Event, Option<String>)>,
    batch: Option<Batch>,
    /// Nothing is sent before this (backoff, or a long hold after 403/404).
    not_before: Option<Instant>,
    failures: u32,
    /// Discord refused this destination for good (a deleted webhook).
    dead: bool,
}

impl Outbox {
    pub fn new(destination: Destination) -> Self {
        Self {
            destination,
            queue: VecDeque::new(),
            batch: None,
            not_before: None,
            failures: 0,
            dead: false,
        }
    }

    /// Queues `event`, posted under `username` (webhook mode) if given.
    pub fn push(&mut self, event: Event, username: Option<String>) {
        self.queue.push_back((event, username));
    }

    /// Queues `event` in place of every event waiting (the message in
    /// flight stays): for a status message, where only the newest report
    /// is worth sending.
    pub fn replace(&mut self, event: Event, username: Option<String>) {
        self.queue.clear();
        self.queue.push_back((event, username));
    }

    /// Events waiting, including those of the message in flight.
    pub fn len(&self) -> usize {
        self.queue.len() + self.batch.as_ref().map_or(0, |b| b.positions.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn is_dead(&self) -> bool {
        self.dead
    }

    /// Consecutive failures of the message in flight.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// When this outbox next wants to send, if it has anything to send.
    pub fn due(&self, now: Instant) -> Option<Instant> {
        if self.dead || self.is_empty() {
            return None;
        }
        Some(self.not_before.map_or(now, |t| t.max(now)))
    }

    /// The next message to send, forming a batch if none is in flight.
    pub fn current(&mut self) -> Option<Message<'_>> {
        if self.batch.is_none() {
            self.batch = self.form();
        }
        let b = self.batch.as_ref()?;
        let content = b.parts.get(b.next)?;
        Some(Message {
            content,
            embed: b.embed.as_ref().filter(|_| b.next == 0),
            nonce: format!(
                "{:016x}",
                b.key ^ (b.next as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
            ),
            username: b.username.as_deref(),
        })
    }

    fn form(&mut self) -> Option<Batch> {
        let (first, username) = self.queue.pop_front()?;
        let mut key = mix(0xcbf2_9ce4_8422_2325, first.id);
        let mut positions = vec![first.position];
        let mut content = first.content;
        let embed = first.embed;
        let mut chars = content.chars().count();
        if chars <= MAX_CONTENT && embed.is_none() {
            while let Some((next, name)) = self.queue.front() {
                let more = next.content.chars().count();
                if *name != username || chars + 1 + more > MAX_CONTENT || next.embed.is_some() {
                    break;
                }
                let Some((next, _)) = self.queue.pop_front() else {
                    break;
                };
                content.push('\n');
                content.push_str(&next.content);
                chars += 1 + more;
                key = mix(key, next.id);
                positions.push(next.position);
            }
        }
        if self.queue.is_empty() {
            self.queue.shrink_to(QUEUE_KEEP);
        }
        let parts = split_message(&content, MAX_CONTENT);
        Some(Batch {
            positions,
            parts,
            next: 0,
            key,
            username,
            embed,
        })
    }

    /// The message just sent was accepted. Returns the events now fully
    /// delivered (all parts of their message sent).
    pub fn delivered(&mut self) -> Vec<Position> {
        self.failures = 0;
        self.not_before = None;
        let Some(b) = self.batch.as_mut() else {
            return Vec::new();
        };
        b.next += 1;
        if b.next < b.parts.len() {
            return Vec::new();
        }
        self.batch.take().map(|b| b.positions).unwrap_or_default()
    }

    /// Sending failed (network, timeout, 5xx): wait before trying the same
    /// message again. `jitter` is a random number in [0, 1).
    pub fn failed(&mut self, now: Instant, jitter: f64) -> Duration {
        self.failures += 1;
        let wait = crate::backoff::delay(self.failures, BACKOFF_BASE, BACKOFF_MAX, jitter);
        self.not_before = Some(now + wait);
        wait
    }

    /// Discord refused the destination for now (403, 404): keep the events
    /// and try again after `wait`.
    pub fn hold(&mut self, now: Instant, wait: Duration) {
        self.failures += 1;
        self.not_before = Some(now + wait);
    }

    /// Discord refused the destination for good: keep the events (they are
    /// not acknowledged, so a restart with a fixed config posts them) and
    /// send nothing more.
    pub fn kill(&mut self) {
        self.dead = true;
    }

    /// Discord refused this message itself (400): it can never succeed, so
    /// it is given up and its events returned as done.
    pub fn reject(&mut self) -> Vec<Position> {
        self.failures = 0;
        self.batch.take().map(|b| b.positions).unwrap_or_default()
    }
}

fn mix(hash: u64, value: u64) -> u64 {
    value.to_le_bytes().iter().fold(hash, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Snowflake;
    use crate::event::Kind;
    use std::sync::Arc;

    fn event(seq: u64, content: &str) -> Event {
        Event {
            server: Arc::from("s"),
            kind: Kind::Chat,
            pattern: Arc::from("chat"),
            route: None,
            fields: Vec::new(),
            content: content.to_owned(),
            embed: None,
            position: Position { source: 0, seq },
            id: 1000 + seq,
        }
    }

    fn outbox() -> Outbox {
        Outbox::new(Destination::Channel(Snowflake(1)))
    }

    #[test]
    fn coalesces_in_order_up_to_the_limit() {
        let mut o = outbox();
        for i in 0..30 {
            o.push(event(i, &format!("{i:03} {}", "x".repeat(96))), None);
        }
        let first = o
            .current()
            .map(|m| m.content.to_owned())
            .expect("a message");
        assert!(first.starts_with("000 ") && first.chars().count() <= MAX_CONTENT);
        assert_eq!(
            first.lines().count(),
            19,
            "19 lines of 100 chars and 18 newlines fit in 2000"
        );
        let done = o.delivered();
        assert_eq!(
            done.iter().map(|p| p.seq).collect::<Vec<_>>(),
            (0..19).collect::<Vec<_>>()
        );
        let second = o
            .current()
            .map(|m| m.content.to_owned())
            .expect("a message");
        assert!(second.starts_with("019 "));
        assert_eq!(o.delivered().len(), 11);
        assert!(o.is_empty() && o.current().is_none());
    }

    /// A status message keeps only the newest report waiting; the one in
    /// flight is still sent as formed.
    #[test]
    fn replace_keeps_the_newest_waiting_event() {
        let mut o = outbox();
        o.replace(event(0, "old"), None);
        assert_eq!(
            o.current().map(|m| m.content.to_owned()).as_deref(),
            Some("old")
        );
        o.replace(event(1, "newer"), None);
        o.replace(event(2, "newest"), None);
        assert_eq!(o.len(), 2, "the one in flight and the newest");
        assert_eq!(
            o.current().map(|m| m.content.to_owned()).as_deref(),
            Some("old")
        );
        o.delivered();
        assert_eq!(
            o.current().map(|m| m.content.to_owned()).as_deref(),
            Some("newest")
        );
    }

    /// A burst's backlog is given back once it has been sent: a daemon
    /// does not stay at its burst size.
    #[test]
    fn a_drained_queue_gives_back_its_burst_capacity() {
        let mut o = outbox();
        for i in 0..5000 {
            o.push(event(i, "a burst line"), None);
        }
        assert!(o.queue.capacity() >= 5000);
        let mut done = 0;
        while o.current().is_some() {
            done += o.delivered().len();
        }
        assert_eq!(done, 5000);
        assert!(o.queue.capacity() <= QUEUE_KEEP, "{}", o.queue.capacity());
    }

    /// An event with an embed (a stats report) travels alone: chat before
    /// and after it are not folded into its message.
    #[test]
    fn an_embed_gets_a_message_of_its_own() {
        let mut o = outbox();
        o.push(event(0, "before"), None);
        let mut stats = event(1, "stats");
        stats.embed = Some(serde_json::json!({"title": "📊"}));
        o.push(stats, None);
        o.push(event(2, "after"), None);
        let sent: Vec<(String, bool)> = (0..3)
            .map(|_| {
                let m = o.current().expect("a message");
                let got = (m.content.to_owned(), m.embed.is_some());
                o.delivered();
                got
            })
            .collect();
        assert_eq!(
            sent,
            vec![
                ("before".to_owned(), false),
                ("stats".to_owned(), true),
                ("after".to_owned(), false)
            ]
        );
    }

    #[test]
    fn a_long_event_is_split_and_acknowledged_after_its_last_part() {
        let mut o = outbox();
        o.push(event(0, &"word ".repeat(900)), None);
        o.push(event(1, "after"), None);
        let n1 = o.current().map(|m| m.nonce).expect("part 1");
        assert!(o.delivered().is_empty());
        let n2 = o.current().map(|m| m.nonce).expect("part 2");
        assert!(o.delivered().is_empty());
        let n3 = o.current().map(|m| m.nonce).expect("part 3");
        assert_eq!(o.delivered().len(), 1);
        assert!(n1 != n2 && n2 != n3 && n1.len() <= 25);
        assert_eq!(
            o.current().map(|m| m.content.to_owned()).as_deref(),
            Some("after")
        );
    }

    #[test]
    fn retries_resend_the_same_message_with_the_same_nonce_after_a_backoff() {
        let now = Instant::now();
        let mut o = outbox();
        o.push(event(0, "a"), None);
        o.push(event(1, "b"), None);
        let before = o
            .current()
            .map(|m| (m.content.to_owned(), m.nonce))
            .expect("message");
        let wait = o.failed(now, 0.5);
        assert_eq!(wait, Duration::from_millis(750));
        assert_eq!(o.due(now), Some(now + wait));
        o.push(event(2, "c"), None);
        let after = o
            .current()
            .map(|m| (m.content.to_owned(), m.nonce))
            .expect("message");
        assert_eq!(before, after, "a batch is never re-formed");
        for _ in 0..10 {
            o.failed(now, 0.99);
        }
        assert!(o.due(now).is_some_and(|t| t <= now + BACKOFF_MAX));
    }

    #[test]
    fn the_nonce_depends_on_the_events_not_on_the_process() {
        let mut a = outbox();
        let mut b = outbox();
        for o in [&mut a, &mut b] {
            o.push(event(7, "x"), None);
        }
        assert_eq!(a.current().map(|m| m.nonce), b.current().map(|m| m.nonce));
        let mut c = outbox();
        c.push(event(8, "x"), None);
        assert_ne!(a.current().map(|m| m.nonce), c.current().map(|m| m.nonce));
    }

    #[test]
    fn usernames_split_batches_and_dead_outboxes_are_never_due() {
        let now = Instant::now();
        let mut o = outbox();
        o.push(event(0, "a"), Some("alice".into()));
        o.push(event(1, "b"), Some("bob".into()));
        assert_eq!(
            o.current().map(|m| m.username.map(str::to_owned)),
            Some(Some("alice".into()))
        );
        assert_eq!(o.delivered().len(), 1);
        o.kill();
        assert_eq!(o.due(now), None);
        assert_eq!(o.len(), 1, "a dead outbox keeps its events");
    }
}
