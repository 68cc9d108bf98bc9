//! `factorio-isr healthcheck [URL]`: asks a running daemon's `/health`, for
//! images without curl (Docker's HEALTHCHECK in a scratch image).
//!
//! Exit 0 when the answer is 200 (healthy or degraded), 1 otherwise; one
//! line on stdout says what was found.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

/// Where a daemon listens when the config says nothing.
pub const DEFAULT_URL: &str = "http://127.0.0.1:8080/health";

/// Long enough for a busy host, short enough for Docker's default
/// 30 s HEALTHCHECK timeout.
const TIMEOUT: Duration = Duration::from_secs(5);

/// The URL to ask for a `health.bind` address: a wildcard bind is reached
/// on loopback.
pub fn url_for(bind: SocketAddr) -> String {
    let ip = match bind.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}/health", SocketAddr::new(ip, bind.port()))
}

/// Asks `url`; `Ok` with the line to print when healthy, `Err` with it
/// when not.
pub fn check(url: &str) -> Result<String, String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(TIMEOUT))
        .build()
        .into();
    let mut reply = agent
        .get(url)
        .call()
        .map_err(|e| format!("unhealthy: no answer from {url}: {e} (is the daemon running, and is health.bind this address?)"))?;
    let status = reply.status().as_u16();
    let body = reply
        .body_mut()
        .with_config()
        .limit(1 << 20)
        .read_to_string()
        .unwrap_or_default();
    let parsed: Option<serde_json::Value> = serde_json::from_str(&body).ok();
    let verdict = parsed
        .as_ref()
        .and_then(|v| v["status"].as_str())
        .unwrap_or("unknown")
        .to_owned();
    let reasons: Vec<&str> = parsed
        .as_ref()
        .and_then(|v| v["reasons"].as_array())
        .map(|a| a.iter().filter_map(|r| r.as_str()).collect())
        .unwrap_or_default();
    let line = if reasons.is_empty() {
        verdict
    } else {
        format!("{verdict}: {}", reasons.join("; "))
    };
    if status == 200 {
        Ok(line)
    } else {
        Err(format!("{line} (HTTP {status})"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_binds_are_asked_on_loopback() {
        let url = |s: &str| url_for(s.parse().expect("address"));
        assert_eq!(url("0.0.0.0:8080"), "http://127.0.0.1:8080/health");
        assert_eq!(url("[::]:9000"), "http://127.0.0.1:9000/health");
        assert_eq!(url("10.0.0.5:8080"), "http://10.0.0.5:8080/health");
        assert_eq!(url("[::1]:8080"), "http://[::1]:8080/health");
    }
}
