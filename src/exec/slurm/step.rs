//! One attempt as a Slurm job step: `srun --jobid=J --exact -n1 -J fanout-SEQ ... sh -c
//! WRAPPER sh ARGV...`, where the wrapper prints the marker (job id, step id, node) and execs
//! the job. srun runs in a process group of its own; it is never SIGKILLed while its step may
//! run (that orphans the step): signals go to the step with `scancel --signal`, and an srun
//! that does not end after its step was killed is ended and its step cancelled.

use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use nix::sys::signal::Signal;
use tokio::process::Child;
use tokio::time::Instant;

use super::Shared;
use super::stderr::{self, SrunLog, Started};
use crate::exec::{Attempt, Exit, Handle, OutputStream, StartError, StartRequest};
use crate::job::Stdin;

/// The wrapper: tells fanout where the task runs, then becomes the job.
const WRAPPER: &str = "printf '\\036fanout-step %s.%s %s\\n' \"$SLURM_JOB_ID\" \"$SLURM_STEP_ID\" \"$SLURMD_NODENAME\" >&2; exec \"$@\"";

/// How long srun may take to end after its step was sent SIGKILL before it counts as hung
/// (srun waits for slurmstepd, which waits `KillWait` for the tasks).
const HANG_AFTER_KILL: Duration = Duration::from_secs(40);
/// How long a start may wait for the task to begin (steps wait for free CPUs in the
/// allocation; more than the allocation's tasks in flight wait their turn).
const START_BOUND: Duration = Duration::from_secs(600);

/// A running step.
pub(super) struct Step {
    child: Child,
    started: Started,
    stdout: Option<OutputStream>,
    stderr: Option<OutputStream>,
    log: Arc<Mutex<SrunLog>>,
    splitter: Option<tokio::task::JoinHandle<()>>,
    shared: Arc<Shared>,
    /// When the step was sent SIGKILL (the hang guard runs from then).
    killed_at: Option<Instant>,
    done: bool,
}

/// Starts the step for `request` in allocation `job_id` and waits until its task runs.
pub(super) async fn start(
    shared: &Arc<Shared>,
    job_id: &str,
    request: &StartRequest<'_>,
) -> Result<Step, StartError> {
    let mut cmd = shared.command("srun");
    cmd.arg(format!("--jobid={job_id}"))
        .args(["--exact", "--ntasks=1", "--nodes=1", "--quiet"])
        .arg(format!("--job-name=fanout-{}", request.id))
        .args(&shared.config.args)
        .args(["/bin/sh", "-c", WRAPPER, "sh"])
        .args(&request.spec.argv);
    // srun exports the environment to the task.
    cmd.envs(request.job_env())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(false);
    // A `--pipe` block goes to srun's stdin, which srun forwards to the step's one task.
    let feeder = match &request.spec.stdin {
        Stdin::Null => {
            cmd.stdin(Stdio::null());
            None
        }
        Stdin::Feed(_) => {
            let (read, write) = crate::exec::stdin::pipe().map_err(|e| StartError::Shortage {
                message: format!("cannot make a pipe for the job's stdin: {e}"),
            })?;
            cmd.stdin(Stdio::from(read));
            Some(write)
        }
    };
    let spawned = cmd.spawn();
    // srun's end of the pipe must close here, or the feeder would never see the step end.
    drop(cmd);
    if let (Ok(_), Some(write)) = (&spawned, feeder) {
        crate::exec::stdin::spawn_feeder(&request.spec.stdin, write);
    }
    // srun's own failures fail the job that met them (exit 255, srun's words), not the
    // allocation: the next job's srun may well start (the run stops only without one).
    let prog = request.spec.argv[0].to_string_lossy().into_owned();
    let failed = |message: String| StartError::Job {
        code: 255,
        message: format!("fanout: {prog}: {message}\n"),
    };
    let mut child = spawned.map_err(|e| match e.raw_os_error() {
        Some(libc::EMFILE | libc::ENFILE | libc::EAGAIN | libc::ENOMEM) => StartError::Shortage {
            message: e.to_string(),
        },
        _ => failed(format!("cannot run srun: {e}")),
    })?;
    let stdout = child.stdout.take().expect("piped");
    let srun_err = child.stderr.take().expect("piped");
    let (to, job_err) = tokio::io::duplex(64 * 1024);
    let log = Arc::new(Mutex::new(SrunLog::default()));
    let (tx, rx) = tokio::sync::oneshot::channel();
    let splitter = tokio::spawn(stderr::split(srun_err, to, log.clone(), tx));
    let mut cancel = shared.cancelled();
    tokio::select! {
        started = rx => match started {
            Ok(started) => {
                shared.running.lock().expect("never poisoned").insert(started.step.clone());
                Ok(Step {
                    child,
                    started,
                    stdout: Some(Box::pin(stdout)),
                    stderr: Some(Box::pin(job_err)),
                    log,
                    splitter: Some(splitter),
                    shared: shared.clone(),
                    killed_at: None,
                    done: false,
                })
            }
            // srun ended without starting the task: its own failure, not the job's.
            Err(_) => {
                let status = child.wait().await;
                let _ = splitter.await;
                let said = log.lock().expect("never poisoned").lines.join("; ");
                let rc = status.ok().and_then(|s| s.code()).map_or("?".into(), |c| c.to_string());
                Err(failed(format!("srun failed to start the step (rc {rc}): {said}")))
            }
        },
        _ = &mut cancel => {
            end_unstarted(&mut child).await;
            Err(StartError::Shortage { message: "the run is stopping".into() })
        }
        _ = tokio::time::sleep(START_BOUND) => {
            end_unstarted(&mut child).await;
            Err(failed(format!("srun did not start the step within {}s", START_BOUND.as_secs())))
        }
    }
}

/// Ends an srun whose task has not started: SIGTERM makes it give up the step it waits for.
async fn end_unstarted(child: &mut Child) {
    if let Some(pid) = child.id() {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), Signal::SIGTERM);
    }
    if tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .is_err()
    {
        let _ = child.start_kill();
        let _ = child.wait().await;
    }
}

impl Step {
    /// The verdict on srun's end: the task's own end as srun reports it, or srun's failure.
    fn verdict(&self, status: std::process::ExitStatus) -> Exit {
        let log = self.log.lock().expect("never poisoned");
        let reported = log.lines.iter().rev().find_map(|l| stderr::task_status(l));
        if let Some(status) = reported {
            if let Some(code) = status.strip_prefix("Exited with exit code ")
                && let Ok(code) = code.trim().parse()
            {
                return Exit::Code(code);
            }
            if let Some(sig) = signal_named(status) {
                return Exit::Signal(sig);
            }
        }
        let trouble = log.lines.iter().find(|l| {
            l.contains("Timed out waiting for job step")
                || l.contains("Communication connection failure")
                || l.contains("Node failure")
                || l.contains("has been revoked")
                || l.contains("Unable to")
        });
        match (status.code(), trouble) {
            (Some(0), None) => Exit::Code(0),
            // A task that exits non-zero is always reported by srun; a code without a report
            // is srun's own (233: the node's slurmd is gone; 1: the allocation ended...).
            (code, trouble) => {
                tracing::warn!(
                    step = %self.started.step,
                    srun_rc = ?code,
                    srun_signal = ?status.signal(),
                    srun = %trouble.cloned().unwrap_or_else(|| log.lines.join("; ")),
                    "srun failed: the job's own exit is unknown"
                );
                Exit::Unknown
            }
        }
    }

    fn scancel(&self, signal: Option<Signal>) {
        let mut cmd = self.shared.command("scancel");
        if let Some(s) = signal {
            cmd.arg(format!("--signal={}", &s.as_str()[3..]));
        }
        cmd.arg(&self.started.step)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0);
        match cmd.spawn() {
            // Reaped on a task of its own: signal() does not wait.
            Ok(mut c) => {
                tokio::spawn(async move {
                    let _ = c.wait().await;
                });
            }
            Err(e) => tracing::warn!(step = %self.started.step, error = %e, "cannot run scancel"),
        }
    }
}

/// The signal a description of srun's (strsignal's words) names.
fn signal_named(status: &str) -> Option<i32> {
    const NAMES: [(&str, i32); 15] = [
        ("Hangup", 1),
        ("Interrupt", 2),
        ("Quit", 3),
        ("Illegal instruction", 4),
        ("Trace/breakpoint trap", 5),
        ("Aborted", 6),
        ("Bus error", 7),
        ("Floating point exception", 8),
        ("Killed", 9),
        ("User defined signal 1", 10),
        ("Segmentation fault", 11),
        ("User defined signal 2", 12),
        ("Broken pipe", 13),
        ("Alarm clock", 14),
        ("Terminated", 15),
    ];
    let status = status.trim().trim_end_matches(" (core dumped)");
    NAMES.iter().find(|(n, _)| *n == status).map(|(_, s)| *s)
}

impl Attempt for Step {
    fn handle(&self) -> Handle {
        Handle::Named(self.started.step.as_str().into())
    }

    fn ran_at(&self) -> Option<Arc<str>> {
        Some(self.started.node.as_str().into()).filter(|n: &Arc<str>| !n.is_empty())
    }

    fn take_output(&mut self) -> (OutputStream, OutputStream) {
        (
            self.stdout.take().expect("taken once"),
            self.stderr.take().expect("taken once"),
        )
    }

    fn signal(&mut self, signal: Signal) {
        if self.done {
            return;
        }
        if signal == Signal::SIGKILL && self.killed_at.is_none() {
            self.killed_at = Some(Instant::now());
        }
        self.scancel(Some(signal));
    }

    fn wait(&mut self) -> BoxFuture<'_, Exit> {
        Box::pin(async move {
            let hang_at = self.killed_at.map(|t| t + HANG_AFTER_KILL);
            let far = Instant::now() + Duration::from_secs(86400 * 365);
            let status = tokio::select! {
                st = self.child.wait() => st,
                _ = tokio::time::sleep_until(hang_at.unwrap_or(far)), if hang_at.is_some() => {
                    tracing::warn!(step = %self.started.step, "srun did not end after its step was killed: cancelling the step and ending srun");
                    self.scancel(None);
                    let _ = self.child.start_kill();
                    let _ = self.child.wait().await;
                    self.finish().await;
                    return Exit::Unknown;
                }
            };
            self.finish().await;
            match status {
                Ok(st) => self.verdict(st),
                Err(_) => Exit::Unknown,
            }
        })
    }
}

impl Step {
    /// srun has ended: its messages are all read (bounded: srun held the pipe).
    async fn finish(&mut self) {
        self.done = true;
        if let Some(s) = self.splitter.take() {
            let _ = tokio::time::timeout(Duration::from_secs(2), s).await;
        }
        self.shared
            .running
            .lock()
            .expect("never poisoned")
            .remove(&self.started.step);
    }
}

impl Drop for Step {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        // Dropped while srun runs: SIGTERM to srun cancels its step (SIGKILL would orphan it).
        if let Some(pid) = self.child.id() {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), Signal::SIGTERM);
        }
        self.shared
            .running
            .lock()
            .expect("never poisoned")
            .remove(&self.started.step);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn srun_s_signal_words() {
        assert_eq!(signal_named("Terminated"), Some(15));
        assert_eq!(signal_named("Segmentation fault (core dumped)"), Some(11));
        assert_eq!(signal_named("Exited with exit code 3"), None);
    }
}
