//! Feeding a job's [`Stdin`] on this machine: a pipe whose read end is the job's stdin, and
//! a thread of its own that writes the chunks into the write end with blocking writes (one
//! system call moves a whole block as fast as the job reads it) and ranges of a file with
//! `sendfile` (the kernel copies them; fanout never reads them). The `--fifo` of `--pipe`
//! uses the same writer. A reader that goes away early (`head -1`) ends the feeding quietly.

use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};

use crate::job::{Chunk, Stdin};

/// The pipe buffer asked for: fewer wake-ups per block than the default 64 KiB. Linux caps
/// it at `/proc/sys/fs/pipe-max-size` (1 MiB by default) for unprivileged users.
const PIPE_BUFFER: i32 = 1 << 20;

/// A pipe for a job whose stdin is fed: (read end for the job, write end for the feeder).
pub(crate) fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    // Best effort: a smaller buffer only costs speed.
    let _ = nix::fcntl::fcntl(&write, nix::fcntl::FcntlArg::F_SETPIPE_SZ(PIPE_BUFFER));
    Ok((read, write))
}

/// Writes `stdin` into `out` on a thread of its own, then closes `out` (the reader's end of
/// file). Does nothing for [`Stdin::Null`].
pub(crate) fn spawn_feeder(stdin: &Stdin, out: OwnedFd) {
    let Stdin::Feed(chunks) = stdin else { return };
    let chunks = chunks.clone();
    let spawned = std::thread::Builder::new()
        .name("fanout-stdin".into())
        .stack_size(64 * 1024)
        .spawn(move || {
            crate::signals::block_in_helper_thread();
            if let Err(e) = write_chunks(&chunks, out) {
                tracing::warn!(error = %e, "cannot feed a job's stdin");
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot start the thread that feeds a job's stdin");
    }
}

/// Writes every chunk into `out`, blocking. A reader that has gone is not an error.
pub(crate) fn write_chunks(chunks: &[Chunk], out: OwnedFd) -> std::io::Result<()> {
    let mut out = File::from(out);
    let gone = |e: &std::io::Error| e.kind() == std::io::ErrorKind::BrokenPipe;
    for chunk in chunks {
        let written = match chunk {
            Chunk::Bytes(b) => out.write_all(b),
            Chunk::File { path, offset, len } => send_range(path, *offset, *len, &out),
            Chunk::Queue(q) => loop {
                let Some(block) = q.next_blocking() else {
                    break Ok(());
                };
                if let Err(e) = out.write_all(&block) {
                    break Err(e);
                }
            },
        };
        match written {
            Err(e) if gone(&e) => return Ok(()),
            r => r?,
        }
    }
    Ok(())
}

/// `len` bytes of `path` from `offset` into `out`, copied by the kernel.
fn send_range(
    path: &std::path::Path,
    offset: u64,
    len: u64,
    out: &impl AsFd,
) -> std::io::Result<()> {
    let file = File::open(path)?;
    let mut at = offset as i64;
    let end = offset + len;
    while (at as u64) < end {
        let want = (end - at as u64).min(1 << 30) as usize;
        match nix::sys::sendfile::sendfile64(out.as_fd(), file.as_fd(), Some(&mut at), want) {
            Ok(0) => break, // the file got shorter
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
