//! When a template runs through a shell, and which one. GNU parallel joins the command's words
//! with spaces and always hands the line to a shell; fanout executes the words directly (faster,
//! and no word is ever reparsed) whenever that gives the same result, and otherwise does exactly
//! what GNU parallel does. Owns the rule and the shell's name; the rendering is in `render.rs`.

use std::ffi::OsString;

use super::Token;

/// How the command is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShellMode {
    /// Decide from the template: a shell only where it holds shell syntax or names a builtin.
    Auto,
    /// Always through `sh -c` (`--shell`).
    Always,
    /// Every word is one argument, never shell code (`-q`/`--quote`, GNU parallel's `-q`).
    Quote,
}

/// The shell a job runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shell {
    /// POSIX `sh`.
    Sh,
    /// `bash`, for a command naming an exported bash function (`export -f`).
    Bash,
}

impl Shell {
    fn program(self) -> &'static str {
        match self {
            Shell::Sh => "sh",
            Shell::Bash => "bash",
        }
    }

    /// `SHELL -c SCRIPT`, reading what `job` reads.
    pub(crate) fn spec(self, script: Vec<u8>, job: &crate::job::Job) -> crate::job::JobSpec {
        use std::os::unix::ffi::OsStringExt;
        crate::job::JobSpec {
            argv: vec![
                self.program().into(),
                "-c".into(),
                OsString::from_vec(script),
            ],
            shell: true,
            stdin: job.stdin.clone(),
            files: None,
        }
    }
}

/// How a parsed template is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Run {
    /// The words are the argv, executed directly.
    Direct,
    /// The words, each quoted as one shell word, run by a shell: a builtin (`cd`, `exit`) or an
    /// exported function, which only a shell can run, with GNU parallel's meaning kept.
    Quoted(Shell),
    /// The words joined with spaces are shell code, the values quoted (GNU parallel's way).
    Script(Shell),
}

/// Characters that give a word a meaning in the shell: GNU parallel's shell would redirect,
/// expand or glob there, so fanout must run the line in a shell too. Whitespace counts only in
/// the first word (`'echo {} | wc'` given as one word): elsewhere a word with a space stays one
/// argument (GNU parallel's shell would split it; see the README's differences).
const SHELL_SYNTAX: &[u8] = b"|&;<>()$`\\\"'*?[]";
/// Shells whose `-c SCRIPT` takes the script as one word: `fanout sh -c 'echo $1' _ {}` runs
/// the script as written (GNU parallel would split it into the outer line and break it).
const SHELLS: &[&[u8]] = &[b"sh", b"bash", b"dash", b"zsh", b"ksh", b"mksh", b"ash"];
/// bash's operators, which POSIX `sh` (dash) reads differently: `a &> f` runs `a` in the
/// background, `a |& b` is a syntax error. Refused with the portable spelling.
pub(super) const BASH_OPERATORS: &[(&str, &str)] = &[("&>", "`> FILE 2>&1`"), ("|&", "`2>&1 |`")];
/// Shell builtins and keywords that are no program (or whose program cannot do their job, like
/// `cd` or `exit`): a command starting with one runs in the shell. `echo`, `printf`, `test`,
/// `true`, `false`, `kill` and `pwd` are programs too and behave the same executed directly.
const BUILTINS: &[&str] = &[
    "!", ".", ":", "[[", "{", "alias", "bg", "break", "builtin", "case", "cd", "command",
    "continue", "declare", "do", "done", "elif", "else", "esac", "eval", "exec", "exit", "export",
    "fc", "fg", "fi", "for", "function", "getopts", "hash", "if", "jobs", "let", "local",
    "readonly", "read", "return", "select", "set", "shift", "shopt", "source", "then", "time",
    "times", "trap", "type", "typeset", "ulimit", "umask", "unalias", "unset", "until", "wait",
    "while",
];

/// Decides how a template's words run under `mode`.
pub(super) fn decide(words: &[Vec<Token>], mode: ShellMode) -> Run {
    let program = match words.first().map(Vec::as_slice) {
        Some([Token::Literal(l)]) => Some(l.as_slice()),
        _ => None,
    };
    let function = program.is_some_and(is_exported_function);
    let shell = if function { Shell::Bash } else { Shell::Sh };
    match mode {
        ShellMode::Always => Run::Script(shell),
        ShellMode::Auto
            if !runs_a_script(words) && words.iter().enumerate().any(|(i, w)| has_syntax(i, w)) =>
        {
            Run::Script(shell)
        }
        ShellMode::Auto | ShellMode::Quote => {
            let builtin = program.is_some_and(|p| BUILTINS.iter().any(|b| b.as_bytes() == p));
            if function || builtin {
                Run::Quoted(shell)
            } else {
                Run::Direct
            }
        }
    }
}

/// `sh -c SCRIPT ...` (or bash, dash...; by path too): the program is itself a shell given
/// its script, so the words are its arguments, never the outer line's code.
fn runs_a_script(words: &[Vec<Token>]) -> bool {
    let literal = |w: Option<&Vec<Token>>| match w.map(Vec::as_slice) {
        Some([Token::Literal(l)]) => Some(l.clone()),
        _ => None,
    };
    let Some(program) = literal(words.first()) else {
        return false;
    };
    let name = program.rsplit(|&b| b == b'/').next().unwrap_or(&program);
    SHELLS.contains(&name)
        && words[1..].iter().any(|w| {
            matches!(w.as_slice(), [Token::Literal(l)] if l.first() == Some(&b'-') && l.contains(&b'c') && !l.starts_with(b"--"))
        })
}

/// Whether word `index` holds shell syntax outside its placeholders: a character of
/// [`SHELL_SYNTAX`], a `#` or `~` starting it, or (first word) a `NAME=` assignment.
fn has_syntax(index: usize, word: &[Token]) -> bool {
    word.iter().enumerate().any(|(i, t)| {
        let Token::Literal(l) = t else { return false };
        let starts = i == 0 && matches!(l.first(), Some(b'#' | b'~'));
        let assignment = index == 0 && i == 0 && is_assignment(l);
        let space = index == 0 && l.iter().any(|b| b.is_ascii_whitespace());
        starts || assignment || space || l.iter().any(|b| SHELL_SYNTAX.contains(b))
    })
}

/// `NAME=...`: a variable assignment for the command, in the shell.
fn is_assignment(l: &[u8]) -> bool {
    l.iter().position(|&b| b == b'=').is_some_and(|eq| {
        eq > 0
            && !l[0].is_ascii_digit()
            && l[..eq]
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || *b == b'_')
    })
}

/// bash exports `f` of `export -f f` as `BASH_FUNC_f%%`.
fn is_exported_function(name: &[u8]) -> bool {
    let mut var = b"BASH_FUNC_".to_vec();
    var.extend_from_slice(name);
    var.extend_from_slice(b"%%");
    use std::os::unix::ffi::OsStrExt;
    std::env::var_os(std::ffi::OsStr::from_bytes(&var)).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::parse::parse_word;
    use crate::template::rpl::Table;

    fn run(ws: &[&str], mode: ShellMode) -> Run {
        let table = Table::new(&Default::default()).unwrap();
        let parsed: Vec<Vec<Token>> = ws
            .iter()
            .map(|w| parse_word(w.as_bytes(), &table, &mut Vec::new()).unwrap())
            .collect();
        decide(&parsed, mode)
    }

    #[test]
    fn plain_words_run_directly() {
        for ws in [
            &["echo", "{}"][..],
            &["gzip", "-9", "{}"],
            &["echo", "a=b", "x{}y", "{.}.out"],
            &["convert", "{}", "{.}.png"],
        ] {
            assert_eq!(run(ws, ShellMode::Auto), Run::Direct, "{ws:?}");
        }
    }

    #[test]
    fn shell_syntax_in_any_word_runs_the_joined_line_in_sh() {
        for ws in [
            &["echo {} | wc -c"][..],
            &["echo", "{}\\;", "exit", "{}"],
            &["echo", "$VAR"],
            &["zcat", "{}", ">{.}"],
            &["perl", "-e", "print \"x\""],
            &["ls", "*.txt"],
            &["awk", "{print $1}", "{}"],
            &["FOO=1", "env"],
            &["ls", "~/x"],
            &["echo", "{}", "#", "comment"],
        ] {
            assert_eq!(run(ws, ShellMode::Auto), Run::Script(Shell::Sh), "{ws:?}");
        }
    }

    #[test]
    fn builtins_run_in_the_shell_with_their_words_quoted() {
        for ws in [&["exit", "{}"][..], &["cd", "{}"], &["source", "x.sh"]] {
            assert_eq!(run(ws, ShellMode::Auto), Run::Quoted(Shell::Sh), "{ws:?}");
            assert_eq!(run(ws, ShellMode::Quote), Run::Quoted(Shell::Sh), "{ws:?}");
        }
    }

    #[test]
    fn quote_mode_never_reads_shell_syntax() {
        assert_eq!(run(&["echo", "$VAR", "a|b"], ShellMode::Quote), Run::Direct);
        assert_eq!(
            run(&["echo", "x"], ShellMode::Always),
            Run::Script(Shell::Sh)
        );
    }

    #[test]
    fn a_shell_given_its_script_and_spaced_words_run_directly() {
        for ws in [
            &["sh", "-c", "exit {}"][..],
            &["bash", "-c", "echo $1; exit 2", "_", "{}"],
            &["/bin/sh", "-ec", "cat; echo $FANOUT_SEQ"],
            &["grep", "a b", "{}"],
        ] {
            assert_eq!(run(ws, ShellMode::Auto), Run::Direct, "{ws:?}");
        }
        assert_eq!(
            run(&["sh", "x.sh", "$A"], ShellMode::Auto),
            Run::Script(Shell::Sh)
        );
    }

    #[test]
    fn placeholders_are_not_syntax() {
        assert_eq!(
            run(&["echo", "{}", "{#}", "{%}"], ShellMode::Auto),
            Run::Direct
        );
        assert!(!is_assignment(b"1x=2"));
        assert!(!is_assignment(b"=x"));
        assert!(is_assignment(b"A_1=x"));
    }
}
