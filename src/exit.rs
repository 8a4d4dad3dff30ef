//! fanout's exit codes, GNU parallel's where they exist. Kept in one place so the README, the
//! summary and `main` agree.

use crate::cancel::CancelReason;
use crate::config::{HaltOn, HaltPolicy, Threshold};
use crate::summary::RunSummary;

/// Every job succeeded.
pub const SUCCESS: i32 = 0;
/// More than 100 jobs failed.
pub const MANY_FAILED: i32 = 101;
/// Our stdout was closed by its reader (`fanout ... | head`): 128 + SIGPIPE, as a shell
/// reports a program that died of it.
pub const OUTPUT_CLOSED: i32 = 128 + libc::SIGPIPE;
/// fanout's own error: bad usage, unreadable input, bad template, a joblog or results write
/// error, no place left to start a job on (every ssh host down).
pub const SETUP_ERROR: i32 = 255;

/// The exit code for a finished (not interrupted) run: 0, the number of failed jobs up to 100,
/// or 101 for more.
pub fn for_failures(failed: u64) -> i32 {
    match failed {
        0 => SUCCESS,
        n if n <= 100 => n as i32,
        _ => MANY_FAILED,
    }
}

/// The exit code for a run ended by signal `sig`: 128 + its number, as shells report it.
pub fn for_signal(sig: i32) -> i32 {
    128 + sig
}

/// Settles the exit code of a run: 128+N after signal N; 141 when stdout was closed; 255
/// when a joblog, results or input error stopped it; 0 when `--halt ...,success=N` was met;
/// for `--halt ...,fail=1` the failing job's own code; for `--halt ...,fail=P%` (halted or
/// not) the percentage of the jobs that failed, rounded up, as GNU parallel documents;
/// otherwise the number of unsuccessful jobs (capped at 101).
pub fn for_run(halt: HaltPolicy, s: &RunSummary) -> i32 {
    let percent = matches!(halt.threshold, Threshold::Percent(_)) && halt.on == HaltOn::Fail;
    match s.cancel {
        Some(CancelReason::HaltSoon | CancelReason::HaltNow) | None if percent => failed_percent(s),
        Some(CancelReason::Signal(n) | CancelReason::SecondSignal(n)) => for_signal(n),
        Some(CancelReason::ReportFailed | CancelReason::NoPlace) => SETUP_ERROR,
        Some(CancelReason::OutputClosed) => OUTPUT_CLOSED,
        Some(CancelReason::HaltSoon | CancelReason::HaltNow) => {
            if halt.on == HaltOn::Success {
                // GNU parallel: the success condition was met, so the run succeeded.
                SUCCESS
            } else if halt.on == HaltOn::Fail && halt.threshold == Threshold::Count(1) {
                s.first_failure_code.unwrap_or(1)
            } else {
                for_failures(s.failed + s.timed_out)
            }
        }
        None => for_failures(s.failed + s.timed_out + s.cancelled),
    }
}

/// The percentage of the run's jobs that failed or timed out, rounded up: 0 only when none
/// did. The jobs are those that finished and those the halt cancelled.
fn failed_percent(s: &RunSummary) -> i32 {
    let bad = s.failed + s.timed_out;
    let all = s.succeeded + bad + s.cancelled;
    if bad == 0 || all == 0 {
        return for_failures(bad);
    }
    (bad * 100).div_ceil(all).min(100) as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_map_like_gnu_parallel() {
        assert_eq!(for_failures(0), 0);
        assert_eq!(for_failures(7), 7);
        assert_eq!(for_failures(100), 100);
        assert_eq!(for_failures(101), 101);
        assert_eq!(for_failures(5000), 101);
        assert_eq!(for_signal(15), 143);
    }

    #[test]
    fn fail_percent_exits_with_the_percentage_that_failed() {
        let halt = HaltPolicy::parse("soon,fail=50%").unwrap();
        let s = RunSummary {
            succeeded: 2,
            failed: 1,
            ..RunSummary::default()
        };
        // GNU parallel: `--halt soon,fail=50% 'exit {}' ::: 0 1 0` exits 34.
        assert_eq!(for_run(halt, &s), 34);
        let ok = RunSummary {
            succeeded: 3,
            ..RunSummary::default()
        };
        assert_eq!(for_run(halt, &ok), 0);
    }
}
