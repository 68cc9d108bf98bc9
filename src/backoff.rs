//! Exponential backoff with jitter, shared by Discord delivery and RCON
//! reconnects: retries spread out, yet never hammer a struggling server.

use std::time::Duration;

/// The wait after `failures` consecutive failures: `min` doubling up to
/// `max`, half of it fixed and half random (`jitter` in [0, 1)).
pub fn delay(failures: u32, min: Duration, max: Duration, jitter: f64) -> Duration {
    let exp = min
        .saturating_mul(1 << (failures.clamp(1, 17) - 1))
        .min(max);
    exp / 2 + exp.mul_f64(jitter.clamp(0.0, 1.0) / 2.0)
}

/// A source of jitter (xorshift, seeded from the clock; nothing to secure).
#[derive(Debug)]
pub struct Jitter(u64);

impl Jitter {
    pub fn seeded() -> Self {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0x9e37_79b9, |d| d.as_nanos() as u64);
        Self(seed | 1)
    }

    /// A number in [0, 1).
    pub fn sample(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_within_bounds_with_jitter() {
        let (min, max) = (Duration::from_secs(1), Duration::from_secs(30));
        assert_eq!(delay(1, min, max, 0.5), Duration::from_millis(750));
        assert_eq!(delay(3, min, max, 0.0), Duration::from_secs(2));
        assert_eq!(
            delay(40, min, max, 0.999_999),
            max.mul_f64(0.5 + 0.999_999 / 2.0)
        );
        let mut j = Jitter::seeded();
        assert!(
            (0..1000)
                .map(|_| j.sample())
                .all(|x| (0.0..1.0).contains(&x))
        );
    }
}
