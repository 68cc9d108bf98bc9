//! systemd's notify protocol without libsystemd: one datagram per state
//! change to the socket named in `NOTIFY_SOCKET`.
//!
//! With `Type=notify` systemd waits for `READY=1` before it calls the
//! service started, and with `WatchdogSec=` it expects `WATCHDOG=1` more
//! often than `WATCHDOG_USEC`; we ping at half of it, as sd_watchdog_enabled(3)
//! advises. Outside systemd `NOTIFY_SOCKET` is unset and every call is a
//! no-op. A failed send is logged once: the daemon works on without it.

use std::cell::Cell;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::time::Duration;

/// Where to send, as read from the environment at start.
#[derive(Debug)]
pub struct Notifier {
    target: Option<Target>,
    watchdog: Option<Duration>,
    failed: Cell<bool>,
}

#[derive(Debug)]
enum Target {
    Path(PathBuf),
    /// Linux abstract socket (`@name` in `NOTIFY_SOCKET`).
    Abstract(Vec<u8>),
}

impl Notifier {
    /// Reads `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID`.
    pub fn from_env() -> Self {
        Self::from_vars(|name| std::env::var(name).ok(), std::process::id())
    }

    fn from_vars(var: impl Fn(&str) -> Option<String>, pid: u32) -> Self {
        let target = var("NOTIFY_SOCKET").and_then(|s| match s.strip_prefix('@') {
            Some(name) => Some(Target::Abstract(name.as_bytes().to_vec())),
            None if s.starts_with('/') => Some(Target::Path(PathBuf::from(s))),
            None => None,
        });
        // The watchdog is ours only when no PID is named or it is ours.
        let for_us = var("WATCHDOG_PID").is_none_or(|p| p.trim() == pid.to_string());
        let watchdog = var("WATCHDOG_USEC")
            .and_then(|u| u.trim().parse::<u64>().ok())
            .filter(|&u| u > 0 && for_us)
            .map(Duration::from_micros);
        Self {
            target,
            watchdog,
            failed: Cell::new(false),
        }
    }

    /// How often to send `WATCHDOG=1`: half the interval systemd asked for.
    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.watchdog
            .filter(|_| self.target.is_some())
            .map(|w| w / 2)
    }

    pub fn ready(&self, status: &str) {
        self.send(&format!("READY=1\nSTATUS={}", one_line(status)));
    }

    pub fn reloading(&self) {
        self.send("RELOADING=1\nSTATUS=reloading the config");
    }

    pub fn stopping(&self) {
        self.send("STOPPING=1\nSTATUS=stopping");
    }

    pub fn status(&self, status: &str) {
        self.send(&format!("STATUS={}", one_line(status)));
    }

    pub fn watchdog(&self) {
        self.send("WATCHDOG=1");
    }

    fn send(&self, message: &str) {
        let Some(target) = &self.target else { return };
        let result = UnixDatagram::unbound().and_then(|socket| match target {
            Target::Path(path) => socket.send_to(message.as_bytes(), path),
            Target::Abstract(name) => abstract_send(&socket, name, message.as_bytes()),
        });
        match result {
            Ok(_) => self.failed.set(false),
            Err(e) => {
                if !self.failed.replace(true) {
                    log::warn!("cannot notify systemd through NOTIFY_SOCKET: {e}");
                }
            }
        }
    }
}

#[cfg(target_os = "linux")]
fn abstract_send(socket: &UnixDatagram, name: &[u8], message: &[u8]) -> std::io::Result<usize> {
    use std::os::linux::net::SocketAddrExt;
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
    socket.send_to_addr(message, &addr)
}

#[cfg(not(target_os = "linux"))]
fn abstract_send(_: &UnixDatagram, _: &[u8], _: &[u8]) -> std::io::Result<usize> {
    Err(std::io::ErrorKind::Unsupported.into())
}

/// A STATUS value must not break the newline-separated protocol.
fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(list: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let list: Vec<(String, String)> = list
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| list.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    #[test]
    fn the_watchdog_is_half_the_interval_and_only_for_our_pid() {
        let n = Notifier::from_vars(
            vars(&[("NOTIFY_SOCKET", "/run/x"), ("WATCHDOG_USEC", "30000000")]),
            7,
        );
        assert_eq!(n.watchdog_interval(), Some(Duration::from_secs(15)));
        let n = Notifier::from_vars(
            vars(&[
                ("NOTIFY_SOCKET", "/run/x"),
                ("WATCHDOG_USEC", "30000000"),
                ("WATCHDOG_PID", "8"),
            ]),
            7,
        );
        assert_eq!(n.watchdog_interval(), None);
        let n = Notifier::from_vars(vars(&[("WATCHDOG_USEC", "30000000")]), 7);
        assert_eq!(n.watchdog_interval(), None, "no socket, nobody to ping");
    }

    #[test]
    fn messages_arrive_on_a_path_and_an_abstract_socket() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("notify");
        let socket = UnixDatagram::bind(&path).expect("bind");
        let n = Notifier::from_vars(vars(&[("NOTIFY_SOCKET", &path.to_string_lossy())]), 1);
        n.ready("following 1 log\nsecond line");
        let mut buf = [0u8; 256];
        let len = socket.recv(&mut buf).expect("recv");
        assert_eq!(
            std::str::from_utf8(&buf[..len]).expect("utf-8"),
            "READY=1\nSTATUS=following 1 log second line"
        );

        let name = format!("factorio-isr-test-{}", std::process::id());
        #[cfg(target_os = "linux")]
        {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())
                .expect("abstract name");
            let socket = UnixDatagram::bind_addr(&addr).expect("bind abstract");
            let n = Notifier::from_vars(vars(&[("NOTIFY_SOCKET", &format!("@{name}"))]), 1);
            n.stopping();
            let len = socket.recv(&mut buf).expect("recv");
            assert_eq!(&buf[..len], b"STOPPING=1\nSTATUS=stopping");
        }
    }
}
