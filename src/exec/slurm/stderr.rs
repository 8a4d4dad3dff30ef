//! srun's stderr carries three things at once: srun's own messages, the marker line the step's
//! wrapper prints when the task starts (job id, step id, node), and the task's stderr. This
//! reads it on a task of its own, passes the task's stderr on (as the attempt's stderr
//! stream), keeps srun's messages for the verdict ([`SrunLog`]) and hands the marker to the
//! start. srun's report of the task's exit (`srun: error: NODE: task 0: Exited with exit code
//! 3`) is taken out of the job's stderr: fanout reports exits itself.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::sync::oneshot;

/// The first byte of the marker line (ASCII record separator: no job prints it by chance
/// before its first output, as the wrapper prints it before the job starts).
pub(super) const MARK: &str = "\x1efanout-step ";

/// Where the task started: `JOBID.STEP` and the node, from the marker line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Started {
    pub step: String,
    pub node: String,
}

/// srun's own lines (without the `srun: ` prefix), in order; bounded.
#[derive(Debug, Default)]
pub(super) struct SrunLog {
    pub lines: Vec<String>,
}

/// How many srun lines are kept, and the longest line held back to be looked at.
const MAX_LINES: usize = 64;
const MAX_HELD: usize = 4096;

impl SrunLog {
    fn push(&mut self, line: &str) {
        if self.lines.len() < MAX_LINES {
            self.lines.push(line.to_string());
        }
    }
}

/// Reads `from` until its end; writes the job's part to `to`; sends the marker on `started`.
pub(super) async fn split(
    mut from: impl AsyncRead + Unpin,
    mut to: DuplexStream,
    log: Arc<Mutex<SrunLog>>,
    started: oneshot::Sender<Started>,
) {
    let mut started = Some(started);
    let mut buf = vec![0u8; 16 * 1024];
    // The line being held back (it may be srun's, or the marker), and whether the next byte
    // starts a line.
    let mut held: Vec<u8> = Vec::new();
    let mut at_start = true;
    let mut out = Vec::with_capacity(16 * 1024);
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        out.clear();
        for &b in &buf[..n] {
            if at_start || !held.is_empty() {
                held.push(b);
                at_start = false;
                let line_done = b == b'\n';
                if line_done || held.len() >= MAX_HELD || !could_be_ours(&held, started.is_some()) {
                    if !take(&held, &log, &mut started) {
                        out.extend_from_slice(&held);
                    }
                    held.clear();
                    at_start = line_done;
                }
                continue;
            }
            out.push(b);
            at_start = b == b'\n';
        }
        if !out.is_empty() && to.write_all(&out).await.is_err() {
            // Nobody reads the job's stderr any more; keep reading srun's for the verdict.
            to = tokio::io::duplex(1).0;
        }
    }
    if !held.is_empty() && !take(&held, &log, &mut started) {
        let _ = to.write_all(&held).await;
    }
    let _ = to.shutdown().await;
}

/// Whether a line that starts with `held` may be srun's or the marker (so it is held back
/// until its end). Before the marker every line is srun's.
fn could_be_ours(held: &[u8], before_marker: bool) -> bool {
    if before_marker {
        return true;
    }
    let n = held.len().min(6);
    held[..n] == b"srun: "[..n]
}

/// Takes a whole line that is ours (srun's or the marker) and says so; a job's line is left.
fn take(line: &[u8], log: &Mutex<SrunLog>, started: &mut Option<oneshot::Sender<Started>>) -> bool {
    let text = String::from_utf8_lossy(line);
    let text = text.trim_end_matches(['\n', '\r']);
    if started.is_some() {
        if let Some(rest) = text.strip_prefix(MARK) {
            let (step, node) = rest.split_once(' ').unwrap_or((rest, ""));
            let s = Started {
                step: step.to_string(),
                node: node.trim().to_string(),
            };
            let _ = started.take().expect("checked above").send(s);
            return true;
        }
        // srun's, before the task: a retry notice, or the error it fails with.
        let msg = text.strip_prefix("srun: ").unwrap_or(text);
        tracing::debug!(srun = msg, "srun says");
        log.lock().expect("never poisoned").push(msg);
        return true;
    }
    let Some(msg) = text.strip_prefix("srun: ") else {
        return false;
    };
    log.lock().expect("never poisoned").push(msg);
    // srun's report of the task's end, which fanout reports itself; other messages (an
    // error of srun's, a nested srun's) stay in the job's stderr.
    task_status(msg).is_some() || quiet(msg)
}

/// srun's notices around the end of a step that say nothing fanout does not.
fn quiet(msg: &str) -> bool {
    msg.starts_with("Force Terminated")
        || msg.starts_with("forcing job termination")
        || msg.starts_with("Job step aborted")
        || msg.starts_with("interrupt (one more within")
        || msg.starts_with("Received task exit notification")
        || msg.starts_with("launch/slurm: _task_finish")
}

/// The end of the task in srun's words: `error: NODE: task 0: Exited with exit code 3` gives
/// `Exited with exit code 3`.
pub(super) fn task_status(msg: &str) -> Option<&str> {
    let rest = msg.strip_prefix("error: ")?;
    let (_, status) = rest.split_once(": task 0: ")?;
    Some(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn run(chunks: &[&[u8]]) -> (Vec<u8>, Vec<String>, Option<Started>) {
        let (mut w, r) = tokio::io::duplex(1 << 16);
        for c in chunks {
            w.write_all(c).await.unwrap();
        }
        drop(w);
        let (to, mut job) = tokio::io::duplex(1 << 16);
        let log = Arc::new(Mutex::new(SrunLog::default()));
        let (tx, rx) = oneshot::channel();
        split(r, to, log.clone(), tx).await;
        let mut out = Vec::new();
        job.read_to_end(&mut out).await.unwrap();
        let lines = log.lock().unwrap().lines.clone();
        (out, lines, rx.await.ok())
    }

    #[tokio::test]
    async fn the_marker_and_srun_lines_are_taken_out() {
        let (out, lines, started) = run(&[
            b"srun: Job step creation temporarily disabled, retrying\n",
            b"\x1efanout-step 12.3 node7\nreal err\nsrun-like",
            b" text\nsrun: error: node7: task 0: Exited with exit code 3\nlast",
        ])
        .await;
        assert_eq!(
            String::from_utf8_lossy(&out),
            "real err\nsrun-like text\nlast"
        );
        assert_eq!(
            started,
            Some(Started {
                step: "12.3".into(),
                node: "node7".into()
            })
        );
        assert_eq!(lines.len(), 2);
        assert_eq!(task_status(&lines[1]), Some("Exited with exit code 3"));
    }

    #[tokio::test]
    async fn without_a_marker_everything_is_srun_s() {
        let (out, lines, started) =
            run(&[b"srun: error: Unable to create step for job 9: Job/step already completing\n"])
                .await;
        assert!(out.is_empty());
        assert_eq!(started, None);
        assert!(lines[0].contains("Unable to create step"));
    }

    #[tokio::test]
    async fn other_srun_messages_stay_in_the_job_s_stderr() {
        let (out, _, _) = run(&[b"\x1efanout-step 1.0 n\nsrun: error: something else\n"]).await;
        assert_eq!(out, b"srun: error: something else\n");
    }
}
