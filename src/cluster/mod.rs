//! Running one command line on a cluster: which share of the jobs this copy runs
//! ([`Shard`], `--shard`), how many CPUs a Slurm allocation gives this node (the cap on the
//! default `-j`), and the Slurm executor's settings. The executor itself is `exec::slurm`.

mod shard;

pub(crate) use shard::Skip;
pub use shard::{Shard, ShardError, ShardSource};

/// The cluster settings of a run (none: every job, on this machine).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Cluster {
    /// Run only this shard's jobs (`--shard K/N`).
    pub shard: Option<Shard>,
}

/// The CPUs a Slurm allocation gives this node, when fanout runs inside one: the smallest of
/// `SLURM_CPUS_ON_NODE` (the job's, or inside a step the step's, CPUs here) and
/// `SLURM_CPUS_PER_TASK` (`-c`), with the variable it came from. Slurm sets no CPU affinity
/// without its affinity or cgroup plugins, so the machine's CPU count would over-subscribe.
pub fn allocation_cpus(var: impl Fn(&str) -> Option<String>) -> Option<(usize, &'static str)> {
    ["SLURM_CPUS_ON_NODE", "SLURM_CPUS_PER_TASK"]
        .into_iter()
        .filter_map(|name| {
            let n = var(name)?.trim().parse::<usize>().ok()?;
            (n > 0).then_some((n, name))
        })
        .min_by_key(|(n, _)| *n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocation_cpus_takes_the_smallest_set() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |n: &str| pairs.iter().find(|p| p.0 == n).map(|p| p.1.to_string())
        };
        assert_eq!(allocation_cpus(env(&[])), None);
        assert_eq!(
            allocation_cpus(env(&[("SLURM_CPUS_ON_NODE", "4")])),
            Some((4, "SLURM_CPUS_ON_NODE"))
        );
        assert_eq!(
            allocation_cpus(env(&[
                ("SLURM_CPUS_ON_NODE", "8"),
                ("SLURM_CPUS_PER_TASK", "2")
            ])),
            Some((2, "SLURM_CPUS_PER_TASK"))
        );
        assert_eq!(
            allocation_cpus(env(&[("SLURM_CPUS_ON_NODE", "x")])),
            None,
            "not a number: ignored"
        );
    }
}
