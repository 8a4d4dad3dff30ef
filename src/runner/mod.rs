//! The runner: reads jobs from the input, starts each one under a semaphore permit in a free
//! slot (on one scheduler thread per CPU, see [`scheduler`]), merges every result into the
//! store, applies `--halt`, and drains the running jobs on cancellation. It emits events and
//! never prints.

mod cancel;
mod child;
mod feed;
pub mod reaper;
mod scheduler;
pub mod signals;

pub use cancel::Cancel;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use tokio::sync::{Semaphore, mpsc};
use tokio_util::task::TaskTracker;

use feed::{Feed, Jobs};
use scheduler::Schedulers;

use crate::config::{Config, HaltOn, Threshold};
use crate::exec::Executor;
use crate::exit;
use crate::input::{ArgStream, InputError};
use crate::report::channel::EventSender;
use crate::report::events::{CancelReason, RunEvent, RunSummary};
use crate::results::ResultStore;
use crate::results::joblog::JoblogWriter;
use crate::template::Template;

/// What every job task shares.
pub(crate) struct Shared {
    pub config: Config,
    pub template: Template,
    pub tag: Option<Template>,
    pub executor: Arc<dyn Executor>,
    pub store: ResultStore,
    pub cancel: Cancel,
    pub events: EventSender,
    pub tracked: reaper::TrackedSet,
    pub joblog: Option<JoblogWriter>,
    /// Free slot numbers; a permit always finds one here.
    free_slots: Mutex<Vec<u32>>,
}

impl Shared {
    /// Sends an event to the reporters; waits when they are behind (backpressure on output).
    /// After a second signal nothing waits any more: the event is dropped if the reporters are
    /// stuck (a reader that stopped reading our stdout), so the run can end at once.
    pub async fn emit(&self, event: RunEvent) {
        use mpsc::error::TrySendError;
        // The only other error is a closed channel, when the reporters are gone: nothing to tell.
        let Err(TrySendError::Full(event)) = self.events.try_send(event) else {
            return;
        };
        let mut cancel = self.cancel.subscribe();
        tokio::select! {
            _ = self.events.send(event) => {}
            _ = cancel.wait_for(|r| matches!(r, Some(CancelReason::SecondSignal(_)))) => {}
        }
    }

    fn take_slot(&self) -> u32 {
        self.free_slots
            .lock()
            .expect("never poisoned")
            .pop()
            .expect("a permit is held, so a slot is free")
    }

    fn give_slot(&self, slot: u32) {
        self.free_slots.lock().expect("never poisoned").push(slot);
    }
}

/// Everything a run needs besides its configuration.
pub struct RunParts {
    pub template: Template,
    /// The `--tagstring` template.
    pub tag: Option<Template>,
    pub input: ArgStream,
    pub executor: Arc<dyn Executor>,
    /// Seqs to skip (already done, from `--resume`).
    pub skip: HashSet<u64>,
    pub events: EventSender,
    pub cancel: Cancel,
    pub store: ResultStore,
    /// `--joblog`: a line is written here as each job ends, before any event about it.
    pub joblog: Option<JoblogWriter>,
}

/// Runs every job and returns the summary, with its exit code settled. An input read error
/// mid-run stops the run and is returned beside the summary.
pub async fn run(config: Config, parts: RunParts) -> (RunSummary, Option<InputError>) {
    let started = SystemTime::now();
    let t0 = Instant::now();
    let slots = config.slots.max(1);
    let tracked: reaper::TrackedSet = Default::default();
    reaper::start_worker();
    let reap = config.reap_orphans && reaper::become_subreaper();
    let reaper_task = reap.then(|| tokio::spawn(reaper::run(tracked.clone())));
    let shared = Arc::new(Shared {
        template: parts.template,
        tag: parts.tag,
        executor: parts.executor,
        store: parts.store,
        cancel: parts.cancel,
        events: parts.events,
        tracked: tracked.clone(),
        joblog: parts.joblog,
        free_slots: Mutex::new((1..=slots as u32).rev().collect()),
        config,
    });
    let deadline = tokio::spawn(force_after_grace(
        shared.cancel.clone(),
        shared.config.grace + FORCE_MARGIN,
    ));
    shared
        .emit(RunEvent::RunStarted {
            version: env!("CARGO_PKG_VERSION"),
            slots,
            command: command_display(&shared.config),
            skipped: parts.skip.len() as u64,
            total: parts.input.known_len(),
        })
        .await;

    let mut cancel_rx = shared.cancel.subscribe();
    let mut reported_cancel = None;
    let feed = Feed::new(parts.input, slots * 2 + 64);
    let scheds = Arc::new(Schedulers {
        shared: shared.clone(),
        jobs: tokio::sync::Mutex::new(Jobs::new(feed, parts.skip)),
        slots: Arc::new(Semaphore::new(slots)),
        tracker: TaskTracker::new(),
    });
    // The other threads' shares first, so they start while this one starts its own jobs.
    let mut shares = scheduler::shares(slots, crate::config::default_slots());
    let mine = shares.remove(0);
    let others: Vec<_> = shares
        .into_iter()
        .filter_map(|s| scheds.spawn_thread(s))
        .collect();
    scheds.schedule(mine).await;
    for stopped in others {
        // An error means the thread is gone: it starts nothing any more either.
        let _ = stopped.await;
    }
    let tracker = scheds.tracker.clone();
    tracker.close();
    // Say why the run stops, once per reason as it appears or escalates: also for a signal or
    // a halt that comes after the input ran out, while the running jobs drain.
    loop {
        if let Some(reason) = shared.cancel.reason()
            && reported_cancel != Some(reason)
        {
            reported_cancel = Some(reason);
            shared.emit(RunEvent::Cancelling { reason }).await;
        }
        if tracker.is_empty() {
            break;
        }
        tokio::select! {
            biased;
            changed = cancel_rx.changed() => {
                if changed.is_err() {
                    tracker.wait().await;
                }
            }
            _ = tracker.wait() => {}
        }
    }
    deadline.abort();
    if let Some(task) = reaper_task {
        task.abort();
        reaper::sweep_all(tracked, std::time::Duration::from_secs(2)).await;
    }

    let (skipped, input_error) = {
        let mut jobs = scheds.jobs.lock().await;
        (jobs.skipped, jobs.error.take())
    };
    let cancel = shared.cancel.reason().or(reported_cancel);
    let mut summary = shared.store.summary(cancel, skipped).await;
    summary.started = Some(started);
    summary.wall = t0.elapsed();
    summary.exit_code = exit_code(&shared.config, &summary);
    shared
        .emit(RunEvent::RunFinished {
            summary: Arc::new(summary.clone()),
        })
        .await;
    (summary, input_error)
}

/// How long after the grace a signalled run may still take to wind down (write out what the
/// jobs left) before it is forced to end; with the default 5 s grace, under docker's 10 s.
const FORCE_MARGIN: std::time::Duration = std::time::Duration::from_secs(2);

/// After a first signal, gives the run `bound` to end; then escalates as a second signal would,
/// so a reader that stopped reading our stdout cannot keep fanout alive.
async fn force_after_grace(cancel: Cancel, bound: std::time::Duration) {
    let mut rx = cancel.subscribe();
    let signalled = rx
        .wait_for(|r| matches!(r, Some(CancelReason::Signal(_))))
        .await
        .map(|r| *r);
    if let Ok(Some(CancelReason::Signal(sig))) = signalled {
        tokio::time::sleep(bound).await;
        cancel.escalate(CancelReason::SecondSignal(sig));
    }
}

/// Settles the exit code: 128+N after signal N; 0 when `--halt ...,success=N` was met; for
/// `--halt ...,fail=1` the failing job's own code; otherwise the number of unsuccessful jobs
/// (capped at 101).
fn exit_code(config: &Config, s: &RunSummary) -> i32 {
    match s.cancel {
        Some(CancelReason::Signal(n) | CancelReason::SecondSignal(n)) => exit::for_signal(n),
        Some(CancelReason::ReportFailed) => exit::SETUP_ERROR,
        Some(CancelReason::OutputClosed) => exit::for_signal(libc::SIGPIPE),
        Some(CancelReason::HaltSoon | CancelReason::HaltNow) => {
            let h = config.halt;
            if h.on == HaltOn::Success {
                // GNU parallel: the success condition was met, so the run succeeded.
                0
            } else if h.on == HaltOn::Fail && h.threshold == Threshold::Count(1) {
                s.first_failure_code.unwrap_or(1)
            } else {
                exit::for_failures(s.failed + s.timed_out)
            }
        }
        None => exit::for_failures(s.failed + s.timed_out + s.cancelled),
    }
}

fn command_display(config: &Config) -> String {
    config
        .command
        .iter()
        .map(|w| w.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ")
}
