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
/// fanout's own error: bad usage, unreadable input, bad template, a joblog or results write error.
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
/// for `--halt ...,fail=1` the failing job's own code; otherwise the number of unsuccessful
/// jobs (capped at 101).
pub fn for_run(halt: HaltPolicy, s: &RunSummary) -> i32 {
    match s.cancel {
        Some(CancelReason::Signal(n) | CancelReason::SecondSignal(n)) => for_signal(n),
        Some(CancelReason::ReportFailed) => SETUP_ERROR,
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
}
