//! `fanout man` and `fanout completions SHELL`, generated from the clap definition that
//! `--help` uses, so the three never disagree. clap_mangen gives the title, synopsis and
//! options (grouped by the themes of `--help`); the sections a man page reader looks for
//! (EXAMPLES, EXIT STATUS, ENVIRONMENT, FILES, SEE ALSO) are written here. The bash script
//! gets a wrapper that completes the program name after the options, then that program's own
//! arguments (clap's generator only knows fanout's options).

use std::io::{self, Write};

use roff::{Roff, bold, italic, roman};

/// The shells `fanout completions` knows, as the user types them.
pub const SHELLS: &str = "bash, zsh, fish, elvish or powershell";

/// Examples: the command line and what it does.
const EXAMPLES: &[(&str, &str)] = &[
    (
        "fanout gzip ::: *.log",
        "One job per file, as many at once as this process may use CPUs.",
    ),
    (
        "fanout -j4 -k curl -sO {} :::: urls.txt",
        "Four at once, each job's output printed whole and in input order.",
    ),
    (
        "fanout echo {1}-{2} ::: a b ::: 1 2",
        "Every combination of the sources: a-1 a-2 b-1 b-2.",
    ),
    (
        "find . -name '*.png' | fanout convert {} {.}.jpg",
        "Values from stdin; {.} is the value without its extension.",
    ),
    (
        "fanout 'grep -c foo {} > {}.count' ::: *.txt",
        "A word with shell syntax runs in sh, with the value quoted.",
    ),
    (
        "fanout --joblog run.log --resume -j8 ./task.sh ::: $(seq 1000)",
        "Run again after an interruption: jobs the joblog has are not run twice.",
    ),
    (
        "fanout --timeout 30s --retries 3 --halt soon,fail=10% ./check {} :::: hosts",
        "Kill a job after 30 seconds, retry failed jobs, stop starting new ones once 10% have failed.",
    ),
    (
        "zcat big.gz | fanout --pipe --block 10M wc -l",
        "Cut stdin into 10 MiB blocks of whole lines, one block per job's stdin.",
    ),
    (
        "fanout -S 4/host1,host2 --joblog jl hostname ::: 1 2 3",
        "Run the jobs on other machines over ssh.",
    ),
    (
        "fanout timeline run.log -o run.svg",
        "Draw a finished run (a joblog or --results-json file) as a Gantt chart.",
    ),
];

/// Exit status: the code and what it means.
const EXIT_STATUS: &[(&str, &str)] = &[
    ("0", "Every job succeeded."),
    ("1-100", "That many jobs failed."),
    ("101", "More than 100 jobs failed."),
    (
        "128+N",
        "Interrupted by signal N (130 for Ctrl-C, 143 for SIGTERM).",
    ),
    (
        "141",
        "fanout's stdout was closed (a reader such as head went away).",
    ),
    (
        "255",
        "fanout's own error: bad usage, an unreadable input, a bad template, a joblog or results write error.",
    ),
];

/// Environment variables.
const ENVIRONMENT: &[(&str, &str)] = &[
    (
        "FANOUT_<OPTION>",
        "Every option can be set as FANOUT_ and its long name in capitals with - as _ (FANOUT_JOBS=4, FANOUT_KEEP_ORDER=1); the command line wins. Each option above names its variable.",
    ),
    (
        "FANOUT_SEQ, FANOUT_SLOT, PARALLEL_SEQ, PARALLEL_JOBSLOT",
        "Set for every job: its sequence number and job slot (the PARALLEL_ names are GNU parallel's).",
    ),
    (
        "PARALLEL_SSHLOGIN",
        "Set for a job run over ssh: the sshlogin it runs on.",
    ),
    (
        "NO_COLOR",
        "Set and not empty: no colour in fanout's own lines.",
    ),
    (
        "SLURM_JOB_ID, SLURM_CPUS_ON_NODE, SLURM_JOB_CPUS_PER_NODE",
        "Inside a Slurm allocation the default job slots are no more than it gives this node; --slurm runs jobs as steps of it.",
    ),
    (
        "SLURM_ARRAY_TASK_ID, JOB_COMPLETION_INDEX",
        "Read by --shard auto to find this shard (with SLURM_ARRAY_TASK_COUNT, or JOB_COMPLETIONS).",
    ),
    (
        "TMPDIR",
        "Where --cat, --fifo and --tmpdir's default put temporary files.",
    ),
];

/// Files fanout reads or writes.
const FILES: &[(&str, &str)] = &[
    (
        "JOBLOG (--joblog)",
        "GNU parallel's tab-separated joblog, one line per finished job, flushed as each ends; locked while a run uses it.",
    ),
    (
        "JOBLOG.live",
        "Beside the joblog while a run is live: the jobs' process groups, so a later run can tell whether they are still running.",
    ),
    (
        "DIR (--results)",
        "GNU parallel's tree: DIR/1/VALUE/stdout, stderr and seq per job; FILE.csv, .tsv or .json: GNU's table of all jobs.",
    ),
    (
        "DIR (--results-by-seq)",
        "Each job's stdout, stderr, status, command and record in DIR/SEQ/.",
    ),
    ("FILE (--results-json)", "One JSON object per finished job."),
];

/// See also.
const SEE_ALSO: &str = "parallel(1), xargs(1), ssh(1), srun(1), sh(1)";

/// Writes the man page.
pub fn man(out: &mut dyn Write) -> io::Result<()> {
    // The examples and exit codes get sections of their own below, not clap's "EXTRA".
    let cmd = super::command()
        .after_help(None::<&str>)
        .after_long_help(None::<&str>);
    let headings = option_headings(&cmd);
    let man = clap_mangen::Man::new(cmd);
    man.render_title(out)?;
    man.render_name_section(out)?;
    man.render_synopsis_section(out)?;
    man.render_description_section(out)?;
    let mut options = Vec::new();
    man.render_options_section(&mut options)?;
    out.write_all(&themes_as_subsections(&options, &headings))?;

    let mut roff = Roff::new();
    let tagged = |roff: &mut Roff, title: &str, items: &[(&str, &str)], tag_bold: bool| {
        roff.control("SH", [title]);
        for (tag, text) in items {
            roff.control("TP", []);
            if tag_bold {
                roff.text([bold(*tag)]);
            } else {
                roff.text([roman(*tag)]);
            }
            roff.text([roman(*text)]);
        }
    };
    roff.control("SH", ["EXAMPLES"]);
    for (line, what) in EXAMPLES {
        roff.control("PP", []);
        roff.text([roman(*what)]);
        roff.control("RS", ["4"]);
        roff.text([bold(*line)]);
        roff.control("RE", []);
    }
    tagged(&mut roff, "EXIT STATUS", EXIT_STATUS, true);
    tagged(&mut roff, "ENVIRONMENT", ENVIRONMENT, true);
    tagged(&mut roff, "FILES", FILES, false);
    roff.control("SH", ["SEE ALSO"]);
    roff.text([roman(SEE_ALSO)]);
    roff.control("PP", []);
    roff.text([
        roman("The full manual, with the differences from GNU parallel, is fanout's "),
        italic("README.md"),
        roman("."),
    ]);
    roff.to_writer(out)?;
    man.render_version_section(out)
}

/// The help headings in the order clap_mangen renders them (first appearance).
fn option_headings(cmd: &clap::Command) -> Vec<String> {
    let mut headings: Vec<String> = Vec::new();
    for a in cmd.get_arguments().filter(|a| !a.is_hide_set()) {
        if let Some(h) = a.get_help_heading()
            && !headings.iter().any(|x| x == h)
        {
            headings.push(h.to_string());
        }
    }
    headings
}

/// clap_mangen makes each help heading a section (`.SH INPUT AND RUNNING`); a man page has
/// one OPTIONS section, so the themes become its subsections, spelt as in `--help`.
fn themes_as_subsections(roff: &[u8], headings: &[String]) -> Vec<u8> {
    let text = String::from_utf8_lossy(roff);
    let mut out = String::new();
    let mut seen_options = false;
    for line in text.lines() {
        if let Some(title) = line.strip_prefix(".SH ") {
            let title = title.trim_matches('"');
            if title == "OPTIONS" {
                seen_options = true;
                out.push_str(line);
                out.push('\n');
                continue;
            }
            if let Some(h) = headings.iter().find(|h| h.to_uppercase() == title) {
                if !seen_options {
                    out.push_str(".SH OPTIONS\n");
                    seen_options = true;
                }
                out.push_str(&format!(".SS \"{h}\"\n"));
                continue;
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    out.into_bytes()
}

/// Writes the completion script for `shell`.
pub fn completions(shell: clap_complete::Shell, out: &mut dyn Write) -> io::Result<()> {
    let mut cmd = super::command();
    // Into memory first: `generate` panics on a write error.
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "fanout", &mut script);
    if shell == clap_complete::Shell::Bash {
        script.extend_from_slice(bash_wrapper(&cmd).as_bytes());
    }
    out.write_all(&script)
}

/// A bash function in front of clap's `_fanout`: the first word that is neither an option nor
/// an option's value is the command, completed from the commands on `PATH` (and functions,
/// aliases, builtins); the words after it are that command's, completed as bash-completion
/// would complete them (`_command_offset`), else as file names. Options and their values stay
/// with clap's function.
fn bash_wrapper(cmd: &clap::Command) -> String {
    let mut takes_value = Vec::new();
    for a in cmd.get_arguments().filter(|a| !a.is_positional()) {
        let takes = a.get_num_args().is_some_and(|n| n.takes_values())
            || matches!(
                a.get_action(),
                clap::ArgAction::Set | clap::ArgAction::Append
            );
        if !takes {
            continue;
        }
        if let Some(s) = a.get_short() {
            takes_value.push(format!("-{s}"));
        }
        for l in a.get_long_and_visible_aliases().into_iter().flatten() {
            takes_value.push(format!("--{l}"));
        }
    }
    format!(
        r#"
# fanout: after the options comes a command; complete it, then its own arguments.
_fanout_command() {{
    local takes_value=" {takes} "
    local i w skip=0
    for ((i = 1; i < COMP_CWORD; i++)); do
        w=${{COMP_WORDS[i]}}
        if ((skip)); then
            skip=0
            continue
        fi
        case $w in
        --) ((i++)); break ;;
        --*=*) ;;
        -*) [[ $takes_value == *" $w "* ]] && skip=1 ;;
        *) break ;;
        esac
    done
    local cur=${{COMP_WORDS[COMP_CWORD]}}
    if ((i < COMP_CWORD)); then
        # The command is COMP_WORDS[i]: complete the rest as its arguments.
        if declare -F _command_offset >/dev/null 2>&1; then
            _command_offset "$i"
        else
            COMPREPLY=($(compgen -f -- "$cur"))
        fi
        return 0
    fi
    if ((!skip)) && [[ $cur != -* ]]; then
        COMPREPLY=($(compgen -c -- "$cur" | sort -u))
        return 0
    fi
    _fanout "$@"
}}
complete -F _fanout_command -o bashdefault -o default fanout
"#,
        takes = takes_value.join(" ")
    )
}
