//! The pattern engine: turns a console line into at most one event.
//!
//! Every enabled pattern of a server is compiled into one [`RegexSet`], so a
//! line is scanned once whatever the number of patterns; only the winning
//! pattern's own regex then runs to extract captures. Patterns are sorted by
//! rank (priority, then file, then position in the file) before the set is
//! built, so the winner is simply the lowest matching index and the choice is
//! deterministic.
//!
//! The engine does no I/O; [`load`] reads pattern files.

pub mod load;
pub mod template;

use std::path::PathBuf;
use std::sync::Arc;

use regex::{CaptureLocations, Regex, RegexSet};

use crate::event::{Event, Kind, Position};
use template::Template;

/// The prefix the chat relay puts in front of Discord messages it sends to
/// the game. Factorio echoes them as `[CHAT] <server>: [Discord] ...`, and
/// those lines must never travel back to Discord.
pub const RELAY_PREFIX: &str = "[Discord] ";

/// Where a pattern was defined, for ranking ties and for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub file: PathBuf,
    /// Rank of the file in load order (directories in order, files sorted).
    pub file_rank: usize,
    /// Position of the pattern within its file.
    pub index: usize,
}

/// One compiled pattern.
#[derive(Debug, Clone)]
pub struct Pattern {
    pub name: Arc<str>,
    pub kind: Kind,
    /// Routing key (`channel:` in the file), looked up in `channels`.
    pub route: Option<Arc<str>>,
    /// Lower wins when several patterns match a line.
    pub priority: i64,
    pub enabled: bool,
    pub origin: Origin,
    regex: Regex,
    /// Field names and the capture group each is read from.
    fields: Vec<(Arc<str>, usize)>,
    template: Template,
    emoji: String,
}

impl Pattern {
    pub fn regex(&self) -> &str {
        self.regex.as_str()
    }

    pub fn field_names(&self) -> impl Iterator<Item = &str> {
        self.fields.iter().map(|(n, _)| &**n)
    }

    fn rank(&self) -> (i64, usize, usize) {
        (self.priority, self.origin.file_rank, self.origin.index)
    }
}

/// The patterns one server uses, ready to classify lines.
#[derive(Debug, Clone)]
pub struct PatternSet {
    set: RegexSet,
    patterns: Vec<Arc<Pattern>>,
}

/// Reusable capture storage, one per thread, so matching allocates nothing.
pub struct Scratch {
    locations: Vec<Option<CaptureLocations>>,
}

/// A line matched by a pattern; borrows the line and the scratch space.
pub struct Match<'a> {
    pub pattern: &'a Pattern,
    line: &'a str,
    locations: &'a CaptureLocations,
}

impl Match<'_> {
    /// The text of each field, in the pattern's field order.
    pub fn values(&self) -> Vec<Option<&str>> {
        self.pattern
            .fields
            .iter()
            .map(|(_, group)| {
                self.locations
                    .get(*group)
                    .map(|(start, end)| &self.line[start..end])
            })
            .collect()
    }

    /// The message Discord should show, with `server` as `{server}`.
    pub fn render(&self, server: &str) -> String {
        self.render_values(&self.values(), server)
    }

    fn render_values(&self, values: &[Option<&str>], server: &str) -> String {
        let p = self.pattern;
        let mut out = String::with_capacity(p.emoji.len() + self.line.len() + 16);
        if !p.emoji.is_empty() {
            out.push_str(&p.emoji);
            out.push(' ');
        }
        p.template.render(values, server, &mut out);
        out
    }

    /// The event this match stands for.
    pub fn to_event(&self, server_id: &Arc<str>, server_name: &str, position: Position) -> Event {
        let values = self.values();
        let content = self.render_values(&values, server_name);
        Event {
            server: server_id.clone(),
            kind: self.pattern.kind,
            pattern: self.pattern.name.clone(),
            route: self.pattern.route.clone(),
            fields: self
                .pattern
                .fields
                .iter()
                .zip(&values)
                .filter_map(|((name, _), v)| v.map(|v| (name.clone(), v.to_owned())))
                .collect(),
            content,
            embed: None,
            position,
            id: 0,
        }
    }
}

impl PatternSet {
    /// Builds the set from every enabled pattern whose kind `wanted` accepts.
    pub fn new(patterns: &[Arc<Pattern>], wanted: impl Fn(Kind) -> bool) -> Self {
        let mut chosen: Vec<Arc<Pattern>> = patterns
            .iter()
            .filter(|p| p.enabled && wanted(p.kind))
            .cloned()
            .collect();
        chosen.sort_by_key(|p| p.rank());
        // Each regex already compiled on its own at load time, and the set's
        // size limit is the sum of theirs, so this cannot fail in practice;
        // if it ever does, matching nothing is safer than aborting.
        let set = RegexSet::new(chosen.iter().map(|p| p.regex.as_str())).unwrap_or_else(|e| {
            log::error!("pattern set could not be built, no events will match: {e}");
            RegexSet::empty()
        });
        Self {
            set,
            patterns: chosen,
        }
    }

    pub fn patterns(&self) -> &[Arc<Pattern>] {
        &self.patterns
    }

    pub fn scratch(&self) -> Scratch {
        Scratch {
            locations: vec![None; self.patterns.len()],
        }
    }

    /// The winning pattern for `line`, or `None` when no pattern matches or
    /// the line is the relay's own echo.
    pub fn classify<'a>(&'a self, line: &'a str, scratch: &'a mut Scratch) -> Option<Match<'a>> {
        if is_relay_echo(line) {
            return None;
        }
        let winner = self.set.matches(line).iter().next()?;
        let pattern = &*self.patterns[winner];
        let locations =
            scratch.locations[winner].get_or_insert_with(|| pattern.regex.capture_locations());
        pattern.regex.captures_read(locations, line)?;
        Some(Match {
            pattern,
            line,
            locations,
        })
    }
}

/// Whether `line` is Factorio's echo of a message the chat relay sent.
pub fn is_relay_echo(line: &str) -> bool {
    let body = strip_timestamp(line);
    body.strip_prefix("[CHAT] <server>: ")
        .is_some_and(|rest| rest.starts_with(RELAY_PREFIX))
}

/// The line without a leading `YYYY-MM-DD HH:MM:SS ` stamp.
fn strip_timestamp(line: &str) -> &str {
    let b = line.as_bytes();
    let stamped = b.len() > 20
        && b[..19].iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b' ',
            13 | 16 => *c == b':',
            _ => c.is_ascii_digit(),
        })
        && b[19] == b' ';
    if stamped { &line[20..] } else { line }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relay_echo_is_recognised_only_in_its_exact_shape() {
        assert!(is_relay_echo(
            "2024-04-09 06:08:51 [CHAT] <server>: [Discord] bob: hi"
        ));
        assert!(is_relay_echo("[CHAT] <server>: [Discord] bob: hi"));
        assert!(!is_relay_echo("2024-04-09 06:08:51 [CHAT] <server>: sup"));
        assert!(!is_relay_echo(
            "2024-04-09 06:08:51 [CHAT] bob: [Discord] fake"
        ));
    }
}
