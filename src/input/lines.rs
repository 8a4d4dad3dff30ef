//! Reads one input source (a file or stdin) as a stream of values, one per line or per NUL.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use super::InputError;
use super::filter::{InputFilter, Verdict};

/// Yields the values of one source, without their separator, as raw bytes.
pub(crate) struct LineReader {
    reader: BufReader<Box<dyn Read + Send>>,
    path: PathBuf,
    separator: u8,
    done: bool,
    /// For a regular file: what a background count of its values needs.
    counter: Option<Counter>,
    /// `-E`, `-r`, `--trim` (the default keeps every value as it is).
    filter: InputFilter,
}

/// Counts the jobs of a regular file from where its reader started, with positioned reads
/// on a descriptor of its own, so the reader is neither disturbed nor made to hold anything
/// (a pipe cannot be counted without being consumed, so it gets no counter).
pub(crate) struct Counter {
    file: File,
    from: u64,
    separator: u8,
    /// Records taken off the front before any job (`--header`).
    less: u64,
    /// Records per job (`-N 3`: 3); 0 means one job per record reading none.
    per_job: u64,
}

impl Counter {
    /// A counter for `file` when it is a regular file, from its current offset.
    fn of(file: &File, separator: u8) -> Option<Counter> {
        use std::io::Seek;
        let mut file = file.try_clone().ok()?;
        if !file.metadata().ok()?.is_file() {
            return None;
        }
        // The offset is shared with the reader's descriptor: read now, before any read.
        let from = file.stream_position().ok()?;
        Some(Counter {
            file,
            from,
            separator,
            less: 0,
            per_job: 1,
        })
    }

    /// The same count with `n` records taken off the front (a header line).
    pub fn less(self, n: u64) -> Counter {
        Counter {
            less: self.less + n,
            ..self
        }
    }

    /// The same count with `per_job` records to a job (`-N`, `-n`; 0 reads one, inserts none).
    pub fn per_job(self, per_job: u64) -> Counter {
        Counter {
            per_job: self.per_job.max(1) * per_job,
            ..self
        }
    }

    /// The number of jobs the file holds, read in 1 MiB steps (bounded memory, whatever the
    /// file's size); `None` if `stop` was set first (the run ended: a count of a huge file
    /// must not keep a thread reading after it).
    pub fn count(self, stop: &AtomicBool) -> std::io::Result<Option<u64>> {
        let Some(records) = self.records(stop)? else {
            return Ok(None);
        };
        let records = records.saturating_sub(self.less);
        Ok(Some(match self.per_job {
            0 => records,
            per => records.div_ceil(per),
        }))
    }

    /// The number of values: separators, and a last value without one.
    fn records(&self, stop: &AtomicBool) -> std::io::Result<Option<u64>> {
        use std::os::unix::fs::FileExt;
        let mut buf = vec![0u8; 1 << 20];
        let (mut at, mut n, mut last) = (self.from, 0u64, self.separator);
        loop {
            if stop.load(Ordering::Relaxed) {
                return Ok(None);
            }
            let got = match self.file.read_at(&mut buf, at) {
                Ok(0) => break,
                Ok(got) => got,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let chunk = &buf[..got];
            n += chunk.iter().filter(|&&b| b == self.separator).count() as u64;
            last = chunk[got - 1];
            at += got as u64;
        }
        Ok(Some(n + u64::from(last != self.separator)))
    }
}

impl LineReader {
    /// Opens `path` (`-` is stdin). A directory or unreadable file is an error now.
    pub fn open(path: &Path, separator: u8) -> Result<LineReader, InputError> {
        let mut counter = None;
        let reader: Box<dyn Read + Send> = if path.as_os_str() == "-" {
            if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
                // `fanout cmd` without `:::` would otherwise wait in silence (GNU parallel
                // warns too).
                tracing::warn!(
                    event = "input_from_terminal",
                    "reading input from the terminal, one value per line, until Ctrl-D: give values with ::: or :::: FILE, or pipe them in"
                );
            }
            // Redirected from a file (`< list.txt`): countable like one.
            use std::os::fd::AsFd;
            if let Ok(fd) = std::io::stdin().as_fd().try_clone_to_owned() {
                counter = Counter::of(&File::from(fd), separator);
            }
            Box::new(std::io::stdin())
        } else {
            let file = File::open(path).map_err(|source| InputError::Open {
                path: path.to_owned(),
                source,
            })?;
            let meta = file.metadata().map_err(|source| InputError::Open {
                path: path.to_owned(),
                source,
            })?;
            if meta.is_dir() {
                return Err(InputError::IsDirectory(path.to_owned()));
            }
            counter = Counter::of(&file, separator);
            Box::new(file)
        };
        Ok(LineReader {
            reader: BufReader::with_capacity(64 * 1024, reader),
            path: path.to_owned(),
            separator,
            done: false,
            counter,
            filter: InputFilter::default(),
        })
    }

    /// The background count of a regular file's jobs, once.
    pub fn take_counter(&mut self) -> Option<Counter> {
        self.counter.take()
    }

    /// Takes `n` records off the count, as they were read before any job (a header).
    pub fn count_less(&mut self, n: u64) {
        self.counter = self.counter.take().map(|c| c.less(n));
    }

    /// Reads the values by `filter`'s rules.
    pub fn filtered(mut self, filter: InputFilter) -> LineReader {
        // A value -E or -r drops is not a job: the count of the file's records would be wrong.
        if filter.eof.is_some() || filter.skip_empty {
            self.counter = None;
        }
        self.filter = filter;
        self
    }
}

impl LineReader {
    /// Whether the next value is already read into the buffer, so `next()` will not block.
    pub fn has_buffered_value(&self) -> bool {
        self.reader.buffer().contains(&self.separator)
    }
}

impl Iterator for LineReader {
    type Item = Result<Vec<u8>, InputError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.read_value()? {
                Ok(v) => match self.filter.judge(v) {
                    Verdict::Keep(v) => return Some(Ok(v)),
                    Verdict::Skip => continue,
                    Verdict::End => {
                        self.done = true;
                        return None;
                    }
                },
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

impl LineReader {
    /// The next value as it is in the source.
    fn read_value(&mut self) -> Option<Result<Vec<u8>, InputError>> {
        if self.done {
            return None;
        }
        let mut buf = Vec::new();
        match self.reader.read_until(self.separator, &mut buf) {
            Ok(0) => {
                self.done = true;
                None
            }
            Ok(_) => {
                if buf.last() == Some(&self.separator) {
                    buf.pop();
                }
                buf.shrink_to_fit();
                Some(Ok(buf))
            }
            Err(source) => {
                self.done = true;
                Some(Err(InputError::Read {
                    path: self.path.clone(),
                    source,
                }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Seek, SeekFrom, Write};

    use super::*;

    fn file(bytes: &[u8]) -> File {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(bytes).unwrap();
        f.seek(SeekFrom::Start(0)).unwrap();
        f
    }

    fn go() -> AtomicBool {
        AtomicBool::new(false)
    }

    fn count(bytes: &[u8], separator: u8) -> u64 {
        let c = Counter::of(&file(bytes), separator).unwrap();
        c.count(&go()).unwrap().unwrap()
    }

    #[test]
    fn counts_values_with_or_without_a_last_separator() {
        assert_eq!(count(b"", b'\n'), 0);
        assert_eq!(count(b"a\nb\n", b'\n'), 2);
        assert_eq!(count(b"a\nb", b'\n'), 2);
        assert_eq!(count(b"\n\n", b'\n'), 2, "empty values are jobs too");
        assert_eq!(count(b"a\0b\nc\0", 0), 2);
    }

    #[test]
    fn counts_from_where_the_reader_starts_and_leaves_its_offset_alone() {
        let mut f = file(b"skip\na\nb\nc");
        f.seek(SeekFrom::Start(5)).unwrap();
        let counter = Counter::of(&f, b'\n').unwrap();
        assert_eq!(counter.count(&go()).unwrap(), Some(3));
        assert_eq!(f.stream_position().unwrap(), 5, "positioned reads only");
    }

    #[test]
    fn a_header_and_records_per_job_change_the_count() {
        let c = || Counter::of(&file(b"h\n1\n2\n3\n4\n5\n6\n7\n"), b'\n').unwrap();
        assert_eq!(c().less(1).count(&go()).unwrap(), Some(7));
        assert_eq!(c().less(1).per_job(3).count(&go()).unwrap(), Some(3));
        assert_eq!(c().per_job(0).count(&go()).unwrap(), Some(8), "-N 0");
        let header_only = Counter::of(&file(b"h\n"), b'\n').unwrap().less(2);
        assert_eq!(header_only.count(&go()).unwrap(), Some(0));
        let stopped = AtomicBool::new(true);
        assert_eq!(c().count(&stopped).unwrap(), None, "the run ended first");
    }

    #[test]
    fn only_a_regular_file_is_counted() {
        let null = File::open("/dev/null").unwrap();
        assert!(Counter::of(&null, b'\n').is_none());
        let (reader, _writer) = std::io::pipe().unwrap();
        let pipe = File::from(std::os::fd::OwnedFd::from(reader));
        assert!(Counter::of(&pipe, b'\n').is_none());
    }
}
