//! Wake-ups for followers when their files change.
//!
//! On Linux one `watch` thread owns an inotify instance watching the
//! directory of each followed path (and of its symlink target), so
//! creation, rename, deletion, truncation and appends are all seen, and
//! wakes the follower of the file an event names. Directories are watched
//! rather than files because a rotated file's watch would follow the old
//! inode. Where inotify is unavailable (another OS, NFS, a missing
//! directory, exhausted watch limits) the follower is told to poll.
//!
//! Wake-ups are coalesced: each follower has a one-slot channel, and a
//! wake-up that finds the slot full is dropped, since the follower will read
//! everything there is anyway.

use std::path::{Path, PathBuf};

use crossbeam_channel::Sender;

/// A followed path and how to wake its follower.
pub struct Target {
    pub path: PathBuf,
    pub wake: Sender<()>,
}

/// The directory and file name to watch for `path`, and for its target when
/// it is a symlink.
fn watch_points(path: &Path) -> Vec<(PathBuf, std::ffi::OsString)> {
    let mut points = Vec::new();
    let mut add = |p: &Path| {
        let dir = match p.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
            _ => PathBuf::from("."),
        };
        if let Some(name) = p.file_name() {
            let point = (dir, name.to_owned());
            if !points.contains(&point) {
                points.push(point);
            }
        }
    };
    add(path);
    if let Ok(target) = std::fs::canonicalize(path) {
        add(&target);
    }
    points
}

/// Directory watches and whom each wakes, shared by the reader thread and
/// [`Watcher::add`].
#[cfg(target_os = "linux")]
type Wakes = std::sync::Arc<
    std::sync::Mutex<
        std::collections::HashMap<inotify::WatchDescriptor, Vec<(std::ffi::OsString, Sender<()>)>>,
    >,
>;

/// The process's one inotify instance. It outlives config reloads: each
/// run's followers register with [`Watcher::add`], and registrations whose
/// follower is gone are dropped at the next `add`.
pub struct Watcher {
    #[cfg(target_os = "linux")]
    inner: Option<(inotify::Watches, Wakes)>,
}

#[cfg(target_os = "linux")]
impl Watcher {
    /// Starts the `watch` thread; without inotify, every follower polls.
    pub fn start() -> Self {
        use inotify::Inotify;

        let mut inotify = match Inotify::init() {
            Ok(i) => i,
            Err(e) => {
                log::warn!("inotify is unavailable ({e}); polling the log files instead");
                return Self { inner: None };
            }
        };
        let watches = inotify.watches();
        let wakes = Wakes::default();
        let shared = wakes.clone();
        let spawned = std::thread::Builder::new()
            .name("watch".to_owned())
            .stack_size(64 * 1024)
            .spawn(move || {
                let mut buf = [0u8; 4096];
                loop {
                    let events = match inotify.read_events_blocking(&mut buf) {
                        Ok(events) => events,
                        Err(e) => {
                            log::error!(
                                "inotify failed ({e}); followers fall back to their safety checks"
                            );
                            return;
                        }
                    };
                    let wakes = shared.lock().unwrap_or_else(|e| e.into_inner());
                    for event in events {
                        // The kernel's queue overflowed, or a watched
                        // directory went away: anything may have changed.
                        if event.mask.intersects(
                            inotify::EventMask::Q_OVERFLOW | inotify::EventMask::IGNORED,
                        ) {
                            for (_, wake) in wakes.values().flatten() {
                                let _ = wake.try_send(());
                            }
                            continue;
                        }
                        for (name, wake) in wakes.get(&event.wd).into_iter().flatten() {
                            if event.name.is_none_or(|n| n == name) {
                                let _ = wake.try_send(());
                            }
                        }
                    }
                }
            });
        match spawned {
            Ok(_) => Self {
                inner: Some((watches, wakes)),
            },
            Err(e) => {
                log::warn!("cannot start the watch thread ({e}); polling the log files instead");
                Self { inner: None }
            }
        }
    }

    /// Watches each target; returns, per target, whether it is watched
    /// (false: the follower must poll).
    pub fn add(&self, targets: Vec<Target>) -> Vec<bool> {
        use inotify::WatchMask;

        let Some((watches, wakes)) = &self.inner else {
            return vec![false; targets.len()];
        };
        let mut watches = watches.clone();
        let mut wakes = wakes.lock().unwrap_or_else(|e| e.into_inner());
        // Forget followers of an earlier run. A live one gets a wake-up it
        // does not need, which only makes it look at its file.
        wakes.retain(|wd, list| {
            list.retain(|(_, wake)| {
                !matches!(
                    wake.try_send(()),
                    Err(crossbeam_channel::TrySendError::Disconnected(_))
                )
            });
            if list.is_empty() {
                let _ = watches.remove(wd.clone());
            }
            !list.is_empty()
        });
        let mask = WatchMask::MODIFY
            | WatchMask::CREATE
            | WatchMask::MOVED_TO
            | WatchMask::MOVED_FROM
            | WatchMask::DELETE
            | WatchMask::CLOSE_WRITE
            | WatchMask::ATTRIB;
        let mut watched = Vec::with_capacity(targets.len());
        for target in &targets {
            let mut ok = true;
            for (dir, name) in watch_points(&target.path) {
                match watches.add(&dir, mask) {
                    Ok(wd) => wakes
                        .entry(wd)
                        .or_default()
                        .push((name, target.wake.clone())),
                    Err(e) => {
                        log::warn!(
                            "cannot watch {} ({e}); polling {} instead",
                            dir.display(),
                            target.path.display()
                        );
                        ok = false;
                    }
                }
            }
            watched.push(ok);
        }
        watched
    }

    /// Directories watched now.
    pub fn watched_dirs(&self) -> usize {
        self.inner.as_ref().map_or(0, |(_, wakes)| {
            wakes.lock().unwrap_or_else(|e| e.into_inner()).len()
        })
    }
}

#[cfg(not(target_os = "linux"))]
impl Watcher {
    /// Without inotify every follower polls.
    pub fn start() -> Self {
        Self {}
    }

    pub fn add(&self, targets: Vec<Target>) -> Vec<bool> {
        vec![false; targets.len()]
    }

    pub fn watched_dirs(&self) -> usize {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_are_watched_at_both_ends() {
        let dir = tempfile::tempdir().expect("tempdir");
        let real = dir.path().join("real");
        std::fs::create_dir(&real).expect("mkdir");
        std::fs::write(real.join("a.log"), "").expect("write");
        let link = dir.path().join("console.log");
        std::os::unix::fs::symlink(real.join("a.log"), &link).expect("symlink");
        let points = watch_points(&link);
        assert_eq!(points.len(), 2);
        assert_eq!(points[0], (dir.path().to_owned(), "console.log".into()));
        assert_eq!(points[1].1, std::ffi::OsString::from("a.log"));
        assert_eq!(
            watch_points(Path::new("console.log")),
            vec![(PathBuf::from("."), "console.log".into())]
        );
    }

    #[test]
    fn appends_wake_the_follower() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("console.log");
        let (tx, rx) = crossbeam_channel::bounded(1);
        let watcher = Watcher::start();
        assert_eq!(
            watcher.add(vec![Target {
                path: path.clone(),
                wake: tx
            }]),
            vec![true]
        );
        std::fs::write(dir.path().join("other.log"), "noise\n").expect("write");
        std::fs::write(&path, "line\n").expect("write");
        assert_eq!(rx.recv_timeout(std::time::Duration::from_secs(10)), Ok(()));
    }

    /// A reload registers new followers; the old run's watches go.
    #[test]
    fn watches_of_stopped_followers_are_dropped() {
        let a = tempfile::tempdir().expect("tempdir");
        let b = tempfile::tempdir().expect("tempdir");
        let watcher = Watcher::start();
        let (tx, rx) = crossbeam_channel::bounded(1);
        let target = |dir: &Path, wake| Target {
            path: dir.join("console.log"),
            wake,
        };
        assert_eq!(watcher.add(vec![target(a.path(), tx)]), vec![true]);
        assert_eq!(watcher.watched_dirs(), 1);
        drop(rx);
        let (tx, rx) = crossbeam_channel::bounded(1);
        assert_eq!(watcher.add(vec![target(b.path(), tx)]), vec![true]);
        assert_eq!(watcher.watched_dirs(), 1, "only b is left");
        std::fs::write(b.path().join("console.log"), "line\n").expect("write");
        assert_eq!(rx.recv_timeout(std::time::Duration::from_secs(10)), Ok(()));
    }
}
