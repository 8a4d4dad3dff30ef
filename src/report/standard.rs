//! fanout's own reporters, as the CLI shows a run: job output, results files, the progress
//! bar or line, logs and the summary, built from [`ReportOptions`] once the run is prepared
//! (the printer needs to know which jobs `--resume` skips).

use std::sync::Arc;
use std::time::Duration;

use super::Reporter;
use super::bar::Bar;
use super::console::Console;
use super::dir::ResultsDir;
use super::gnu_dir::{Columns, GnuResultsDir};
use super::gnu_table::{GnuTable, TableKind};
use super::json::JsonResults;
use super::json::ResultsError;
use super::log::LogReporter;
use super::options::ReportOptions;
use super::output::OutputPrinter;
use super::progress::{self, ProgressReporter};
use super::summary::SummaryReporter;
use crate::config::{Config, ResumeMode};

/// The standard reporters, and how often they want a tick (bar redraws, progress lines).
pub(crate) struct Standard {
    pub reporters: Vec<Box<dyn Reporter>>,
    pub tick_every: Option<Duration>,
}

impl Standard {
    /// Builds them in the order they must see each event: the printer, then the results
    /// files (a job in a results file is already in the joblog, which the runner writes before
    /// any event), then progress, logs and the summary.
    pub fn new(
        config: &Config,
        options: &ReportOptions,
        skip: Arc<crate::cluster::Skip>,
        names: &[Vec<u8>],
    ) -> Result<Standard, ResultsError> {
        let bar = Bar::wanted(options);
        let console = Console::new(bar.clone()).map_err(ResultsError::Stdout)?;
        let results_to_stdout = options
            .results_json
            .as_deref()
            .is_some_and(|p| p.as_os_str() == "-");
        // GNU parallel prints no job output when --results is given: it is in the results.
        let gnu_results = options.results.is_some();
        let mut reporters: Vec<Box<dyn Reporter>> = vec![Box::new(
            OutputPrinter::new(
                console.clone(),
                config,
                [!results_to_stdout && !gnu_results, !gnu_results],
                skip.clone(),
            )
            .json_logs(options.json_logs),
        )];
        if let Some(path) = &options.results_json {
            let resume = config.resume != ResumeMode::Off;
            reporters.push(Box::new(JsonResults::open(path, resume, &console)?));
        }
        if let Some(path) = &options.results {
            reporters.push(match TableKind::of(path) {
                Some(kind) => Box::new(GnuTable::open(
                    path,
                    kind,
                    names.to_vec(),
                    &console,
                    config.keep_order.then(|| skip.clone()),
                )?),
                None => Box::new(GnuResultsDir::create(path, columns(config, names))?),
            });
        }
        if let Some(dir) = &options.results_by_seq {
            reporters.push(Box::new(ResultsDir::create(dir)?));
        }
        let tick_every = match bar.is_some() {
            true => Some(progress::BAR_TICK),
            false => Some(options.progress_interval).filter(|d| !d.is_zero()),
        };
        reporters.push(Box::new(ProgressReporter::new(bar, options)));
        let places = places(config);
        reporters.push(Box::new(LogReporter::new(places.clone())));
        reporters.push(Box::new(
            SummaryReporter::new(console, options.summary, options.color, options.json_logs)
                .with_resources(options.verbose)
                .with_places(places),
        ));
        Ok(Standard {
            reporters,
            tick_every,
        })
    }
}

/// The places the run was given, in order (`-S`, `--slf`; `:` is this machine): the per-host
/// counts of the summary and of `run_finished` follow it. None for a run here or on Slurm,
/// whose places are found as the jobs run (a step's node).
fn places(config: &Config) -> Vec<Arc<str>> {
    config.ssh.as_ref().map_or_else(Vec::new, |ssh| {
        ssh.logins.iter().map(|l| Arc::from(&*l.name)).collect()
    })
}

/// How `--results DIR` names a job's values: a record is a value per source (several records
/// with `-N`), or with `--colsep` the columns of a line.
fn columns(config: &Config, names: &[Vec<u8>]) -> Columns {
    let g = &config.grouping;
    let per_record = match g.has_columns() {
        true if g.is_grouping() && !names.is_empty() => names.len(),
        true => 0,
        false => config.sources.len().max(1),
    };
    Columns {
        names: names.to_vec(),
        per_record,
    }
}
