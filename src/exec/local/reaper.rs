//! Keeps descendants that escape a job's process group under control. fanout makes itself a
//! child subreaper, so an orphan (a double fork, a `setsid` daemon) is re-parented to fanout
//! rather than to init. The reaper then reaps orphans that became zombies (needed as PID 1 in a
//! container), ends orphans whose job has ended (they carry the job's `FANOUT_SEQ`), and at the
//! end of the run ends whatever is left. It only ever waits for pids it did not spawn itself,
//! so it never steals a job's exit status from tokio.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

/// Pids fanout spawned itself (tokio waits for those) and the jobs still running.
#[derive(Debug, Default)]
pub(super) struct Tracked {
    /// Job main process pid -> job seq.
    pub children: HashMap<u32, u64>,
    /// Seqs of jobs still running (from just before their spawn).
    pub running: HashSet<u64>,
    /// Spawns in flight: a new child exists, or is about to, that is not in `children` yet.
    /// The scans wait for none to be in flight, so they never take one of our own children
    /// for an orphan (and steal its exit status from tokio) nor for a holder of another job's
    /// pipe (a child holds copies of our descriptors until it has called exec).
    pub spawning: usize,
}

/// Shared between the spawning code and the reaper. The lock is not held across a spawn (that
/// would serialize the scheduler threads' spawns): `spawning` guards the window instead.
pub(super) type TrackedSet = Arc<Mutex<Tracked>>;

type Work = Box<dyn FnOnce() + Send>;

/// The thread that does the /proc scans (sweeps, pipe holders), one per process.
static WORKER: OnceLock<std::sync::mpsc::Sender<Work>> = OnceLock::new();

/// Starts the /proc worker thread, before any job. tokio's `spawn_blocking` panics when it has
/// no thread and the system refuses a new one (a process limit reached by the jobs); a thread
/// made while threads are still available never needs another. False if it could not start
/// (the scans then run in place).
pub(super) fn start_worker() -> bool {
    if WORKER.get().is_some() {
        return true;
    }
    let (tx, rx) = std::sync::mpsc::channel::<Work>();
    let started = std::thread::Builder::new()
        .name("fanout-proc".into())
        .spawn(move || {
            crate::signals::block_in_helper_thread();
            for work in rx {
                work();
            }
        })
        .is_ok();
    // Two runs starting at once: the loser's thread ends as its sender is dropped here.
    started && (WORKER.set(tx).is_ok() || WORKER.get().is_some())
}

/// Runs `f` on the /proc worker thread (in place when there is none) and returns its result.
pub(super) async fn on_worker<R: Send + 'static>(
    f: impl FnOnce() -> R + Send + 'static,
) -> Option<R> {
    let Some(tx) = WORKER.get() else {
        return Some(f());
    };
    let (done, result) = tokio::sync::oneshot::channel();
    tx.send(Box::new(move || {
        let _ = done.send(f());
    }))
    .ok()?;
    result.await.ok()
}

/// Asks the kernel to re-parent orphaned descendants to this process.
pub(super) fn become_subreaper() -> bool {
    nix::sys::prctl::set_child_subreaper(true).is_ok()
}

/// One process whose parent is this process, read from /proc.
#[derive(Debug, PartialEq, Eq)]
struct Orphan {
    pid: i32,
    pgid: i32,
    zombie: bool,
}

/// The processes whose parent is this process: from `/proc/self/task/*/children` when the
/// kernel has it (a few reads, however busy the machine), else from a scan of all of `/proc`.
fn own_children() -> Vec<Orphan> {
    let pids = child_pids().unwrap_or_else(scan_for_children);
    pids.into_iter().filter_map(orphan_info).collect()
}

/// Our children as the kernel lists them per thread; `None` without `CONFIG_PROC_CHILDREN`.
fn child_pids() -> Option<Vec<i32>> {
    let mut pids = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        // A thread that ended since the listing has no file left: its children moved on.
        let list = match std::fs::read_to_string(task.path().join("children")) {
            Ok(l) => l,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && task.path().exists() => {
                return None;
            }
            Err(_) => continue,
        };
        pids.extend(
            list.split_whitespace()
                .filter_map(|p| p.parse::<i32>().ok()),
        );
    }
    Some(pids)
}

/// Every pid in `/proc` (each is checked for its parent by [`orphan_info`]).
fn scan_for_children() -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .collect()
}

/// The state of `pid`, if it is still there and its parent is this process.
fn orphan_info(pid: i32) -> Option<Orphan> {
    let me = std::process::id() as i32;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces and parentheses).
    let rest = stat.rsplit_once(')')?.1;
    let mut f = rest.split_whitespace();
    let state = f.next()?;
    let ppid: i32 = f.next()?.parse().ok()?;
    let pgid: i32 = f.next()?.parse().ok()?;
    (ppid == me).then_some(Orphan {
        pid,
        pgid,
        zombie: state == "Z",
    })
}

/// The `FANOUT_SEQ` a process inherited, if it can be read.
fn job_seq_of(pid: i32) -> Option<u64> {
    let env = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    env.split(|&b| b == 0)
        .find_map(|kv| kv.strip_prefix(b"FANOUT_SEQ="))
        .and_then(|v| std::str::from_utf8(v).ok()?.parse().ok())
}

fn end(o: &Orphan) {
    if o.pgid == o.pid {
        let _ = killpg(Pid::from_raw(o.pgid), Signal::SIGKILL);
    }
    let _ = kill(Pid::from_raw(o.pid), Signal::SIGKILL);
}

fn reap(pid: i32) {
    let _ = nix::sys::wait::waitpid(
        Pid::from_raw(pid),
        Some(nix::sys::wait::WaitPidFlag::WNOHANG),
    );
}

/// One pass: reap zombie orphans, end orphans of finished jobs; with `all`, end every orphan
/// (the run is over). Returns whether it met any orphan, or `None` when a spawn was in flight
/// and nothing was done (try again shortly).
pub(super) fn sweep(tracked: &TrackedSet, all: bool) -> Option<bool> {
    let t = tracked
        .lock()
        .expect("the tracked set is never poisoned: no panics under it");
    if t.spawning > 0 {
        return None;
    }
    let mut met = false;
    for o in own_children() {
        if t.children.contains_key(&(o.pid as u32)) {
            continue;
        }
        met = true;
        if o.zombie {
            reap(o.pid);
        } else if all || job_seq_of(o.pid).is_some_and(|s| !t.running.contains(&s)) {
            end(&o);
            reap(o.pid);
        }
    }
    Some(met)
}

/// At the end of a run: end every orphan, then reap them, for up to `bound`.
pub(super) async fn sweep_all(tracked: TrackedSet, bound: std::time::Duration) {
    let deadline = tokio::time::Instant::now() + bound;
    loop {
        sweep(&tracked, true);
        let left = {
            let t = tracked.lock().expect("never poisoned");
            own_children()
                .into_iter()
                .any(|o| !t.children.contains_key(&(o.pid as u32)))
        };
        if !left || tokio::time::Instant::now() >= deadline {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// Runs for the whole run: a sweep every second and, once orphans are about (or from the
/// start as PID 1, where every orphan of the namespace comes to us), also on SIGCHLD, at most
/// every 100 ms. Listening for SIGCHLD costs a signal delivery per job that ends, so a run
/// whose jobs leave nothing behind does not pay it.
pub(super) async fn run(tracked: TrackedSet) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut chld = None;
    let mut orphans = std::process::id() == 1;
    loop {
        if orphans && chld.is_none() {
            chld = signal(SignalKind::child()).ok();
        }
        match chld.as_mut() {
            Some(s) => {
                let _ = tokio::time::timeout(std::time::Duration::from_secs(1), s.recv()).await;
            }
            None => tokio::time::sleep(std::time::Duration::from_secs(1)).await,
        }
        for _ in 0..100 {
            let t = tracked.clone();
            match on_worker(move || sweep(&t, false)).await.flatten() {
                Some(met) => {
                    orphans |= met;
                    break;
                }
                // A spawn was in flight (a few tens of µs): look again in a moment.
                None => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Ends the processes (other than our own children) that hold one of these pipes open: an
/// escaped descendant that keeps a finished job's output open would otherwise hold it forever.
/// Returns false when a spawn was in flight and nothing was done (try again shortly).
pub(super) fn kill_pipe_holders(inodes: &[u64], tracked: &TrackedSet) -> bool {
    let me = std::process::id() as i32;
    let targets: Vec<String> = inodes.iter().map(|i| format!("pipe:[{i}]")).collect();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return true;
    };
    let t = tracked.lock().expect("never poisoned");
    if t.spawning > 0 {
        return false;
    }
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        if pid == me || t.children.contains_key(&(pid as u32)) {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        let holds = fds.flatten().any(|fd| {
            std::fs::read_link(fd.path())
                .is_ok_and(|l| targets.iter().any(|t| l.as_os_str() == t.as_str()))
        });
        if holds {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_children_lists_a_child_and_sees_it_become_a_zombie() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("sleep runs");
        let pid = child.id() as i32;
        let find = || own_children().into_iter().find(|o| o.pid == pid);
        assert_eq!(
            find().map(|o| o.zombie),
            Some(false),
            "the running child is listed"
        );
        if let Some(pids) = child_pids() {
            assert!(pids.contains(&pid), "the kernel's list has it");
        }
        assert!(scan_for_children().contains(&pid));
        kill(Pid::from_raw(pid), Signal::SIGKILL).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while find().is_some_and(|o| !o.zombie) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(
            find().map(|o| o.zombie),
            Some(true),
            "a zombie until waited"
        );
        child.wait().unwrap();
        assert_eq!(find(), None);
    }
}
