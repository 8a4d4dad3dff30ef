//! Reporters turn run events into what users and machines see: job output, the progress bar,
//! logs, results files and the summary (the joblog is written by the runner itself, see
//! `results::joblog`). They all run on one thread of their own, which owns stdout, so a slow
//! reader of our output never stalls the scheduler's runtime (it only slows it down, through
//! the bounded event channel). An embedder adds its own with [`crate::Run::reporter`] or
//! [`crate::Run::on_event`].

mod bar;
// Without `cli` only `BarParts` is used (the bar itself is not drawn).
#[cfg_attr(not(feature = "cli"), allow(dead_code))]
mod bar_layout;
pub(crate) mod channel;
pub(crate) mod console;
pub(crate) mod dir;
pub mod events;
pub(crate) mod gnu_dir;
pub(crate) mod gnu_table;
pub(crate) mod hosts;
pub(crate) mod json;
mod json_stream;
pub(crate) mod log;
pub mod options;
pub(crate) mod output;
pub(crate) mod progress;
pub(crate) mod spill;
mod standard;
pub(crate) mod summary;
#[cfg(feature = "cli")]
pub mod term;
pub mod timeline;

pub use json::ResultsError;
pub use log::SCHEMA_VERSION;
pub(crate) use standard::Standard;

use std::thread::JoinHandle;

use tokio::sync::mpsc::error::TryRecvError;

use crate::cancel::{Cancel, CancelReason};
use channel::EventSender;
use events::RunEvent;

/// Why a reporter could not go on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
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
    pub(crate) fn from_stdout(e: std::io::Error) -> ReportError {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            ReportError::OutputClosed
        } else {
            ReportError::Fatal(format!("failed to write to stdout: {e}"))
        }
    }
}

/// Something that renders events. Every reporter of a run is called on one thread, in the
/// order the events happened; one that returns an error leaves the run, which is cancelled.
pub trait Reporter: Send {
    /// Takes one event.
    fn on_event(&mut self, event: &RunEvent) -> Result<(), ReportError>;

    /// Called when no event is waiting: write out anything buffered.
    fn flush(&mut self) -> Result<(), ReportError> {
        Ok(())
    }
}

/// A closure as a reporter ([`crate::Run::on_event`]).
pub(crate) struct FnReporter<F>(pub F);

impl<F: FnMut(&RunEvent) + Send> Reporter for FnReporter<F> {
    fn on_event(&mut self, event: &RunEvent) -> Result<(), ReportError> {
        (self.0)(event);
        Ok(())
    }
}

/// The reporter thread: its event sender and the handle that yields the errors it met.
pub(crate) struct ReporterThread {
    pub sender: EventSender,
    pub handle: JoinHandle<Vec<ReportError>>,
}

/// How many events may wait for the reporters before jobs wait for them.
const DEPTH: usize = 4096;

/// Starts the reporter thread. A reporter that fails is dropped from the run and the run is
/// cancelled (`OutputClosed` or `ReportFailed`); the others go on seeing events, so what
/// finished is still logged. With `eager`, every event wakes the thread at once (see
/// [`channel`]).
pub(crate) fn spawn(
    mut reporters: Vec<Box<dyn Reporter>>,
    cancel: Cancel,
    eager: bool,
) -> ReporterThread {
    let (tx, mut rx) = channel::channel(DEPTH);
    let handle = std::thread::Builder::new()
        .name("fanout-report".into())
        .spawn(move || {
            crate::signals::block_in_helper_thread();
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
                        rx.done(&event);
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
