//! fanout started in the background: signalled, watched through /proc, read as it goes, and
//! always waited for with a bound (a hang fails the test instead of stalling the suite).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// Starts fanout with `args` in the background with a clean environment, stdin from
/// /dev/null; its stdout and stderr go to the files `stdout` and `stderr` in `dir`.
pub fn start(dir: &Path, args: &[&str]) -> Child {
    start_with(Command::new(super::fanout_path()), dir, args)
}

/// [`start`] for a command that runs fanout itself (`unshare ... fanout`, a shell).
pub fn start_with(mut cmd: Command, dir: &Path, args: &[&str]) -> Child {
    super::clean_env(&mut cmd)
        .args(args)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(dir.join("stdout")).unwrap())
        .stderr(std::fs::File::create(dir.join("stderr")).unwrap())
        .spawn()
        .unwrap()
}

/// Waits for `child` up to `bound`, killing it when it hangs; `None` when it hung.
pub fn wait_bounded(mut child: Child, bound: Duration) -> Option<ExitStatus> {
    let done = super::wait_until(bound, || child.try_wait().unwrap().is_some());
    if !done {
        let _ = child.kill();
    }
    let st = child.wait().unwrap();
    done.then_some(st)
}

/// Waits for `child` up to `bound`; kills it and fails the test when it hangs. Returns its
/// status and how long the wait took.
pub fn finish(child: Child, bound: Duration) -> (ExitStatus, Duration) {
    let t0 = Instant::now();
    match wait_bounded(child, bound) {
        Some(st) => (st, t0.elapsed()),
        None => panic!("fanout did not exit within {bound:?}"),
    }
}

/// Sends `sig` to `child`.
pub fn signal(child: &Child, sig: Signal) {
    kill(Pid::from_raw(child.id() as i32), sig).unwrap();
}

/// True while `pid` exists and is not a zombie.
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// Reads a pid a job wrote to a file.
pub fn read_pid(path: &Path) -> i32 {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("no pid in {}", path.display()))
}

/// The lines of a running child's stdout, as they come (read on a thread of their own): take
/// them with `recv_timeout`.
pub fn line_receiver(child: &mut Child) -> mpsc::Receiver<String> {
    let stdout = child.stdout.take().expect("stdout is piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let _ = tx.send(line.unwrap());
        }
    });
    rx
}

/// Waits until every file exists (the jobs are running and ready for the signal), up to
/// 30 s; fails the test when they do not appear.
pub fn wait_for_files(files: &[PathBuf]) {
    assert!(
        super::wait_until(Duration::from_secs(30), || files.iter().all(|f| f.exists())),
        "the jobs did not start: {files:?}"
    );
}
