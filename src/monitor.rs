//! The body of an `alerts/<server>` thread: poll the game over RCON every
//! `collect_interval_seconds` with commands that run no Lua, estimate UPS,
//! and turn what the alert state machine decides into `alert` events.
//!
//! `/time` is asked first: the map age gives UPS and, by its absence, tells
//! that the server is unreachable. A timeout (the game is saving) is
//! neither a sample nor a failure. While the server answers, `/players
//! online` and `/evolution` fill the gauges of /metrics and the bot's
//! presence; none of the three runs Lua.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, bounded, select};

use crate::alerts::{Alert, AlertState, Observation, Thresholds};
use crate::discord::format::escape_markdown;
use crate::event::{Event, Kind, Position};
use crate::factorio::{parse_evolution, parse_map_age, parse_players};
use crate::health::Health;
use crate::rcon::{Error, Request};
use crate::stats::UpsEstimator;

/// Failed polls in a row before "unreachable" is posted.
pub const UNREACHABLE_AFTER: u32 = 3;

/// Events that come from no follower carry this source: nothing to
/// acknowledge.
pub const NO_SOURCE: usize = usize::MAX;

pub struct MonitorJob {
    pub server_id: Arc<str>,
    pub server_name: String,
    pub thresholds: Thresholds,
    pub interval: Duration,
    pub rcon: Sender<Request>,
    /// How long to wait for the RCON thread's answer.
    pub rcon_timeout: Duration,
    pub events: Sender<Event>,
    pub shutdown: Receiver<()>,
    pub health: Arc<Health>,
    /// This server's RCON slot in `health`, where UPS goes.
    pub slot: usize,
    /// How often a stats report is posted; `None`: never (no
    /// `stats_channel_id`).
    pub stats_every: Option<Duration>,
}

/// What the last poll learned, for the stats report.
#[derive(Debug, Default)]
struct Sample {
    map_age: Option<String>,
    players: Option<Vec<String>>,
    evolution: Option<f64>,
    ups: Option<f64>,
    paused: bool,
}

impl MonitorJob {
    /// The UPS window for a polling interval: several samples, within sane
    /// bounds (the error bound shrinks as the window grows).
    pub fn window(interval: Duration) -> Duration {
        (interval * 6).clamp(Duration::from_secs(20), Duration::from_secs(180))
    }

    pub fn run(self) -> Result<(), String> {
        let mut estimator = UpsEstimator::new(Self::window(self.interval));
        let mut state = AlertState::default();
        let mut next = Instant::now();
        let mut stats_at = self.stats_every.map(|every| Instant::now() + every);
        let mut sample = Sample::default();
        loop {
            select! {
                recv(self.shutdown) -> _ => return Ok(()),
                default(next.saturating_duration_since(Instant::now())) => {}
            }
            next += self.interval;
            let now = Instant::now();
            let time = self.ask("/time");
            let answered = time.is_ok();
            let observation = match time {
                Ok(text) => match parse_map_age(&text) {
                    Some(age) => {
                        let reading = estimator.add(now, age);
                        self.health.rcon(self.slot, |r| {
                            r.ups = reading.ups_ema;
                            r.last_sample = Some(now);
                        });
                        sample.map_age = Some(text.trim().to_owned());
                        sample.ups = reading.ups_ema;
                        sample.paused = reading.paused;
                        reading.ups_ema.map(|ups| Observation::Ups {
                            ups,
                            paused: reading.paused,
                        })
                    }
                    None => {
                        log::warn!("unexpected /time output from {}: {text:?}", self.server_id);
                        None
                    }
                },
                Err(Error::Timeout) => None,
                Err(e) => {
                    log::debug!("poll of {} failed: {e}", self.server_id);
                    Some(Observation::Unreachable)
                }
            };
            if answered {
                self.poll_gauges(&mut sample);
            }
            if let (Some(at), Some(every)) = (stats_at, self.stats_every)
                && now >= at
            {
                stats_at = Some(at + every);
                // Nothing to report from a server that did not answer: the
                // unreachable alert says that.
                if answered {
                    let event = self.stats_event(&sample);
                    self.health.count_event(&event);
                    select! {
                        send(self.events, event) -> sent => if sent.is_err() { return Ok(()) },
                        recv(self.shutdown) -> _ => return Ok(()),
                    }
                }
            }
            let Some(observation) = observation else {
                continue;
            };
            if let Some(alert) = state.observe(&self.thresholds, observation, now) {
                let event = self.event(&alert);
                log::info!("alert for {}: {}", self.server_id, event.content);
                self.health.count_event(&event);
                select! {
                    send(self.events, event) -> sent => if sent.is_err() { return Ok(()) },
                    recv(self.shutdown) -> _ => return Ok(()),
                }
            }
        }
    }

    /// Players online and evolution for /metrics and the bot's presence:
    /// two more commands that run no Lua, asked only while the server
    /// answers.
    fn poll_gauges(&self, sample: &mut Sample) {
        if let Ok(text) = self.ask("/players online") {
            let names: Vec<String> = parse_players(&text)
                .into_iter()
                .filter(|p| p.online)
                .map(|p| p.name)
                .collect();
            let online = names.len() as u64;
            self.health
                .rcon(self.slot, |r| r.players_online = Some(online));
            sample.players = Some(names);
        }
        if let Ok(text) = self.ask("/evolution") {
            // 2.0 reports each surface, 1.1 one unnamed factor (Nauvis's).
            // The first is the one players mean by "evolution".
            let surfaces: Vec<(String, f64)> = parse_evolution(&text)
                .into_iter()
                .map(|(surface, f)| {
                    let surface = surface.map_or_else(|| "nauvis".to_owned(), |s| s.to_lowercase());
                    (surface, f)
                })
                .collect();
            sample.evolution = surfaces.first().map(|(_, f)| *f);
            self.health.rcon(self.slot, |r| r.evolution = surfaces);
        }
    }

    /// The periodic report: players, UPS, evolution, map age.
    fn stats_event(&self, sample: &Sample) -> Event {
        let mut event = self.event_of(Kind::Stats, stats_text(&self.server_name, sample));
        event.pattern = Arc::from("stats");
        event
    }

    fn ask(&self, command: &str) -> Result<String, Error> {
        let (tx, rx) = bounded(1);
        let wait = self.rcon_timeout + Duration::from_secs(1);
        let request = Request {
            command: command.to_owned(),
            reply: tx,
            deadline: Instant::now() + wait,
        };
        self.rcon
            .send(request)
            .map_err(|_| Error::Closed("the RCON thread stopped".to_owned()))?;
        rx.recv_timeout(wait).unwrap_or(Err(Error::Timeout))
    }

    fn event(&self, alert: &Alert) -> Event {
        let name = escape_markdown(&self.server_name);
        let content = match alert {
            Alert::LowUps { ups, threshold } => {
                format!(
                    "⚠️ **{name}**: UPS is {ups:.1}, below {threshold} (the game is running slow)"
                )
            }
            Alert::UpsRecovered { ups, lasted } => {
                format!(
                    "✅ **{name}**: UPS is back to {ups:.1} after {}",
                    duration(*lasted)
                )
            }
            Alert::Unreachable { failures } => {
                format!("🔌 **{name}** is unreachable over RCON ({failures} polls failed)")
            }
            Alert::Reachable { down_for } => {
                format!(
                    "✅ **{name}** is reachable again after {}",
                    duration(*down_for)
                )
            }
        };
        self.event_of(Kind::Alert, content)
    }

    fn event_of(&self, kind: Kind, content: String) -> Event {
        let id = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Event {
            server: self.server_id.clone(),
            kind,
            pattern: Arc::from(kind.name()),
            route: None,
            fields: Vec::new(),
            content,
            position: Position {
                source: NO_SOURCE,
                seq: 0,
            },
            id,
        }
    }
}

/// A stats report as one message; what the last poll did not learn is
/// left out.
fn stats_text(server_name: &str, s: &Sample) -> String {
    let mut out = format!("📊 **{}**", escape_markdown(server_name));
    match &s.players {
        Some(names) if names.is_empty() => out.push_str("\nPlayers online: none"),
        Some(names) => {
            let shown: Vec<String> = names.iter().take(20).map(|n| escape_markdown(n)).collect();
            let more = names.len().saturating_sub(shown.len());
            out.push_str(&format!(
                "\nPlayers online ({}): {}",
                names.len(),
                shown.join(", ")
            ));
            if more > 0 {
                out.push_str(&format!(" and {more} more"));
            }
        }
        None => {}
    }
    match (s.ups, s.paused) {
        (_, true) => out.push_str("\nUPS: paused"),
        (Some(ups), false) => out.push_str(&format!("\nUPS: {ups:.1}")),
        (None, false) => out.push_str("\nUPS: measuring"),
    }
    if let Some(e) = s.evolution {
        out.push_str(&format!("\nEvolution: {:.1}%", e * 100.0));
    }
    if let Some(age) = &s.map_age {
        out.push_str(&format!("\nMap age: {}", escape_markdown(age)));
    }
    out
}

/// "7 min", "1 h 5 min", "42 s".
pub fn duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min", s / 60),
        _ => format!("{} h {} min", s / 3600, s % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_reports_say_what_is_known() {
        let sample = Sample {
            map_age: Some("1 hour, 2 minutes and 3 seconds".into()),
            players: Some(vec!["al*ce".into(), "bob".into()]),
            evolution: Some(0.4321),
            ups: Some(59.84),
            paused: false,
        };
        assert_eq!(
            stats_text("Main", &sample),
            "📊 **Main**\nPlayers online (2): al\\*ce, bob\nUPS: 59.8\nEvolution: 43.2%\nMap age: 1 hour, 2 minutes and 3 seconds"
        );
        let empty = Sample {
            players: Some(Vec::new()),
            paused: true,
            ..Sample::default()
        };
        assert_eq!(
            stats_text("Main", &empty),
            "📊 **Main**\nPlayers online: none\nUPS: paused"
        );
    }

    #[test]
    fn durations_read_like_speech() {
        assert_eq!(duration(Duration::from_secs(42)), "42 s");
        assert_eq!(duration(Duration::from_secs(420)), "7 min");
        assert_eq!(duration(Duration::from_secs(3900)), "1 h 5 min");
        assert_eq!(
            MonitorJob::window(Duration::from_secs(1)),
            Duration::from_secs(20)
        );
        assert_eq!(
            MonitorJob::window(Duration::from_secs(30)),
            Duration::from_secs(180)
        );
    }
}
