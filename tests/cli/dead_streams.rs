//! fanout never crashes on a stream it cannot write: stderr on `/dev/full`, a terminal that
//! went away (SIGHUP from a killed terminal window). Every path that writes a message drops
//! the message and ends as documented: a setup error still exits 255, a run its usual code,
//! a hang-up 129.

use std::fs::File;
use std::process::Stdio;
use std::time::Duration;

use crate::util::{BOUND, Dir, fanout_cmd, fanout_path, s, terminal, wait_until};

/// Runs fanout with `args`, stderr on `/dev/full` (every write to it fails with ENOSPC).
fn with_full_stderr(args: &[&str]) -> Option<i32> {
    let mut cmd = fanout_cmd();
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(File::create("/dev/full").expect("/dev/full opens for writing"));
    let mut child = cmd.spawn().unwrap();
    assert!(
        wait_until(BOUND, || child.try_wait().unwrap().is_some()),
        "fanout {args:?} with stderr on /dev/full did not end"
    );
    child.wait().unwrap().code()
}

#[test]
fn a_setup_error_on_a_full_stderr_still_exits_255() {
    // Not 134 (an abort on "failed printing to stderr").
    assert_eq!(
        with_full_stderr(&["-a", "/nonexistent/input", "echo"]),
        Some(255)
    );
    assert_eq!(with_full_stderr(&["--no-such-option", "true"]), Some(255));
    assert_eq!(with_full_stderr(&["completions", "nosh"]), Some(255));
}

#[test]
fn a_run_whose_jobs_write_to_a_full_stderr_ends_with_its_own_code() {
    let code = with_full_stderr(&["-v", "sh", "-c", "echo oops >&2; exit $0", ":::", "0", "3"]);
    assert_eq!(code, Some(1), "one job failed");
    let code = with_full_stderr(&["--line-buffer", "sh", "-c", "echo oops >&2", ":::", "a"]);
    assert_eq!(code, Some(0));
}

#[test]
fn a_full_log_file_and_a_full_stderr_lose_lines_not_the_run() {
    let code = with_full_stderr(&["--log-file", "/dev/full", "-v", "true", ":::", "a", "b"]);
    assert_eq!(code, Some(0));
}

#[test]
fn a_terminal_that_goes_away_ends_the_run_with_129_and_no_crash() {
    let dir = Dir::new();
    let started = dir.path().join("started");
    let rc = dir.path().join("rc");
    // The shell in the terminal is the session leader: the kernel hangs it up, and it passes
    // the hang-up on to fanout as bash does to its jobs, then lives to write fanout's code.
    // The job says goodbye on stderr, which is the dead terminal (fanout aborted there once).
    let inner = format!(
        "trap 'kill -HUP $p' HUP; {} -j1 sh -c 'trap \"echo bye >&2; exit 1\" HUP; touch {}; sleep 30 & wait' ::: a & p=$!; wait $p; wait $p; echo $? > {}",
        fanout_path().display(),
        s(&started),
        s(&rc)
    );
    let mut term = terminal(&inner)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("`script` (util-linux) is installed");
    assert!(
        wait_until(BOUND, || started.exists()),
        "the job never started"
    );
    // The terminal window is killed: its master side closes and the kernel hangs up the
    // session. Writes to the terminal fail from then on (EIO).
    term.kill().unwrap();
    term.wait().unwrap();
    assert!(
        wait_until(Duration::from_secs(20), || std::fs::read_to_string(&rc)
            .is_ok_and(|t| t.ends_with('\n'))),
        "fanout did not end after the hang-up"
    );
    assert_eq!(std::fs::read_to_string(&rc).unwrap().trim(), "129");
}
