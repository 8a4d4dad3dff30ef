//! The flags of `--pipe` and `--pipepart` (GNU parallel's names and meanings), and their
//! translation into the engine's `PipeConfig`. `-N`, `-L` and `--header` are defined with
//! their other meanings elsewhere; under `--pipe` they set `records_per_block`,
//! `lines_per_record` and `header` of the same `PipeConfig`.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;

use fanout::config::Config;
use fanout::input::{Insert, Source, SourceKind};
use fanout::pipe::{PipeConfig, PipeMode, parse_size};

/// `--pipe` and its companions.
#[derive(Debug, clap::Args)]
pub struct PipeArgs {
    /// Cut stdin into blocks of whole records and give each block to a job on its stdin
    #[arg(long, visible_alias = "spreadstdin", env = "FANOUT_PIPE")]
    #[arg(help_heading = "Pipe: blocks of stdin as jobs' input")]
    pipe: bool,

    /// Like --pipe, for a seekable FILE given with -a or ::::: each job reads its byte range of
    /// the file directly
    #[arg(long, visible_alias = "pipe-part", env = "FANOUT_PIPEPART")]
    #[arg(help_heading = "Pipe: blocks of stdin as jobs' input")]
    pipepart: bool,

    /// Block size: k=1000, K=1024, M=1024², G...; a block ends at its last whole record
    /// [default: 1M]; with --pipepart, -N means N blocks per job slot
    #[arg(
        long,
        visible_alias = "block-size",
        env = "FANOUT_BLOCK",
        value_name = "SIZE",
        allow_hyphen_values = true
    )]
    #[arg(help_heading = "Pipe: blocks of stdin as jobs' input")]
    block: Option<String>,

    /// What ends a record [default: \n]; '' for none; \n \t \r \0 \\ \xHH are understood
    #[arg(
        long,
        env = "FANOUT_RECEND",
        value_name = "STR",
        allow_hyphen_values = true
    )]
    #[arg(help_heading = "Pipe: blocks of stdin as jobs' input")]
    recend: Option<OsString>,

    /// What starts a record [default: nothing]
    #[arg(
        long,
        env = "FANOUT_RECSTART",
        value_name = "STR",
        allow_hyphen_values = true
    )]
    #[arg(help_heading = "Pipe: blocks of stdin as jobs' input")]
    recstart: Option<OsString>,

    /// --recend and --recstart are regular expressions
    #[arg(long, env = "FANOUT_REGEXP")]
    #[arg(help_heading = "Pipe: blocks of stdin as jobs' input")]
    regexp: bool,

    /// Start one job per slot and write each block to whichever job is ready for it
    #[arg(long, visible_alias = "round-robin", env = "FANOUT_ROUNDROBIN")]
    #[arg(help_heading = "Pipe: blocks of stdin as jobs' input")]
    roundrobin: bool,

    /// Put each block in a temporary file named by {} (removed when the job ends); implies
    /// --pipe
    #[arg(long, env = "FANOUT_CAT", conflicts_with = "fifo")]
    #[arg(help_heading = "Pipe: blocks of stdin as jobs' input")]
    cat: bool,

    /// Give each block through a temporary fifo named by {} (the job must open it); implies
    /// --pipe
    #[arg(long, env = "FANOUT_FIFO")]
    #[arg(help_heading = "Pipe: blocks of stdin as jobs' input")]
    fifo: bool,
}

/// What `into_config` knows that the pipe flags depend on.
pub struct Context<'a> {
    /// The input sources (`-a`, `:::`, `::::`); `--pipepart` takes its file from them.
    pub sources: &'a mut Vec<Source>,
    /// `--dry-run`.
    pub dry_run: bool,
    /// `--retries`.
    pub retries: u32,
}

impl PipeArgs {
    /// The `PipeConfig`, or `None` without `--pipe`, `--pipepart`, `--cat` or `--fifo`.
    pub fn into_config(self, cx: Context<'_>) -> Result<Option<PipeConfig>, String> {
        let piped = self.pipe || self.pipepart || self.cat || self.fifo;
        if !piped {
            for (on, flag) in [
                (self.block.is_some(), "--block"),
                (self.recend.is_some(), "--recend"),
                (self.recstart.is_some(), "--recstart"),
                (self.regexp, "--regexp"),
                (self.roundrobin, "--roundrobin"),
            ] {
                if on {
                    return Err(format!(
                        "{flag} only means something with --pipe or --pipepart: add one of them, or drop {flag}"
                    ));
                }
            }
            return Ok(None);
        }
        let name = if self.pipepart {
            "--pipepart"
        } else {
            "--pipe"
        };
        if cx.dry_run {
            return Err(format!(
                "--dry-run cannot show the blocks of {name}: drop one of them"
            ));
        }
        let mut config = PipeConfig::default();
        if let Some(b) = &self.block {
            let n = parse_size(b).map_err(|e| format!("--block: {e}"))?;
            if n < 0.0 && self.pipepart {
                config.blocks_per_slot = Some((-n).round().max(1.0) as usize);
            } else if n < 1.0 {
                return Err(format!(
                    "--block `{b}`: a block must be at least 1 byte (a negative size, blocks per job slot, is for --pipepart only)"
                ));
            } else {
                config.block_size = n.min(usize::MAX as f64) as usize;
            }
        }
        let text = |v: &OsString| -> Result<Vec<u8>, String> {
            if self.regexp {
                Ok(v.as_bytes().to_vec())
            } else {
                unescape(v.as_bytes())
            }
        };
        match (&self.recend, &self.recstart) {
            (Some(e), s) => {
                config.recend = text(e).map_err(|m| format!("--recend: {m}"))?;
                if let Some(s) = s {
                    config.recstart = text(s).map_err(|m| format!("--recstart: {m}"))?;
                }
            }
            // GNU parallel: with --recstart alone, records do not end with a newline.
            (None, Some(s)) => {
                config.recend = Vec::new();
                config.recstart = text(s).map_err(|m| format!("--recstart: {m}"))?;
            }
            (None, None) => {}
        }
        config.regexp = self.regexp;
        config.roundrobin = self.roundrobin;
        config.mode = if self.cat {
            PipeMode::Cat
        } else if self.fifo {
            PipeMode::Fifo
        } else {
            PipeMode::Stdin
        };
        if self.roundrobin {
            if self.pipepart {
                return Err("--roundrobin cannot be combined with --pipepart (each job reads a range of its own): use --pipepart --block -N for N blocks per job slot".into());
            }
            if config.mode != PipeMode::Stdin {
                return Err("--roundrobin gives blocks on the jobs' stdin, so it cannot be combined with --cat or --fifo: drop one of them".into());
            }
            if cx.retries > 1 {
                return Err("--roundrobin cannot retry a job: the blocks a failed job took are gone; drop --retries".into());
            }
        }
        if self.pipepart {
            let file = match cx.sources.as_slice() {
                [
                    Source {
                        kind: SourceKind::File(p),
                        ..
                    },
                ] if p.as_os_str() != "-" => p.clone(),
                _ => {
                    return Err("--pipepart needs exactly one seekable file, given with -a FILE or :::: FILE".into());
                }
            };
            cx.sources.clear();
            config.part_file = Some(file);
        } else if !cx.sources.is_empty() {
            return Err(format!(
                "{name} reads its input from stdin, so it takes no ::: values, :::: files or -a: give the input on stdin (< FILE), or use --pipepart -a FILE"
            ));
        }
        Ok(Some(config))
    }
}

/// Under `--pipe`, `-N`, `-L` and `--header` are about records and blocks, not arguments:
/// moves them from `config.grouping` into `config.pipe`, and refuses the argument-only
/// options there (they would have nothing to group).
pub fn take_grouping(config: &mut Config) -> Result<(), String> {
    let Some(pipe) = config.pipe.as_mut() else {
        return Ok(());
    };
    let g = std::mem::take(&mut config.grouping);
    for (on, flag) in [
        (g.insert == Insert::Context, "-X"),
        (g.insert == Insert::Multiple, "-m"),
        (g.insert == Insert::Xargs, "--xargs"),
        (g.max_chars.is_some(), "--max-chars"),
        (g.colsep.is_some(), "--colsep"),
        (g.csv, "--csv"),
    ] {
        if on {
            return Err(format!(
                "{flag} puts input values into the command, but --pipe gives the input on stdin: drop {flag}"
            ));
        }
    }
    if pipe.part_file.is_some() && (g.max_args.is_some() || g.max_lines.is_some()) {
        return Err(
            "--pipepart cuts the file by size, not by records: drop -N/-L, or use --pipe < FILE"
                .into(),
        );
    }
    pipe.records_per_block = g.max_args;
    pipe.lines_per_record = g.max_lines;
    pipe.header = g
        .header
        .as_deref()
        .map(fanout::pipe::Header::parse)
        .transpose()
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// `\n`, `\t`, `\r`, `\0`, `\\` and `\xHH` in a record separator, as GNU parallel reads them.
fn unescape(s: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] != b'\\' || i + 1 == s.len() {
            out.push(s[i]);
            i += 1;
            continue;
        }
        let byte = match s[i + 1] {
            b'n' => b'\n',
            b't' => b'\t',
            b'r' => b'\r',
            b'0' => 0,
            b'\\' => b'\\',
            b'x' => {
                let hex = s
                    .get(i + 2..i + 4)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or("`\\x` needs two hex digits, e.g. \\x1e")?;
                out.push(hex);
                i += 4;
                continue;
            }
            // Any other backslash is kept as it is.
            _ => {
                out.push(b'\\');
                i += 1;
                continue;
            }
        };
        out.push(byte);
        i += 2;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separators_unescape_as_gnu_parallel_reads_them() {
        assert_eq!(unescape(br"\n").unwrap(), b"\n");
        assert_eq!(unescape(br"a\tb\r\0").unwrap(), b"a\tb\r\0");
        assert_eq!(unescape(br"\x1e\\").unwrap(), b"\x1e\\");
        assert_eq!(unescape(br"\q").unwrap(), br"\q");
        assert_eq!(unescape(br"end\").unwrap(), br"end\");
        assert!(unescape(br"\xZ").is_err());
    }
}
