//! Ctrl-Z and `fg` on a real terminal: the jobs stop with fanout and go on with it, and the
//! stopped time does not count against `--timeout`.

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use crate::util::{BOUND, Dir, fanout_path, read_pid, s, terminal, wait_until};

/// The state letter of `pid` in /proc (`S`, `R`, `T` stopped, `Z`...), if it exists.
fn state(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

/// The process group of `pid`.
fn pgid(pid: i32) -> i32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    stat.rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .nth(2)
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn ctrl_z_stops_the_jobs_and_the_stopped_time_is_not_a_timeout() {
    let dir = Dir::new();
    let (job, parent, rc, joblog) = (
        dir.path().join("job.pid"),
        dir.path().join("fanout.pid"),
        dir.path().join("rc"),
        dir.path().join("joblog"),
    );
    // The job runs for 1.5 s of a 3 s timeout; the run is stopped for 4 s in the middle.
    let inner = format!(
        "{} --joblog {} --timeout 3 -j1 sh -c 'echo $PPID > {}; echo $$ > {}; sleep 1.5' ::: a; echo $? > {}",
        fanout_path().display(),
        s(&joblog),
        s(&parent),
        s(&job),
        s(&rc)
    );
    let mut term = terminal(&inner)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("`script` (util-linux) is installed");
    assert!(wait_until(BOUND, || job.exists()), "the job never started");
    let (job_pid, fanout_pid) = (read_pid(&job), read_pid(&parent));
    // Ctrl-Z typed on the terminal: the terminal sends SIGTSTP to its foreground group, which
    // is fanout's (the jobs have groups of their own).
    term.stdin.as_mut().unwrap().write_all(b"\x1a").unwrap();
    assert!(
        wait_until(Duration::from_secs(10), || state(fanout_pid) == Some('T')
            && state(job_pid) == Some('T')),
        "fanout ({:?}) and its job ({:?}) should both be stopped",
        state(fanout_pid),
        state(job_pid)
    );
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(
        state(job_pid),
        Some('T'),
        "the job stays stopped while fanout is"
    );
    // `fg`: continue fanout's group (and the shell that waits for it).
    nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(pgid(fanout_pid)),
        nix::sys::signal::Signal::SIGCONT,
    )
    .unwrap();
    assert!(
        wait_until(BOUND, || std::fs::read_to_string(&rc)
            .is_ok_and(|t| t.ends_with('\n'))),
        "fanout did not finish after it was continued"
    );
    let _ = term.kill();
    let _ = term.wait();
    assert_eq!(
        std::fs::read_to_string(&rc).unwrap().trim(),
        "0",
        "not timed out"
    );
    let row = crate::util::joblog_row(&joblog, 1);
    assert_eq!((row[6].as_str(), row[7].as_str()), ("0", "0"), "{row:?}");
}
