//! GNU parallel's options that fanout does not have, each with what to do instead: a GNU
//! parallel user who types one gets `--foo is not supported; <hint>`, never clap's "to pass
//! '-N' as a value" tip or an unrelated "similar argument". A plain table, so an entry is
//! dropped the day its option is implemented (a test checks no entry is also a fanout option).

/// `(spellings, hint)`: every spelling of one GNU parallel option, and what to do instead.
pub(super) const REFUSED: &[(&[&str], &str)] = &[
    // Several arguments per job, replacement strings, columns.
    (
        &["-x", "--exit"],
        "fanout never splits a command line that is too long: it refuses it before anything runs",
    ),
    (
        &["--replace", "-i"],
        "use -I STR (GNU parallel's -i is -I {})",
    ),
    (
        &["--parens"],
        "use --rpl 'TAG perl-expr' for a replacement string of your own",
    ),
    // Input on the jobs' stdin.
    (
        &[
            "--block-timeout",
            "--bt",
            "--remove-rec-sep",
            "--removerecsep",
            "--rrs",
            "--round",
        ],
        "use --pipe with --block, --recend/--recstart and --roundrobin",
    ),
    // Remote hosts.
    (
        &["--ssh-delay", "--sshdelay", "--controlmaster", "-M"],
        "fanout always uses one ControlMaster per -S host and starts them one at a time",
    ),
    (
        &["--hostgroups", "--hgrp"],
        "give each group's hosts to its own fanout run with -S",
    ),
    (
        &["--rsync-opts"],
        "set PARALLEL_RSYNC_OPTS in the environment (it replaces -rlDzR, as in GNU parallel)",
    ),
    // Running and scheduling.
    (
        &["--load", "--memfree", "--memsuspend", "--noswap", "--limit"],
        "fanout limits jobs by slots only: use -j N",
    ),
    (
        &[
            "--semaphore",
            "--sem",
            "--semaphore-name",
            "--id",
            "--semaphore-timeout",
            "--st",
            "--fg",
            "--bg",
            "--wait",
        ],
        "fanout has no semaphore mode: run one fanout over all the jobs",
    ),
    (
        &[
            "--sql",
            "--sql-master",
            "--sqlmaster",
            "--sql-and-worker",
            "--sqlandworker",
            "--sql-worker",
            "--sqlworker",
        ],
        "use --results-json FILE or --joblog FILE and load it into the database",
    ),
    (
        &["-t"],
        "to see the commands use --dry-run, or the joblog's Command column (fanout's -v raises the log level)",
    ),
    (
        &[
            "--interactive",
            "-p",
            "--open-tty",
            "-o",
            "--tty",
            "--tmux",
            "--tmuxpane",
        ],
        "fanout jobs get stdin from /dev/null; run interactive commands one at a time, outside fanout",
    ),
    (
        &["--shell-completion"],
        "use `fanout completions bash|zsh|fish|elvish|powershell`",
    ),
    (
        &["--shebang", "--hashbang", "--shebang-wrap"],
        "call fanout from the script: `fanout CMD :::: FILE`",
    ),
    (
        &[
            "--color",
            "--color-failed",
            "--cf",
            "--ctag",
            "--ctagstring",
            "--latest-line",
            "--ll",
            "--tee",
            "--group-by",
            "--bin",
            "--compress",
            "--compress-program",
            "--decompress-program",
            "--embed",
            "--filter",
            "--gnu",
            "--minversion",
            "--number-of-cpus",
            "--number-of-cores",
            "--number-of-sockets",
            "--number-of-threads",
            "--plain",
            "--process-slot-var",
            "--max-line-length-allowed",
            "--profile",
            "-J",
            "--record-env",
            "--session",
            "--shell-quote",
            "--show-limits",
            "--template",
            "--tmpl",
            "--total-jobs",
            "--total",
            "--use-sockets-instead-of-threads",
            "--use-cores-instead-of-threads",
            "--use-cpus-instead-of-cores",
            "--skip-first-line",
        ],
        "see fanout --help for what fanout offers",
    ),
];

/// The refusal for GNU parallel's option `arg` as clap reports it (`--colsep`, `--colsep=x`,
/// `-N`), if it is one.
pub(super) fn refusal(arg: &str) -> Option<String> {
    let name = arg.split('=').next().unwrap_or(arg);
    // A cluster of short options (`-N0`, `-kX`): clap names the first it does not know, with
    // the rest; look the letter up alone.
    let name = if !name.starts_with("--") && name.len() > 2 {
        &name[..name.char_indices().nth(2).map_or(name.len(), |(i, _)| i)]
    } else {
        name
    };
    REFUSED
        .iter()
        .find(|(names, _)| names.contains(&name))
        .map(|(_, hint)| format!("{name} is not supported; {hint}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_spelling() {
        assert!(refusal("--tmux").unwrap().starts_with("--tmux is"));
        assert!(refusal("--tmux=x").unwrap().starts_with("--tmux is"));
        assert!(refusal("-x").unwrap().starts_with("-x is"));
        assert!(refusal("--keep-ordr").is_none());
    }

    /// An entry for an option fanout has would hide it behind a refusal: drop the entry when
    /// the option is implemented.
    #[test]
    fn no_entry_is_a_fanout_option() {
        let cmd = super::super::env::command();
        for (names, _) in REFUSED {
            for n in *names {
                let known = cmd.get_arguments().any(|a| {
                    if let Some(long) = n.strip_prefix("--") {
                        a.get_long() == Some(long)
                            || a.get_all_aliases().is_some_and(|al| al.contains(&long))
                    } else {
                        let c = n.chars().nth(1);
                        a.get_short() == c
                            || a.get_all_short_aliases()
                                .is_some_and(|al| c.is_some_and(|c| al.contains(&c)))
                    }
                });
                assert!(!known, "{n} is refused but fanout has it");
            }
        }
    }
}
