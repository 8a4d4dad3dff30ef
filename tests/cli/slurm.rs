//! Clusters: `--shard` (any engine; no Slurm needed), the default job slots inside a Slurm
//! allocation, and jobs as Slurm job steps against a real single-node Slurm (`steps`, which
//! skip with a visible message when `scripts/test-slurm.sh` has not exported `SLURM_CONF`).

mod shard;
mod steps;
