//! fanout's exit codes, GNU parallel's where they exist. Kept in one place so the README, the
//! summary and `main` agree.

/// Every job succeeded.
pub const SUCCESS: i32 = 0;
/// More than 100 jobs failed.
pub const MANY_FAILED: i32 = 101;
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
