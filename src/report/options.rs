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
    /// When it helps: always when stderr is a terminal, else only when a job failed, timed out
    /// or was cancelled; JSON when the logs are JSON, else text.
    #[default]
    Auto,
    /// A few lines for people, on stderr.
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
    /// `--results`: GNU parallel's results directory, or its `.csv`/`.tsv`/`.json` table.
    pub results: Option<PathBuf>,
    /// `--results-by-seq`: fanout's directory per job (`DIR/<seq>/...`).
    pub results_by_seq: Option<PathBuf>,
    /// Colour allowed (`NO_COLOR` unset).
    pub color: bool,
    /// Logs are JSON lines on stderr (no `--log-file`): an automatic bar would tear them.
    pub json_logs_on_stderr: bool,
    /// Logs are JSON lines (on stderr or in a file): what fanout itself writes to stderr is
    /// JSON too (the automatic summary), and its own messages for jobs that could not start
    /// are left to the `job_finished` event's `error` field.
    pub json_logs: bool,
    /// stdin is a terminal that the input is read from: no bar while the user types.
    pub input_from_terminal: bool,
    /// `-v` or more: the summary also names the heaviest jobs (CPU time, memory).
    pub verbose: bool,
    /// Where the bar is registered for the log writer, which suspends it around log lines.
    #[cfg(feature = "cli")]
    pub bar_slot: super::term::BarSlot,
}
