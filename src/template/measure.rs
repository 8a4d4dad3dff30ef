//! How long a job's command line grows with each argument, so `-X`, `-m` and `--xargs` fill a
//! job up to `-s` (GNU parallel's line length: words joined by spaces, values quoted in shell
//! mode) and to what `execve` takes (argv bytes and pointers within `ARG_MAX` less the
//! environment; one string, such as a `sh -c` script, within 128 KiB). Perl values are
//! counted as their input's length (they are evaluated only when the job starts).

use super::Template;
use super::token::{self, Placeholder, Token, Transform};
use crate::input::{Cost, Measure};
use crate::quote::quote_into;

/// A template's measure.
pub(crate) struct LineMeasure {
    base: Cost,
    /// Per argument: its value as each per-argument placeholder takes it.
    per_value: Vec<Option<Transform>>,
    /// Literal bytes repeated with each argument (`-X` context).
    context: usize,
    /// Positional placeholders: (position, transform).
    positional: Vec<(i64, Option<Transform>)>,
    shell: bool,
    append: bool,
    limit: Cost,
}

const POINTER: usize = std::mem::size_of::<usize>();

fn quoted_len(v: &[u8]) -> usize {
    let mut out = Vec::new();
    quote_into(&mut out, v);
    out.len()
}

impl LineMeasure {
    fn value_len(&self, v: &[u8]) -> usize {
        if self.shell { quoted_len(v) } else { v.len() }
    }
}

impl Measure for LineMeasure {
    fn base(&self) -> Cost {
        self.base
    }

    fn arg(&self, k: usize, value: &[u8]) -> Cost {
        let mut c = Cost::default();
        let mut add = |len: usize, own_string: bool| {
            c.line += len;
            c.sys += len
                + if own_string && !self.shell {
                    1 + POINTER
                } else {
                    0
                };
        };
        for t in &self.per_value {
            let v = t.map_or(value, |t| token::transform(value, t));
            // In context mode the separator comes with the repeated piece.
            add(
                self.value_len(v) + usize::from(self.context == 0),
                self.context > 0,
            );
        }
        if self.context > 0 {
            add(self.context, false);
        }
        for (pos, t) in &self.positional {
            if *pos == k as i64 + 1 {
                let v = t.map_or(value, |t| token::transform(value, t));
                add(self.value_len(v), false);
            }
        }
        if self.append {
            add(self.value_len(value) + 1, true);
        }
        c
    }

    fn limit(&self) -> Cost {
        self.limit
    }
}

impl Template {
    /// The measure that fills this template's jobs: `max_chars` is `-s`; `(total, one)` the
    /// system's limits for all of argv and for one string.
    pub fn measure(&self, max_chars: Option<usize>, system: (usize, usize)) -> LineMeasure {
        let (total, one) = system;
        let mut base = 0usize;
        let mut per_value = Vec::new();
        let mut positional = Vec::new();
        let mut context = 0;
        let mut one_string = self.in_shell();
        for (i, word) in self.words.iter().enumerate() {
            if i > 0 {
                base += 1;
            }
            let per_arg_here = word.iter().any(|t| {
                matches!(
                    t,
                    Token::Placeholder(
                        Placeholder::Value { input: None, .. }
                            | Placeholder::Perl { input: None, .. }
                    )
                )
            });
            let lit: usize = word
                .iter()
                .map(|t| match t {
                    Token::Literal(l) => l.len(),
                    Token::Placeholder(Placeholder::Seq | Placeholder::Slot) => 3,
                    Token::Placeholder(_) => 0,
                })
                .sum();
            if self.context && per_arg_here {
                context += lit + 1;
                base = base.saturating_sub(1);
            } else {
                base += lit;
            }
            if !self.context && per_arg_here && word.len() > 1 {
                one_string = true;
            }
            for t in word {
                match t {
                    Token::Placeholder(Placeholder::Value {
                        input: None,
                        transform,
                    }) => {
                        per_value.push(Some(*transform));
                        base = base.saturating_sub(usize::from(!self.context));
                    }
                    Token::Placeholder(Placeholder::Perl { input: None, .. }) => {
                        per_value.push(None);
                        base = base.saturating_sub(usize::from(!self.context));
                    }
                    Token::Placeholder(Placeholder::Value {
                        input: Some(n),
                        transform,
                    }) => positional.push((*n, Some(*transform))),
                    Token::Placeholder(Placeholder::Perl { input: Some(n), .. }) => {
                        positional.push((*n, None));
                    }
                    _ => {}
                }
            }
        }
        let sys_base = if self.in_shell() {
            base + 6 + 3 + POINTER * 3
        } else {
            base + self.words.len() * (1 + POINTER)
        };
        let mut line = max_chars.unwrap_or(usize::MAX);
        if one_string {
            line = line.min(one.saturating_sub(64));
        }
        LineMeasure {
            base: Cost {
                line: base,
                sys: sys_base,
            },
            per_value,
            context,
            positional,
            shell: self.in_shell(),
            append: self.append_args,
            limit: Cost { line, sys: total },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::OsString;

    use super::*;
    use crate::template::{ShellMode, TemplateOptions};

    fn fits(words: &[&str], context: bool, s: usize, values: &[&str]) -> usize {
        let words: Vec<OsString> = words.iter().map(OsString::from).collect();
        let t = Template::parse_with(
            &words,
            ShellMode::Auto,
            usize::MAX,
            &TemplateOptions {
                context_replace: context,
                ..Default::default()
            },
        )
        .unwrap();
        let m = t.measure(Some(s), (usize::MAX, usize::MAX));
        let mut c = m.base();
        let mut n = 0;
        for (k, v) in values.iter().enumerate() {
            let a = m.arg(k, v.as_bytes());
            if n > 0 && c.line + a.line >= s {
                break;
            }
            c.line += a.line;
            n += 1;
        }
        n
    }

    #[test]
    fn counts_lines_as_gnu_parallel() {
        let v = ["a", "b", "c", "d", "e", "f", "g", "h"];
        // GNU parallel -m -s 13 echo p{}q: "echo pa b cq" (12 chars) per job.
        assert_eq!(fits(&["echo", "p{}q"], false, 13, &v), 3);
        assert_eq!(fits(&["echo", "p{}q"], false, 15, &v), 4);
        // -X -s 17: "echo paq pbq pcq" is 16.
        assert_eq!(fits(&["echo", "p{}q"], true, 17, &v), 3);
        assert_eq!(fits(&["echo", "p{}q"], true, 16, &v), 2);
        // Appended: "echo a b c d" is 12.
        assert_eq!(fits(&["echo"], false, 13, &v), 4);
    }
}
