//! The scheduler: reads jobs from the input, starts each one under a semaphore permit in a free
//! slot, merges every result into the store, applies `--halt`, and drains the running jobs on
//! cancellation. It emits events and never prints.

mod cancel;
mod child;
pub mod reaper;
pub mod signals;

pub use cancel::Cancel;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use tokio::sync::{Semaphore, mpsc};
use tokio_util::task::TaskTracker;

use crate::config::{Config, HaltOn, HaltWhen, Threshold};
use crate::exec::Executor;
use crate::exit;
use crate::input::{ArgStream, InputError};
use crate::job::{Job, JobId};
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

/// The jobs' arguments, read on a thread of their own when they come from a stream (so a slow
/// stdin never blocks the runtime), in place when they are in memory. The thread sends what
/// it has read in batches: as many values as its buffer already holds (up to [`BATCH`]), so a
/// fast input costs one wake-up per batch, while a slow one still hands over each value as
/// soon as it arrives.
enum Feed {
    Inline(ArgStream),
    Thread {
        rx: mpsc::Receiver<Batch>,
        batch: std::vec::IntoIter<Result<Vec<Vec<u8>>, InputError>>,
    },
}

type Batch = Vec<Result<Vec<Vec<u8>>, InputError>>;

/// The most values the input thread hands over at once.
const BATCH: usize = 64;

impl Feed {
    fn new(input: ArgStream, depth: usize) -> Feed {
        match input {
            ArgStream::Combined(_) => Feed::Inline(input),
            ArgStream::Lines(_) => {
                let (tx, rx) = mpsc::channel(depth.div_ceil(BATCH).max(2));
                std::thread::Builder::new()
                    .name("fanout-input".into())
                    .spawn(move || read_batches(input, tx))
                    .expect("spawning the input thread");
                Feed::Thread {
                    rx,
                    batch: Vec::new().into_iter(),
                }
            }
        }
    }

    async fn next(&mut self) -> Option<Result<Vec<Vec<u8>>, InputError>> {
        match self {
            Feed::Inline(s) => s.next(),
            Feed::Thread { rx, batch } => match batch.next() {
                Some(item) => Some(item),
                None => {
                    *batch = rx.recv().await?.into_iter();
                    batch.next()
                }
            },
        }
    }
}

/// The input thread: reads values and sends them in batches until the input ends, fails or
/// the runner stops listening.
fn read_batches(mut input: ArgStream, tx: mpsc::Sender<Batch>) {
    signals::block_in_helper_thread();
    loop {
        let mut batch = Vec::new();
        let mut failed = false;
        // The first value may wait for a read; the others are taken only while buffered.
        while batch.len() < BATCH && (batch.is_empty() || input.has_buffered_value()) {
            match input.next() {
                Some(item) => {
                    failed = item.is_err();
                    batch.push(item);
                    if failed {
                        break;
                    }
                }
                None => break,
            }
        }
        let last = batch.is_empty() || failed;
        if batch.is_empty() || tx.blocking_send(batch).is_err() || last {
            return;
        }
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

    let semaphore = Arc::new(Semaphore::new(slots));
    let tracker = TaskTracker::new();
    let mut feed = Feed::new(parts.input, slots * 2 + 64);
    let mut cancel_rx = shared.cancel.subscribe();
    let mut seq = 0u64;
    let mut skipped = 0u64;
    let mut input_error = None;
    let mut reported_cancel = None;
    loop {
        let permit = tokio::select! {
            biased;
            _ = cancel_rx.wait_for(Option::is_some) => break,
            p = semaphore.clone().acquire_owned() => p.expect("the semaphore is never closed"),
        };
        let args = match feed.next().await {
            None => {
                shared.emit(RunEvent::InputDone { total: seq }).await;
                break;
            }
            Some(Err(e)) => {
                input_error = Some(e);
                shared.cancel.escalate(CancelReason::ReportFailed);
                break;
            }
            Some(Ok(a)) => a,
        };
        // A cancellation may have come while the input was read: start nothing after it.
        if shared.cancel.reason().is_some() {
            break;
        }
        seq += 1;
        if parts.skip.contains(&seq) {
            skipped += 1;
            continue;
        }
        let job = Job {
            id: JobId(seq),
            args,
        };
        let slot = shared.take_slot();
        let shared = shared.clone();
        tracker.spawn(async move {
            let fin = child::run_job(&shared, job, slot).await;
            if let Some(j) = &shared.joblog
                && !j.record(&fin.record)
            {
                shared.cancel.escalate(CancelReason::ReportFailed);
            }
            shared
                .tracked
                .lock()
                .expect("never poisoned")
                .running
                .remove(&fin.record.id.0);
            let tally = shared.store.push(fin.record.clone()).await;
            let halt = shared.config.halt;
            if halt.triggered(tally.done, tally.unsuccessful()) {
                shared.cancel.escalate(match halt.when {
                    HaltWhen::Now => CancelReason::HaltNow,
                    _ => CancelReason::HaltSoon,
                });
            }
            shared.give_slot(slot);
            drop(permit);
            shared
                .emit(RunEvent::JobFinished {
                    record: Box::new(fin.record),
                    stdout: fin.stdout,
                    stderr: fin.stderr,
                    tag: fin.tag,
                })
                .await;
        });
    }
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
