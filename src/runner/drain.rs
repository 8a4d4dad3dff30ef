//! Reads a job's stdout and stderr to their ends, concurrently (a job writing megabytes to
//! both never deadlocks): kept whole when it is printed at the end or written to results,
//! passed on as lines (`--line-buffer`) or chunks (`--ungroup`) while the job runs.

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncReadExt};

use super::Shared;
use crate::config::OutputMode;
use crate::job::JobId;
use crate::report::events::{RunEvent, Stream};

/// Output read from a job: kept whole in group mode or when results need it, counted always.
#[derive(Default)]
pub(crate) struct Captured {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub stdout_bytes: u64,
    pub stderr_bytes: u64,
}

/// Reads both streams to their ends.
pub(crate) async fn both(
    shared: &Shared,
    id: JobId,
    tag: &Option<Arc<[u8]>>,
    stdout: impl AsyncRead + Unpin,
    stderr: impl AsyncRead + Unpin,
) -> Captured {
    let (o, e) = tokio::join!(
        one(shared, id, tag, stdout, Stream::Stdout),
        one(shared, id, tag, stderr, Stream::Stderr)
    );
    Captured {
        stdout_bytes: o.1,
        stderr_bytes: e.1,
        stdout: o.0,
        stderr: e.0,
    }
}

/// Reads one stream to its end; returns what was kept and how many bytes were read.
async fn one(
    shared: &Shared,
    id: JobId,
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
    let emit = |data| RunEvent::JobOutput {
        id,
        tag: tag.clone(),
        stream,
        data,
    };
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
        shared.emit(emit(data)).await;
    }
    if !pending.is_empty() {
        shared.emit(emit(pending)).await;
    }
    (kept, total)
}
