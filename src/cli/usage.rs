//! One-line usage errors and the value checks clap runs: clap's several-line errors are
//! folded into one line that says what to change; `--timeout`/`--slow` and `--log-level`
//! values are validated here, and an engine error about a value gets its flag's name. Plain
//! helpers: nothing here uses the other `cli` modules (the clap definition is passed in), so
//! `args` and `env` can both build on this file.

use std::time::Duration;

use fanout::config::parse_duration;

/// Turns clap's several-line usage error (message, tip, usage, "For more information") into
/// one line that says what is wrong and what to do, like fanout's other errors. `--help` and
/// `--version` pass through untouched. `cmd` is the full definition (`env::command`): it says
/// which variable sets each option, and gives clap its colour rules.
pub(super) fn one_line(e: clap::Error, cmd: &clap::Command) -> clap::Error {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if !e.use_stderr() {
        return e;
    }
    let unknown = match e.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(arg)) if e.kind() == ErrorKind::UnknownArgument => Some(arg),
        _ => None,
    };
    // A GNU parallel option fanout does not have: say so, and what to do instead.
    if let Some(msg) = unknown.and_then(|arg| super::refusals::refusal(arg)) {
        return clap::Error::raw(e.kind(), format!("{msg}\n")).with_cmd(cmd);
    }
    // clap's "similar argument" only where it is a likely typo, not any option that shares
    // letters (`--eta` is no `--retry-backoff`).
    let close_suggestion = match (unknown, e.get(ContextKind::SuggestedArg)) {
        (Some(arg), Some(ContextValue::String(s))) => is_typo_of(arg, s),
        _ => false,
    };
    let rendered = e.render().to_string();
    let mut parts: Vec<&str> = rendered
        .lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty() && !l.starts_with("Usage:") && !l.starts_with("For more information")
        })
        .map(|l| {
            l.trim_start_matches("error:")
                .trim_start_matches("tip:")
                .trim()
                .trim_start_matches('[')
                .trim_end_matches(']')
        })
        // "to pass '-N' as a value, use '-- -N'" misleads: options go before the command.
        .filter(|l| !l.starts_with("to pass '"))
        .filter(|l| close_suggestion || !l.starts_with("a similar argument exists"))
        .collect();
    // A bad value that came from the environment: name the variable, or the user looks for it
    // on the command line in vain.
    let env_note = match (
        e.get(ContextKind::InvalidArg),
        e.get(ContextKind::InvalidValue),
    ) {
        (Some(ContextValue::String(arg)), Some(ContextValue::String(value))) => {
            let long = arg.split_whitespace().next().unwrap_or("");
            cmd.get_arguments()
                .find(|a| a.get_long().is_some_and(|l| format!("--{l}") == long))
                .and_then(|a| a.get_env().map(|v| v.to_os_string()))
                .filter(|var| std::env::var_os(var).is_some_and(|v| v == value.as_str()))
                .map(|var| format!(" (set by {})", var.to_string_lossy()))
        }
        _ => None,
    };
    // Value parsers already say what to write; for the others, point at the options.
    if e.kind() != ErrorKind::ValueValidation {
        parts.push("see fanout --help");
    }
    let first = parts.first().copied().unwrap_or("invalid command line");
    let rest: String = parts.iter().skip(1).map(|p| format!("; {p}")).collect();
    // `with_cmd` keeps clap's colour rules (a red `error:` on a terminal, none with NO_COLOR)
    // without adding the usage and "For more information" lines that `format` would.
    clap::Error::raw(
        e.kind(),
        format!("{first}{}{rest}\n", env_note.unwrap_or_default()),
    )
    .with_cmd(cmd)
}

/// Whether `typed` is within two edits of `known` (dashes aside): a typo, so clap's
/// suggestion is worth showing.
fn is_typo_of(typed: &str, known: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (
        typed.trim_start_matches('-').chars().collect(),
        known.trim_start_matches('-').chars().collect(),
    );
    // Levenshtein distance, one row at a time.
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()] <= 2
}

/// Names the flag in an engine error about one of its values: the engine knows no flags, so its
/// errors should be worded by the value, and the flag is added here ("invalid value `x` for
/// --jobs: ..."). A message that already names the flag (`config::parse_slots` still does) is
/// kept as it is, so it does not say it twice.
pub(super) fn for_flag(flag: &str, value: &str, msg: String) -> String {
    if msg.contains(flag) {
        msg
    } else {
        format!("invalid value `{value}` for {flag}: {msg}")
    }
}

/// `--timeout` and `--slow`: a duration above zero. Zero would end every job at once, or log
/// a SLOW line in a busy loop; leaving the option out is how to turn them off.
pub(super) fn above_zero(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d.is_zero() {
        return Err(format!(
            "`{s}` is no time at all: give a duration above zero (e.g. 30s), or leave the option out"
        ));
    }
    Ok(d)
}

/// `--timeout`: a duration, or GNU parallel's `N%` of the median runtime of the jobs that
/// succeeded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Timeout {
    After(Duration),
    Percent(f64),
}

pub(super) fn timeout(s: &str) -> Result<Timeout, String> {
    match s.trim().strip_suffix('%') {
        Some(p) => match p.trim().parse::<f64>() {
            Ok(p) if p.is_finite() && p > 0.0 => Ok(Timeout::Percent(p)),
            _ => Err(format!(
                "`{s}` is no percentage above zero: give e.g. 200% (of the median runtime of the jobs that succeeded)"
            )),
        },
        None => above_zero(s).map(Timeout::After),
    }
}

/// `--log-level`: a level, or directives with a target (`fanout=debug`). A bare word that is
/// neither a level nor fanout's target would be read by `EnvFilter` as the name of a target
/// that never logs, so `--log-level warning` would silently turn every log line off.
pub(super) fn log_filter(s: &str) -> Result<String, String> {
    const LEVELS: &[&str] = &["off", "error", "warn", "info", "debug", "trace"];
    for directive in s.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        let known = directive.contains(['=', '['])
            || LEVELS.contains(&directive.to_ascii_lowercase().as_str())
            || directive.parse::<u8>().is_ok_and(|n| n <= 5)
            || directive == "fanout"
            || directive.starts_with("fanout::");
        if !known {
            return Err(format!(
                "unknown log level `{directive}`: use error, warn, info, debug, trace or off, or TARGET=LEVEL (e.g. fanout=debug)"
            ));
        }
    }
    Ok(s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_filter_rejects_a_misspelt_level() {
        for ok in [
            "warn",
            "INFO",
            "3",
            "fanout",
            "fanout=debug",
            "debug,tokio=off",
            "",
        ] {
            assert!(log_filter(ok).is_ok(), "{ok}");
        }
        for bad in ["warning", "verbose", "info,lol"] {
            assert!(log_filter(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_typos_get_a_suggestion() {
        assert!(is_typo_of("--keep-ordr", "--keep-order"));
        assert!(is_typo_of("--tagstrin", "--tagstring"));
        assert!(!is_typo_of("--eta", "--retry-backoff"));
        assert!(!is_typo_of("--nice", "--unique"));
    }

    #[test]
    fn for_flag_names_the_flag_once() {
        assert_eq!(
            for_flag("--jobs", "x", "not a slot count".into()),
            "invalid value `x` for --jobs: not a slot count"
        );
        assert_eq!(
            for_flag("--jobs", "x", "invalid --jobs `x`: use N".into()),
            "invalid --jobs `x`: use N"
        );
    }
}
