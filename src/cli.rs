//! The command line: parsing arguments and running the chosen command.
//!
//! This is the one place that maps outcomes to exit codes:
//! 0 success, 1 runtime failure, 2 bad usage or bad config.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::{self, BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use crate::app::{self, Error};
use crate::config::{self, Location};
use crate::patterns::PatternSet;
use crate::patterns::load::load_dirs;

pub const USAGE: &str = "\
factorio-isr: relays Factorio console-log events to Discord

Usage:
  factorio-isr [--config PATH] [COMMAND]

Commands:
  run                 run the daemon (the default)
  check-config        validate the config and pattern files, print every problem
  replay FILE         run a log file through the patterns, print one JSON event per line
      --summary         print counts per event kind instead
      --server ID       use this server's patterns and toggles (default: the first)
      --patterns DIR    read patterns from DIR instead of the config's (repeatable)
  doctor              check the set-up (token, intents, channels, RCON, log files,
                      state dir) and say how to fix each problem; exit 1 if any fails
  healthcheck [URL]   ask a running daemon's /health (default: the config's
                      health.bind, else http://127.0.0.1:8080/health); exit 0 when
                      healthy or degraded, 1 otherwise

Options:
  --config PATH       config file (default: $ISR_CONFIG, else config/servers.yml,
                      else a single server from FACTORIO_LOG_PATH and friends)
  -h, --help          print this help
  -V, --version       print the version

With neither a bot token nor a webhook URL configured, `run` is a dry run:
it prints each message it would post as a JSON line on stdout.

Signals: SIGTERM or SIGINT stop cleanly; SIGHUP reloads the config and patterns
(an invalid new config is refused and the running one stays).

Environment: LOG_LEVEL (error|warn|info|debug|trace), LOG_FORMAT (plain|json).
Exit codes: 0 ok, 1 runtime failure (or a failed check), 2 bad usage or config.
";

/// What the user asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Run,
    CheckConfig,
    Replay {
        file: PathBuf,
        summary: bool,
        server: Option<String>,
        patterns: Vec<PathBuf>,
    },
    Doctor,
    Healthcheck {
        url: Option<String>,
    },
    Help,
    Version,
}

/// Parsed arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    pub config: Option<PathBuf>,
    pub command: Command,
}

/// Parses `args` (without the program name). `--config` is accepted before
/// or after the command.
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Args, String> {
    let mut config = None;
    let mut command: Option<String> = None;
    let mut positional = Vec::new();
    let mut summary = false;
    let mut server = None;
    let mut patterns = Vec::new();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let arg = arg
            .into_string()
            .map_err(|a| format!("argument {a:?} is not valid UTF-8"))?;
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| -> Result<String, String> {
            inline
                .clone()
                .or_else(|| args.next().and_then(|v| v.into_string().ok()))
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match flag.as_str() {
            "-h" | "--help" => {
                return Ok(Args {
                    config,
                    command: Command::Help,
                });
            }
            "-V" | "--version" => {
                return Ok(Args {
                    config,
                    command: Command::Version,
                });
            }
            "--config" => config = Some(PathBuf::from(value("--config")?)),
            "--summary" => summary = true,
            "--server" => server = Some(value("--server")?),
            "--patterns" => patterns.push(PathBuf::from(value("--patterns")?)),
            f if f.starts_with('-') && f.len() > 1 => return Err(format!("unknown option {f}")),
            _ if command.is_none() => command = Some(arg),
            _ => positional.push(arg),
        }
    }
    let patterns_given = !patterns.is_empty();
    let server_given = server.is_some();
    let command = match command.as_deref() {
        None | Some("run") => Command::Run,
        Some("check-config") => Command::CheckConfig,
        Some("replay") => {
            let file = positional.pop().ok_or("replay needs a FILE to read")?;
            Command::Replay {
                file: PathBuf::from(file),
                summary,
                server,
                patterns: std::mem::take(&mut patterns),
            }
        }
        Some("doctor") => Command::Doctor,
        Some("healthcheck") => Command::Healthcheck {
            url: positional.pop(),
        },
        Some("help") => Command::Help,
        Some(other) => return Err(format!("unknown command `{other}`")),
    };
    let takes_replay_flags = matches!(command, Command::Replay { .. });

    if !positional.is_empty() {
        return Err(format!("unexpected argument `{}`", positional[0]));
    }
    if !takes_replay_flags && (summary || patterns_given || server_given) {
        return Err("--summary, --server and --patterns only go with `replay`".to_owned());
    }
    Ok(Args { config, command })
}

/// Runs the program and returns its exit code.
pub fn main(argv: impl IntoIterator<Item = OsString>) -> ExitCode {
    let args = match parse(argv) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("factorio-isr: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let location = match args
        .config
        .or_else(|| std::env::var_os("ISR_CONFIG").map(PathBuf::from))
    {
        Some(p) => Location::Explicit(p),
        None => Location::Default,
    };
    let result = match args.command {
        Command::Help => {
            print!("{USAGE}");
            Ok(())
        }
        Command::Version => {
            println!("factorio-isr {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Command::Run => config::load(&location)
            .map_err(Error::Config)
            .and_then(|config| app::run(config, &|| config::load(&location))),
        Command::CheckConfig => check_config(&location),
        Command::Doctor => doctor(&location),
        Command::Healthcheck { url } => healthcheck(&location, url),
        Command::Replay {
            file,
            summary,
            server,
            patterns,
        } => replay(&location, &file, summary, server.as_deref(), patterns),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let code = match e {
                Error::Config(_) | Error::Setup(_) => 2,
                Error::Runtime(_) => 1,
            };
            eprintln!("factorio-isr: {e}");
            ExitCode::from(code)
        }
    }
}

fn doctor(location: &Location) -> Result<(), Error> {
    let config = config::load(location).map_err(Error::Config)?;
    let mut out = io::stdout().lock();
    if crate::doctor::run(&config, &mut out) {
        Ok(())
    } else {
        Err(Error::Runtime(
            "some checks failed; fix what the lines marked ✗ say".to_owned(),
        ))
    }
}

/// The URL given, else the config's `health.bind`, else the default; a
/// config that cannot be loaded is only an error when named explicitly.
fn healthcheck(location: &Location, url: Option<String>) -> Result<(), Error> {
    let url = match url {
        Some(url) => url,
        None => match config::load(location) {
            Ok(config) => match config.health_bind {
                Some(bind) => crate::healthcheck::url_for(bind),
                None => {
                    return Err(Error::Setup(format!(
                        "{}: health.bind is null, so there is no /health to ask; set it, or give the URL",
                        config.source.display()
                    )));
                }
            },
            Err(e) if matches!(location, Location::Explicit(_)) => return Err(Error::Config(e)),
            Err(_) => crate::healthcheck::DEFAULT_URL.to_owned(),
        },
    };
    match crate::healthcheck::check(&url) {
        Ok(line) => {
            println!("{line}");
            Ok(())
        }
        Err(line) => {
            println!("{line}");
            Err(Error::Runtime(format!("{url} is not healthy")))
        }
    }
}

fn check_config(location: &Location) -> Result<(), Error> {
    let config = config::load(location).map_err(Error::Config)?;
    config.warn_readable_secrets();
    let sets = app::prepare(&config)?;
    println!("{}: ok", config.source.display());
    println!("mode: {:?}", config.mode());
    for (server, set) in config.servers.iter().zip(&sets) {
        let files: Vec<String> = server
            .log_paths
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        println!(
            "server {} ({}): {} patterns, follows {}",
            server.id,
            server.name,
            set.patterns().len(),
            files.join(", ")
        );
    }
    Ok(())
}

fn replay(
    location: &Location,
    file: &std::path::Path,
    summary: bool,
    server: Option<&str>,
    dirs: Vec<PathBuf>,
) -> Result<(), Error> {
    // A config is optional: when none was named and config/servers.yml does
    // not exist, replay uses ./patterns with every kind on, so patterns can be
    // tried before anything is configured. A config that exists must be valid.
    let unconfigured = *location == Location::Default
        && server.is_none()
        && !std::path::Path::new(config::DEFAULT_PATH).exists();
    let config = if unconfigured {
        None
    } else {
        Some(config::load(location).map_err(Error::Config)?)
    };
    let chosen = match (&config, server) {
        (Some(c), Some(id)) => Some(c.server(id).ok_or_else(|| {
            let ids: Vec<&str> = c.servers.iter().map(|s| &*s.id).collect();
            Error::Setup(format!(
                "no server `{id}` in the config (servers: {})",
                ids.join(", ")
            ))
        })?),
        (Some(c), None) => c.servers.first(),
        (None, _) => None,
    };
    let dirs = match (dirs.is_empty(), &config) {
        (false, _) => dirs,
        (true, Some(c)) => c.patterns_dirs.clone(),
        (true, None) => vec![PathBuf::from("./patterns")],
    };
    let patterns = load_dirs(&dirs).map_err(Error::Config)?;
    let set =
        PatternSet::new(&patterns, |k| chosen.is_none_or(|s| s.wants(k))).map_err(Error::Setup)?;
    let (id, name): (Arc<str>, String) = match chosen {
        Some(s) => (s.id.clone(), s.name.clone()),
        None => (Arc::from("default"), "Factorio".to_owned()),
    };

    let input = std::fs::File::open(file)
        .map_err(|e| Error::Setup(format!("cannot open {}: {e}", file.display())))?;
    let mut input = io::BufReader::new(input);
    let mut out = io::BufWriter::new(io::stdout().lock());
    let mut scratch = set.scratch();
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    let mut raw = Vec::new();
    let mut number = 0u64;
    let write_err = |e: io::Error| Error::Runtime(format!("cannot write output: {e}"));
    loop {
        raw.clear();
        let n = input
            .read_until(b'\n', &mut raw)
            .map_err(|e| Error::Runtime(format!("cannot read {}: {e}", file.display())))?;
        if n == 0 {
            break;
        }
        number += 1;
        while matches!(raw.last(), Some(b'\n' | b'\r')) {
            raw.pop();
        }
        let line = String::from_utf8_lossy(&raw);
        let m = match set.classify(&line, &mut scratch) {
            Ok(Some(m)) => m,
            Ok(None) => {
                *counts.entry("(no event)").or_default() += 1;
                continue;
            }
            Err(bad) => {
                // Every one: replay is where pattern and mod authors look.
                log::warn!(
                    "line skipped, its JSON is malformed: {}:{number}: {bad}",
                    file.display()
                );
                *counts.entry("(malformed)").or_default() += 1;
                continue;
            }
        };
        *counts.entry(m.pattern.kind.name()).or_default() += 1;
        if !summary {
            let fields: serde_json::Map<String, serde_json::Value> = m
                .pattern
                .field_names()
                .zip(m.values())
                .filter_map(|(n, v)| v.map(|v| (n.to_owned(), v.into())))
                .collect();
            let record = serde_json::json!({
                "line": number,
                "server": &*id,
                "kind": m.pattern.kind.name(),
                "pattern": &*m.pattern.name,
                "fields": fields,
                "content": m.render(&name),
            });
            writeln!(out, "{record}").map_err(write_err)?;
        }
    }
    if summary {
        for (kind, n) in &counts {
            writeln!(out, "{kind:<12} {n}").map_err(write_err)?;
        }
        writeln!(out, "{:<12} {number}", "total").map_err(write_err)?;
    }
    out.flush().map_err(write_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Result<Args, String> {
        parse(list.iter().map(OsString::from))
    }

    #[test]
    fn parses_commands_and_global_config_anywhere() {
        assert_eq!(
            args(&[]),
            Ok(Args {
                config: None,
                command: Command::Run
            })
        );
        assert_eq!(
            args(&["check-config", "--config", "a.yml"]),
            Ok(Args {
                config: Some("a.yml".into()),
                command: Command::CheckConfig
            })
        );
        assert_eq!(
            args(&[
                "--config=a.yml",
                "replay",
                "log",
                "--summary",
                "--server",
                "prod"
            ]),
            Ok(Args {
                config: Some("a.yml".into()),
                command: Command::Replay {
                    file: "log".into(),
                    summary: true,
                    server: Some("prod".into()),
                    patterns: vec![]
                }
            })
        );
        assert_eq!(
            args(&["--version"]).map(|a| a.command),
            Ok(Command::Version)
        );
        assert_eq!(args(&["-h"]).map(|a| a.command), Ok(Command::Help));
    }

    #[test]
    fn rejects_bad_usage() {
        assert_eq!(
            args(&["frobnicate"]),
            Err("unknown command `frobnicate`".into())
        );
        assert_eq!(args(&["--bogus"]), Err("unknown option --bogus".into()));
        assert_eq!(args(&["replay"]), Err("replay needs a FILE to read".into()));
        assert_eq!(args(&["--config"]), Err("--config needs a value".into()));
        assert_eq!(
            args(&["run", "extra"]),
            Err("unexpected argument `extra`".into())
        );
        assert_eq!(
            args(&["run", "--summary"]),
            Err("--summary, --server and --patterns only go with `replay`".into())
        );
        assert_eq!(
            args(&["check-config", "--server", "x"]),
            Err("--summary, --server and --patterns only go with `replay`".into())
        );
    }
}
