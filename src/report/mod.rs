//! Reporters turn run events into what users and machines see: job output, the progress bar,
//! logs, the joblog, results files and the summary. They all run on one thread of their own,
//! which owns stdout, so a slow reader of our output never stalls the scheduler's runtime
//! (it only slows it down, through the bounded event channel).

pub mod console;
pub mod events;
pub mod log;
pub mod output;
pub mod progress;
pub mod summary;
pub mod term;

use std::thread::JoinHandle;

use tokio::sync::mpsc;

use crate::runner::Cancel;
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
    pub sender: mpsc::Sender<RunEvent>,
    pub handle: JoinHandle<Vec<ReportError>>,
}

/// How many events may wait for the reporters before jobs wait for them.
const DEPTH: usize = 4096;

/// Starts the reporter thread. A reporter that fails is dropped from the run and the run is
/// cancelled (`OutputClosed` or `ReportFailed`); the others go on seeing events, so what
/// finished is still logged.
pub fn spawn(mut reporters: Vec<Box<dyn Reporter>>, cancel: Cancel) -> ReporterThread {
    let (sender, mut rx) = mpsc::channel::<RunEvent>(DEPTH);
    let handle = std::thread::Builder::new()
        .name("fanout-report".into())
        .spawn(move || {
            let mut errors = Vec::new();
            let mut fail =
                |i: usize, e: ReportError, reporters: &mut Vec<Option<Box<dyn Reporter>>>| {
                    cancel.escalate(match e {
                        ReportError::OutputClosed => CancelReason::OutputClosed,
                        ReportError::Fatal(_) => CancelReason::ReportFailed,
                    });
                    reporters[i] = None;
                    errors.push(e);
                };
            let mut live: Vec<Option<Box<dyn Reporter>>> = reporters.drain(..).map(Some).collect();
            loop {
                let event = match rx.try_recv() {
                    Ok(ev) => ev,
                    Err(mpsc::error::TryRecvError::Empty) => {
                        for i in 0..live.len() {
                            if let Some(r) = live[i].as_mut()
                                && let Err(e) = r.flush()
                            {
                                fail(i, e, &mut live);
                            }
                        }
                        match rx.blocking_recv() {
                            Some(ev) => ev,
                            None => break,
                        }
                    }
                    Err(mpsc::error::TryRecvError::Disconnected) => break,
                };
                for i in 0..live.len() {
                    if let Some(r) = live[i].as_mut()
                        && let Err(e) = r.on_event(&event)
                    {
                        fail(i, e, &mut live);
                    }
                }
            }
            for i in 0..live.len() {
                if let Some(r) = live[i].as_mut()
                    && let Err(e) = r.flush()
                {
                    fail(i, e, &mut live);
                }
            }
            errors
        })
        .expect("spawning the reporter thread");
    ReporterThread { sender, handle }
}
