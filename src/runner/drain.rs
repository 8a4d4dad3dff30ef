//! Reads a job's stdout and stderr to their ends, concurrently (a job writing megabytes to
//! both never deadlocks): kept whole when it is printed at the end or written to results,
//! passed on as lines (`--line-buffer`) or chunks (`--ungroup`) while the job runs. What is
//! kept stays in memory up to 1 MiB a stream and goes to a temporary file past that (see
//! `report::spill`), so memory is bounded whatever the jobs print.

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncReadExt};

use super::Shared;
use crate::cancel::CancelReason;
use crate::config::OutputMode;
use crate::job::JobId;
use crate::report::events::{Captured, RunEvent, Stream};
use crate::report::spill::{SPILL_AT, SpillBuf};

/// The longest partial line `--line-buffer` holds back: past it the piece is passed on (a
/// line this long may be split; the printer starts another job's line on a line of its own).
/// Holding it longer would cost memory, and searching it again on each read, time.
pub(crate) const PARTIAL_LINE_MAX: usize = 64 * 1024;

/// The size of the reads once output is passed on or spilled.
const READ_SIZE: usize = 64 * 1024;

/// Output read from a job: kept whole in group mode or when results need it, counted always.
#[derive(Default)]
pub(crate) struct Drained {
    pub stdout: Captured,
    pub stderr: Captured,
    pub stdout_bytes: u64,
    pub stderr_bytes: u64,
}

impl Drained {
    /// True when part of what was to be kept was lost (a full temporary directory).
    pub fn incomplete(&self) -> bool {
        self.stdout.incomplete().is_some() || self.stderr.incomplete().is_some()
    }
}

/// Reads both streams to their ends.
pub(crate) async fn both(
    shared: &Shared,
    id: JobId,
    tag: &Option<Arc<[u8]>>,
    stdout: impl AsyncRead + Unpin,
    stderr: impl AsyncRead + Unpin,
) -> Drained {
    let (o, e) = tokio::join!(
        one(shared, id, tag, stdout, Stream::Stdout),
        one(shared, id, tag, stderr, Stream::Stderr)
    );
    Drained {
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
) -> (Captured, u64) {
    let mode = shared.config.output;
    let tmpdir = shared.config.tmpdir.as_deref();
    let mut total = 0u64;
    let mut buf = vec![0u8; READ_SIZE];
    let mut kept = None;
    if mode == OutputMode::Group {
        // The usual case: read into one Vec, which goes to the printer as it is. Only an
        // output that reaches the bound pays for a file.
        let mut mem = Vec::new();
        let _ = (&mut r).take(SPILL_AT as u64).read_to_end(&mut mem).await;
        total = mem.len() as u64;
        if mem.len() < SPILL_AT {
            return (mem.into(), total);
        }
        kept = Some(SpillBuf::from_vec(mem));
    } else if shared.config.capture {
        kept = Some(SpillBuf::default());
    }
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
        if let Some(k) = kept.as_mut()
            && k.push(chunk, tmpdir).is_err()
        {
            // The rest of this stream is read and dropped (the job must not block on a full
            // pipe); the record says the output is incomplete, and the run stops at once.
            shared.cancel.escalate(CancelReason::ReportFailed);
        }
        let data = match mode {
            OutputMode::Group => continue,
            OutputMode::LineBuffer => match line_piece(&mut pending, chunk) {
                Some(data) => data,
                None => continue,
            },
            OutputMode::Ungroup => chunk.to_vec(),
        };
        shared.emit(emit(data)).await;
    }
    if !pending.is_empty() {
        shared.emit(emit(pending)).await;
    }
    (kept.map(SpillBuf::finish).unwrap_or_default(), total)
}

/// `--line-buffer`: takes a new `chunk` after the `pending` partial line, and gives what can
/// be passed on: every whole line, or the partial line once it is [`PARTIAL_LINE_MAX`] long.
/// Only the new chunk is searched, so a long line costs linear time.
fn line_piece(pending: &mut Vec<u8>, chunk: &[u8]) -> Option<Vec<u8>> {
    match chunk.iter().rposition(|&b| b == b'\n') {
        Some(i) => {
            let mut data = std::mem::take(pending);
            data.extend_from_slice(&chunk[..=i]);
            pending.extend_from_slice(&chunk[i + 1..]);
            Some(data)
        }
        None => {
            pending.extend_from_slice(chunk);
            (pending.len() >= PARTIAL_LINE_MAX).then(|| std::mem::take(pending))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_pieces_are_whole_lines_or_long_partials() {
        let mut pending = Vec::new();
        assert_eq!(line_piece(&mut pending, b"ab"), None);
        assert_eq!(line_piece(&mut pending, b"c\nd\nef").unwrap(), b"abc\nd\n");
        assert_eq!(pending, b"ef");
        let long = vec![b'x'; PARTIAL_LINE_MAX];
        assert_eq!(
            line_piece(&mut pending, &long).unwrap().len(),
            PARTIAL_LINE_MAX + 2
        );
        assert!(pending.is_empty());
    }
}
