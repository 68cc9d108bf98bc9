//! What every thread reports about itself, and the verdict `/health`,
//! `/ready` and `/metrics` give from it.
//!
//! Threads write into one [`Health`] behind a mutex: a follower its file's
//! state and lag, delivery its outboxes and Discord's answers, the RCON
//! thread whether it is connected, the monitor the game's UPS. Writes are
//! rare (per event, per request, per poll), so one lock costs nothing
//! measurable and keeps the verdict consistent. The HTTP thread reads a
//! snapshot and renders it; nothing here knows about HTTP.
//!
//! The verdict: **unhealthy** (503) when the daemon cannot do its job and
//! waiting will not fix it: Discord rejected the token, every destination
//! with something to post has failed for [`FAILING_AFTER`], or checkpoints
//! cannot be written. **Degraded** (still 200) when part of it is waiting on
//! something outside: a log file not there yet, an RCON server down, one
//! destination failing. Everything else is **healthy**.
//!
//! Nothing secret is ever stored here: destinations are named by channel ID
//! or as "webhook", and errors are the ones already fit for the log.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Value, json};

use crate::event::Kind;

/// How long every destination must fail before the daemon calls itself
/// unhealthy: a short Discord blip is not a reason for a restart.
pub const FAILING_AFTER: Duration = Duration::from_secs(120);

/// Where the daemon is in its life; `/ready` answers 200 only in `Running`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Starting,
    Running,
    Reloading,
    Stopping,
}

impl Phase {
    fn name(self) -> &'static str {
        match self {
            Phase::Starting => "starting",
            Phase::Running => "running",
            Phase::Reloading => "reloading",
            Phase::Stopping => "stopping",
        }
    }
}

/// The overall verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    Healthy,
    Degraded,
    Unhealthy,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Healthy => "healthy",
            Status::Degraded => "degraded",
            Status::Unhealthy => "unhealthy",
        }
    }
}

/// One followed file.
#[derive(Debug, Clone)]
pub struct Follower {
    pub server: Arc<str>,
    pub path: PathBuf,
    /// The file exists and is open.
    pub present: bool,
    /// Bytes in the file not yet delivered (or not yet read).
    pub lag_bytes: u64,
    /// Reading failed; cleared by the next good read.
    pub read_error: Option<String>,
    /// Writing its checkpoint failed; cleared by the next good write.
    pub checkpoint_error: Option<String>,
}

/// One server's RCON connection and what polling it learned.
#[derive(Debug, Clone)]
pub struct Rcon {
    pub server: Arc<str>,
    /// `None` until the first connection attempt ends.
    pub up: Option<bool>,
    pub last_error: Option<String>,
    /// Commands answered, and their total time, for the latency metric.
    pub commands: u64,
    pub command_seconds: f64,
    /// The UPS estimate (an EMA over the monitor's window).
    pub ups: Option<f64>,
    /// UPS over the last window alone (its mean: a simple moving average).
    pub ups_window: Option<f64>,
    /// Evolution per surface (1.1 has one, reported as `nauvis`).
    pub evolution: Vec<(String, f64)>,
    pub players_online: Option<u64>,
    /// When the monitor last got a map age from the game.
    pub last_sample: Option<Instant>,
    /// The game's `/version`, asked once per connection.
    pub version: Option<String>,
    /// The technology being researched and its progress (0 to 1); only
    /// known with `allow_lua`, as no console command reports it.
    pub research: Option<(String, f64)>,
}

/// One Discord destination as delivery sees it.
#[derive(Debug, Clone, Default)]
pub struct Destination {
    /// Events waiting.
    pub pending: usize,
    /// Since when every try failed; `None` while it works.
    pub failing_since: Option<Instant>,
    pub last_error: Option<String>,
}

/// The Discord side: delivery and, in bot mode, the gateway session.
#[derive(Debug, Clone, Default)]
pub struct Discord {
    /// "bot", "webhook" or "dry-run".
    pub mode: &'static str,
    /// Discord rejected the token: nothing is sent until a restart.
    pub halted: Option<String>,
    /// By display name ("channel:123", "webhook").
    pub destinations: BTreeMap<String, Destination>,
    /// The gateway session, when there is one: "connecting", "ready",
    /// "resuming", or the reason it stopped.
    pub gateway: Option<String>,
    /// Since when the gateway has been ready, or not ready.
    pub gateway_since: Option<Instant>,
    /// Set when the gateway cannot go on (a fatal close code).
    pub gateway_fatal: Option<String>,
}

/// A gateway not ready for this long makes the daemon degraded: slash
/// commands and the relay are down, though events still flow.
pub const GATEWAY_GRACE: Duration = Duration::from_secs(60);

/// Counters for `/metrics`; they only grow, across reloads too.
#[derive(Debug, Clone, Default)]
pub struct Counters {
    pub events: BTreeMap<(Arc<str>, Kind), u64>,
    pub messages_sent: u64,
    pub events_delivered: u64,
    /// Events that shared a message with an earlier one.
    pub coalesced: u64,
    pub rate_limited: u64,
    pub retries: u64,
    pub rejected: u64,
    pub reloads: u64,
    pub reload_failures: u64,
}

/// Everything reported, as one value.
#[derive(Debug, Clone)]
pub struct State {
    pub phase: Phase,
    pub discord: Discord,
    pub followers: Vec<Follower>,
    pub rcon: Vec<Rcon>,
    pub state_dir: PathBuf,
    /// The state dir could not be used at start.
    pub state_dir_error: Option<String>,
    pub counters: Counters,
}

impl State {
    /// The entry of a Discord destination, made on first use.
    pub fn destination(&mut self, name: String) -> &mut Destination {
        self.discord.destinations.entry(name).or_default()
    }
}

/// The shared report; cheap to clone an `Arc` of into every thread.
#[derive(Debug)]
pub struct Health {
    started: Instant,
    started_wall: SystemTime,
    state: Mutex<State>,
}

impl Default for Health {
    fn default() -> Self {
        Self::new()
    }
}

impl Health {
    pub fn new() -> Self {
        Self {
            started: Instant::now(),
            started_wall: SystemTime::now(),
            state: Mutex::new(State {
                phase: Phase::Starting,
                discord: Discord::default(),
                followers: Vec::new(),
                rcon: Vec::new(),
                state_dir: PathBuf::new(),
                state_dir_error: None,
                counters: Counters::default(),
            }),
        }
    }

    /// The state, for a reporting thread to change. A thread that panicked
    /// while holding the lock left a state that is still worth showing.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn set_phase(&self, phase: Phase) {
        self.lock().phase = phase;
    }

    /// Forgets the components of a previous run (before a reload starts
    /// new threads); counters stay.
    pub fn reset_components(&self, mode: &'static str, state_dir: PathBuf) {
        let mut s = self.lock();
        s.discord = Discord {
            mode,
            ..Discord::default()
        };
        s.followers.clear();
        s.rcon.clear();
        s.state_dir = state_dir;
    }

    /// Registers a followed file; the index is the follower's handle.
    pub fn add_follower(&self, server: Arc<str>, path: PathBuf) -> usize {
        let mut s = self.lock();
        s.followers.push(Follower {
            server,
            path,
            present: false,
            lag_bytes: 0,
            read_error: None,
            checkpoint_error: None,
        });
        s.followers.len() - 1
    }

    /// Registers a server's RCON connection; the index is its handle.
    pub fn add_rcon(&self, server: Arc<str>) -> usize {
        let mut s = self.lock();
        s.rcon.push(Rcon {
            server,
            up: None,
            last_error: None,
            commands: 0,
            command_seconds: 0.0,
            ups: None,
            ups_window: None,
            evolution: Vec::new(),
            players_online: None,
            last_sample: None,
            version: None,
            research: None,
        });
        s.rcon.len() - 1
    }

    /// Changes follower `index`, if it is still registered.
    pub fn follower(&self, index: usize, change: impl FnOnce(&mut Follower)) {
        if let Some(f) = self.lock().followers.get_mut(index) {
            change(f);
        }
    }

    /// Changes RCON slot `index`, if it is still registered.
    pub fn rcon(&self, index: usize, change: impl FnOnce(&mut Rcon)) {
        if let Some(r) = self.lock().rcon.get_mut(index) {
            change(r);
        }
    }

    /// Counts an event for `factorio_isr_events_total`.
    pub fn count_event(&self, event: &crate::event::Event) {
        *self
            .lock()
            .counters
            .events
            .entry((event.server.clone(), event.kind))
            .or_default() += 1;
    }

    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// Unix time the process started, for `process_start_time_seconds`.
    pub fn started_unix(&self) -> f64 {
        self.started_wall
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64())
    }

    /// The verdict and the reasons for it, worst first.
    pub fn verdict(&self) -> (Status, Vec<String>) {
        verdict(&self.lock(), Instant::now())
    }

    /// Whether `/ready` says yes: running, and not unhealthy.
    pub fn ready(&self) -> bool {
        let s = self.lock();
        s.phase == Phase::Running && verdict(&s, Instant::now()).0 != Status::Unhealthy
    }

    /// The `/health` body.
    pub fn report(&self) -> (Status, Value) {
        let s = self.lock().clone();
        let now = Instant::now();
        let (status, reasons) = verdict(&s, now);
        let followers: Vec<Value> = s
            .followers
            .iter()
            .map(|f| {
                json!({
                    "server": &*f.server,
                    "path": f.path.display().to_string(),
                    "status": follower_status(f),
                    "lag_bytes": f.lag_bytes,
                    "last_error": f.read_error.as_ref().or(f.checkpoint_error.as_ref()),
                })
            })
            .collect();
        let rcon: Vec<Value> = s
            .rcon
            .iter()
            .map(|r| {
                json!({
                    "server": &*r.server,
                    "status": match r.up { None => "connecting", Some(true) => "up", Some(false) => "down" },
                    "last_error": r.last_error,
                    "ups": r.ups,
                    "players_online": r.players_online,
                })
            })
            .collect();
        let destinations: Vec<Value> = s
            .discord
            .destinations
            .iter()
            .map(|(name, d)| {
                json!({
                    "destination": name,
                    "status": if d.failing_since.is_some() { "failing" } else { "ok" },
                    "pending": d.pending,
                    "last_error": d.last_error,
                })
            })
            .collect();
        let checkpoint_error = s
            .state_dir_error
            .clone()
            .or_else(|| s.followers.iter().find_map(|f| f.checkpoint_error.clone()));
        let body = json!({
            "status": status.name(),
            "service": "factorio-isr",
            "version": env!("CARGO_PKG_VERSION"),
            "phase": s.phase.name(),
            "uptime_seconds": self.uptime().as_secs(),
            "reasons": reasons,
            "discord": {
                "mode": s.discord.mode,
                "status": if s.discord.halted.is_some() { "halted" } else { "ok" },
                "last_error": s.discord.halted,
                "gateway": s.discord.gateway_fatal.as_ref().or(s.discord.gateway.as_ref()),
                "outbox_depth": s.discord.destinations.values().map(|d| d.pending).sum::<usize>(),
                "destinations": destinations,
            },
            "followers": followers,
            "rcon": rcon,
            "state_dir": {
                "path": s.state_dir.display().to_string(),
                "status": if checkpoint_error.is_some() { "failing" } else { "ok" },
                "last_error": checkpoint_error,
            },
        });
        (status, body)
    }
}

fn follower_status(f: &Follower) -> &'static str {
    if f.read_error.is_some() {
        "error"
    } else if f.present {
        "following"
    } else {
        "waiting"
    }
}

fn verdict(s: &State, now: Instant) -> (Status, Vec<String>) {
    let mut found: Vec<(Status, String)> = Vec::new();
    if let Some(why) = &s.discord.halted {
        found.push((Status::Unhealthy, why.clone()));
    }
    if let Some(why) = &s.discord.gateway_fatal {
        found.push((Status::Unhealthy, why.clone()));
    } else if let (Some(state), Some(since)) = (&s.discord.gateway, s.discord.gateway_since) {
        let down = now.saturating_duration_since(since);
        if state != "ready" && down >= GATEWAY_GRACE {
            found.push((
                Status::Degraded,
                format!(
                    "the Discord gateway has been {state} for {}s: slash commands and the chat relay wait",
                    down.as_secs()
                ),
            ));
        }
    }
    let busy: Vec<(&String, &Destination)> = s
        .discord
        .destinations
        .iter()
        .filter(|(_, d)| d.pending > 0 || d.failing_since.is_some())
        .collect();
    let failing = |d: &Destination, after: Duration| {
        d.failing_since
            .is_some_and(|t| now.saturating_duration_since(t) >= after)
    };
    if !busy.is_empty() && busy.iter().all(|(_, d)| failing(d, FAILING_AFTER)) {
        found.push((
            Status::Unhealthy,
            format!(
                "every Discord destination has failed for {}s or more",
                FAILING_AFTER.as_secs()
            ),
        ));
    } else {
        for (name, d) in &busy {
            if failing(d, Duration::ZERO) {
                found.push((
                    Status::Degraded,
                    format!(
                        "posting to {name} fails: {}",
                        d.last_error.as_deref().unwrap_or("no answer")
                    ),
                ));
            }
        }
    }
    if let Some(e) = &s.state_dir_error {
        found.push((
            Status::Unhealthy,
            format!("the state dir cannot be used, so nothing is checkpointed: {e}"),
        ));
    }
    for f in s.followers.iter().filter(|_| s.state_dir_error.is_none()) {
        if let Some(e) = &f.checkpoint_error {
            found.push((
                Status::Unhealthy,
                format!("cannot write checkpoints in {}: {e}", s.state_dir.display()),
            ));
            break;
        }
    }
    for f in &s.followers {
        match (&f.read_error, f.present) {
            (Some(e), _) => found.push((
                Status::Degraded,
                format!("cannot read {}: {e}", f.path.display()),
            )),
            (None, false) => found.push((
                Status::Degraded,
                format!("waiting for {} to appear", f.path.display()),
            )),
            (None, true) => {}
        }
    }
    for r in &s.rcon {
        if r.up == Some(false) {
            found.push((
                Status::Degraded,
                format!(
                    "RCON of server {} is down: {}",
                    r.server,
                    r.last_error.as_deref().unwrap_or("not connected")
                ),
            ));
        }
    }
    found.sort_by_key(|(status, _)| std::cmp::Reverse(*status));
    let status = found.first().map_or(Status::Healthy, |(s, _)| *s);
    (status, found.into_iter().map(|(_, r)| r).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worst_component_decides() {
        let h = Health::new();
        assert_eq!(h.verdict().0, Status::Healthy);
        let f = h.add_follower("s".into(), "/x.log".into());
        assert_eq!(h.verdict().0, Status::Degraded, "file not there yet");
        h.follower(f, |f| f.present = true);
        let r = h.add_rcon("s".into());
        h.rcon(r, |r| r.up = Some(false));
        let (status, reasons) = h.verdict();
        assert_eq!(status, Status::Degraded);
        assert!(
            reasons[0].contains("RCON of server s is down"),
            "{reasons:?}"
        );
        h.follower(f, |f| f.checkpoint_error = Some("No such file".into()));
        assert_eq!(h.verdict().0, Status::Unhealthy);
        h.follower(f, |f| f.checkpoint_error = None);
        h.lock().discord.halted = Some("token rejected".into());
        let (status, reasons) = h.verdict();
        assert_eq!(status, Status::Unhealthy);
        assert_eq!(reasons[0], "token rejected");
    }

    #[test]
    fn every_destination_must_fail_for_a_while_to_be_unhealthy() {
        let h = Health::new();
        let long_ago = Instant::now() - FAILING_AFTER - Duration::from_secs(1);
        {
            let mut s = h.lock();
            s.discord.destinations.insert(
                "channel:1".into(),
                Destination {
                    pending: 3,
                    failing_since: Some(long_ago),
                    last_error: Some("HTTP 503".into()),
                },
            );
            s.discord.destinations.insert(
                "channel:2".into(),
                Destination {
                    pending: 1,
                    failing_since: None,
                    last_error: None,
                },
            );
        }
        assert_eq!(h.verdict().0, Status::Degraded, "channel 2 still works");
        h.lock()
            .discord
            .destinations
            .get_mut("channel:2")
            .expect("registered")
            .failing_since = Some(Instant::now());
        assert_eq!(
            h.verdict().0,
            Status::Degraded,
            "channel 2 only just failed"
        );
        h.lock()
            .discord
            .destinations
            .get_mut("channel:2")
            .expect("registered")
            .failing_since = Some(long_ago);
        assert_eq!(h.verdict().0, Status::Unhealthy);
        assert!(!h.ready());
    }

    #[test]
    fn a_gateway_that_stays_down_is_degraded() {
        let h = Health::new();
        {
            let mut s = h.lock();
            s.discord.gateway = Some("resuming".into());
            s.discord.gateway_since = Some(Instant::now());
        }
        assert_eq!(h.verdict().0, Status::Healthy, "a reconnect is normal");
        h.lock().discord.gateway_since = Some(Instant::now() - GATEWAY_GRACE);
        let (status, reasons) = h.verdict();
        assert_eq!(status, Status::Degraded);
        assert!(
            reasons[0].contains("gateway has been resuming"),
            "{reasons:?}"
        );
        h.lock().discord.gateway = Some("ready".into());
        assert_eq!(h.verdict().0, Status::Healthy);
    }

    #[test]
    fn ready_only_while_running() {
        let h = Health::new();
        assert!(!h.ready());
        h.set_phase(Phase::Running);
        assert!(h.ready());
        h.set_phase(Phase::Reloading);
        assert!(!h.ready());
    }
}
