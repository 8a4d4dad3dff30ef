//! The allocation fanout gets for a run outside one: `salloc --no-shell -n TASKS
//! --job-name=fanout-run-PID-N ARGS`, waited for (bounded by `--slurm-wait`, given up on a
//! signal), and released with `scancel` at the end of the run. A watcher process started
//! before salloc cancels every job of that name when fanout dies without releasing (SIGKILL):
//! it reads a pipe from fanout and sees its end.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};

use super::Shared;
use crate::cancel::Cancel;
use crate::exec::AcquireError;

/// An allocation fanout made.
pub(super) struct Made {
    pub job_id: String,
    /// The watcher's stdin: `done` and its end tell it the allocation was released.
    watcher: Option<std::process::ChildStdin>,
    watcher_child: Option<std::process::Child>,
    conf: std::path::PathBuf,
    released: bool,
}

/// The watcher: on end of input without `done`, cancels the run's jobs by name.
const WATCHER: &str = "read x; [ \"$x\" = done ] || exec scancel --quiet --name=\"$1\"";

/// How long salloc gets to give up a pending request after SIGTERM.
const SALLOC_EXIT: Duration = Duration::from_secs(10);

/// Gets an allocation of `tasks` tasks; `None` when the run was cancelled while waiting.
pub(super) async fn allocate(
    shared: &Shared,
    tasks: usize,
    cancel: &Cancel,
) -> Result<Option<Made>, AcquireError> {
    let fail = |message: String| AcquireError { message };
    let name = format!(
        "fanout-run-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos())
    );
    let mut watcher = shared
        .command_std("sh")
        .args(["-c", WATCHER, "sh", &name])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|e| fail(format!("cannot start the allocation's watcher: {e}")))?;
    let watcher_in = watcher.stdin.take();
    let mut made = Made {
        job_id: String::new(),
        watcher: watcher_in,
        watcher_child: Some(watcher),
        conf: shared.config.conf.clone(),
        released: true,
    };
    let mut cmd = shared.command("salloc");
    cmd.args(["--no-shell", &format!("--ntasks={tasks}")])
        .arg(format!("--job-name={name}"))
        .args(&shared.config.args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(false);
    tracing::info!(tasks, "requesting a Slurm allocation");
    let mut salloc = cmd.spawn().map_err(|e| {
        fail(format!(
            "cannot run salloc: {e} (--slurm outside an allocation needs the Slurm client commands)"
        ))
    })?;
    let mut lines = BufReader::new(salloc.stderr.take().expect("piped")).lines();
    let mut said = Vec::new();
    let mut pending: Option<String> = None;
    let waited = tokio::time::Instant::now();
    let deadline = shared.config.wait.map(|w| waited + w);
    let far = waited + Duration::from_secs(86400 * 365);
    let mut rx = cancel.subscribe();
    let cancelled = async move {
        let _ = rx.wait_for(Option::is_some).await;
    };
    tokio::pin!(cancelled);
    // Why the wait ended early: a signal (quietly) or --slurm-wait (an error).
    let mut gave_up: Option<bool> = None;
    loop {
        tokio::select! {
            line = lines.next_line() => match line {
                Ok(Some(l)) => {
                    let msg = l.strip_prefix("salloc: ").unwrap_or(&l).to_string();
                    if let Some(id) = msg.strip_prefix("Granted job allocation ") {
                        made.job_id = id.trim().to_string();
                        made.released = false;
                    } else if let Some(id) = msg.strip_prefix("Pending job allocation ") {
                        pending = Some(id.trim().to_string());
                        tracing::warn!(job_id = id.trim(), "waiting for an allocation");
                    } else {
                        tracing::debug!(salloc = %msg, "salloc says");
                        said.push(msg);
                    }
                }
                _ => break,
            },
            _ = tokio::time::sleep_until(deadline.unwrap_or(far)), if deadline.is_some() && gave_up.is_none() => {
                gave_up = Some(false);
                terminate(&mut salloc).await;
            }
            _ = &mut cancelled, if gave_up.is_none() => {
                gave_up = Some(true);
                terminate(&mut salloc).await;
            }
        }
    }
    let status = salloc.wait().await;
    // A request given up on: nothing of it may stay queued or allocated.
    if gave_up.is_some() {
        if let Some(id) = pending
            .clone()
            .or(Some(made.job_id.clone()).filter(|j| !j.is_empty()))
        {
            made.job_id = id;
            made.released = false;
        }
        made.release_now();
        return match gave_up {
            Some(true) => Ok(None),
            _ => Err(fail(format!(
                "no Slurm allocation of {tasks} tasks within --slurm-wait {}{}: try again later, ask for fewer tasks (-j), or wait longer",
                humantime::format_duration(shared.config.wait.unwrap_or_default()),
                pending
                    .map(|p| format!(" (job {p} was pending, now cancelled)"))
                    .unwrap_or_default()
            ))),
        };
    }
    let ok = status.as_ref().is_ok_and(|s| s.success());
    if made.job_id.is_empty() || !ok {
        made.release_now();
        return Err(fail(format!(
            "salloc could not get an allocation of {tasks} tasks ({}): {}",
            status.map_or_else(|e| e.to_string(), |s| s.to_string()),
            if said.is_empty() {
                "it said nothing".into()
            } else {
                said.join("; ")
            }
        )));
    }
    tracing::info!(job_id = %made.job_id, tasks, waited_ms = waited.elapsed().as_millis() as u64, "got a Slurm allocation");
    Ok(Some(made))
}

/// SIGTERM to salloc: a pending request is withdrawn (`Job allocation N has been revoked`).
async fn terminate(salloc: &mut tokio::process::Child) {
    if let Some(pid) = salloc.id() {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
    }
    if tokio::time::timeout(SALLOC_EXIT, salloc.wait())
        .await
        .is_err()
    {
        let _ = salloc.start_kill();
    }
}

impl Made {
    /// Releases the allocation at the end of the run (bounded).
    pub async fn release(mut self, shared: &Shared) {
        if !self.released {
            let mut cmd = shared.command("scancel");
            cmd.arg(&self.job_id)
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            match tokio::time::timeout(Duration::from_secs(30), cmd.status()).await {
                Ok(Ok(st)) if st.success() => {
                    self.released = true;
                    tracing::info!(job_id = %self.job_id, "released the Slurm allocation");
                }
                r => {
                    tracing::warn!(job_id = %self.job_id, result = ?r, "scancel did not release the allocation; the watcher tries again")
                }
            }
        }
        self.dismiss_watcher();
    }

    /// The same, synchronously (on errors, and as the backstop in `Drop`).
    fn release_now(&mut self) {
        if !self.released && !self.job_id.is_empty() {
            let st = std::process::Command::new("scancel")
                .env("SLURM_CONF", &self.conf)
                .arg(&self.job_id)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            self.released = st.is_ok_and(|s| s.success());
        }
        self.dismiss_watcher();
    }

    fn dismiss_watcher(&mut self) {
        if let Some(mut w) = self.watcher.take() {
            // Released: the watcher ends without cancelling. Not released: it cancels by name.
            if self.released {
                let _ = w.write_all(b"done\n");
            }
        }
        if let Some(mut c) = self.watcher_child.take() {
            let _ = c.wait();
        }
    }
}

impl Drop for Made {
    fn drop(&mut self) {
        self.release_now();
    }
}
