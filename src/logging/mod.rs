//! Sets up `tracing` for fanout's own diagnostics: to stderr or `--log-file`, as text or JSON.
//! Logs never go to stdout, which carries only the jobs' output. On stderr every line goes
//! through a writer that suspends the progress bar, so a log line never tears it. Text on
//! stderr at the default level is for people (`human`: one status line per failed job);
//! `-v`, `--log-level`, `RUST_LOG` and `--log-file` give tracing's `key=value` lines. JSON is
//! our own writer (`json`), so that a job's values come out as an array.
//!
//! The level rule: `--log-level` wins, then `RUST_LOG`; otherwise the base level is `warn` for
//! text and `info` for JSON (a log pipeline wants the job events), raised one step by each
//! `-v` and lowered one step by each `-q`.

mod fields;
mod human;
mod json;

use tracing_subscriber::EnvFilter;

use crate::cli::{Cli, LogFormat};
use fanout::report::term::BarSlot;

/// Keeps the log file open for the life of the program.
pub struct LogGuard;

/// The `--log-file`, which reports its first write error on one line of stderr and drops the
/// lines after it: a full disk must not stop the jobs, nor have tracing-subscriber complain
/// once per log line.
struct LogFile {
    file: std::fs::File,
    path: std::path::PathBuf,
    failed: bool,
    /// The lines are JSON: so is the warning on stderr.
    json: bool,
}

impl std::io::Write for LogFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if !self.failed
            && let Err(e) = self.file.write_all(buf)
        {
            self.failed = true;
            let msg = format!(
                "cannot write to log file `{}`: {e}; the log lines after this are lost",
                self.path.display()
            );
            let line = if self.json {
                let f = fields::Fields(vec![
                    ("message", fields::Value::Str(msg)),
                    ("event", fields::Value::Str("log_file_failed".into())),
                ]);
                json::line(&tracing::Level::WARN, &f)
            } else {
                format!("fanout: warning: {msg}\n")
            };
            // Not `eprintln!`: a dead stderr must not turn a full disk into a panic.
            let _ = std::io::stderr().lock().write_all(line.as_bytes());
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The filter: `--log-level` (or `RUST_LOG`) wins; otherwise the format's base level, moved
/// by -v and -q.
fn filter(cli: &Cli) -> Result<EnvFilter, String> {
    let base = match cli.log_format {
        LogFormat::Text => 0,
        LogFormat::Json => 1,
    };
    let spec = match (&cli.log_level, std::env::var("RUST_LOG").ok()) {
        (Some(l), _) => l.clone(),
        (None, Some(env)) if !env.is_empty() => env,
        _ => match base + (cli.verbose as i32) - (cli.quiet as i32) {
            i32::MIN..=-2 => "off",
            -1 => "error",
            0 => "warn",
            1 => "info",
            2 => "debug",
            _ => "trace",
        }
        .to_string(),
    };
    EnvFilter::try_new(&spec)
        .map_err(|e| format!("invalid log filter `{spec}` ({e}): use e.g. info or fanout=debug"))
}

/// Whether text logs on stderr are for people: no `-v`, `--log-level` or `RUST_LOG` asked
/// for tracing's detail.
fn for_people(cli: &Cli) -> bool {
    cli.verbose == 0
        && cli.log_level.is_none()
        && std::env::var_os("RUST_LOG").is_none_or(|v| v.is_empty())
}

/// fanout's own error on one line of stderr: `fanout: error: ...`, or with JSON logs one JSON
/// object (`"event":"setup_error"`), so a log pipeline reads only JSON.
pub fn error_line(json_logs: bool, msg: &str) -> String {
    if json_logs {
        let f = fields::Fields(vec![
            ("message", fields::Value::Str(msg.to_owned())),
            ("event", fields::Value::Str("setup_error".into())),
        ]);
        json::line(&tracing::Level::ERROR, &f)
    } else {
        format!("fanout: error: {msg}\n")
    }
}

/// Installs the subscriber. `bar` is where the session registers its progress bar.
pub fn init(cli: &Cli, bar: &BarSlot) -> Result<LogGuard, String> {
    let filter = filter(cli)?;
    let color = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    // A line that cannot be written is dropped: tracing-subscriber would otherwise report it
    // with `eprintln!`, which panics when stderr itself is what failed.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .log_internal_errors(false);
    let result = match (&cli.log_file, cli.log_format) {
        (Some(path), format) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| {
                    format!(
                        "cannot open log file `{}`: {e}; give a writable path to --log-file",
                        path.display()
                    )
                })?;
            let writer = std::sync::Mutex::new(LogFile {
                file,
                path: path.clone(),
                failed: false,
                json: format == LogFormat::Json,
            });
            match format {
                LogFormat::Json => builder
                    .event_format(json::JsonFormat)
                    .with_writer(writer)
                    .try_init(),
                LogFormat::Text => builder.with_ansi(false).with_writer(writer).try_init(),
            }
        }
        (None, LogFormat::Json) => builder
            .event_format(json::JsonFormat)
            .with_writer(bar.stderr_writer())
            .try_init(),
        (None, LogFormat::Text) if for_people(cli) => {
            let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
            builder
                .with_ansi(color && terminal)
                .event_format(human::HumanFormat { terminal })
                .with_writer(bar.stderr_writer())
                .try_init()
        }
        (None, LogFormat::Text) => builder
            .with_ansi(color && std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_writer(bar.stderr_writer())
            .try_init(),
    };
    result.map_err(|e| format!("cannot set up logging: {e}"))?;
    Ok(LogGuard)
}
