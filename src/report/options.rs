//! What fanout's own reporters show, beside the engine's configuration: the CLI fills these in
//! from its flags, an embedder from its own settings.

use std::path::PathBuf;
use std::time::Duration;

/// When the progress bar is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ProgressMode {
    /// When stderr is a terminal (and not in CI).
    #[default]
    Auto,
    /// Always, even when stderr is not a terminal (`--progress`).
    On,
    /// Never.
    Off,
}

/// How the end-of-run summary is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SummaryMode {
    /// A few lines for people, on stderr.
    #[default]
    Text,
    /// One JSON object on stderr.
    Json,
    /// None.
    Off,
}

/// The settings of fanout's own reporters: job output, the progress bar or line, logs,
/// results files and the summary.
#[derive(Debug, Clone, Default)]
pub struct ReportOptions {
    /// When the bar is shown (it needs the `cli` feature; without it there is never a bar).
    pub progress: ProgressMode,
    /// How often a plain progress line is logged when no bar is shown (zero: never).
    pub progress_interval: Duration,
    /// How the summary is printed.
    pub summary: SummaryMode,
    /// `--results-json`: a file, or `-` for stdout.
    pub results_json: Option<PathBuf>,
    /// `--results`: a directory.
    pub results_dir: Option<PathBuf>,
    /// Colour allowed (`NO_COLOR` unset).
    pub color: bool,
    /// Logs are JSON lines on stderr (no `--log-file`): an automatic bar would tear them.
    pub json_logs_on_stderr: bool,
    /// Where the bar is registered for the log writer, which suspends it around log lines.
    #[cfg(feature = "cli")]
    pub bar_slot: super::term::BarSlot,
}
