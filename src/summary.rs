//! The end state of a run, as the result store builds it: the counts (in all and per place),
//! the slowest and failed jobs, why it stopped, and the exit code.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::cancel::CancelReason;
use crate::job::JobRecord;

/// The end state of a run, from the result store.
#[derive(Debug, Clone, Default)]
pub struct RunSummary {
    /// When the run started (wall clock); `None` only in a default summary.
    pub started: Option<SystemTime>,
    /// How long the run took.
    pub wall: Duration,
    /// Jobs that exited 0.
    pub succeeded: u64,
    /// Jobs that failed: a non-zero exit, a signal, or no start.
    pub failed: u64,
    /// Jobs ended for running past `--timeout`.
    pub timed_out: u64,
    /// Jobs ended because the run was halted or interrupted.
    pub cancelled: u64,
    /// Jobs that succeeded only on a retry.
    pub flaky: u64,
    /// Jobs skipped because an earlier joblog has them (`--resume`).
    pub skipped: u64,
    /// The slowest jobs (at most 5), slowest first.
    pub slowest: Vec<JobRecord>,
    /// Failed, timed-out and cancelled jobs (at most `results::KEEP_FAILED`), by id.
    pub failures: Vec<JobRecord>,
    /// The jobs with the most CPU time (at most 5), heaviest first; only jobs whose
    /// executor accounts for them ([`JobRecord::usage`]).
    pub heaviest_cpu: Vec<JobRecord>,
    /// The jobs with the highest peak memory (at most 5), highest first.
    pub heaviest_memory: Vec<JobRecord>,
    /// CPU time of all accounted jobs, in user mode.
    pub cpu_user: Duration,
    /// CPU time of all accounted jobs, in the kernel.
    pub cpu_system: Duration,
    /// Why the run stopped early, if it did.
    pub cancel: Option<CancelReason>,
    /// The exit code of the first failing job (for `--halt ...,fail=1`).
    pub first_failure_code: Option<i32>,
    /// The exit code fanout ends with.
    pub exit_code: i32,
    /// The counts per place that ran (or was given) a job, by host name: `:` alone for a run
    /// on this machine. Their sum is the run's counts.
    pub hosts: Vec<HostSummary>,
}

/// One place's share of a run, from the records of the jobs that ended there (a job's place
/// is where its last attempt ran: the joblog's Host).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostSummary {
    /// The place: an sshlogin as given without its `N/` prefix, `:` for this machine.
    pub host: Arc<str>,
    /// Jobs that exited 0 there.
    pub succeeded: u64,
    /// Jobs that failed there: a non-zero exit, a signal, or no start.
    pub failed: u64,
    /// Jobs ended there for running past `--timeout`.
    pub timed_out: u64,
    /// Jobs there ended (or never started) because the run was halted or interrupted.
    pub cancelled: u64,
    /// The jobs' durations added up: how long the place was busy with them (slot time).
    pub busy: Duration,
}

impl HostSummary {
    /// Jobs that ended there (any outcome).
    pub fn done(&self) -> u64 {
        self.succeeded + self.failed + self.timed_out + self.cancelled
    }
}

impl RunSummary {
    /// Jobs that ran to an end (any outcome).
    pub fn done(&self) -> u64 {
        self.succeeded + self.failed + self.timed_out + self.cancelled
    }
}
