//! The cluster flags (`--shard`, and the Slurm ones) and their translation into
//! [`Config::cluster`](fanout::Config), flattened into `Cli`. Also the CPU count the other
//! flags size `-j` against: inside a Slurm allocation, the CPUs it gives this node.

use fanout::cluster::{self, Shard};
use fanout::config::Config;

/// Cluster flags.
#[derive(Debug, clap::Args)]
pub struct ClusterArgs {
    /// Run only shard K of N of the jobs (those whose sequence number is K mod N), or `auto`:
    /// K and N from a Slurm job array (SLURM_ARRAY_TASK_ID...) or a Kubernetes indexed Job
    /// (JOB_COMPLETION_INDEX, JOB_COMPLETIONS)
    #[arg(long, env = "FANOUT_SHARD", value_name = "K/N|auto")]
    #[arg(help_heading = "Clusters")]
    shard: Option<String>,
}

/// The CPUs jobs may use here: this process's (affinity and cgroup quota included), and inside
/// a Slurm allocation no more than it gives this node ([`cluster::allocation_cpus`]).
pub fn cpus_here() -> usize {
    let cpus = fanout::config::default_slots();
    match cluster::allocation_cpus(|n| std::env::var(n).ok()) {
        Some((n, from)) if n < cpus => {
            tracing::debug!(cpus = n, from, "job slots capped by the Slurm allocation");
            n
        }
        _ => cpus,
    }
}

impl ClusterArgs {
    /// Sets `config.cluster` from the flags.
    pub fn apply(self, config: &mut Config) -> Result<(), String> {
        config.cluster.shard = match self.shard.as_deref().map(str::trim) {
            None => None,
            Some("auto") => {
                let found =
                    Shard::from_env(|n| std::env::var(n).ok()).map_err(|e| e.to_string())?;
                tracing::info!(shard = %found.shard, from = %found.from, "--shard auto found its shard");
                Some(found.shard)
            }
            Some(v) => Some(Shard::parse(v).map_err(|e| format!("--shard: {e}"))?),
        };
        Ok(())
    }
}
