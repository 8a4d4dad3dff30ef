//! How a job's command is started. The scheduler asks an [`Executor`] for a ready-to-spawn
//! command, so a remote backend (ssh, Slurm) only has to wrap the argv differently; spawning,
//! capture, timeouts and signals stay in the runner.

mod local;

pub use local::Local;

use crate::job::{JobId, JobSpec};

/// Turns a rendered job into a process to start.
pub trait Executor: Send + Sync + 'static {
    /// The host column of the joblog (`:` for this machine, as GNU parallel writes it).
    fn host(&self) -> &str;

    /// Builds the command for `spec`, with the job's environment set. The runner adds stdio,
    /// the process group and spawns it.
    fn command(&self, spec: &JobSpec, id: JobId, slot: u32) -> tokio::process::Command;
}
