//! Command templates: parsed once into tokens, rendered once per job into an argv. A substituted
//! value is never scanned again, so input containing `{}` comes out literally. `parse` reads
//! words with the replacement-string table of `rpl`; `render` fills them in; `perl` evaluates
//! `{= perl expression =}` and the `--rpl`/`--plus` tags.

mod files;
mod header;
mod measure;
mod parse;
mod perl;
mod render;
mod rpl;
mod shell;
mod token;

pub(crate) use files::FileTemplates;
pub(crate) use header::name_columns;
pub use rpl::{Replacements, RplError};
pub use shell::ShellMode;
pub(crate) use token::{Placeholder, Token};

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A template that could not be parsed; `offset` is the byte offset of the problem in its word.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TemplateError {
    /// A `{...}` that is no known replacement string.
    #[error(
        "unknown replacement string `{text}` in `{word}`: use {{}} {{.}} {{/}} {{//}} {{/.}} {{#}} {{%}} or {{N}} (more with --plus or --rpl); write {{{{ for a literal brace"
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
    /// A `{=` with no `=}` after it: the job would run with the expression unevaluated.
    #[error("unclosed perl expression in `{word}`: close the `{{=` at byte {offset} with `=}}`")]
    UnclosedPerl {
        /// The template word (lossy UTF-8).
        word: String,
        /// The byte offset of the `{=`.
        offset: usize,
    },
    /// The template needs perl (`{= =}`, `--rpl`, `--plus`) and there is none.
    #[error(
        "perl is needed to evaluate {{= perl expression =}}, --rpl and --plus replacement strings, but it is not in PATH: install perl (apt-get install perl)"
    )]
    PerlMissing,
    /// A perl expression that does not compile.
    #[error("{0}")]
    PerlCompile(String),
    /// The evaluator could not be started or answered nonsense.
    #[error("{0}")]
    PerlFailed(String),
    /// A `--rpl` definition or a renamed replacement string that cannot be used.
    #[error(transparent)]
    Rpl(#[from] RplError),
}

/// Why a job could not be rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RenderError {
    /// A perl expression called `skip()`: the job is not run.
    Skip,
    /// A perl expression died (or perl went away): the job must not run unevaluated.
    Perl(String),
}

/// What a template is parsed with besides its words (plain data from the [`crate::Config`]).
#[derive(Debug, Clone, Default)]
pub struct TemplateOptions {
    /// Extra or renamed replacement strings.
    pub replacements: Replacements,
    /// `-X`, `-N`, `-L`: a word holding `{}` is repeated for each argument of the job.
    pub context_replace: bool,
    /// The job slots (for `{0%}`).
    pub slots: usize,
}

/// A parsed command template.
#[derive(Debug, Clone)]
pub(crate) struct Template {
    words: Vec<Vec<Token>>,
    /// Direct exec, or which shell and how (see `shell`).
    run: shell::Run,
    /// True when the template names no replacement string, so the arguments are appended.
    append_args: bool,
    /// Each input line is itself a command (no command given).
    line_is_command: bool,
    /// Words holding a value are repeated per argument (`-X`).
    context: bool,
    /// The perl expressions, by id, and the evaluator when there are any.
    exprs: Vec<Vec<u8>>,
    perl: Option<Arc<perl::Perl>>,
    /// The number of jobs in total, for `total_jobs()`/`{##}` (`u64::MAX`: not known).
    total: Arc<AtomicU64>,
}

impl Template {
    /// Parses the command words with the default replacement strings (tests and callers that
    /// have no options).
    #[cfg(test)]
    pub fn parse(
        words: &[OsString],
        mode: ShellMode,
        groups: usize,
    ) -> Result<Template, TemplateError> {
        Template::parse_with(words, mode, groups, &TemplateOptions::default())
    }

    /// Parses the command words. `groups` is the most values a job has (for `{N}` checks).
    /// Starts the perl evaluator when an expression needs it.
    pub fn parse_with(
        words: &[OsString],
        mode: ShellMode,
        groups: usize,
        options: &TemplateOptions,
    ) -> Result<Template, TemplateError> {
        let total = Arc::new(AtomicU64::new(u64::MAX));
        if words.is_empty() {
            return Ok(Template {
                words: Vec::new(),
                run: shell::Run::Script(shell::Shell::Sh),
                append_args: false,
                line_is_command: true,
                context: false,
                exprs: Vec::new(),
                perl: None,
                total,
            });
        }
        let table = rpl::Table::new(&options.replacements)?;
        let words = parse::merge_perl_words(words);
        let mut parsed = Vec::with_capacity(words.len());
        let mut exprs = Vec::new();
        let mut any_placeholder = false;
        for w in &words {
            if let Some((word, instead)) = shell::BASH_OPERATORS
                .iter()
                .find(|(op, _)| words.len() > 1 && w.as_bytes() == op.as_bytes())
            {
                return Err(TemplateError::BashOnly { word, instead });
            }
            let tokens = parse::parse_word(w.as_bytes(), &table, &mut exprs)?;
            for t in &tokens {
                if let Token::Placeholder(p) = t {
                    any_placeholder = true;
                    if let Placeholder::Value { input: Some(n), .. }
                    | Placeholder::Perl { input: Some(n), .. } = p
                        && usize::try_from(*n).is_ok_and(|n| n > groups)
                    {
                        return Err(TemplateError::NoSuchInput {
                            text: p.to_string(),
                            n: *n as usize,
                            groups,
                        });
                    }
                }
            }
            parsed.push(tokens);
        }
        // A value perl leaves unquoted (`uq()`) is meant for a shell to read.
        let unquoted = exprs.iter().any(|e| e.windows(2).any(|w| w == b"uq"));
        let run = match shell::decide(&parsed, mode) {
            shell::Run::Direct | shell::Run::Quoted(_) if unquoted => {
                shell::Run::Script(shell::Shell::Sh)
            }
            run => run,
        };
        let perl = if exprs.is_empty() {
            None
        } else {
            Some(Arc::new(perl::Perl::start(&exprs, options.slots.max(1))?))
        };
        Ok(Template {
            words: parsed,
            run,
            append_args: !any_placeholder,
            line_is_command: false,
            context: options.context_replace,
            exprs,
            perl,
            total,
        })
    }

    /// True when jobs run through `sh -c`.
    #[cfg(test)]
    pub fn is_shell(&self) -> bool {
        self.in_shell()
    }

    /// True when jobs run in a shell (as a script or as quoted words), so values are quoted.
    fn in_shell(&self) -> bool {
        self.run != shell::Run::Direct
    }

    /// Whether an expression asks for the number of jobs (`total_jobs()`, `{##}`), which is
    /// then counted before the first job starts.
    pub fn needs_total(&self) -> bool {
        self.exprs
            .iter()
            .any(|e| e.windows(10).any(|w| w == b"total_jobs"))
    }

    /// Sets the number of jobs in total, for `total_jobs()`.
    pub fn set_total(&self, total: u64) {
        self.total.store(total, Ordering::Relaxed);
    }

    fn total(&self) -> Option<u64> {
        Some(self.total.load(Ordering::Relaxed)).filter(|&t| t != u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{Job, JobId, JobSpec};
    use crate::quote::quote_into;

    fn words(ws: &[&str]) -> Vec<OsString> {
        ws.iter().map(OsString::from).collect()
    }

    fn job(args: &[&str]) -> Job {
        Job::new(
            JobId(7),
            args.iter().map(|a| a.as_bytes().to_vec()).collect(),
        )
    }

    impl Template {
        fn render_ok(&self, job: &Job, slot: u32) -> JobSpec {
            self.render(job, slot).unwrap()
        }
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
        let spec = t.render_ok(&job(&["{1} $(id)"]), 3);
        assert_eq!(argv(&spec), ["echo", "x{1} $(id)y", "7", "3"]);
    }

    #[test]
    fn appends_args_when_no_placeholder() {
        let t = Template::parse(&words(&["echo", "hi"]), ShellMode::Auto, 2).unwrap();
        assert_eq!(
            argv(&t.render_ok(&job(&["a", "b"]), 1)),
            ["echo", "hi", "a", "b"]
        );
    }

    #[test]
    fn single_string_with_shell_syntax_uses_shell_and_quotes() {
        let t = Template::parse(&words(&["echo {} | wc -c"]), ShellMode::Auto, 1).unwrap();
        assert!(t.is_shell());
        let spec = t.render_ok(&job(&["it's; $x"]), 1);
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
            Template::parse(&words(&["awk", "{print $1}", "{{}}"]), ShellMode::Quote, 1).unwrap();
        assert!(!t.is_shell());
        assert_eq!(
            argv(&t.render_ok(&job(&["f"]), 1)),
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
            argv(&t.render_ok(&job(&["a b", "c"]), 1)),
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
