//! The events the runner emits and reporters consume. The runner never prints; everything a
//! user or a machine sees is rendered from these.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::job::{JobId, JobRecord};

/// Which of a job's streams some output came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// Why the run stopped starting jobs before its input ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CancelReason {
    /// stdout was closed by its reader (`fanout ... | head`): stop quietly.
    OutputClosed,
    /// `--halt soon` was triggered.
    HaltSoon,
    /// `--halt now` was triggered.
    HaltNow,
    /// fanout could not go on: a joblog or results write error, or an input read error.
    ReportFailed,
    /// A signal was received; running jobs get it forwarded.
    Signal(i32),
    /// A second signal: everything is killed at once.
    SecondSignal(i32),
}

/// One thing that happened during a run.
#[derive(Debug, Clone)]
pub enum RunEvent {
    RunStarted {
        version: &'static str,
        slots: usize,
        command: String,
        /// Jobs skipped because an earlier joblog has them (`--resume`).
        skipped: u64,
        /// The number of jobs (skipped ones included) when the input is in memory and so known
        /// from the start; `None` while a stream is still to be read (`InputDone` tells).
        total: Option<u64>,
    },
    /// The input ran out: `total` jobs will have run (or been skipped).
    InputDone {
        total: u64,
    },
    JobStarted {
        id: JobId,
        slot: u32,
        pid: u32,
        attempt: u32,
        args: Arc<str>,
        command: Arc<str>,
    },
    /// Output passed through while the job runs (`--line-buffer`, `--ungroup`).
    JobOutput {
        id: JobId,
        /// The `--tag`/`--tagstring` prefix for each line.
        tag: Option<Arc<[u8]>>,
        stream: Stream,
        data: Vec<u8>,
    },
    /// A job is still running after `elapsed` (`--slow`).
    JobSlow {
        id: JobId,
        elapsed: Duration,
        command: Arc<str>,
    },
    /// An attempt failed and will be retried after `delay`.
    JobRetrying {
        record: Box<JobRecord>,
        delay: Duration,
    },
    /// A job ended for good. Output is here in full when it was captured (group mode, results).
    JobFinished {
        record: Box<JobRecord>,
        tag: Option<Arc<[u8]>>,
        stdout: Vec<u8>,
        stderr: Vec<u8>,
    },
    /// The run stops starting new jobs.
    Cancelling {
        reason: CancelReason,
    },
    RunFinished {
        summary: Arc<RunSummary>,
    },
    /// A timer tick sent by the session, not the runner: redraws the progress bar and paces the
    /// plain progress line when no bar is shown.
    Tick,
}

/// The end state of a run, from the result store.
#[derive(Debug, Clone, Default)]
pub struct RunSummary {
    pub started: Option<SystemTime>,
    pub wall: Duration,
    pub succeeded: u64,
    pub failed: u64,
    pub timed_out: u64,
    pub cancelled: u64,
    /// Jobs that succeeded only on a retry.
    pub flaky: u64,
    pub skipped: u64,
    /// The slowest jobs, slowest first.
    pub slowest: Vec<JobRecord>,
    /// Failed, timed-out and cancelled jobs (at most [`crate::results::KEEP_FAILED`]).
    pub failures: Vec<JobRecord>,
    pub cancel: Option<CancelReason>,
    /// The exit code of the first failing job (for `--halt ...,fail=1`).
    pub first_failure_code: Option<i32>,
    pub exit_code: i32,
}

impl RunSummary {
    /// Jobs that ran to an end (any outcome).
    pub fn done(&self) -> u64 {
        self.succeeded + self.failed + self.timed_out + self.cancelled
    }
}
