//! When to tell admins that a server is slow or unreachable, and when it
//! is fine again: once per episode, never in a storm.
//!
//! Low UPS alerts after `samples` consecutive readings under the warning
//! threshold, then stays quiet until UPS reaches the (higher) recovery
//! threshold, which is reported once with how long the episode lasted.
//! Alerts are at least `cooldown` apart. A paused game neither alerts nor
//! ends an episode. Unreachable alerts after `unreachable_after` failed
//! polls and reports the true downtime when the server answers again.
//! Pure: readings and time come in, alerts go out.

use std::time::{Duration, Instant};

#[derive(Debug, Clone, PartialEq)]
pub struct Thresholds {
    pub warning: f64,
    pub recover: f64,
    pub samples: u32,
    pub cooldown: Duration,
    pub unreachable_after: u32,
}

/// What a poll found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Observation {
    Ups {
        ups: f64,
        paused: bool,
    },
    /// The server answered, without a fresh UPS estimate (the window is
    /// filling after a start, a resume or a loaded save).
    Answered,
    Unreachable,
}

/// Something to post.
#[derive(Debug, Clone, PartialEq)]
pub enum Alert {
    LowUps { ups: f64, threshold: f64 },
    UpsRecovered { ups: f64, lasted: Duration },
    Unreachable { failures: u32 },
    Reachable { down_for: Duration },
}

#[derive(Debug, Default)]
pub struct AlertState {
    low_streak: u32,
    /// The first low sample of the current streak.
    streak_since: Option<Instant>,
    /// Start of the low-UPS episode that was alerted: its first low sample.
    low_since: Option<Instant>,
    last_alert: Option<Instant>,
    failures: u32,
    down_since: Option<Instant>,
    down_alerted: bool,
}

impl AlertState {
    /// Takes one observation; returns the alert it calls for, if any.
    pub fn observe(&mut self, t: &Thresholds, obs: Observation, now: Instant) -> Option<Alert> {
        match obs {
            Observation::Unreachable => {
                self.failures += 1;
                self.down_since.get_or_insert(now);
                if self.failures >= t.unreachable_after && !self.down_alerted {
                    self.down_alerted = true;
                    return Some(Alert::Unreachable {
                        failures: self.failures,
                    });
                }
                None
            }
            Observation::Answered => self.reachable(now),
            Observation::Ups { ups, paused } => {
                let back = self.reachable(now);
                if back.is_some() {
                    return back;
                }
                if paused {
                    self.low_streak = 0;
                    self.streak_since = None;
                    return None;
                }
                if let Some(since) = self.low_since {
                    if ups >= t.recover {
                        self.low_since = None;
                        self.low_streak = 0;
                        self.streak_since = None;
                        return Some(Alert::UpsRecovered {
                            ups,
                            lasted: now.duration_since(since),
                        });
                    }
                    return None;
                }
                if ups >= t.warning {
                    self.low_streak = 0;
                    self.streak_since = None;
                    return None;
                }
                self.low_streak += 1;
                let streak_since = *self.streak_since.get_or_insert(now);
                let cooled = self
                    .last_alert
                    .is_none_or(|l| now.duration_since(l) >= t.cooldown);
                if self.low_streak >= t.samples && cooled {
                    self.low_since = Some(streak_since);
                    self.last_alert = Some(now);
                    return Some(Alert::LowUps {
                        ups,
                        threshold: t.warning,
                    });
                }
                None
            }
        }
    }

    /// A successful poll after failures: the downtime, if it was alerted.
    fn reachable(&mut self, now: Instant) -> Option<Alert> {
        self.failures = 0;
        let since = self.down_since.take()?;
        std::mem::take(&mut self.down_alerted).then(|| Alert::Reachable {
            down_for: now.duration_since(since),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Thresholds = Thresholds {
        warning: 55.0,
        recover: 58.0,
        samples: 3,
        cooldown: Duration::from_secs(300),
        unreachable_after: 2,
    };

    fn ups(u: f64) -> Observation {
        Observation::Ups {
            ups: u,
            paused: false,
        }
    }

    /// Feeds (second, observation) rows and returns (second, alert) rows.
    fn run(rows: &[(u64, Observation)]) -> Vec<(u64, Alert)> {
        let start = Instant::now();
        let mut state = AlertState::default();
        rows.iter()
            .filter_map(|(s, o)| {
                state
                    .observe(&T, *o, start + Duration::from_secs(*s))
                    .map(|a| (*s, a))
            })
            .collect()
    }

    #[test]
    fn one_alert_per_episode_and_one_recovery_after_hysteresis() {
        let got = run(&[
            (0, ups(60.0)),
            (30, ups(50.0)),
            (60, ups(50.0)),
            (90, ups(49.0)), // third low sample: alert
            (120, ups(40.0)),
            (150, ups(57.0)), // above warning, below recovery: still the episode
            (180, ups(50.0)),
            (210, ups(59.0)), // recovered
            (240, ups(60.0)),
        ]);
        assert_eq!(
            got,
            [
                (
                    90,
                    Alert::LowUps {
                        ups: 49.0,
                        threshold: 55.0
                    }
                ),
                (
                    210,
                    // From the first low sample (30 s), not the alert.
                    Alert::UpsRecovered {
                        ups: 59.0,
                        lasted: Duration::from_secs(180)
                    }
                )
            ]
        );
    }

    #[test]
    fn a_short_dip_does_not_alert() {
        assert_eq!(
            run(&[
                (0, ups(50.0)),
                (30, ups(50.0)),
                (60, ups(60.0)),
                (90, ups(50.0))
            ]),
            []
        );
    }

    #[test]
    fn the_cooldown_spaces_episodes() {
        let got = run(&[
            (0, ups(50.0)),
            (1, ups(50.0)),
            (2, ups(50.0)), // alert
            (3, ups(60.0)), // recovered
            (4, ups(50.0)),
            (5, ups(50.0)),
            (6, ups(50.0)),   // a new episode, but within the cooldown
            (400, ups(50.0)), // cooldown over: alert
        ]);
        let kinds: Vec<u64> = got.iter().map(|(s, _)| *s).collect();
        assert_eq!(kinds, [2, 3, 400]);
    }

    #[test]
    fn a_paused_game_never_alerts() {
        let paused = Observation::Ups {
            ups: 0.0,
            paused: true,
        };
        assert_eq!(
            run(&[(0, paused), (30, paused), (60, paused), (90, paused)]),
            []
        );
    }

    #[test]
    fn unreachable_once_and_back_with_the_true_downtime() {
        let got = run(&[
            (0, ups(60.0)),
            (30, Observation::Unreachable), // down since here
            (60, Observation::Unreachable), // second failure: alert
            (90, Observation::Unreachable),
            (450, ups(60.0)),                // back after 7 minutes
            (480, Observation::Unreachable), // one blip: no alert
            (510, ups(60.0)),
        ]);
        assert_eq!(
            got,
            [
                (60, Alert::Unreachable { failures: 2 }),
                (
                    450,
                    Alert::Reachable {
                        down_for: Duration::from_secs(420)
                    }
                )
            ]
        );
    }

    /// A server that comes back on an older save, or auto-paused, has no
    /// UPS estimate yet; its first answer still ends the outage.
    #[test]
    fn back_on_the_first_answer_even_without_an_estimate() {
        let got = run(&[
            (0, Observation::Unreachable),
            (30, Observation::Unreachable),
            (60, Observation::Answered),
            (90, Observation::Answered),
            (
                120,
                Observation::Ups {
                    ups: 0.0,
                    paused: true,
                },
            ),
        ]);
        assert_eq!(
            got,
            [
                (30, Alert::Unreachable { failures: 2 }),
                (
                    60,
                    Alert::Reachable {
                        down_for: Duration::from_secs(60)
                    }
                )
            ]
        );
    }
}
