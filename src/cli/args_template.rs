//! GNU parallel's options for replacement strings and several arguments per job: `-I` and the
//! `*replace` options, `--plus`, `--rpl`, `-N`/`-n`, `-X`, `-m`, `--xargs`, `-L`/`-l`, `-s`,
//! and the column options (`--colsep`, `--header`, `--csv`). Translated into the `Config`'s `replacements` and `grouping`.

use clap::Args;

use fanout::config::Config;
use fanout::input::{Grouping, Insert};
use fanout::template::Replacements;

use super::usage::for_flag;

/// Replacement strings and arguments per job, with GNU parallel's names.
#[derive(Debug, Args)]
pub struct TemplateArgs {
    /// Use STR instead of {} (GNU parallel's -I)
    #[arg(short = 'I', env = "FANOUT_I", value_name = "STR")]
    #[arg(help_heading = "Replacement strings")]
    replace: Option<String>,

    /// Use STR instead of {.}
    #[arg(
        long = "extensionreplace",
        visible_alias = "er",
        env = "FANOUT_EXTENSIONREPLACE",
        value_name = "STR"
    )]
    #[arg(help_heading = "Replacement strings")]
    extensionreplace: Option<String>,

    /// Use STR instead of {/}
    #[arg(
        long = "basenamereplace",
        visible_alias = "bnr",
        env = "FANOUT_BASENAMEREPLACE",
        value_name = "STR"
    )]
    #[arg(help_heading = "Replacement strings")]
    basenamereplace: Option<String>,

    /// Use STR instead of {//}
    #[arg(
        long = "dirnamereplace",
        visible_alias = "dnr",
        env = "FANOUT_DIRNAMEREPLACE",
        value_name = "STR"
    )]
    #[arg(help_heading = "Replacement strings")]
    dirnamereplace: Option<String>,

    /// Use STR instead of {/.}
    #[arg(
        long = "basenameextensionreplace",
        visible_alias = "bner",
        env = "FANOUT_BASENAMEEXTENSIONREPLACE",
        value_name = "STR"
    )]
    #[arg(help_heading = "Replacement strings")]
    basenameextensionreplace: Option<String>,

    /// Use STR instead of {#}
    #[arg(long = "seqreplace", env = "FANOUT_SEQREPLACE", value_name = "STR")]
    #[arg(help_heading = "Replacement strings")]
    seqreplace: Option<String>,

    /// Use STR instead of {%}
    #[arg(long = "slotreplace", env = "FANOUT_SLOTREPLACE", value_name = "STR")]
    #[arg(help_heading = "Replacement strings")]
    slotreplace: Option<String>,

    /// GNU parallel's extra replacement strings: {..} {+.} {%suffix} {#prefix} {/old/new} {:-default} {:N:M} {##} ...
    #[arg(long, env = "FANOUT_PLUS")]
    #[arg(help_heading = "Replacement strings")]
    plus: bool,

    /// Define a replacement string: 'TAG perl-expression' (TAG may hold a (regex) read as $$1)
    #[arg(long, env = "FANOUT_RPL", value_name = "'TAG PERL'")]
    #[arg(help_heading = "Replacement strings")]
    rpl: Vec<String>,

    /// At most N arguments per job, named {1}..{N}; -N0 runs the command without arguments
    #[arg(
        short = 'N',
        long = "max-replace-args",
        env = "FANOUT_MAX_REPLACE_ARGS",
        value_name = "N"
    )]
    #[arg(help_heading = "Arguments per job")]
    max_replace_args: Option<String>,

    /// At most N arguments per job (xargs style)
    #[arg(
        short = 'n',
        long = "max-args",
        env = "FANOUT_MAX_ARGS",
        value_name = "N"
    )]
    #[arg(help_heading = "Arguments per job")]
    max_args: Option<String>,

    /// As many arguments as fit; a word holding {} is repeated for each (context replace)
    #[arg(short = 'X', env = "FANOUT_X", conflicts_with_all = ["m", "xargs"])]
    #[arg(help_heading = "Arguments per job")]
    x: bool,

    /// As many arguments as fit; {} is all of them, space separated
    #[arg(short = 'm', env = "FANOUT_M", conflicts_with = "xargs")]
    #[arg(help_heading = "Arguments per job")]
    m: bool,

    /// As many arguments as fit, like xargs (the last ones are not spread over the slots)
    #[arg(long, env = "FANOUT_XARGS")]
    #[arg(help_heading = "Arguments per job")]
    xargs: bool,

    /// At most N input lines per job (a line ending in a blank goes on on the next)
    #[arg(
        short = 'L',
        env = "FANOUT_L",
        value_name = "N",
        conflicts_with = "max_lines"
    )]
    #[arg(help_heading = "Arguments per job")]
    l_upper: Option<String>,

    /// As -L; N defaults to 1 (-l, --max-lines=N)
    #[arg(short = 'l', long = "max-lines", env = "FANOUT_MAX_LINES", value_name = "N", num_args = 0..=1, require_equals = true, default_missing_value = "1")]
    #[arg(help_heading = "Arguments per job")]
    max_lines: Option<String>,

    /// The longest command line, in characters, when filling jobs with -X, -m, --xargs
    #[arg(
        short = 's',
        long = "max-chars",
        env = "FANOUT_MAX_CHARS",
        value_name = "N"
    )]
    #[arg(help_heading = "Arguments per job")]
    max_chars: Option<String>,

    /// Split each input value into columns {1} {2} ... at REGEX (each trimmed of blanks)
    #[arg(
        short = 'C',
        long = "colsep",
        visible_alias = "col-sep",
        env = "FANOUT_COLSEP",
        value_name = "REGEX"
    )]
    #[arg(help_heading = "Arguments per job")]
    colsep: Option<String>,

    /// The first value of each input names its columns: {name} (any value but 0; 0: the file names name the sources)
    #[arg(long, env = "FANOUT_HEADER", value_name = "REGEX")]
    #[arg(help_heading = "Arguments per job")]
    header: Option<String>,

    /// Read each input value as a CSV record: fields {1} {2} ... (separator: --colsep, else ,)
    #[arg(long, env = "FANOUT_CSV")]
    #[arg(help_heading = "Arguments per job")]
    csv: bool,
}

/// A count with GNU parallel's unit prefixes: k m g t p (powers of 1000), K M G T P (of 1024).
fn count(flag: &str, s: &str) -> Result<usize, String> {
    let bad = || {
        for_flag(
            flag,
            s,
            format!(
                "invalid count `{s}`: use a whole number, optionally with k, M, G (e.g. 5, 2k)"
            ),
        )
    };
    let (num, mult) = match s.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let p = match c.to_ascii_lowercase() {
                'k' => 1,
                'm' => 2,
                'g' => 3,
                't' => 4,
                'p' => 5,
                _ => return Err(bad()),
            };
            let base: usize = if c.is_ascii_lowercase() { 1000 } else { 1024 };
            (&s[..i], base.pow(p))
        }
        _ => (s, 1),
    };
    num.trim()
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(bad)
}

impl TemplateArgs {
    /// Puts the replacement strings and the grouping into `config`.
    pub fn apply(self, config: &mut Config) -> Result<(), String> {
        config.replacements = Replacements {
            whole: self.replace,
            no_ext: self.extensionreplace,
            base: self.basenamereplace,
            dir: self.dirnamereplace,
            base_no_ext: self.basenameextensionreplace,
            seq: self.seqreplace,
            slot: self.slotreplace,
            plus: self.plus,
            rpl: self.rpl,
        };
        let n_upper = self
            .max_replace_args
            .as_deref()
            .map(|v| count("-N", v))
            .transpose()?;
        let n_lower = self
            .max_args
            .as_deref()
            .map(|v| count("-n", v))
            .transpose()?;
        let lines = match (&self.l_upper, &self.max_lines) {
            (Some(v), _) => Some(count("-L", v)?),
            // GNU parallel: -l 0 is -l 1.
            (None, Some(v)) => Some(count("--max-lines", v)?.max(1)),
            (None, None) => None,
        };
        let max_chars = self
            .max_chars
            .as_deref()
            .map(|v| count("--max-chars", v))
            .transpose()?;
        if max_chars == Some(0) {
            return Err(for_flag(
                "--max-chars",
                "0",
                "invalid length `0`: give the longest command line in characters".into(),
            ));
        }
        config.grouping = Grouping {
            max_args: n_upper.or(n_lower),
            replace_args: n_upper.is_some(),
            max_lines: lines,
            max_chars,
            insert: if self.x {
                Insert::Context
            } else if self.m {
                Insert::Multiple
            } else if self.xargs {
                Insert::Xargs
            } else {
                Insert::One
            },
            colsep: self.colsep,
            header: self.header,
            csv: self.csv,
        };
        if config.command.is_empty() && config.grouping.is_grouping() {
            return Err(
                "-N, -n, -L, -X, -m and --xargs put several arguments in one command: give a command before the input"
                    .into(),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_take_unit_prefixes() {
        assert_eq!(count("-N", "3"), Ok(3));
        assert_eq!(count("-N", "2k"), Ok(2000));
        assert_eq!(count("-N", "1K"), Ok(1024));
        assert!(count("-N", "x").is_err());
        assert!(count("-N", "-1").is_err());
    }
}
