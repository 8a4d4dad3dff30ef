//! The event channel from the runner to the reporter thread, with wake-ups paid only where
//! they buy something. An event that changes what a user sees now (job output, a slow or
//! retried job, the end of the run) wakes the reporter thread at once; a bookkeeping event (a
//! job started, a silent job finished) waits for its next wake-up, at most [`LAZY`] later. A
//! run of many small jobs thus costs a thread wake-up per batch of jobs, not two per job,
//! which keeps fanout's per-job cost near a bare fork/exec. Order is never changed: a lazy
//! event is delivered before any event sent after it.

use std::thread::Thread;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::sync::mpsc::error::{SendError, TryRecvError, TrySendError};

use super::events::RunEvent;

/// The longest a bookkeeping event waits for the reporter thread.
pub const LAZY: Duration = Duration::from_millis(50);

/// The runner's end of the channel.
#[derive(Debug)]
pub struct EventSender {
    tx: mpsc::Sender<RunEvent>,
    reporter: Thread,
    /// Every event wakes the reporter (`--keep-order`: a silent job's end may release the
    /// output of the jobs after it).
    eager: bool,
}

impl Clone for EventSender {
    fn clone(&self) -> Self {
        EventSender {
            tx: self.tx.clone(),
            reporter: self.reporter.clone(),
            eager: self.eager,
        }
    }
}

impl Drop for EventSender {
    /// The reporter thread ends when the last sender is gone; it must not sleep through that.
    fn drop(&mut self) {
        self.reporter.unpark();
    }
}

impl EventSender {
    /// The sender for a receiver owned by the thread `reporter`.
    pub fn new(tx: mpsc::Sender<RunEvent>, reporter: Thread, eager: bool) -> EventSender {
        EventSender {
            tx,
            reporter,
            eager,
        }
    }

    /// Queues `event` without waiting; wakes the reporter when the event is urgent or the
    /// queue is full.
    pub fn try_send(&self, event: RunEvent) -> Result<(), TrySendError<RunEvent>> {
        let wake = self.eager || is_urgent(&event);
        let r = self.tx.try_send(event);
        if wake || r.is_err() {
            self.reporter.unpark();
        }
        r
    }

    /// Queues `event`, waiting for room (backpressure from a slow reader of our stdout).
    pub async fn send(&self, event: RunEvent) -> Result<(), SendError<RunEvent>> {
        let r = match self.try_send(event) {
            Err(TrySendError::Full(event)) => self.tx.send(event).await,
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
}

impl EventReceiver {
    /// The next queued event, without waiting.
    pub fn try_next(&mut self) -> Result<RunEvent, TryRecvError> {
        self.rx.try_recv()
    }

    /// Sleeps until an urgent event comes, [`LAZY`] has passed or the last sender is gone.
    /// Call it from the thread the senders wake (the reporter thread).
    pub fn wait(&self) {
        std::thread::park_timeout(LAZY);
    }
}

/// A channel of `depth` events. The sender becomes an [`EventSender`] once the reporter thread
/// that owns the receiver exists.
pub fn channel(depth: usize) -> (mpsc::Sender<RunEvent>, EventReceiver) {
    let (tx, rx) = mpsc::channel(depth);
    (tx, EventReceiver { rx })
}
