//! Reading the admin's text files (config, pattern files, secret files)
//! with a size limit, so a wrong path (`/dev/zero`, a log, a disk image)
//! is an error that names it instead of memory filling up.

use std::io::Read;
use std::path::Path;

/// Larger than any config, pattern file or secret: the shipped patterns
/// are 20 KB together.
pub const MAX_BYTES: u64 = 1024 * 1024;

/// The whole file as UTF-8, or an error: the OS's, not UTF-8, or over
/// [`MAX_BYTES`] (said in the error, with what to check).
pub fn read(path: &Path) -> std::io::Result<String> {
    read_at_most(path, MAX_BYTES)
}

fn read_at_most(path: &Path, max: u64) -> std::io::Result<String> {
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(max + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > max {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "it is over {} KiB, more than any config, pattern or secret file (is it the right file?)",
                max / 1024
            ),
        ));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_over_the_limit_and_endless_ones_are_refused() {
        let dir = std::env::temp_dir().join(format!("isr-text-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("f");
        std::fs::write(&file, "x".repeat(2048)).expect("write");
        assert_eq!(read_at_most(&file, 2048).expect("at the limit").len(), 2048);
        let err = read_at_most(&file, 2047).expect_err("over");
        assert!(err.to_string().contains("is it the right file?"), "{err}");
        // An endless file is read only up to the limit.
        let err = read(Path::new("/dev/zero")).expect_err("endless");
        assert!(err.to_string().contains("over 1024 KiB"), "{err}");
        std::fs::remove_dir_all(&dir).expect("clean up");
    }
}
