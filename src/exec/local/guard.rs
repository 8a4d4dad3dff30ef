//! The guard: one small process per run that ends the run's processes when fanout dies,
//! whatever killed it (SIGKILL, the OOM killer, a crash). Without it, jobs in their own process
//! groups would go on running unrecorded, and `--resume` would start them again beside them.
//!
//! The guard is fanout itself, re-executed from `/proc/self/exe` (the same build, even if the
//! file was replaced since) with `argv[0]` `fanout-guard`, in a process group of its own (a
//! terminal's Ctrl-C does not reach it), stdin a pipe from fanout, stdout and stderr
//! `/dev/null`. It blocks on that pipe and is told nothing per job: it finds the run's
//! processes by the run's marker descriptor ([`super::live`]), which every job inherits, so a
//! job's start costs no message, no wake-up and no extra environment variable (one more
//! variable costs about 3% of fanout's own instructions per job, as std copies the environment
//! for every spawn). When a run ends, fanout writes `done` and closes the pipe, and the guard
//! exits at once. End of file without `done` means fanout is dead: the guard then SIGKILLs
//! every process that holds the marker, with its whole process group, and looks again until
//! three passes in a row find nothing (at most 2 s), then exits, which lets go of the marker.
//!
//! A process that escaped the group (`setsid`, a double fork) is found as long as it kept the
//! descriptor; one that closed its descriptors after leaving its job's group is out of reach,
//! as are processes /proc does not show us (another user's, a setuid program's).
//!
//! Only a program that can be its own guard gets one: its `main` calls [`main_if_guard`] first
//! (the `fanout` binary does). A library user that does not is never re-executed.

use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

use super::live::{self, Marker};

const ARG0: &str = "fanout-guard";
const FLAG: &str = "--guard";
const DONE: &[u8] = b"done\n";

/// Set once `main` has called [`main_if_guard`]: this program can be re-executed as a guard.
static AVAILABLE: AtomicBool = AtomicBool::new(false);

/// Call first thing in `main`, with the process's arguments. In a process started as a run's
/// guard, runs the guard and returns its exit code (return it from `main` at once); otherwise
/// notes that this program can be its own guard, so that runs on this machine get one, and
/// returns `None`.
pub fn main_if_guard(argv: &[OsString]) -> Option<u8> {
    match guard_args(argv) {
        Some(args) => Some(serve(args)),
        None => {
            AVAILABLE.store(true, Ordering::Relaxed);
            None
        }
    }
}

/// The guard's own arguments, when `argv` is a guard's (`fanout-guard --guard ...`).
fn guard_args(argv: &[OsString]) -> Option<&[OsString]> {
    let is_guard = argv.first().map(OsString::as_os_str) == Some(OsStr::new(ARG0))
        && argv.get(1).map(OsString::as_os_str) == Some(OsStr::new(FLAG));
    is_guard.then(|| &argv[2..])
}

/// Whether runs in this process can have a guard.
pub(super) fn available() -> bool {
    AVAILABLE.load(Ordering::Relaxed)
}

/// The guard of a running run, as fanout holds it.
#[derive(Debug)]
pub(super) struct Guard {
    child: tokio::process::Child,
    pipe: Option<tokio::process::ChildStdin>,
    pid: u32,
}

impl Guard {
    /// Starts the guard for the run whose processes hold `marker`. Call it before the first
    /// job, on the run's runtime.
    pub(super) fn spawn(marker: &Marker) -> std::io::Result<Guard> {
        let (dev, ino) = marker.id();
        let mut child = tokio::process::Command::new("/proc/self/exe")
            .arg0(ARG0)
            .arg(FLAG)
            .arg(dev.to_string())
            .arg(ino.to_string())
            .arg(nix::unistd::getpgrp().as_raw().to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()?;
        let pipe = child.stdin.take();
        let pid = child.id().unwrap_or(0);
        Ok(Guard { child, pipe, pid })
    }

    pub(super) fn pid(&self) -> u32 {
        self.pid
    }

    /// The run is over and nothing of it is left: the guard exits without touching anything.
    /// Waits for it (up to a second), so it no longer holds the marker when fanout exits.
    pub(super) async fn dismiss(mut self) {
        if let Some(mut pipe) = self.pipe.take() {
            use tokio::io::AsyncWriteExt;
            let _ = pipe.write_all(DONE).await;
        }
        if tokio::time::timeout(Duration::from_secs(1), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.start_kill();
            let _ = self.child.wait().await;
        }
    }
}

/// What the guard looks for: the run's marker, and the process group it must never kill
/// (fanout's own, which may be the caller's shell script).
struct Run {
    dev: u64,
    ino: u64,
    spare: i32,
}

/// The guard's `main`: arguments `DEV INO FANOUT_PGID`.
fn serve(args: &[OsString]) -> u8 {
    let num = |i: usize| args.get(i)?.to_str()?.parse::<u64>().ok();
    let (Some(dev), Some(ino), Some(spare), None) = (num(0), num(1), num(2), args.get(3)) else {
        return 2;
    };
    let run = Run {
        dev,
        ino,
        spare: spare as i32,
    };
    // Its name in `ps` and /proc (the program was run as /proc/self/exe, the kernel says `exe`).
    let _ = nix::sys::prctl::set_name(c"fanout-guard");
    // Blocks until fanout ends the run (`done`) or dies (end of file without it).
    let mut got = Vec::new();
    let _ = std::io::stdin().lock().read_to_end(&mut got);
    if !got.ends_with(DONE) {
        end_the_run(&run);
    }
    0
}

/// SIGKILLs the run's processes until three passes in a row find none, for at most 2 s (a
/// process in uninterruptible sleep cannot be helped; it keeps the marker, so a resume refuses).
fn end_the_run(run: &Run) {
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut quiet = 0;
    while quiet < 3 && Instant::now() < deadline {
        if sweep(run) == 0 {
            quiet += 1;
        } else {
            quiet = 0;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One pass over /proc: SIGKILL every live process of the run, and its process group. Returns
/// how many it found.
fn sweep(run: &Run) -> usize {
    let me = std::process::id() as i32;
    let my_group = nix::unistd::getpgrp().as_raw();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let mut found = 0;
    for pid in dir
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
    {
        if pid == me {
            continue;
        }
        let Some(pgid) = live_group(pid) else {
            continue;
        };
        if !live::holds_marker(pid, run.dev, run.ino) {
            continue;
        }
        found += 1;
        if pgid > 1 && pgid != my_group && pgid != run.spare {
            let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
        }
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    }
    found
}

/// The process group of `pid`, if it is alive (not a zombie).
fn live_group(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces and parentheses).
    let mut f = stat.rsplit_once(')')?.1.split_whitespace();
    let state = f.next()?;
    let _ppid = f.next()?;
    let pgid = f.next()?.parse().ok()?;
    (state != "Z" && state != "X").then_some(pgid)
}

#[cfg(test)]
mod tests {
    use super::*;

    // `sweep` itself is tested by running the binary (tests/cli/orphans.rs): here a marker
    // would be inherited by the children of every other test running at the same time.

    #[test]
    fn only_a_guards_arguments_start_a_guard() {
        // Not `main_if_guard`: that would let this test binary be re-executed as a guard.
        assert_eq!(guard_args(&["fanout".into(), FLAG.into()]), None);
        assert_eq!(guard_args(&[ARG0.into()]), None);
        let argv: Vec<OsString> = vec![ARG0.into(), FLAG.into(), "1".into(), "x".into()];
        assert_eq!(guard_args(&argv).map(<[_]>::len), Some(2));
        assert_eq!(
            serve(&argv[2..]),
            2,
            "bad arguments: exits without reading stdin"
        );
    }

    #[test]
    fn a_live_process_has_a_group_and_a_zombie_has_none() {
        let me = std::process::id() as i32;
        assert_eq!(live_group(me), Some(nix::unistd::getpgrp().as_raw()));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id() as i32;
        let deadline = Instant::now() + Duration::from_secs(10);
        while live_group(pid).is_some() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(live_group(pid), None, "exited: a zombie until waited");
        child.wait().unwrap();
    }
}
