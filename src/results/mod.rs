//! The shared result store: every finished job's record is merged here under one lock, and the
//! summary and the exit code are read from it. The joblog writer lives here too: the runner
//! writes its line as each job ends, before any event about it.
//!
//! Memory stays flat on long runs: the newest records are held in a small buffer, which is
//! folded, whenever it fills, into counts, the slowest jobs and the failed ones. Every failed
//! job is kept (up to [`KEEP_FAILED`]) so the summary can name it. Each record is also counted
//! under its place as it is merged (a few places, so a short list scanned per job).

pub(crate) mod files;
pub(crate) mod joblog;
pub(crate) mod lock;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::cancel::CancelReason;
use crate::config::HaltPolicy;
use crate::job::{JobOutcome, JobRecord};
use crate::summary::{HostSummary, RunSummary};

/// How many failed records the store keeps for the summary; more are only counted.
pub const KEEP_FAILED: usize = 1000;
/// How many of the slowest jobs the summary names.
pub const KEEP_SLOWEST: usize = 5;
/// Records held before the store folds them (a few KiB; folding costs O(COMPACT_AT)).
const COMPACT_AT: usize = 64;

/// Counts by outcome.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tally {
    pub done: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub timed_out: u64,
    pub cancelled: u64,
    pub flaky: u64,
}

impl Tally {
    fn add(&mut self, r: &JobRecord) {
        self.done += 1;
        match r.outcome {
            JobOutcome::Success => {
                self.succeeded += 1;
                if r.attempts > 1 {
                    self.flaky += 1;
                }
            }
            JobOutcome::TimedOut { .. } => self.timed_out += 1,
            JobOutcome::Cancelled { .. } => self.cancelled += 1,
            _ => self.failed += 1,
        }
    }

    /// Jobs that count as failed for the exit code: failed, timed out and cancelled.
    pub fn unsuccessful(&self) -> u64 {
        self.done - self.succeeded
    }
}

#[derive(Debug, Default)]
struct Records {
    /// The newest records, not yet folded.
    jobs: Vec<JobRecord>,
    /// The slowest folded records, at most [`KEEP_SLOWEST`], in no order.
    slowest: Vec<JobRecord>,
    /// Folded records of unsuccessful jobs, at most [`KEEP_FAILED`], in the order they ended.
    failures: Vec<JobRecord>,
    /// The folded records with the most CPU time and the highest peak memory, at most
    /// [`KEEP_SLOWEST`] each, in no order.
    heaviest_cpu: Vec<JobRecord>,
    heaviest_memory: Vec<JobRecord>,
    /// CPU time of every job that has an accounting: user, system.
    cpu: (Duration, Duration),
    totals: Tally,
    /// The counts per place, in the order the places first ended a job.
    hosts: Vec<HostSummary>,
    first_failure_code: Option<i32>,
}

/// How a run ended, beside what the store holds: what the summary needs from the runner.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RunEnd {
    pub cancel: Option<CancelReason>,
    pub skipped: u64,
    pub started: SystemTime,
    pub wall: Duration,
    pub halt: HaltPolicy,
}

/// The merge point for finished jobs: a cheap handle to one `Arc<tokio::sync::Mutex<..>>`.
/// No I/O and no other `.await` happens while the lock is held.
#[derive(Debug, Clone, Default)]
pub struct ResultStore {
    inner: Arc<tokio::sync::Mutex<Records>>,
}

impl ResultStore {
    pub fn new() -> ResultStore {
        ResultStore::default()
    }

    /// Merges a finished job and returns the counts including it (for `--halt`).
    pub async fn push(&self, record: JobRecord) -> Tally {
        let mut r = self.inner.lock().await;
        r.totals.add(&record);
        r.count_at_place(&record);
        if !record.outcome.is_success() && r.first_failure_code.is_none() {
            r.first_failure_code =
                Some(record.outcome.exit_code().unwrap_or_else(|| {
                    crate::exit::for_signal(record.outcome.signal().unwrap_or(0))
                }));
        }
        r.jobs.push(record);
        if r.jobs.len() >= COMPACT_AT {
            r.fold();
        }
        r.totals
    }

    /// The records not yet folded into the summary's lists (the newest ones).
    #[cfg(test)]
    pub async fn snapshot(&self) -> Vec<JobRecord> {
        self.inner.lock().await.jobs.clone()
    }

    /// Builds the run's summary, its exit code settled.
    pub(crate) async fn summary(&self, end: RunEnd) -> RunSummary {
        let mut r = self.inner.lock().await;
        r.fold();
        let t = r.totals;
        let mut slowest = r.slowest.clone();
        slowest.sort_by_key(|j| std::cmp::Reverse(j.duration));
        let mut failures = r.failures.clone();
        failures.sort_by_key(|j| j.id);
        let mut heaviest_cpu = r.heaviest_cpu.clone();
        heaviest_cpu.sort_by_key(|j| std::cmp::Reverse(cpu_of(j)));
        let mut heaviest_memory = r.heaviest_memory.clone();
        heaviest_memory.sort_by_key(|j| std::cmp::Reverse(rss_of(j)));
        let mut summary = RunSummary {
            started: Some(end.started),
            wall: end.wall,
            succeeded: t.succeeded,
            failed: t.failed,
            timed_out: t.timed_out,
            cancelled: t.cancelled,
            flaky: t.flaky,
            skipped: end.skipped,
            slowest,
            failures,
            heaviest_cpu,
            heaviest_memory,
            cpu_user: r.cpu.0,
            cpu_system: r.cpu.1,
            cancel: end.cancel,
            first_failure_code: r.first_failure_code,
            exit_code: 0,
            hosts: {
                let mut hosts = r.hosts.clone();
                hosts.sort_by(|a, b| a.host.cmp(&b.host));
                hosts
            },
        };
        summary.exit_code = crate::exit::for_run(end.halt, &summary);
        summary
    }
}

impl Records {
    /// Counts a merged record under its place.
    fn count_at_place(&mut self, record: &JobRecord) {
        let i = match self.hosts.iter().position(|h| h.host == record.place) {
            Some(i) => i,
            None => {
                self.hosts.push(HostSummary {
                    host: record.place.clone(),
                    ..HostSummary::default()
                });
                self.hosts.len() - 1
            }
        };
        let h = &mut self.hosts[i];
        match record.outcome {
            JobOutcome::Success => h.succeeded += 1,
            JobOutcome::TimedOut { .. } => h.timed_out += 1,
            JobOutcome::Cancelled { .. } => h.cancelled += 1,
            _ => h.failed += 1,
        }
        h.busy += record.duration;
    }

    /// Moves the buffered records into the slowest and failed lists (or drops them).
    fn fold(&mut self) {
        let mut batch = std::mem::take(&mut self.jobs);
        for job in batch.drain(..) {
            if !job.outcome.is_success() && self.failures.len() < KEEP_FAILED {
                self.failures.push(job.clone());
            }
            if let Some(u) = job.usage {
                self.cpu.0 += u.user;
                self.cpu.1 += u.system;
                keep_top(&mut self.heaviest_cpu, &job, cpu_of);
                keep_top(&mut self.heaviest_memory, &job, rss_of);
            }
            keep_top(&mut self.slowest, &job, |j| j.duration);
        }
        // The buffer keeps its capacity: it fills again at once on a long run.
        self.jobs = batch;
    }
}

/// Keeps `job` in `top` if it is among the [`KEEP_SLOWEST`] largest by `key`.
fn keep_top<K: Ord>(top: &mut Vec<JobRecord>, job: &JobRecord, key: impl Fn(&JobRecord) -> K) {
    if top.len() < KEEP_SLOWEST {
        top.push(job.clone());
    } else if let Some(min) = top.iter_mut().min_by_key(|j| key(j))
        && key(job) > key(min)
    {
        *min = job.clone();
    }
}

fn cpu_of(j: &JobRecord) -> Duration {
    j.usage.map_or(Duration::ZERO, |u| u.cpu())
}

fn rss_of(j: &JobRecord) -> u64 {
    j.usage.map_or(0, |u| u.max_rss_kib)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::JobId;

    fn rec(id: u64, outcome: JobOutcome, ms: u64) -> JobRecord {
        JobRecord {
            id: JobId(id),
            slot: 1,
            args: "".into(),
            command: "".into(),
            outcome,
            start: SystemTime::now(),
            duration: Duration::from_millis(ms),
            attempts: 1,
            stdout_bytes: 0,
            stderr_bytes: 0,
            usage: None,
            place: ":".into(),
            handle: None,
        }
    }

    #[tokio::test]
    async fn counts_survive_compaction_and_failures_are_kept() {
        let store = ResultStore::new();
        for i in 0..10_000u64 {
            let outcome = if i % 1000 == 0 {
                JobOutcome::Failed { code: 3 }
            } else {
                JobOutcome::Success
            };
            store.push(rec(i + 1, outcome, i % 977)).await;
        }
        let s = store
            .summary(RunEnd {
                cancel: None,
                skipped: 0,
                started: SystemTime::now(),
                wall: Duration::ZERO,
                halt: HaltPolicy::default(),
            })
            .await;
        assert_eq!(s.done(), 10_000);
        assert_eq!(s.failed, 10);
        assert_eq!(s.failures.len(), 10);
        assert_eq!(s.slowest.len(), KEEP_SLOWEST);
        assert_eq!(s.slowest[0].duration, Duration::from_millis(976));
        assert!(store.snapshot().await.len() < COMPACT_AT);
        assert_eq!(s.first_failure_code, Some(3));
        assert_eq!(s.hosts.len(), 1);
        assert_eq!((&*s.hosts[0].host, s.hosts[0].done()), (":", 10_000));
    }

    fn end() -> RunEnd {
        RunEnd {
            cancel: None,
            skipped: 0,
            started: SystemTime::now(),
            wall: Duration::ZERO,
            halt: HaltPolicy::default(),
        }
    }

    #[tokio::test]
    async fn each_place_counts_its_own_jobs_by_outcome_and_busy_time() {
        let store = ResultStore::new();
        let at = |place: &str, id, outcome, ms| JobRecord {
            place: place.into(),
            ..rec(id, outcome, ms)
        };
        // More than COMPACT_AT records, so the counts must survive folding too.
        for i in 0..100u64 {
            store.push(at("h1", i, JobOutcome::Success, 10)).await;
        }
        store.push(at("h2", 101, JobOutcome::Success, 5)).await;
        store
            .push(at("h2", 102, JobOutcome::Failed { code: 1 }, 7))
            .await;
        store
            .push(at("h2", 103, JobOutcome::Signaled { signal: 9 }, 1))
            .await;
        store
            .push(at(
                "h2",
                104,
                JobOutcome::TimedOut { signal: Some(15) },
                100,
            ))
            .await;
        store
            .push(at(":", 105, JobOutcome::Cancelled { signal: None }, 0))
            .await;
        store.push(at(":", 106, JobOutcome::Success, 3)).await;
        let s = store.summary(end()).await;
        let h: Vec<_> = s
            .hosts
            .iter()
            .map(|h| {
                (
                    &*h.host,
                    h.succeeded,
                    h.failed,
                    h.timed_out,
                    h.cancelled,
                    h.busy.as_millis(),
                )
            })
            .collect();
        assert_eq!(
            h,
            [
                (":", 1, 0, 0, 1, 3),
                ("h1", 100, 0, 0, 0, 1000),
                ("h2", 1, 2, 1, 0, 113),
            ],
            "by name, each outcome under its own place"
        );
        assert_eq!(s.hosts.iter().map(|h| h.done()).sum::<u64>(), s.done());
    }

    #[tokio::test]
    async fn a_run_without_jobs_has_no_places() {
        let s = ResultStore::new().summary(end()).await;
        assert!(s.hosts.is_empty());
    }
}
