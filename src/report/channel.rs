//! The event channel from the runner to the reporter thread, with wake-ups paid only where
//! they buy something. An event that changes what a user sees now (job output, a slow or
//! retried job, the end of the run) wakes the reporter thread at once; a bookkeeping event (a
//! job started, a silent job finished) waits for its next wake-up, at most [`LAZY`] later. A
//! run of many small jobs thus costs a thread wake-up per batch of jobs, not two per job,
//! which keeps fanout's per-job cost near a bare fork/exec. Order is never changed: a lazy
//! event is delivered before any event sent after it.
//!
//! Job output in the channel is bounded in bytes, not only in events: at most
//! [`OUTPUT_BUDGET`] bytes of it wait for the reporter thread (4096 events of 64 KiB would be
//! 256 MiB). Past that, senders wait, so a slow reader of our stdout slows the jobs down
//! (their pipes fill) instead of growing fanout's memory.

use std::sync::Arc;
use std::thread::Thread;
use std::time::Duration;

use tokio::sync::mpsc::error::{SendError, TryRecvError, TrySendError};
use tokio::sync::{Semaphore, mpsc};

use super::events::RunEvent;

/// The longest a bookkeeping event waits for the reporter thread.
pub const LAZY: Duration = Duration::from_millis(50);

/// The most bytes of job output (in memory) that may wait for the reporter thread.
pub const OUTPUT_BUDGET: usize = 16 << 20;

/// The bytes of job output `event` holds in memory, as budget permits.
fn output_bytes(event: &RunEvent) -> u32 {
    let n = match event {
        RunEvent::JobOutput { data, .. } => data.len(),
        RunEvent::JobFinished { stdout, stderr, .. } => stdout.memory_len() + stderr.memory_len(),
        _ => 0,
    };
    n.min(OUTPUT_BUDGET) as u32
}

/// The sending half of a new channel, for [`EventSender::new`].
#[derive(Debug)]
pub struct SenderHalf {
    tx: mpsc::Sender<RunEvent>,
    budget: Arc<Semaphore>,
}

/// The runner's end of the channel.
#[derive(Debug, Clone)]
pub struct EventSender {
    /// Always `Some` but in `drop`, which must drop it before waking the reporter.
    tx: Option<mpsc::Sender<RunEvent>>,
    /// Permits for the bytes of job output in the channel ([`OUTPUT_BUDGET`]).
    budget: Arc<Semaphore>,
    reporter: Thread,
    /// Every event wakes the reporter (`--keep-order`: a silent job's end may release the
    /// output of the jobs after it).
    eager: bool,
}

impl Drop for EventSender {
    /// The reporter thread ends when the last sender is gone; it must not sleep through that.
    /// The sender goes first: woken before it, the reporter would find the channel still open
    /// and sleep a whole [`LAZY`] before it saw it closed.
    fn drop(&mut self) {
        drop(self.tx.take());
        self.reporter.unpark();
    }
}

impl EventSender {
    /// The sender for a receiver owned by the thread `reporter`.
    pub fn new(half: SenderHalf, reporter: Thread, eager: bool) -> EventSender {
        EventSender {
            tx: Some(half.tx),
            budget: half.budget,
            reporter,
            eager,
        }
    }

    fn tx(&self) -> &mpsc::Sender<RunEvent> {
        self.tx.as_ref().expect("taken only in drop")
    }

    /// Queues `event` without waiting; wakes the reporter when the event is urgent or the
    /// queue is full.
    pub fn try_send(&self, event: RunEvent) -> Result<(), TrySendError<RunEvent>> {
        let n = output_bytes(&event);
        if n > 0 {
            match self.budget.try_acquire_many(n) {
                Ok(permits) => permits.forget(),
                Err(_) => {
                    self.reporter.unpark();
                    return Err(TrySendError::Full(event));
                }
            }
        }
        let wake = self.eager || is_urgent(&event);
        let r = self.tx().try_send(event);
        if r.is_err() && n > 0 {
            self.budget.add_permits(n as usize);
        }
        if wake || r.is_err() {
            self.reporter.unpark();
        }
        r
    }

    /// Queues `event`, waiting for room (backpressure from a slow reader of our stdout).
    pub async fn send(&self, event: RunEvent) -> Result<(), SendError<RunEvent>> {
        let n = output_bytes(&event);
        if n > 0 {
            self.reporter.unpark();
            let permits = self.budget.acquire_many(n).await;
            permits.expect("the budget is never closed").forget();
        }
        let r = match self.tx().try_send(event) {
            Err(TrySendError::Full(event)) => {
                self.reporter.unpark();
                self.tx().send(event).await
            }
            Err(TrySendError::Closed(event)) => Err(SendError(event)),
            Ok(()) => Ok(()),
        };
        // Room was made by the reporter, which may have gone back to sleep since.
        self.reporter.unpark();
        r
    }
}

/// Whether the reporter must see `event` now rather than at its next wake-up.
fn is_urgent(event: &RunEvent) -> bool {
    match event {
        RunEvent::JobStarted { .. } => false,
        RunEvent::JobFinished { stdout, stderr, .. } => !stdout.is_empty() || !stderr.is_empty(),
        _ => true,
    }
}

/// The reporter thread's end of the channel.
#[derive(Debug)]
pub struct EventReceiver {
    rx: mpsc::Receiver<RunEvent>,
    /// How long [`EventReceiver::wait`] sleeps at most ([`LAZY`]).
    lazy: Duration,
    budget: Arc<Semaphore>,
}

impl EventReceiver {
    /// The next queued event, without waiting.
    pub fn try_next(&mut self) -> Result<RunEvent, TryRecvError> {
        self.rx.try_recv()
    }

    /// Gives back the budget `event` took, once every reporter is done with it.
    pub fn done(&self, event: &RunEvent) {
        let n = output_bytes(event);
        if n > 0 {
            self.budget.add_permits(n as usize);
        }
    }

    /// Sleeps until an urgent event comes, [`LAZY`] has passed or the last sender is gone.
    /// Call it from the thread the senders wake (the reporter thread).
    pub fn wait(&self) {
        std::thread::park_timeout(self.lazy);
    }
}

/// A channel of `depth` events. The sender becomes an [`EventSender`] once the reporter thread
/// that owns the receiver exists.
pub fn channel(depth: usize) -> (SenderHalf, EventReceiver) {
    channel_with(depth, LAZY)
}

fn channel_with(depth: usize, lazy: Duration) -> (SenderHalf, EventReceiver) {
    let (tx, rx) = mpsc::channel(depth);
    let budget = Arc::new(Semaphore::new(OUTPUT_BUDGET));
    (
        SenderHalf {
            tx,
            budget: budget.clone(),
        },
        EventReceiver { rx, lazy, budget },
    )
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::job::JobId;

    /// A receiver on a thread of its own, as the reporter thread runs it, whose sleeps last
    /// `lazy`: returns its sender and a handle yielding the events in order and how long the
    /// thread took to see the channel closed.
    fn reporter(
        lazy: Duration,
    ) -> (
        EventSender,
        std::thread::JoinHandle<(Vec<String>, Duration)>,
    ) {
        let (tx, mut rx) = channel_with(16, lazy);
        let handle = std::thread::spawn(move || {
            let mut seen = Vec::new();
            let t0 = Instant::now();
            loop {
                match rx.try_next() {
                    Ok(ev) => seen.push(format!("{ev:?}").chars().take(10).collect()),
                    Err(TryRecvError::Empty) => rx.wait(),
                    Err(TryRecvError::Disconnected) => return (seen, t0.elapsed()),
                }
            }
        });
        let thread = handle.thread().clone();
        (EventSender::new(tx, thread, false), handle)
    }

    fn started() -> RunEvent {
        RunEvent::JobStarted {
            id: JobId(1),
            slot: 1,
            place: ":".into(),
            handle: crate::exec::Handle::Pid(1),
            attempt: 1,
            args: Arc::from("a"),
            arg_values: None,
            command: Arc::from("true a"),
        }
    }

    #[test]
    fn the_last_sender_going_wakes_the_reporter_at_once() {
        // With a 60 s sleep, a reporter that slept through the close would take 60 s.
        let (sender, handle) = reporter(Duration::from_secs(60));
        let other = sender.clone();
        std::thread::sleep(Duration::from_millis(20));
        drop(other);
        drop(sender);
        let (_, took) = handle.join().unwrap();
        assert!(took < Duration::from_secs(30), "{took:?}");
    }

    #[test]
    fn a_lazy_event_waits_for_an_urgent_one_and_keeps_its_place() {
        let (sender, handle) = reporter(Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(20));
        sender.try_send(started()).unwrap();
        sender.try_send(RunEvent::Tick).unwrap();
        let keep = sender.clone();
        drop(sender);
        std::thread::sleep(Duration::from_millis(20));
        drop(keep);
        let (seen, took) = handle.join().unwrap();
        assert_eq!(seen, ["JobStarted", "Tick"]);
        assert!(took < Duration::from_secs(30), "{took:?}");
    }

    #[test]
    fn only_bookkeeping_events_are_lazy() {
        assert!(!is_urgent(&started()));
        assert!(is_urgent(&RunEvent::Tick));
        assert!(is_urgent(&RunEvent::InputDone { total: 1 }));
    }
}
