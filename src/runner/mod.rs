//! The runner: reads jobs from the input, starts each one under semaphore permits (the run's
//! `-j` total and its place's own slots) in a free slot, on one scheduler thread per CPU (see
//! [`scheduler`]), merges every result into the store, applies `--halt`, and drains the
//! running jobs on cancellation. It decides *when* (timeouts, signals, retries); the executor
//! decides *how*, so it knows no pids. It emits events and never prints.

mod drain;
mod feed;
mod job;
mod median;
mod pause;
mod places;
mod scheduler;
mod supervise;
#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use tokio::sync::{Semaphore, mpsc};
use tokio_util::task::TaskTracker;

use feed::{Feed, Jobs};
use places::Places;
use scheduler::Schedulers;

use crate::cancel::{Cancel, CancelReason};
use crate::config::Config;
use crate::exec::Executor;
use crate::input::{ArgStream, InputError};
use crate::report::channel::EventSender;
use crate::report::events::{RunEvent, RunSummary};
use crate::results::joblog::JoblogWriter;
use crate::results::{ResultStore, RunEnd};
use crate::template::{FileTemplates, Template};

/// What every job task shares.
pub(crate) struct Shared {
    pub config: Config,
    pub template: Template,
    pub tag: Option<Template>,
    /// `--transferfile`, `--return`, `--workdir`: rendered into each job's spec.
    pub files: Option<FileTemplates>,
    pub executor: Arc<dyn Executor>,
    pub places: Places,
    pub store: ResultStore,
    pub cancel: Cancel,
    pub events: EventSender,
    pub joblog: Option<JoblogWriter>,
    /// Free slot numbers; a permit always finds one here.
    free_slots: Mutex<Vec<u32>>,
    /// Attempts running now (started, not yet ended).
    running: AtomicUsize,
    /// The time the run spent stopped (Ctrl-Z).
    pub pause: pause::PauseClock,
    /// The median runtime of the jobs that succeeded, for `--timeout N%`.
    pub median: median::Median,
    /// `--onall`: how many jobs each place runs (job k of place h is h * n + k); every job
    /// stays at its place (no move after a failure or a lost connection).
    pub onall: Option<u64>,
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

    /// New slot numbers for the slots after `from` up to `to` (the total grew).
    fn add_slots(&self, from: usize, to: usize) {
        let mut free = self.free_slots.lock().expect("never poisoned");
        free.splice(0..0, (from as u32 + 1..=to as u32).rev());
    }

    /// How many attempts are running (a job waiting to start is not one).
    pub fn running(&self) -> usize {
        self.running.load(Ordering::Relaxed)
    }

    /// Each job runs at the one place it was given (`--onall`).
    pub fn pinned(&self) -> bool {
        self.onall.is_some()
    }
}

/// Everything a run needs besides its configuration.
pub(crate) struct RunParts {
    pub template: Template,
    /// The `--tagstring` template.
    pub tag: Option<Template>,
    /// The file names an ssh host sends and returns around each job.
    pub files: Option<FileTemplates>,
    pub input: ArgStream,
    pub executor: Arc<dyn Executor>,
    /// Jobs that do not run here (other shards', already done by `--resume`).
    pub skip: crate::cluster::Skip,
    pub events: EventSender,
    pub cancel: Cancel,
    /// `--joblog`: a line is written here as each job ends, before any event about it.
    pub joblog: Option<JoblogWriter>,
    /// The most scheduler threads (the CPUs fanout may use; 1 in tests on paused time).
    pub threads: usize,
    /// `--pipe`: the blocks of the input, instead of `input`'s values.
    pub pipe: Option<crate::pipe::PipeSource>,
}

/// Runs every job and returns the summary, with its exit code settled. An input read error
/// mid-run stops the run and is returned beside the summary.
pub(crate) async fn run(config: Config, parts: RunParts) -> (RunSummary, Option<InputError>) {
    let started = SystemTime::now();
    let t0 = Instant::now();
    parts.executor.open().await;
    let slots = parts.executor.total_slots(config.slots).max(1);
    let mut input = parts.input;
    // `--onall`: the inputs once per place, place after place.
    let mut onall_error = None;
    let onall = match &config.onall {
        None => None,
        Some(_) => {
            let places = parts.executor.places().len();
            let (all, per) = match input.collect::<Result<Vec<_>, _>>() {
                Ok(values) => {
                    let per = values.len() as u64;
                    let all = (0..places).flat_map(|_| values.iter().cloned()).collect();
                    (all, per)
                }
                Err(e) => {
                    onall_error = Some(e);
                    parts.cancel.escalate(CancelReason::ReportFailed);
                    (Vec::new(), 0)
                }
            };
            input = ArgStream::from_vec(all);
            Some(per)
        }
    };
    let shared = Arc::new(Shared {
        template: parts.template,
        tag: parts.tag,
        files: parts.files,
        places: Places::new(parts.executor.places(), slots),
        executor: parts.executor,
        store: ResultStore::new(),
        cancel: parts.cancel,
        events: parts.events,
        joblog: parts.joblog,
        free_slots: Mutex::new((1..=slots as u32).rev().collect()),
        running: AtomicUsize::new(0),
        pause: Default::default(),
        median: Default::default(),
        onall,
        config,
    });
    let job_control = shared
        .config
        .job_control
        .then(|| tokio::spawn(pause::job_control(shared.clone())));
    let deadline = tokio::spawn(force_after_grace(
        shared.cancel.clone(),
        shared.config.grace + FORCE_MARGIN,
    ));
    shared
        .emit(RunEvent::RunStarted {
            version: env!("CARGO_PKG_VERSION"),
            slots,
            command: command_display(&shared.config),
            skipped: parts.skip.resumed_len(),
            total: input
                .known_len()
                .filter(|_| parts.pipe.is_none())
                .map(|n| parts.skip.jobs_upto(n)),
        })
        .await;

    // A regular file is counted in the background (blocks of --pipe are not), so the total
    // and an ETA are known long before it is read to its end.
    let counter = input.take_counter().filter(|_| parts.pipe.is_none());
    let stop_count = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let counting = counter.map(|counter| {
        let shared = shared.clone();
        let skip = parts.skip.clone();
        let stop = stop_count.clone();
        tokio::spawn(async move {
            let count = tokio::task::spawn_blocking(move || counter.count(&stop));
            if let Ok(Ok(Some(n))) = count.await {
                let total = skip.jobs_upto(n);
                shared.emit(RunEvent::InputCounted { total }).await;
            }
        })
    });
    let mut cancel_rx = shared.cancel.subscribe();
    let mut reported_cancel = None;
    let feed = match parts.pipe {
        Some(p) => Feed::Blocks(p.start(slots)),
        None => Feed::new(input, slots * 2 + 64),
    };
    let scheds = Arc::new(Schedulers {
        shared: shared.clone(),
        jobs: tokio::sync::Mutex::new(Jobs::new(feed, parts.skip)),
        slots: Arc::new(Semaphore::new(slots)),
        tracker: TaskTracker::new(),
    });
    // `--onall` keeps the places it started with.
    let following = if let Some(per_place) = shared.onall {
        scheds.schedule_onall(per_place).await;
        None
    } else {
        // The other threads' shares first, so they start while this one starts its own jobs.
        let mut shares = scheduler::shares(slots, parts.threads);
        let mine = Arc::new(Semaphore::new(shares.remove(0)));
        let others: Vec<_> = shares
            .into_iter()
            .filter_map(|s| scheds.spawn_thread(s))
            .collect();
        let following = tokio::spawn(follow_places(scheds.clone(), mine.clone(), slots));
        scheds.schedule(mine).await;
        for stopped in others {
            // An error means the thread is gone: it starts nothing any more either.
            let _ = stopped.await;
        }
        Some(following)
    };
    // No job starts any more: later changes of the places change nothing. Awaited, so that
    // what it holds (the event sender among it) is gone before the reporters are waited for.
    if let Some(following) = following {
        following.abort();
        let _ = following.await;
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
    if let Some(task) = counting {
        stop_count.store(true, std::sync::atomic::Ordering::Relaxed);
        task.abort();
    }
    if let Some(task) = job_control {
        task.abort();
    }
    shared.executor.close().await;

    let (skipped, input_error) = {
        let mut jobs = scheds.jobs.lock().await;
        (jobs.skipped, jobs.error.take().or(onall_error))
    };
    let end = RunEnd {
        cancel: shared.cancel.reason().or(reported_cancel),
        skipped,
        started,
        wall: t0.elapsed(),
        halt: shared.config.halt,
    };
    let summary = shared.store.summary(end).await;
    shared
        .emit(RunEvent::RunFinished {
            summary: Arc::new(summary.clone()),
        })
        .await;
    (summary, input_error)
}

/// Follows the executor's places while jobs start: new places, retired ones, other slots. When
/// the executor's total grows (a host added), the run's total, the slot numbers and `mine`
/// (the calling thread's share) grow with it, before the new places open.
async fn follow_places(scheds: Arc<Schedulers>, mine: Arc<Semaphore>, mut total: usize) {
    let shared = &scheds.shared;
    loop {
        let places = shared.executor.places_changed().await;
        let want = shared.executor.total_slots(shared.config.slots);
        if want > total {
            // Slot numbers first: a permit always finds one.
            shared.add_slots(total, want);
            scheds.slots.add_permits(want - total);
            mine.add_permits(want - total);
            total = want;
        }
        tracing::debug!(places = places.len(), total, "the places changed");
        shared.places.update(places, total);
    }
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

fn command_display(config: &Config) -> String {
    config
        .command
        .iter()
        .map(|w| w.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ")
}
