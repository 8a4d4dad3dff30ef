//! The library face: a [`Run`] is built from a [`Config`], given an executor and reporters,
//! checked with [`Run::prepare`] (nothing has started then), and run with
//! [`Prepared::run`] or [`Prepared::run_blocking`]. `main.rs` drives fanout through it too.
//!
//! ```no_run
//! use fanout::{Cancel, Config, Run};
//! use fanout::input::{Source, SourceKind};
//!
//! let mut config = Config::default();
//! config.command = vec!["echo".into(), "hello {}".into()];
//! config.sources = vec![Source::args(["a", "b", "c"])];
//! let summary = Run::new(config)
//!     .on_event(|event| eprintln!("{event:?}"))
//!     .prepare()?
//!     .run_blocking(Cancel::new())?;
//! assert_eq!(summary.exit_code, 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod dry;
mod prepare;
mod resume;

use std::sync::Arc;
use std::time::Duration;

use crate::cancel::{Cancel, CancelReason};
use crate::config::Config;
use crate::error::{RunError, SetupError};
use crate::exec::{Executor, Local, Ssh};
use crate::report::events::{RunEvent, RunSummary};
use crate::report::options::ReportOptions;
use crate::report::{self, FnReporter, ReportError, Reporter, Standard};
use crate::runner::{self, RunParts};

/// A run being put together.
pub struct Run {
    config: Config,
    executor: Option<Arc<dyn Executor>>,
    standard: Option<ReportOptions>,
    reporters: Vec<Box<dyn Reporter>>,
}

impl Run {
    /// A run of `config` on this machine ([`Local`]) with no reporters.
    pub fn new(config: Config) -> Run {
        Run {
            config,
            executor: None,
            standard: None,
            reporters: Vec::new(),
        }
    }

    /// Runs the jobs with `executor` instead of on this machine.
    pub fn executor(mut self, executor: impl Executor) -> Run {
        self.executor = Some(Arc::new(executor));
        self
    }

    /// Shows the run as the `fanout` command does (job output on stdout, the progress bar or
    /// line, logs through `tracing`, results files, the summary), set up by `options`.
    pub fn standard_reporters(mut self, options: ReportOptions) -> Run {
        self.standard = Some(options);
        self
    }

    /// Adds a reporter; it sees every event after fanout's own reporters.
    pub fn reporter(mut self, reporter: impl Reporter + 'static) -> Run {
        self.reporters.push(Box::new(reporter));
        self
    }

    /// Calls `f` with every event, on the reporter thread, in order.
    pub fn on_event(self, f: impl FnMut(&RunEvent) + Send + 'static) -> Run {
        self.reporter(FnReporter(f))
    }

    /// Checks everything that can be checked before the first job: the templates, the input
    /// sources, the joblog (and opens it) and the results files.
    pub fn prepare(self) -> Result<Prepared, SetupError> {
        // Jobs run here (the default executor, not Slurm steps): processes of an earlier run
        // on this joblog that are still alive are waited for or refused.
        let claim_local = self.executor.is_none() && self.config.cluster.slurm.is_none();
        let mut parts = prepare::check(&self.config, claim_local)?;
        let marker = parts.marker.take();
        let mut reporters = Vec::new();
        let mut tick_every = None;
        if let Some(options) = &self.standard
            && !self.config.dry_run
        {
            let standard = Standard::new(
                &self.config,
                options,
                Arc::new(parts.skip.clone()),
                &parts.names,
            )?;
            reporters = standard.reporters;
            tick_every = standard.tick_every;
        }
        reporters.extend(self.reporters);
        let local = || {
            Local::new()
                .reap_orphans(self.config.reap_orphans)
                .nice(self.config.nice)
                .marker(marker)
        };
        let slurm = self.config.cluster.slurm.clone();
        let executor: Arc<dyn Executor> = match (self.executor, &self.config.ssh, slurm) {
            (Some(e), _, _) => e,
            (None, _, Some(s)) => Arc::new(crate::exec::Slurm::new(s)),
            (None, Some(ssh), None) => {
                Arc::new(Ssh::new(ssh.clone(), local()).map_err(SetupError::SshDir)?)
            }
            (None, None, None) => Arc::new(local()),
        };
        Ok(Prepared {
            config: self.config,
            executor,
            reporters,
            tick_every,
            parts,
        })
    }
}

/// A checked run, ready to start.
pub struct Prepared {
    config: Config,
    executor: Arc<dyn Executor>,
    reporters: Vec<Box<dyn Reporter>>,
    tick_every: Option<Duration>,
    parts: prepare::Parts,
}

impl Prepared {
    /// Runs every job (or, with `dry_run`, prints the commands) and returns the summary with
    /// the exit code settled. `cancel` is the shutdown trigger: `fanout` wires signals to it,
    /// an embedder or a test cancels it directly.
    pub async fn run(self, cancel: Cancel) -> Result<RunSummary, RunError> {
        let Prepared {
            config,
            executor,
            reporters,
            tick_every,
            parts,
        } = self;
        if config.dry_run {
            let exit_code = dry::print(&config, parts)?;
            return Ok(RunSummary {
                exit_code,
                ..RunSummary::default()
            });
        }
        // Before any reporter: a run that gets no allocation has nothing to report.
        executor.acquire(&cancel).await?;
        let thread = report::spawn(reporters, cancel.clone(), config.keep_order);
        let ticker = tick_every.map(|every| tokio::spawn(tick(thread.sender.clone(), every)));
        let joblog = parts.joblog.clone();
        let (summary, input_error) = runner::run(
            config,
            RunParts {
                template: parts.template,
                tag: parts.tag,
                files: parts.files,
                input: parts.input,
                executor,
                skip: parts.skip,
                events: thread.sender,
                cancel,
                joblog: parts.joblog,
                threads: crate::config::default_slots(),
                pipe: parts.pipe,
            },
        )
        .await;
        // Every line is written; make them durable (also when a signal ended the run), so a
        // finish that was reported survives a power cut.
        let synced = joblog.as_ref().map_or(Ok(()), |j| j.sync());
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
        if let Some(e) = joblog.and_then(|j| j.take_failure()) {
            return Err(e.into());
        }
        synced?;
        for e in errors {
            if let ReportError::Fatal(_) = e {
                return Err(RunError::Report(e));
            }
        }
        Ok(summary)
    }

    /// [`Prepared::run`] on a runtime of its own, for callers without one.
    pub fn run_blocking(self, cancel: Cancel) -> Result<RunSummary, RunError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(RunError::Runtime)?;
        let summary = runtime.block_on(self.run(cancel));
        // Jobs are over; do not wait for stray blocking tasks (a stdin read that never ends).
        runtime.shutdown_background();
        summary
    }
}

async fn finishes_within<T>(handle: &std::thread::JoinHandle<T>, bound: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + bound;
    while !handle.is_finished() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    handle.is_finished()
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
            events.try_send(RunEvent::Tick)
        {
            return;
        }
    }
}
