//! The cluster flags (`--shard`, and the Slurm ones) and their translation into
//! [`Config::cluster`](fanout::Config), flattened into `Cli`. Also the CPU count the other
//! flags size `-j` against: inside a Slurm allocation, the CPUs it gives this node.

use std::ffi::OsString;
use std::time::Duration;

use fanout::cluster::{self, Allocation, Shard, SlurmConfig};
use fanout::config::{Config, parse_duration};

/// Cluster flags.
#[derive(Debug, clap::Args)]
pub struct ClusterArgs {
    /// Run only shard K of N of the jobs (those whose sequence number is K mod N), or `auto`:
    /// K and N from a Slurm job array (SLURM_ARRAY_TASK_ID...) or a Kubernetes indexed Job
    /// (JOB_COMPLETION_INDEX, JOB_COMPLETIONS)
    #[arg(long, env = "FANOUT_SHARD", value_name = "K/N|auto")]
    #[arg(help_heading = "Clusters")]
    shard: Option<String>,

    /// Run every job as a Slurm job step (srun --exact -n1) of the allocation fanout runs in,
    /// or, outside one, of an allocation of -j tasks it gets (salloc) and releases at the end
    #[arg(long, env = "FANOUT_SLURM")]
    #[arg(help_heading = "Clusters")]
    slurm: bool,

    /// More options for every srun (and for salloc when fanout allocates), as one string split
    /// as sh would: memory, GPUs, partition, time limit...
    #[arg(
        long = "slurm-args",
        env = "FANOUT_SLURM_ARGS",
        value_name = "OPTIONS",
        allow_hyphen_values = true
    )]
    #[arg(help_heading = "Clusters")]
    slurm_args: Option<String>,

    /// Outside an allocation: give up (exit 255) when Slurm has not granted one within
    /// DURATION
    #[arg(long = "slurm-wait", env = "FANOUT_SLURM_WAIT", value_name = "DURATION", value_parser = parse_duration)]
    #[arg(help_heading = "Clusters")]
    slurm_wait: Option<Duration>,
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
    /// Whether `--slurm` was given (jobs run as Slurm job steps).
    pub fn wants_slurm(&self) -> bool {
        self.slurm
    }

    /// Sets `config.cluster` from the flags; `jobs_given` says whether `-j` was.
    pub fn apply(self, config: &mut Config, jobs_given: bool) -> Result<(), String> {
        config.cluster.slurm = self.slurm_config(config, jobs_given)?;
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

impl ClusterArgs {
    fn slurm_config(
        &self,
        config: &mut Config,
        jobs_given: bool,
    ) -> Result<Option<SlurmConfig>, String> {
        if !self.slurm {
            for (given, flag) in [
                (self.slurm_args.is_some(), "--slurm-args"),
                (self.slurm_wait.is_some(), "--slurm-wait"),
            ] {
                if given {
                    return Err(format!(
                        "{flag} only applies to --slurm: add --slurm, or drop {flag}"
                    ));
                }
            }
            return Ok(None);
        }
        let var = |n: &str| std::env::var(n).ok().filter(|v| !v.is_empty());
        let conf = cluster::find_slurm_conf(var).map_err(|e| format!("--slurm: {e}"))?;
        let args = match &self.slurm_args {
            Some(a) => split_words(a).map_err(|e| format!("--slurm-args: {e}"))?,
            None => Vec::new(),
        };
        let allocation = match var("SLURM_JOB_ID") {
            Some(job_id) => {
                if self.slurm_wait.is_some() {
                    return Err(
                        "--slurm-wait bounds the wait for a new allocation, but fanout runs inside allocation SLURM_JOB_ID: drop --slurm-wait".into(),
                    );
                }
                if !jobs_given {
                    config.slots = allocation_tasks(var).ok_or(
                        "--slurm: cannot tell how many tasks this allocation has (no SLURM_NTASKS or SLURM_JOB_CPUS_PER_NODE): give -j N",
                    )?;
                }
                Allocation::Existing { job_id }
            }
            None if !jobs_given => {
                return Err(
                    "--slurm outside an allocation needs -j N: the number of tasks to allocate (salloc -n N)".into(),
                );
            }
            None => Allocation::New {
                tasks: config.slots,
            },
        };
        let mut slurm = SlurmConfig::new(allocation, conf);
        slurm.args = args;
        slurm.wait = self.slurm_wait;
        Ok(Some(slurm))
    }
}

/// The tasks of the allocation fanout runs in: `SLURM_NTASKS`, else its CPUs
/// (`SLURM_JOB_CPUS_PER_NODE`, `2(x3),1` form) over `SLURM_CPUS_PER_TASK`.
fn allocation_tasks(var: impl Fn(&str) -> Option<String>) -> Option<usize> {
    if let Some(n) = var("SLURM_NTASKS").and_then(|n| n.trim().parse().ok()) {
        return Some(n).filter(|&n: &usize| n > 0);
    }
    let mut cpus = 0usize;
    for part in var("SLURM_JOB_CPUS_PER_NODE")?.split(',') {
        let (n, times) = match part.split_once("(x") {
            Some((n, t)) => (n, t.trim_end_matches(')')),
            None => (part, "1"),
        };
        cpus += n.trim().parse::<usize>().ok()? * times.trim().parse::<usize>().ok()?;
    }
    let per_task = var("SLURM_CPUS_PER_TASK")
        .and_then(|c| c.trim().parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    Some(cpus / per_task).filter(|&n| n > 0)
}

/// Splits OPTIONS into words as sh would (see [`fanout::quote::split_words`]).
fn split_words(s: &str) -> Result<Vec<OsString>, String> {
    fanout::quote::split_words(s).map(|w| w.into_iter().map(OsString::from).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slurm_args_split_like_sh() {
        let w = |s: &str| -> Vec<String> {
            split_words(s)
                .unwrap()
                .into_iter()
                .map(|w| w.into_string().unwrap())
                .collect()
        };
        assert_eq!(
            w("--mem-per-cpu=1G  --gres=gpu:1"),
            ["--mem-per-cpu=1G", "--gres=gpu:1"]
        );
        assert_eq!(
            w("--comment='a b' -J\\ x \"q\\\"\""),
            ["--comment=a b", "-J x", "q\""]
        );
        assert_eq!(w("''"), [""]);
        assert!(split_words("'open").is_err());
    }

    #[test]
    fn tasks_of_an_allocation() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |n: &str| pairs.iter().find(|p| p.0 == n).map(|p| p.1.to_string())
        };
        assert_eq!(allocation_tasks(env(&[("SLURM_NTASKS", "5")])), Some(5));
        assert_eq!(
            allocation_tasks(env(&[("SLURM_JOB_CPUS_PER_NODE", "4(x2),2")])),
            Some(10)
        );
        assert_eq!(
            allocation_tasks(env(&[
                ("SLURM_JOB_CPUS_PER_NODE", "4(x2)"),
                ("SLURM_CPUS_PER_TASK", "2")
            ])),
            Some(4)
        );
        assert_eq!(allocation_tasks(env(&[])), None);
    }
}
