//! A panic is a bug, but it must cost only the one line, command or reply
//! that caused it: the other servers keep running, and the same input
//! cannot crash the daemon again after a restart (the line is skipped and
//! checkpointed past). [`contain`] runs one unit of work and turns its
//! panic into an error the caller logs.
//!
//! Debug builds also let tests cause a panic from outside: with
//! `ISR_INJECT_PANIC=<marker>` set, [`inject`] panics on any text holding
//! the marker. Release builds compile it to nothing.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// Runs `work`; a panic becomes `Err` with its message.
///
/// `AssertUnwindSafe` is sound for our callers: after a panic they drop
/// what the work produced and use none of its partial state (the pattern
/// set's scratch space is overwritten by the next line, a command's reply
/// is built afresh).
pub fn contain<T>(work: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(work)).map_err(|p| message(p.as_ref()))
}

fn message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

/// Panics if `text` holds the `ISR_INJECT_PANIC` marker (debug builds).
#[cfg(debug_assertions)]
pub fn inject(text: &str) {
    static MARKER: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    let marker = MARKER.get_or_init(|| {
        std::env::var("ISR_INJECT_PANIC")
            .ok()
            .filter(|m| !m.is_empty())
    });
    if let Some(m) = marker
        && text.contains(m.as_str())
    {
        panic!("injected panic (ISR_INJECT_PANIC)");
    }
}

/// Release builds: nothing.
#[cfg(not(debug_assertions))]
#[inline(always)]
pub fn inject(_text: &str) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_its_message() {
        assert_eq!(contain(|| 7), Ok(7));
        assert_eq!(contain(|| -> u8 { panic!("boom") }), Err("boom".to_owned()));
        let n = 3;
        assert_eq!(
            contain(|| -> u8 { panic!("boom {n}") }),
            Err("boom 3".to_owned())
        );
    }
}
