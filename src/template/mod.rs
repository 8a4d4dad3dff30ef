//! Command templates: parsed once into tokens, rendered once per job into an argv. A substituted
//! value is never scanned again, so input containing `{}` comes out literally.

mod token;

pub(crate) use token::{Placeholder, Token};

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use crate::job::{Job, JobSpec};
use crate::quote::quote_into;

/// A template that could not be parsed; `offset` is the byte offset of the problem in its word.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TemplateError {
    /// A `{...}` that is no known replacement string.
    #[error(
        "unknown replacement string `{text}` in `{word}`: use {{}} {{.}} {{/}} {{//}} {{/.}} {{#}} {{%}} or {{N}}; write {{{{ for a literal brace"
    )]
    Unknown {
        /// The template word it is in (lossy UTF-8).
        word: String,
        /// The replacement string as written.
        text: String,
        /// Its byte offset in `word`.
        offset: usize,
    },
    /// A `{` that starts a replacement string but is never closed.
    #[error(
        "unclosed replacement string `{text}` in `{word}`: close it with `}}`, or write {{{{ for a literal brace"
    )]
    Unclosed {
        /// The template word it is in (lossy UTF-8).
        word: String,
        /// The word from the `{` on.
        text: String,
        /// The byte offset of the `{` in `word`.
        offset: usize,
    },
    /// A bash-only operator (`&>` or `|&`) given as a word of its own.
    #[error(
        "`{word}` is bash syntax, but jobs run in sh (where it means something else): write {instead}"
    )]
    BashOnly {
        /// The operator.
        word: &'static str,
        /// The sh spelling to write instead.
        instead: &'static str,
    },
    /// A `{N}` whose N is more than the number of input sources.
    #[error(
        "replacement string `{text}` refers to input {n}, but there are only {groups} input source(s)"
    )]
    NoSuchInput {
        /// The replacement string as written back (`{3}`, `{3.}`, ...).
        text: String,
        /// The input it refers to, counted from 1.
        n: usize,
        /// How many input sources there are.
        groups: usize,
    },
}

/// How the command is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShellMode {
    /// Decide from the template: a shell only where it has shell syntax.
    Auto,
    /// Always through `sh -c` (`--shell`).
    Always,
}

/// A parsed command template.
#[derive(Debug, Clone)]
pub(crate) struct Template {
    words: Vec<Vec<Token>>,
    shell: bool,
    /// True when the template names no replacement string, so the arguments are appended.
    append_args: bool,
    /// Each input line is itself a command (no command given).
    line_is_command: bool,
}

/// Characters that make a single-word command a shell command line.
const SHELL_SYNTAX: &[u8] = b" \t\n|&;<>()$`\\\"'*?[]#~=";
/// Words that, standing alone among several, are shell operators.
const SHELL_OPERATORS: &[&[u8]] = &[
    b"|", b"||", b"&&", b";", b">", b">>", b"<", b"2>", b"2>>", b"2>&1", b"&",
];
/// bash's operators, which POSIX `sh` (dash) reads differently: `a &> f` runs `a` in the
/// background, `a |& b` is a syntax error. Refused with the portable spelling.
const BASH_OPERATORS: &[(&str, &str)] = &[("&>", "`> FILE 2>&1`"), ("|&", "`2>&1 |`")];

impl Template {
    /// Parses the command words. `groups` is the number of input sources (for `{N}` checks).
    pub fn parse(
        words: &[OsString],
        mode: ShellMode,
        groups: usize,
    ) -> Result<Template, TemplateError> {
        if words.is_empty() {
            return Ok(Template {
                words: Vec::new(),
                shell: true,
                append_args: false,
                line_is_command: true,
            });
        }
        let mut parsed = Vec::with_capacity(words.len());
        let mut any_placeholder = false;
        for w in words {
            if let Some((word, instead)) = BASH_OPERATORS
                .iter()
                .find(|(op, _)| words.len() > 1 && w.as_bytes() == op.as_bytes())
            {
                return Err(TemplateError::BashOnly { word, instead });
            }
            let tokens = parse_word(w.as_bytes())?;
            for t in &tokens {
                if let Token::Placeholder(p) = t {
                    any_placeholder = true;
                    if let Placeholder::Value { input: Some(n), .. } = p
                        && *n > groups
                    {
                        return Err(TemplateError::NoSuchInput {
                            text: p.to_string(),
                            n: *n,
                            groups,
                        });
                    }
                }
            }
            parsed.push(tokens);
        }
        let shell = match mode {
            ShellMode::Always => true,
            ShellMode::Auto => needs_shell(&parsed),
        };
        Ok(Template {
            words: parsed,
            shell,
            append_args: !any_placeholder,
            line_is_command: false,
        })
    }

    /// True when jobs run through `sh -c`.
    #[cfg(test)]
    pub fn is_shell(&self) -> bool {
        self.shell
    }

    /// Renders one job as plain text: the words joined by spaces, nothing appended or quoted
    /// (for `--tagstring`).
    pub fn render_plain(&self, job: &Job, slot: u32) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, word) in self.words.iter().enumerate() {
            if i > 0 {
                out.push(b' ');
            }
            for t in word {
                match t {
                    Token::Literal(l) => out.extend_from_slice(l),
                    Token::Placeholder(p) => render_raw(&mut out, *p, job, slot),
                }
            }
        }
        out
    }

    /// Renders one job into the command to start.
    pub fn render(&self, job: &Job, slot: u32) -> JobSpec {
        if self.line_is_command {
            let mut script = Vec::new();
            for (i, a) in job.args.iter().enumerate() {
                if i > 0 {
                    script.push(b' ');
                }
                script.extend_from_slice(a);
            }
            return shell_spec(script, job);
        }
        if self.shell {
            let mut script = Vec::new();
            for (i, word) in self.words.iter().enumerate() {
                if i > 0 {
                    script.push(b' ');
                }
                for t in word {
                    match t {
                        Token::Literal(l) => script.extend_from_slice(l),
                        Token::Placeholder(p) => render_quoted(&mut script, *p, job, slot),
                    }
                }
            }
            if self.append_args {
                for a in &job.args {
                    script.push(b' ');
                    quote_into(&mut script, a);
                }
            }
            return shell_spec(script, job);
        }
        let mut argv = Vec::with_capacity(self.words.len() + job.args.len());
        for word in &self.words {
            // A word that is exactly `{}` (or `{.}`...) stands for every input value, one
            // argument each, as the shell would split GNU parallel's `{}`.
            if let [
                Token::Placeholder(Placeholder::Value {
                    input: None,
                    transform,
                }),
            ] = word.as_slice()
                && job.args.len() > 1
            {
                for a in &job.args {
                    argv.push(OsString::from_vec(token::transform(a, *transform).to_vec()));
                }
                continue;
            }
            let mut arg = Vec::new();
            for t in word {
                match t {
                    Token::Literal(l) => arg.extend_from_slice(l),
                    Token::Placeholder(p) => render_raw(&mut arg, *p, job, slot),
                }
            }
            argv.push(OsString::from_vec(arg));
        }
        if self.append_args {
            argv.extend(job.args.iter().map(|a| OsString::from_vec(a.clone())));
        }
        JobSpec {
            argv,
            shell: false,
            stdin: job.stdin.clone(),
        }
    }
}

fn shell_spec(script: Vec<u8>, job: &Job) -> JobSpec {
    JobSpec {
        argv: vec!["sh".into(), "-c".into(), OsString::from_vec(script)],
        shell: true,
        stdin: job.stdin.clone(),
    }
}

fn needs_shell(words: &[Vec<Token>]) -> bool {
    let literal_has = |w: &[Token], f: &dyn Fn(&[u8]) -> bool| {
        w.iter().any(|t| matches!(t, Token::Literal(l) if f(l)))
    };
    if let [only] = words {
        return literal_has(only, &|l| l.iter().any(|b| SHELL_SYNTAX.contains(b)));
    }
    words.iter().any(|w| match w.as_slice() {
        [Token::Literal(l)] => SHELL_OPERATORS.contains(&l.as_slice()),
        _ => false,
    })
}

fn parse_word(w: &[u8]) -> Result<Vec<Token>, TemplateError> {
    let mut tokens = Vec::new();
    let mut lit = Vec::new();
    let mut i = 0;
    while i < w.len() {
        match w[i] {
            b'{' if w.get(i + 1) == Some(&b'{') => {
                lit.push(b'{');
                i += 2;
            }
            b'}' if w.get(i + 1) == Some(&b'}') => {
                lit.push(b'}');
                i += 2;
            }
            b'{' => {
                let close = w[i + 1..].iter().position(|&b| b == b'}');
                let inner = &w[i + 1..close.map_or(w.len(), |c| i + 1 + c)];
                match (close, token::parse_placeholder(inner)) {
                    (Some(c), Ok(Some(p))) => {
                        if !lit.is_empty() {
                            tokens.push(Token::Literal(std::mem::take(&mut lit)));
                        }
                        tokens.push(Token::Placeholder(p));
                        i += c + 2;
                    }
                    (_, Ok(None)) => {
                        lit.push(b'{');
                        i += 1;
                    }
                    (None, Ok(Some(_))) if !inner.is_empty() => {
                        return Err(TemplateError::Unclosed {
                            word: String::from_utf8_lossy(w).into_owned(),
                            text: String::from_utf8_lossy(&w[i..]).into_owned(),
                            offset: i,
                        });
                    }
                    (None, _) => {
                        lit.push(b'{');
                        i += 1;
                    }
                    (Some(c), Err(())) => return Err(unknown(w, i, &w[i..i + c + 2])),
                }
            }
            b => {
                lit.push(b);
                i += 1;
            }
        }
    }
    if !lit.is_empty() || tokens.is_empty() {
        tokens.push(Token::Literal(lit));
    }
    Ok(tokens)
}

fn unknown(word: &[u8], offset: usize, text: &[u8]) -> TemplateError {
    TemplateError::Unknown {
        word: String::from_utf8_lossy(word).into_owned(),
        text: String::from_utf8_lossy(text).into_owned(),
        offset,
    }
}

fn render_raw(out: &mut Vec<u8>, p: Placeholder, job: &Job, slot: u32) {
    match p {
        Placeholder::Seq => out.extend_from_slice(job.id.0.to_string().as_bytes()),
        Placeholder::Slot => out.extend_from_slice(slot.to_string().as_bytes()),
        Placeholder::Value {
            input: Some(n),
            transform,
        } => {
            // A job may have fewer values than `{N}` asks for (a block of `--pipe` has none).
            let value = job.args.get(n - 1).map_or(&[][..], Vec::as_slice);
            out.extend_from_slice(token::transform(value, transform))
        }
        Placeholder::Value {
            input: None,
            transform,
        } => {
            for (i, a) in job.args.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                out.extend_from_slice(token::transform(a, transform));
            }
        }
    }
}

fn render_quoted(out: &mut Vec<u8>, p: Placeholder, job: &Job, slot: u32) {
    match p {
        Placeholder::Value {
            input: None,
            transform,
        } => {
            for (i, a) in job.args.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                quote_into(out, token::transform(a, transform));
            }
        }
        _ => {
            let mut raw = Vec::new();
            render_raw(&mut raw, p, job, slot);
            quote_into(out, &raw);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::JobId;

    fn words(ws: &[&str]) -> Vec<OsString> {
        ws.iter().map(OsString::from).collect()
    }

    fn job(args: &[&str]) -> Job {
        Job::new(
            JobId(7),
            args.iter().map(|a| a.as_bytes().to_vec()).collect(),
        )
    }

    fn argv(spec: &JobSpec) -> Vec<String> {
        spec.argv
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn direct_exec_substitutes_and_never_rescans() {
        let t =
            Template::parse(&words(&["echo", "x{}y", "{#}", "{%}"]), ShellMode::Auto, 1).unwrap();
        assert!(!t.is_shell());
        let spec = t.render(&job(&["{1} $(id)"]), 3);
        assert_eq!(argv(&spec), ["echo", "x{1} $(id)y", "7", "3"]);
    }

    #[test]
    fn appends_args_when_no_placeholder() {
        let t = Template::parse(&words(&["echo", "hi"]), ShellMode::Auto, 2).unwrap();
        assert_eq!(
            argv(&t.render(&job(&["a", "b"]), 1)),
            ["echo", "hi", "a", "b"]
        );
    }

    #[test]
    fn single_string_with_shell_syntax_uses_shell_and_quotes() {
        let t = Template::parse(&words(&["echo {} | wc -c"]), ShellMode::Auto, 1).unwrap();
        assert!(t.is_shell());
        let spec = t.render(&job(&["it's; $x"]), 1);
        assert_eq!(argv(&spec), ["sh", "-c", "echo 'it'\\''s; $x' | wc -c"]);
    }

    #[test]
    fn operator_word_uses_shell() {
        let t = Template::parse(&words(&["echo", "{}", "|", "wc"]), ShellMode::Auto, 1).unwrap();
        assert!(t.is_shell());
    }

    #[test]
    fn bash_only_operators_are_refused() {
        for op in ["&>", "|&"] {
            assert!(matches!(
                Template::parse(&words(&["echo", "{}", op, "x"]), ShellMode::Auto, 1),
                Err(TemplateError::BashOnly { .. })
            ));
        }
    }

    #[test]
    fn awk_braces_stay_literal_and_escapes_work() {
        let t =
            Template::parse(&words(&["awk", "{print $1}", "{{}}"]), ShellMode::Auto, 1).unwrap();
        assert!(!t.is_shell());
        assert_eq!(
            argv(&t.render(&job(&["f"]), 1)),
            ["awk", "{print $1}", "{}", "f"]
        );
    }

    #[test]
    fn bad_placeholders_are_errors() {
        assert!(matches!(
            Template::parse(&words(&["echo", "{1..}"]), ShellMode::Auto, 1),
            Err(TemplateError::Unknown { offset: 0, .. })
        ));
        assert!(matches!(
            Template::parse(&words(&["echo", "{3}"]), ShellMode::Auto, 2),
            Err(TemplateError::NoSuchInput { n: 3, .. })
        ));
        assert!(matches!(
            Template::parse(&words(&["echo", "x{2"]), ShellMode::Auto, 2),
            Err(TemplateError::Unclosed { offset: 1, .. })
        ));
    }

    #[test]
    fn whole_placeholder_expands_per_group() {
        let t = Template::parse(&words(&["cmd", "{}", "{2}"]), ShellMode::Auto, 2).unwrap();
        assert_eq!(
            argv(&t.render(&job(&["a b", "c"]), 1)),
            ["cmd", "a b", "c", "c"]
        );
    }

    #[test]
    fn quoting_is_byte_safe() {
        let mut out = Vec::new();
        quote_into(&mut out, b"\xff'x");
        assert_eq!(out, b"'\xff'\\''x'");
        out.clear();
        quote_into(&mut out, b"");
        assert_eq!(out, b"''");
    }
}
