//! Policy types of the configuration and their parsers: output mode, tags, `--halt`,
//! `--termseq`, `--retries`, resume, and durations and signals as users write them. Errors are
//! worded by the value; the CLI names the flag.

use std::ffi::OsString;
use std::time::Duration;

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
    /// Attempts in all, as GNU parallel counts them (0 and 1: run once, no retry).
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
