//! `$PARALLEL`: GNU parallel's default options, read from the environment as it reads them
//! (words split at whitespace, `\` escapes the next character) and put before the command
//! line's options. The command line wins over them, and so does a `FANOUT_<OPTION>` variable:
//! an option of `$PARALLEL` that either one sets is left out.

use std::ffi::OsString;

use clap::ArgAction;

/// `argv` with the options of `$PARALLEL` inserted after the program name.
pub(super) fn expand(argv: Vec<OsString>, cmd: &clap::Command) -> Result<Vec<OsString>, String> {
    let Some(value) = std::env::var_os("PARALLEL").filter(|v| !v.is_empty()) else {
        return Ok(argv);
    };
    let value = value
        .into_string()
        .map_err(|_| "$PARALLEL is not valid UTF-8: fix or unset it".to_string())?;
    let words = split(&value);
    let given = options(
        argv.iter()
            .skip(1)
            .map(|w| w.to_string_lossy().into_owned()),
        cmd,
    );
    let defaults = options(words.iter().cloned(), cmd);
    if defaults.iter().map(|(_, w)| w.len()).sum::<usize>() != words.len() {
        return Err(format!(
            "$PARALLEL holds more than options (`{value}`): put only options there, the command on the command line"
        ));
    }
    let mut out = vec![argv[0].clone()];
    for (id, group) in defaults {
        let overridden = id.as_ref().is_some_and(|id| {
            given.iter().any(|(g, _)| g.as_ref() == Some(id)) || env_sets(cmd, id)
        });
        if !overridden {
            out.extend(group.into_iter().map(OsString::from));
        }
    }
    out.extend(argv.into_iter().skip(1));
    Ok(out)
}

/// GNU parallel's reading of `$PARALLEL`: whitespace separates words, `\` escapes.
fn split(s: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => word.get_or_insert_default().extend(chars.next()),
            c if c.is_whitespace() => words.extend(word.take()),
            c => word.get_or_insert_default().push(c),
        }
    }
    words.extend(word);
    words
}

/// Whether the option's `FANOUT_<OPTION>` variable is set (and not empty).
fn env_sets(cmd: &clap::Command, id: &str) -> bool {
    cmd.get_arguments()
        .find(|a| a.get_id() == id)
        .and_then(|a| a.get_env())
        .and_then(std::env::var_os)
        .is_some_and(|v| !v.is_empty())
}

/// The leading options of `words`, each with its value words: `(id, words)`, `None` for a
/// word clap does not know (it reports it later). Stops at the first word that is no option.
fn options(
    words: impl Iterator<Item = String>,
    cmd: &clap::Command,
) -> Vec<(Option<String>, Vec<String>)> {
    let takes_value = |a: &clap::Arg| matches!(a.get_action(), ArgAction::Set | ArgAction::Append);
    let mut out = Vec::new();
    let mut words = words.peekable();
    while let Some(w) = words.next() {
        if w == "--" || !w.starts_with('-') || w == "-" {
            break;
        }
        let mut group = vec![w.clone()];
        let arg = if let Some(long) = w.strip_prefix("--") {
            let (name, inline) = long
                .split_once('=')
                .map_or((long, false), |(n, _)| (n, true));
            let arg = cmd.get_arguments().find(|a| {
                a.get_long() == Some(name)
                    || a.get_all_aliases().is_some_and(|al| al.contains(&name))
            });
            if arg.is_some_and(|a| takes_value(a) && !inline) {
                group.extend(words.next());
            }
            arg
        } else {
            // A cluster of short options: the first that takes a value takes the rest.
            let mut found = None;
            for (i, c) in w.char_indices().skip(1) {
                let arg = cmd.get_arguments().find(|a| {
                    a.get_short() == Some(c)
                        || a.get_all_short_aliases().is_some_and(|al| al.contains(&c))
                });
                found = found.or(arg);
                if let Some(a) = arg
                    && takes_value(a)
                {
                    if i + c.len_utf8() == w.len() {
                        group.extend(words.next());
                    }
                    break;
                }
            }
            found
        };
        out.push((arg.map(|a| a.get_id().to_string()), group));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_as_gnu_parallel() {
        assert_eq!(split(" -j2  --tag\\ x -k"), ["-j2", "--tag x", "-k"]);
        assert_eq!(split(""), Vec::<String>::new());
    }

    #[test]
    fn groups_options_with_their_values() {
        let cmd = super::super::env::command();
        let words = [
            "-j",
            "2",
            "-k",
            "--joblog=x",
            "--timeout",
            "3",
            "echo",
            "-j",
        ];
        let got = options(words.iter().map(|s| s.to_string()), &cmd);
        let ids: Vec<_> = got
            .iter()
            .map(|(id, g)| (id.clone().unwrap(), g.len()))
            .collect();
        assert_eq!(
            ids,
            [
                ("jobs".to_string(), 2),
                ("keep_order".to_string(), 1),
                ("joblog".to_string(), 1),
                ("timeout".to_string(), 2)
            ]
        );
    }
}
