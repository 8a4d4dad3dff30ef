//! GNU parallel's spellings that a user types from habit and that need a flag of their own
//! (aliases of fanout's flags are on those flags in `args`): `-q`/`--quote`, `--arg-sep`,
//! `--arg-file-sep`, `-d`, `-r`, `-E`, `--trim`, `--link`, and the switches that only say
//! what fanout does anyway (`--will-cite`, `--no-notice`, `--silent`). Translated into the
//! `Config` by [`GnuArgs::apply`]; the sources' separators are read before the split.

use std::ffi::OsString;

use fanout::config::{Config, ResumeMode, parse_duration};
use fanout::input::{InputFilter, Trim};
use fanout::template::ShellMode;

/// GNU parallel's spellings of input and quoting options (see the README's "Differences from
/// GNU parallel").
#[derive(Debug, clap::Args)]
pub struct GnuArgs {
    /// GNU parallel's citation notice: fanout prints none, so this is accepted and does nothing
    #[arg(long = "will-cite", env = "FANOUT_WILL_CITE")]
    #[arg(help_heading = "GNU parallel compatibility")]
    will_cite: bool,

    /// GNU parallel's notice switch: fanout prints no notice, so this is accepted and does nothing
    #[arg(long = "no-notice", env = "FANOUT_NO_NOTICE")]
    #[arg(help_heading = "GNU parallel compatibility")]
    no_notice: bool,

    /// GNU parallel's --silent (do not print the jobs): what fanout does anyway
    #[arg(long = "silent", env = "FANOUT_SILENT")]
    #[arg(help_heading = "GNU parallel compatibility")]
    silent: bool,

    /// Never read the command's words as shell code: each is one argument, as typed (GNU
    /// parallel's -q); a shell builtin still runs in sh, its words quoted
    #[arg(
        short = 'q',
        long = "quote",
        env = "FANOUT_QUOTE",
        conflicts_with = "shell"
    )]
    #[arg(help_heading = "GNU parallel compatibility")]
    quote: bool,

    /// Use SEP instead of ::: to start a source of arguments
    #[arg(
        long = "arg-sep",
        env = "FANOUT_ARG_SEP",
        value_name = "SEP",
        allow_hyphen_values = true
    )]
    #[arg(help_heading = "GNU parallel compatibility")]
    arg_sep: Option<String>,

    /// Use SEP instead of :::: to start a source of files
    #[arg(
        long = "arg-file-sep",
        env = "FANOUT_ARG_FILE_SEP",
        value_name = "SEP",
        allow_hyphen_values = true
    )]
    #[arg(help_heading = "GNU parallel compatibility")]
    arg_file_sep: Option<String>,

    /// Input values end at DELIM (a character, or \n \t \0 \\ \xHH \NNN) instead of a newline
    #[arg(short = 'd', long = "delimiter", env = "FANOUT_DELIMITER", value_name = "DELIM", value_parser = delimiter, conflicts_with = "null")]
    #[arg(help_heading = "GNU parallel compatibility")]
    delimiter: Option<u8>,

    /// Skip input values that are empty or only whitespace
    #[arg(short = 'r', long = "no-run-if-empty", env = "FANOUT_NO_RUN_IF_EMPTY")]
    #[arg(help_heading = "GNU parallel compatibility")]
    no_run_if_empty: bool,

    /// Stop reading a source at a value equal to EOF (it and the rest are not read)
    #[arg(
        short = 'E',
        long = "eof",
        env = "FANOUT_EOF",
        value_name = "EOF",
        allow_hyphen_values = true
    )]
    #[arg(help_heading = "GNU parallel compatibility")]
    eof: Option<OsString>,

    /// Trim whitespace around each value: n (none), l (left), r (right), lr or rl (both)
    #[arg(long = "trim", env = "FANOUT_TRIM", value_name = "n|l|r|lr|rl", value_parser = Trim::parse)]
    #[arg(help_heading = "GNU parallel compatibility")]
    trim: Option<Trim>,

    /// Link all input sources, value 1 with value 1, 2 with 2...; shorter sources wrap
    /// around (GNU parallel's --link, also --xapply)
    #[arg(long = "link", visible_alias = "xapply", env = "FANOUT_LINK")]
    #[arg(help_heading = "GNU parallel compatibility")]
    link: bool,

    /// Wait at least DURATION between two job starts (e.g. 0.5, 2s)
    #[arg(long = "delay", env = "FANOUT_DELAY", value_name = "DURATION", value_parser = parse_duration)]
    #[arg(help_heading = "GNU parallel compatibility")]
    delay: Option<std::time::Duration>,

    /// Rerun the jobs the joblog has as failed, with the commands it holds (GNU parallel's
    /// option of this name; needs --joblog FILE, and no command or input sources are read)
    #[arg(long = "retry-failed", env = "FANOUT_RETRY_FAILED")]
    #[arg(help_heading = "GNU parallel compatibility")]
    retry_failed: bool,

    /// Run the jobs at niceness adjustment N (through `nice -n N`; local jobs only)
    #[arg(
        long = "nice",
        env = "FANOUT_NICE",
        value_name = "N",
        allow_hyphen_values = true
    )]
    #[arg(help_heading = "GNU parallel compatibility")]
    nice: Option<i32>,

    /// Run the jobs in a random order (the input is read in full first)
    #[arg(long = "shuf", env = "FANOUT_SHUF")]
    #[arg(help_heading = "GNU parallel compatibility")]
    shuf: bool,

    /// Save each job's stdout in a file of its own (parXXXXX.par in --tmpdir or $TMPDIR) and
    /// print the file's name instead of the output
    #[arg(
        long = "files",
        visible_alias = "output-as-files",
        alias = "outputasfiles",
        env = "FANOUT_FILES"
    )]
    #[arg(help_heading = "GNU parallel compatibility")]
    files: bool,
}

impl GnuArgs {
    /// The words that start a source of arguments and of files (`:::` and `::::` unless
    /// `--arg-sep`/`--arg-file-sep` change them).
    pub(super) fn separators(&self) -> (String, String) {
        (
            self.arg_sep.clone().unwrap_or_else(|| ":::".into()),
            self.arg_file_sep.clone().unwrap_or_else(|| "::::".into()),
        )
    }

    /// Puts these options into `config` (built from the other flags).
    pub(super) fn apply(self, config: &mut Config) -> Result<(), String> {
        let (arg_sep, file_sep) = self.separators();
        if arg_sep == file_sep {
            return Err(format!(
                "--arg-sep and --arg-file-sep are both `{arg_sep}`: give them different words"
            ));
        }
        if self.quote {
            config.shell_mode = ShellMode::Quote;
        }
        if self.files {
            if config.output != fanout::config::OutputMode::Group {
                return Err(
                    "--files saves each job's whole stdout in a file: drop --line-buffer/-u".into(),
                );
            }
            config.files = true;
        }
        if self.shuf && config.resume != ResumeMode::Off {
            return Err(
                "--shuf gives the jobs other numbers on every run, so --resume cannot find them: drop one of them".into(),
            );
        }
        if self.shuf && config.pipe.is_some() {
            return Err(
                "--shuf shuffles input values, --pipe reads blocks in order: drop --shuf".into(),
            );
        }
        if self.retry_failed {
            match &config.joblog {
                None => {
                    return Err(
                        "--retry-failed reruns the failed jobs of a joblog: add --joblog FILE"
                            .into(),
                    );
                }
                Some(p) if p.as_os_str() == "-" || config.joblog_append => {
                    return Err("--retry-failed reads the joblog: give --joblog FILE".into());
                }
                Some(_) => {}
            }
            if config.pipe.is_some() || self.shuf {
                return Err(
                    "--retry-failed runs the joblog's commands as they were: drop --pipe and --shuf"
                        .into(),
                );
            }
            config.retry_failed = true;
            config.resume = ResumeMode::ResumeFailed;
            config.command.clear();
            config.sources.clear();
        }
        if self.nice.is_some() && (config.ssh.is_some() || config.cluster.slurm.is_some()) {
            return Err(
                "--nice starts local jobs through nice: with -S or --slurm put `nice -n N` in the command".into(),
            );
        }
        config.nice = self.nice;
        config.delay = self.delay.filter(|d| !d.is_zero());
        config.shuffle = self.shuf;
        if let Some(d) = self.delimiter {
            config.separator = d;
        }
        config.input_filter = InputFilter {
            eof: self.eof.map(std::os::unix::ffi::OsStringExt::into_vec),
            skip_empty: self.no_run_if_empty,
            trim: self.trim.unwrap_or_default(),
            link: self.link,
        };
        Ok(())
    }
}

/// `-d`: one byte, written as itself or as a C escape (GNU parallel's `-d '\t'`).
fn delimiter(s: &str) -> Result<u8, String> {
    let bad = || {
        format!(
            "`{s}` is not one character: give a single character or an escape (\\n, \\t, \\0, \\\\, \\xHH, \\NNN)"
        )
    };
    let b = s.as_bytes();
    match b {
        [c] => Ok(*c),
        [b'\\', rest @ ..] => match rest {
            b"n" => Ok(b'\n'),
            b"t" => Ok(b'\t'),
            b"r" => Ok(b'\r'),
            b"0" => Ok(0),
            b"\\" => Ok(b'\\'),
            [b'x', hex @ ..] if !hex.is_empty() && hex.len() <= 2 => {
                u8::from_str_radix(std::str::from_utf8(hex).map_err(|_| bad())?, 16)
                    .map_err(|_| bad())
            }
            oct if !oct.is_empty()
                && oct.len() <= 3
                && oct.iter().all(|c| (b'0'..=b'7').contains(c)) =>
            {
                u8::from_str_radix(std::str::from_utf8(oct).map_err(|_| bad())?, 8)
                    .map_err(|_| bad())
            }
            _ => Err(bad()),
        },
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delimiters() {
        assert_eq!(delimiter(","), Ok(b','));
        assert_eq!(delimiter("\\t"), Ok(b'\t'));
        assert_eq!(delimiter("\\0"), Ok(0));
        assert_eq!(delimiter("\\x41"), Ok(b'A'));
        assert_eq!(delimiter("\\101"), Ok(b'A'));
        assert!(delimiter("||").is_err());
        assert!(delimiter("").is_err());
    }
}
