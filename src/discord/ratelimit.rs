//! Discord's HTTP rate limits, planned from its headers so 429s stay rare.
//!
//! Limits are per route and top-level resource (a channel, a webhook), and
//! Discord says how much is left on every reply (`X-RateLimit-Remaining`,
//! `X-RateLimit-Reset-After`). [`RateLimiter`] keeps that per route and
//! answers "when may the next request on this route go"; it never waits
//! itself: the delivery loop turns the answer into its `select!` deadline.
//! Limits are never hard-coded, except our own cap of 50 requests a second
//! for the bot-wide global limit, which Discord does not announce until it
//! is exceeded. Times are passed in, so the logic is tested without clocks.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// The rate-limit facts of one reply.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Headers {
    pub remaining: Option<u32>,
    pub reset_after: Option<f64>,
    pub bucket: Option<String>,
    /// `X-RateLimit-Global: true`.
    pub global: bool,
    /// `X-RateLimit-Scope`: `user`, `global` or `shared`.
    pub scope: Option<String>,
    /// `Retry-After`, in seconds.
    pub retry_after: Option<f64>,
}

impl Headers {
    /// Reads the headers through a look-up by lower-case name.
    pub fn parse(get: impl Fn(&str) -> Option<String>) -> Self {
        // Finite only: "NaN" and "inf" parse, and would poison durations.
        let num = |name: &str| {
            get(name)
                .and_then(|v| v.trim().parse::<f64>().ok())
                .filter(|v| v.is_finite() && *v >= 0.0)
        };
        Self {
            remaining: num("x-ratelimit-remaining").map(|v| v as u32),
            reset_after: num("x-ratelimit-reset-after"),
            bucket: get("x-ratelimit-bucket"),
            global: get("x-ratelimit-global").is_some_and(|v| v.eq_ignore_ascii_case("true")),
            scope: get("x-ratelimit-scope"),
            retry_after: num("retry-after"),
        }
    }
}

/// Requests per second we allow ourselves across every channel route.
pub const GLOBAL_PER_SECOND: usize = 50;

#[derive(Debug, Default)]
struct Route {
    /// No request on this route before this instant.
    blocked_until: Option<Instant>,
}

#[derive(Debug, Default)]
pub struct RateLimiter {
    routes: HashMap<String, Route>,
    /// Set by a global 429.
    global_until: Option<Instant>,
    /// Send times of counted requests within the last second.
    recent: VecDeque<Instant>,
}

impl RateLimiter {
    /// The earliest instant a request on `route` may be sent (`now` or
    /// later). `counted` says whether the route counts towards the global
    /// limit (webhooks and interactions do not).
    pub fn ready_at(&self, route: &str, counted: bool, now: Instant) -> Instant {
        let mut at = now;
        if let Some(r) = self.routes.get(route).and_then(|r| r.blocked_until) {
            at = at.max(r);
        }
        if let Some(g) = self.global_until {
            at = at.max(g);
        }
        if let Some(oldest) = self
            .recent
            .front()
            .filter(|_| counted && self.recent.len() >= GLOBAL_PER_SECOND)
        {
            at = at.max(*oldest + Duration::from_secs(1));
        }
        at
    }

    /// A request on `route` is being sent at `now`.
    pub fn sent(&mut self, counted: bool, now: Instant) {
        while self
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
        {
            self.recent.pop_front();
        }
        if counted {
            self.recent.push_back(now);
        }
    }

    /// Learns from the reply to a request on `route`. `retry_after` is the
    /// body's field of a 429.
    pub fn replied(
        &mut self,
        route: &str,
        status: u16,
        headers: &Headers,
        retry_after: Option<f64>,
        now: Instant,
    ) {
        let after = |secs: f64| {
            let secs = if secs.is_finite() {
                secs.clamp(0.0, 3600.0)
            } else {
                1.0
            };
            now + Duration::from_secs_f64(secs)
        };
        if status == 429 {
            let wait = retry_after.or(headers.retry_after).unwrap_or(1.0);
            let global = headers.global || headers.scope.as_deref() == Some("global");
            if global {
                self.global_until = Some(after(wait));
            } else {
                // `user` and `shared` alike: this route waits; a shared
                // limit is not our fault, but waiting is all there is to do.
                self.routes
                    .entry(route.to_owned())
                    .or_default()
                    .blocked_until = Some(after(wait));
            }
            return;
        }
        let entry = self.routes.entry(route.to_owned()).or_default();
        entry.blocked_until = match (headers.remaining, headers.reset_after) {
            (Some(0), Some(reset)) => Some(after(reset)),
            _ => None,
        };
        if self.global_until.is_some_and(|g| g <= now) {
            self.global_until = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(remaining: u32, reset_after: f64) -> Headers {
        Headers {
            remaining: Some(remaining),
            reset_after: Some(reset_after),
            ..Headers::default()
        }
    }

    #[test]
    fn waits_for_the_reset_when_nothing_remains() {
        let now = Instant::now();
        let mut rl = RateLimiter::default();
        assert_eq!(
            rl.ready_at("channel:1", true, now),
            now,
            "unknown routes may go"
        );
        rl.replied("channel:1", 200, &headers(4, 5.0), None, now);
        assert_eq!(rl.ready_at("channel:1", true, now), now);
        rl.replied("channel:1", 200, &headers(0, 2.5), None, now);
        assert_eq!(
            rl.ready_at("channel:1", true, now),
            now + Duration::from_millis(2500)
        );
        assert_eq!(
            rl.ready_at("channel:2", true, now),
            now,
            "other routes are not held up"
        );
    }

    #[test]
    fn a_429_blocks_its_route_or_everything_when_global() {
        let now = Instant::now();
        let mut rl = RateLimiter::default();
        let user = Headers {
            scope: Some("user".into()),
            ..Headers::default()
        };
        rl.replied("channel:1", 429, &user, Some(1.5), now);
        assert_eq!(
            rl.ready_at("channel:1", true, now),
            now + Duration::from_millis(1500)
        );
        assert_eq!(rl.ready_at("webhook:9", false, now), now);

        let global = Headers {
            global: true,
            scope: Some("global".into()),
            ..Headers::default()
        };
        rl.replied("channel:2", 429, &global, Some(3.0), now);
        assert_eq!(
            rl.ready_at("webhook:9", false, now),
            now + Duration::from_secs(3)
        );
        let later = now + Duration::from_secs(4);
        rl.replied("channel:2", 200, &headers(3, 1.0), None, later);
        assert_eq!(rl.ready_at("webhook:9", false, later), later);
    }

    #[test]
    fn keeps_to_fifty_requests_a_second() {
        let now = Instant::now();
        let mut rl = RateLimiter::default();
        for i in 0..GLOBAL_PER_SECOND {
            let at = now + Duration::from_millis(i as u64);
            assert_eq!(rl.ready_at("channel:1", true, at), at);
            rl.sent(true, at);
        }
        let at = now + Duration::from_millis(100);
        assert_eq!(
            rl.ready_at("channel:1", true, at),
            now + Duration::from_secs(1)
        );
        assert_eq!(
            rl.ready_at("webhook:1", false, at),
            at,
            "webhooks do not count"
        );
        rl.sent(true, now + Duration::from_millis(1000));
        assert_eq!(
            rl.ready_at("channel:1", true, now + Duration::from_millis(1001)),
            now + Duration::from_millis(1001)
        );
    }

    #[test]
    fn nonsense_numbers_do_not_panic() {
        let now = Instant::now();
        let h = Headers::parse(|name| match name {
            "x-ratelimit-remaining" => Some("0".into()),
            "x-ratelimit-reset-after" => Some("NaN".into()),
            "retry-after" => Some("inf".into()),
            _ => None,
        });
        assert_eq!((h.reset_after, h.retry_after), (None, None));
        let mut rl = RateLimiter::default();
        rl.replied("channel:1", 429, &h, Some(f64::NAN), now);
        assert_eq!(
            rl.ready_at("channel:1", true, now),
            now + Duration::from_secs(1)
        );
    }

    #[test]
    fn parses_headers() {
        let h = Headers::parse(|name| match name {
            "x-ratelimit-remaining" => Some("0".into()),
            "x-ratelimit-reset-after" => Some("1.25".into()),
            "x-ratelimit-bucket" => Some("abcd".into()),
            "x-ratelimit-global" => Some("true".into()),
            "x-ratelimit-scope" => Some("global".into()),
            "retry-after" => Some("2".into()),
            _ => None,
        });
        assert_eq!(h.remaining, Some(0));
        assert_eq!(h.reset_after, Some(1.25));
        assert_eq!(h.bucket.as_deref(), Some("abcd"));
        assert!(h.global);
        assert_eq!(h.retry_after, Some(2.0));
    }
}
