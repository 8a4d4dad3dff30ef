//! The engine's configuration: plain data built by `cli/` (or by a library user), with no clap
//! types. The small policy types it holds (halt, terminate sequence, retries, output mode) and
//! their parsers are in `policy`, re-exported here, so the engine and its tests can use them
//! without the CLI.

mod policy;

pub use policy::*;

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use crate::input::Grouping;
use crate::input::Source;
use crate::template::{Replacements, ShellMode};

/// Everything the engine needs to run.
#[derive(Debug, Clone)]
pub struct Config {
    /// The command template's words (empty: each input line is a command).
    pub command: Vec<OsString>,
    /// Auto (a shell only where the template needs one) or always (`--shell`).
    pub shell_mode: ShellMode,
    /// Extra or renamed replacement strings (`-I`, `--plus`, `--rpl` ...).
    pub replacements: Replacements,
    /// Input sources in command-line order (empty: stdin).
    pub sources: Vec<Source>,
    /// How input values are grouped into jobs and split into columns (`-N`, `-X`, `-m`, `-L`,
    /// `-s`, `--colsep`, `--header`): plain data, also for `--pipe`'s records.
    pub grouping: Grouping,
    /// Input value separator: `\n`, or NUL with `-0`.
    pub separator: u8,
    /// GNU parallel's reading rules: `-E`, `-r`, `--trim`, `--link` (default: none).
    pub input_filter: crate::input::InputFilter,
    /// How many jobs run at once.
    pub slots: usize,
    /// How jobs' output is passed on (`--group`, `--line-buffer`, `-u`).
    pub output: OutputMode,
    /// Print output in input order (`-k`).
    pub keep_order: bool,
    /// What prefixes every output line (`--tag`, `--tagstring`), if anything.
    pub tag: Option<Tag>,
    /// Print each distinct stdout line once.
    pub unique: bool,
    /// Print the commands instead of running them.
    pub dry_run: bool,
    /// End a job that runs longer than this.
    pub timeout: Option<Duration>,
    /// End a job that runs longer than this percentage of the median runtime of the jobs
    /// that succeeded so far (GNU parallel's `--timeout N%`); no limit before one succeeded.
    pub timeout_percent: Option<f64>,
    /// Signals that end a job, with the waits between them (`--termseq`).
    pub termseq: TermSeq,
    /// Report a job still running after this long (and every multiple of it).
    pub slow: Option<Duration>,
    /// How failed and timed-out jobs are retried (`--retries`).
    pub retry: RetryPolicy,
    /// When the run stops early (`--halt`).
    pub halt: HaltPolicy,
    /// How long jobs get to exit after a forwarded signal before they are killed.
    pub grace: Duration,
    /// The least time between two job starts (`--delay`, GNU parallel's): spaces out the
    /// starts when many jobs hit one server.
    pub delay: Option<Duration>,
    /// Run the jobs in a random order (`--shuf`): the input is read in full first.
    pub shuffle: bool,
    /// Run local jobs at this niceness adjustment (`--nice N`, GNU parallel's), through
    /// `nice -n N`.
    pub nice: Option<i32>,
    /// The file a line per finished job is written to (`--joblog`).
    pub joblog: Option<PathBuf>,
    /// Add to the joblog rather than start it afresh (GNU parallel's `--joblog +FILE`): its
    /// lines are kept, no job is skipped.
    pub joblog_append: bool,
    /// Rerun the failed jobs of the joblog with the commands it holds (GNU parallel's
    /// `--retry-failed`): the command line's command and sources are not used.
    pub retry_failed: bool,
    /// Which jobs already in the joblog are skipped (`--resume`, `--resume-failed`).
    pub resume: ResumeMode,
    /// Resume without checking that each job in the joblog renders to the command it ran then
    /// (`--resume-force`): skip by sequence number alone.
    pub resume_force: bool,
    /// Keep each job's whole output for the results writers (set when results are asked for).
    pub capture: bool,
    /// Where output past 1 MiB a job and stream is buffered, in unlinked temporary files
    /// (`--tmpdir`); `None`: `$TMPDIR`, else `/tmp`.
    pub tmpdir: Option<PathBuf>,
    /// Make this process a child subreaper and reap, end and sweep up orphans that jobs leave
    /// behind. Process-wide: only for a process that is fanout itself (the binary sets it), never
    /// for a library user whose other children the reaper would take for orphans.
    pub reap_orphans: bool,
    /// Ctrl-Z stops the jobs with fanout, and `fg` continues them; stopped time does not count
    /// against `--timeout` or `--slow` (on in the `fanout` binary; it installs SIGTSTP and
    /// SIGCONT handlers).
    pub job_control: bool,
    /// Cluster settings: `--shard`, and running jobs as Slurm job steps.
    pub cluster: crate::cluster::Cluster,
    /// `--pipe`/`--pipepart`: the input is cut into blocks, one per job's stdin (`None`: each
    /// input value is a job's argument).
    pub pipe: Option<crate::pipe::PipeConfig>,
    /// Run the jobs on ssh hosts (`-S`, `--slf`): `None` runs them on this machine alone.
    pub ssh: Option<crate::exec::SshConfig>,
    /// `--files`: each job's stdout goes to a file of its own, whose name is printed instead.
    pub files: bool,
    /// GNU parallel's `--onall`/`--nonall`: every job on every place, one at a time per place.
    pub onall: Option<OnAll>,
}

/// `--onall` (every input on every host) and `--nonall` (the command once on every host, no
/// input), as GNU parallel: each place runs its jobs one at a time, in input order, and
/// `hosts_at_once` places (all of them when `None`) run at once. The run's jobs are the
/// inputs once per place, place after place: the job of input k on the h-th place (from 0)
/// is number h * inputs + k, so each has a number, a joblog line and a `--resume` state of
/// its own.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OnAll {
    /// `--nonall`: one job with no arguments per place; the input is not read.
    pub no_input: bool,
    /// How many places run their jobs at once (`-j` with `--onall`).
    pub hosts_at_once: Option<usize>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            command: Vec::new(),
            shell_mode: ShellMode::Auto,
            replacements: Replacements::default(),
            sources: Vec::new(),
            grouping: Grouping::default(),
            separator: b'\n',
            input_filter: Default::default(),
            slots: default_slots(),
            output: OutputMode::Group,
            keep_order: false,
            tag: None,
            unique: false,
            dry_run: false,
            timeout: None,
            timeout_percent: None,
            termseq: TermSeq::default(),
            slow: None,
            retry: RetryPolicy::default(),
            halt: HaltPolicy::default(),
            grace: Duration::from_secs(5),
            delay: None,
            shuffle: false,
            nice: None,
            joblog: None,
            joblog_append: false,
            retry_failed: false,
            resume: ResumeMode::Off,
            resume_force: false,
            capture: false,
            tmpdir: None,
            reap_orphans: false,
            job_control: false,
            cluster: Default::default(),
            pipe: None,
            ssh: None,
            files: false,
            onall: None,
        }
    }
}

/// The CPUs this process may really use: the affinity mask and cgroup CPU quotas included.
pub fn default_slots() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The most slots `-j 0` gives: bounded by open files (a running job holds about 4 descriptors),
/// and by 1024 whatever the limit.
pub fn max_slots() -> usize {
    let nofile = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map_or(1024, |(soft, _)| soft);
    ((nofile.saturating_sub(32) / 4) as usize).clamp(1, 1024)
}

/// Parses `-j`: `N`, `N%` of the CPUs, `+N`/`-N` relative to them, `0` for as many as possible.
pub fn parse_slots(s: &str, cpus: usize) -> Result<usize, String> {
    let bad = || format!("invalid job slots `{s}`: use N, N%, +N, -N or 0 (as many as possible)");
    let s = s.trim();
    let n = if let Some(p) = s.strip_suffix('%') {
        let p: f64 = p.parse().map_err(|_| bad())?;
        if p <= 0.0 || !p.is_finite() {
            return Err(bad());
        }
        ((cpus as f64 * p / 100.0).floor() as usize).max(1)
    } else if let Some(n) = s.strip_prefix('+') {
        cpus + n.parse::<usize>().map_err(|_| bad())?
    } else if let Some(n) = s.strip_prefix('-') {
        cpus.saturating_sub(n.parse::<usize>().map_err(|_| bad())?)
            .max(1)
    } else {
        match s.parse::<usize>().map_err(|_| bad())? {
            0 => max_slots(),
            n => n,
        }
    };
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_forms() {
        assert_eq!(parse_slots("3", 2), Ok(3));
        assert_eq!(parse_slots("50%", 4), Ok(2));
        assert_eq!(parse_slots("10%", 4), Ok(1));
        assert_eq!(parse_slots("+2", 4), Ok(6));
        assert_eq!(parse_slots("-1", 4), Ok(3));
        assert_eq!(parse_slots("-9", 4), Ok(1));
        assert!(parse_slots("0", 4).unwrap() >= 1);
        assert!(parse_slots("x", 4).is_err());
        assert!(parse_slots("-x", 4).is_err());
    }

    #[test]
    fn halt_forms() {
        let h = HaltPolicy::parse("now,fail=1").unwrap();
        assert_eq!(
            (h.when, h.on, h.threshold),
            (HaltWhen::Now, HaltOn::Fail, Threshold::Count(1))
        );
        let h = HaltPolicy::parse("soon,fail=30%").unwrap();
        assert_eq!(h.threshold, Threshold::Percent(30.0));
        assert!(!h.triggered(2, 2));
        assert!(h.triggered(3, 1));
        assert!(!h.triggered(4, 1));
        assert_eq!(HaltPolicy::parse("never").unwrap().when, HaltWhen::Never);
        assert_eq!(HaltPolicy::parse("2").unwrap().when, HaltWhen::Now);
        for bad in [
            "",
            "later,fail=1",
            "now,fail",
            "now,oops=1",
            "now,fail=0",
            "soon,fail=200%",
        ] {
            assert!(HaltPolicy::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn termseq_forms() {
        use nix::sys::signal::Signal::*;
        let t = TermSeq::default();
        assert_eq!(t.0.len(), 4);
        assert_eq!(t.0[0], (SIGTERM, Duration::from_millis(200)));
        let t = TermSeq::parse("INT,100").unwrap();
        assert_eq!(
            t.0,
            vec![
                (SIGINT, Duration::from_millis(100)),
                (SIGKILL, Duration::from_millis(25))
            ]
        );
        assert!(TermSeq::parse("FOO,1").is_err());
        assert!(TermSeq::parse("TERM,x").is_err());
        assert!(TermSeq::parse("").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("-1").is_err());
    }

    #[test]
    fn backoff_caps() {
        let r = RetryPolicy {
            retries: 5,
            delay: Duration::from_secs(1),
            backoff: true,
            max_delay: Duration::from_secs(5),
        };
        assert_eq!(r.delay_before(1), Duration::from_secs(1));
        assert_eq!(r.delay_before(3), Duration::from_secs(4));
        assert_eq!(r.delay_before(4), Duration::from_secs(5));
    }
}
