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
fn an_unknown_shell_is_a_one_line_error() {
    for args in [&["completions", "tcsh"][..], &["completions"][..]] {
        let out = fanout().args(args).assert().code(255);
        let err = stderr_of(&out);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains("unknown shell") && err.contains("bash"),
            "{err}"
        );
        assert!(out.get_output().stdout.is_empty());
    }
}

#[test]
fn man_prints_a_roff_page_with_the_options_and_their_environment() {
    let man = stdout_text(&["man"]);
    assert!(man.contains(".TH fanout 1"), "roff title");
    assert!(man.contains(".SH OPTIONS"));
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
