//! `--pipepart`: a seekable file cut into byte ranges of whole records, found by reading only
//! a little around each nominal boundary, never the file itself. A range ends, like a block
//! of `--pipe`, at the last record end within the block size (or holds one whole longer
//! record), so both cut the same input the same way.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::split::Rules;
use super::{Header, PipeError};

/// How much is read around a boundary at first; doubled while no split point is found.
const WINDOW: u64 = 64 * 1024;

/// The ranges of a file, computed one at a time.
pub(super) struct Ranges {
    file: File,
    size: u64,
    block: u64,
    rules: Rules,
    /// Where the next range starts.
    at: u64,
}

impl Ranges {
    /// The ranges of `file` (of `size` bytes) after its header, of about `block` bytes.
    pub fn new(file: File, size: u64, block: u64, rules: Rules, header_end: u64) -> Ranges {
        Ranges {
            file,
            size,
            block: block.max(1),
            rules,
            at: header_end,
        }
    }

    fn read(&self, from: u64, to: u64) -> std::io::Result<Vec<u8>> {
        let mut buf = vec![0; (to - from) as usize];
        self.file.read_exact_at(&mut buf, from)?;
        Ok(buf)
    }

    /// How far past a split point the rules look (the record start after it).
    fn lookahead(&self) -> u64 {
        match &self.rules {
            Rules::Plain { start, .. } => start.len() as u64,
            Rules::Anywhere => 0,
            Rules::Regex(_) => 4096,
        }
    }

    /// Where the range that starts at `self.at` ends.
    fn boundary(&self) -> std::io::Result<u64> {
        let start = self.at;
        let limit = start + self.block;
        if limit >= self.size {
            return Ok(self.size);
        }
        let hi = (limit + self.lookahead()).min(self.size);
        // Backwards from the limit, a growing window at a time.
        let mut width = WINDOW;
        loop {
            let lo = limit.saturating_sub(width).max(start);
            let buf = self.read(lo, hi)?;
            if let Some(p) = self.rules.last_split(&buf, (limit - lo) as usize) {
                return Ok(lo + p as u64);
            }
            if lo == start {
                break;
            }
            width *= 2;
        }
        // One record longer than the block: forwards to its end.
        let mut width = WINDOW;
        loop {
            let hi = (limit + width).min(self.size);
            let buf = self.read(start, hi)?;
            if let Some(p) = self.rules.next_split(&buf, (limit - start) as usize) {
                return Ok(start + p as u64);
            }
            if hi == self.size {
                return Ok(self.size);
            }
            width *= 2;
        }
    }
}

impl Iterator for Ranges {
    type Item = std::io::Result<(u64, u64)>;

    /// The next range as (offset, length).
    fn next(&mut self) -> Option<Self::Item> {
        if self.at >= self.size {
            return None;
        }
        match self.boundary() {
            Ok(end) => {
                let range = (self.at, end - self.at);
                self.at = end;
                Some(Ok(range))
            }
            Err(e) => {
                self.at = self.size;
                Some(Err(e))
            }
        }
    }
}

/// Opens the `--pipepart` file: it must be a regular file (or a block device).
pub(super) fn open(path: &Path) -> Result<(File, u64), PipeError> {
    let err = |source| PipeError::Part {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(err)?;
    let meta = file.metadata().map_err(err)?;
    use std::os::unix::fs::FileTypeExt;
    let size = if meta.file_type().is_block_device() {
        use std::io::Seek;
        (&file).seek(std::io::SeekFrom::End(0)).map_err(err)?
    } else if meta.is_file() {
        meta.len()
    } else {
        return Err(PipeError::NotSeekable(path.to_path_buf()));
    };
    Ok((file, size))
}

/// Where the header of the file ends (0 without one).
pub(super) fn header_end(file: &File, size: u64, header: &Header) -> std::io::Result<u64> {
    let mut width = WINDOW;
    loop {
        let hi = width.min(size);
        let mut buf = vec![0; hi as usize];
        file.read_exact_at(&mut buf, 0)?;
        let found = match header {
            Header::Lines(n) => {
                let ends: Vec<usize> = memchr::memchr_iter(b'\n', &buf).take(*n).collect();
                (ends.len() == *n).then(|| ends.last().map_or(0, |e| e + 1))
            }
            Header::Regex(re) => re.find(&buf).map(|m| m.end()),
        };
        match found {
            Some(end) => return Ok(end as u64),
            None if hi == size => {
                return Ok(if matches!(header, Header::Lines(_)) {
                    size
                } else {
                    0
                });
            }
            None => width *= 2,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranges(content: &[u8], block: u64, header_end: u64) -> Vec<Vec<u8>> {
        let mut f = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut f, content).unwrap();
        let rules = Rules::new(b"\n", b"", false).unwrap();
        Ranges::new(f, content.len() as u64, block, rules, header_end)
            .map(|r| {
                let (off, len) = r.unwrap();
                content[off as usize..(off + len) as usize].to_vec()
            })
            .collect()
    }

    #[test]
    fn ranges_cut_like_the_pipe_splitter() {
        let input: Vec<u8> = (0..20_000)
            .flat_map(|i| format!("{}\n", "q".repeat(i % 23)).into_bytes())
            .collect();
        for block in [1, 7, 100, 5000, 70_000, 1 << 22] {
            let got = ranges(&input, block, 0);
            let config = super::super::PipeConfig {
                block_size: block as usize,
                ..Default::default()
            };
            let mut s = super::super::split::Splitter::new(&input[..], &config).unwrap();
            let mut want = Vec::new();
            while let Some(b) = s.next_block().unwrap() {
                want.push(b.to_vec());
            }
            assert_eq!(got, want, "block {block}");
        }
        let long = [vec![b'x'; 300_000], b"\ny\n".to_vec()].concat();
        assert_eq!(ranges(&long, 10, 0).len(), 2);
        assert_eq!(
            ranges(b"H\na\nb\n", 2, 2),
            [b"a\n".to_vec(), b"b\n".to_vec()]
        );
    }
}
