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

use crossbeam_channel::{Receiver, Sender, TrySendError, bounded, select};

use crate::alerts::{Alert, AlertState, Observation, Thresholds};
use crate::commands::lua_api;
use crate::discord::format::escape_markdown;
use crate::event::{Event, Kind, Position};
use crate::factorio::{parse_evolution, parse_map_age, parse_players};
use crate::health::Health;
use crate::lua_stats::{self, Research};
use crate::rcon::{Error, Request};
use crate::stats::{Reading, UpsEstimator};

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
    /// Sample with one `/sc` (exact tick, research) instead of commands
    /// that run no Lua.
    pub allow_lua: bool,
}

/// What one poll of the game gave.
enum Poll {
    Reading(Reading),
    /// The server answered, but gave no UPS reading (an unexpected `/time`,
    /// or an answer too slow to date).
    Answered,
    /// No answer in time: the game is saving.
    Timeout,
    Failed,
}

/// An answer slower than this is not dated precisely enough for UPS: its
/// game time could be from any moment of the round trip.
const MAX_SAMPLE_RTT: Duration = Duration::from_secs(2);

/// What the last poll learned, for the stats report.
#[derive(Debug, Default)]
struct Sample {
    map_age: Option<String>,
    players: Option<Vec<String>>,
    evolution: Option<f64>,
    ups: Option<f64>,
    paused: bool,
    /// Only known with `allow_lua`.
    research: Option<Research>,
    /// What is queued after `research`.
    queue: Vec<String>,
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
        let mut lua_failing = false;
        let mut quirks = Quirks::default();
        // Since when every poll has timed out.
        let mut silent_since: Option<Instant> = None;
        loop {
            select! {
                recv(self.shutdown) -> _ => return Ok(()),
                default(next.saturating_duration_since(Instant::now())) => {}
            }
            let now = Instant::now();
            // After a stall (a full event channel), resume the pace; no burst.
            next = (next + self.interval).max(now);
            // A bug reading one reply costs that poll, not the thread.
            let polled = crate::fault::contain(|| {
                let lua = if self.allow_lua {
                    self.poll_lua(&mut estimator, &mut sample, &mut lua_failing)
                } else {
                    None
                };
                match lua {
                    Some(poll) => poll,
                    None => self.poll_commands(&mut estimator, &mut sample, &mut quirks),
                }
            });
            let poll = polled.unwrap_or_else(|why| {
                log::error!(
                    "a bug: reading the game's answers for {} panicked ({why}); this sample is skipped",
                    self.server_id
                );
                Poll::Answered
            });
            if !matches!(poll, Poll::Timeout) {
                silent_since = None;
            }
            let (answered, observation) = match poll {
                Poll::Reading(reading) => {
                    self.health.rcon(self.slot, |r| {
                        r.ups = reading.ups_ema;
                        r.ups_window = reading.ups.or(r.ups_window);
                        r.last_sample = Some(now);
                    });
                    sample.ups = reading.ups_ema;
                    sample.paused = reading.paused;
                    (true, Some(observe(&reading)))
                }
                Poll::Answered => (true, Some(Observation::Answered)),
                // The game is saving: neither a sample nor a failure, unless
                // it goes on for longer than any save.
                Poll::Timeout => {
                    let since = *silent_since.get_or_insert(now);
                    let hung = now.duration_since(since) >= crate::rcon::HUNG_AFTER;
                    (false, hung.then_some(Observation::Unreachable))
                }
                Poll::Failed => (false, Some(Observation::Unreachable)),
            };
            if let (Some(at), Some(every)) = (stats_at, self.stats_every)
                && now >= at
            {
                stats_at = Some(at + every);
                // Nothing to report from a server that did not answer: the
                // unreachable alert says that. A report is dropped rather
                // than waited for while delivery is full (Discord down):
                // polling, the gauges and alerts go on; the next one comes.
                if answered {
                    let event = self.stats_event(&sample);
                    self.health.count_event(&event);
                    match self.events.try_send(event) {
                        Ok(()) => {}
                        Err(TrySendError::Full(_)) => {
                            log::debug!(
                                "stats report of {} skipped: delivery is full",
                                self.server_id
                            );
                        }
                        Err(TrySendError::Disconnected(_)) => return Ok(()),
                    }
                }
            }
            let Some(observation) = observation else {
                continue;
            };
            if let Some(alert) = state.observe(&self.thresholds, observation, now) {
                let event = self.event(&alert);
                log::info!("alert for {}: {}", self.server_id, event.content);
                if !self.send(event) {
                    return Ok(());
                }
            }
        }
    }

    /// Queues an event for delivery; false once shutting down.
    fn send(&self, event: Event) -> bool {
        self.health.count_event(&event);
        select! {
            send(self.events, event) -> sent => sent.is_ok(),
            recv(self.shutdown) -> _ => false,
        }
    }

    /// The sample without Lua: `/time` for UPS, then `/players online`
    /// and `/evolution` for the gauges while the server answers.
    fn poll_commands(
        &self,
        estimator: &mut UpsEstimator,
        sample: &mut Sample,
        quirks: &mut Quirks,
    ) -> Poll {
        let (result, at) = self.timed_ask("/time");
        let poll = match result {
            Ok(text) => match (parse_map_age(&text), at) {
                (Some(age), Some(at)) => {
                    sample.map_age = Some(text.trim().to_owned());
                    Poll::Reading(estimator.add(at, age))
                }
                (Some(_), None) => Poll::Answered,
                (None, _) => {
                    if !std::mem::replace(&mut quirks.odd_time, true) {
                        log::warn!("unexpected /time output from {}: {text:?}", self.server_id);
                    }
                    Poll::Answered
                }
            },
            Err(Error::Timeout) => Poll::Timeout,
            Err(e) => {
                log::debug!("poll of {} failed: {e}", self.server_id);
                Poll::Failed
            }
        };
        if matches!(poll, Poll::Reading(_) | Poll::Answered) {
            self.poll_gauges(sample);
        }
        poll
    }

    /// The sample with Lua (`allow_lua`): one `/sc` with exact figures.
    /// `None` when its answer is not the JSON asked for (a mod renamed the
    /// forces, say): the caller falls back to the commands, and the reason
    /// is logged once until the snippet works again.
    fn poll_lua(
        &self,
        estimator: &mut UpsEstimator,
        sample: &mut Sample,
        failing: &mut bool,
    ) -> Option<Poll> {
        let version = self
            .health
            .lock()
            .rcon
            .get(self.slot)
            .and_then(|r| r.version.clone());
        // The RCON thread asks at connect; this poll may come first. The
        // Lua differs by version, so never guess: ask (no Lua in it).
        let version = match version {
            Some(v) => v,
            None => match self.ask("/version") {
                Ok(text) => {
                    let v = text.trim().to_owned();
                    self.health.rcon(self.slot, |r| r.version = Some(v.clone()));
                    v
                }
                Err(Error::Timeout) => return Some(Poll::Timeout),
                Err(_) => return Some(Poll::Failed),
            },
        };
        let (result, at) = self.timed_ask(&lua_stats::snippet(lua_api(Some(&version))));
        let text = match result {
            Ok(text) => text,
            Err(Error::Timeout) => return Some(Poll::Timeout),
            Err(e) => {
                log::debug!("poll of {} failed: {e}", self.server_id);
                return Some(Poll::Failed);
            }
        };
        let s = match lua_stats::parse(&text) {
            Ok(s) => s,
            Err(answer) => {
                sample.research = None;
                sample.queue.clear();
                self.health.rcon(self.slot, |r| r.research = None);
                if !std::mem::replace(failing, true) {
                    log::warn!(
                        "the Lua stats sample of {} failed ({answer}); using /time, /players and /evolution instead",
                        self.server_id
                    );
                }
                return None;
            }
        };
        *failing = false;
        let online = s.players.len() as u64;
        let research = s.research.clone();
        let evolution = s.evolution.clone();
        self.health.rcon(self.slot, |r| {
            r.players_online = Some(online);
            r.evolution = evolution;
            r.research = research.map(|r| (r.name, r.progress));
        });
        sample.map_age = Some(map_age(s.tick / 60));
        sample.players = Some(s.players);
        sample.evolution = s.evolution.first().map(|(_, f)| *f);
        sample.research = s.research;
        sample.queue = s.queue;
        Some(match at {
            Some(at) => Poll::Reading(estimator.add_tick(at, s.tick)),
            None => Poll::Answered,
        })
    }

    /// Players online and evolution for /metrics and the bot's presence:
    /// two more commands that run no Lua, asked only while the server
    /// answers.
    fn poll_gauges(&self, sample: &mut Sample) {
        if let Ok(text) = self.ask("/players online") {
            crate::fault::inject(&text);
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

    /// Asks `command`; with the answer, the moment the game most likely
    /// ran it (the middle of the round trip), unless the round trip was
    /// too slow to date it.
    fn timed_ask(&self, command: &str) -> (Result<String, Error>, Option<Instant>) {
        let sent = Instant::now();
        let result = self.ask(command);
        let rtt = sent.elapsed();
        (result, (rtt <= MAX_SAMPLE_RTT).then(|| sent + rtt / 2))
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
        let (content, embed) = alert_report(&self.server_name, alert, &self.thresholds);
        let mut event = self.event_of(Kind::Alert, content);
        event.embed = Some(embed);
        event
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

/// Problems logged once per thread rather than at every poll.
#[derive(Default)]
struct Quirks {
    odd_time: bool,
}

/// What the alert state machine is told of a reading. After a pause (or
/// before the window fills) there is no fresh estimate: the EMA is from
/// before, so the reading only says the server answers.
fn observe(reading: &Reading) -> Observation {
    match (reading.paused, reading.ups, reading.ups_ema) {
        (true, _, ema) => Observation::Ups {
            ups: ema.unwrap_or(0.0),
            paused: true,
        },
        (false, Some(_), Some(ema)) => Observation::Ups {
            ups: ema,
            paused: false,
        },
        _ => Observation::Answered,
    }
}

/// Embed colours: Discord's palette for warning, failure and recovery.
const ORANGE: u32 = 0x00e6_7e22;
const RED: u32 = 0x00e7_4c3c;
const GREEN: u32 = 0x002e_cc71;

/// An alert: a one-line summary (the notification) and an embed with a
/// clear title and the numbers behind it.
fn alert_report(server_name: &str, alert: &Alert, t: &Thresholds) -> (String, serde_json::Value) {
    let name = escape_markdown(server_name);
    let field = |name: &str, value: String| serde_json::json!({"name": name, "value": value, "inline": true});
    let (content, title, colour, fields) = match alert {
        Alert::LowUps { ups, threshold } => (
            format!("⚠️ **{name}**: UPS is {ups:.1}, below {threshold} (the game is running slow)"),
            format!("⚠️ Low UPS on {server_name}"),
            ORANGE,
            vec![
                field("UPS", format!("{ups:.1}")),
                field("Warning below", format!("{threshold}")),
                field("Recovers at", format!("{}", t.recover)),
                field("Samples below", format!("{} in a row", t.samples)),
            ],
        ),
        Alert::UpsRecovered { ups, lasted } => (
            format!(
                "✅ **{name}**: UPS is back to {ups:.1} after {}",
                duration(*lasted)
            ),
            format!("✅ UPS recovered on {server_name}"),
            GREEN,
            vec![
                field("UPS", format!("{ups:.1}")),
                field("Slow for", duration(*lasted)),
            ],
        ),
        Alert::Unreachable { failures } => (
            format!("🔌 **{name}** is unreachable over RCON ({failures} polls failed)"),
            format!("🔌 {server_name} is unreachable"),
            RED,
            vec![field("Failed polls", failures.to_string())],
        ),
        Alert::Reachable { down_for } => (
            format!(
                "✅ **{name}** is reachable again after {}",
                duration(*down_for)
            ),
            format!("✅ {server_name} is reachable again"),
            GREEN,
            vec![field("Down for", duration(*down_for))],
        ),
    };
    let embed = serde_json::json!({
        "title": title.chars().take(256).collect::<String>(),
        "color": colour,
        "fields": fields,
    });
    (content, embed)
}

/// A map age the way `/time` prints it: "1 day, 2 hours and 3 seconds".
fn map_age(seconds: u64) -> String {
    let units = [
        (86_400, "day"),
        (3600, "hour"),
        (60, "minute"),
        (1, "second"),
    ];
    let mut parts = Vec::new();
    let mut left = seconds;
    for (size, unit) in units {
        let n = left / size;
        left %= size;
        if n > 0 {
            parts.push(format!("{n} {unit}{}", if n == 1 { "" } else { "s" }));
        }
    }
    match parts.split_last() {
        None => "0 seconds".to_owned(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
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
    if let Some(r) = &s.research {
        let level = if r.level > 1 {
            format!(" {}", r.level)
        } else {
            String::new()
        };
        let mut value = format!(
            "{}{level}: {:.0}%",
            escape_markdown(&r.name),
            r.progress * 100.0
        );
        if !s.queue.is_empty() {
            let next: Vec<String> = s.queue.iter().take(5).map(|n| escape_markdown(n)).collect();
            value.push_str(&format!("\nthen {}", next.join(", ")));
            if s.queue.len() > next.len() {
                value.push_str(&format!(" and {} more", s.queue.len() - next.len()));
            }
        }
        let value: String = value.chars().take(1024).collect();
        fields.push(serde_json::json!({
            "name": "Research",
            "value": value,
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
            research: None,
            queue: Vec::new(),
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
        let researching = Sample {
            research: Some(Research {
                name: "mining-productivity".into(),
                level: 3,
                progress: 0.256,
            }),
            queue: (1..=7).map(|i| format!("tech_{i}")).collect(),
            ..Sample::default()
        };
        let (_, embed) = stats_report("Main", &researching);
        assert_eq!(embed["fields"][1]["name"], "Research");
        assert_eq!(
            embed["fields"][1]["value"],
            "mining-productivity 3: 26%\nthen tech\\_1, tech\\_2, tech\\_3, tech\\_4, tech\\_5 and 2 more"
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
    fn alerts_have_a_title_and_their_numbers() {
        let t = Thresholds {
            warning: 45.0,
            recover: 50.0,
            samples: 3,
            cooldown: Duration::from_secs(60),
            unreachable_after: 3,
        };
        let titles_and_fields = |alert: Alert| {
            let (content, embed) = alert_report("Main_1", &alert, &t);
            let fields: Vec<String> = embed["fields"]
                .as_array()
                .expect("fields")
                .iter()
                .map(|f| {
                    format!(
                        "{}={}",
                        f["name"].as_str().unwrap_or_default(),
                        f["value"].as_str().unwrap_or_default()
                    )
                })
                .collect();
            (
                content,
                embed["title"].as_str().unwrap_or_default().to_owned(),
                fields.join("; "),
                embed["color"].clone(),
            )
        };
        let (content, title, fields, colour) = titles_and_fields(Alert::LowUps {
            ups: 29.96,
            threshold: 45.0,
        });
        assert_eq!(
            content,
            "⚠️ **Main\\_1**: UPS is 30.0, below 45 (the game is running slow)"
        );
        assert_eq!(title, "⚠️ Low UPS on Main_1");
        assert_eq!(
            fields,
            "UPS=30.0; Warning below=45; Recovers at=50; Samples below=3 in a row"
        );
        assert_eq!(colour, ORANGE);
        let (_, title, fields, colour) = titles_and_fields(Alert::UpsRecovered {
            ups: 59.9,
            lasted: Duration::from_secs(420),
        });
        assert_eq!(
            (title.as_str(), fields.as_str()),
            ("✅ UPS recovered on Main_1", "UPS=59.9; Slow for=7 min")
        );
        assert_eq!(colour, GREEN);
        let (content, title, fields, colour) =
            titles_and_fields(Alert::Unreachable { failures: 3 });
        assert_eq!(
            content,
            "🔌 **Main\\_1** is unreachable over RCON (3 polls failed)"
        );
        assert_eq!(
            (title.as_str(), fields.as_str()),
            ("🔌 Main_1 is unreachable", "Failed polls=3")
        );
        assert_eq!(colour, RED);
        let (_, title, fields, _) = titles_and_fields(Alert::Reachable {
            down_for: Duration::from_secs(3900),
        });
        assert_eq!(
            (title.as_str(), fields.as_str()),
            ("✅ Main_1 is reachable again", "Down for=1 h 5 min")
        );
    }

    /// After a resume the EMA is from before the pause: it must not be
    /// judged until a fresh estimate exists.
    #[test]
    fn only_fresh_estimates_are_judged() {
        let reading = |ups, ups_ema, paused| Reading {
            ups,
            ups_ema,
            paused,
        };
        assert_eq!(
            observe(&reading(None, Some(20.0), false)),
            Observation::Answered
        );
        assert_eq!(
            observe(&reading(Some(30.0), Some(31.0), false)),
            Observation::Ups {
                ups: 31.0,
                paused: false
            }
        );
        assert_eq!(
            observe(&reading(None, None, true)),
            Observation::Ups {
                ups: 0.0,
                paused: true
            }
        );
    }

    #[test]
    fn map_ages_read_like_time() {
        assert_eq!(map_age(0), "0 seconds");
        assert_eq!(map_age(42), "42 seconds");
        assert_eq!(map_age(61), "1 minute and 1 second");
        assert_eq!(map_age(126_086), "1 day, 11 hours, 1 minute and 26 seconds");
        assert_eq!(
            crate::factorio::parse_map_age(&map_age(126_086)),
            Some(126_086)
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
