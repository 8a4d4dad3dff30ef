//! Prints the jobs' output: each job's stdout and stderr whole when it ends (group), or lines
//! and chunks as they come (line buffer, ungroup); in input order with `--keep-order`, where
//! each job is printed as soon as every earlier one is (a silent job still moves the order on);
//! with each line prefixed by its tag; with `--unique`, each distinct stdout line only the
//! first time it is printed. Only what is printed is filtered: results files hold what the
//! jobs wrote.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use super::console::Console;
use super::events::{RunEvent, Stream};
use super::{ReportError, Reporter};

/// A piece of output: its stream, its tag and its bytes.
type Chunk = (Stream, Option<Arc<[u8]>>, Vec<u8>);

/// Output held back for a job that is not yet at the head of the order.
#[derive(Default)]
struct Held {
    chunks: Vec<Chunk>,
    done: bool,
}

/// The output printer.
pub struct OutputPrinter {
    console: Console,
    keep_order: bool,
    /// Print job stdout at all (not when results go to stdout instead).
    print_stdout: bool,
    /// The next seq to print, with `--keep-order`.
    head: u64,
    held: BTreeMap<u64, Held>,
    /// Seqs that will never run (skipped by `--resume`).
    skipped: Arc<HashSet<u64>>,
    /// The stdout lines printed so far, with `--unique`.
    seen: Option<HashSet<Vec<u8>>>,
}

impl OutputPrinter {
    /// A printer that writes to `console`; `print_stdout` is false when results go to stdout
    /// instead; `unique` filters repeated stdout lines.
    pub(crate) fn new(
        console: Console,
        keep_order: bool,
        print_stdout: bool,
        unique: bool,
        skipped: Arc<HashSet<u64>>,
    ) -> OutputPrinter {
        OutputPrinter {
            console,
            keep_order,
            print_stdout,
            head: 1,
            held: BTreeMap::new(),
            skipped,
            seen: unique.then(HashSet::new),
        }
    }

    fn write(
        &mut self,
        stream: Stream,
        tag: Option<&[u8]>,
        data: &[u8],
    ) -> Result<(), ReportError> {
        if data.is_empty() || (stream == Stream::Stdout && !self.print_stdout) {
            return Ok(());
        }
        let fresh;
        let data = match (&mut self.seen, stream) {
            (Some(seen), Stream::Stdout) => {
                fresh = admit_unique(seen, data);
                &fresh[..]
            }
            _ => data,
        };
        if data.is_empty() {
            return Ok(());
        }
        let tagged;
        let data = match tag {
            Some(tag) => {
                tagged = prefix_lines(tag, data);
                &tagged[..]
            }
            None => data,
        };
        match stream {
            Stream::Stdout => self.console.out(data),
            Stream::Stderr => self.console.err(data),
        }
        .map_err(ReportError::from_stdout)
    }

    /// Prints what the head of the order holds, moving the head past finished jobs.
    fn advance(&mut self) -> Result<(), ReportError> {
        loop {
            while self.skipped.contains(&self.head) {
                self.head += 1;
            }
            let Some(held) = self.held.get_mut(&self.head) else {
                return Ok(());
            };
            let chunks = std::mem::take(&mut held.chunks);
            let done = held.done;
            for (stream, tag, data) in &chunks {
                self.write(*stream, tag.as_deref(), data)?;
            }
            if !done {
                return Ok(());
            }
            self.held.remove(&self.head);
            self.head += 1;
        }
    }
}

impl Reporter for OutputPrinter {
    fn on_event(&mut self, event: &RunEvent) -> Result<(), ReportError> {
        match event {
            RunEvent::JobOutput {
                id,
                stream,
                data,
                tag,
            } => {
                if self.keep_order && id.0 != self.head {
                    let held = self.held.entry(id.0).or_default();
                    held.chunks.push((*stream, tag.clone(), data.clone()));
                    return Ok(());
                }
                self.write(*stream, tag.as_deref(), data)
            }
            RunEvent::JobFinished {
                record,
                stdout,
                stderr,
                tag,
            } => {
                if !self.keep_order {
                    self.write(Stream::Stdout, tag.as_deref(), stdout)?;
                    return self.write(Stream::Stderr, tag.as_deref(), stderr);
                }
                let id = record.id.0;
                if id == self.head {
                    // The usual case in order: print straight from the event, no copy.
                    let held = self.held.remove(&id).unwrap_or_default();
                    for (s, t, d) in &held.chunks {
                        self.write(*s, t.as_deref(), d)?;
                    }
                    self.write(Stream::Stdout, tag.as_deref(), stdout)?;
                    self.write(Stream::Stderr, tag.as_deref(), stderr)?;
                    self.head += 1;
                } else {
                    let held = self.held.entry(id).or_default();
                    held.chunks
                        .push((Stream::Stdout, tag.clone(), stdout.clone()));
                    held.chunks
                        .push((Stream::Stderr, tag.clone(), stderr.clone()));
                    held.done = true;
                }
                self.advance()
            }
            RunEvent::RunFinished { .. } => {
                // Jobs that never ran (cancelled before starting) leave gaps: print the rest.
                let held = std::mem::take(&mut self.held);
                for (_, h) in held {
                    for (s, t, d) in &h.chunks {
                        self.write(*s, t.as_deref(), d)?;
                    }
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn flush(&mut self) -> Result<(), ReportError> {
        self.console.flush().map_err(ReportError::from_stdout)
    }
}

/// The lines of `out` not in `seen`, which then holds them (each with a newline).
fn admit_unique(seen: &mut HashSet<Vec<u8>>, out: &[u8]) -> Vec<u8> {
    let mut kept = Vec::new();
    for line in out.split_inclusive(|&b| b == b'\n') {
        let key = line.strip_suffix(b"\n").unwrap_or(line);
        if seen.insert(key.to_vec()) {
            kept.extend_from_slice(key);
            kept.push(b'\n');
        }
    }
    kept
}

/// Puts `tag` and a tab before every line of `data`.
fn prefix_lines(tag: &[u8], data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + tag.len() * 4);
    for line in data.split_inclusive(|&b| b == b'\n') {
        out.extend_from_slice(tag);
        out.push(b'\t');
        out.extend_from_slice(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_every_line() {
        assert_eq!(prefix_lines(b"a", b"x\ny\nz"), b"a\tx\na\ty\na\tz");
    }

    #[test]
    fn unique_admits_each_line_once() {
        let mut seen = HashSet::new();
        assert_eq!(admit_unique(&mut seen, b"a\nb\na\n"), b"a\nb\n");
        assert_eq!(admit_unique(&mut seen, b"b\nc"), b"c\n");
    }
}
