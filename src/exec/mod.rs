//! How an attempt of a job is started, signalled and waited for, on whatever runs it.
//!
//! The runner owns *when* (timeouts, the `--termseq` timing, `--slow`, retries, `--halt`,
//! the grace before a kill); an executor owns *how*. A backend is a type that implements
//! [`Executor`] and an [`Attempt`] type of its own, in a file or folder of its own under
//! `exec/`, with no change to the runner:
//!
//! - [`Executor::places`]: the places it runs jobs on, each with its own slot count (this
//!   machine is one place, `:`; an SSH host or a Slurm allocation would be others). The
//!   scheduler bounds every place with a semaphore of its own and the whole run with `-j`.
//!   [`Executor::places_changed`] tells of places added or retired while the run goes on.
//! - [`Executor::start`]: starts one attempt of a rendered job at a place and returns its
//!   [`Attempt`], or a typed [`StartError`]: the job's own failure (it will not start however
//!   often it is tried), a shortage (the runner backs off and tries again) or a failure of the
//!   place (the runner starts the job at another place).
//! - [`Attempt`]: the running attempt: its [`Handle`] for records, its output streams,
//!   delivering a signal to everything it started, waiting for its end, and getting back
//!   output streams that something it left behind still holds open.
//! - [`Executor::open`] and [`Executor::close`]: what the backend needs around a run (the
//!   local one reaps orphans as a subreaper and starts the guard that ends the jobs if fanout
//!   is killed, see [`main_if_guard`]; a Slurm one would hold an allocation).
//!
//! [`Local`] runs jobs on this machine; `fake` (tests, and the `testing` feature) starts no
//! process at all and plays scripted attempts, which is how the runner's timing is tested.

#[cfg(any(test, feature = "testing"))]
pub mod fake;
mod local;
mod slurm;
pub mod ssh;
pub(crate) mod stdin;

pub use crate::job::Handle;
pub use local::{Local, main_if_guard};
pub(crate) use local::{Marker, claim_joblog};
pub use nix::sys::signal::Signal;
pub use slurm::Slurm;
pub use ssh::{Ssh, SshConfig};

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;

use futures::future::BoxFuture;
use tokio::io::AsyncRead;

use crate::job::{JobId, JobSpec};

/// Somewhere jobs run, with room for `slots` of them at once.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Place {
    /// The name in records and the joblog's Host column (`:` is this machine, as in GNU
    /// parallel).
    pub name: Arc<str>,
    /// How many jobs may run here at once; the run's `-j` bounds the total beside it.
    pub slots: usize,
    /// No new job goes here (its login left the `--slf` file during the run); the jobs
    /// running here finish. A retired place keeps its index and may come back.
    pub retired: bool,
}

impl Place {
    /// A place named `name` with room for `slots` jobs (at least one).
    pub fn new(name: impl Into<Arc<str>>, slots: usize) -> Place {
        Place {
            name: name.into(),
            slots: slots.max(1),
            retired: false,
        }
    }
}

/// One attempt to start: the rendered job and where it runs.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct StartRequest<'a> {
    /// The command to run.
    pub spec: &'a JobSpec,
    /// The job's sequence number (`{#}`).
    pub id: JobId,
    /// The job slot (`{%}`), unique among running jobs.
    pub slot: u32,
    /// The index of the place in [`Executor::places`].
    pub place: usize,
    /// Which attempt this is, from 1.
    pub attempt: u32,
}

impl StartRequest<'_> {
    /// The variables every job sees, whatever runs it: `FANOUT_SEQ` and `FANOUT_SLOT` (as `{#}`
    /// and `{%}`), and GNU parallel's names for them, so scripts written for it keep working.
    pub fn job_env(&self) -> [(&'static str, String); 4] {
        let seq = self.id.0.to_string();
        let slot = self.slot.to_string();
        [
            ("FANOUT_SEQ", seq.clone()),
            ("PARALLEL_SEQ", seq),
            ("FANOUT_SLOT", slot.clone()),
            ("PARALLEL_JOBSLOT", slot),
        ]
    }
}

/// Why an attempt did not start.
#[derive(Debug)]
#[non_exhaustive]
pub enum StartError {
    /// The job cannot start however often it is tried (a missing program, a file that is not
    /// executable): it is a failed job with this exit code, and `message` is its stderr.
    Job {
        /// The code a shell would give (127 not found, 126 not executable).
        code: i32,
        /// One line naming the program and the problem, newline included.
        message: String,
    },
    /// Something ran short for a moment (descriptors, processes, memory): the runner waits a
    /// little and tries again. `message` says what.
    Shortage {
        /// The system's word for it.
        message: String,
    },
    /// The place itself failed (an unreachable host): the job is started at another place.
    Place {
        /// What went wrong with the place.
        message: String,
    },
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Job { message, .. } => f.write_str(message.trim_end()),
            StartError::Shortage { message } => write!(f, "short of resources: {message}"),
            StartError::Place { message } => write!(f, "the place failed: {message}"),
        }
    }
}

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Exit {
    /// It exited with this code.
    Code(i32),
    /// A signal ended it.
    Signal(i32),
    /// Its end could not be learnt (the wait itself failed).
    Unknown,
    /// The place lost it: the connection to an ssh host failed under it, so whether and how
    /// the job ended is unknown. The runner starts the job again at another place.
    Lost,
}

/// One of an attempt's output streams.
pub type OutputStream = Pin<Box<dyn AsyncRead + Send>>;

/// A running attempt, as its executor started it.
pub trait Attempt: Send {
    /// The handle to record for it.
    fn handle(&self) -> Handle;

    /// Its stdout and stderr; called once, right after the start.
    fn take_output(&mut self) -> (OutputStream, OutputStream);

    /// Delivers `signal` to everything the attempt started (the local executor signals the
    /// job's process group). Delivery that fails because the attempt is gone is not an error.
    fn signal(&mut self, signal: Signal);

    /// Waits for the attempt's end. Cancel-safe: the runner calls it again after a timer.
    /// Once it has returned, nothing the attempt started may go on running.
    fn wait(&mut self) -> BoxFuture<'_, Exit>;

    /// The attempt has ended but its output streams are still open, held by something it left
    /// behind: end that. Returns false when it could not look now and wants to be asked again
    /// shortly. The runner asks after a short linger.
    fn reclaim_output(&mut self) -> BoxFuture<'_, bool> {
        Box::pin(async { true })
    }

    /// Where the attempt runs, when the executor learns it only once it has started (the node
    /// Slurm put a step on); `None`: the place it was started at. Asked right after the start.
    fn ran_at(&self) -> Option<Arc<str>> {
        None
    }

    /// CPU time and peak memory of the attempt, once [`Attempt::wait`] has returned; `None`
    /// when the executor cannot tell (a remote job, an old kernel).
    fn usage(&self) -> Option<crate::job::Usage> {
        None
    }
}

/// What kept an executor from getting what the run needs ([`Executor::acquire`]): one line
/// saying what failed and what to do.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct AcquireError {
    /// The message.
    pub message: String,
}

/// Starts attempts of jobs at places. See the module documentation for what a backend
/// implements.
pub trait Executor: Send + Sync + 'static {
    /// The places jobs run on; never empty. Read when the run starts; later changes come
    /// from [`Executor::places_changed`].
    fn places(&self) -> Vec<Place>;

    /// Waits until the places change during the run (an `--slf` file was edited) and returns
    /// all of them: append only, so every place keeps its index (a place that goes away is
    /// [`Place::retired`]) and new ones come after; a place's slots may change too. The
    /// runner calls it again and again from one task after [`Executor::open`] and drops it
    /// only once no more jobs start. Never resolves when the places are fixed (the default).
    fn places_changed(&self) -> BoxFuture<'_, Vec<Place>> {
        Box::pin(std::future::pending())
    }

    /// The run's total job slots, given `-j` as `jobs`: `-j` itself unless `-j` means slots
    /// per place (the ssh executor: the sum of its places' slots). Read after
    /// [`Executor::open`], and again after each [`Executor::places_changed`]: the run's total
    /// grows to it (it never shrinks, so jobs that still run at a retired place keep theirs).
    fn total_slots(&self, jobs: usize) -> usize {
        jobs
    }

    /// Starts one attempt.
    fn start<'a>(
        &'a self,
        request: StartRequest<'a>,
    ) -> BoxFuture<'a, Result<Box<dyn Attempt>, StartError>>;

    /// Called once before [`Executor::open`] and before any reporter starts: gets what the
    /// run needs before a job can start (a Slurm allocation), which may mean waiting. A run
    /// cancelled meanwhile (`cancel`) gives up the wait and returns `Ok`, so the run ends
    /// without starting a job; an error ends it before its first job.
    fn acquire<'a>(
        &'a self,
        cancel: &'a crate::cancel::Cancel,
    ) -> BoxFuture<'a, Result<(), AcquireError>> {
        let _ = cancel;
        Box::pin(async { Ok(()) })
    }

    /// Called once before the first attempt of a run, on the run's runtime.
    fn open(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }

    /// Stops every running attempt for a while (Ctrl-Z on fanout's terminal); called just
    /// before fanout stops itself.
    fn suspend(&self) {}

    /// Continues what [`Executor::suspend`] stopped.
    fn resume(&self) {}

    /// Called once after the last attempt of a run has ended: end what is left.
    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}
