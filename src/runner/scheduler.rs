//! The scheduler threads: each runs a single-threaded tokio runtime that takes jobs from the
//! shared input and runs them in its share of the job slots, from spawn to merged result.
//!
//! Why several threads, each with a share of the slots, and not one runtime with a pool of
//! workers: a job's end wakes the thread that started it, which starts the next job at once,
//! with no hand-off between threads; and while one thread waits for a spawn (the kernel holds
//! a spawning thread until the child has called exec, about 65 µs here) or copies a job's
//! output, the others go on. This is what a bare fork/exec loop per CPU does, and it is the
//! fastest shape measured (README, "Performance"). The slots stay one
//! `tokio::sync::Semaphore` of as many permits as job slots (`-j`), which bounds the running
//! jobs; each thread also holds its share in a semaphore of its own, so that a slot freed
//! on one thread is taken up again on that thread; and each place has a semaphore of its own
//! slot count ([`super::places`]). Places added during the run bring slots of their own: they
//! are added to the total and to the calling thread's share (`super::follow_places`).

use std::ops::ControlFlow;
use std::sync::Arc;

use tokio::sync::{Mutex as AsyncMutex, OwnedSemaphorePermit, Semaphore};
use tokio_util::task::TaskTracker;

use super::Shared;
use super::feed::Jobs;
use super::job;
use super::places::Placement;
use crate::cancel::CancelReason;
use crate::config::HaltWhen;
use crate::job::Job;
use crate::report::events::RunEvent;
use crate::template::RenderError;

/// The most scheduler threads: more than the CPUs buys nothing.
const MAX_THREADS: usize = 16;

/// What the scheduler threads share.
pub(crate) struct Schedulers {
    pub shared: Arc<Shared>,
    pub jobs: AsyncMutex<Jobs>,
    /// The job slots: no more children run at once than it has permits.
    pub slots: Arc<Semaphore>,
    /// Every job task, on whichever thread it runs.
    pub tracker: TaskTracker,
}

/// How many scheduler threads a run of `slots` slots gets on `cpus` CPUs, and the share of
/// the slots of each (the first share is the calling thread's).
pub(crate) fn shares(slots: usize, cpus: usize) -> Vec<usize> {
    let threads = slots.min(cpus).clamp(1, MAX_THREADS);
    (0..threads)
        .map(|i| slots / threads + usize::from(i < slots % threads))
        .collect()
}

impl Schedulers {
    /// Starts a scheduler thread with `share` slots. Returns a receiver that resolves when its
    /// loop has stopped taking jobs (its jobs may still run; the thread ends with them), or
    /// `None` when the thread could not start (its share is then lost to this run).
    pub fn spawn_thread(
        self: &Arc<Self>,
        share: usize,
    ) -> Option<tokio::sync::oneshot::Receiver<()>> {
        let (done, stopped) = tokio::sync::oneshot::channel();
        let me = self.clone();
        let own = Arc::new(Semaphore::new(share));
        std::thread::Builder::new()
            .name("fanout-sched".into())
            .spawn(move || {
                // No signals are blocked here: the jobs spawned from this thread would inherit
                // the mask (std's posix_spawn keeps it), and a job must get its signals.
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::warn!(error = %e, share, "a scheduler thread could not start its runtime; its slots go unused");
                        return;
                    }
                };
                runtime.block_on(async {
                    me.schedule(own).await;
                    let _ = done.send(());
                    // The runtime must outlive the jobs it spawned.
                    me.tracker.wait().await;
                });
            })
            .map_err(|e| {
                tracing::warn!(error = %e, share, "a scheduler thread could not start; its slots go unused");
            })
            .ok()
            .map(|_| stopped)
    }

    /// Takes jobs and starts them in as many slots as `own` has permits (this thread's share,
    /// which grows when places are added during the run) until the input runs out or the run
    /// is cancelled.
    pub async fn schedule(&self, own: Arc<Semaphore>) {
        let mut cancel = self.shared.cancel.subscribe();
        loop {
            let room = async {
                let permits = acquire(&own, &self.slots).await;
                (permits, self.shared.places.acquire(&[]).await)
            };
            let (permits, placement) = tokio::select! {
                biased;
                _ = cancel.wait_for(Option::is_some) => break,
                p = room => p,
            };
            let Some(placement) = placement else { break };
            // Waiting for input (a slow stdin) gives way to a cancellation too.
            let next = async { self.jobs.lock().await.next(&self.shared).await };
            let job = tokio::select! {
                biased;
                _ = cancel.wait_for(Option::is_some) => break,
                job = next => job,
            };
            let Some(job) = job else { break };
            let slot = self.shared.take_slot();
            let rendered = match render(&self.shared, &job, slot) {
                ControlFlow::Continue(Some(r)) => r,
                ControlFlow::Continue(None) => {
                    self.shared.give_slot(slot);
                    continue;
                }
                ControlFlow::Break(()) => {
                    self.shared.give_slot(slot);
                    break;
                }
            };
            let shared = self.shared.clone();
            self.tracker.spawn(async move {
                run_and_merge(shared, job, slot, rendered, placement, permits).await
            });
        }
    }
}

impl Schedulers {
    /// `--onall`: takes every job into the queue of its place (`per_place` jobs each, place
    /// after place), then runs each place's queue in order, one job at a time, with at most
    /// `--onall`'s hosts at once running.
    pub async fn schedule_onall(&self, per_place: u64) {
        let places = self.shared.places.len();
        let mut queues: Vec<Vec<Job>> = (0..places).map(|_| Vec::new()).collect();
        let mut cancel = self.shared.cancel.subscribe();
        loop {
            let next = async { self.jobs.lock().await.next(&self.shared).await };
            let job = tokio::select! {
                biased;
                _ = cancel.wait_for(Option::is_some) => break,
                job = next => job,
            };
            let Some(job) = job else { break };
            let place = ((job.id.0 - 1) / per_place.max(1)) as usize;
            queues[place.min(places - 1)].push(job);
        }
        let at_once = match &self.shared.config.onall {
            Some(o) => o.hosts_at_once.unwrap_or(places),
            None => places,
        };
        let turns = Arc::new(Semaphore::new(at_once.clamp(1, places)));
        for (index, queue) in queues.into_iter().enumerate() {
            if queue.is_empty() {
                continue;
            }
            let shared = self.shared.clone();
            let turns = turns.clone();
            self.tracker
                .spawn(async move { run_place(shared, index, queue, turns).await });
        }
    }
}

/// Renders `job` for `slot`: `None` when it `skip()`s; a perl expression that fails stops the
/// run (the job must not run with it unevaluated).
fn render(shared: &Shared, job: &Job, slot: u32) -> ControlFlow<(), Option<job::Rendered>> {
    match job::render(shared, job, slot) {
        Ok(r) => ControlFlow::Continue(Some(r)),
        Err(RenderError::Skip) => ControlFlow::Continue(None),
        Err(RenderError::Perl(e)) => {
            tracing::error!(job.id = job.id.0, error = %e, "perl expression failed; the job is not run and the run stops");
            shared.cancel.escalate(CancelReason::ReportFailed);
            ControlFlow::Break(())
        }
    }
}

/// `--onall`: the jobs of one place, one after the other, in one slot, when its turn comes.
async fn run_place(shared: Arc<Shared>, index: usize, queue: Vec<Job>, turns: Arc<Semaphore>) {
    let mut cancel = shared.cancel.subscribe();
    let room = async {
        let turn = turns.acquire_owned().await.ok()?;
        Some((turn, shared.places.acquire_at(index).await?))
    };
    let (_turn, mut placement) = tokio::select! {
        biased;
        _ = cancel.wait_for(Option::is_some) => return,
        room = room => match room {
            Some(r) => r,
            None => return,
        },
    };
    let slot = shared.take_slot();
    // GNU parallel tags `--onall` lines with the host, not the arguments.
    let host_tag =
        matches!(shared.config.tag, Some(crate::config::Tag::Args)) && shared.tag.is_none();
    for job in queue {
        if shared.cancel.reason().is_some() {
            break;
        }
        let mut rendered = match render(&shared, &job, slot) {
            ControlFlow::Continue(Some(r)) => r,
            ControlFlow::Continue(None) => continue,
            ControlFlow::Break(()) => break,
        };
        if host_tag && rendered.tagged() {
            rendered.retag(placement.name.as_bytes());
        }
        let (fin, back) = job::run_job(&shared, job, slot, rendered, placement).await;
        merge(&shared, fin, || ()).await;
        match back {
            Some(p) => placement = p,
            None => break,
        }
    }
    shared.give_slot(slot);
}

/// A permit of this thread's share, then one of the run's slots (free whenever the first is:
/// the shares add up to the slots).
async fn acquire(
    own: &Arc<Semaphore>,
    slots: &Arc<Semaphore>,
) -> (OwnedSemaphorePermit, OwnedSemaphorePermit) {
    let mine = own
        .clone()
        .acquire_owned()
        .await
        .expect("the semaphore is never closed");
    let slot = slots
        .clone()
        .acquire_owned()
        .await
        .expect("the semaphore is never closed");
    (mine, slot)
}

/// Runs one job and merges its end ([`merge`]), freeing its slot and room.
async fn run_and_merge(
    shared: Arc<Shared>,
    job: Job,
    slot: u32,
    rendered: job::Rendered,
    placement: Placement,
    permits: (OwnedSemaphorePermit, OwnedSemaphorePermit),
) {
    let (fin, placement) = job::run_job(&shared, job, slot, rendered, placement).await;
    merge(&shared, fin, || {
        shared.give_slot(slot);
        drop((placement, permits));
    })
    .await;
}

/// Merges a job's end: the joblog line first (so a job reported done is in it), then the
/// result store and `--halt`; then `release` frees the job's room, and the reporters are told.
async fn merge(shared: &Arc<Shared>, fin: job::Finished, release: impl FnOnce()) {
    if let Some(j) = &shared.joblog
        && !j.record(&fin.record)
    {
        shared.cancel.escalate(CancelReason::ReportFailed);
    }
    let tally = shared.store.push(fin.record.clone()).await;
    let halt = shared.config.halt;
    if halt.triggered(tally.done, tally.unsuccessful()) {
        shared.cancel.escalate(match halt.when {
            HaltWhen::Now => CancelReason::HaltNow,
            _ => CancelReason::HaltSoon,
        });
    }
    release();
    shared
        .emit(RunEvent::JobFinished {
            record: Box::new(fin.record),
            stdout: fin.stdout,
            stderr: fin.stderr,
            tag: fin.tag,
        })
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up_to_the_slots_one_thread_per_cpu_at_most() {
        assert_eq!(shares(1, 8), [1]);
        assert_eq!(shares(2, 2), [1, 1]);
        assert_eq!(shares(8, 2), [4, 4]);
        assert_eq!(shares(7, 2), [4, 3]);
        assert_eq!(shares(3, 1), [3]);
        assert_eq!(shares(100, 64).len(), MAX_THREADS);
        assert_eq!(shares(100, 64).iter().sum::<usize>(), 100);
    }
}
