//! One local attempt: a child process leading its own process group. Signals go to the group;
//! once the child has exited, whatever is left in its group is killed, and the processes that
//! still hold its pipes open can be found and ended.

use std::os::fd::AsFd;

use futures::future::BoxFuture;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use super::reaper::{self, TrackedSet};
use crate::exec::{Attempt, Exit, Handle, OutputStream};
use crate::job::JobId;

/// A running local attempt.
pub(crate) struct LocalAttempt {
    child: tokio::process::Child,
    pid: u32,
    seq: u64,
    /// The inodes of its stdout and stderr pipes, to find who else holds them.
    inodes: [u64; 2],
    tracked: TrackedSet,
    /// Tells when the child has exited, so its usage is read before it is reaped.
    exit_watch: Option<super::usage::ExitWatch>,
    usage: Option<crate::job::Usage>,
}

impl LocalAttempt {
    /// Spawns `cmd` (already set up with its group, stdio and environment) for job `id`,
    /// telling the reaper about it so it is never taken for an orphan.
    pub(super) fn spawn(
        cmd: &mut tokio::process::Command,
        id: JobId,
        tracked: &TrackedSet,
    ) -> std::io::Result<LocalAttempt> {
        {
            let mut t = tracked.lock().expect("never poisoned");
            t.spawning += 1;
            t.running.insert(id.0);
        }
        // Not under the lock: see `reaper::Tracked::spawning`. No await until it is undone.
        let result = cmd.spawn();
        let mut t = tracked.lock().expect("never poisoned");
        t.spawning -= 1;
        let child = match result {
            Ok(c) => c,
            Err(e) => {
                t.running.remove(&id.0);
                return Err(e);
            }
        };
        let pid = child.id().unwrap_or(0);
        t.children.insert(pid, id.0);
        drop(t);
        let stdout = child.stdout.as_ref().map_or(0, pipe_inode);
        let stderr = child.stderr.as_ref().map_or(0, pipe_inode);
        Ok(LocalAttempt {
            child,
            pid,
            seq: id.0,
            inodes: [stdout, stderr],
            tracked: tracked.clone(),
            exit_watch: super::usage::ExitWatch::open(pid),
            usage: None,
        })
    }

    /// Its stdin, when `cmd` piped it (the ssh executor's control channel).
    pub(crate) fn take_stdin(&mut self) -> Option<tokio::process::ChildStdin> {
        self.child.stdin.take()
    }

    fn group(&self) -> Pid {
        Pid::from_raw(self.pid as i32)
    }
}

impl Attempt for LocalAttempt {
    fn handle(&self) -> Handle {
        Handle::Pid(self.pid)
    }

    fn take_output(&mut self) -> (OutputStream, OutputStream) {
        let stdout = self
            .child
            .stdout
            .take()
            .expect("stdout is piped, taken once");
        let stderr = self
            .child
            .stderr
            .take()
            .expect("stderr is piped, taken once");
        (Box::pin(stdout), Box::pin(stderr))
    }

    fn signal(&mut self, signal: Signal) {
        let _ = killpg(self.group(), signal);
    }

    fn wait(&mut self) -> BoxFuture<'_, Exit> {
        Box::pin(async move {
            if let Some(watch) = &self.exit_watch {
                watch.exited().await;
                self.usage = super::usage::of_zombie(self.pid);
                self.exit_watch = None;
            }
            let status = self.child.wait().await;
            // The job is over: nothing it started in its group may outlive it.
            let _ = killpg(self.group(), Signal::SIGKILL);
            match status {
                Ok(st) => exit_of(st),
                Err(_) => Exit::Unknown,
            }
        })
    }

    fn usage(&self) -> Option<crate::job::Usage> {
        self.usage
    }

    fn reclaim_output(&mut self) -> BoxFuture<'_, bool> {
        let (inodes, tracked) = (self.inodes, self.tracked.clone());
        Box::pin(async move {
            reaper::on_worker(move || reaper::kill_pipe_holders(&inodes, &tracked))
                .await
                .unwrap_or(true)
        })
    }
}

impl Drop for LocalAttempt {
    fn drop(&mut self) {
        let mut t = self.tracked.lock().expect("never poisoned");
        t.children.remove(&self.pid);
        t.running.remove(&self.seq);
    }
}

fn exit_of(st: std::process::ExitStatus) -> Exit {
    use std::os::unix::process::ExitStatusExt;
    match (st.code(), st.signal()) {
        (Some(code), _) => Exit::Code(code),
        (None, Some(sig)) => Exit::Signal(sig),
        (None, None) => Exit::Unknown,
    }
}

fn pipe_inode(fd: &impl AsFd) -> u64 {
    nix::sys::stat::fstat(fd.as_fd()).map_or(0, |s| s.st_ino)
}
