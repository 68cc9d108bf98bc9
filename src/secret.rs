//! A value that must never be printed: bot token, webhook URL, RCON password.
//!
//! `Debug` and `Display` print a fixed placeholder, so a secret can sit in
//! any struct that is logged or shown in an error without leaking. The only
//! way to the text is [`Secret::expose`], which is greppable on purpose.

use std::fmt;
use std::path::{Path, PathBuf};

#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    value: String,
    /// The file that holds it in clear (the config file for a literal, or
    /// a `*_file`), whose permissions matter; `None` when it came from the
    /// environment.
    file: Option<PathBuf>,
}

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self {
            value: value.into(),
            file: None,
        }
    }

    /// A secret read from `file`, in clear.
    pub fn stored_in(value: impl Into<String>, file: Option<PathBuf>) -> Self {
        Self {
            value: value.into(),
            file,
        }
    }

    /// The file holding it in clear, if any.
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    /// The secret text, for the one place that sends it (an auth header, a
    /// login packet). Never format it into a message.
    pub fn expose(&self) -> &str {
        &self.value
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_formats_its_value() {
        let s = Secret::new("hunter2");
        assert_eq!(
            format!("{s} {s:?} {:?}", Some(&s)),
            "[redacted] Secret([redacted]) Some(Secret([redacted]))"
        );
        assert_eq!(s.expose(), "hunter2");
    }
}
