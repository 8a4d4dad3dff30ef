//! Reporters turn run events into what users and machines see: job output, the progress bar,
//! logs, the joblog, results files and the summary. They all run on one thread of their own,
//! which owns stdout, so a slow reader of our output never stalls the scheduler's runtime
//! (it only slows it down, through the bounded event channel).

pub mod channel;
pub mod console;
pub mod events;
pub mod log;
pub mod output;
pub mod progress;
pub mod summary;
pub mod term;

use std::thread::JoinHandle;

use tokio::sync::mpsc::error::TryRecvError;

use crate::runner::Cancel;
use channel::EventSender;
use events::{CancelReason, RunEvent};

/// Why a reporter could not go on.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Our stdout was closed by its reader: stop quietly.
    #[error("stdout was closed")]
    OutputClosed,
    /// A write that must not fail did (joblog, results): the run stops with this message.
    #[error("{0}")]
    Fatal(String),
}

impl ReportError {
    /// Classifies a write error on stdout.
    pub fn from_stdout(e: std::io::Error) -> ReportError {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            ReportError::OutputClosed
        } else {
            ReportError::Fatal(format!("failed to write to stdout: {e}"))
        }
    }
}

/// Something that renders events.
pub trait Reporter: Send {
    fn on_event(&mut self, event: &RunEvent) -> Result<(), ReportError>;

    /// Called when no event is waiting: write out anything buffered.
    fn flush(&mut self) -> Result<(), ReportError> {
        Ok(())
    }
}

/// The reporter thread: its event sender and the handle that yields the errors it met.
pub struct ReporterThread {
    pub sender: EventSender,
    pub handle: JoinHandle<Vec<ReportError>>,
}

/// How many events may wait for the reporters before jobs wait for them.
const DEPTH: usize = 4096;

/// Starts the reporter thread. A reporter that fails is dropped from the run and the run is
/// cancelled (`OutputClosed` or `ReportFailed`); the others go on seeing events, so what
/// finished is still logged. With `eager`, every event wakes the thread at once (see
/// [`channel`]).
pub fn spawn(mut reporters: Vec<Box<dyn Reporter>>, cancel: Cancel, eager: bool) -> ReporterThread {
    let (tx, mut rx) = channel::channel(DEPTH);
    let handle = std::thread::Builder::new()
        .name("fanout-report".into())
        .spawn(move || {
            crate::runner::signals::block_in_helper_thread();
            let mut live = Live {
                reporters: reporters.drain(..).map(Some).collect(),
                errors: Vec::new(),
                cancel,
            };
            // Whether events were handled since the last flush.
            let mut dirty = false;
            loop {
                match rx.try_next() {
                    Ok(event) => {
                        dirty = true;
                        live.each(|r| r.on_event(&event));
                    }
                    Err(TryRecvError::Empty) => {
                        if dirty {
                            live.each(|r| r.flush());
                            dirty = false;
                        }
                        rx.wait();
                    }
                    Err(TryRecvError::Disconnected) => break,
                }
            }
            live.each(|r| r.flush());
            live.errors
        })
        .expect("spawning the reporter thread");
    let sender = EventSender::new(tx, handle.thread().clone(), eager);
    ReporterThread { sender, handle }
}

/// The reporters still in the run, and the errors that took the others out.
struct Live {
    reporters: Vec<Option<Box<dyn Reporter>>>,
    errors: Vec<ReportError>,
    cancel: Cancel,
}

impl Live {
    /// Calls `f` on every live reporter; one that fails leaves the run and cancels it.
    fn each(&mut self, mut f: impl FnMut(&mut dyn Reporter) -> Result<(), ReportError>) {
        for slot in &mut self.reporters {
            if let Some(r) = slot.as_mut()
                && let Err(e) = f(r.as_mut())
            {
                self.cancel.escalate(match e {
                    ReportError::OutputClosed => CancelReason::OutputClosed,
                    ReportError::Fatal(_) => CancelReason::ReportFailed,
                });
                *slot = None;
                self.errors.push(e);
            }
        }
    }
}
