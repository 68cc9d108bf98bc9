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

/// Starts watching; returns, per target, whether it is watched (false: the
/// follower must poll).
#[cfg(target_os = "linux")]
pub fn start(targets: Vec<Target>) -> Vec<bool> {
    use std::collections::HashMap;

    use inotify::{Inotify, WatchDescriptor, WatchMask};

    let mut inotify = match Inotify::init() {
        Ok(i) => i,
        Err(e) => {
            log::warn!("inotify is unavailable ({e}); polling the log files instead");
            return vec![false; targets.len()];
        }
    };
    let mask = WatchMask::MODIFY
        | WatchMask::CREATE
        | WatchMask::MOVED_TO
        | WatchMask::MOVED_FROM
        | WatchMask::DELETE
        | WatchMask::CLOSE_WRITE
        | WatchMask::ATTRIB;
    let mut wakes: HashMap<WatchDescriptor, Vec<(std::ffi::OsString, Sender<()>)>> = HashMap::new();
    let mut watched = Vec::with_capacity(targets.len());
    for target in &targets {
        let mut ok = true;
        for (dir, name) in watch_points(&target.path) {
            match inotify.watches().add(&dir, mask) {
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
                for event in events {
                    // The kernel's queue overflowed, or a watched directory
                    // went away: anything may have changed, wake everyone.
                    if event
                        .mask
                        .intersects(inotify::EventMask::Q_OVERFLOW | inotify::EventMask::IGNORED)
                    {
                        for list in wakes.values() {
                            for (_, wake) in list {
                                let _ = wake.try_send(());
                            }
                        }
                        continue;
                    }
                    let Some(list) = wakes.get(&event.wd) else {
                        continue;
                    };
                    for (name, wake) in list {
                        if event.name.is_none_or(|n| n == name) {
                            let _ = wake.try_send(());
                        }
                    }
                }
            }
        });
    match spawned {
        Ok(_) => watched,
        Err(e) => {
            log::warn!("cannot start the watch thread ({e}); polling the log files instead");
            vec![false; targets.len()]
        }
    }
}

/// Starts watching; without inotify every follower polls.
#[cfg(not(target_os = "linux"))]
pub fn start(targets: Vec<Target>) -> Vec<bool> {
    vec![false; targets.len()]
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
        assert_eq!(
            start(vec![Target {
                path: path.clone(),
                wake: tx
            }]),
            vec![true]
        );
        std::fs::write(dir.path().join("other.log"), "noise\n").expect("write");
        std::fs::write(&path, "line\n").expect("write");
        assert_eq!(rx.recv_timeout(std::time::Duration::from_secs(10)), Ok(()));
    }
}
