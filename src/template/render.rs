//! Filling a parsed template in for one job: perl expressions first (one round trip to the
//! evaluator per job), then one walk over the tokens. In shell mode values are quoted (unless
//! perl called `uq()`); in direct mode a word that is only a value placeholder becomes one
//! argument per value, as the shell would split GNU parallel's `{}`. With `-X` (context
//! replace) each space-free piece of a word holding a value is repeated per argument.

use std::collections::HashMap;
use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use super::perl::Request;
use super::shell::{Run, Shell};
use super::token::{self, Placeholder, Token};
use super::{RenderError, Template};
use crate::job::{Job, JobSpec};
use crate::quote::quote_into;

/// The perl values of one job, by (expression, argument index).
#[derive(Default)]
struct PerlValues {
    index: HashMap<(usize, Option<usize>), usize>,
    values: Vec<(bool, Vec<u8>)>,
}

impl PerlValues {
    fn get(&self, expr: usize, arg: Option<usize>) -> (bool, &[u8]) {
        match self.index.get(&(expr, arg)) {
            Some(&i) => (self.values[i].0, &self.values[i].1),
            None => (false, b""),
        }
    }
}

/// The argument a position names: `n` from 1, or from the end when negative.
fn position(n: i64, len: usize) -> Option<usize> {
    if n > 0 {
        let i = usize::try_from(n - 1).ok()?;
        (i < len).then_some(i)
    } else {
        let back = usize::try_from(-n).ok()?;
        len.checked_sub(back)
    }
}

/// What one job's placeholders are filled with.
struct Fill<'a> {
    job: &'a Job,
    slot: u32,
    perl: &'a PerlValues,
    /// Shell mode: values are quoted.
    quote: bool,
}

impl Fill<'_> {
    fn value(&self, out: &mut Vec<u8>, v: &[u8], unquoted: bool) {
        if self.quote && !unquoted {
            quote_into(out, v);
        } else {
            out.extend_from_slice(v);
        }
    }

    /// Writes `p`. `current`: the argument a context group is being repeated for.
    fn put(&self, out: &mut Vec<u8>, p: Placeholder, current: Option<usize>) {
        let args = &self.job.args;
        match p {
            Placeholder::Seq => out.extend_from_slice(self.job.id.0.to_string().as_bytes()),
            Placeholder::Slot => out.extend_from_slice(self.slot.to_string().as_bytes()),
            Placeholder::Value {
                input: Some(n),
                transform,
            } => {
                let v = position(n, args.len()).map_or(&b""[..], |i| &args[i]);
                self.value(out, token::transform(v, transform), false);
            }
            Placeholder::Value {
                input: None,
                transform,
            } => match current {
                Some(i) => self.value(out, token::transform(&args[i], transform), false),
                None if args.is_empty() => self.value(out, b"", false),
                None => {
                    for (i, a) in args.iter().enumerate() {
                        if i > 0 {
                            out.push(b' ');
                        }
                        self.value(out, token::transform(a, transform), false);
                    }
                }
            },
            Placeholder::Perl {
                expr,
                input: Some(n),
            } => {
                if let Some(i) = position(n, args.len()) {
                    let (uq, v) = self.perl.get(expr, Some(i));
                    self.value(out, v, uq);
                }
            }
            Placeholder::Perl { expr, input: None } => match current {
                Some(i) => {
                    let (uq, v) = self.perl.get(expr, Some(i));
                    self.value(out, v, uq);
                }
                None if args.is_empty() => {
                    let (uq, v) = self.perl.get(expr, None);
                    self.value(out, v, uq);
                }
                None => {
                    for i in 0..args.len() {
                        if i > 0 {
                            out.push(b' ');
                        }
                        let (uq, v) = self.perl.get(expr, Some(i));
                        self.value(out, v, uq);
                    }
                }
            },
        }
    }

    fn tokens(&self, out: &mut Vec<u8>, tokens: &[Token], current: Option<usize>) {
        for t in tokens {
            match t {
                Token::Literal(l) => out.extend_from_slice(l),
                Token::Placeholder(p) => self.put(out, *p, current),
            }
        }
    }

    /// The renderings of one word: one per argument when the word is a value placeholder
    /// alone (or, with `context`, a single piece holding one); else one.
    fn word(&self, word: &[Token], context: bool) -> Vec<Vec<u8>> {
        let args = self.job.args.len();
        if context {
            let pieces = pieces(word);
            if let [Piece::Group(g)] = pieces.as_slice() {
                if per_arg(g) && args > 0 {
                    return (0..args)
                        .map(|i| {
                            let mut out = Vec::new();
                            self.tokens(&mut out, g, Some(i));
                            out
                        })
                        .collect();
                }
            } else {
                let mut out = Vec::new();
                for piece in &pieces {
                    match piece {
                        Piece::Space(s) => out.extend_from_slice(s),
                        Piece::Group(g) if per_arg(g) && args > 0 => {
                            for i in 0..args {
                                if i > 0 {
                                    out.push(b' ');
                                }
                                self.tokens(&mut out, g, Some(i));
                            }
                        }
                        Piece::Group(g) => self.tokens(&mut out, g, None),
                    }
                }
                return vec![out];
            }
        } else if !self.quote
            && args > 1
            && let [Token::Placeholder(p)] = word
            && is_per_arg(p)
        {
            return (0..args)
                .map(|i| {
                    let mut out = Vec::new();
                    self.put(&mut out, *p, Some(i));
                    out
                })
                .collect();
        }
        let mut out = Vec::new();
        self.tokens(&mut out, word, None);
        vec![out]
    }
}

/// A placeholder that stands for each argument in turn (not positional, not `{#}`/`{%}`).
fn is_per_arg(p: &Placeholder) -> bool {
    matches!(
        p,
        Placeholder::Value { input: None, .. } | Placeholder::Perl { input: None, .. }
    )
}

fn per_arg(tokens: &[Token]) -> bool {
    tokens
        .iter()
        .any(|t| matches!(t, Token::Placeholder(p) if is_per_arg(p)))
}

/// A word cut at its blanks, as GNU parallel cuts a command line into context groups.
enum Piece {
    Group(Vec<Token>),
    Space(Vec<u8>),
}

fn pieces(word: &[Token]) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut group: Vec<Token> = Vec::new();
    for t in word {
        match t {
            Token::Placeholder(_) => group.push(t.clone()),
            Token::Literal(l) => {
                let mut lit = Vec::new();
                for &b in l {
                    if matches!(b, b' ' | b'\t' | b'\n') {
                        if !lit.is_empty() {
                            group.push(Token::Literal(std::mem::take(&mut lit)));
                        }
                        if !group.is_empty() {
                            out.push(Piece::Group(std::mem::take(&mut group)));
                        }
                        match out.last_mut() {
                            Some(Piece::Space(s)) => s.push(b),
                            _ => out.push(Piece::Space(vec![b])),
                        }
                    } else {
                        lit.push(b);
                    }
                }
                if !lit.is_empty() {
                    group.push(Token::Literal(lit));
                }
            }
        }
    }
    if !group.is_empty() || out.is_empty() {
        out.push(Piece::Group(group));
    }
    out
}

impl Template {
    /// Evaluates the job's perl expressions, each once per argument it reads.
    fn evaluate(&self, job: &Job, slot: u32) -> Result<PerlValues, RenderError> {
        let Some(perl) = &self.perl else {
            return Ok(PerlValues::default());
        };
        let mut index = HashMap::new();
        let mut pairs = Vec::new();
        let mut want = |key: (usize, Option<usize>)| {
            index.entry(key).or_insert_with(|| {
                pairs.push(key);
                pairs.len() - 1
            });
        };
        let n = job.args.len();
        for t in self.words.iter().flatten() {
            match t {
                Token::Placeholder(Placeholder::Perl {
                    expr,
                    input: Some(p),
                }) => {
                    if let Some(i) = position(*p, n) {
                        want((*expr, Some(i)));
                    }
                }
                Token::Placeholder(Placeholder::Perl { expr, input: None }) if n == 0 => {
                    want((*expr, None));
                }
                Token::Placeholder(Placeholder::Perl { expr, input: None }) => {
                    for i in 0..n {
                        want((*expr, Some(i)));
                    }
                }
                _ => {}
            }
        }
        let e = perl
            .eval(&Request {
                seq: job.id.0,
                slot,
                total: self.total(),
                args: &job.args,
                pairs: &pairs,
            })
            .map_err(RenderError::Perl)?;
        if e.skip {
            return Err(RenderError::Skip);
        }
        Ok(PerlValues {
            index,
            values: e.values,
        })
    }

    /// Renders one job as plain text: the words joined by spaces, nothing appended or quoted
    /// (for `--tagstring`).
    pub fn render_plain(&self, job: &Job, slot: u32) -> Result<Vec<u8>, RenderError> {
        let perl = self.evaluate(job, slot)?;
        let fill = Fill {
            job,
            slot,
            perl: &perl,
            quote: false,
        };
        let mut out = Vec::new();
        for (i, word) in self.words.iter().enumerate() {
            if i > 0 {
                out.push(b' ');
            }
            fill.tokens(&mut out, word, None);
        }
        Ok(out)
    }

    /// Renders one job into the command to start.
    pub fn render(&self, job: &Job, slot: u32) -> Result<JobSpec, RenderError> {
        if self.line_is_command {
            let mut script = Vec::new();
            for (i, a) in job.args.iter().enumerate() {
                if i > 0 {
                    script.push(b' ');
                }
                script.extend_from_slice(a);
            }
            return Ok(Shell::Sh.spec(script, job));
        }
        let perl = self.evaluate(job, slot)?;
        let script_shell = match self.run {
            Run::Script(sh) => Some(sh),
            Run::Direct | Run::Quoted(_) => None,
        };
        let fill = Fill {
            job,
            slot,
            perl: &perl,
            quote: script_shell.is_some(),
        };
        if let Some(sh) = script_shell {
            let mut script = Vec::new();
            for (i, word) in self.words.iter().enumerate() {
                if i > 0 {
                    script.push(b' ');
                }
                for (k, w) in fill.word(word, self.context).into_iter().enumerate() {
                    if k > 0 {
                        script.push(b' ');
                    }
                    script.extend_from_slice(&w);
                }
            }
            if self.append_args {
                for a in &job.args {
                    script.push(b' ');
                    quote_into(&mut script, a);
                }
            }
            return Ok(sh.spec(script, job));
        }
        let mut argv = Vec::with_capacity(self.words.len() + job.args.len());
        for word in &self.words {
            argv.extend(
                fill.word(word, self.context)
                    .into_iter()
                    .map(OsString::from_vec),
            );
        }
        if self.append_args {
            argv.extend(job.args.iter().map(|a| OsString::from_vec(a.clone())));
        }
        if let Run::Quoted(sh) = self.run {
            // A builtin or an exported function: only a shell runs it, each word one word.
            let mut script = Vec::new();
            for (i, a) in argv.iter().enumerate() {
                if i > 0 {
                    script.push(b' ');
                }
                quote_into(&mut script, a.as_bytes());
            }
            return Ok(sh.spec(script, job));
        }
        Ok(JobSpec {
            argv,
            shell: false,
            stdin: job.stdin.clone(),
            files: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_from_both_ends() {
        assert_eq!(position(1, 2), Some(0));
        assert_eq!(position(3, 2), None);
        assert_eq!(position(-1, 2), Some(1));
        assert_eq!(position(-3, 2), None);
    }
}
