//! Following a log file: turns appended bytes into complete lines.
//!
//! [`Follower`] owns a file and its read position. It handles a file that
//! does not exist yet, a partial last line (held until its newline comes),
//! CRLF, invalid UTF-8 (decoded lossily) and truncation in place (read again
//! from the start). It does not sleep: the thread body decides when to poll.
//!
//! Not yet here (issue #3): checkpoints, rename rotation, inotify wake-up.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::config::StartAt;

/// Bytes read per system call.
const CHUNK: usize = 64 * 1024;

/// Bytes read per poll at most, so a large backlog (`start_at: beginning` on
/// a big log) is handed on in bounded batches instead of held in memory.
const BATCH: u64 = 16 * CHUNK as u64;

/// Longest line kept whole; the rest of a longer line is dropped and the kept
/// part ends with [`CUT_MARKER`], so one runaway line cannot exhaust memory.
pub const MAX_LINE: usize = 64 * 1024;
pub const CUT_MARKER: &str = " [line cut]";

/// A complete line and the offset just past it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub text: String,
    pub end: u64,
}

/// What the file looked like at the last poll, for "say it once" logging.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Waiting,
    Following,
}

pub struct Follower {
    path: PathBuf,
    file: Option<File>,
    start_at: StartAt,
    /// Offset of the next byte to read.
    offset: u64,
    /// Bytes of the current, incomplete line.
    partial: Vec<u8>,
    /// The current line exceeded [`MAX_LINE`]; drop bytes until its newline.
    cutting: bool,
    state: State,
    /// The file's length at the last poll.
    size: u64,
}

impl Follower {
    pub fn new(path: &Path, start_at: StartAt) -> Self {
        Self {
            path: path.to_owned(),
            file: None,
            start_at,
            offset: 0,
            partial: Vec::new(),
            cutting: false,
            state: State::Waiting,
            size: 0,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// Whether the last poll read everything the file held when it looked.
    pub fn caught_up(&self) -> bool {
        self.offset >= self.size
    }

    /// Reads what was appended since the last poll, up to a batch, and
    /// returns the complete lines; [`Follower::caught_up`] says whether more
    /// is waiting. A missing file is not an error: it may appear later.
    pub fn poll(&mut self) -> io::Result<Vec<Line>> {
        if self.file.is_none() {
            match File::open(&self.path) {
                Ok(f) => {
                    self.offset = match self.start_at {
                        StartAt::Beginning => 0,
                        StartAt::End => f.metadata()?.len(),
                    };
                    // A file that appears after start-up is new: read it all.
                    self.start_at = StartAt::Beginning;
                    self.file = Some(f);
                    self.state = State::Following;
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    self.start_at = StartAt::Beginning;
                    self.state = State::Waiting;
                    return Ok(Vec::new());
                }
                Err(e) => return Err(e),
            }
        }
        let Some(mut file) = self.file.take() else {
            return Ok(Vec::new());
        };
        let result = self.read_from(&mut file);
        self.file = Some(file);
        result
    }

    fn read_from(&mut self, file: &mut File) -> io::Result<Vec<Line>> {
        let len = file.metadata()?.len();
        if len < self.offset {
            // Truncated in place (copytruncate or `> console.log`).
            log::info!(
                "{} was truncated; reading it again from the start",
                self.path.display()
            );
            self.offset = 0;
            self.partial.clear();
            self.cutting = false;
        }
        file.seek(SeekFrom::Start(self.offset))?;
        let mut lines = Vec::new();
        let mut buf = vec![0u8; CHUNK];
        let limit = self.offset + BATCH;
        self.size = len;
        while self.offset < limit {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            let start = self.offset;
            self.offset += n as u64;
            self.split(&buf[..n], start, &mut lines);
        }
        Ok(lines)
    }

    fn split(&mut self, bytes: &[u8], start: u64, lines: &mut Vec<Line>) {
        let mut rest = bytes;
        let mut at = start;
        while let Some(nl) = rest.iter().position(|b| *b == b'\n') {
            self.push(&rest[..nl]);
            at += nl as u64 + 1;
            let mut raw = std::mem::take(&mut self.partial);
            if raw.last() == Some(&b'\r') {
                raw.pop();
            }
            let mut text = String::from_utf8_lossy(&raw).into_owned();
            if std::mem::take(&mut self.cutting) {
                text.push_str(CUT_MARKER);
            }
            lines.push(Line { text, end: at });
            rest = &rest[nl + 1..];
        }
        self.push(rest);
    }

    fn push(&mut self, bytes: &[u8]) {
        let room = MAX_LINE.saturating_sub(self.partial.len());
        if bytes.len() > room {
            self.partial.extend_from_slice(&bytes[..room]);
            self.cutting = true;
        } else {
            self.partial.extend_from_slice(bytes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn texts(lines: Vec<Line>) -> Vec<String> {
        lines.into_iter().map(|l| l.text).collect()
    }

    #[test]
    fn follows_appends_partial_lines_crlf_and_truncation() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("console.log");
        let mut f = Follower::new(&path, StartAt::Beginning);
        assert_eq!(f.poll().expect("poll"), vec![]);
        assert_eq!(f.state(), State::Waiting);

        let mut w = File::create(&path).expect("create");
        write!(w, "one\r\ntw").expect("write");
        assert_eq!(texts(f.poll().expect("poll")), ["one"]);
        w.write_all(b"o\n\xff\n").expect("write");
        w.write_all(b"\xffbad\n").expect("write");
        assert_eq!(
            texts(f.poll().expect("poll")),
            ["two", "\u{fffd}", "\u{fffd}bad"]
        );

        w.set_len(0).expect("truncate");
        let mut w = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .expect("open");
        writeln!(w, "after").expect("write");
        let lines = f.poll().expect("poll");
        assert_eq!(
            lines,
            vec![Line {
                text: "after".into(),
                end: 6
            }]
        );
    }

    #[test]
    fn start_at_end_skips_existing_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("console.log");
        std::fs::write(&path, "old\n").expect("write");
        let mut f = Follower::new(&path, StartAt::End);
        assert_eq!(f.poll().expect("poll"), vec![]);
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .and_then(|mut w| writeln!(w, "new"))
            .expect("append");
        assert_eq!(texts(f.poll().expect("poll")), ["new"]);
    }

    #[test]
    fn a_backlog_is_read_in_batches() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("console.log");
        let line = "2024-04-09 06:08:43 [JOIN] someone joined the game\n";
        let count = (3 * BATCH as usize) / line.len();
        std::fs::write(&path, line.repeat(count)).expect("write");
        let mut f = Follower::new(&path, StartAt::Beginning);
        let mut total = 0;
        let mut polls = 0;
        loop {
            let lines = f.poll().expect("poll");
            assert!(lines.len() <= BATCH as usize / line.len() + 1);
            total += lines.len();
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
        let mut data = vec![b'x'; MAX_LINE * 3];
        data.extend_from_slice(b"\nnext\n");
        std::fs::write(&path, &data).expect("write");
        let mut f = Follower::new(&path, StartAt::Beginning);
        let lines = f.poll().expect("poll");
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].text.len(), MAX_LINE + CUT_MARKER.len());
        assert!(lines[0].text.ends_with(CUT_MARKER));
        assert_eq!(lines[1].text, "next");
    }
}
