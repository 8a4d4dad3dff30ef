//! Several arguments per job, as GNU parallel groups them: `-N`/`-n` (at most N input records
//! per job; `-N0`: read one, insert none), `-L` (N lines, a line ending in a blank continued on
//! the next), `-X`/`-m`/`--xargs` (as many as fit under `-s` or the system's limit, measured by
//! the template), and, for `-X`/`-m` at end of input, the last arguments spread evenly over the
//! job slots. A group's values are flattened: `{1}`..`{N}` name them.

use std::collections::VecDeque;

use super::{ArgStream, InputError};

/// How arguments are put in a job (GNU parallel's default, `-X`, `-m`, `--xargs`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Insert {
    /// One input record per job, unless `-N`/`-n`/`-L` say more.
    #[default]
    One,
    /// `-X`: as many as fit; a word holding `{}` is repeated per argument.
    Context,
    /// `-m`: as many as fit; `{}` is all of them, space separated.
    Multiple,
    /// `--xargs`: as `-m`, without spreading the last ones over the slots.
    Xargs,
}

/// Grouping and column options (plain data; `--pipe` reads `-N`, `-L` and `--header` as
/// records per block).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grouping {
    /// `-N`/`--max-replace-args` or `-n`/`--max-args`: at most this many input records per job
    /// (`Some(0)`: read one, insert none).
    pub max_args: Option<usize>,
    /// `-N` rather than `-n`: a word holding `{}` is repeated per argument.
    pub replace_args: bool,
    /// `-L`/`--max-lines`: at most this many input lines per job (`Some(0)`: read one, insert
    /// none).
    pub max_lines: Option<usize>,
    /// `-s`/`--max-chars`: the longest command line (else the system's limit).
    pub max_chars: Option<usize>,
    /// `-X`, `-m`, `--xargs`.
    pub insert: Insert,
    /// `--colsep REGEX`: each value is split into columns.
    pub colsep: Option<String>,
    /// `--header`: the first value of each source names its columns (`0`: the file names
    /// name the sources).
    pub header: Option<String>,
    /// `--csv`: values are CSV records.
    pub csv: bool,
}

impl Grouping {
    /// Whether a word holding `{}` is repeated for each argument (GNU's context replace).
    pub fn context_replace(&self) -> bool {
        match self.insert {
            Insert::Context => true,
            Insert::Multiple | Insert::Xargs => false,
            Insert::One => self.replace_args || self.max_lines.is_some(),
        }
    }

    /// Whether values are split into columns.
    pub fn has_columns(&self) -> bool {
        self.colsep.is_some() || self.csv
    }

    /// Whether jobs may get more than one input record.
    pub fn is_grouping(&self) -> bool {
        self.insert != Insert::One || self.max_args.is_some() || self.max_lines.is_some()
    }

    /// The most records a job takes (`None`: as many as fit).
    fn per_job(&self) -> Option<usize> {
        match (self.max_args, self.max_lines, self.insert) {
            (Some(n), _, _) | (None, Some(n), _) => Some(n),
            (None, None, Insert::One) => Some(1),
            (None, None, _) => None,
        }
    }
}

/// The length of a command line with some arguments, as the template measures it: GNU
/// parallel's line length (words joined by spaces, values quoted in shell mode) and the bytes
/// the kernel counts against `ARG_MAX`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cost {
    /// Characters of the command line, as `-s` counts them.
    pub line: usize,
    /// Bytes of argv (strings, NULs and pointers) as `execve` counts them.
    pub sys: usize,
}

/// How long a command line is: given by the template, used to fill a job.
pub trait Measure: Send {
    /// The command with no argument.
    fn base(&self) -> Cost;
    /// What the argument at flat index `k` adds.
    fn arg(&self, k: usize, value: &[u8]) -> Cost;
    /// The longest allowed: `line` is exclusive (as GNU parallel), `sys` inclusive.
    fn limit(&self) -> Cost;
}

/// Groups the records of an [`ArgStream`] into jobs.
pub struct Grouper {
    inner: Box<ArgStream>,
    per_job: Option<usize>,
    lines: bool,
    measure: Option<Box<dyn Measure>>,
    /// Spread the last records over this many slots (`-X`/`-m`), once.
    spread: Option<usize>,
    pending: VecDeque<Vec<Vec<u8>>>,
    ready: VecDeque<Vec<Vec<Vec<u8>>>>,
    eof: bool,
}

impl Grouper {
    /// Groups `inner` by `g`; `measure` fills jobs up to the command-line limit; `slots` is for
    /// spreading.
    pub(crate) fn new(
        inner: ArgStream,
        g: &Grouping,
        measure: Option<Box<dyn Measure>>,
        slots: usize,
    ) -> Grouper {
        let spread =
            (matches!(g.insert, Insert::Context | Insert::Multiple) && slots > 1).then_some(slots);
        Grouper {
            inner: Box::new(inner),
            per_job: g.per_job(),
            lines: g.max_lines.is_some(),
            measure,
            spread,
            pending: VecDeque::new(),
            ready: VecDeque::new(),
            eof: false,
        }
    }

    /// How many jobs are left, when known without reading.
    pub(crate) fn known_len(&self) -> Option<u64> {
        if self.measure.is_some() || self.lines {
            return None;
        }
        let n = self.inner.known_len()? + self.pending.len() as u64;
        let per = self.per_job? as u64;
        Some(self.ready.len() as u64 + if per == 0 { n } else { n.div_ceil(per) })
    }

    /// The inner stream's count, grouped as here: only when each job takes a fixed number of
    /// records (`-X`, `-m` and `-L` fill jobs by length or by line, known only by reading).
    pub(crate) fn take_counter(&mut self) -> Option<super::Counter> {
        if self.measure.is_some() || self.lines {
            return None;
        }
        let per = self.per_job? as u64;
        Some(self.inner.take_counter()?.per_job(per))
    }

    pub(crate) fn is_stream(&self) -> bool {
        self.inner.is_stream()
    }

    pub(crate) fn has_buffered_value(&self) -> bool {
        !self.ready.is_empty()
    }

    fn read(&mut self) -> Option<Result<Vec<Vec<u8>>, InputError>> {
        if let Some(r) = self.pending.pop_front() {
            return Some(Ok(r));
        }
        if self.eof {
            return None;
        }
        let r = self.inner.next();
        if r.is_none() {
            self.eof = true;
        }
        r
    }

    /// The next record; with `-L`, a line ending in a blank goes on with the next line.
    fn record(&mut self) -> Option<Result<Vec<Vec<u8>>, InputError>> {
        let mut rec = match self.read()? {
            Ok(r) => r,
            e => return Some(e),
        };
        while self.lines
            && rec.len() == 1
            && rec[0].last().is_some_and(|b| matches!(b, b' ' | b'\t'))
        {
            match self.read() {
                Some(Ok(next)) => rec[0].extend(next.into_iter().flatten()),
                Some(Err(e)) => return Some(Err(e)),
                None => break,
            }
        }
        Some(Ok(rec))
    }

    fn fill(&mut self) -> Option<Result<Vec<Vec<Vec<u8>>>, InputError>> {
        let mut group: Vec<Vec<Vec<u8>>> = Vec::new();
        let (mut cost, limit) = match &self.measure {
            Some(m) => (m.base(), m.limit()),
            None => (Cost::default(), Cost::default()),
        };
        let mut k = 0;
        loop {
            if self.per_job.is_some_and(|n| group.len() >= n.max(1)) {
                break;
            }
            let rec = match self.record() {
                None => break,
                Some(Err(e)) => return Some(Err(e)),
                Some(Ok(r)) => r,
            };
            if let Some(m) = &self.measure {
                let mut c = cost;
                for (i, v) in rec.iter().enumerate() {
                    let a = m.arg(k + i, v);
                    c.line += a.line;
                    c.sys += a.sys;
                }
                if !group.is_empty() && (c.line >= limit.line || c.sys > limit.sys) {
                    self.pending.push_front(rec);
                    break;
                }
                cost = c;
            }
            k += rec.len();
            group.push(rec);
        }
        if group.is_empty() {
            return None;
        }
        if let Some(slots) = self.spread {
            // GNU parallel: when the input ends while a job is being filled, the arguments
            // read are spread evenly over the slots (once).
            if self.pending.is_empty() && !self.eof {
                match self.read() {
                    Some(Ok(r)) => self.pending.push_back(r),
                    Some(Err(e)) => return Some(Err(e)),
                    None => {}
                }
            }
            if self.eof && self.pending.is_empty() && group.len() > 1 {
                self.spread = None;
                let per = group.len().div_ceil(slots);
                let mut rest = group.into_iter().peekable();
                while rest.peek().is_some() {
                    self.ready.push_back(rest.by_ref().take(per).collect());
                }
                return self.ready.pop_front().map(Ok);
            }
        }
        Some(Ok(group))
    }
}

impl Iterator for Grouper {
    type Item = Result<Vec<Vec<u8>>, InputError>;

    fn next(&mut self) -> Option<Self::Item> {
        let group = match self.ready.pop_front() {
            Some(g) => g,
            None => match self.fill()? {
                Ok(g) => g,
                Err(e) => return Some(Err(e)),
            },
        };
        if self.per_job == Some(0) {
            return Some(Ok(Vec::new()));
        }
        Some(Ok(group.into_iter().flatten().collect()))
    }
}

/// The system's longest command line, less the environment (GNU parallel measures its own;
/// fanout asks the kernel): `ARG_MAX` minus what the environment takes, minus a margin. A
/// single string (a `sh -c` script) is also at most `MAX_ARG_STRLEN` (32 pages on Linux).
pub fn system_limit() -> (usize, usize) {
    let arg_max = nix::unistd::sysconf(nix::unistd::SysconfVar::ARG_MAX)
        .ok()
        .flatten()
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(128 * 1024);
    let env: usize = std::env::vars_os()
        .map(|(k, v)| k.len() + v.len() + 2 + std::mem::size_of::<usize>())
        .sum();
    let total = arg_max.saturating_sub(env).saturating_sub(4096);
    (total, MAX_ARG_STRLEN - 1)
}

/// Linux's limit on one argument string, NUL included.
const MAX_ARG_STRLEN: usize = 32 * 4096;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::Source;

    fn stream(v: &[&str]) -> ArgStream {
        ArgStream::open(&[Source::args(v.iter().copied())], b'\n').unwrap()
    }

    fn groups(g: Grouper) -> Vec<String> {
        g.map(|r| {
            r.unwrap()
                .iter()
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect()
    }

    /// Line length: each value plus a space.
    struct Chars(usize);
    impl Measure for Chars {
        fn base(&self) -> Cost {
            Cost { line: 4, sys: 0 }
        }
        fn arg(&self, _: usize, v: &[u8]) -> Cost {
            Cost {
                line: v.len() + 1,
                sys: 0,
            }
        }
        fn limit(&self) -> Cost {
            Cost {
                line: self.0,
                sys: usize::MAX,
            }
        }
    }

    #[test]
    fn max_args_groups_and_zero_inserts_none() {
        let g = Grouping {
            max_args: Some(2),
            ..Default::default()
        };
        let gr = Grouper::new(stream(&["a", "b", "c"]), &g, None, 4);
        assert_eq!(gr.known_len(), Some(2));
        assert_eq!(groups(gr), ["a,b", "c"]);
        let g = Grouping {
            max_args: Some(0),
            ..Default::default()
        };
        assert_eq!(
            groups(Grouper::new(stream(&["a", "b"]), &g, None, 1)),
            ["", ""]
        );
    }

    #[test]
    fn lines_continue_after_a_trailing_blank() {
        let g = Grouping {
            max_lines: Some(1),
            ..Default::default()
        };
        assert_eq!(
            groups(Grouper::new(stream(&["a b ", "c", "d"]), &g, None, 1)),
            ["a b c", "d"]
        );
    }

    #[test]
    fn fills_to_the_limit_then_spreads_the_rest() {
        let g = Grouping {
            insert: Insert::Multiple,
            ..Default::default()
        };
        // "echo a b c" is 10 < 11; a fourth does not fit.
        let v = ["a", "b", "c", "d", "e", "f", "g"];
        let gr = Grouper::new(stream(&v), &g, Some(Box::new(Chars(11))), 1);
        assert_eq!(groups(gr), ["a,b,c", "d,e,f", "g"]);
        let gr = Grouper::new(stream(&v), &g, Some(Box::new(Chars(1000))), 2);
        assert_eq!(groups(gr), ["a,b,c,d", "e,f,g"]);
        let g = Grouping {
            insert: Insert::Xargs,
            ..Default::default()
        };
        let gr = Grouper::new(stream(&v), &g, Some(Box::new(Chars(1000))), 2);
        assert_eq!(groups(gr), ["a,b,c,d,e,f,g"]);
    }
}
