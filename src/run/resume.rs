//! `--resume` checks that it resumes the same work: every job the joblog has must render, from
//! this run's input and command, to the command the joblog says it ran (its Command column),
//! else the run is refused before any job starts. Skipping by sequence number alone would
//! skip the wrong jobs after the input or the command changed (GNU parallel does that).
//!
//! A streamed input (a file, stdin) is not read in full: only its values up to the highest
//! seq the joblog has are read, checked, and handed back in front of the rest. Values of jobs
//! that will be skipped are not kept (an empty placeholder holds their place).

use std::collections::HashSet;

use crate::error::SetupError;
use crate::input::ArgStream;
use crate::job::{Job, JobId};
use crate::results::joblog::{Done, escape_command};
use crate::template::{RenderError, Template, TemplateError};

/// The slot a job is rendered in for the check. A job's slot (`{%}`) depends on when it ran,
/// so where this number comes out in the rendered command, any slot number matches.
const ANY_SLOT: u32 = u32::MAX;

/// Checks `input` against the joblog `done` and gives the same stream back.
pub(crate) fn check(
    template: &Template,
    mut input: ArgStream,
    done: &Done,
    skip: &HashSet<u64>,
) -> Result<ArgStream, SetupError> {
    let Some(last) = done.max_seq() else {
        return Ok(input);
    };
    let any_slot = ANY_SLOT.to_string();
    let mut front = Vec::with_capacity(usize::try_from(last).unwrap_or(0).min(1 << 20));
    for seq in 1..=last {
        let args = match input.next() {
            Some(args) => args?,
            None => {
                return Err(SetupError::ResumeInputShorter {
                    logged: last,
                    now: seq - 1,
                });
            }
        };
        let job = Job::new(JobId(seq), args);
        if let Some(logged) = done.command(seq) {
            check_one(template, &job, logged, &any_slot)?;
        }
        front.push(if skip.contains(&seq) {
            Vec::new()
        } else {
            job.args
        });
    }
    Ok(ArgStream::replay(front, input))
}

/// The same for `--onall`, whose job `seq` is input `(seq - 1) % n` on its place (the places
/// are not known yet): the input is read in full and given back whole.
pub(crate) fn check_onall(
    template: &Template,
    input: ArgStream,
    done: &Done,
) -> Result<ArgStream, SetupError> {
    let values = input.collect::<Result<Vec<_>, _>>()?;
    let Some(last) = done.max_seq() else {
        return Ok(ArgStream::from_vec(values));
    };
    let any_slot = ANY_SLOT.to_string();
    for seq in 1..=last {
        let Some(logged) = done.command(seq) else {
            continue;
        };
        let Some(args) = values.get(((seq - 1) as usize).checked_rem(values.len()).unwrap_or(0))
        else {
            return Err(SetupError::ResumeInputShorter {
                logged: last,
                now: 0,
            });
        };
        check_one(
            template,
            &Job::new(JobId(seq), args.clone()),
            logged,
            any_slot.as_str(),
        )?;
    }
    Ok(ArgStream::from_vec(values))
}

/// Job `job` renders to the command the joblog has for it (`logged`).
fn check_one(
    template: &Template,
    job: &Job,
    logged: &[u8],
    any_slot: &str,
) -> Result<(), SetupError> {
    let now = match template.render(job, ANY_SLOT) {
        Ok(spec) => escape_command(&spec.display_bytes()),
        Err(RenderError::Skip) => Vec::new(),
        Err(RenderError::Perl(e)) => {
            return Err(SetupError::Template(TemplateError::PerlFailed(e)));
        }
    };
    if !matches(&now, any_slot.as_bytes(), logged) {
        return Err(SetupError::ResumeMismatch {
            seq: job.id.0,
            logged: shown(logged),
            now: shown(&now).replace(any_slot, "{%}"),
        });
    }
    Ok(())
}

/// A command for the error message: its text, with each byte that is not UTF-8 as `\xNN`, so
/// two commands that differ only there do not look the same.
fn shown(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// Whether `logged` is `pattern` with each `hole` in it replaced by a slot number (digits).
fn matches(pattern: &[u8], hole: &[u8], logged: &[u8]) -> bool {
    let mut pieces = split(pattern, hole);
    let first = pieces.remove(0);
    let Some(rest) = logged.strip_prefix(first) else {
        return false;
    };
    fill(&pieces, rest)
}

/// Whether `text` is, for each piece in turn, one slot number followed by the piece.
fn fill(pieces: &[&[u8]], text: &[u8]) -> bool {
    let Some((piece, later)) = pieces.split_first() else {
        return text.is_empty();
    };
    let digits = text.iter().take_while(|b| b.is_ascii_digit()).count();
    // A piece may start with digits itself: try each length of the number, shortest first.
    (1..=digits.min(10)).any(|n| {
        text[n..]
            .strip_prefix(*piece)
            .is_some_and(|after| fill(later, after))
    })
}

fn split<'a>(text: &'a [u8], sep: &[u8]) -> Vec<&'a [u8]> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.windows(sep.len()).position(|w| w == sep) {
        pieces.push(&rest[..i]);
        rest = &rest[i + sep.len()..];
    }
    pieces.push(rest);
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_number_matches_any_slot() {
        let hole = b"4294967295";
        assert!(matches(b"echo a", hole, b"echo a"));
        assert!(!matches(b"echo a", hole, b"echo b"));
        assert!(matches(b"run 4294967295 x", hole, b"run 3 x"));
        assert!(matches(b"run 42949672950 x", hole, b"run 120 x"));
        assert!(!matches(b"run 4294967295 x", hole, b"run  x"));
        assert!(!matches(b"run 4294967295 x", hole, b"run 3 y"));
        assert!(matches(b"4294967295-4294967295", hole, b"1-12"));
        assert_eq!(shown(b"echo '\xffa'"), "echo '\\xffa'");
    }
}
