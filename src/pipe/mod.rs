//! `--pipe` and `--pipepart`: the input is cut into blocks of whole records and each block
//! is one job's stdin (GNU parallel's meaning). What this module owns: the plain-data
//! [`PipeConfig`], the splitter (`split`), the byte ranges of `--pipepart` (`part`), the
//! temporary files and fifos of `--cat` and `--fifo` (`temp`), and the thread that reads
//! the input and hands the runner one `Block` per job (`BlockFeed`). How a job's stdin is
//! fed is the executor's business (`exec::stdin` for this machine): a block travels as data
//! in the job's `Stdin`, so any executor can feed it.
//!
//! Memory stays bounded: the reading thread is at most one block ahead of the jobs (a channel
//! of one), and a job holds its block until it ends (for a retry), so about `slots + 2`
//! blocks are in memory at once. `--pipepart` holds no block at all: a job's stdin is a range
//! of the file, read by whoever feeds it.

mod feed;
mod part;
pub(crate) mod split;
mod temp;

pub(crate) use feed::{Block, BlockFeed, PipeSource};

use std::path::PathBuf;

/// How the jobs of `--pipe` get their block.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PipeMode {
    /// On stdin.
    #[default]
    Stdin,
    /// In a temporary file named by `{}` (`--cat`), removed when the job ends.
    Cat,
    /// Through a temporary fifo named by `{}` (`--fifo`), removed when the job ends.
    Fifo,
}

/// The header repeated at the top of every block (`--header` with `--pipe`).
#[derive(Debug, Clone)]
pub enum Header {
    /// The first N lines.
    Lines(usize),
    /// What this regular expression matches at the start of the input.
    Regex(regex::bytes::Regex),
}

impl Header {
    /// GNU parallel's `--header` values: a number of lines, `:` (the first line), or a regular
    /// expression matched at the start of the input.
    pub fn parse(s: &str) -> Result<Header, PipeError> {
        if let Ok(n) = s.parse::<usize>() {
            return Ok(Header::Lines(n));
        }
        let pattern = if s == ":" { ".*\n" } else { s };
        regex(pattern, "--header")?;
        regex(&format!(r"\A(?:{pattern})"), "--header").map(Header::Regex)
    }
}

/// Compiles a regular expression given to `flag`; the error is one line.
fn regex(pattern: &str, flag: &'static str) -> Result<regex::bytes::Regex, PipeError> {
    regex::bytes::Regex::new(pattern).map_err(|e| {
        // The parser's message draws the pattern with a caret: keep its last line, the cause.
        let text = e.to_string();
        let cause = text.lines().last().unwrap_or("").trim();
        PipeError::Regex {
            flag,
            message: format!("`{pattern}`: {}", cause.trim_start_matches("error: ")),
        }
    })
}

/// How the input is cut into blocks and given to the jobs. Plain data; `--pipe` sets it.
#[derive(Debug, Clone)]
pub struct PipeConfig {
    /// Bytes a block aims at (`--block`, default 1 MiB): it ends at the last record end within
    /// this size, or holds one whole record when a record is longer.
    pub block_size: usize,
    /// `--pipepart` with a negative `--block -N`: N blocks per job slot instead of a size.
    pub blocks_per_slot: Option<usize>,
    /// What ends a record (`--recend`, default a newline; empty: none).
    pub recend: Vec<u8>,
    /// What starts a record (`--recstart`, default none).
    pub recstart: Vec<u8>,
    /// `recend` and `recstart` are regular expressions (`--regexp`).
    pub regexp: bool,
    /// Records per block (`-N` with `--pipe`): exactly that many, whatever the block size.
    pub records_per_block: Option<usize>,
    /// Lines per record (`-L` with `--pipe`): a record is that many `recend`s.
    pub lines_per_record: Option<usize>,
    /// Repeated at the top of every block (`--header` with `--pipe`).
    pub header: Option<Header>,
    /// Start one job per slot and give each block to whichever is ready (`--roundrobin`).
    pub roundrobin: bool,
    /// Stdin, or a temporary file or fifo named by `{}` (`--cat`, `--fifo`).
    pub mode: PipeMode,
    /// `--pipepart`: cut this seekable file into byte ranges, which the jobs read directly.
    pub part_file: Option<PathBuf>,
}

impl Default for PipeConfig {
    fn default() -> PipeConfig {
        PipeConfig {
            block_size: 1024 * 1024,
            blocks_per_slot: None,
            recend: b"\n".to_vec(),
            recstart: Vec::new(),
            regexp: false,
            records_per_block: None,
            lines_per_record: None,
            header: None,
            roundrobin: false,
            mode: PipeMode::Stdin,
            part_file: None,
        }
    }
}

/// What can go wrong with `--pipe`'s input.
#[derive(Debug, thiserror::Error)]
pub enum PipeError {
    /// A `--recend`, `--recstart` or `--header` that is no valid regular expression.
    #[error("{flag}: invalid regular expression: {message}")]
    Regex {
        /// The flag it was given to.
        flag: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// The `--pipepart` file could not be opened or read.
    #[error("cannot read the --pipepart file `{path}`: {source}")]
    Part {
        /// The file, as given.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The `--pipepart` file is not a regular file.
    #[error(
        "--pipepart needs a regular file it can seek in, and `{0}` is not one: use --pipe with the input on stdin"
    )]
    NotSeekable(PathBuf),
    /// Reading stdin failed.
    #[error("failed to read stdin for --pipe: {0}")]
    Read(#[source] std::io::Error),
    /// A `--cat` file or `--fifo` could not be made.
    #[error(
        "cannot make the temporary file of a block in `{dir}`: {source}; give --tmpdir a writable directory"
    )]
    Temp {
        /// The directory.
        dir: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Parses a size as GNU parallel does: a number with an optional unit, `k` `m` `g` `t` `p`
/// for powers of 1000 and `K` `M` `G` `T` `P` for powers of 1024 (`10M` is 10485760). A
/// leading `-` is kept (the caller decides what a negative size means).
pub fn parse_size(s: &str) -> Result<f64, String> {
    let bad = || {
        format!(
            "invalid size `{s}`: use a number with an optional unit, e.g. 64k, 10M, 1G (k=1000, K=1024)"
        )
    };
    let t = s.trim();
    let (num, unit) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&t[..i], Some(c)),
        _ => (t, None),
    };
    let mult: f64 = match unit {
        None => 1.0,
        Some(c) => {
            let power = match c.to_ascii_lowercase() {
                'k' => 1,
                'm' => 2,
                'g' => 3,
                't' => 4,
                'p' => 5,
                _ => return Err(bad()),
            };
            let base: f64 = if c.is_ascii_uppercase() {
                1024.0
            } else {
                1000.0
            };
            base.powi(power)
        }
    };
    let n: f64 = num.trim().parse().map_err(|_| bad())?;
    if !n.is_finite() {
        return Err(bad());
    }
    Ok(n * mult)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_as_gnu_parallel() {
        assert_eq!(parse_size("10"), Ok(10.0));
        assert_eq!(parse_size("1k"), Ok(1000.0));
        assert_eq!(parse_size("1K"), Ok(1024.0));
        assert_eq!(parse_size("10M"), Ok(10.0 * 1048576.0));
        assert_eq!(parse_size("2m"), Ok(2e6));
        assert_eq!(parse_size("1G"), Ok(1073741824.0));
        assert_eq!(parse_size("1.5k"), Ok(1500.0));
        assert_eq!(parse_size("-10"), Ok(-10.0));
        for bad in ["", "x", "10X", "k", "1..2M"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn header_forms() {
        assert!(matches!(Header::parse("2"), Ok(Header::Lines(2))));
        let Ok(Header::Regex(re)) = Header::parse(":") else {
            panic!("`:` is a regex header")
        };
        assert_eq!(re.find(b"a,b\n1,2\n").map(|m| m.end()), Some(4));
        let Ok(Header::Regex(re)) = Header::parse("x") else {
            panic!("a regex header")
        };
        assert!(re.find(b"ax").is_none(), "anchored at the start");
        assert!(Header::parse("(").is_err());
    }
}
