//! Where jobs come from: `:::` argument groups, `::::`/`-a` files, or stdin. Turns the input
//! sources into a stream of argument tuples. A single source is streamed line by line, so a
//! million-line stdin is never held in memory; several sources are combined as GNU parallel
//! does (cartesian product, first source varying slowest; `:::+` links element by element and,
//! as in GNU parallel, stops at the shortest of the linked sources).

mod columns;
mod filter;
mod group;
mod lines;

pub use columns::ColumnsError;
use columns::{Split, Splitter};
pub use filter::{InputFilter, Trim};
pub(crate) use group::Grouper;
pub use group::{Cost, Grouping, Insert, Measure, system_limit};
pub(crate) use lines::Counter;
pub(crate) use lines::LineReader;

use std::ffi::OsString;
use std::path::PathBuf;

/// Where one input source's values come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceKind {
    /// Values given on the command line after `:::`.
    Args(Vec<OsString>),
    /// Lines of a file (`::::`, `-a`); `-` is stdin.
    File(PathBuf),
}

/// One input source, and whether it is linked (`:::+`, `::::+`) to the one before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// Where the values come from.
    pub kind: SourceKind,
    /// Whether it is zipped with the source before it rather than multiplied (`:::+`, `::::+`).
    pub linked: bool,
}

impl Source {
    /// Values given in place, as after `:::`.
    pub fn args<I: IntoIterator<Item = S>, S: Into<std::ffi::OsString>>(values: I) -> Source {
        Source {
            kind: SourceKind::Args(values.into_iter().map(Into::into).collect()),
            linked: false,
        }
    }
}

/// A problem with the input, found before or while reading it.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// An input file could not be opened.
    #[error("cannot read input file `{path}`: {source}; check the path given after :::: or to -a")]
    Open {
        /// The file, as given.
        path: PathBuf,
        /// Why opening it failed.
        #[source]
        source: std::io::Error,
    },
    /// An input file is a directory.
    #[error("input file `{0}` is a directory: give a file with one argument per line")]
    IsDirectory(PathBuf),
    /// Reading an input failed part way.
    #[error("failed to read input `{path}`: {source}")]
    Read {
        /// The file, as given (`-` for stdin).
        path: PathBuf,
        /// Why the read failed.
        #[source]
        source: std::io::Error,
    },
    /// The input of `--pipe` or `--pipepart`.
    #[error(transparent)]
    Pipe(#[from] crate::pipe::PipeError),
    /// Stdin (`-`) is given as more than one source.
    #[error("stdin is given as more than one input source: it can be read only once")]
    StdinTwice,
    /// `--colsep` or `--csv` cannot be used.
    #[error(transparent)]
    Columns(#[from] ColumnsError),
}

/// A stream of argument tuples, one per job, in input order.
pub(crate) enum ArgStream {
    /// One source read line by line.
    Lines(LineReader),
    /// Several sources, held in memory, combined lazily.
    Combined(Combined),
    /// Values already read (to check a `--resume` against the joblog), then the rest.
    Replay(std::vec::IntoIter<Vec<Vec<u8>>>, Box<ArgStream>),
    /// Several records per job (`-N`, `-X`, `-m`, `-L`).
    Grouped(Box<Grouper>),
    /// Values split into columns (`--colsep`, `--csv`).
    Split(Box<Split>),
}

impl Iterator for ArgStream {
    type Item = Result<Vec<Vec<u8>>, InputError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            ArgStream::Lines(r) => r.next().map(|l| l.map(|v| vec![v])),
            ArgStream::Combined(c) => c.next().map(Ok),
            ArgStream::Replay(front, rest) => front.next().map(Ok).or_else(|| rest.next()),
            ArgStream::Grouped(g) => g.next(),
            ArgStream::Split(s) => s.next(),
        }
    }
}

impl ArgStream {
    /// How many tuples are left, when that is known without reading: in-memory sources only.
    pub fn known_len(&self) -> Option<u64> {
        match self {
            ArgStream::Lines(_) => None,
            ArgStream::Combined(c) => Some(c.remaining()),
            ArgStream::Replay(front, rest) => rest.known_len().map(|n| n + front.len() as u64),
            ArgStream::Grouped(g) => g.known_len(),
            ArgStream::Split(s) => s.inner.known_len(),
        }
    }

    /// A count of all the jobs, to run in the background, when the values come from one
    /// regular file (`:::: FILE`, `-a FILE`, stdin redirected from a file) and each job takes a
    /// fixed number of them; given once. Values already read (a replay) are counted too.
    pub fn take_counter(&mut self) -> Option<Counter> {
        match self {
            ArgStream::Lines(r) => r.take_counter(),
            ArgStream::Combined(_) => None,
            ArgStream::Replay(_, rest) => rest.take_counter(),
            ArgStream::Grouped(g) => g.take_counter(),
            ArgStream::Split(s) => s.inner.take_counter(),
        }
    }

    /// `front`, values already read from `rest`, then the rest: the same stream as before.
    pub fn replay(front: Vec<Vec<Vec<u8>>>, rest: ArgStream) -> ArgStream {
        ArgStream::Replay(front.into_iter(), Box::new(rest))
    }

    /// Whether the values come from a stream (a file, stdin) that may block, not from memory.
    pub fn is_stream(&self) -> bool {
        match self {
            ArgStream::Lines(_) => true,
            ArgStream::Combined(_) => false,
            ArgStream::Replay(_, rest) => rest.is_stream(),
            ArgStream::Grouped(g) => g.is_stream(),
            ArgStream::Split(s) => s.inner.is_stream(),
        }
    }

    /// Whether the next tuple can be had without waiting for a read (always, in memory).
    pub fn has_buffered_value(&self) -> bool {
        match self {
            ArgStream::Lines(r) => r.has_buffered_value(),
            ArgStream::Combined(_) => true,
            ArgStream::Replay(front, rest) => {
                !front.as_slice().is_empty() || rest.has_buffered_value()
            }
            ArgStream::Grouped(g) => g.has_buffered_value(),
            ArgStream::Split(s) => s.inner.has_buffered_value(),
        }
    }

    /// Tuples already read, as a stream (the input read in full, for `total_jobs()`).
    pub fn from_vec(all: Vec<Vec<Vec<u8>>>) -> ArgStream {
        ArgStream::replay(all, ArgStream::Combined(Combined::new(Vec::new(), &[])))
    }

    /// Groups the records into jobs as `g` says; `measure` fills jobs to the line limit.
    pub fn grouped(
        self,
        g: &Grouping,
        measure: Option<Box<dyn Measure>>,
        slots: usize,
    ) -> ArgStream {
        ArgStream::Grouped(Box::new(Grouper::new(self, g, measure, slots)))
    }

    /// Opens the sources. Files are opened (and checked) now, so an unreadable input is an
    /// error before any job runs. With no source, stdin is read.
    #[cfg(test)]
    pub fn open(sources: &[Source], separator: u8) -> Result<ArgStream, InputError> {
        Ok(ArgStream::open_inner(sources, separator, false, &InputFilter::default())?.0)
    }

    /// Opens the sources with `g`'s columns and header: the names the header gives each
    /// column, in order of position (`{1}` is the first; an empty name names nothing). Each
    /// source is read by `filter`'s rules (`-E`, `-r`, `--trim`, `--link`).
    pub fn open_columns(
        sources: &[Source],
        separator: u8,
        g: &Grouping,
        filter: &InputFilter,
    ) -> Result<(ArgStream, Vec<Vec<u8>>), InputError> {
        let splitter = Splitter::new(g.colsep.as_deref(), g.csv)?;
        let (stream, firsts) = match g.header.as_deref() {
            None => (
                ArgStream::open_inner(sources, separator, false, filter)?.0,
                Vec::new(),
            ),
            // GNU parallel's --header 0: the files' names name their sources.
            Some("0") => {
                let names = sources
                    .iter()
                    .map(|s| match &s.kind {
                        SourceKind::File(p) => {
                            use std::os::unix::ffi::OsStrExt;
                            p.as_os_str().as_bytes().to_vec()
                        }
                        SourceKind::Args(_) => Vec::new(),
                    })
                    .collect();
                (
                    ArgStream::open_inner(sources, separator, false, filter)?.0,
                    names,
                )
            }
            Some(_) => {
                let (stream, firsts) = ArgStream::open_inner(sources, separator, true, filter)?;
                let names = firsts
                    .iter()
                    .flat_map(|f| Splitter::names(splitter.as_ref(), f))
                    .collect();
                (stream, names)
            }
        };
        let stream = match splitter {
            Some(splitter) => ArgStream::Split(Box::new(Split {
                inner: Box::new(stream),
                splitter,
            })),
            None => stream,
        };
        Ok((stream, firsts))
    }

    /// Opens the sources; `header`: the first value of each is taken off and returned.
    fn open_inner(
        sources: &[Source],
        separator: u8,
        header: bool,
        filter: &InputFilter,
    ) -> Result<(ArgStream, Vec<Vec<u8>>), InputError> {
        let stdin_uses = sources
            .iter()
            .filter(|s| matches!(&s.kind, SourceKind::File(p) if p.as_os_str() == "-"))
            .count();
        if stdin_uses > 1 {
            return Err(InputError::StdinTwice);
        }
        let single = match sources {
            [] => Some(PathBuf::from("-")),
            [
                Source {
                    kind: SourceKind::File(p),
                    ..
                },
            ] => Some(p.clone()),
            _ => None,
        };
        if let Some(p) = single {
            let mut r = LineReader::open(&p, separator)?.filtered(filter.clone());
            let first = match header {
                true => {
                    r.count_less(1);
                    vec![r.next().transpose()?.unwrap_or_default()]
                }
                false => Vec::new(),
            };
            return Ok((ArgStream::Lines(r), first));
        }
        let mut values = Vec::with_capacity(sources.len());
        for s in sources {
            values.push(match &s.kind {
                SourceKind::Args(a) => {
                    use std::os::unix::ffi::OsStrExt;
                    filter.judge_all(a.iter().map(|v| v.as_bytes().to_vec()).collect())
                }
                SourceKind::File(p) => LineReader::open(p, separator)?
                    .filtered(filter.clone())
                    .collect::<Result<Vec<_>, _>>()?,
            });
        }
        let firsts = match header {
            true => values
                .iter_mut()
                .map(|v: &mut Vec<Vec<u8>>| {
                    if v.is_empty() {
                        Vec::new()
                    } else {
                        v.remove(0)
                    }
                })
                .collect(),
            false => Vec::new(),
        };
        let linked: Vec<bool> = sources
            .iter()
            .enumerate()
            .map(|(i, s)| s.linked || (filter.link && i > 0))
            .collect();
        let mut combined = Combined::new(values, &linked);
        combined.wrap = filter.link;
        Ok((ArgStream::Combined(combined), firsts))
    }
}

/// The combination of in-memory sources: linked runs are zipped, stopping at the shortest
/// source (GNU parallel's `:::+`: "contrary to --link, values do not wrap"), and the runs are
/// multiplied, first varying slowest.
pub(crate) struct Combined {
    /// Each run: the source values of its members.
    runs: Vec<Vec<Vec<Vec<u8>>>>,
    /// Current index into each run; `None` once done.
    index: Option<Vec<usize>>,
    /// Linked sources wrap around to the length of the longest (`--link`), rather than
    /// stopping at the shortest (`:::+`).
    wrap: bool,
}

impl Combined {
    fn new(values: Vec<Vec<Vec<u8>>>, linked: &[bool]) -> Combined {
        let mut runs: Vec<Vec<Vec<Vec<u8>>>> = Vec::new();
        for (v, &l) in values.into_iter().zip(linked) {
            match runs.last_mut() {
                Some(run) if l => run.push(v),
                _ => runs.push(vec![v]),
            }
        }
        let empty = runs.iter().any(|r| r.iter().any(|s| s.is_empty()));
        let index = (!empty && !runs.is_empty()).then(|| vec![0; runs.len()]);
        Combined {
            runs,
            index,
            wrap: false,
        }
    }

    /// The tuples still to come: the odometer's remaining positions.
    fn remaining(&self) -> u64 {
        let Some(index) = &self.index else { return 0 };
        // Positions passed so far, in the mixed radix of the run lengths.
        let mut total: u64 = 1;
        let mut passed: u64 = 0;
        for (run, &i) in self.runs.iter().zip(index).rev() {
            let len = run_len(run, self.wrap) as u64;
            passed = passed.saturating_add((i as u64).saturating_mul(total));
            total = total.saturating_mul(len);
        }
        total.saturating_sub(passed)
    }
}

/// A run's length: its shortest source, or its longest when shorter ones wrap.
fn run_len(run: &[Vec<Vec<u8>>], wrap: bool) -> usize {
    let lens = run.iter().map(Vec::len);
    if wrap { lens.max() } else { lens.min() }.unwrap_or(0)
}

impl Iterator for Combined {
    type Item = Vec<Vec<u8>>;

    fn next(&mut self) -> Option<Vec<Vec<u8>>> {
        let index = self.index.as_mut()?;
        let mut tuple = Vec::new();
        for (run, &i) in self.runs.iter().zip(index.iter()) {
            for source in run {
                tuple.push(source[i % source.len()].clone());
            }
        }
        // Advance like an odometer, last run fastest.
        let mut k = self.runs.len();
        loop {
            if k == 0 {
                self.index = None;
                break;
            }
            k -= 1;
            index[k] += 1;
            if index[k] < run_len(&self.runs[k], self.wrap) {
                break;
            }
            index[k] = 0;
        }
        Some(tuple)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str], linked: bool) -> Source {
        Source {
            kind: SourceKind::Args(v.iter().map(OsString::from).collect()),
            linked,
        }
    }

    fn collect(s: ArgStream) -> Vec<String> {
        s.map(|t| {
            t.unwrap()
                .iter()
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect()
    }

    #[test]
    fn product_first_group_slowest() {
        let s = ArgStream::open(&[args(&["a", "b"], false), args(&["1", "2"], false)], b'\n');
        assert_eq!(collect(s.unwrap()), ["a,1", "a,2", "b,1", "b,2"]);
    }

    #[test]
    fn linked_groups_zip_and_stop_at_the_shortest() {
        let s = ArgStream::open(
            &[
                args(&["a", "b", "c"], false),
                args(&["1", "2"], true),
                args(&["x"], false),
            ],
            b'\n',
        );
        assert_eq!(collect(s.unwrap()), ["a,1,x", "b,2,x"]);
    }

    #[test]
    fn in_memory_input_knows_its_length() {
        let mut s = ArgStream::open(
            &[
                args(&["a", "b", "c"], false),
                args(&["1", "2"], true),
                args(&["x", "y", "z"], false),
            ],
            b'\n',
        )
        .unwrap();
        assert_eq!(s.known_len(), Some(6));
        s.next();
        s.next();
        s.next();
        assert_eq!(s.known_len(), Some(3));
        assert_eq!(s.count(), 3);
        let empty = ArgStream::open(&[args(&["a"], false), args(&[], false)], b'\n');
        assert_eq!(empty.unwrap().known_len(), Some(0));
    }

    #[test]
    fn link_wraps_the_shorter_sources() {
        let filter = InputFilter {
            link: true,
            ..Default::default()
        };
        let s = ArgStream::open_inner(
            &[args(&["a", "b", "c"], false), args(&["1", "2"], false)],
            b'\n',
            false,
            &filter,
        );
        assert_eq!(collect(s.unwrap().0), ["a,1", "b,2", "c,1"]);
    }

    #[test]
    fn an_empty_group_gives_no_jobs() {
        let s = ArgStream::open(&[args(&["a"], false), args(&[], false)], b'\n');
        assert!(collect(s.unwrap()).is_empty());
    }
}
