//! The events the runner emits and reporters consume. The runner never prints; everything a
//! user or a machine sees is rendered from these.

use std::sync::Arc;
use std::time::Duration;

pub use super::spill::Captured;
pub use crate::cancel::CancelReason;
use crate::exec::Handle;
use crate::job::{JobId, JobRecord};
pub use crate::summary::RunSummary;

/// Which of a job's streams some output came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// The job's standard output.
    Stdout,
    /// The job's standard error.
    Stderr,
}

/// One thing that happened during a run.
#[derive(Debug, Clone)]
pub enum RunEvent {
    /// The run begins, before any job starts.
    RunStarted {
        /// fanout's version (`CARGO_PKG_VERSION`).
        version: &'static str,
        /// How many jobs run at once (`-j`).
        slots: usize,
        /// The command template's words joined by spaces (lossy UTF-8).
        command: String,
        /// Jobs skipped because an earlier joblog has them (`--resume`).
        skipped: u64,
        /// The number of jobs (skipped ones included) when the input is in memory and so known
        /// from the start; `None` while a stream is still to be read (`InputDone` tells).
        total: Option<u64>,
    },
    /// A background count of the input file, before it is read: `total` jobs (skipped ones
    /// included) unless the file changes meanwhile. `InputDone` has the last word.
    InputCounted {
        /// The number of jobs the file holds.
        total: u64,
    },
    /// The input ran out: `total` jobs will have run (or been skipped).
    InputDone {
        /// The number of jobs, skipped ones included.
        total: u64,
    },
    /// An attempt at a job has started.
    JobStarted {
        /// The job's sequence number (`{#}`).
        id: JobId,
        /// The slot it runs in, counted from 1 (`{%}`).
        slot: u32,
        /// Where it runs (`:` is this machine).
        place: Arc<str>,
        /// The running attempt: a pid here, a backend's own id elsewhere.
        handle: Handle,
        /// Which attempt this is, counted from 1 (more with `--retries`).
        attempt: u32,
        /// The job's arguments (display form).
        args: Arc<str>,
        /// The same arguments one by one (`None` from an emitter that has only `args`).
        arg_values: Option<crate::job::Args>,
        /// The job's command (display form).
        command: Arc<str>,
    },
    /// Output passed through while the job runs (`--line-buffer`, `--ungroup`).
    JobOutput {
        /// The job it came from.
        id: JobId,
        /// The `--tag`/`--tagstring` prefix for each line.
        tag: Option<Arc<[u8]>>,
        /// Which stream it came from.
        stream: Stream,
        /// The bytes: whole lines with `--line-buffer` (a line longer than 64 KiB comes in
        /// pieces), any chunk with `--ungroup`.
        data: Vec<u8>,
    },
    /// A job is still running after `elapsed` (`--slow`).
    JobSlow {
        /// The slow job.
        id: JobId,
        /// How long its current attempt has run.
        elapsed: Duration,
        /// Its command (display form).
        command: Arc<str>,
    },
    /// A place could not start a job, which is started elsewhere if another place is left.
    PlaceFailed {
        /// The job that could not be started.
        id: JobId,
        /// The place that failed to start it.
        place: Arc<str>,
        /// Why, for the user.
        message: String,
    },
    /// An attempt failed and will be retried after `delay`.
    JobRetrying {
        /// The record of the attempt that failed.
        record: Box<JobRecord>,
        /// The wait before the next attempt (`--retry-delay`, `--retry-backoff`).
        delay: Duration,
    },
    /// A job ended for good. Output is here in full when it was captured (group mode, results):
    /// in memory, or past 1 MiB a stream in a temporary file ([`Captured`]). With
    /// `--line-buffer` and `--ungroup` it was already passed on as [`RunEvent::JobOutput`], and
    /// is here only for the results files.
    JobFinished {
        /// The job's final record.
        record: Box<JobRecord>,
        /// The `--tag`/`--tagstring` prefix for each line.
        tag: Option<Arc<[u8]>>,
        /// The last attempt's stdout (empty when not captured).
        stdout: Captured,
        /// The last attempt's stderr (empty when not captured).
        stderr: Captured,
    },
    /// fanout and its jobs are being stopped (Ctrl-Z).
    Stopped,
    /// They were continued after `stopped_for`.
    Continued {
        /// How long they were stopped.
        stopped_for: Duration,
    },
    /// The run stops starting new jobs.
    Cancelling {
        /// Why the run is stopping.
        reason: CancelReason,
    },
    /// Every job has ended; the last event from the runner.
    RunFinished {
        /// The run's end state and exit code.
        summary: Arc<RunSummary>,
    },
    /// A timer tick sent by the session, not the runner: redraws the progress bar and paces the
    /// plain progress line when no bar is shown.
    Tick,
}
