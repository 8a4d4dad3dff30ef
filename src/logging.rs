//! Sets up `tracing` for fanout's own diagnostics: to stderr or `--log-file`, as text or JSON.
//! Logs never go to stdout, which carries only the jobs' output.

use tracing_subscriber::EnvFilter;

use crate::cli::{Cli, LogFormat};

/// Keeps the log file open for the life of the program.
pub struct LogGuard;

/// The filter: `--log-level` (or `RUST_LOG`) wins; otherwise warn, raised by -v, lowered by -q.
fn filter(cli: &Cli) -> Result<EnvFilter, String> {
    let spec = match (&cli.log_level, std::env::var("RUST_LOG").ok()) {
        (Some(l), _) => l.clone(),
        (None, Some(env)) if !env.is_empty() => env,
        _ => match (cli.verbose as i32) - (cli.quiet as i32) {
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

pub fn init(cli: &Cli) -> Result<LogGuard, String> {
    let filter = filter(cli)?;
    let color = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    let result = match (&cli.log_file, cli.log_format) {
        (Some(path), format) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| format!("cannot open log file `{}`: {e}", path.display()))?;
            let writer = std::sync::Mutex::new(file);
            match format {
                LogFormat::Json => builder.json().with_writer(writer).try_init(),
                LogFormat::Text => builder.with_ansi(false).with_writer(writer).try_init(),
            }
        }
        (None, LogFormat::Json) => builder.json().with_writer(std::io::stderr).try_init(),
        (None, LogFormat::Text) => builder
            .with_ansi(color && std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_writer(std::io::stderr)
            .try_init(),
    };
    result.map_err(|e| format!("cannot set up logging: {e}"))?;
    Ok(LogGuard)
}
