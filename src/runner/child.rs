//! One job from spawn to record: starts each attempt in its own process group, drains stdout
//! and stderr concurrently (so a child writing megabytes to both never deadlocks), enforces
//! `--timeout` with the terminate sequence, reacts to cancellation, retries, and ends whatever
//! the job left behind.

use std::os::fd::AsFd;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::time::{Instant, sleep_until};

use super::Shared;
use crate::config::OutputMode;
use crate::job::{Job, JobOutcome, JobRecord, JobSpec};
use crate::report::events::{CancelReason, RunEvent, Stream};

/// How long a finished job's pipes may stay open (held by an escaped descendant) before the
/// holders are ended.
const LINGER: Duration = Duration::from_millis(200);
/// How long a spawn that failed for lack of resources (EMFILE, EAGAIN...) is retried.
const SPAWN_PATIENCE: Duration = Duration::from_secs(30);
/// The same when no other job runs: none will end to free what is missing, so waiting long
/// would only stall the run (fanout's own files may be all a low `ulimit -n` allows).
const LONE_SPAWN_PATIENCE: Duration = Duration::from_secs(2);

/// The end of one job, ready to merge and report.
pub(crate) struct Finished {
    pub record: JobRecord,
    pub tag: Option<Arc<[u8]>>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Runs `job` in `slot` until it succeeds, runs out of retries or the run is cancelled.
pub(crate) async fn run_job(shared: &Arc<Shared>, job: Job, slot: u32) -> Finished {
    let spec = shared.template.render(&job, slot);
    let command: Arc<str> = spec.display().into();
    let args: Arc<str> = job.args_display().into();
    let tag: Option<Arc<[u8]>> = match (&shared.config.tag, &shared.tag) {
        (_, Some(t)) => Some(t.render_plain(&job, slot).into()),
        (Some(crate::config::Tag::Args), None) => Some(job.args.join(&b' ').into()),
        _ => None,
    };
    let mut attempt = 1;
    loop {
        let fin = run_attempt(shared, &job, slot, &spec, &command, &args, &tag, attempt).await;
        let retry = !fin.record.outcome.is_success()
            && !matches!(fin.record.outcome, JobOutcome::Cancelled { .. })
            && attempt <= shared.config.retry.retries
            && shared.cancel.reason().is_none();
        if !retry {
            return fin;
        }
        let delay = shared.config.retry.delay_before(attempt);
        shared
            .emit(RunEvent::JobRetrying {
                record: Box::new(fin.record.clone()),
                delay,
            })
            .await;
        let mut cancel = shared.cancel.subscribe();
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            // The run is stopping: the failed attempt is the job's result (no retry starts).
            _ = cancel.wait_for(|c| c.is_some()) => return fin,
        }
        attempt += 1;
    }
}

/// Why the job's process group is being ended.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ending {
    Timeout,
    Cancel,
}

#[expect(
    clippy::too_many_arguments,
    reason = "the parts of one attempt, all borrowed"
)]
async fn run_attempt(
    shared: &Arc<Shared>,
    job: &Job,
    slot: u32,
    spec: &JobSpec,
    command: &Arc<str>,
    args: &Arc<str>,
    tag: &Option<Arc<[u8]>>,
    attempt: u32,
) -> Finished {
    let config = &shared.config;
    let start = SystemTime::now();
    let t0 = Instant::now();
    let record = |outcome, pid, out: &Captured| JobRecord {
        id: job.id,
        slot,
        args: args.clone(),
        command: command.clone(),
        outcome,
        start,
        duration: t0.elapsed(),
        attempts: attempt,
        stdout_bytes: out.stdout_bytes,
        stderr_bytes: out.stderr_bytes,
        pid,
    };

    let mut child = match spawn(shared, spec, job, slot).await {
        Ok(c) => c,
        Err(e) => {
            let (code, msg) = spawn_failure(spec, &e);
            let out = Captured {
                stderr: msg.clone().into_bytes(),
                stderr_bytes: msg.len() as u64,
                ..Captured::default()
            };
            if config.output != OutputMode::Group {
                shared
                    .emit(RunEvent::JobOutput {
                        id: job.id,
                        tag: tag.clone(),
                        stream: Stream::Stderr,
                        data: msg.into_bytes(),
                    })
                    .await;
            }
            // Given up because the run is stopping: the job never ran, and runs on resume.
            let outcome = if is_transient(&e) && shared.cancel.reason().is_some() {
                JobOutcome::Cancelled { signal: None }
            } else {
                JobOutcome::SpawnFailed { code }
            };
            return Finished {
                tag: tag.clone(),
                record: record(outcome, 0, &out),
                stdout: Vec::new(),
                stderr: out.stderr,
            };
        }
    };
    let pid = child.id().unwrap_or(0);
    let pgid = Pid::from_raw(pid as i32);
    shared
        .emit(RunEvent::JobStarted {
            id: job.id,
            slot,
            pid,
            attempt,
            args: args.clone(),
            command: command.clone(),
        })
        .await;

    let stdout = child.stdout.take().expect("stdout is piped");
    let stderr = child.stderr.take().expect("stderr is piped");
    let inodes = [pipe_inode(&stdout), pipe_inode(&stderr)];
    let reading = async {
        let (o, e) = tokio::join!(
            drain(shared, job, tag, stdout, Stream::Stdout),
            drain(shared, job, tag, stderr, Stream::Stderr)
        );
        Captured {
            stdout_bytes: o.1,
            stderr_bytes: e.1,
            stdout: o.0,
            stderr: e.0,
        }
    };
    let waiting = async {
        let mut cancel = shared.cancel.subscribe();
        // A cancellation that came while this job was being spawned must still reach it.
        cancel.mark_changed();
        let deadline = config.timeout.map(|t| t0 + t);
        let mut slow_at = config.slow.map(|s| t0 + s);
        // The signals still to send, and when to send the next one.
        let mut plan: Vec<(Signal, Duration)> = Vec::new();
        let mut next_at: Option<Instant> = None;
        let mut ending: Option<Ending> = None;
        let mut cancel_signal = None;
        let far = t0 + Duration::from_secs(86400 * 365);
        let status = loop {
            tokio::select! {
                st = child.wait() => break st,
                _ = sleep_until(deadline.unwrap_or(far)), if deadline.is_some() && ending.is_none() => {
                    ending = Some(Ending::Timeout);
                    plan = config.termseq.0.iter().rev().cloned().collect();
                    next_at = Some(Instant::now());
                }
                _ = sleep_until(next_at.unwrap_or(far)), if next_at.is_some() => {
                    match plan.pop() {
                        Some((sig, wait)) => {
                            let _ = killpg(pgid, sig);
                            next_at = Some(Instant::now() + wait);
                        }
                        None => next_at = None,
                    }
                }
                _ = sleep_until(slow_at.unwrap_or(far)), if slow_at.is_some() => {
                    let period = config.slow.expect("slow_at is set only with --slow");
                    slow_at = slow_at.map(|s| s + period);
                    shared.emit(RunEvent::JobSlow { id: job.id, elapsed: t0.elapsed(), command: command.clone() }).await;
                }
                changed = cancel.changed() => {
                    if changed.is_err() { continue; }
                    let reason = *cancel.borrow_and_update();
                    match reason {
                        Some(CancelReason::HaltNow | CancelReason::ReportFailed | CancelReason::OutputClosed) if ending.is_none() => {
                            ending = Some(Ending::Cancel);
                            plan = config.termseq.0.iter().rev().cloned().collect();
                            next_at = Some(Instant::now());
                        }
                        Some(CancelReason::Signal(sig)) => {
                            ending = Some(Ending::Cancel);
                            cancel_signal = Some(sig);
                            let sig = Signal::try_from(sig).unwrap_or(Signal::SIGTERM);
                            let _ = killpg(pgid, sig);
                            plan = vec![(Signal::SIGKILL, Duration::ZERO)];
                            next_at = Some(Instant::now() + config.grace);
                        }
                        Some(CancelReason::SecondSignal(_)) => {
                            ending = Some(Ending::Cancel);
                            let _ = killpg(pgid, Signal::SIGKILL);
                        }
                        _ => {}
                    }
                }
            }
        };
        // The job is over: nothing it started in its group may outlive it.
        let _ = killpg(pgid, Signal::SIGKILL);
        (status, ending, cancel_signal)
    };

    tokio::pin!(reading);
    tokio::pin!(waiting);
    let mut captured = None;
    let mut ended = None;
    let linger = tokio::time::sleep(Duration::ZERO);
    tokio::pin!(linger);
    let mut lingering = false;
    while captured.is_none() || ended.is_none() {
        tokio::select! {
            c = &mut reading, if captured.is_none() => captured = Some(c),
            e = &mut waiting, if ended.is_none() => {
                ended = Some(e);
                linger.as_mut().reset(Instant::now() + LINGER);
                lingering = true;
            }
            _ = &mut linger, if lingering && captured.is_none() => {
                let tracked = shared.tracked.clone();
                let done = super::reaper::on_worker(move || super::reaper::kill_pipe_holders(&inodes, &tracked)).await;
                if done == Some(false) {
                    // A spawn was in flight: look again in a moment.
                    linger.as_mut().reset(Instant::now() + Duration::from_millis(10));
                } else {
                    lingering = false;
                }
            }
        }
    }
    let out = captured.expect("loop ends with output captured");
    let (status, ending, cancel_signal) = ended.expect("loop ends with the child waited for");
    {
        let mut t = shared.tracked.lock().expect("never poisoned");
        t.children.remove(&pid);
    }
    let outcome = match status {
        Ok(st) => outcome_of(st, ending, cancel_signal),
        Err(_) => JobOutcome::Failed { code: -1 },
    };
    let mut out = out;
    if config.unique {
        out.stdout = shared.store.admit_unique(&out.stdout).await;
    }
    Finished {
        tag: tag.clone(),
        record: record(outcome, pid, &out),
        stdout: out.stdout,
        stderr: out.stderr,
    }
}

fn outcome_of(st: ExitStatus, ending: Option<Ending>, cancel_signal: Option<i32>) -> JobOutcome {
    use std::os::unix::process::ExitStatusExt;
    match (ending, st.code(), st.signal()) {
        // A job past its timeout is timed out even if it caught the signal and exited 0.
        (Some(Ending::Timeout), _, sig) => JobOutcome::TimedOut { signal: sig },
        (_, Some(0), _) => JobOutcome::Success,
        (Some(Ending::Cancel), _, sig) => JobOutcome::Cancelled {
            signal: sig.or(cancel_signal),
        },
        (None, Some(code), _) => JobOutcome::Failed { code },
        (None, None, Some(signal)) => JobOutcome::Signaled { signal },
        (None, None, None) => JobOutcome::Failed { code: -1 },
    }
}

/// Output read from a job: kept whole in group mode or when results need it, counted always.
#[derive(Default)]
struct Captured {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    stdout_bytes: u64,
    stderr_bytes: u64,
}

/// Reads one stream to its end. Keeps it whole when it must be printed at the end or written
/// to results; passes it through as lines or chunks in `--line-buffer` and `--ungroup` modes.
async fn drain(
    shared: &Arc<Shared>,
    job: &Job,
    tag: &Option<Arc<[u8]>>,
    mut r: impl AsyncRead + Unpin,
    stream: Stream,
) -> (Vec<u8>, u64) {
    let mode = shared.config.output;
    let keep = mode == OutputMode::Group || shared.config.capture;
    let mut kept = Vec::new();
    if mode == OutputMode::Group {
        let _ = r.read_to_end(&mut kept).await;
        let n = kept.len() as u64;
        return (kept, n);
    }
    let mut total = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    let mut pending: Vec<u8> = Vec::new();
    loop {
        let n = match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        total += n as u64;
        let chunk = &buf[..n];
        if keep {
            kept.extend_from_slice(chunk);
        }
        let data = if mode == OutputMode::LineBuffer {
            pending.extend_from_slice(chunk);
            match pending.iter().rposition(|&b| b == b'\n') {
                Some(i) => {
                    let rest = pending.split_off(i + 1);
                    std::mem::replace(&mut pending, rest)
                }
                None => continue,
            }
        } else {
            chunk.to_vec()
        };
        shared
            .emit(RunEvent::JobOutput {
                id: job.id,
                tag: tag.clone(),
                stream,
                data,
            })
            .await;
    }
    if !pending.is_empty() {
        shared
            .emit(RunEvent::JobOutput {
                id: job.id,
                tag: tag.clone(),
                stream,
                data: pending,
            })
            .await;
    }
    (kept, total)
}

/// Spawns the attempt in its own process group. A spawn that fails for lack of resources
/// (file descriptors, processes, memory) is retried with backoff rather than failing the job.
async fn spawn(
    shared: &Arc<Shared>,
    spec: &JobSpec,
    job: &Job,
    slot: u32,
) -> std::io::Result<tokio::process::Child> {
    let mut cmd = shared.executor.command(spec, job.id, slot);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let first_try = Instant::now();
    let mut backoff = Duration::from_millis(5);
    loop {
        let others_running = {
            let mut t = shared.tracked.lock().expect("never poisoned");
            t.spawning += 1;
            t.running.insert(job.id.0);
            t.running.len() > 1
        };
        // Not under the lock: see `reaper::Tracked::spawning`. No await until it is undone.
        let result = cmd.spawn();
        {
            let mut t = shared.tracked.lock().expect("never poisoned");
            t.spawning -= 1;
            if let Ok(c) = &result {
                t.children.insert(c.id().unwrap_or(0), job.id.0);
            }
        }
        let patience = if others_running {
            SPAWN_PATIENCE
        } else {
            LONE_SPAWN_PATIENCE
        };
        match result {
            Ok(c) => return Ok(c),
            Err(e) if is_transient(&e) && first_try.elapsed() < patience => {
                tracing::debug!(seq = job.id.0, error = %e, "spawn failed for lack of resources; retrying");
                // A stopping run does not wait for resources to start one more job.
                let mut cancel = shared.cancel.subscribe();
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = cancel.wait_for(Option::is_some) => return Err(e),
                }
                backoff = (backoff * 2).min(Duration::from_millis(500));
            }
            Err(e) => return Err(e),
        }
    }
}

fn is_transient(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::EAGAIN | libc::ENOMEM)
    )
}

/// The exit code a shell would give and the message naming the program.
fn spawn_failure(spec: &JobSpec, e: &std::io::Error) -> (i32, String) {
    let prog = spec.argv[0].to_string_lossy();
    match e.kind() {
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
    }
}

fn pipe_inode(fd: &impl AsFd) -> u64 {
    nix::sys::stat::fstat(fd.as_fd()).map_or(0, |s| s.st_ino)
}
