//! Runs jobs on this machine. Each attempt is a `tokio::process::Command` in a process group
//! of its own (so a terminal's Ctrl-C reaches only fanout, which forwards it), with stdin
//! from `/dev/null` unless the job's spec feeds it (`--pipe`: a pipe and a feeder thread,
//! `exec::stdin`), stdout and stderr piped, and the job's environment (`FANOUT_SEQ`,
//! `FANOUT_SLOT` and GNU parallel's names for them). Signals go to the whole group.
//!
//! Descendants that escape the group are handled here too ([`reaper`]): fanout becomes a
//! child subreaper, ends the orphans of finished jobs, reaps zombies as PID 1, and ends the
//! processes that keep a finished job's pipes open.
//!
//! Nothing of a run outlives fanout, even when fanout is killed with SIGKILL: every job
//! inherits the run's marker ([`live`], `<joblog>.live` when there is a joblog, which also
//! tells a resumed run whether jobs of an earlier one are still alive), and a guard process
//! ([`guard`]) ends whatever holds it when fanout dies.

mod guard;
mod live;
mod path;
mod process;
mod reaper;
mod usage;

use std::process::Stdio;
use std::sync::Mutex;

use futures::future::BoxFuture;

use super::{Attempt, Executor, Place, StartError, StartRequest};
use crate::job::{JobSpec, Stdin};
use guard::Guard;
pub use guard::main_if_guard;
pub(crate) use live::Marker;
pub(crate) use live::claim_joblog;
use path::PathCache;
pub(crate) use process::LocalAttempt;
use reaper::TrackedSet;

/// The executor for this machine: one place, `:`, with all of the run's slots.
#[derive(Debug)]
pub struct Local {
    paths: PathCache,
    tracked: TrackedSet,
    reap_orphans: bool,
    /// `--nice N`: jobs start through `nice -n N` (no unsafe `setpriority` here).
    nice: Option<i32>,
    reaper: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// The marker every job inherits (`<joblog>.live`, or a memfd made for the guard).
    marker: Mutex<Option<Marker>>,
    guard: Mutex<Option<Guard>>,
}

impl Default for Local {
    fn default() -> Local {
        Local::new()
    }
}

impl Local {
    /// The local executor. It leaves orphans alone unless [`Local::reap_orphans`] says so.
    pub fn new() -> Local {
        Local {
            paths: PathCache::default(),
            tracked: TrackedSet::default(),
            reap_orphans: false,
            nice: None,
            reaper: Mutex::new(None),
            marker: Mutex::new(None),
            guard: Mutex::new(None),
        }
    }

    /// Starts every job through `nice -n N` (`--nice`), after its program was found, so
    /// `nice` runs it by path and a missing program is still fanout's `command not found`.
    pub(crate) fn nice(mut self, nice: Option<i32>) -> Local {
        self.nice = nice;
        self
    }

    /// Holds `marker` (claimed beside the joblog by `Run::prepare`) for the run, so every job
    /// inherits it.
    pub(crate) fn marker(self, marker: Option<Marker>) -> Local {
        *self.marker.lock().expect("never poisoned") = marker;
        self
    }

    /// Starts the run's guard, when this program can be one ([`main_if_guard`]). Without a
    /// guard, jobs would outlive a fanout killed with SIGKILL; that is logged, not fatal.
    fn start_guard(&self) {
        if !guard::available() {
            return;
        }
        let mut marker = self.marker.lock().expect("never poisoned");
        if marker.is_none() {
            *marker = Marker::anonymous()
                .inspect_err(
                    |e| tracing::warn!(error = %e, "cannot make the run's marker: no guard"),
                )
                .ok();
        }
        let Some(m) = marker.as_ref() else {
            return;
        };
        match Guard::spawn(m) {
            Ok(g) => {
                // One of our own children: never taken for an orphan by the reaper.
                let mut t = self.tracked.lock().expect("never poisoned");
                t.children.insert(g.pid(), 0);
                drop(t);
                *self.guard.lock().expect("never poisoned") = Some(g);
            }
            Err(e) => tracing::warn!(
                error = %e,
                "cannot start the guard: jobs would outlive fanout if it were killed with SIGKILL"
            ),
        }
    }

    /// Whether fanout makes itself a child subreaper to keep escaped descendants under control
    /// (`Config::reap_orphans`, on in the `fanout` binary). Only for a process whose children
    /// are all fanout's: every child that is not a job is taken for an orphan and ended.
    pub fn reap_orphans(mut self, on: bool) -> Local {
        self.reap_orphans = on;
        self
    }

    /// Spawns `cmd` for job `id` as a job process of this machine (tracked, never taken for an
    /// orphan), with stdio as `cmd` sets it: how the ssh executor runs its clients.
    pub(crate) fn spawn_tracked(
        &self,
        cmd: &mut tokio::process::Command,
        id: crate::job::JobId,
    ) -> std::io::Result<LocalAttempt> {
        LocalAttempt::spawn(cmd, id, &self.tracked)
    }

    /// Spawns a helper that belongs to no job (an ssh ControlMaster): tracked, so the reaper
    /// never takes it for an orphan, until [`Local::forget_helper`].
    pub(crate) fn spawn_helper(
        &self,
        cmd: &mut tokio::process::Command,
    ) -> std::io::Result<tokio::process::Child> {
        self.tracked.lock().expect("never poisoned").spawning += 1;
        let result = cmd.spawn();
        let mut t = self.tracked.lock().expect("never poisoned");
        t.spawning -= 1;
        if let Ok(child) = &result {
            t.children.insert(child.id().unwrap_or(0), 0);
        }
        result
    }

    /// The helper `pid` has been waited for.
    pub(crate) fn forget_helper(&self, pid: u32) {
        self.tracked
            .lock()
            .expect("never poisoned")
            .children
            .remove(&pid);
    }

    /// Sends `signal` to the process group of every running job.
    fn signal_all(&self, signal: nix::sys::signal::Signal) {
        let t = self.tracked.lock().expect("never poisoned");
        for pid in t.children.keys() {
            let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(*pid as i32), signal);
        }
    }

    fn command(&self, request: &StartRequest<'_>) -> tokio::process::Command {
        let program = &request.spec.argv[0];
        if let Some(n) = self.nice
            && let Some(path) = self.paths.resolve(program)
        {
            let mut cmd = tokio::process::Command::new("nice");
            cmd.arg("-n").arg(n.to_string()).arg(path);
            cmd.args(&request.spec.argv[1..]);
            cmd.envs(request.job_env())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .process_group(0)
                .kill_on_drop(true);
            return cmd;
        }
        let mut cmd = match self.paths.resolve(program) {
            Some(path) => {
                let mut cmd = tokio::process::Command::new(path);
                cmd.arg0(program);
                cmd
            }
            None => tokio::process::Command::new(program),
        };
        cmd.args(&request.spec.argv[1..]);
        cmd.envs(request.job_env())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        cmd
    }
}

impl Executor for Local {
    fn places(&self) -> Vec<Place> {
        vec![Place::new(":", usize::MAX)]
    }

    fn start<'a>(
        &'a self,
        request: StartRequest<'a>,
    ) -> BoxFuture<'a, Result<Box<dyn Attempt>, StartError>> {
        let mut cmd = self.command(&request);
        // A fed stdin is a pipe: the job's end now, the feeder's once the job has started.
        let feeder = match &request.spec.stdin {
            Stdin::Null => {
                cmd.stdin(Stdio::null());
                None
            }
            Stdin::Feed(_) => match super::stdin::pipe() {
                Ok((read, write)) => {
                    cmd.stdin(Stdio::from(read));
                    Some(write)
                }
                Err(e) => return Box::pin(async move { Err(start_error(request.spec, &e)) }),
            },
        };
        let started = LocalAttempt::spawn(&mut cmd, request.id, &self.tracked)
            .map(|a| Box::new(a) as Box<dyn Attempt>)
            .map_err(|e| start_error(request.spec, &e));
        // The job's end of the pipe must close here, or the feeder would never learn that
        // the job has gone.
        drop(cmd);
        if let (Ok(_), Some(write)) = (&started, feeder) {
            super::stdin::spawn_feeder(&request.spec.stdin, write);
        }
        Box::pin(async move { started })
    }

    fn open(&self) -> BoxFuture<'_, ()> {
        reaper::start_worker();
        // Before the reaper starts, so its first sweep already knows the guard.
        self.start_guard();
        if self.reap_orphans && reaper::become_subreaper() {
            let task = tokio::spawn(reaper::run(self.tracked.clone()));
            *self.reaper.lock().expect("never poisoned") = Some(task);
        }
        Box::pin(async {})
    }

    fn suspend(&self) {
        self.signal_all(nix::sys::signal::Signal::SIGTSTP);
    }

    fn resume(&self) {
        self.signal_all(nix::sys::signal::Signal::SIGCONT);
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        let task = self.reaper.lock().expect("never poisoned").take();
        let guard = self.guard.lock().expect("never poisoned").take();
        Box::pin(async move {
            if let Some(task) = task {
                task.abort();
                reaper::sweep_all(self.tracked.clone(), std::time::Duration::from_secs(2)).await;
            }
            if let Some(g) = guard {
                let pid = g.pid();
                g.dismiss().await;
                let mut t = self.tracked.lock().expect("never poisoned");
                t.children.remove(&pid);
            }
            // Lets go of `<joblog>.live` (removed when nothing of the run holds it any more).
            drop(self.marker.lock().expect("never poisoned").take());
        })
    }
}

/// What a failed spawn means: a shortage to wait out, or the job's own failure with the exit
/// code and message a shell would give, naming the program.
fn start_error(spec: &JobSpec, e: &std::io::Error) -> StartError {
    if matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::EAGAIN | libc::ENOMEM)
    ) {
        return StartError::Shortage {
            message: e.to_string(),
        };
    }
    let prog = spec.argv[0].to_string_lossy();
    let (code, message) = match e.kind() {
        std::io::ErrorKind::NotFound => (127, format!("fanout: {prog}: command not found\n")),
        // exec gives EACCES for a directory too; say what a shell says.
        std::io::ErrorKind::PermissionDenied
            if prog.contains('/') && std::path::Path::new(&spec.argv[0]).is_dir() =>
        {
            (126, format!("fanout: {prog}: is a directory\n"))
        }
        std::io::ErrorKind::PermissionDenied => (
            126,
            format!("fanout: {prog}: permission denied (is it executable?)\n"),
        ),
        _ if e.raw_os_error() == Some(libc::E2BIG) => (
            126,
            format!(
                "fanout: {prog}: cannot start: argument list too long (one argument may be at most 128 KiB, the whole command line and environment at most ARG_MAX: pass big data in a file)\n"
            ),
        ),
        _ if e.raw_os_error() == Some(libc::ENOEXEC) => (
            126,
            format!("fanout: {prog}: cannot execute: exec format error\n"),
        ),
        _ => (126, format!("fanout: {prog}: cannot start: {e}\n")),
    };
    StartError::Job { code, message }
}
