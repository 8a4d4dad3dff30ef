//! One fanout invocation from configuration to exit code: checks the setup (template, input,
//! joblog), starts the reporters on their thread, runs the jobs and settles the exit code.

use std::collections::HashSet;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{Config, ResumeMode};
use crate::error::SetupError;
use crate::exec::{Executor, Local};
use crate::input::{ArgStream, SourceKind};
use crate::job::{Job, JobId};
use crate::report::console::Console;
use crate::report::events::CancelReason;
use crate::report::log::LogReporter;
use crate::report::output::OutputPrinter;
use crate::report::progress::{self, ProgressReporter};
use crate::report::summary::SummaryReporter;
use crate::report::term::BarSlot;
use crate::report::{self, ReportError, Reporter};
use crate::results::ResultStore;
use crate::results::dir::ResultsDir;
use crate::results::joblog::{self, JoblogWriter};
use crate::results::json::JsonResults;
use crate::runner::{self, Cancel, RunParts};
use crate::template::Template;

/// When the progress bar is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProgressMode {
    /// When stderr is a terminal (and not in CI).
    #[default]
    Auto,
    On,
    Off,
}

/// How the end-of-run summary is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SummaryMode {
    #[default]
    Text,
    Json,
    Off,
}

/// What the reporters show, beside the engine's configuration.
#[derive(Debug, Clone, Default)]
pub struct ReportOptions {
    pub progress: ProgressMode,
    /// How often a plain progress line is logged when no bar is shown.
    pub progress_interval: Duration,
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
    pub bar_slot: BarSlot,
}

/// The checked parts of a run: nothing here has started a job yet.
pub struct Prepared {
    pub template: Template,
    pub tag: Option<Template>,
    pub input: ArgStream,
    pub skip: HashSet<u64>,
    pub joblog: Option<JoblogWriter>,
}

/// Checks everything that can be checked before the first job: the template, the input
/// sources and the joblog. Every problem here is a `SetupError` (exit 255).
pub fn prepare(config: &Config, host: &str) -> Result<Prepared, SetupError> {
    let groups = config.sources.len().max(1);
    let template = Template::parse(&config.command, config.shell_mode, groups)?;
    let tag = match &config.tag {
        Some(crate::config::Tag::Template(t)) => Some(
            Template::parse(
                std::slice::from_ref(t),
                crate::template::ShellMode::Auto,
                groups,
            )
            .map_err(SetupError::TagTemplate)?,
        ),
        _ => None,
    };
    if config.resume != ResumeMode::Off && config.joblog.is_none() {
        return Err(SetupError::Usage(
            "--resume and --resume-failed need --joblog FILE: give the joblog of the earlier run"
                .into(),
        ));
    }
    let (skip, joblog) = match &config.joblog {
        Some(path) if config.dry_run => (
            match config.resume {
                ResumeMode::Off => HashSet::new(),
                mode => joblog::read_done(path, mode)?.0,
            },
            None,
        ),
        Some(path) => {
            let (skip, valid) = match config.resume {
                ResumeMode::Off => (HashSet::new(), None),
                mode => {
                    let (skip, valid) = joblog::read_done(path, mode)?;
                    (skip, Some(valid))
                }
            };
            (skip, Some(JoblogWriter::open(path, valid, host)?))
        }
        None => (HashSet::new(), None),
    };
    for s in &config.sources {
        if let SourceKind::File(p) = &s.kind
            && config.joblog.as_deref() == Some(p.as_path())
        {
            return Err(SetupError::Usage(format!(
                "`{}` is both an input file and the joblog: give them different paths",
                p.display()
            )));
        }
    }
    let input = ArgStream::open(&config.sources, config.separator)?;
    Ok(Prepared {
        template,
        tag,
        input,
        skip,
        joblog,
    })
}

/// Prints the commands that would run, one per line, and runs nothing. Synchronous and
/// streaming: a million input lines cost a million small writes to a buffer, nothing more.
pub fn dry_run(config: &Config, prepared: Prepared) -> Result<i32, SetupError> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, stdout.lock());
    let slots = config.slots.max(1) as u64;
    let io_err = |source| SetupError::Io {
        what: "failed to write to stdout".into(),
        source,
    };
    for (i, args) in prepared.input.enumerate() {
        let seq = i as u64 + 1;
        let args = args?;
        if prepared.skip.contains(&seq) {
            continue;
        }
        let job = Job {
            id: JobId(seq),
            args,
        };
        let slot = ((seq - 1) % slots) as u32 + 1;
        let spec = prepared.template.render(&job, slot);
        // The bytes as they are (GNU parallel does not re-encode), after the tag as output
        // lines would have it (`a<TAB>echo a`).
        let mut line = match (&prepared.tag, &config.tag) {
            (Some(t), _) => t.render_plain(&job, slot),
            (None, Some(crate::config::Tag::Args)) => job.args.join(&b' '),
            _ => Vec::new(),
        };
        if config.tag.is_some() {
            line.push(b'\t');
        }
        line.extend_from_slice(&spec.display_bytes());
        line.push(b'\n');
        match out.write_all(&line) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(141),
            r => r.map_err(io_err)?,
        }
    }
    match out.flush() {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(141),
        r => r.map(|_| 0).map_err(io_err),
    }
}

async fn finishes_within<T>(handle: &std::thread::JoinHandle<T>, bound: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + bound;
    while !handle.is_finished() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    handle.is_finished()
}

/// Runs the whole session and returns the exit code. `cancel` is the shutdown trigger
/// (wired to signals by `main`, or cancelled directly by tests).
pub async fn run(
    config: Config,
    options: ReportOptions,
    cancel: Cancel,
) -> Result<i32, SetupError> {
    let executor: Arc<dyn Executor> = Arc::new(Local::new());
    let prepared = prepare(&config, executor.host())?;
    if config.dry_run {
        return dry_run(&config, prepared);
    }
    let Prepared {
        template,
        tag,
        input,
        skip,
        joblog,
    } = prepared;
    let skip = Arc::new(skip);
    let bar = progress::wants_bar(&options).map(|force| progress::new_bar(force, options.color));
    options.bar_slot.set(bar.clone());
    let console = Console::new(bar.clone()).map_err(|source| SetupError::Io {
        what: "cannot use stdout".into(),
        source,
    })?;
    let results_to_stdout = options
        .results_json
        .as_deref()
        .is_some_and(|p| p.as_os_str() == "-");

    // The joblog is written by the runner as each job ends: a job shown as done is in it.
    let mut reporters: Vec<Box<dyn Reporter>> = vec![Box::new(OutputPrinter::new(
        console.clone(),
        config.keep_order,
        !results_to_stdout,
        skip.clone(),
    ))];
    // Results after the joblog: a job in a results file is already in the joblog.
    if let Some(path) = &options.results_json {
        let resume = config.resume != ResumeMode::Off;
        reporters.push(Box::new(JsonResults::open(path, resume, &console)?));
    }
    if let Some(dir) = &options.results_dir {
        reporters.push(Box::new(ResultsDir::create(dir)?));
    }
    let tick_every = match bar {
        Some(_) => Some(progress::BAR_TICK),
        None => Some(options.progress_interval).filter(|d| !d.is_zero()),
    };
    reporters.push(Box::new(ProgressReporter::new(
        bar,
        options.bar_slot.clone(),
    )));
    reporters.push(Box::new(LogReporter));
    reporters.push(Box::new(SummaryReporter::new(
        console.clone(),
        options.summary,
        options.color,
    )));
    let thread = report::spawn(reporters, cancel.clone(), config.keep_order);
    let ticker = tick_every.map(|every| tokio::spawn(tick(thread.sender.clone(), every)));

    let store = ResultStore::new();
    let (summary, input_error) = runner::run(
        config,
        RunParts {
            template,
            tag,
            input,
            executor,
            skip: (*skip).clone(),
            events: thread.sender,
            cancel,
            store,
            joblog: joblog.clone(),
        },
    )
    .await;
    if let Some(t) = ticker {
        // The ticker holds a sender: it must be gone for the reporter thread to end.
        t.abort();
        let _ = t.await;
    }
    // Interrupted: wait a little for the reporters, not for ever on a stdout nobody reads.
    let interrupted = matches!(
        summary.cancel,
        Some(CancelReason::Signal(_) | CancelReason::SecondSignal(_))
    );
    let stuck = interrupted && !finishes_within(&thread.handle, Duration::from_secs(2)).await;
    let errors = if stuck {
        Vec::new()
    } else {
        thread.handle.join().unwrap_or_default()
    };
    if let Some(e) = input_error {
        return Err(e.into());
    }
    if let Some(msg) = joblog.and_then(|j| j.failure()) {
        return Err(SetupError::Usage(msg));
    }
    for e in errors {
        if let ReportError::Fatal(msg) = e {
            return Err(SetupError::Usage(msg));
        }
    }
    Ok(summary.exit_code)
}

/// Sends a `Tick` to the reporters every `every` (the bar's redraws, the progress line). A
/// tick that finds the channel full is dropped: the reporters are busy, so they are not idle.
async fn tick(events: report::channel::EventSender, every: Duration) {
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    interval.tick().await;
    loop {
        interval.tick().await;
        if let Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) =
            events.try_send(report::events::RunEvent::Tick)
        {
            return;
        }
    }
}
