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
    /// Run every job as a Slurm job step (`--slurm`).
    pub slurm: Option<SlurmConfig>,
}

/// How jobs run as Slurm job steps.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SlurmConfig {
    /// The allocation the steps run in.
    pub allocation: Allocation,
    /// More options for every `srun` (and for `salloc` when fanout allocates).
    pub args: Vec<std::ffi::OsString>,
    /// The longest wait for a new allocation (`--slurm-wait`); `None`: as long as it takes.
    pub wait: Option<std::time::Duration>,
    /// The Slurm configuration file every Slurm command is given (`SLURM_CONF`), found before
    /// the run so no Slurm client looks for its controller in DNS.
    pub conf: std::path::PathBuf,
}

impl SlurmConfig {
    /// Steps in `allocation`, with Slurm's configuration at `conf`.
    pub fn new(allocation: Allocation, conf: std::path::PathBuf) -> SlurmConfig {
        SlurmConfig {
            allocation,
            args: Vec::new(),
            wait: None,
            conf,
        }
    }
}

/// The allocation steps run in.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Allocation {
    /// The one fanout runs inside (`SLURM_JOB_ID`).
    Existing {
        /// Its job id.
        job_id: String,
    },
    /// One fanout gets for the run (`salloc --no-shell -n tasks`) and releases at its end.
    New {
        /// How many tasks to allocate.
        tasks: usize,
    },
}

/// Where the Slurm configuration is, as the Slurm clients would find it: `SLURM_CONF`, or a
/// file at one of the usual places (configless nodes included). `None`: the clients would ask
/// DNS for a controller, which fanout never lets them do.
pub fn find_slurm_conf(var: impl Fn(&str) -> Option<String>) -> Result<std::path::PathBuf, String> {
    if let Some(c) = var("SLURM_CONF").filter(|c| !c.is_empty()) {
        let p = std::path::PathBuf::from(&c);
        return match p.is_file() {
            true => Ok(p),
            false => Err(format!(
                "SLURM_CONF={c} is not a file: point it at your cluster's slurm.conf"
            )),
        };
    }
    const PLACES: [&str; 4] = [
        "/etc/slurm/slurm.conf",
        "/etc/slurm-llnl/slurm.conf",
        "/run/slurm/conf/slurm.conf",
        "/var/spool/slurmd/conf-cache/slurm.conf",
    ];
    PLACES
        .iter()
        .map(std::path::PathBuf::from)
        .find(|p| p.is_file())
        .ok_or_else(|| {
            "no Slurm configuration found (SLURM_CONF is not set and there is no /etc/slurm/slurm.conf): set SLURM_CONF to your cluster's slurm.conf (fanout does not let Slurm look for its controller in DNS)".into()
        })
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
