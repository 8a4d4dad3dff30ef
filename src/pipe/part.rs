//! `--pipepart`: a seekable file cut into byte ranges of whole records, found by reading only
//! a little after each nominal boundary, never the file itself. As in GNU parallel, a range
//! goes on past the block size to the next record end (`--pipe`'s blocks stop before it).

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::split::Rules;
use super::{Header, PipeError};

/// How much is read after a boundary at first; doubled while no split point is found.
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

    /// Where the range that starts at `self.at` ends: as GNU parallel does, at the first
    /// record separator that starts at or after `at + block` (a separator just before that
    /// point does not end the range).
    fn boundary(&self) -> std::io::Result<u64> {
        let start = self.at;
        let limit = start + self.block;
        if limit >= self.size {
            return Ok(self.size);
        }
        // A match at `i >= limit` splits at `i + end.len()`.
        let from = (limit - start) as usize + self.end_len() - 1;
        let mut width = WINDOW;
        loop {
            let hi = (limit + width + self.lookahead()).min(self.size);
            let buf = self.read(start, hi)?;
            if let Some(p) = self.rules.next_split(&buf, from) {
                return Ok(start + p as u64);
            }
            if hi == self.size {
                return Ok(self.size);
            }
            width *= 2;
        }
    }

    /// How long the record end of a split is (the split point comes after it).
    fn end_len(&self) -> usize {
        match &self.rules {
            Rules::Plain { end, .. } => end.len(),
            Rules::Anywhere | Rules::Regex(_) => 0,
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
    fn ranges_end_at_the_first_record_end_past_the_block_as_gnu_parallel() {
        let seq: Vec<u8> = (1..=1000)
            .flat_map(|i| format!("{i}\n").into_bytes())
            .collect();
        let lens: Vec<usize> = ranges(&seq, 1000, 0).iter().map(Vec::len).collect();
        // GNU parallel --pipepart --block 1k over `seq 1000`: 1004 1004 1004 881.
        assert_eq!(lens, [1004, 1004, 1004, 881]);
        let long = b"aaaa\nbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\nc\nd\ne\n";
        assert_eq!(ranges(long, 5, 0).len(), 2);
        assert_eq!(
            ranges(b"H\n1\n2\n3\n4\n", 2, 2),
            [b"1\n2\n".to_vec(), b"3\n4\n".to_vec()]
        );
        let big: Vec<u8> = (0..50_000)
            .flat_map(|i| format!("{}\n", "q".repeat(i % 23)).into_bytes())
            .collect();
        for block in [1, 7, 100, 70_000, 1 << 22] {
            let got = ranges(&big, block, 0);
            assert_eq!(got.concat(), big, "block {block}");
            assert!(got.iter().all(|r| r.ends_with(b"\n")));
        }
        let huge = [vec![b'x'; 300_000], b"\ny\n".to_vec()].concat();
        assert_eq!(ranges(&huge, 10, 0).len(), 2);
    }

    #[test]
    fn ranges_with_a_record_start() {
        let mut f = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut f, b"STa1STa2STa3").unwrap();
        let rules = Rules::new(b"", b"ST", false).unwrap();
        let got: Vec<(u64, u64)> = Ranges::new(f, 12, 3, rules, 0)
            .map(Result::unwrap)
            .collect();
        assert_eq!(got, [(0, 4), (4, 4), (8, 4)]);
    }
}
