//! Shared by every integration test: fixtures, the shipped patterns, and
//! running the real binary. Each test file declares `mod support;` and uses
//! what it needs.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use factorio_isr::patterns::load::load_dirs;
use factorio_isr::patterns::{Pattern, PatternSet};

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A file under tests/fixtures/.
pub fn fixture(name: &str) -> PathBuf {
    root().join("tests/fixtures").join(name)
}

/// Every shipped pattern, as loaded from patterns/.
pub fn shipped_patterns() -> Vec<Arc<Pattern>> {
    load_dirs(&[root().join("patterns")])
        .unwrap_or_else(|e| panic!("shipped patterns must load:\n{e}"))
}

/// The shipped patterns with every kind switched on.
pub fn shipped_set() -> PatternSet {
    PatternSet::new(&shipped_patterns(), |_| true).expect("the shipped patterns make a set")
}

/// What the engine makes of one line: kind name and captured fields.
/// Panics on a line with malformed JSON: fixtures hold none.
pub fn classify(set: &PatternSet, line: &str) -> Option<(String, Vec<(String, String)>)> {
    let mut scratch = set.scratch();
    let m = set
        .classify(line, &mut scratch)
        .unwrap_or_else(|e| panic!("malformed JSON in a fixture line: {e}"))?;
    let fields = m
        .pattern
        .field_names()
        .zip(m.values())
        .filter_map(|(n, v)| v.map(|v| (n.to_owned(), v.into_owned())))
        .collect();
    Some((m.pattern.kind.name().to_owned(), fields))
}

/// The built binary under test.
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_factorio-isr"))
}

/// The target of the shipped, static binary.
pub const MUSL: &str = "x86_64-unknown-linux-musl";

/// The release build of the daemon, for the fault suite: the static musl
/// binary that ships when its target is installed (`.ci/run` builds it
/// before the tests, so this is then a no-op), else the host release
/// build. Built once per test process, through cargo. Under `cargo
/// llvm-cov` it is the instrumented test build instead, so the scenarios
/// count toward coverage.
pub fn release_binary() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            if std::env::var_os("LLVM_PROFILE_FILE").is_some() {
                return binary();
            }
            musl_binary()
                .or_else(|_| cargo_build(&["build", "--release", "--bin", "factorio-isr"]))
                .unwrap_or_else(|e| panic!("no release build of the daemon: {e}"))
        })
        .clone()
}

/// Builds the static musl release binary; `Err` when that fails (most
/// often: the target is not installed).
pub fn musl_binary() -> Result<PathBuf, String> {
    cargo_build(&[
        "build",
        "--release",
        "--target",
        MUSL,
        "--bin",
        "factorio-isr",
    ])
}

/// Runs `cargo ARGS` in the repository and returns the daemon executable
/// it names.
fn cargo_build(args: &[&str]) -> Result<PathBuf, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = Command::new(cargo);
    // What cargo set for this test or benchmark (its package, its OUT_DIR)
    // is not for the build: ring's build script reruns when such a
    // variable differs from the last build, and the build would then not
    // be the one a plain `cargo build` left (nor be a no-op).
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if [
            "CARGO_PKG_",
            "CARGO_MANIFEST_",
            "CARGO_BIN_",
            "CARGO_CRATE_",
        ]
        .iter()
        .any(|p| key.starts_with(p))
            || [
                "OUT_DIR",
                "CARGO_PRIMARY_PACKAGE",
                "CARGO_TARGET_TMPDIR",
                "CARGO_RUSTC_CURRENT_DIR",
            ]
            .contains(&&*key)
        {
            build.env_remove(&*key);
        }
    }
    let out = build
        .current_dir(root())
        .args(args)
        .arg("--message-format=json-render-diagnostics")
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !out.status.success() {
        return Err(format!("`cargo {}` failed", args.join(" ")));
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["reason"] == "compiler-artifact" && v["target"]["name"] == "factorio-isr")
        .find_map(|v| v["executable"].as_str().map(PathBuf::from))
        .ok_or_else(|| "cargo named no factorio-isr executable".to_owned())
}

/// A command for the binary, run in `dir`, with a clean environment so the
/// developer's own variables cannot change the outcome. Coverage runs
/// (`cargo llvm-cov`) keep their profile variables so the child is measured.
pub fn command(dir: &Path) -> Command {
    command_of(&binary(), dir)
}

/// [`command`] for another build of the daemon (the benchmark runner's
/// static musl binary).
pub fn command_of(binary: &Path, dir: &Path) -> Command {
    let mut cmd = Command::new(binary);
    cmd.current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .stdin(Stdio::null());
    for (key, value) in std::env::vars_os() {
        if key.to_str().is_some_and(|k| k.starts_with("LLVM_PROFILE")) {
            cmd.env(key, value);
        }
    }
    cmd
}

/// Kills the child when dropped, so a failing test leaves no daemon behind.
pub struct Daemon(pub Child);

impl Daemon {
    /// Waits for the child to exit, up to `limit`.
    pub fn wait_exit(&mut self, limit: std::time::Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + limit;
        loop {
            if let Some(status) = self.0.try_wait().expect("try_wait") {
                return Some(status);
            }
            if std::time::Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Sends `signal` to the child.
pub fn signal(child: &Child, signal: &str) {
    let status = Command::new("kill")
        .args(["-s", signal, &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -s {signal} failed");
}
pub mod bot;
pub mod daemon;
pub mod discord;
pub mod gateway;
pub mod lines;
pub mod openapi;
pub mod prometheus;
pub mod rcon;
pub mod rng;

/// Joins every thread of a fake server; re-raises the first panic unless
/// the test is failing already.
pub fn join_all(handles: Vec<std::thread::JoinHandle<()>>) {
    for handle in handles {
        if let Err(panic) = handle.join()
            && !std::thread::panicking()
        {
            std::panic::resume_unwind(panic);
        }
    }
}

/// The lines of a child's pipe, delivered on a channel as they arrive
/// (invalid UTF-8 decoded lossily, line ends trimmed).
pub fn lines_of(pipe: impl std::io::Read + Send + 'static) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("child-pipe".into())
        .spawn(move || {
            let mut reader = std::io::BufReader::new(pipe);
            let mut buf = Vec::new();
            while matches!(reader.read_until(b'\n', &mut buf), Ok(n) if n > 0) {
                let line = String::from_utf8_lossy(&buf).trim_end().to_owned();
                buf.clear();
                if tx.send(line).is_err() {
                    return;
                }
            }
        })
        .expect("spawn a pipe reader");
    rx
}

/// `GET url`: the status and body, whatever the status. Panics when no
/// answer comes (the server is not there).
pub fn http_get(url: &str) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(10)))
        .build()
        .into();
    let mut reply = agent
        .get(url)
        .call()
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = reply.status().as_u16();
    let body = reply
        .body_mut()
        .read_to_string()
        .unwrap_or_else(|e| panic!("GET {url}: body: {e}"));
    (status, body)
}
