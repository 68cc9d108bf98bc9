//! Following a log file: turns appended bytes into complete lines, whatever
//! happens to the file.
//!
//! [`Follower`] owns one configured path and the file currently open under
//! it. Each [`Follower::poll`] reads what was appended (at most a batch),
//! then checks the path: a different file there (rename and create, delete
//! and recreate, symlink swap) means the open file is read to its end, its
//! unfinished last line counts as complete, and the new file is followed
//! from its start; the same file shorter than the read position, or with
//! different first bytes, means it was truncated (copytruncate, `> file`)
//! and is read again from the start. A missing file is waited for.
//!
//! Every line carries the [`Cursor`] just past it, which the caller turns
//! into a checkpoint once the line's events are delivered; a restart hands
//! that checkpoint back ([`Start::Resume`]) and reading goes on from there,
//! in the same file or, if it was rotated while the daemon was down, in the
//! rotated file found by its identity and then in the new one.
//!
//! The follower does no waiting and knows nothing of events or threads.

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::checkpoint::{Checkpoint, Cursor, FINGERPRINT_BYTES, FileId, Fingerprint};

/// Bytes read per system call.
const CHUNK: usize = 64 * 1024;

/// Bytes read per poll at most, so a large backlog (`start_at: beginning` on
/// a big log) is handed on in bounded batches instead of held in memory.
pub const BATCH: u64 = 16 * CHUNK as u64;

/// Appended to a line that was longer than the limit and was cut.
pub const CUT_MARKER: &str = " [line cut]";

/// Where to start reading the first file that is opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    Beginning,
    End,
    /// Go on from a checkpoint. With `replay` false (the checkpoint is older
    /// than `max_resume_age`) the lines since it are counted and skipped.
    Resume {
        checkpoint: Checkpoint,
        replay: bool,
    },
}

/// A complete line and the position just past it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub text: String,
    pub cursor: Cursor,
}

/// What a poll yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Line(Line),
    /// Lines that were not read because the checkpoint was too old.
    Skipped {
        lines: u64,
        cursor: Cursor,
    },
}

/// What the path looked like at the last poll, for "say it once" logging.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Waiting,
    Following,
}

/// The file currently being read.
struct Open {
    file: File,
    id: FileId,
    fingerprint: Fingerprint,
    /// Offset of the next byte to read.
    offset: u64,
}

impl Open {
    fn cursor(&self) -> Cursor {
        Cursor {
            id: self.id,
            fingerprint: self.fingerprint,
            offset: self.offset,
        }
    }
}

pub struct Follower {
    path: PathBuf,
    max_line: usize,
    /// How to position the next file opened; `None` means from its start.
    start: Option<Start>,
    open: Option<Open>,
    /// Bytes of the current, incomplete line.
    partial: Vec<u8>,
    /// The current line exceeded `max_line`; drop bytes until its newline.
    cutting: bool,
    state: State,
    caught_up: bool,
}

impl Follower {
    pub fn new(path: &Path, start: Start, max_line: usize) -> Self {
        Self {
            path: path.to_owned(),
            max_line,
            start: Some(start),
            open: None,
            partial: Vec::new(),
            cutting: false,
            state: State::Waiting,
            caught_up: true,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// Whether the last poll read everything that was there.
    pub fn caught_up(&self) -> bool {
        self.caught_up
    }

    /// The position after the last complete line handed out, if a file is
    /// open.
    pub fn cursor(&self) -> Option<Cursor> {
        self.open.as_ref().map(|o| Cursor {
            offset: o.offset - self.partial_len(),
            ..o.cursor()
        })
    }

    /// The open file's identity and current length (one `fstat`).
    pub fn file_len(&self) -> Option<(FileId, u64)> {
        let open = self.open.as_ref()?;
        let len = open.file.metadata().ok()?.len();
        Some((open.id, len))
    }

    fn partial_len(&self) -> u64 {
        // While cutting, bytes past the kept part were read but not kept.
        if self.cutting {
            0
        } else {
            self.partial.len() as u64
        }
    }

    /// Reads what was appended since the last poll, up to a batch, and
    /// follows rotation and truncation.
    pub fn poll(&mut self) -> io::Result<Vec<Item>> {
        let mut items = Vec::new();
        if self.open.is_none() && !self.open_path(&mut items)? {
            self.state = State::Waiting;
            self.caught_up = true;
            return Ok(items);
        }
        self.state = State::Following;
        self.check_truncation(&mut items)?;
        if !self.read_batch(&mut items)? {
            self.caught_up = false;
            return Ok(items);
        }
        self.caught_up = true;
        self.check_path(&mut items)?;
        Ok(items)
    }

    /// After reading to the end: is the path still the file we read?
    fn check_path(&mut self, items: &mut Vec<Item>) -> io::Result<()> {
        let meta = match fs::metadata(&self.path) {
            Ok(m) => m,
            // Renamed or deleted and not yet recreated: keep the open file,
            // its writer may still append to it.
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let Some(open) = self.open.as_mut() else {
            return Ok(());
        };
        if FileId::of(&meta) != open.id {
            // Read the old file to its very end before letting go of it.
            while !self.read_batch(items)? {}
            self.finish_partial(items);
            log::info!(
                "{} was rotated or replaced; following the new file from its start",
                self.path.display()
            );
            self.open = None;
            self.start = None;
            if self.open_path(items)? {
                self.caught_up = self.read_batch(items)?;
            }
            return Ok(());
        }
        if open.fingerprint.len < FINGERPRINT_BYTES
            && meta.len() > open.fingerprint.len
            && open.fingerprint.matches(&mut open.file)?
        {
            open.fingerprint = Fingerprint::read(&mut open.file, FINGERPRINT_BYTES)?;
        }
        Ok(())
    }

    /// Before reading on: is the open file shorter than what was read, or
    /// does it start differently (truncated and written again)? Then it was
    /// truncated in place and is read again from its start.
    fn check_truncation(&mut self, items: &mut Vec<Item>) -> io::Result<()> {
        let Some(open) = self.open.as_mut() else {
            return Ok(());
        };
        let len = open.file.metadata()?.len();
        if len >= open.offset && open.fingerprint.matches(&mut open.file)? {
            return Ok(());
        }
        self.finish_partial(items);
        log::info!(
            "{} was truncated; reading it again from the start",
            self.path.display()
        );
        if let Some(open) = self.open.as_mut() {
            open.offset = 0;
            open.fingerprint = Fingerprint::read(&mut open.file, FINGERPRINT_BYTES)?;
        }
        Ok(())
    }

    /// Opens the path and positions it per `start`; false if it is absent.
    fn open_path(&mut self, items: &mut Vec<Item>) -> io::Result<bool> {
        if let Some(Start::Resume { checkpoint, replay }) = self.start.clone() {
            // The checkpoint is spent only once reading is positioned: a
            // missing file or directory keeps it for the next poll, rather
            // than reading everything again from 0 later.
            let opened = self.resume(&checkpoint.cursor, replay, items)?;
            if opened {
                self.start = None;
            }
            return Ok(opened);
        }
        let Some(mut open) = open_file(&self.path)? else {
            // `end` means "what is there now": a file that appears later is
            // new, and read from its start.
            if self.start == Some(Start::End) {
                self.start = Some(Start::Beginning);
            }
            return Ok(false);
        };
        if self.start.take() == Some(Start::End) {
            open.offset = open.file.metadata()?.len();
        }
        self.install(open);
        Ok(true)
    }

    fn install(&mut self, open: Open) {
        self.partial.clear();
        self.cutting = false;
        self.open = Some(open);
    }

    /// Positions reading after a restart from `cp`: in the same file, or in
    /// the file `cp` points into when it was rotated away meanwhile (the new
    /// file is then picked up like any rotation). Without `replay` the lines
    /// since `cp` are counted and skipped instead.
    fn resume(&mut self, cp: &Cursor, replay: bool, items: &mut Vec<Item>) -> io::Result<bool> {
        let current = open_file(&self.path)?;
        if let Some(mut cur) = current {
            let len = cur.file.metadata()?.len();
            if cur.id == cp.id && len >= cp.offset && cp.fingerprint.matches(&mut cur.file)? {
                if replay {
                    cur.offset = cp.offset;
                } else {
                    let lines = count_lines(&mut cur.file, cp.offset, len)?;
                    cur.offset = len;
                    push_skipped(items, lines, cur.cursor());
                }
                self.install(cur);
                return Ok(true);
            }
            return self.resume_rotated(cp, replay, Some(cur), items);
        }
        self.resume_rotated(cp, replay, None, items)
    }

    fn resume_rotated(
        &mut self,
        cp: &Cursor,
        replay: bool,
        current: Option<Open>,
        items: &mut Vec<Item>,
    ) -> io::Result<bool> {
        let old = self.find_rotated(cp)?;
        if replay {
            if let Some((mut file, from)) = old {
                log::info!(
                    "{} was rotated while the daemon was stopped; reading the rest of the old file first",
                    self.path.display()
                );
                let fingerprint = Fingerprint::read(&mut file, FINGERPRINT_BYTES)?;
                self.install(Open {
                    file,
                    id: cp.id,
                    fingerprint,
                    offset: from,
                });
                return Ok(true);
            }
            return Ok(match current {
                Some(cur) => {
                    self.install(cur);
                    true
                }
                None => false,
            });
        }
        let mut skipped = 0;
        let mut end = None;
        if let Some((mut file, from)) = old {
            let len = file.metadata()?.len();
            skipped += count_lines(&mut file, from, len)?;
            let fingerprint = Fingerprint::read(&mut file, FINGERPRINT_BYTES)?;
            end = Some(Cursor {
                id: cp.id,
                fingerprint,
                offset: len,
            });
        }
        let opened = match current {
            Some(mut cur) => {
                let len = cur.file.metadata()?.len();
                skipped += count_lines(&mut cur.file, 0, len)?;
                cur.offset = len;
                end = Some(cur.cursor());
                self.install(cur);
                true
            }
            None => false,
        };
        if let Some(cursor) = end {
            push_skipped(items, skipped, cursor);
        }
        Ok(opened)
    }

    /// The file `cp` was taken in, if it is still in the path's directory
    /// under a name that starts like the path's (logrotate's
    /// `console.log.1`). Its first bytes must still match: inodes are
    /// reused, and a file that merely got the old inode is not ours.
    fn find_rotated(&self, cp: &Cursor) -> io::Result<Option<(File, u64)>> {
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let stem = self
            .path
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let entries = match fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        for entry in entries {
            let Ok(entry) = entry else { continue };
            if !entry.file_name().to_string_lossy().starts_with(&stem) {
                continue;
            }
            let Ok(meta) = fs::metadata(entry.path()) else {
                continue;
            };
            if meta.is_file() && FileId::of(&meta) == cp.id && meta.len() >= cp.offset {
                let mut file = File::open(entry.path())?;
                if cp.fingerprint.matches(&mut file)? {
                    return Ok(Some((file, cp.offset)));
                }
            }
        }
        Ok(None)
    }

    /// Reads up to a batch; true when the end of the file was reached.
    fn read_batch(&mut self, items: &mut Vec<Item>) -> io::Result<bool> {
        let Some(mut open) = self.open.take() else {
            return Ok(true);
        };
        let result = self.read_batch_from(&mut open, items);
        self.open = Some(open);
        result
    }

    fn read_batch_from(&mut self, open: &mut Open, items: &mut Vec<Item>) -> io::Result<bool> {
        open.file.seek(SeekFrom::Start(open.offset))?;
        let mut buf = vec![0u8; CHUNK];
        let limit = open.offset + BATCH;
        while open.offset < limit {
            let n = open.file.read(&mut buf)?;
            if n == 0 {
                return Ok(true);
            }
            self.split(&buf[..n], open, items);
        }
        Ok(false)
    }

    fn split(&mut self, bytes: &[u8], open: &mut Open, items: &mut Vec<Item>) {
        let mut rest = bytes;
        while let Some(nl) = rest.iter().position(|b| *b == b'\n') {
            self.push(&rest[..nl]);
            open.offset += nl as u64 + 1;
            items.push(Item::Line(Line {
                text: self.take_line(),
                cursor: open.cursor(),
            }));
            rest = &rest[nl + 1..];
        }
        open.offset += rest.len() as u64;
        self.push(rest);
    }

    /// A rotation or truncation proves the unfinished last line complete.
    fn finish_partial(&mut self, items: &mut Vec<Item>) {
        if self.partial.is_empty() && !self.cutting {
            return;
        }
        if let Some(open) = &self.open {
            let cursor = open.cursor();
            items.push(Item::Line(Line {
                text: self.take_line(),
                cursor,
            }));
        }
    }

    fn take_line(&mut self) -> String {
        let mut raw = std::mem::take(&mut self.partial);
        if raw.last() == Some(&b'\r') {
            raw.pop();
        }
        let mut text = String::from_utf8_lossy(&raw).into_owned();
        if std::mem::take(&mut self.cutting) {
            text.push_str(CUT_MARKER);
        }
        text
    }

    fn push(&mut self, bytes: &[u8]) {
        let room = self.max_line.saturating_sub(self.partial.len());
        if bytes.len() > room {
            self.partial.extend_from_slice(&bytes[..room]);
            self.cutting = true;
        } else {
            self.partial.extend_from_slice(bytes);
        }
    }
}

/// Opens `path` for reading from its start; `None` if it does not exist.
fn open_file(path: &Path) -> io::Result<Option<Open>> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let meta = file.metadata()?;
    let fingerprint = Fingerprint::read(&mut file, FINGERPRINT_BYTES)?;
    Ok(Some(Open {
        file,
        id: FileId::of(&meta),
        fingerprint,
        offset: 0,
    }))
}

fn push_skipped(items: &mut Vec<Item>, lines: u64, cursor: Cursor) {
    if lines > 0 {
        items.push(Item::Skipped { lines, cursor });
    }
}

/// Newlines in `file` between `from` and `to`.
fn count_lines(file: &mut File, from: u64, to: u64) -> io::Result<u64> {
    file.seek(SeekFrom::Start(from))?;
    let mut buf = vec![0u8; CHUNK];
    let mut left = to.saturating_sub(from);
    let mut lines = 0;
    while left > 0 {
        let want = (left as usize).min(CHUNK);
        let n = file.read(&mut buf[..want])?;
        if n == 0 {
            break;
        }
        lines += buf[..n].iter().filter(|b| **b == b'\n').count() as u64;
        left -= n as u64;
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const MAX: usize = 64 * 1024;

    fn texts(items: Vec<Item>) -> Vec<String> {
        items
            .into_iter()
            .map(|i| match i {
                Item::Line(l) => l.text,
                Item::Skipped { lines, .. } => format!("<skipped {lines}>"),
            })
            .collect()
    }

    fn append(path: &Path, bytes: &[u8]) {
        let mut f = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .expect("open for append");
        f.write_all(bytes).expect("append");
    }

    #[test]
    fn follows_appends_partial_lines_crlf_invalid_utf8_and_truncation() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("console.log");
        let mut f = Follower::new(&path, Start::Beginning, MAX);
        assert_eq!(f.poll().expect("poll"), vec![]);
        assert_eq!(f.state(), State::Waiting);

        append(&path, b"one\r\ntw");
        assert_eq!(texts(f.poll().expect("poll")), ["one"]);
        assert_eq!(f.state(), State::Following);
        assert_eq!(
            f.cursor().map(|c| c.offset),
            Some(5),
            "the partial line is not past the cursor"
        );
        append(&path, b"o\n\xff\n\xffbad\n");
        assert_eq!(
            texts(f.poll().expect("poll")),
            ["two", "\u{fffd}", "\u{fffd}bad"]
        );

        fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_len(0))
            .expect("truncate");
        append(&path, b"after\n");
        let items = f.poll().expect("poll");
        assert_eq!(texts(items.clone()), ["after"]);
        let Item::Line(line) = &items[0] else {
            panic!("a line")
        };
        assert_eq!(line.cursor.offset, 6);
    }

    #[test]
    fn truncation_that_regrows_past_the_offset_is_caught_by_the_fingerprint() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("console.log");
        append(&path, b"first line\n");
        let mut f = Follower::new(&path, Start::Beginning, MAX);
        assert_eq!(texts(f.poll().expect("poll")), ["first line"]);
        fs::write(&path, b"NEW CONTENT that is longer\nsecond\n").expect("rewrite in place");
        assert_eq!(
            texts(f.poll().expect("poll")),
            ["NEW CONTENT that is longer", "second"]
        );
    }

    #[test]
    fn start_at_end_reads_a_file_that_appears_later_from_its_start() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("console.log");
        let mut f = Follower::new(&path, Start::End, MAX);
        assert_eq!(f.poll().expect("poll"), vec![]);
        append(&path, b"first\n");
        assert_eq!(texts(f.poll().expect("poll")), ["first"]);
    }

    #[test]
    fn start_at_end_skips_existing_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("console.log");
        append(&path, b"old\n");
        let mut f = Follower::new(&path, Start::End, MAX);
        assert_eq!(f.poll().expect("poll"), vec![]);
        append(&path, b"new\n");
        assert_eq!(texts(f.poll().expect("poll")), ["new"]);
    }

    #[test]
    fn rename_rotation_drains_the_old_file_and_completes_its_last_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("console.log");
        append(&path, b"a\n");
        let mut f = Follower::new(&path, Start::Beginning, MAX);
        assert_eq!(texts(f.poll().expect("poll")), ["a"]);
        append(&path, b"b\nunfinished");
        fs::rename(&path, dir.path().join("console.log.1")).expect("rotate");
        append(&dir.path().join("console.log.1"), b" c");
        assert_eq!(
            texts(f.poll().expect("poll")),
            ["b"],
            "no new file yet: keep reading the old one"
        );
        append(&path, b"d\n");
        assert_eq!(texts(f.poll().expect("poll")), ["unfinished c", "d"]);
    }

    #[test]
    fn a_backlog_is_read_in_batches() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("console.log");
        let line = "2024-04-09 06:08:43 [JOIN] someone joined the game\n";
        let count = (3 * BATCH as usize) / line.len();
        append(&path, line.repeat(count).as_bytes());
        let mut f = Follower::new(&path, Start::Beginning, MAX);
        let (mut total, mut polls) = (0, 0);
        loop {
            let items = f.poll().expect("poll");
            assert!(items.len() <= BATCH as usize / line.len() + 1);
            total += items.len();
            polls += 1;
            if f.caught_up() {
                break;
            }
        }
        assert_eq!(total, count);
        assert!(polls >= 3, "{polls} polls");
    }

    #[test]
    fn long_lines_are_cut_not_buffered() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("console.log");
        let mut data = vec![b'x'; 3 * 1024];
        data.extend_from_slice(b"\nnext\n");
        append(&path, &data);
        let mut f = Follower::new(&path, Start::Beginning, 1024);
        let items = texts(f.poll().expect("poll"));
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].len(), 1024 + CUT_MARKER.len());
        assert!(items[0].ends_with(CUT_MARKER));
        assert_eq!(items[1], "next");
    }

    fn checkpoint_after(f: &Follower, path: &Path, age: u64) -> Checkpoint {
        let mut cp = Checkpoint::new(path, f.cursor().expect("a cursor"));
        cp.saved_at -= age;
        cp
    }

    #[test]
    fn resume_goes_on_from_the_checkpoint_or_skips_and_counts() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("console.log");
        append(&path, b"1\n2\n");
        let mut f = Follower::new(&path, Start::Beginning, MAX);
        assert_eq!(texts(f.poll().expect("poll")), ["1", "2"]);
        let cp = checkpoint_after(&f, &path, 0);
        append(&path, b"3\n4\n");

        let mut again = Follower::new(
            &path,
            Start::Resume {
                checkpoint: cp.clone(),
                replay: true,
            },
            MAX,
        );
        assert_eq!(texts(again.poll().expect("poll")), ["3", "4"]);

        let mut skipping = Follower::new(
            &path,
            Start::Resume {
                checkpoint: cp,
                replay: false,
            },
            MAX,
        );
        assert_eq!(texts(skipping.poll().expect("poll")), ["<skipped 2>"]);
        append(&path, b"5\n");
        assert_eq!(texts(skipping.poll().expect("poll")), ["5"]);
    }

    #[test]
    fn resume_after_rotation_while_down_reads_the_old_file_first() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("console.log");
        append(&path, b"1\n");
        let mut f = Follower::new(&path, Start::Beginning, MAX);
        assert_eq!(texts(f.poll().expect("poll")), ["1"]);
        let cp = checkpoint_after(&f, &path, 0);
        append(&path, b"2\n");
        fs::rename(&path, dir.path().join("console.log.1")).expect("rotate");
        append(&path, b"3\n");

        let mut again = Follower::new(
            &path,
            Start::Resume {
                checkpoint: cp.clone(),
                replay: true,
            },
            MAX,
        );
        let mut seen = texts(again.poll().expect("poll"));
        seen.extend(texts(again.poll().expect("poll")));
        assert_eq!(seen, ["2", "3"]);

        let mut skipping = Follower::new(
            &path,
            Start::Resume {
                checkpoint: cp.clone(),
                replay: false,
            },
            MAX,
        );
        assert_eq!(texts(skipping.poll().expect("poll")), ["<skipped 2>"]);

        // The old file is gone too: the new file is read whole.
        fs::remove_file(dir.path().join("console.log.1")).expect("remove");
        let mut lost = Follower::new(
            &path,
            Start::Resume {
                checkpoint: cp,
                replay: true,
            },
            MAX,
        );
        assert_eq!(texts(lost.poll().expect("poll")), ["3"]);
    }

    #[test]
    fn resume_with_the_file_absent_waits_then_reads_it_whole() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("console.log");
        append(&path, b"1\n");
        let mut f = Follower::new(&path, Start::Beginning, MAX);
        texts(f.poll().expect("poll"));
        let cp = checkpoint_after(&f, &path, 0);
        fs::remove_file(&path).expect("remove");
        let mut again = Follower::new(
            &path,
            Start::Resume {
                checkpoint: cp,
                replay: true,
            },
            MAX,
        );
        assert_eq!(again.poll().expect("poll"), vec![]);
        assert_eq!(again.state(), State::Waiting);
        append(&path, b"2\n");
        assert_eq!(texts(again.poll().expect("poll")), ["2"]);
    }

    #[test]
    fn resume_keeps_its_checkpoint_while_the_directory_is_missing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let logs = dir.path().join("logs");
        fs::create_dir(&logs).expect("mkdir");
        let path = logs.join("console.log");
        append(&path, b"a\nb\n");
        let mut f = Follower::new(&path, Start::Beginning, MAX);
        assert_eq!(texts(f.poll().expect("poll")), ["a", "b"]);
        let cp = checkpoint_after(&f, &path, 0);
        fs::rename(&logs, dir.path().join("away")).expect("move the directory away");
        let mut again = Follower::new(
            &path,
            Start::Resume {
                checkpoint: cp,
                replay: true,
            },
            MAX,
        );
        assert_eq!(again.poll().expect("poll"), vec![]);
        assert_eq!(again.state(), State::Waiting);
        fs::rename(dir.path().join("away"), &logs).expect("move it back");
        append(&path, b"c\n");
        assert_eq!(
            texts(again.poll().expect("poll")),
            ["c"],
            "a and b are not read again"
        );
    }

    #[test]
    fn delete_and_recreate_and_symlink_swap_switch_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("console.log");
        append(&path, b"1\n");
        let mut f = Follower::new(&path, Start::Beginning, MAX);
        assert_eq!(texts(f.poll().expect("poll")), ["1"]);
        fs::remove_file(&path).expect("delete");
        assert_eq!(f.poll().expect("poll"), vec![]);
        append(&path, b"2\n");
        assert_eq!(texts(f.poll().expect("poll")), ["2"]);

        let link = dir.path().join("link.log");
        let (a, b) = (dir.path().join("a.log"), dir.path().join("b.log"));
        append(&a, b"a1\n");
        std::os::unix::fs::symlink(&a, &link).expect("symlink");
        let mut f = Follower::new(&link, Start::Beginning, MAX);
        assert_eq!(texts(f.poll().expect("poll")), ["a1"]);
        append(&b, b"b1\n");
        let tmp = dir.path().join("link.tmp");
        std::os::unix::fs::symlink(&b, &tmp).expect("symlink");
        fs::rename(&tmp, &link).expect("swap");
        assert_eq!(texts(f.poll().expect("poll")), ["b1"]);
    }
}
