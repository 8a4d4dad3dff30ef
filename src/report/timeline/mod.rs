//! `fanout timeline`: a picture of a finished run, drawn from its joblog (fanout's or GNU
//! parallel's, the same format) or its `--results-json` lines, as a Gantt chart in SVG or in
//! one self-contained HTML file. One row per slot (per host and slot when jobs ran on more than
//! one host; a joblog has no slot column, so its jobs are packed into the fewest lanes), one
//! bar per job from its start to its end, coloured by outcome, with an axis in seconds since
//! the first job started.
//!
//! The work is four plain steps, one file each: `parse` reads the file into `Job`s,
//! `layout` puts them on rows and into pixels (`merge` joins bars too thin to see into runs of
//! busy time, so 100,000 jobs stay a few thousand shapes), `svg` and `html` write the picture.
//! This module owns the model and the one public entry point, [`render`]; it reads nothing of
//! a live run (the engine and the reporters never call it).

mod html;
mod layout;
mod merge;
mod parse;
mod svg;

use std::path::{Path, PathBuf};

/// Why a timeline could not be drawn.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TimelineError {
    /// The input file could not be read.
    #[error("cannot read `{path}`: {source}")]
    Read {
        /// The input, as given.
        path: PathBuf,
        /// Why reading it failed.
        #[source]
        source: std::io::Error,
    },
    /// The input is neither a joblog nor a results file.
    #[error(
        "`{path}` is neither a joblog (its first line is not the joblog header `Seq Host Starttime ...`) nor a --results-json file (JSON lines); give one of those"
    )]
    Unrecognised {
        /// The input, as given.
        path: PathBuf,
    },
    /// A joblog line that is not the last has the wrong fields.
    #[error(
        "joblog `{path}` line {line} is malformed (it needs 9 tab-separated fields: Seq Host Starttime JobRuntime Send Receive Exitval Signal Command)"
    )]
    MalformedJoblog {
        /// The input, as given.
        path: PathBuf,
        /// The line's number, counted from 1 (the header is line 1).
        line: usize,
    },
    /// A results line that is not the last is not a job's JSON object.
    #[error("results file `{path}` line {line} is malformed: {source}")]
    MalformedResults {
        /// The input, as given.
        path: PathBuf,
        /// The line's number, counted from 1.
        line: usize,
        /// What the JSON parser said.
        #[source]
        source: serde_json::Error,
    },
    /// The input holds no job that started.
    #[error("`{path}` holds no job that ran: there is nothing to draw")]
    NoJobs {
        /// The input, as given.
        path: PathBuf,
    },
    /// The output's name says neither SVG nor HTML.
    #[error("cannot tell the picture's format from `{path}`: name it `*.svg` or `*.html`")]
    OutputFormat {
        /// The output, as given.
        path: PathBuf,
    },
    /// The picture could not be written.
    #[error("cannot write `{path}`: {source}")]
    Write {
        /// The output, as given.
        path: PathBuf,
        /// Why writing failed.
        #[source]
        source: std::io::Error,
    },
}

/// How a job ended, as far as the picture tells outcomes apart. The order is the order of
/// badness: a merged run of jobs takes the colour of its worst job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Outcome {
    /// Exited 0.
    Ok,
    /// Ended by fanout because the run was halted or interrupted.
    Cancelled,
    /// Exited non-zero, or could not start (126, 127).
    Failed,
    /// Killed by a signal (in a joblog this includes timeouts: it cannot tell them apart).
    Signal,
    /// Ran past `--timeout`.
    TimedOut,
}

impl Outcome {
    /// Every outcome, in the legend's order.
    pub(crate) const ALL: [Outcome; 5] = [
        Outcome::Ok,
        Outcome::Failed,
        Outcome::TimedOut,
        Outcome::Signal,
        Outcome::Cancelled,
    ];

    /// The CSS class of its bars (short: there may be thousands).
    pub(crate) fn class(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Cancelled => "ca",
            Outcome::Failed => "fa",
            Outcome::Signal => "si",
            Outcome::TimedOut => "to",
        }
    }

    /// Its fill colour: distinct hues, readable on white.
    pub(crate) fn colour(self) -> &'static str {
        match self {
            Outcome::Ok => "#4c9a5f",
            Outcome::Cancelled => "#9e9e9e",
            Outcome::Failed => "#d62728",
            Outcome::Signal => "#8e44ad",
            Outcome::TimedOut => "#f0a020",
        }
    }

    /// Its name in the legend and in titles.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Cancelled => "cancelled",
            Outcome::Failed => "failed",
            Outcome::Signal => "killed by a signal",
            Outcome::TimedOut => "timed out",
        }
    }
}

/// What kind of file the jobs came from: a joblog has no slot column and no way to tell a
/// timeout from another signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// fanout's or GNU parallel's `--joblog`.
    Joblog,
    /// fanout's `--results-json`.
    Results,
}

/// One job, as the picture needs it.
#[derive(Debug, Clone)]
pub(crate) struct Job {
    /// Its sequence number (`{#}`).
    pub seq: u64,
    /// The place that ran it (`:` is this machine).
    pub host: String,
    /// The slot it ran in, when the file says (results files do, joblogs do not).
    pub slot: Option<u32>,
    /// Start time, seconds since the Unix epoch.
    pub start: f64,
    /// Wall time in seconds.
    pub duration: f64,
    /// How it ended.
    pub outcome: Outcome,
    /// Its exit code, when it exited.
    pub exit_code: Option<i32>,
    /// The signal that ended it, if one did.
    pub signal: Option<i32>,
    /// The command line it ran.
    pub command: String,
}

impl Job {
    /// When it ended, seconds since the Unix epoch.
    pub(crate) fn end(&self) -> f64 {
        self.start + self.duration
    }
}

/// The jobs of one input file.
#[derive(Debug)]
pub(crate) struct Run {
    /// Where they came from.
    pub source: Source,
    /// The input's file name, for the title.
    pub name: String,
    /// The jobs that started, one per seq (the last line of a seq wins, as on `--resume`).
    pub jobs: Vec<Job>,
    /// Jobs in the file that never started (no start time): counted, not drawn.
    pub not_started: usize,
}

/// The picture's format, from the output file's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Svg,
    Html,
}

impl Format {
    fn of(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "svg" => Some(Format::Svg),
            "html" | "htm" => Some(Format::Html),
            _ => None,
        }
    }
}

/// Draws the run recorded in `input` (a joblog, fanout's or GNU parallel's, or a
/// `--results-json` file) as a Gantt chart into `output`: SVG when its name ends in `.svg`,
/// one self-contained HTML file (no network needed) for `.html`. The file is written whole.
pub fn render(input: &Path, output: &Path) -> Result<(), TimelineError> {
    let format = Format::of(output).ok_or_else(|| TimelineError::OutputFormat {
        path: output.to_owned(),
    })?;
    let run = parse::read(input)?;
    let chart = layout::layout(&run);
    let text = match format {
        Format::Svg => svg::document(&chart),
        Format::Html => html::document(&chart),
    };
    std::fs::write(output, text).map_err(|source| TimelineError::Write {
        path: output.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_output_name_picks_the_format() {
        assert_eq!(Format::of(Path::new("run.svg")), Some(Format::Svg));
        assert_eq!(Format::of(Path::new("a/run.HTML")), Some(Format::Html));
        assert_eq!(Format::of(Path::new("run.png")), None);
        assert_eq!(Format::of(Path::new("run")), None);
    }

    #[test]
    fn a_wrong_output_name_is_reported_before_the_input_is_read() {
        let e = render(Path::new("/nonexistent/joblog"), Path::new("out.png")).unwrap_err();
        assert!(matches!(e, TimelineError::OutputFormat { .. }), "{e}");
    }

    #[test]
    fn worse_outcomes_sort_later() {
        assert!(Outcome::Ok < Outcome::Cancelled);
        assert!(Outcome::Failed < Outcome::Signal);
        assert!(Outcome::Signal < Outcome::TimedOut);
    }
}
