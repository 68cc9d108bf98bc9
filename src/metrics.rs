//! `/metrics`: the [`Health`] state in the Prometheus text exposition
//! format (version 0.0.4).
//!
//! Every family is written with its `# HELP` and `# TYPE` lines even when
//! it has no samples yet, so dashboards and alert rules can be written
//! against a fresh daemon. Label values are escaped as the format demands
//! (backslash, double quote, newline); server IDs and paths come from the
//! admin's config, but a path may hold anything.

use std::fmt::Write;

use crate::health::Health;

/// A family being written: its header, then samples.
struct Family<'a> {
    out: &'a mut String,
    name: &'static str,
}

impl Family<'_> {
    fn sample(&mut self, labels: &[(&str, &str)], value: f64) {
        self.sample_of("", labels, value);
    }

    /// A sample of a series with a suffix (`_sum`, `_count`).
    fn sample_of(&mut self, suffix: &str, labels: &[(&str, &str)], value: f64) {
        self.out.push_str(self.name);
        self.out.push_str(suffix);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"{}\"", escape(v));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {}", number(value));
    }
}

fn family<'a>(out: &'a mut String, name: &'static str, kind: &str, help: &str) -> Family<'a> {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    Family { out, name }
}

/// Integers print without a fraction; non-finite values as the format
/// spells them.
fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_owned()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// The whole exposition.
pub fn render(health: &Health) -> String {
    let s = health.lock().clone();
    let (status, _) = health.verdict();
    let mut out = String::with_capacity(4096);
    let o = &mut out;

    family(
        o,
        "factorio_isr_build_info",
        "gauge",
        "Version of the running daemon.",
    )
    .sample(&[("version", env!("CARGO_PKG_VERSION"))], 1.0);
    family(
        o,
        "process_start_time_seconds",
        "gauge",
        "Start time of the process since the Unix epoch, in seconds.",
    )
    .sample(&[], health.started_unix().floor());
    family(
        o,
        "factorio_isr_healthy",
        "gauge",
        "1 while /health answers 200 (healthy or degraded), 0 while it answers 503.",
    )
    .sample(
        &[],
        f64::from(u8::from(status != crate::health::Status::Unhealthy)),
    );

    let mut f = family(
        o,
        "factorio_isr_events_total",
        "counter",
        "Events matched in the game logs or raised by the monitor, by server and kind.",
    );
    for ((server, kind), n) in &s.counters.events {
        f.sample(&[("server", server), ("kind", kind.name())], *n as f64);
    }
    let c = &s.counters;
    for (name, help, value) in [
        (
            "factorio_isr_messages_sent_total",
            "Discord messages posted (each part of a split message counts).",
            c.messages_sent,
        ),
        (
            "factorio_isr_events_delivered_total",
            "Events Discord has accepted.",
            c.events_delivered,
        ),
        (
            "factorio_isr_events_coalesced_total",
            "Events that shared a message with an earlier event.",
            c.coalesced,
        ),
        (
            "factorio_isr_rate_limited_total",
            "Discord answers with status 429.",
            c.rate_limited,
        ),
        (
            "factorio_isr_retries_total",
            "Posts that failed and will be tried again.",
            c.retries,
        ),
        (
            "factorio_isr_messages_rejected_total",
            "Messages Discord refused as invalid (400); they are skipped.",
            c.rejected,
        ),
        (
            "factorio_isr_config_reloads_total",
            "Config reloads applied (SIGHUP).",
            c.reloads,
        ),
        (
            "factorio_isr_config_reload_failures_total",
            "Config reloads refused because the new config was invalid.",
            c.reload_failures,
        ),
    ] {
        family(o, name, "counter", help).sample(&[], value as f64);
    }

    let mut f = family(
        o,
        "factorio_isr_outbox_depth",
        "gauge",
        "Events waiting to be posted, by destination.",
    );
    for (dest, d) in &s.discord.destinations {
        f.sample(&[("destination", dest)], d.pending as f64);
    }

    let mut f = family(
        o,
        "factorio_isr_follower_lag_bytes",
        "gauge",
        "Bytes of a followed log not yet delivered.",
    );
    for fl in &s.followers {
        let path = fl.path.display().to_string();
        f.sample(
            &[("server", &fl.server), ("path", &path)],
            fl.lag_bytes as f64,
        );
    }
    let mut f = family(
        o,
        "factorio_isr_follower_file_present",
        "gauge",
        "1 while the followed log file exists and is open.",
    );
    for fl in &s.followers {
        let path = fl.path.display().to_string();
        f.sample(
            &[("server", &fl.server), ("path", &path)],
            f64::from(u8::from(fl.present)),
        );
    }

    let mut f = family(
        o,
        "factorio_isr_rcon_up",
        "gauge",
        "1 while the RCON connection to the server works.",
    );
    for r in &s.rcon {
        f.sample(
            &[("server", &r.server)],
            f64::from(u8::from(r.up == Some(true))),
        );
    }
    let mut f = family(
        o,
        "factorio_isr_rcon_command_seconds",
        "summary",
        "Time from sending an RCON command to its answer.",
    );
    for r in &s.rcon {
        // No quantiles: the sum and count give the mean, which is what
        // an admin watches for a server that starts to lag.
        f.sample_of("_sum", &[("server", &r.server)], r.command_seconds);
        f.sample_of("_count", &[("server", &r.server)], r.commands as f64);
    }
    let mut f = family(
        o,
        "factorio_isr_evolution",
        "gauge",
        "Enemy evolution factor (0 to 1), per surface.",
    );
    for r in &s.rcon {
        for (surface, factor) in &r.evolution {
            f.sample(&[("server", &r.server), ("surface", surface)], *factor);
        }
    }
    let mut f = family(
        o,
        "factorio_isr_research_progress",
        "gauge",
        "Progress (0 to 1) of the technology being researched; needs allow_lua.",
    );
    for r in &s.rcon {
        if let Some((technology, progress)) = &r.research {
            f.sample(
                &[("server", &r.server), ("technology", technology)],
                *progress,
            );
        }
    }
    let now = std::time::Instant::now();
    let mut f = family(
        o,
        "factorio_isr_last_sample_age_seconds",
        "gauge",
        "Seconds since the game last answered the monitor's poll.",
    );
    for r in &s.rcon {
        if let Some(at) = r.last_sample {
            f.sample(
                &[("server", &r.server)],
                now.saturating_duration_since(at).as_secs_f64().floor(),
            );
        }
    }
    for (name, help, get) in [
        (
            "factorio_isr_ups",
            "Game updates per second over the last window of samples, its mean (60 is full speed).",
            (|r: &crate::health::Rcon| r.ups_window) as fn(&crate::health::Rcon) -> Option<f64>,
        ),
        (
            "factorio_isr_ups_ema",
            "Game updates per second, exponential moving average of the window means; what alerts use.",
            |r| r.ups,
        ),
        (
            "factorio_isr_players_online",
            "Players connected to the server.",
            |r| r.players_online.map(|n| n as f64),
        ),
    ] {
        let mut f = family(o, name, "gauge", help);
        for r in &s.rcon {
            if let Some(v) = get(r) {
                f.sample(&[("server", &r.server)], v);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_labels_follow_the_format() {
        assert_eq!(number(3.0), "3");
        assert_eq!(number(59.5), "59.5");
        assert_eq!(number(f64::NAN), "NaN");
        assert_eq!(number(f64::INFINITY), "+Inf");
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
