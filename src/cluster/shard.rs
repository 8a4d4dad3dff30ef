//! `--shard K/N`: one run split across N machines, each running the jobs whose sequence
//! number falls in its shard (`seq mod N == K mod N`), and [`Skip`], which jobs this run leaves
//! out (other shards' jobs and, with `--resume`, the ones its joblog has). Sequence numbers stay
//! the global ones, so a shard's joblog, records and `{#}` are the same as in an unsplit run,
//! and the shards' joblogs concatenated are one valid joblog for `--resume`.
//!
//! `--shard auto` finds K and N in the environment a job array gives each of its tasks:
//! Slurm's `SLURM_ARRAY_TASK_ID`/`_COUNT`/`_MIN`/`_STEP`, or a Kubernetes indexed Job's
//! `JOB_COMPLETION_INDEX` with `JOB_COMPLETIONS` (which the Job spec sets, as Kubernetes gives
//! the pod no count of its own).

use std::collections::HashSet;
use std::fmt;

/// Shard `index` of `count`: the jobs whose sequence number `seq` has
/// `seq mod count == index mod count` (shard 1 of 3 runs jobs 1, 4, 7...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// Which shard, from 1 to `count`.
    pub index: u64,
    /// How many shards the run is split into.
    pub count: u64,
}

/// A `--shard` value that cannot be used; the message names the value and what to give.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ShardError(String);

/// Where `--shard auto` found its shard, for the log line that says so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardSource {
    /// The shard.
    pub shard: Shard,
    /// The variables it came from, as `NAME=value` words.
    pub from: String,
}

impl Shard {
    /// Shard `index` (1..=count) of `count`.
    pub fn new(index: u64, count: u64) -> Result<Shard, ShardError> {
        if count == 0 {
            return Err(ShardError(format!(
                "shard {index}/0: the number of shards must be at least 1"
            )));
        }
        if index == 0 || index > count {
            return Err(ShardError(format!(
                "shard {index}/{count} does not exist: K in K/N counts from 1 to N (here 1 to {count})"
            )));
        }
        Ok(Shard { index, count })
    }

    /// Parses `K/N`.
    pub fn parse(s: &str) -> Result<Shard, ShardError> {
        let bad = || {
            ShardError(format!(
                "invalid shard `{s}`: use K/N (shard K of N, K from 1 to N) or auto"
            ))
        };
        let (k, n) = s.trim().split_once('/').ok_or_else(bad)?;
        let k = k.trim().parse::<u64>().map_err(|_| bad())?;
        let n = n.trim().parse::<u64>().map_err(|_| bad())?;
        Shard::new(k, n)
    }

    /// Whether job `seq` is in this shard.
    pub fn contains(self, seq: u64) -> bool {
        seq % self.count == self.index % self.count
    }

    /// How many of the jobs `1..=n` are in this shard.
    pub fn jobs_upto(self, n: u64) -> u64 {
        // Jobs index, index + count, ... up to n.
        if n < self.index {
            0
        } else {
            (n - self.index) / self.count + 1
        }
    }

    /// The shard a job array's task is, from its environment (`var` reads a variable).
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<ShardSource, ShardError> {
        let get = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        if let Some(id) = get("SLURM_ARRAY_TASK_ID") {
            return slurm_array(&id, &get);
        }
        if let Some(index) = get("JOB_COMPLETION_INDEX") {
            return indexed_job(&index, &get);
        }
        Err(ShardError(
            "--shard auto found no job array here: it reads SLURM_ARRAY_TASK_ID (a Slurm job array) or JOB_COMPLETION_INDEX with JOB_COMPLETIONS (a Kubernetes indexed Job); give --shard K/N instead".into(),
        ))
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

fn number(name: &str, value: &str) -> Result<u64, ShardError> {
    value.trim().parse::<u64>().map_err(|_| {
        ShardError(format!(
            "--shard auto: {name}={value} is not a number: give --shard K/N instead"
        ))
    })
}

/// A Slurm array task: shard `(ID - MIN) / STEP + 1` of `COUNT`. An array whose ids are not
/// evenly spaced (`--array=1,4,9`) cannot be numbered from these variables, so it is refused.
fn slurm_array(id: &str, get: &impl Fn(&str) -> Option<String>) -> Result<ShardSource, ShardError> {
    let id = number("SLURM_ARRAY_TASK_ID", id)?;
    let count = get("SLURM_ARRAY_TASK_COUNT").ok_or_else(|| {
        ShardError(
            "--shard auto: SLURM_ARRAY_TASK_ID is set but not SLURM_ARRAY_TASK_COUNT (Slurm before 18.08?): give --shard K/N".into(),
        )
    })?;
    let count = number("SLURM_ARRAY_TASK_COUNT", &count)?;
    let min = match get("SLURM_ARRAY_TASK_MIN") {
        Some(m) => number("SLURM_ARRAY_TASK_MIN", &m)?,
        None => 0,
    };
    let step = match get("SLURM_ARRAY_TASK_STEP") {
        Some(s) => number("SLURM_ARRAY_TASK_STEP", &s)?.max(1),
        None => 1,
    };
    let max = match get("SLURM_ARRAY_TASK_MAX") {
        Some(m) => Some(number("SLURM_ARRAY_TASK_MAX", &m)?),
        None => None,
    };
    let from = format!(
        "SLURM_ARRAY_TASK_ID={id} SLURM_ARRAY_TASK_MIN={min} SLURM_ARRAY_TASK_STEP={step} SLURM_ARRAY_TASK_COUNT={count}"
    );
    let even = id >= min
        && (id - min) % step == 0
        && max.is_none_or(|max| count > 0 && min + (count - 1) * step == max);
    if !even {
        return Err(ShardError(format!(
            "--shard auto: the array's task ids are not evenly spaced ({from}{}), so they do not number the shards: use --array=A-B or A-B:S, or give --shard K/N",
            max.map(|m| format!(" SLURM_ARRAY_TASK_MAX={m}"))
                .unwrap_or_default()
        )));
    }
    let shard = Shard::new((id - min) / step + 1, count)
        .map_err(|e| ShardError(format!("--shard auto ({from}): {e}")))?;
    Ok(ShardSource { shard, from })
}

/// A Kubernetes indexed Job's pod: shard `JOB_COMPLETION_INDEX + 1` of `JOB_COMPLETIONS`.
fn indexed_job(
    index: &str,
    get: &impl Fn(&str) -> Option<String>,
) -> Result<ShardSource, ShardError> {
    let index = number("JOB_COMPLETION_INDEX", index)?;
    let count = get("JOB_COMPLETIONS").ok_or_else(|| {
        ShardError(
            "--shard auto: JOB_COMPLETION_INDEX is set but not JOB_COMPLETIONS: set JOB_COMPLETIONS in the pod template to the Job's .spec.completions, or give --shard K/N".into(),
        )
    })?;
    let count = number("JOB_COMPLETIONS", &count)?;
    let from = format!("JOB_COMPLETION_INDEX={index} JOB_COMPLETIONS={count}");
    let shard = Shard::new(index + 1, count)
        .map_err(|e| ShardError(format!("--shard auto ({from}): {e}")))?;
    Ok(ShardSource { shard, from })
}

/// The jobs a run leaves out: those of other shards, and those an earlier joblog has
/// (`--resume`).
#[derive(Debug, Clone, Default)]
pub(crate) struct Skip {
    /// Seqs the joblog has (`--resume`), of any shard.
    done: HashSet<u64>,
    shard: Option<Shard>,
}

impl Skip {
    pub fn new(done: HashSet<u64>, shard: Option<Shard>) -> Skip {
        Skip { done, shard }
    }

    /// Whether job `seq` does not run here.
    pub fn contains(&self, seq: &u64) -> bool {
        !self.in_shard(*seq) || self.done.contains(seq)
    }

    /// Whether job `seq` is this run's and was skipped because the joblog has it.
    pub fn resumed(&self, seq: u64) -> bool {
        self.in_shard(seq) && self.done.contains(&seq)
    }

    /// How many of this run's jobs the joblog has.
    pub fn resumed_len(&self) -> u64 {
        match self.shard {
            None => self.done.len() as u64,
            Some(s) => self.done.iter().filter(|&&q| s.contains(q)).count() as u64,
        }
    }

    /// How many of the jobs `1..=n` are this run's (skipped ones included).
    pub fn jobs_upto(&self, n: u64) -> u64 {
        self.shard.map_or(n, |s| s.jobs_upto(n))
    }

    fn in_shard(&self, seq: u64) -> bool {
        self.shard.is_none_or(|s| s.contains(seq))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn shards_partition_the_jobs() {
        let shards: Vec<Shard> = (1..=3).map(|k| Shard::new(k, 3).unwrap()).collect();
        for seq in 1..=100 {
            assert_eq!(shards.iter().filter(|s| s.contains(seq)).count(), 1);
        }
        assert!(shards[0].contains(1) && shards[0].contains(4));
        assert!(shards[2].contains(3) && shards[2].contains(6));
        for s in &shards {
            for n in 0..20 {
                let want = (1..=n).filter(|&q| s.contains(q)).count() as u64;
                assert_eq!(s.jobs_upto(n), want, "{s} up to {n}");
            }
        }
    }

    #[test]
    fn parse_forms() {
        assert_eq!(Shard::parse("2/3"), Ok(Shard { index: 2, count: 3 }));
        assert_eq!(Shard::parse("1/1"), Ok(Shard { index: 1, count: 1 }));
        for bad in ["4/3", "0/3", "1/0", "3", "a/b", "1/3/4", "-1/3", ""] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
        let e = Shard::parse("4/3").unwrap_err().to_string();
        assert!(e.contains("1 to 3"), "{e}");
    }

    #[test]
    fn auto_from_a_slurm_array() {
        let s = Shard::from_env(env(&[
            ("SLURM_ARRAY_TASK_ID", "7"),
            ("SLURM_ARRAY_TASK_MIN", "5"),
            ("SLURM_ARRAY_TASK_MAX", "7"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
        ]))
        .unwrap();
        assert_eq!(s.shard, Shard { index: 3, count: 3 });
        assert!(s.from.contains("SLURM_ARRAY_TASK_ID=7"), "{}", s.from);
        // --array=0-8:4 gives ids 0, 4, 8.
        let s = Shard::from_env(env(&[
            ("SLURM_ARRAY_TASK_ID", "4"),
            ("SLURM_ARRAY_TASK_MIN", "0"),
            ("SLURM_ARRAY_TASK_MAX", "8"),
            ("SLURM_ARRAY_TASK_STEP", "4"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
        ]))
        .unwrap();
        assert_eq!(s.shard, Shard { index: 2, count: 3 });
        // --array=1,4,9: not numbered by these variables.
        let e = Shard::from_env(env(&[
            ("SLURM_ARRAY_TASK_ID", "4"),
            ("SLURM_ARRAY_TASK_MIN", "1"),
            ("SLURM_ARRAY_TASK_MAX", "9"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
        ]))
        .unwrap_err();
        assert!(e.to_string().contains("evenly spaced"), "{e}");
        assert!(Shard::from_env(env(&[("SLURM_ARRAY_TASK_ID", "1")])).is_err());
    }

    #[test]
    fn auto_from_an_indexed_job() {
        let s = Shard::from_env(env(&[
            ("JOB_COMPLETION_INDEX", "0"),
            ("JOB_COMPLETIONS", "4"),
        ]))
        .unwrap();
        assert_eq!(s.shard, Shard { index: 1, count: 4 });
        let e = Shard::from_env(env(&[("JOB_COMPLETION_INDEX", "0")])).unwrap_err();
        assert!(e.to_string().contains("JOB_COMPLETIONS"), "{e}");
        let e = Shard::from_env(env(&[
            ("JOB_COMPLETION_INDEX", "4"),
            ("JOB_COMPLETIONS", "4"),
        ]))
        .unwrap_err();
        assert!(e.to_string().contains("does not exist"), "{e}");
        assert!(Shard::from_env(env(&[])).is_err());
    }

    #[test]
    fn skip_counts_only_this_shards_jobs() {
        let skip = Skip::new([1, 2, 4].into(), Some(Shard::new(1, 3).unwrap()));
        assert!(skip.contains(&1) && skip.contains(&2) && skip.contains(&4));
        assert!(!skip.contains(&7) && skip.contains(&8));
        assert!(skip.resumed(4) && !skip.resumed(2));
        assert_eq!(skip.resumed_len(), 2);
        assert_eq!(skip.jobs_upto(10), 4);
        let all = Skip::new([3].into(), None);
        assert_eq!((all.resumed_len(), all.jobs_upto(10)), (1, 10));
    }
}
