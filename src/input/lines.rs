//! Reads one input source (a file or stdin) as a stream of values, one per line or per NUL.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use super::InputError;
use super::filter::{InputFilter, Verdict};

/// Yields the values of one source, without their separator, as raw bytes.
pub(crate) struct LineReader {
    reader: BufReader<Box<dyn Read + Send>>,
    path: PathBuf,
    separator: u8,
    done: bool,
    /// `-E`, `-r`, `--trim` (the default keeps every value as it is).
    filter: InputFilter,
}

impl LineReader {
    /// Opens `path` (`-` is stdin). A directory or unreadable file is an error now.
    pub fn open(path: &Path, separator: u8) -> Result<LineReader, InputError> {
        let reader: Box<dyn Read + Send> = if path.as_os_str() == "-" {
            if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
                // `fanout cmd` without `:::` would otherwise wait in silence (GNU parallel
                // warns too).
                tracing::warn!(
                    event = "input_from_terminal",
                    "reading input from the terminal, one value per line, until Ctrl-D: give values with ::: or :::: FILE, or pipe them in"
                );
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
            Box::new(file)
        };
        Ok(LineReader {
            reader: BufReader::with_capacity(64 * 1024, reader),
            path: path.to_owned(),
            separator,
            done: false,
            filter: InputFilter::default(),
        })
    }

    /// Reads the values by `filter`'s rules.
    pub fn filtered(mut self, filter: InputFilter) -> LineReader {
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
