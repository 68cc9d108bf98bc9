//! UPS measured without Lua: the map's age from `/time`, against a
//! monotonic clock.
//!
//! `/time` prints the map age in whole game seconds (ticks / 60), so one
//! sample is only good to a second. The estimate is the slope between the
//! oldest and newest sample of a sliding window: over a window of `W` wall
//! seconds the error from rounding is at most `2 * 60 / W` UPS (one game
//! second at each end) before the EMA smooths it further. The daemon's
//! window (`MonitorJob::window`) is 6 polling intervals within 20 to 180 s:
//! 180 s and 0.67 UPS at the default 30 s interval, 20 s and 6 UPS when
//! polling every few seconds. With `allow_lua` the sample is `game.tick`
//! itself ([`UpsEstimator::add_tick`]) and the rounding error all but vanishes (one
//! tick at each end). A map whose age does not move for [`PAUSE_AFTER`] is
//! paused (including Factorio's auto-pause with no players), and a paused
//! server neither alerts nor drags the average down. Pure: time is passed in.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Wall time over which the slope is taken by default.
pub const WINDOW: Duration = Duration::from_secs(60);
/// A map age unchanged this long means the game is paused. A game slower
/// than 60 / 15 = 4 UPS (one game second per 15 wall seconds) reads as
/// paused too; at that speed nobody is playing anyway.
pub const PAUSE_AFTER: Duration = Duration::from_secs(15);
/// Weight of a new estimate in the moving average.
pub const EMA_ALPHA: f64 = 0.3;

/// One reading of the game.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    /// UPS over the window; `None` until the window spans two samples.
    pub ups: Option<f64>,
    pub ups_ema: Option<f64>,
    pub paused: bool,
}

#[derive(Debug)]
pub struct UpsEstimator {
    window: Duration,
    /// (when, game time in ticks), oldest first. `/time` gives whole
    /// seconds, stored as 60 ticks each.
    samples: VecDeque<(Instant, u64)>,
    ema: Option<f64>,
    /// Since when the map age has not changed.
    still_since: Option<Instant>,
    paused: bool,
}

impl Default for UpsEstimator {
    fn default() -> Self {
        Self::new(WINDOW)
    }
}

impl UpsEstimator {
    /// An estimator whose slope spans `window` of wall time; its rounding
    /// error is at most `2 * 60 / window` UPS.
    pub fn new(window: Duration) -> Self {
        Self {
            window,
            samples: VecDeque::new(),
            ema: None,
            still_since: None,
            paused: false,
        }
    }

    /// The error bound of this estimator's UPS, from `/time`'s rounding.
    pub fn error_bound(&self) -> f64 {
        2.0 * 60.0 / self.window.as_secs_f64()
    }

    /// Adds a `/time` reading (map age in whole game seconds) taken at `now`.
    pub fn add(&mut self, now: Instant, game_seconds: u64) -> Reading {
        self.add_tick(now, game_seconds.saturating_mul(60))
    }

    /// Adds an exact `game.tick` taken at `now`.
    pub fn add_tick(&mut self, now: Instant, tick: u64) -> Reading {
        let changed = self.samples.back().is_none_or(|(_, g)| *g != tick);
        if changed {
            if self.paused {
                // The game resumed somewhere since the last sample: start
                // the slope here, with no paused time in it.
                self.samples.clear();
            }
            self.still_since = Some(now);
        }
        if self.samples.back().is_some_and(|(_, g)| tick < *g) {
            // The map went back in time: another save was loaded.
            self.samples.clear();
            self.ema = None;
        }
        self.samples.push_back((now, tick));
        while self.samples.len() > 2
            && self
                .samples
                .front()
                .is_some_and(|(t, _)| now.duration_since(*t) > self.window)
        {
            self.samples.pop_front();
        }
        let paused = self
            .still_since
            .is_some_and(|t| now.duration_since(t) >= PAUSE_AFTER);
        self.paused = paused;
        if paused {
            // Keep only the latest sample: after the pause the slope starts
            // fresh instead of averaging the pause in.
            let last = self.samples.pop_back();
            self.samples.clear();
            self.samples.extend(last);
            return Reading {
                ups: None,
                ups_ema: self.ema,
                paused: true,
            };
        }
        // No estimate until the samples span half the window: a slope over a
        // second or two of one-second readings says nothing.
        let ups = match (self.samples.front(), self.samples.back()) {
            (Some((t0, g0)), Some((t1, g1))) if t1.duration_since(*t0) >= self.window / 2 => {
                let wall = t1.duration_since(*t0).as_secs_f64();
                Some((g1 - g0) as f64 / wall)
            }
            _ => None,
        };
        if let Some(u) = ups {
            self.ema = Some(self.ema.map_or(u, |e| e + EMA_ALPHA * (u - e)));
        }
        Reading {
            ups,
            ups_ema: self.ema,
            paused: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds a game running at `ups` for `secs` wall seconds, one sample per
    /// `every` seconds, rounding the age down like `/time`.
    fn run(
        est: &mut UpsEstimator,
        start: Instant,
        from: f64,
        ups: f64,
        secs: u64,
        every: u64,
    ) -> (Reading, f64) {
        let mut age = from;
        let mut last = Reading {
            ups: None,
            ups_ema: None,
            paused: false,
        };
        for s in (0..=secs).step_by(every as usize) {
            age = from + s as f64 * ups / 60.0;
            last = est.add(start + Duration::from_secs(s), age.floor() as u64);
        }
        (last, age)
    }

    #[test]
    fn ups_is_within_the_documented_bound_after_a_window() {
        for ups in [60.0, 30.0, 45.5] {
            let mut est = UpsEstimator::default();
            let (r, _) = run(&mut est, Instant::now(), 1000.3, ups, 120, 5);
            let bound = 2.0 * 60.0 / WINDOW.as_secs_f64();
            let got = r.ups.expect("an estimate");
            assert!((got - ups).abs() <= bound, "ups {ups}: got {got}");
            assert!(
                (r.ups_ema.expect("ema") - ups).abs() <= bound,
                "ema for {ups}"
            );
            assert!(!r.paused);
        }
    }

    #[test]
    fn a_still_map_is_paused_and_the_estimate_restarts_after() {
        let t = Instant::now();
        let mut est = UpsEstimator::default();
        let (_, age) = run(&mut est, t, 0.0, 60.0, 60, 5);
        let age = age as u64;
        let mut r = est.add(t + Duration::from_secs(65), age);
        assert!(!r.paused, "5 s still is a slow game, not a pause");
        for s in [70, 75] {
            r = est.add(t + Duration::from_secs(s), age);
        }
        assert!(r.paused, "{r:?}");
        // Unpaused: a fresh slope, not one averaged over the pause.
        est.add(t + Duration::from_secs(80), age + 1);
        let r = est.add(t + Duration::from_secs(110), age + 31);
        assert!((r.ups.expect("estimate") - 60.0).abs() <= 2.5, "{r:?}");
    }

    #[test]
    fn exact_ticks_need_no_rounding_allowance() {
        let t = Instant::now();
        let mut est = UpsEstimator::default();
        let mut r = est.add_tick(t, 1_000_003);
        for s in (5..=40).step_by(5) {
            // 45.5 UPS: ticks advance by a fraction per second, truncated.
            r = est.add_tick(
                t + Duration::from_secs(s),
                1_000_003 + (s as f64 * 45.5) as u64,
            );
        }
        let got = r.ups.expect("an estimate after half a window");
        assert!((got - 45.5).abs() < 0.05, "{got}");
        // A tick that stops moving is a pause, as with `/time`.
        let still = 1_000_003 + (40.0 * 45.5) as u64;
        for s in [45, 50, 55] {
            r = est.add_tick(t + Duration::from_secs(s), still);
        }
        assert!(r.paused, "{r:?}");
    }

    #[test]
    fn a_loaded_older_save_resets() {
        let t = Instant::now();
        let mut est = UpsEstimator::default();
        run(&mut est, t, 5000.0, 60.0, 30, 5);
        let r = est.add(t + Duration::from_secs(35), 10);
        assert_eq!(r.ups, None);
        assert_eq!(r.ups_ema, None);
    }
}
