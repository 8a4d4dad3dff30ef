//! The engine's configuration: plain data built by `cli/` (or by a library user), with no clap
//! types. Small policy types (halt, terminate sequence, output mode) and their parsers live here
//! so the engine and its tests can use them without the CLI.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use crate::input::Source;
use crate::template::ShellMode;

/// How jobs' output reaches fanout's stdout and stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputMode {
    /// Each job's output printed whole when it ends (`--group`, the default).
    #[default]
    Group,
    /// Whole lines passed through as they come (`--line-buffer`).
    LineBuffer,
    /// Bytes passed through as they come (`-u/--ungroup`).
    Ungroup,
}

/// What prefixes every output line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tag {
    /// The job's arguments, then a tab (`--tag`).
    Args,
    /// A template rendered per job (`--tagstring`), then a tab.
    Template(OsString),
}

/// When the run stops early (`--halt`).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct HaltPolicy {
    /// How the run stops once the threshold is reached.
    pub when: HaltWhen,
    /// Which finished jobs count towards the threshold.
    pub on: HaltOn,
    /// How many counted jobs (or what share of the finished ones) trigger the halt.
    pub threshold: Threshold,
}

/// How a triggered `--halt` stops the run (`soon` or `now`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HaltWhen {
    /// Never halt (the default).
    #[default]
    Never,
    /// Start no new job; let the running ones finish.
    Soon,
    /// End the running jobs with the terminate sequence.
    Now,
}

/// Which finished jobs a `--halt` threshold counts (`fail=`, `success=` or `done=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HaltOn {
    /// Jobs that failed (the default).
    #[default]
    Fail,
    /// Jobs that succeeded.
    Success,
    /// Every finished job, failed or not.
    Done,
}

/// When a `--halt` triggers: a number of counted jobs (`N`) or a share of the finished ones (`P%`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Threshold {
    /// At least this many counted jobs (1 or more).
    Count(u64),
    /// A percentage of the jobs finished so far, judged once at least 3 have finished.
    Percent(f64),
}

impl Default for Threshold {
    fn default() -> Self {
        Threshold::Count(1)
    }
}

impl HaltPolicy {
    /// Parses GNU parallel's `--halt` values: `never`, `soon,fail=N`, `now,success=P%`, `now,done=N`,
    /// and the old numeric forms `0`, `1`, `2`.
    pub fn parse(s: &str) -> Result<HaltPolicy, String> {
        let bad = || {
            format!(
                "invalid halt policy `{s}`: use never, soon,fail=N, now,fail=N, soon,fail=P%, now,success=N or now,done=N"
            )
        };
        let (when, rest) = match s {
            "never" | "0" => return Ok(HaltPolicy::default()),
            "1" => ("soon", "fail=1"),
            "2" => ("now", "fail=1"),
            _ => s.split_once(',').ok_or_else(bad)?,
        };
        let when = match when {
            "soon" => HaltWhen::Soon,
            "now" => HaltWhen::Now,
            _ => return Err(bad()),
        };
        let (on, value) = rest.split_once('=').ok_or_else(bad)?;
        let on = match on {
            "fail" => HaltOn::Fail,
            "success" => HaltOn::Success,
            "done" => HaltOn::Done,
            _ => return Err(bad()),
        };
        let threshold = if let Some(p) = value.strip_suffix('%') {
            let p: f64 = p.parse().map_err(|_| bad())?;
            if !(p > 0.0 && p <= 100.0) {
                return Err(bad());
            }
            Threshold::Percent(p)
        } else {
            let n: u64 = value.parse().map_err(|_| bad())?;
            if n == 0 {
                return Err(bad());
            }
            Threshold::Count(n)
        };
        Ok(HaltPolicy {
            when,
            on,
            threshold,
        })
    }

    /// True when the counts so far reach the threshold.
    pub fn triggered(&self, done: u64, failed: u64) -> bool {
        if self.when == HaltWhen::Never {
            return false;
        }
        let hits = match self.on {
            HaltOn::Fail => failed,
            HaltOn::Success => done - failed,
            HaltOn::Done => done,
        };
        match self.threshold {
            Threshold::Count(n) => hits >= n,
            Threshold::Percent(p) => done >= 3 && (hits as f64) * 100.0 >= p * done as f64,
        }
    }
}

/// A terminate sequence: signals to send to a job's process group, each followed by the
/// milliseconds to wait for it to exit (GNU parallel's `--termseq`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TermSeq(pub Vec<(nix::sys::signal::Signal, Duration)>);

impl Default for TermSeq {
    fn default() -> Self {
        TermSeq::parse("TERM,200,TERM,100,TERM,50,KILL,25").expect("the default sequence is valid")
    }
}

impl TermSeq {
    /// Parses `SIG,MS,SIG,MS,...` (signal names with or without `SIG`, or numbers). A missing last
    /// wait is 25 ms. A sequence that does not end in KILL gets one added, so a job always ends.
    pub fn parse(s: &str) -> Result<TermSeq, String> {
        use nix::sys::signal::Signal;
        let bad = |why: &str| {
            format!(
                "invalid terminate sequence `{s}`: {why}; write it as SIGNAL,MS,... e.g. TERM,200,KILL,25"
            )
        };
        let parts: Vec<&str> = s.split(',').map(str::trim).collect();
        if parts.iter().all(|p| p.is_empty()) {
            return Err(bad("it is empty"));
        }
        let mut seq = Vec::new();
        for pair in parts.chunks(2) {
            let sig = parse_signal(pair[0])
                .ok_or_else(|| bad(&format!("unknown signal `{}`", pair[0])))?;
            let ms = match pair.get(1) {
                Some(ms) => ms
                    .parse::<u64>()
                    .map_err(|_| bad(&format!("`{ms}` is not a number of milliseconds")))?,
                None => 25,
            };
            seq.push((sig, Duration::from_millis(ms)));
        }
        if seq.last().map(|(s, _)| *s) != Some(Signal::SIGKILL) {
            seq.push((Signal::SIGKILL, Duration::from_millis(25)));
        }
        Ok(TermSeq(seq))
    }
}

/// Reads `TERM`, `SIGTERM` or `15`.
pub fn parse_signal(s: &str) -> Option<nix::sys::signal::Signal> {
    use std::str::FromStr;
    if let Ok(n) = s.parse::<i32>() {
        return nix::sys::signal::Signal::try_from(n).ok();
    }
    let name = s.to_ascii_uppercase();
    let name = if name.starts_with("SIG") {
        name
    } else {
        format!("SIG{name}")
    };
    nix::sys::signal::Signal::from_str(&name).ok()
}

/// Reads a duration: `30s`, `2m`, `1h30m`, `250ms`, or a bare number of seconds (`1.5`).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<f64>() {
        if secs.is_finite() && secs >= 0.0 {
            return Ok(Duration::from_secs_f64(secs));
        }
        return Err(format!("invalid duration `{s}`: it must not be negative"));
    }
    humantime::parse_duration(s)
        .map_err(|e| format!("invalid duration `{s}` ({e}): write e.g. 30s, 2m, 1h30m or 1.5"))
}

/// Which jobs of an earlier joblog are skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResumeMode {
    /// Run everything; the joblog is started afresh.
    #[default]
    Off,
    /// Skip every job already in the joblog (`--resume`).
    Resume,
    /// Skip only the jobs that succeeded (`--resume-failed`).
    ResumeFailed,
}

/// Retry policy for failed and timed-out jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RetryPolicy {
    /// Extra attempts after the first.
    pub retries: u32,
    /// Wait before the first retry.
    pub delay: Duration,
    /// Double the wait after each retry.
    pub backoff: bool,
    /// The longest wait when backing off.
    pub max_delay: Duration,
}

impl RetryPolicy {
    /// The wait before retry number `n` (1-based).
    pub fn delay_before(&self, n: u32) -> Duration {
        if !self.backoff {
            return self.delay;
        }
        let factor = 2u32.saturating_pow(n.saturating_sub(1).min(30));
        self.delay.saturating_mul(factor).min(self.max_delay)
    }
}

/// Everything the engine needs to run.
#[derive(Debug, Clone)]
pub struct Config {
    /// The command template's words (empty: each input line is a command).
    pub command: Vec<OsString>,
    /// Auto (a shell only where the template needs one) or always (`--shell`).
    pub shell_mode: ShellMode,
    /// Input sources in command-line order (empty: stdin).
    pub sources: Vec<Source>,
    /// Input value separator: `\n`, or NUL with `-0`.
    pub separator: u8,
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
    /// The file a line per finished job is written to (`--joblog`).
    pub joblog: Option<PathBuf>,
    /// Which jobs already in the joblog are skipped (`--resume`, `--resume-failed`).
    pub resume: ResumeMode,
    /// Keep each job's whole output for the results writers (set when results are asked for).
    pub capture: bool,
    /// Make this process a child subreaper and reap, end and sweep up orphans that jobs leave
    /// behind. Process-wide: only for a process that is fanout itself (the binary sets it), never
    /// for a library user whose other children the reaper would take for orphans.
    pub reap_orphans: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            command: Vec::new(),
            shell_mode: ShellMode::Auto,
            sources: Vec::new(),
            separator: b'\n',
            slots: default_slots(),
            output: OutputMode::Group,
            keep_order: false,
            tag: None,
            unique: false,
            dry_run: false,
            timeout: None,
            termseq: TermSeq::default(),
            slow: None,
            retry: RetryPolicy::default(),
            halt: HaltPolicy::default(),
            grace: Duration::from_secs(5),
            joblog: None,
            resume: ResumeMode::Off,
            capture: false,
            reap_orphans: false,
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
