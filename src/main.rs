//! The `fanout` binary: parse the command line, set up logging, run the session, exit with its
//! code. Everything else lives in the library.

mod cli;
mod logging;

use std::process::ExitCode;

use fanout::{Cancel, Run, exit, signals};

fn main() -> ExitCode {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // Started as a run's guard (it ends the jobs if fanout is killed): be only that.
    if let Some(code) = fanout::exec::main_if_guard(&argv) {
        return ExitCode::from(code);
    }
    if let Some(code) = extras(&argv) {
        return ExitCode::from(code);
    }
    let cli = match cli::parse(argv) {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    let bar = fanout::report::term::BarSlot::default();
    // With JSON logs, fanout's own errors are JSON lines too.
    let json = cli.log_format == cli::LogFormat::Json;
    let fail = |msg: &str| fail_as(json, msg);
    let _log = match logging::init(&cli, &bar) {
        Ok(guard) => guard,
        Err(e) => return fail(&e),
    };
    let (config, mut options) = match cli.into_config() {
        Ok(c) => c,
        Err(e) => return fail(&e),
    };
    options.bar_slot = bar;
    let prepared = match Run::new(config).standard_reporters(options).prepare() {
        Ok(p) => p,
        Err(e) => return fail(&e.to_string()),
    };
    // A single-threaded runtime: this thread is the first of the run's scheduler threads
    // (the runner starts one more per CPU, each with its own runtime). Blocking work
    // (stdout, stdin, /proc scans) has threads of its own.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return fail(&format!("cannot start the runtime: {e}")),
    };
    let result = runtime.block_on(async {
        let cancel = Cancel::new();
        tokio::spawn(signals::listen(cancel.clone()));
        // As a task, not in `block_on` itself: waking a task from another task on this thread
        // is a queue push, waking `block_on` writes to the runtime's eventfd (once per job).
        tokio::spawn(prepared.run(cancel))
            .await
            .map_err(|e| format!("the run failed: {e}"))
    });
    // Jobs are over; do not wait for stray blocking tasks (a stdin read that never ends).
    runtime.shutdown_background();
    match result {
        Ok(Ok(summary)) => ExitCode::from(summary.exit_code as u8),
        Ok(Err(e)) => fail(&e.to_string()),
        Err(e) => fail(&e),
    }
}

/// `--help` and `--version` print and exit 0; a usage error is fanout's own error (255, as GNU
/// parallel), not clap's default 2, so scripts see one code for every setup problem.
fn usage_error(e: clap::Error) -> ExitCode {
    if !e.use_stderr() {
        let _ = e.print();
        return ExitCode::SUCCESS;
    }
    // `cli::parse` already made it one line; the prefix matches fanout's other errors, and
    // clap keeps its colour rules (a red `error:` on a terminal, none with NO_COLOR).
    say("fanout: ", "");
    let _ = e.print();
    ExitCode::from(exit::SETUP_ERROR as u8)
}

/// Prints fanout's own error on one line (JSON with JSON logs) and exits 255.
fn fail_as(json: bool, msg: &str) -> ExitCode {
    say("", logging::error_line(json, msg).trim_end());
    ExitCode::from(exit::SETUP_ERROR as u8)
}

/// Writes `prefix` and `msg` (and a newline after a message) to stderr. A stderr that cannot be
/// written (a closed terminal, `/dev/full`) loses the message; it never panics, which is what
/// `eprintln!` would do.
fn say(prefix: &str, msg: &str) {
    use std::io::Write;
    let end = if msg.is_empty() { "" } else { "\n" };
    let _ = write!(std::io::stderr().lock(), "{prefix}{msg}{end}");
}

/// `fanout completions SHELL` and `fanout man`, generated from the same clap definition as
/// `--help`. (A program named `completions` or `man` runs with `fanout -- man ...`.)
fn extras(argv: &[std::ffi::OsString]) -> Option<u8> {
    match argv.get(1).and_then(|a| a.to_str()) {
        Some("completions") => {
            let Some(shell) = argv.get(2).and_then(|s| s.to_str()) else {
                say(
                    "fanout: error: ",
                    &format!(
                        "completions needs a shell: fanout completions SHELL, SHELL one of {}",
                        cli::SHELLS
                    ),
                );
                return Some(exit::SETUP_ERROR as u8);
            };
            let Ok(sh) = shell.parse::<clap_complete::Shell>() else {
                say(
                    "fanout: error: ",
                    &format!("unknown shell `{shell}`: use {}", cli::SHELLS),
                );
                return Some(exit::SETUP_ERROR as u8);
            };
            match cli::completions(sh, &mut std::io::stdout().lock()) {
                Ok(()) => Some(0),
                Err(e) => {
                    say(
                        "fanout: error: cannot write the completions: ",
                        &e.to_string(),
                    );
                    Some(exit::SETUP_ERROR as u8)
                }
            }
        }
        Some("man") => match cli::man(&mut std::io::stdout().lock()) {
            Ok(()) => Some(0),
            Err(e) => {
                say("fanout: error: cannot write the man page: ", &e.to_string());
                Some(exit::SETUP_ERROR as u8)
            }
        },
        Some("timeline") => Some(timeline(&argv[2..])),
        _ => None,
    }
}

/// `fanout timeline JOBLOG|RESULTS.jsonl -o run.svg|run.html`: draws a finished run as a Gantt
/// chart (`fanout::report::timeline`). Two arguments, so no clap table of its own.
fn timeline(args: &[std::ffi::OsString]) -> u8 {
    const USAGE: &str = "usage: fanout timeline JOBLOG|RESULTS.jsonl -o run.svg|run.html";
    let usage = |msg: &str| {
        say("fanout: error: ", &format!("{msg}; {USAGE}"));
        exit::SETUP_ERROR as u8
    };
    let (mut input, mut output) = (None, None);
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.to_str() {
            Some("-h" | "--help") => {
                let help = format!(
                    "{USAGE}\n\nDraws the jobs of a joblog (fanout's or GNU parallel's) or a --results-json file:\none row per slot, one bar per job, coloured by outcome; .html is one self-contained page.\n"
                );
                let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), help.as_bytes());
                return 0;
            }
            Some("-o" | "--output") => match rest.next() {
                Some(path) => output = Some(std::path::PathBuf::from(path)),
                None => return usage("`-o` needs the picture's file name"),
            },
            Some(s) if s.starts_with("--output=") => output = Some(s["--output=".len()..].into()),
            Some(s) if s.starts_with('-') && s.len() > 1 => {
                return usage(&format!("unknown option `{s}` for timeline"));
            }
            _ if input.is_none() => input = Some(std::path::PathBuf::from(arg)),
            _ => {
                return usage(&format!(
                    "one input file only (got `{}` too)",
                    arg.to_string_lossy()
                ));
            }
        }
    }
    let (Some(input), Some(output)) = (input, output) else {
        return usage("timeline needs a joblog or results file and `-o FILE`");
    };
    match fanout::report::timeline::render(&input, &output) {
        Ok(()) => 0,
        Err(e) => {
            say("fanout: error: ", &e.to_string());
            exit::SETUP_ERROR as u8
        }
    }
}
