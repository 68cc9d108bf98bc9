//! The body of a `tail/<server>` thread: follow one file, turn its lines
//! into events, and checkpoint what has been delivered.
//!
//! The thread waits on one thing at a time: a wake-up from the watcher (or
//! its poll timer), an acknowledgement from delivery, or shutdown. Events go
//! out on a bounded channel; when it is full the thread stops reading (the
//! file is the queue) but keeps taking acknowledgements. [`Tracker`] keeps
//! the order of lines and events so the checkpoint only ever moves past a
//! line whose events, and all earlier ones, are delivered.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, select};

use crate::checkpoint::{Checkpoint, Cursor, StateDir};
use crate::event::{Event, Kind, Position};
use crate::health::Health;
use crate::patterns::PatternSet;
use crate::tail::{Follower, Item, State};

/// Checkpoints are written at most this often (and at shutdown).
pub const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(1);

/// With inotify, a look at the file this often anyway, in case an event
/// was missed (a watch limit, a file system that drops some).
pub const SAFETY_CHECK: Duration = Duration::from_secs(5);

/// How long shutdown waits for delivery to acknowledge what was sent.
pub const ACK_GRACE: Duration = Duration::from_millis(1500);

/// Entries an emptied [`Tracker`] keeps room for; a burst grows it to one
/// per line read ahead of delivery.
const INFLIGHT_KEEP: usize = 64;

/// Order of lines and events not yet covered by the checkpoint.
#[derive(Debug, Default)]
pub struct Tracker {
    next_seq: u64,
    /// Oldest first. Lines without events are entries already acknowledged.
    inflight: VecDeque<Entry>,
    /// Everything up to here is delivered.
    committed: Option<Cursor>,
}

#[derive(Debug)]
struct Entry {
    seq: Option<u64>,
    cursor: Cursor,
    acked: bool,
}

impl Tracker {
    /// A line that produced no event.
    pub fn line(&mut self, cursor: Cursor) {
        match self.inflight.back_mut() {
            None => self.committed = Some(cursor),
            // Consecutive event-less lines need only their last position.
            Some(last) if last.seq.is_none() => last.cursor = cursor,
            Some(_) => self.inflight.push_back(Entry {
                seq: None,
                cursor,
                acked: true,
            }),
        }
    }

    /// An event for the line ending at `cursor`; returns its sequence number.
    pub fn event(&mut self, cursor: Cursor) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.inflight.push_back(Entry {
            seq: Some(seq),
            cursor,
            acked: false,
        });
        seq
    }

    /// Delivery confirmed event `seq`.
    pub fn ack(&mut self, seq: u64) {
        if let Some(e) = self.inflight.iter_mut().find(|e| e.seq == Some(seq)) {
            e.acked = true;
        }
        while self.inflight.front().is_some_and(|e| e.acked) {
            if let Some(e) = self.inflight.pop_front() {
                self.committed = Some(e.cursor);
            }
        }
        // All delivered: give back what a burst grew the queue to.
        if self.inflight.is_empty() {
            self.inflight.shrink_to(INFLIGHT_KEEP);
        }
    }

    /// Events sent and not yet acknowledged.
    pub fn pending(&self) -> usize {
        self.inflight.iter().filter(|e| !e.acked).count()
    }

    pub fn committed(&self) -> Option<Cursor> {
        self.committed
    }
}

/// What a follower thread needs, handed over at spawn.
pub struct FollowJob {
    pub server_id: Arc<str>,
    pub server_name: String,
    pub set: Arc<PatternSet>,
    /// This follower's index, used in [`Position::source`].
    pub source: usize,
    pub path: PathBuf,
    pub follower: Follower,
    pub state: Arc<StateDir>,
    pub events: Sender<Event>,
    pub acks: Receiver<u64>,
    /// Wake-ups from the watcher; `never()` when polling.
    pub wake: Receiver<()>,
    /// How long to sleep when nothing wakes the thread: the safety check
    /// when watched, the poll interval otherwise.
    pub idle: Duration,
    /// The poll interval, should the watcher ever stop.
    pub poll_interval: Duration,
    /// For the skipped-lines notice.
    pub max_resume_age: Duration,
    pub shutdown: Receiver<()>,
    /// The last checkpoint write failed (logged once until it works again).
    pub save_failing: bool,
    pub health: Arc<Health>,
    /// This follower's slot in `health`.
    pub slot: usize,
}

/// Why a line gave no event although it should have.
enum Failed {
    /// Its JSON is malformed (a mod's line); the reason.
    Malformed(String),
    /// Handling it panicked: a bug.
    Panic(String),
}

/// Why the loop stopped early.
enum Stop {
    Shutdown,
    /// Delivery is gone; nothing more can be sent.
    Closed,
}

impl FollowJob {
    pub fn run(mut self) -> Result<(), String> {
        let mut tracker = Tracker::default();
        let mut saved: Option<Cursor> = None;
        let mut last_save = Instant::now() - CHECKPOINT_INTERVAL;
        let mut last_state = None;
        let mut last_error: Option<String> = None;
        let mut scratch = self.set.scratch();
        let mut malformed = 0u64;
        let stop = 'follow: loop {
            match self.follower.poll() {
                Ok(items) => {
                    last_error = None;
                    for item in items {
                        if let Err(stop) =
                            self.handle(item, &mut tracker, &mut scratch, &mut malformed)
                        {
                            break 'follow stop;
                        }
                    }
                }
                Err(e) => {
                    let msg = e.to_string();
                    if last_error.as_deref() != Some(&msg) {
                        log::warn!(
                            "cannot read {}: {msg} (will keep trying)",
                            self.path.display()
                        );
                    }
                    last_error = Some(msg);
                }
            }
            self.log_state(&mut last_state);
            self.report(&tracker, last_error.as_deref());
            if last_save.elapsed() >= CHECKPOINT_INTERVAL && tracker.committed() != saved {
                // Failed or not, the next try is a full interval away: a
                // full disk must not turn into a busy loop.
                self.save(&tracker, &mut saved);
                last_save = Instant::now();
            }
            // Read on at once while a backlog remains (unless reading just
            // failed); otherwise wait.
            let mut timeout = if self.follower.caught_up() || last_error.is_some() {
                self.idle
            } else {
                Duration::ZERO
            };
            if tracker.committed() != saved {
                timeout = timeout.min(CHECKPOINT_INTERVAL.saturating_sub(last_save.elapsed()));
            }
            select! {
                recv(self.shutdown) -> _ => break Stop::Shutdown,
                recv(self.wake) -> woke => if woke.is_err() {
                    // The watcher stopped: poll from now on.
                    self.wake = crossbeam_channel::never();
                    self.idle = self.poll_interval;
                },
                recv(self.acks) -> seq => if let Ok(seq) = seq { tracker.ack(seq) },
                default(timeout) => {}
            }
        };
        if matches!(stop, Stop::Shutdown) {
            // Give delivery a moment to confirm what it already has, so a
            // clean stop neither loses nor repeats anything.
            let deadline = Instant::now() + ACK_GRACE;
            while tracker.pending() > 0 {
                match self.acks.recv_deadline(deadline) {
                    Ok(seq) => tracker.ack(seq),
                    Err(_) => break,
                }
            }
        }
        self.save(&tracker, &mut saved);
        Ok(())
    }

    /// Classifies one item and sends its event, waiting for room.
    /// `malformed` counts this file's lines with bad JSON: the first is a
    /// warning, later ones are debug messages, so a broken mod cannot flood
    /// the log.
    fn handle(
        &mut self,
        item: Item,
        tracker: &mut Tracker,
        scratch: &mut crate::patterns::Scratch,
        malformed: &mut u64,
    ) -> Result<(), Stop> {
        let event = match item {
            Item::Line(line) => match self.line_event(&line.text, scratch) {
                Err(Failed::Panic(why)) => {
                    log::error!(
                        "a bug: handling a line of {} panicked ({why}); the line is skipped so it cannot stop the daemon \
                         again. Please report it with the line ending at byte {}",
                        self.path.display(),
                        line.cursor.offset
                    );
                    tracker.line(line.cursor);
                    return Ok(());
                }
                Err(Failed::Malformed(bad)) => {
                    *malformed += 1;
                    let path = self.path.display();
                    let offset = line.cursor.offset;
                    if *malformed == 1 {
                        log::warn!(
                            "line skipped, its JSON is malformed (more such lines of this file are logged at debug level): {path} (the line ending at byte {offset}): {bad}"
                        );
                    } else {
                        log::debug!(
                            "line skipped, its JSON is malformed: {path} (the line ending at byte {offset}): {bad}"
                        );
                    }
                    tracker.line(line.cursor);
                    return Ok(());
                }
                Ok(Some(mut event)) => {
                    event.position = Position {
                        source: self.source,
                        seq: tracker.event(line.cursor),
                    };
                    event.id = line.cursor.stable_id(&line.text);
                    event
                }
                Ok(None) => {
                    tracker.line(line.cursor);
                    return Ok(());
                }
            },
            Item::Skipped { lines, cursor } => {
                let seq = tracker.event(cursor);
                let mut event = self.skipped_notice(lines, seq);
                event.id = cursor.stable_id("");
                event
            }
        };
        self.health.count_event(&event);
        // Backpressure: wait for room, taking acknowledgements meanwhile.
        loop {
            select! {
                send(self.events, event.clone()) -> sent => return sent.map_err(|_| Stop::Closed),
                recv(self.acks) -> seq => if let Ok(seq) = seq { tracker.ack(seq) },
                recv(self.shutdown) -> _ => return Err(Stop::Shutdown),
            }
        }
    }

    /// The event of one line, if any, with its position still to be set.
    /// A panic in matching or rendering (a bug) is caught here, so it costs
    /// this line and nothing else.
    fn line_event(
        &self,
        text: &str,
        scratch: &mut crate::patterns::Scratch,
    ) -> Result<Option<Event>, Failed> {
        let unset = Position {
            source: self.source,
            seq: 0,
        };
        crate::fault::contain(|| {
            crate::fault::inject(text);
            match self.set.classify(text, scratch) {
                Ok(Some(m)) => Ok(Some(m.to_event(&self.server_id, &self.server_name, unset))),
                Ok(None) => Ok(None),
                Err(bad) => Err(Failed::Malformed(bad.to_string())),
            }
        })
        .unwrap_or_else(|why| Err(Failed::Panic(why)))
    }

    fn skipped_notice(&self, lines: u64, seq: u64) -> Event {
        let name = self.path.file_name().map_or_else(
            || self.path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let content = format!(
            "⏭️ factorio-isr skipped {lines} lines of {} written while it was stopped for longer than max_resume_age ({}s)",
            crate::discord::format::escape_markdown(&name),
            self.max_resume_age.as_secs()
        );
        log::warn!(
            "skipped {lines} lines of {}: the checkpoint was older than max_resume_age",
            self.path.display()
        );
        Event {
            server: self.server_id.clone(),
            kind: Kind::Notice,
            pattern: Arc::from("skipped-lines"),
            route: None,
            fields: vec![(Arc::from("lines"), lines.to_string())],
            content,
            embed: None,
            position: Position {
                source: self.source,
                seq,
            },
            id: 0,
        }
    }

    /// Writes the checkpoint if it moved. A failure is logged when it
    /// starts, not on every try.
    fn save(&mut self, tracker: &Tracker, saved: &mut Option<Cursor>) {
        let Some(cursor) = tracker.committed() else {
            return;
        };
        if Some(cursor) == *saved {
            return;
        }
        match self
            .state
            .save(&self.server_id, &Checkpoint::new(&self.path, cursor))
        {
            Ok(()) => {
                if std::mem::take(&mut self.save_failing) {
                    log::info!("checkpoints for {} are written again", self.path.display());
                    self.health
                        .follower(self.slot, |f| f.checkpoint_error = None);
                }
                *saved = Some(cursor);
            }
            Err(e) => {
                let why = e.to_string();
                self.health
                    .follower(self.slot, |f| f.checkpoint_error = Some(why));
                if !std::mem::replace(&mut self.save_failing, true) {
                    log::error!(
                        "cannot write the checkpoint for {} in {}: {e} (delivery goes on; after a restart, lines since \
                         the last checkpoint will be posted again)",
                        self.path.display(),
                        self.state.path().display()
                    );
                }
            }
        }
    }

    /// Tells /health whether the file is there and how far behind
    /// delivery is: bytes past the checkpointable position.
    fn report(&self, tracker: &Tracker, read_error: Option<&str>) {
        let present = self.follower.state() == State::Following;
        let lag = self.follower.file_len().map_or(0, |(id, len)| {
            let done = match (tracker.committed(), self.follower.cursor()) {
                (Some(c), _) if c.id == id => c.offset,
                (_, Some(c)) => c.offset,
                _ => 0,
            };
            len.saturating_sub(done)
        });
        self.health.follower(self.slot, |f| {
            f.present = present;
            f.lag_bytes = lag;
            if f.read_error.as_deref() != read_error {
                f.read_error = read_error.map(str::to_owned);
            }
        });
    }

    fn log_state(&self, last: &mut Option<State>) {
        let state = self.follower.state();
        if *last != Some(state) {
            match state {
                State::Waiting => log::info!("waiting for {} to appear", self.path.display()),
                State::Following => log::info!("following {}", self.path.display()),
            }
            *last = Some(state);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::{FileId, Fingerprint};

    fn at(offset: u64) -> Cursor {
        Cursor {
            id: FileId { dev: 1, ino: 1 },
            fingerprint: Fingerprint { len: 0, hash: 0 },
            offset,
        }
    }

    #[test]
    fn the_checkpoint_waits_for_every_earlier_event() {
        let mut t = Tracker::default();
        t.line(at(10));
        assert_eq!(t.committed(), Some(at(10)));
        let a = t.event(at(20));
        t.line(at(30));
        t.line(at(35));
        let b = t.event(at(40));
        let c = t.event(at(50));
        assert_eq!(t.pending(), 3);
        t.ack(c);
        assert_eq!(
            t.committed(),
            Some(at(10)),
            "c is delivered but a and b are not"
        );
        t.ack(a);
        assert_eq!(
            t.committed(),
            Some(at(35)),
            "past a and the event-less lines after it"
        );
        t.ack(b);
        assert_eq!(t.committed(), Some(at(50)));
        assert_eq!(t.pending(), 0);
        t.ack(99);
        assert_eq!(t.committed(), Some(at(50)));
    }

    /// Once a burst is delivered the tracker gives back its room.
    #[test]
    fn an_emptied_tracker_gives_back_its_burst_capacity() {
        let mut t = Tracker::default();
        let seqs: Vec<u64> = (0..5000).map(|i| t.event(at(i))).collect();
        assert!(t.inflight.capacity() >= 5000);
        for seq in seqs {
            t.ack(seq);
        }
        assert_eq!(t.committed(), Some(at(4999)));
        assert!(
            t.inflight.capacity() <= INFLIGHT_KEEP,
            "{}",
            t.inflight.capacity()
        );
    }
}
