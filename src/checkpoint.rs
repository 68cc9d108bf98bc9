//! Durable read positions, and the state directory that holds them.
//!
//! A [`Checkpoint`] says "every event from this file up to this offset has
//! been delivered". It names the file by identity (device, inode and a
//! fingerprint of its first bytes, so a reused inode is not mistaken for the
//! old file), not only by path, so a restart can tell whether the file was
//! rotated while the daemon was down.
//!
//! Writes are atomic (temp file, fsync, rename, fsync of the directory): a
//! crash leaves the old checkpoint or the new one, never half of one. The
//! [`StateDir`] also holds a lock so that two daemons never share state
//! (they would post everything twice).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// How many leading bytes identify a file's content.
pub const FINGERPRINT_BYTES: u64 = 256;

/// Which file on disk, independent of its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
}

impl FileId {
    pub fn of(meta: &fs::Metadata) -> Self {
        Self {
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }
}

/// A hash of a file's first `len` bytes (`len` grows up to
/// [`FINGERPRINT_BYTES`] as the file does).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    pub len: u64,
    pub hash: u64,
}

impl Fingerprint {
    /// Reads the fingerprint of `file` over its first `len` bytes at most.
    pub fn read(file: &mut File, len: u64) -> io::Result<Self> {
        // `len` may come from a checkpoint file: never trust it for memory.
        let len = len.min(FINGERPRINT_BYTES);
        let mut buf = Vec::with_capacity(len as usize);
        file.seek(SeekFrom::Start(0))?;
        file.take(len).read_to_end(&mut buf)?;
        Ok(Self {
            len: buf.len() as u64,
            hash: fnv1a(&buf),
        })
    }

    /// Whether `file` still starts with the bytes this fingerprint saw.
    pub fn matches(&self, file: &mut File) -> io::Result<bool> {
        Ok(Self::read(file, self.len)? == *self)
    }
}

/// FNV-1a: tiny, and plenty to tell two log files apart.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A position in one particular file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    pub id: FileId,
    pub fingerprint: Fingerprint,
    /// Byte offset just past the last line counted.
    pub offset: u64,
}

impl Cursor {
    /// A number that names the line ending here, the same in every run:
    /// its file, its offset and its text (a truncated file reuses inode and
    /// offsets, but not, with Factorio's timestamps, the same text).
    pub fn stable_id(&self, line: &str) -> u64 {
        let mut bytes = Vec::with_capacity(24 + line.len());
        bytes.extend_from_slice(&self.id.dev.to_le_bytes());
        bytes.extend_from_slice(&self.id.ino.to_le_bytes());
        bytes.extend_from_slice(&self.offset.to_le_bytes());
        bytes.extend_from_slice(line.as_bytes());
        fnv1a(&bytes)
    }
}

/// What is stored per followed file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The configured path, to notice a checkpoint of some other file.
    pub path: PathBuf,
    pub cursor: Cursor,
    /// Seconds since the epoch when it was written.
    pub saved_at: u64,
}

impl Checkpoint {
    pub fn new(path: &Path, cursor: Cursor) -> Self {
        let saved_at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        Self {
            path: path.to_owned(),
            cursor,
            saved_at,
        }
    }

    /// How long ago it was written (zero if the clock went backwards).
    pub fn age(&self) -> Duration {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        Duration::from_secs(now.saturating_sub(self.saved_at))
    }
}

/// Why the state directory cannot be used; each is fatal at start-up.
#[derive(Debug)]
pub enum Error {
    /// The directory cannot be created or written.
    Unusable { dir: PathBuf, reason: io::Error },
    /// Another daemon holds the lock.
    Locked { dir: PathBuf, pid: Option<u32> },
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Unusable { dir, reason } => write!(
                f,
                "state_dir {}: {reason} (it must be a directory the daemon can write; set `state_dir` in the config)",
                dir.display()
            ),
            Error::Locked {
                dir,
                pid: Some(pid),
            } => write!(
                f,
                "another factorio-isr (pid {pid}) is using state_dir {}; stop it, or give this one its own state_dir \
                 (two daemons on one state would post every event twice)",
                dir.display()
            ),
            Error::Locked { dir, pid: None } => write!(
                f,
                "another factorio-isr is using state_dir {}; stop it, or give this one its own state_dir",
                dir.display()
            ),
        }
    }
}

/// The locked state directory. The lock is released when this is dropped
/// (or the process ends, however it ends).
#[derive(Debug)]
pub struct StateDir {
    dir: PathBuf,
    /// `None` for a state dir that could not be used at start.
    _lock: Option<File>,
    /// When the previous daemon on this state was last seen alive.
    previous_alive: Option<SystemTime>,
    /// Why this state dir cannot be used, when it cannot.
    broken: Option<String>,
}

impl StateDir {
    /// Creates the directory if needed, takes the lock and checks that
    /// checkpoints can be written.
    pub fn open(dir: &Path) -> Result<Self, Error> {
        let unusable = |reason| Error::Unusable {
            dir: dir.to_owned(),
            reason,
        };
        fs::create_dir_all(dir).map_err(unusable)?;
        let lock_path = dir.join("lock");
        let mut lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(unusable)?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = lock.read_to_string(&mut text);
                return Err(Error::Locked {
                    dir: dir.to_owned(),
                    pid: text.trim().parse().ok(),
                });
            }
            Err(fs::TryLockError::Error(e)) => return Err(unusable(e)),
        }
        lock.set_len(0).map_err(unusable)?;
        writeln!(lock, "{}", std::process::id()).map_err(unusable)?;
        lock.sync_all().map_err(unusable)?;
        let previous_alive = fs::metadata(dir.join("alive"))
            .and_then(|m| m.modified())
            .ok();
        let state = Self {
            dir: dir.to_owned(),
            _lock: Some(lock),
            previous_alive,
            broken: None,
        };
        // Prove now, not at the first checkpoint, that writes work.
        write_atomic(&state.dir.join("probe"), b"ok\n").map_err(unusable)?;
        let _ = fs::remove_file(state.dir.join("probe"));
        Ok(state)
    }

    /// A state dir that could not be opened: the daemon runs without
    /// checkpoints (and without the lock), every save fails with `reason`,
    /// and /health says so, rather than the bridge staying down.
    pub fn unusable(dir: &Path, reason: String) -> Self {
        Self {
            dir: dir.to_owned(),
            _lock: None,
            previous_alive: None,
            broken: Some(reason),
        }
    }

    /// Why this state dir cannot be used, if it cannot.
    pub fn broken(&self) -> Option<&str> {
        self.broken.as_deref()
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// How long no daemon ran on this state: since the previous one was
    /// last seen alive ([`StateDir::touch_alive`]), if it ever was.
    pub fn downtime(&self) -> Option<Duration> {
        self.previous_alive
            .map(|t| SystemTime::now().duration_since(t).unwrap_or_default())
    }

    /// Marks this daemon alive now. Called every minute and at shutdown, so
    /// the next start knows how long the bridge was really down (a quiet
    /// server's checkpoint can be hours old without any downtime). No
    /// fsync: a minute's error is harmless, and SD cards last longer.
    pub fn touch_alive(&self) {
        if let Err(e) = fs::write(self.dir.join("alive"), format!("{}\n", std::process::id())) {
            log::debug!(
                "cannot mark the daemon alive in {}: {e}",
                self.dir.display()
            );
        }
    }

    /// Where the checkpoint of `server`'s file `log_path` lives: named after
    /// a hash of the path, so reordering `log_paths` changes nothing.
    pub fn checkpoint_path(&self, server: &str, log_path: &Path) -> PathBuf {
        let hash = fnv1a(log_path.as_os_str().as_encoded_bytes());
        self.dir
            .join(format!("{server}-{hash:016x}.checkpoint.json"))
    }

    /// The stored checkpoint, if there is a usable one for this path.
    pub fn load(&self, server: &str, log_path: &Path) -> Option<Checkpoint> {
        let file = self.checkpoint_path(server, log_path);
        let text = fs::read_to_string(&file).ok()?;
        match serde_json::from_str::<Checkpoint>(&text) {
            Ok(cp) if cp.path == log_path => Some(cp),
            Ok(_) => None,
            Err(e) => {
                log::warn!("ignoring unreadable checkpoint {}: {e}", file.display());
                None
            }
        }
    }

    /// Writes `checkpoint` atomically.
    pub fn save(&self, server: &str, checkpoint: &Checkpoint) -> io::Result<()> {
        if let Some(why) = &self.broken {
            return Err(io::Error::other(why.clone()));
        }
        let text = serde_json::to_vec(checkpoint).map_err(io::Error::other)?;
        write_atomic(&self.checkpoint_path(server, &checkpoint.path), &text)
    }
}

/// A small JSON state file (`defaults.json`, `live-messages.json`): a
/// missing, unreadable or corrupt one is the empty value, whose only cost
/// is something done again (a member's `connect`, a status message posted
/// anew).
pub fn read_json_or_default<T: serde::de::DeserializeOwned + Default>(path: &Path) -> T {
    fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// Write to a temp file, fsync it, rename it over `path`, fsync the
/// directory: readers and crashes see the old content or the new.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_round_trip_and_belong_to_their_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = StateDir::open(&dir.path().join("state")).expect("state dir");
        let cursor = Cursor {
            id: FileId { dev: 1, ino: 2 },
            fingerprint: Fingerprint { len: 3, hash: 4 },
            offset: 5,
        };
        let cp = Checkpoint::new(Path::new("/logs/console.log"), cursor);
        state.save("prod", &cp).expect("save");
        assert_eq!(
            state.load("prod", Path::new("/logs/console.log")),
            Some(cp.clone())
        );
        assert_eq!(state.load("prod", Path::new("/logs/other.log")), None);
        assert_eq!(state.load("test", Path::new("/logs/console.log")), None);
        assert!(cp.age() < Duration::from_secs(5));

        std::fs::write(
            state.checkpoint_path("prod", Path::new("/logs/console.log")),
            "{garbage",
        )
        .expect("write");
        assert_eq!(state.load("prod", Path::new("/logs/console.log")), None);
    }

    #[test]
    fn a_second_open_names_the_first_holder() {
        let dir = tempfile::tempdir().expect("tempdir");
        let _first = StateDir::open(dir.path()).expect("first");
        let err = StateDir::open(dir.path())
            .expect_err("second must fail")
            .to_string();
        assert!(
            err.contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        assert!(err.contains(&dir.path().display().to_string()), "{err}");
    }

    #[test]
    fn an_unusable_dir_is_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("file");
        std::fs::write(&file, "x").expect("write");
        let err = StateDir::open(&file.join("state"))
            .expect_err("unusable")
            .to_string();
        assert!(
            err.starts_with(&format!("state_dir {}", file.join("state").display())),
            "{err}"
        );
    }

    #[test]
    fn fingerprints_see_replaced_content() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f");
        std::fs::write(&path, "hello world").expect("write");
        let mut f = File::open(&path).expect("open");
        let fp = Fingerprint::read(&mut f, FINGERPRINT_BYTES).expect("read");
        assert_eq!(fp.len, 11);
        assert!(fp.matches(&mut f).expect("match"));
        std::fs::write(&path, "HELLO world, longer now").expect("rewrite");
        let mut f = File::open(&path).expect("open");
        assert!(!fp.matches(&mut f).expect("match"));
    }
}
