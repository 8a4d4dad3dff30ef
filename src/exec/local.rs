//! Runs jobs on this machine: the argv exec'd directly.

use super::Executor;
use crate::job::{JobId, JobSpec};

/// The local executor.
#[derive(Debug, Default)]
pub struct Local;

impl Executor for Local {
    fn host(&self) -> &str {
        ":"
    }

    fn command(&self, spec: &JobSpec, id: JobId, slot: u32) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(&spec.argv[0]);
        cmd.args(&spec.argv[1..]);
        // GNU parallel's names too, so scripts written for it keep working.
        let seq = id.0.to_string();
        let slot = slot.to_string();
        cmd.env("FANOUT_SEQ", &seq)
            .env("PARALLEL_SEQ", &seq)
            .env("FANOUT_SLOT", &slot)
            .env("PARALLEL_JOBSLOT", &slot);
        cmd
    }
}
