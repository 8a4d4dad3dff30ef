//! The `Cli` struct: clap's definition of every flag (each also read from `FANOUT_<FLAG>`), and
//! its translation into the engine's [`Config`] and the reporters' options (`into_config`, where
//! the cross-flag checks are and flag names are added to the engine's value errors). Uses
//! `usage` (value checks) and `sources`; how the environment is read is `env`'s business.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Parser, ValueEnum};

use fanout::config::{
    self, Config, HaltPolicy, OutputMode, ResumeMode, RetryPolicy, Tag, TermSeq, parse_duration,
};
use fanout::input::{Source, SourceKind};
use fanout::report::options::{ProgressMode, ReportOptions, SummaryMode};
use fanout::template::ShellMode;

use super::args_gnucli::GnuArgs;
use super::sources::split_sources;
use super::usage::{above_zero, for_flag, log_filter};

/// Run many commands in parallel and keep them under control.
///
/// fanout runs one job per input: COMMAND with its replacement strings ({} {.} {/} {//} {/.}
/// {#} {%} {N}) filled in from the arguments after :::, the lines of the files after :::: or -a,
/// or the lines of stdin. Without a replacement string the arguments are appended. Without a
/// COMMAND each input line is itself a command line.
#[derive(Debug, Parser)]
#[command(
    name = "fanout",
    version,
    max_term_width = 100,
    override_usage = "fanout [OPTIONS] [COMMAND [ARGS...]] [::: VALUES | :::+ VALUES | :::: FILES | ::::+ FILES]...",
    after_long_help = "Examples:\n  \
                  fanout gzip ::: *.log                       # one job per file, as many at once as CPUs\n  \
                  fanout -j4 -k curl -sO {} :::: urls.txt     # 4 at once, output in input order\n  \
                  fanout echo {1}-{2} ::: a b ::: 1 2         # every combination: a-1 a-2 b-1 b-2\n  \
                  find . -name '*.png' | fanout convert {} {.}.jpg\n  \
                  fanout 'grep -c foo {} > {}.count' ::: *.txt   # a single word with shell syntax runs in sh\n\n\
                  Options go before COMMAND: after it, every word (even -k) belongs to the command.\n\n\
                  Exit codes: 0 all jobs succeeded; 1-100 that many jobs failed; 101 more than 100 failed; \
                  128+N interrupted by signal N; 141 stdout closed; 255 fanout's own error.\n\
                  Every option can also be set in the environment as FANOUT_<OPTION> (e.g. FANOUT_JOBS=4); \
                  the command line wins.\n\
                  Completions and man page: fanout completions bash|zsh|fish|elvish|powershell, fanout man.\n\
                  A picture of a finished run: fanout timeline JOBLOG|RESULTS.jsonl -o run.svg|run.html.",
    after_help = "Exit codes: 0 all jobs succeeded; 1-100 that many jobs failed; 101 more than 100 failed; \
                  128+N interrupted by signal N; 141 stdout closed; 255 fanout's own error.\n\
                  Every option can also be set in the environment as FANOUT_<OPTION> (e.g. FANOUT_JOBS=4); \
                  the command line wins.\n\
                  Completions and man page: fanout completions bash|zsh|fish|elvish|powershell, fanout man.\n\
                  A picture of a finished run: fanout timeline JOBLOG|RESULTS.jsonl -o run.svg|run.html."
)]
pub struct Cli {
    /// Job slots: N, N% of the CPUs, +N or -N relative to them, 0 for as many as possible
    /// [default: the CPUs this process may use, and inside a Slurm allocation no more than it
    /// gives this node]
    #[arg(
        short = 'j',
        long = "jobs",
        short_alias = 'P',
        alias = "max-procs",
        env = "FANOUT_JOBS",
        value_name = "N",
        allow_hyphen_values = true
    )]
    #[arg(help_heading = "Input and running")]
    jobs: Option<String>,

    /// Read arguments from FILE, one per line (- for stdin); may be repeated
    #[arg(
        short = 'a',
        long = "arg-file",
        env = "FANOUT_ARG_FILE",
        value_name = "FILE"
    )]
    #[arg(help_heading = "Input and running")]
    arg_file: Vec<PathBuf>,

    /// Input values are separated by NUL, not newline
    #[arg(short = '0', long = "null", env = "FANOUT_NULL")]
    #[arg(help_heading = "Input and running")]
    null: bool,

    /// Always run the command through `sh -c` (values are quoted)
    #[arg(long, env = "FANOUT_SHELL")]
    #[arg(help_heading = "Input and running")]
    shell: bool,

    /// Print the commands that would run; run nothing
    #[arg(long = "dry-run", alias = "dryrun", env = "FANOUT_DRY_RUN")]
    #[arg(help_heading = "Input and running")]
    dry_run: bool,

    /// Print each job's output whole when it ends (the default)
    #[arg(long, env = "FANOUT_GROUP", overrides_with_all = ["line_buffer", "ungroup"])]
    #[arg(help_heading = "Output")]
    group: bool,

    /// Pass output through line by line as it comes
    #[arg(long = "line-buffer", aliases = ["lb", "linebuffer"], env = "FANOUT_LINE_BUFFER", overrides_with_all = ["group", "ungroup"])]
    #[arg(help_heading = "Output")]
    line_buffer: bool,

    /// Pass output through unbuffered (lines of jobs may mix)
    #[arg(short = 'u', long, env = "FANOUT_UNGROUP", overrides_with_all = ["group", "line_buffer"])]
    #[arg(help_heading = "Output")]
    ungroup: bool,

    /// Print output in input order, each job as soon as the ones before it are printed
    #[arg(short = 'k', long = "keep-order", env = "FANOUT_KEEP_ORDER")]
    #[arg(help_heading = "Output")]
    keep_order: bool,

    /// Prefix each output line with the job's arguments and a tab
    #[arg(long, env = "FANOUT_TAG")]
    #[arg(help_heading = "Output")]
    tag: bool,

    /// Prefix each output line with STR (replacement strings allowed) and a tab
    #[arg(long, env = "FANOUT_TAGSTRING", value_name = "STR")]
    #[arg(help_heading = "Output")]
    tagstring: Option<OsString>,

    /// Print each distinct stdout line only once, in order of first completion (not with
    /// --line-buffer or -u)
    #[arg(long, env = "FANOUT_UNIQUE")]
    #[arg(help_heading = "Output")]
    unique: bool,

    /// Buffer output past 1 MiB per job and stream in unlinked temporary files in DIR
    /// [default: $TMPDIR, else /tmp]
    #[arg(long, env = "FANOUT_TMPDIR", value_name = "DIR")]
    #[arg(help_heading = "Output")]
    tmpdir: Option<PathBuf>,

    /// End a job that runs longer than DURATION (30s, 2m, 1.5) with the terminate sequence;
    /// N% is that much of the median runtime of the jobs that succeeded so far
    #[arg(long, env = "FANOUT_TIMEOUT", value_name = "DURATION|N%", allow_hyphen_values = true, value_parser = super::usage::timeout)]
    #[arg(help_heading = "Failures: timeouts, retries, halting")]
    timeout: Option<super::usage::Timeout>,

    /// Terminate sequence for timeouts and --halt now: SIGNAL,MS,... (GNU parallel's syntax)
    #[arg(long, alias = "term-seq", env = "FANOUT_TERMSEQ", value_name = "SEQ", default_value = "TERM,200,TERM,100,TERM,50,KILL,25", value_parser = TermSeq::parse)]
    #[arg(help_heading = "Failures: timeouts, retries, halting")]
    termseq: TermSeq,

    /// Print a SLOW line for a job still running after DURATION (and each DURATION after)
    #[arg(long, env = "FANOUT_SLOW", value_name = "DURATION", allow_hyphen_values = true, value_parser = above_zero)]
    #[arg(help_heading = "Failures: timeouts, retries, halting")]
    slow: Option<Duration>,

    /// Run a failed or timed-out job up to N times in all (GNU parallel's meaning; 0 and 1:
    /// once)
    #[arg(
        long,
        env = "FANOUT_RETRIES",
        value_name = "N",
        default_value_t = 0,
        allow_hyphen_values = true
    )]
    #[arg(help_heading = "Failures: timeouts, retries, halting")]
    retries: u32,

    /// Wait DURATION before each retry
    #[arg(long = "retry-delay", env = "FANOUT_RETRY_DELAY", value_name = "DURATION", allow_hyphen_values = true, value_parser = parse_duration, default_value = "0")]
    #[arg(help_heading = "Failures: timeouts, retries, halting")]
    retry_delay: Duration,

    /// Double the retry delay after each retry
    #[arg(long = "retry-backoff", env = "FANOUT_RETRY_BACKOFF")]
    #[arg(help_heading = "Failures: timeouts, retries, halting")]
    retry_backoff: bool,

    /// The longest retry delay when backing off
    #[arg(long = "retry-max-delay", env = "FANOUT_RETRY_MAX_DELAY", value_name = "DURATION", allow_hyphen_values = true, value_parser = parse_duration, default_value = "1m")]
    #[arg(help_heading = "Failures: timeouts, retries, halting")]
    retry_max_delay: Duration,

    /// Stop early: never, soon,fail=N, now,fail=N, soon,fail=P%, now,success=N, now,done=N ...
    #[arg(long, alias = "halt-on-error", env = "FANOUT_HALT", value_name = "WHEN,WHAT=N", value_parser = HaltPolicy::parse, default_value = "never")]
    #[arg(help_heading = "Failures: timeouts, retries, halting")]
    halt: HaltPolicy,

    /// After a forwarded signal, how long jobs get to exit before they are killed
    #[arg(long, env = "FANOUT_GRACE", value_name = "DURATION", allow_hyphen_values = true, value_parser = parse_duration, default_value = "5s")]
    #[arg(help_heading = "Failures: timeouts, retries, halting")]
    grace: Duration,

    /// Write GNU parallel's joblog to FILE, a line per finished job (+FILE: add to it)
    #[arg(long, alias = "jl", env = "FANOUT_JOBLOG", value_name = "FILE")]
    #[arg(help_heading = "Joblog and results")]
    joblog: Option<PathBuf>,

    /// Skip the jobs already in the joblog
    #[arg(long, env = "FANOUT_RESUME", conflicts_with = "resume_failed")]
    #[arg(help_heading = "Joblog and results")]
    resume: bool,

    /// Skip the jobs that succeeded in the joblog; rerun the failed ones
    #[arg(long = "resume-failed", env = "FANOUT_RESUME_FAILED")]
    #[arg(help_heading = "Joblog and results")]
    resume_failed: bool,

    /// With --resume or --resume-failed: skip by sequence number alone, without checking that
    /// each job in the joblog still renders to the command it ran
    #[arg(long = "resume-force", env = "FANOUT_RESUME_FORCE")]
    #[arg(help_heading = "Joblog and results")]
    resume_force: bool,

    /// Write one JSON object per finished job, with its output, to FILE (- for stdout)
    #[arg(
        long = "results-json",
        env = "FANOUT_RESULTS_JSON",
        value_name = "FILE"
    )]
    #[arg(help_heading = "Joblog and results")]
    results_json: Option<PathBuf>,

    /// As GNU parallel: each job's stdout, stderr and seq in DIR/1/<value>/... (no job output
    /// is printed); a name ending in .csv, .tsv or .json is a table of all jobs (-.csv: stdout)
    #[arg(
        long = "results",
        alias = "res",
        env = "FANOUT_RESULTS",
        value_name = "DIR|FILE",
        allow_hyphen_values = true
    )]
    #[arg(help_heading = "Joblog and results")]
    results: Option<PathBuf>,

    /// Write each job's stdout, stderr, exit status, command and record into DIR/<seq>/
    /// (the job output is still printed)
    #[arg(
        long = "results-by-seq",
        env = "FANOUT_RESULTS_BY_SEQ",
        value_name = "DIR"
    )]
    #[arg(help_heading = "Joblog and results")]
    results_by_seq: Option<PathBuf>,

    /// Show the progress bar (with its ETA) even when stderr is not a terminal (also GNU
    /// parallel's --bar and --eta)
    #[arg(long, aliases = ["bar", "eta"], env = "FANOUT_PROGRESS", overrides_with = "no_progress")]
    #[arg(help_heading = "Progress, logs and summary")]
    progress: bool,

    /// Never show the progress bar
    #[arg(
        long = "no-progress",
        env = "FANOUT_NO_PROGRESS",
        overrides_with = "progress"
    )]
    #[arg(help_heading = "Progress, logs and summary")]
    no_progress: bool,

    /// Without a bar, log a progress line this often
    #[arg(long = "progress-interval", env = "FANOUT_PROGRESS_INTERVAL", value_name = "DURATION", allow_hyphen_values = true, value_parser = parse_duration, default_value = "10s")]
    #[arg(help_heading = "Progress, logs and summary")]
    progress_interval: Duration,

    /// The end-of-run summary on stderr: auto (on a terminal, or when something failed; json
    /// with JSON logs), text, json or none
    #[arg(long, env = "FANOUT_SUMMARY", value_enum, default_value_t = SummaryArg::Auto)]
    #[arg(help_heading = "Progress, logs and summary")]
    summary: SummaryArg,

    /// Print no summary (--summary none)
    #[arg(long = "no-summary", env = "FANOUT_NO_SUMMARY")]
    #[arg(help_heading = "Progress, logs and summary")]
    no_summary: bool,

    /// Log format: text or json (one object per line)
    #[arg(long = "log-format", env = "FANOUT_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    #[arg(help_heading = "Progress, logs and summary")]
    pub log_format: LogFormat,

    /// Write logs to FILE instead of stderr
    #[arg(long = "log-file", env = "FANOUT_LOG_FILE", value_name = "FILE")]
    #[arg(help_heading = "Progress, logs and summary")]
    pub log_file: Option<PathBuf>,

    /// Log level or RUST_LOG-style filter (e.g. debug, fanout=trace) [default: warn; info for JSON logs]
    #[arg(long = "log-level", env = "FANOUT_LOG_LEVEL", value_name = "FILTER", value_parser = log_filter)]
    #[arg(help_heading = "Progress, logs and summary")]
    pub log_level: Option<String>,

    /// More log output, a level per -v (text logs: -v info, -vv debug, -vvv trace)
    #[arg(short, long, action = ArgAction::Count, env = "FANOUT_VERBOSE")]
    #[arg(help_heading = "Progress, logs and summary")]
    pub verbose: u8,

    /// Less output (once: no summary, errors only; twice: nothing). Not -q: that is GNU
    /// parallel's --quote
    #[arg(long, action = ArgAction::Count, env = "FANOUT_QUIET")]
    #[arg(help_heading = "Progress, logs and summary")]
    pub quiet: u8,

    #[command(flatten)]
    cluster: super::args_slurm::ClusterArgs,

    #[command(flatten)]
    pipe: super::args_pipe::PipeArgs,

    #[command(flatten)]
    template: super::args_template::TemplateArgs,

    #[command(flatten)]
    ssh: super::args_ssh::SshArgs,

    #[command(flatten)]
    gnu: GnuArgs,

    /// COMMAND [ARGS...] then input sources: ::: ARGS, :::+ ARGS (linked), :::: FILES, ::::+ FILES
    #[arg(trailing_var_arg = true, value_name = "COMMAND")]
    rest: Vec<OsString>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum SummaryArg {
    Auto,
    Text,
    Json,
    None,
}

impl Cli {
    /// Builds the engine's configuration and the reporters' options.
    pub fn into_config(self) -> Result<(Config, ReportOptions), String> {
        let (onall, nonall) = (self.ssh.onall, self.ssh.nonall);
        let ssh = self.ssh.into_config(self.jobs.as_deref())?;
        let onall = super::args_ssh::onall(
            onall,
            nonall,
            self.jobs.as_deref(),
            ssh.as_ref().map_or(1, |s| s.logins.len()),
        )?;
        let cpus = super::args_slurm::cpus_here();
        let slots = match &self.jobs {
            Some(j) => config::parse_slots(j, cpus).map_err(|e| {
                // The one value clap cannot parse (it needs the CPU count), so the flag's
                // name is added here. The value may come from the environment: say so, or
                // the user searches the command line for it.
                let e = for_flag("--jobs", j, e);
                match std::env::var("FANOUT_JOBS") {
                    Ok(v) if v == *j => format!("{e} (set by FANOUT_JOBS)"),
                    _ => e,
                }
            })?,
            None => cpus,
        };
        let (command, mut sources) =
            split_sources(self.rest, !self.arg_file.is_empty(), &self.gnu.separators())?;
        if nonall && (!sources.is_empty() || !self.arg_file.is_empty()) {
            return Err(
                "--nonall runs the command once per host and takes no input: drop the :::, :::: or -a values, or use --onall".into(),
            );
        }
        let reads_stdin = !nonall && (sources.is_empty() && self.arg_file.is_empty())
            || self.arg_file.iter().any(|p| p.as_os_str() == "-")
            || sources
                .iter()
                .any(|s| matches!(&s.kind, SourceKind::File(p) if p.as_os_str() == "-"));
        let arg_files = self.arg_file.into_iter().map(|p| Source {
            kind: SourceKind::File(p),
            linked: false,
        });
        sources.splice(0..0, arg_files);
        let output = if self.ungroup {
            OutputMode::Ungroup
        } else if self.line_buffer {
            OutputMode::LineBuffer
        } else {
            OutputMode::Group
        };
        // Lines are made unique when a job ends, from its captured output; output passed
        // through as it comes is already printed by then.
        if self.unique && output != OutputMode::Group {
            return Err(format!(
                "--unique needs each job's whole output, so it cannot be combined with {}: drop one of them",
                if output == OutputMode::Ungroup {
                    "--ungroup"
                } else {
                    "--line-buffer"
                }
            ));
        }
        let tag = match (self.tagstring, self.tag) {
            (Some(t), _) => Some(Tag::Template(t)),
            (None, true) => Some(Tag::Args),
            (None, false) => None,
        };
        let resume = if self.resume_failed {
            ResumeMode::ResumeFailed
        } else if self.resume {
            ResumeMode::Resume
        } else {
            ResumeMode::Off
        };
        if self.resume_force && resume == ResumeMode::Off {
            return Err(
                "--resume-force only changes how --resume and --resume-failed check the joblog: add one of them, or drop --resume-force".into(),
            );
        }
        let summary = if self.no_summary || self.quiet > 0 {
            SummaryMode::Off
        } else {
            match self.summary {
                SummaryArg::Auto => SummaryMode::Auto,
                SummaryArg::Text => SummaryMode::Text,
                SummaryArg::Json => SummaryMode::Json,
                SummaryArg::None => SummaryMode::Off,
            }
        };
        let progress = if self.no_progress || self.quiet > 0 {
            ProgressMode::Off
        } else if self.progress {
            ProgressMode::On
        } else {
            ProgressMode::Auto
        };
        let capture =
            self.results_json.is_some() || self.results.is_some() || self.results_by_seq.is_some();
        if let Some(p) = &self.results
            && p.as_os_str().as_encoded_bytes().contains(&b'{')
        {
            return Err(format!(
                "--results `{}` holds a replacement string: GNU parallel's per-value result names are not supported; give a directory or a .csv/.tsv/.json file",
                p.display()
            ));
        }
        if let Some(d) = &self.tmpdir
            && !d.is_dir()
        {
            return Err(format!(
                "--tmpdir `{}` is not a directory: give an existing directory for the temporary files",
                d.display()
            ));
        }
        if self.joblog.as_deref() == Some(std::path::Path::new("-"))
            && (self.resume || self.resume_failed)
        {
            return Err(
                "--joblog - writes the joblog to stdout, where --resume cannot read it: give a file".into(),
            );
        }
        // GNU parallel's `--joblog +FILE`: append (write `./+FILE` for a file named so).
        let (joblog, joblog_append) = match self.joblog {
            Some(p) => match p.as_os_str().as_bytes().strip_prefix(b"+") {
                Some(rest) if !rest.is_empty() => {
                    (Some(PathBuf::from(std::ffi::OsStr::from_bytes(rest))), true)
                }
                _ => (Some(p), false),
            },
            None => (None, false),
        };
        if let Some(p) = &self.results_json
            && joblog.as_ref() == Some(p)
        {
            return Err(format!(
                "`{}` is both the joblog and the --results-json file: give them different paths",
                p.display()
            ));
        }
        let pipe = self.pipe.into_config(super::args_pipe::Context {
            sources: &mut sources,
            dry_run: self.dry_run,
            retries: self.retries,
        })?;
        let mut config = Config {
            command,
            shell_mode: if self.shell {
                ShellMode::Always
            } else {
                ShellMode::Auto
            },
            sources,
            separator: if self.null { 0 } else { b'\n' },
            input_filter: Default::default(),
            slots,
            output,
            keep_order: self.keep_order,
            tag,
            unique: self.unique,
            dry_run: self.dry_run,
            timeout: match self.timeout {
                Some(super::usage::Timeout::After(d)) => Some(d),
                _ => None,
            },
            timeout_percent: match self.timeout {
                Some(super::usage::Timeout::Percent(p)) => Some(p),
                _ => None,
            },
            termseq: self.termseq,
            slow: self.slow,
            retry: RetryPolicy {
                retries: self.retries,
                delay: self.retry_delay,
                backoff: self.retry_backoff,
                max_delay: self.retry_max_delay,
            },
            halt: self.halt,
            grace: self.grace,
            delay: None,
            shuffle: false,
            nice: None,
            joblog,
            joblog_append,
            retry_failed: false,
            resume,
            resume_force: self.resume_force,
            capture,
            tmpdir: self.tmpdir,
            reap_orphans: true,
            job_control: true,
            cluster: Default::default(),
            pipe,
            replacements: Default::default(),
            grouping: Default::default(),
            ssh,
            onall,
            files: false,
        };
        if config.ssh.is_some() && self.cluster.wants_slurm() {
            return Err(
                "-S/--sshlogin and --slurm both say where jobs run: give one of them".into(),
            );
        }
        self.cluster.apply(&mut config, self.jobs.is_some())?;
        self.template.apply(&mut config)?;
        self.gnu.apply(&mut config)?;
        super::args_pipe::take_grouping(&mut config)?;
        if config.ssh.is_some() {
            if config.cluster.slurm.is_some() {
                return Err(
                    "-S/--sshlogin and --slurm both say where jobs run: give one of them".into(),
                );
            }
            if config.pipe.is_some() {
                return Err(
                    "--pipe cannot feed jobs on ssh hosts yet: run it without -S/--slf".into(),
                );
            }
        }
        if config.onall.is_some() {
            if config.pipe.is_some() {
                return Err(
                    "--onall/--nonall and --pipe cannot go together: run --pipe without them"
                        .into(),
                );
            }
            if config.dry_run {
                return Err(
                    "--dry-run does not show --onall/--nonall runs: run it without --dry-run"
                        .into(),
                );
            }
            // Each host's output together, host after host (GNU parallel groups it by host).
            config.keep_order = true;
        }
        let options = ReportOptions {
            progress,
            progress_interval: self.progress_interval,
            summary,
            results_json: self.results_json,
            results: self.results,
            results_by_seq: self.results_by_seq,
            color: std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
            json_logs_on_stderr: self.log_format == LogFormat::Json && self.log_file.is_none(),
            json_logs: self.log_format == LogFormat::Json,
            input_from_terminal: reads_stdin
                && !config.retry_failed
                && std::io::IsTerminal::is_terminal(&std::io::stdin()),
            verbose: self.verbose > 0,
            bar_slot: Default::default(),
        };
        Ok((config, options))
    }
}
