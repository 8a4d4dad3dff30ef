//! Reading the environment on top of the `args` table: every switch takes
//! `FANOUT_<OPTION>=true|false|1|0|...`, an empty variable counts as unset, and the command line
//! wins over the environment, also across options that override each other. `parse` is the
//! entry point; `command` the clap definition shared by `--help`, completions and the man page.
//! Builds on `args` (the `Cli` struct) and `usage` (one-line errors); neither uses this file.

use std::ffi::OsString;

use clap::ArgAction;

use super::args::Cli;
use super::usage::one_line;

/// The clap definition used for parsing, `--help`, completions and the man page alike:
/// the derived one, with every switch reading its `FANOUT_<OPTION>` value leniently.
pub fn command() -> clap::Command {
    use clap::CommandFactory;
    Cli::command().mut_args(|a| match a.get_action() {
        ArgAction::SetTrue => a.value_parser(env_switch),
        _ => a,
    })
}

/// Parses the command line (and the environment; an empty variable is unset). The command line wins: when it sets one of
/// a set of overriding options (`--group`/`--line-buffer`/`--ungroup`, ...), the environment is
/// not read for the others (`FANOUT_UNGROUP=1 fanout --group ...` groups). clap alone would
/// call that a conflict, as it cannot rank an environment value below the command line.
pub fn parse(argv: Vec<OsString>) -> Result<Cli, clap::Error> {
    use clap::FromArgMatches;
    use clap::parser::ValueSource;
    let argv = super::parallel_env::expand(argv, &command()).map_err(|e| {
        clap::Error::raw(clap::error::ErrorKind::InvalidValue, format!("{e}\n"))
            .with_cmd(&command())
    })?;
    let no_env = command().mut_args(|a| a.env(None::<&'static str>));
    // A command line that fails here fails below too, with the full error.
    let on_line: Vec<&str> = match no_env.try_get_matches_from(argv.clone()) {
        Ok(m) => OVERRIDING
            .iter()
            .flat_map(|set| set.iter().copied())
            .filter(|id| m.value_source(id) == Some(ValueSource::CommandLine))
            .collect(),
        Err(_) => Vec::new(),
    };
    let silenced: Vec<&str> = OVERRIDING
        .iter()
        .filter(|set| set.iter().any(|id| on_line.contains(id)))
        .flat_map(|set| set.iter().copied())
        .filter(|id| !on_line.contains(id))
        .collect();
    let mut m = command()
        .mut_args(|a| {
            // An empty variable counts as unset (`-e FANOUT_JOBS=` in a compose file).
            let empty = a
                .get_env()
                .and_then(std::env::var_os)
                .is_some_and(|v| v.is_empty());
            if empty || silenced.contains(&a.get_id().as_str()) {
                a.env(None::<&'static str>)
            } else {
                a
            }
        })
        .try_get_matches_from(argv)
        .map_err(|e| one_line(e, &command()))?;
    Cli::from_arg_matches_mut(&mut m).map_err(|e| one_line(e, &command()))
}

/// Options of which only one takes effect; on the command line the last one wins, against the
/// environment the command line does.
const OVERRIDING: &[&[&str]] = &[
    &["group", "line_buffer", "ungroup"],
    &["progress", "no_progress"],
    &["resume", "resume_failed"],
    &["tag", "tagstring"],
    &["summary", "no_summary"],
];

/// A switch's value from the environment: true/false, 1/0, yes/no, on/off (any case); empty
/// means unset. (On the command line a switch takes no value; clap passes `true`.)
fn env_switch(s: &str) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "y" | "on" => Ok(true),
        "false" | "0" | "no" | "n" | "off" | "" => Ok(false),
        _ => Err("a switch takes true or false (or 1/0, yes/no, on/off)".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_valid() {
        Cli::command().debug_assert();
        command().debug_assert();
    }

    /// Every option can be set from the environment as `FANOUT_` + its long name in capitals.
    #[test]
    fn every_option_has_its_env_name() {
        let cmd = command();
        let mut checked = 0;
        for arg in cmd.get_arguments() {
            let Some(long) = arg.get_long() else {
                continue;
            };
            if ["help", "version"].contains(&long) {
                continue;
            }
            let want = format!("FANOUT_{}", long.to_uppercase().replace('-', "_"));
            assert_eq!(
                arg.get_env().and_then(|e| e.to_str()),
                Some(want.as_str()),
                "--{long}"
            );
            checked += 1;
        }
        assert!(checked >= 30, "only {checked} options checked");
    }

    #[test]
    fn env_switch_values() {
        for t in ["true", "TRUE", "1", "yes", "on"] {
            assert_eq!(env_switch(t), Ok(true), "{t}");
        }
        for f in ["false", "0", "no", "off", ""] {
            assert_eq!(env_switch(f), Ok(false), "{f}");
        }
        assert!(env_switch("maybe").is_err());
    }

    #[test]
    fn overriding_ids_exist() {
        let cmd = command();
        for id in OVERRIDING.iter().flat_map(|s| s.iter()) {
            assert!(cmd.get_arguments().any(|a| a.get_id() == id), "{id}");
        }
    }
}
