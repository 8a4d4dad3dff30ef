//! The temporary files of `--cat` and the fifos of `--fifo`: a block is put where `{}` names
//! it, and removed when the job ends (when the job's [`Hold`] is dropped). A fifo is written
//! by a thread of its own, which waits for the job to open it; a job that never does is let
//! go when it ends (its hold opens the fifo for a moment, so the writer's open returns, and
//! its writes fail).

use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::PipeError;
use crate::job::{Chunk, Hold};

/// A block in a file: its path (the job's `{}`) and what removes it.
pub(super) fn cat(dir: &Path, chunks: &[Chunk]) -> Result<(Vec<u8>, Hold), PipeError> {
    let temp = |source| PipeError::Temp {
        dir: dir.to_path_buf(),
        source,
    };
    let mut file = tempfile::Builder::new()
        .prefix("fanout-block.")
        .tempfile_in(dir)
        .map_err(temp)?;
    for chunk in chunks {
        match chunk {
            Chunk::Bytes(b) => file.write_all(b).map_err(temp)?,
            Chunk::File { path, offset, len } => {
                use std::io::{Read, Seek};
                let mut src = std::fs::File::open(path).map_err(|source| PipeError::Part {
                    path: path.to_path_buf(),
                    source,
                })?;
                src.seek(std::io::SeekFrom::Start(*offset)).map_err(temp)?;
                std::io::copy(&mut src.take(*len), file.as_file_mut()).map_err(temp)?;
            }
            Chunk::Queue(_) => unreachable!("--cat is never round robin"),
        }
    }
    file.flush().map_err(temp)?;
    let path = file.into_temp_path();
    let name = path.as_os_str().as_bytes().to_vec();
    Ok((name, Arc::new(path)))
}

/// A block behind a fifo: its path (the job's `{}`) and what removes it. The writer starts
/// now and waits for the job to open the fifo.
pub(super) fn fifo(dir: &Path, chunks: Arc<[Chunk]>) -> Result<(Vec<u8>, Hold), PipeError> {
    let temp = |source| PipeError::Temp {
        dir: dir.to_path_buf(),
        source,
    };
    let holder = tempfile::Builder::new()
        .prefix("fanout-fifo.")
        .tempdir_in(dir)
        .map_err(temp)?;
    let path = holder.path().join("block");
    nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o600))
        .map_err(|e| temp(e.into()))?;
    let writer_path = path.clone();
    std::thread::Builder::new()
        .name("fanout-fifo".into())
        .stack_size(64 * 1024)
        .spawn(move || {
            crate::signals::block_in_helper_thread();
            // Waits until the job opens the fifo (or the hold lets the writer go).
            if let Ok(f) = std::fs::OpenOptions::new().write(true).open(&writer_path) {
                let _ = crate::exec::stdin::write_chunks(&chunks, f.into());
            }
        })
        .map_err(temp)?;
    let name = path.as_os_str().as_bytes().to_vec();
    Ok((name, Arc::new(Fifo { path, _dir: holder })))
}

/// A fifo and its directory, removed on drop.
#[derive(Debug)]
struct Fifo {
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Fifo {
    fn drop(&mut self) {
        // A writer still waiting in open(2) returns once a reader has opened the fifo; with
        // the reader closed at once, its writes fail and it ends.
        use std::os::unix::fs::OpenOptionsExt;
        let _ = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&self.path);
    }
}
