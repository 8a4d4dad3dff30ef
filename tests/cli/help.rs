//! What fanout says about itself: `--help`, the shell completions and the man page, which
//! list the same options.

use std::collections::BTreeSet;

use crate::util::*;

/// What `fanout ARGS` prints; it must succeed.
fn stdout_text(args: &[&str]) -> String {
    stdout_of(&fanout().args(args).assert().success())
}

#[test]
fn completions_for_each_shell_know_the_options() {
    assert!(stdout_text(&["completions", "bash"]).contains("--keep-order"));
    assert!(stdout_text(&["completions", "zsh"]).contains("--keep-order"));
    assert!(stdout_text(&["completions", "fish"]).contains("-l keep-order"));
}

#[test]
fn an_unknown_or_missing_shell_is_a_one_line_error() {
    for (args, says) in [
        (&["completions", "tcsh"][..], "unknown shell `tcsh`"),
        (&["completions"][..], "completions needs a shell"),
    ] {
        let out = fanout().args(args).assert().code(255);
        let err = stderr_of(&out);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(says) && err.contains("bash"), "{err}");
        assert!(out.get_output().stdout.is_empty());
    }
}

/// The bash completion in a real interactive bash: `complete -p` names fanout's function, and
/// calling it as bash would completes options, option values (files), and the program name
/// after the options.
#[test]
fn bash_completes_options_files_and_the_program_after_the_options() {
    let dir = Dir::new();
    dir.write("joblog-here.txt", "");
    let script = dir.write(
        "comp.sh",
        format!(
            r#"source <("{fanout}" completions bash)
complete -p fanout
t() {{
    COMP_WORDS=("$@"); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1))
    COMP_LINE="$*"; COMP_POINT=${{#COMP_LINE}}; COMPREPLY=()
    local f; f=$(complete -p fanout | sed 's/.* -F \([^ ]*\) .*/\1/')
    "$f" fanout "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}"
    echo "[$*] -> ${{COMPREPLY[*]}}"
}}
t fanout --keep-or
t fanout -j 4 --joblog jobl
t fanout -j 4 -k ech
t fanout --timeout 3s --tag -- ech
compgen -c ech | grep -qx echo && echo "compgen ok"
"#,
            fanout = fanout_path().display()
        ),
    );
    // `timeout`: a completion that hangs fails the test instead of hanging it.
    let out = std::process::Command::new("timeout")
        .args(["60", "bash", "--norc", "--noprofile", "-i"])
        .arg(&script)
        .current_dir(dir.path())
        .env("HOME", dir.path())
        .output()
        .expect("bash runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = |prefix: &str| {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| {
                panic!(
                    "no `{prefix}` line in:\n{text}\n{}",
                    String::from_utf8_lossy(&out.stderr)
                )
            })
            .to_string()
    };
    assert!(line("complete ").contains(" fanout"), "{text}");
    let words = |l: String| -> Vec<String> {
        l.split_once(" -> ")
            .unwrap()
            .1
            .split_whitespace()
            .map(String::from)
            .collect()
    };
    assert_eq!(words(line("[fanout --keep-or]")), ["--keep-order"]);
    assert_eq!(
        words(line("[fanout -j 4 --joblog jobl]")),
        ["joblog-here.txt"]
    );
    let prog = words(line("[fanout -j 4 -k ech]"));
    assert!(prog.contains(&"echo".to_string()), "{prog:?}");
    assert!(prog.iter().all(|w| w.starts_with("ech")), "{prog:?}");
    assert!(words(line("[fanout --timeout 3s --tag -- ech]")).contains(&"echo".to_string()));
    line("compgen ok");
}

#[test]
fn man_prints_a_roff_page_with_the_options_and_their_environment() {
    let man = stdout_text(&["man"]);
    assert!(man.contains(".TH fanout 1"), "roff title");
    assert!(man.contains(".SH OPTIONS"));
    // One OPTIONS section, its themes as subsections; the sections a reader looks for.
    assert_eq!(man.matches(".SH OPTIONS").count(), 1);
    assert!(man.contains(".SS \"Output\""), "{man}");
    for section in [
        ".SH NAME",
        ".SH SYNOPSIS",
        ".SH DESCRIPTION",
        ".SH EXAMPLES",
        ".SH \"EXIT STATUS\"",
        ".SH ENVIRONMENT",
        ".SH FILES",
        ".SH \"SEE ALSO\"",
    ] {
        assert!(man.contains(section), "{section} missing");
    }
    assert!(!man.contains(".SH EXTRA"), "no EXTRA section");
    assert!(!man.contains(".SH \"INPUT AND RUNNING\"") && !man.contains(".SH OUTPUT"));
    let order: Vec<usize> = [
        "NAME",
        "SYNOPSIS",
        "DESCRIPTION",
        "OPTIONS",
        "EXAMPLES",
        "EXIT STATUS",
    ]
    .iter()
    .map(|s| {
        man.find(&format!(".SH {s}"))
            .or_else(|| man.find(&format!(".SH \"{s}\"")))
            .unwrap()
    })
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
    assert!(man.contains(r"\-\-keep\-order"));
    assert!(man.contains("FANOUT_KEEP_ORDER"));
}

/// The long options `--help` lists.
fn help_options() -> BTreeSet<String> {
    let help = stdout_text(&["--help"]);
    let mut opts = BTreeSet::new();
    for line in help.lines() {
        let line = line.trim_start();
        if !line.starts_with('-') {
            continue;
        }
        for word in line.split([' ', ',', '<', '[']) {
            if let Some(name) = word.trim_end_matches('.').strip_prefix("--")
                && !name.is_empty()
            {
                opts.insert(format!("--{name}"));
            }
        }
    }
    opts
}

#[test]
fn help_completions_and_man_page_never_disagree() {
    let opts = help_options();
    assert!(opts.len() >= 30, "{opts:?}");
    assert!(opts.contains("--results-json") && opts.contains("--keep-order"));
    let man = stdout_text(&["man"]).replace(r"\-", "-");
    let bash = stdout_text(&["completions", "bash"]);
    let fish = stdout_text(&["completions", "fish"]);
    for opt in &opts {
        assert!(man.contains(opt.as_str()), "{opt} is in the man page");
        assert!(
            bash.contains(opt.as_str()),
            "{opt} is in the bash completion"
        );
        let long = opt.trim_start_matches("--");
        assert!(
            fish.contains(&format!("-l {long} ")) || fish.contains(&format!("-l {long}\n")),
            "{opt} is in the fish completion"
        );
        let env = format!("FANOUT_{}", long.to_uppercase().replace('-', "_"));
        if !["--help", "--version"].contains(&opt.as_str()) {
            assert!(man.contains(&env), "{env} is in the man page");
        }
    }
}

/// `--help` shows the usage with the input separators, options by theme, and examples.
#[test]
fn help_shows_the_input_syntax_themes_and_examples() {
    let help = stdout_text(&["--help"]);
    assert!(help.contains("Usage: fanout [OPTIONS] [COMMAND [ARGS...]] [::: VALUES | :::+ VALUES"));
    for heading in ["Output:", "Joblog and results:", "Examples:"] {
        assert!(help.contains(heading), "{heading} missing");
    }
}
