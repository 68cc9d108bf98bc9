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
        let (summary, embed) = stats_report(&self.server_name, sample);
        let mut event = self.event_of(Kind::Stats, summary);
        event.embed = Some(embed);
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
            embed: None,
            position: Position {
                source: NO_SOURCE,
                seq: 0,
            },
            id,
        }
    }
}

/// A stats report: a one-line summary (what a notification shows) and an
/// embed with the figures; what the last poll did not learn is left out.
fn stats_report(server_name: &str, s: &Sample) -> (String, serde_json::Value) {
    let name = escape_markdown(server_name);
    let ups = match (s.ups, s.paused) {
        (_, true) => "paused".to_owned(),
        (Some(ups), false) => format!("{ups:.1}"),
        (None, false) => "measuring".to_owned(),
    };
    let mut summary = format!("📊 **{name}**");
    let mut fields = Vec::new();
    if let Some(names) = &s.players {
        let count = match names.len() {
            1 => "1 player".to_owned(),
            n => format!("{n} players"),
        };
        summary.push_str(&format!(": {count} online,"));
        let shown: Vec<String> = names.iter().take(40).map(|n| escape_markdown(n)).collect();
        let mut value = if shown.is_empty() {
            "none".to_owned()
        } else {
            shown.join(", ")
        };
        if names.len() > shown.len() {
            value.push_str(&format!(" and {} more", names.len() - shown.len()));
        }
        // An embed field holds at most 1024 characters.
        let value: String = value.chars().take(1024).collect();
        fields.push(serde_json::json!({
            "name": format!("Players online ({})", names.len()),
            "value": value,
            "inline": false,
        }));
    }
    summary.push_str(&format!(" UPS {ups}"));
    fields.push(serde_json::json!({"name": "UPS", "value": ups, "inline": true}));
    if let Some(e) = s.evolution {
        fields.push(serde_json::json!({
            "name": "Evolution",
            "value": format!("{:.1}%", e * 100.0),
            "inline": true,
        }));
    }
    if let Some(age) = &s.map_age {
        fields.push(serde_json::json!({
            "name": "Map age",
            "value": escape_markdown(age),
            "inline": true,
        }));
    }
    // An embed title holds at most 256 characters.
    let title: String = format!("📊 {server_name}").chars().take(256).collect();
    let embed = serde_json::json!({
        "title": title,
        // Factorio orange.
        "color": 0x00ff_9f1c_u32,
        "fields": fields,
    });
    (summary, embed)
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
        let (summary, embed) = stats_report("Main", &sample);
        assert_eq!(summary, "📊 **Main**: 2 players online, UPS 59.8");
        assert_eq!(embed["title"], "📊 Main");
        let fields: Vec<(String, String)> = embed["fields"]
            .as_array()
            .expect("fields")
            .iter()
            .map(|f| {
                (
                    f["name"].as_str().unwrap_or_default().to_owned(),
                    f["value"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        let want = [
            ("Players online (2)", "al\\*ce, bob"),
            ("UPS", "59.8"),
            ("Evolution", "43.2%"),
            ("Map age", "1 hour, 2 minutes and 3 seconds"),
        ];
        assert_eq!(
            fields,
            want.iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect::<Vec<_>>()
        );
        let empty = Sample {
            players: Some(Vec::new()),
            paused: true,
            ..Sample::default()
        };
        let (summary, embed) = stats_report("Main", &empty);
        assert_eq!(summary, "📊 **Main**: 0 players online, UPS paused");
        assert_eq!(embed["fields"][0]["value"], "none");
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
