//! A job's captured output with bounded memory: kept in memory up to [`SPILL_AT`] (1 MiB per
//! job per stream), past that in an unlinked temporary file in the `--tmpdir` directory
//! (`$TMPDIR`, else `/tmp`), as GNU parallel buffers in temporary files. The file has no name
//! from the start (`O_TMPFILE`), so it is gone with its last handle: nothing to clean up, even
//! after a `kill -9`. [`SpillBuf`] writes it; [`Captured`] is what the events carry, and
//! reporters read a spilled one back a chunk at a time, so none of them ever holds it whole.
//!
//! The common case, a small output, is one `Vec` from the read to the print: no file, no copy.

use std::borrow::Cow;
use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How much of one stream of one job stays in memory; past it the stream goes to a file.
pub const SPILL_AT: usize = 1 << 20;

/// The size of the pieces a spilled output is read back in.
const CHUNK: usize = 64 * 1024;

/// One stream of a job's output, as captured: in memory, or spilled to a temporary file.
/// Cheap to move; cloning a spilled one shares its file.
#[derive(Clone, Default)]
pub struct Captured {
    data: Data,
    /// Why part of the output was lost (the temporary directory was full), if it was.
    lost: Option<Arc<str>>,
}

#[derive(Clone)]
enum Data {
    Memory(Vec<u8>),
    File(Arc<Spilled>),
}

impl Default for Data {
    fn default() -> Self {
        Data::Memory(Vec::new())
    }
}

struct Spilled {
    file: File,
    len: u64,
}

impl std::fmt::Debug for Captured {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("Captured");
        match &self.data {
            Data::Memory(v) => d.field("memory", &v.len()),
            Data::File(s) => d.field("spilled", &s.len),
        };
        if let Some(lost) = &self.lost {
            d.field("lost", lost);
        }
        d.finish()
    }
}

impl From<Vec<u8>> for Captured {
    fn from(v: Vec<u8>) -> Captured {
        Captured {
            data: Data::Memory(v),
            lost: None,
        }
    }
}

impl Captured {
    /// How many bytes it holds.
    pub fn len(&self) -> u64 {
        match &self.data {
            Data::Memory(v) => v.len() as u64,
            Data::File(s) => s.len,
        }
    }

    /// True when it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes, when they are in memory (`None` when spilled to a file: see
    /// [`Captured::read`] and [`Captured::for_each_chunk`]).
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match &self.data {
            Data::Memory(v) => Some(v),
            Data::File(_) => None,
        }
    }

    /// True when it was spilled to a temporary file.
    pub fn is_spilled(&self) -> bool {
        matches!(self.data, Data::File(_))
    }

    /// How many of its bytes are in memory.
    pub(crate) fn memory_len(&self) -> usize {
        self.as_bytes().map_or(0, <[u8]>::len)
    }

    /// Why some of the output is missing, when a temporary file could not be written (a full
    /// `--tmpdir`): the bytes before the failure are all here, the rest was read and dropped.
    pub fn incomplete(&self) -> Option<&str> {
        self.lost.as_deref()
    }

    /// The whole output, read into memory when it was spilled (which a spilled output of
    /// gigabytes makes costly: prefer [`Captured::for_each_chunk`]).
    pub fn read(&self) -> io::Result<Cow<'_, [u8]>> {
        match &self.data {
            Data::Memory(v) => Ok(Cow::Borrowed(v)),
            Data::File(_) => {
                let mut all = Vec::with_capacity(self.len() as usize);
                self.for_each_chunk(
                    |c| {
                        all.extend_from_slice(c);
                        Ok(())
                    },
                    |e| e,
                )?;
                Ok(Cow::Owned(all))
            }
        }
    }

    /// Calls `f` on the bytes in order: once with all of them when they are in memory, a
    /// chunk at a time when spilled. Stops at the first error of `f`; a read error of the
    /// temporary file becomes an error through `read_err`.
    pub fn for_each_chunk<E>(
        &self,
        mut f: impl FnMut(&[u8]) -> Result<(), E>,
        read_err: impl FnOnce(io::Error) -> E,
    ) -> Result<(), E> {
        let s = match &self.data {
            Data::Memory(v) if v.is_empty() => return Ok(()),
            Data::Memory(v) => return f(v),
            Data::File(s) => s,
        };
        let mut buf = vec![0u8; CHUNK.min(s.len as usize)];
        let mut at = 0u64;
        while at < s.len {
            let want = buf.len().min((s.len - at) as usize);
            let n = match s.file.read_at(&mut buf[..want], at) {
                Ok(0) => {
                    return Err(read_err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the temporary file holding a job's output is shorter than written",
                    )));
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(read_err(e)),
            };
            f(&buf[..n])?;
            at += n as u64;
        }
        Ok(())
    }

    /// Writes the bytes to `w`, a chunk at a time when spilled.
    pub fn write_to(&self, w: &mut dyn Write) -> io::Result<()> {
        self.for_each_chunk(|c| w.write_all(c), |e| e)
    }

    /// The same bytes in a temporary file of their own (for output that must be held a while
    /// without holding memory); a spilled one is shared, not copied.
    pub(crate) fn spilled(&self, tmpdir: Option<&Path>) -> Result<Captured, SpillError> {
        let Some(bytes) = self.as_bytes() else {
            return Ok(self.clone());
        };
        let mut buf = SpillBuf::default();
        buf.push(bytes, tmpdir)?;
        buf.spill(tmpdir)?;
        let mut c = buf.finish();
        c.lost = self.lost.clone();
        Ok(c)
    }
}

/// A temporary file that could not be created or written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write a temporary file in `{}`: {source}", dir.display())]
pub struct SpillError {
    /// The temporary directory (`--tmpdir`, `$TMPDIR` or `/tmp`).
    pub dir: PathBuf,
    /// Why.
    #[source]
    pub source: io::Error,
}

/// Collects one stream: in memory up to a bound ([`SPILL_AT`] unless told), then in a
/// temporary file. Once a write to the file fails, what comes after is dropped (the error is
/// returned once, and the [`Captured`] says it is incomplete).
pub(crate) struct SpillBuf {
    mem: Vec<u8>,
    file: Option<File>,
    /// Bytes in the file.
    len: u64,
    limit: usize,
    lost: Option<Arc<str>>,
}

impl Default for SpillBuf {
    fn default() -> Self {
        SpillBuf::from_vec(Vec::new())
    }
}

impl SpillBuf {
    /// A buffer that starts with `mem` (what was read before the bound was in sight).
    pub fn from_vec(mem: Vec<u8>) -> SpillBuf {
        SpillBuf {
            mem,
            file: None,
            len: 0,
            limit: SPILL_AT,
            lost: None,
        }
    }

    /// How many bytes it holds in memory.
    pub fn memory_len(&self) -> usize {
        self.mem.len()
    }

    /// Appends `data`; past the bound everything goes to a temporary file in `tmpdir`
    /// (`None`: `$TMPDIR`, else `/tmp`). The writes are plain blocking ones, as GNU parallel's:
    /// they go to the page cache, and `spawn_blocking` could fail under a process limit.
    pub fn push(&mut self, data: &[u8], tmpdir: Option<&Path>) -> Result<(), SpillError> {
        if self.lost.is_some() {
            return Ok(());
        }
        if self.file.is_none() {
            if self.mem.len() + data.len() <= self.limit {
                self.mem.extend_from_slice(data);
                return Ok(());
            }
            self.spill(tmpdir)?;
        }
        self.write_file(data, tmpdir)
    }

    /// Moves what is in memory to the temporary file now (creating it), freeing the memory.
    pub fn spill(&mut self, tmpdir: Option<&Path>) -> Result<(), SpillError> {
        if self.lost.is_some() {
            return Ok(());
        }
        if self.file.is_none() {
            let dir = tmpdir.map_or_else(std::env::temp_dir, Path::to_path_buf);
            match tempfile::tempfile_in(&dir) {
                Ok(f) => self.file = Some(f),
                Err(source) => return Err(self.fail(SpillError { dir, source })),
            }
        }
        let mem = std::mem::take(&mut self.mem);
        let r = self.write_file(&mem, tmpdir);
        if r.is_err() {
            // Keep what was in memory rather than lose it: it is all the output there is.
            self.mem = mem;
        }
        r
    }

    fn write_file(&mut self, data: &[u8], tmpdir: Option<&Path>) -> Result<(), SpillError> {
        let file = self.file.as_mut().expect("spill made the file");
        match file.write_all(data) {
            Ok(()) => {
                self.len += data.len() as u64;
                Ok(())
            }
            Err(source) => {
                let dir = tmpdir.map_or_else(std::env::temp_dir, Path::to_path_buf);
                Err(self.fail(SpillError { dir, source }))
            }
        }
    }

    fn fail(&mut self, e: SpillError) -> SpillError {
        self.lost = Some(e.to_string().into());
        e
    }

    /// What was collected. After a failed spill it is what was kept: the memory part when
    /// the file never took a byte, else the file's part.
    pub fn finish(self) -> Captured {
        let data = match self.file {
            Some(file) if self.len > 0 || self.mem.is_empty() => Data::File(Arc::new(Spilled {
                file,
                len: self.len,
            })),
            _ => Data::Memory(self.mem),
        };
        Captured {
            data,
            lost: self.lost,
        }
    }

    /// Takes what was collected, leaving it empty (and in memory) for more.
    pub fn take(&mut self) -> Captured {
        std::mem::take(self).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(c: &Captured) -> Vec<u8> {
        c.read().unwrap().into_owned()
    }

    #[test]
    fn small_output_stays_in_memory_and_large_output_spills() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = SpillBuf::default();
        b.push(b"hello", Some(dir.path())).unwrap();
        let c = b.finish();
        assert_eq!(c.as_bytes(), Some(&b"hello"[..]));
        assert!(!c.is_spilled());

        let mut b = SpillBuf::default();
        let block = vec![7u8; 300 * 1024];
        for _ in 0..5 {
            b.push(&block, Some(dir.path())).unwrap();
        }
        assert_eq!(b.memory_len(), 0, "memory freed once spilled");
        let c = b.finish();
        assert!(c.is_spilled());
        assert_eq!(c.len(), 5 * 300 * 1024);
        assert_eq!(collect(&c), vec![7u8; 5 * 300 * 1024]);
        let mut pieces = 0;
        c.for_each_chunk::<io::Error>(
            |p| {
                assert!(p.len() <= CHUNK);
                pieces += 1;
                Ok(())
            },
            |e| e,
        )
        .unwrap();
        assert!(pieces > 1);
        // The file has no name: the directory stays empty.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_missing_directory_keeps_what_was_in_memory_and_says_why() {
        let missing = Path::new("/nonexistent/fanout-spill");
        let mut b = SpillBuf::default();
        b.push(&vec![1u8; SPILL_AT], Some(missing)).unwrap();
        let e = b.push(b"more", Some(missing)).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/fanout-spill"), "{e}");
        b.push(b"dropped", Some(missing)).unwrap();
        let c = b.finish();
        assert_eq!(c.len(), SPILL_AT as u64);
        assert!(
            c.incomplete()
                .unwrap()
                .contains("/nonexistent/fanout-spill")
        );
    }

    #[test]
    fn spilled_copies_memory_and_shares_files() {
        let dir = tempfile::tempdir().unwrap();
        let c = Captured::from(b"abc".to_vec())
            .spilled(Some(dir.path()))
            .unwrap();
        assert!(c.is_spilled());
        assert_eq!(collect(&c), b"abc");
        let mut out = Vec::new();
        c.write_to(&mut out).unwrap();
        assert_eq!(out, b"abc");
    }
}
