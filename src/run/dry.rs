//! `--dry-run`: prints the commands that would run, one per line, and runs nothing.
//! Synchronous and streaming: a million input lines cost a million small writes to a buffer.

use std::io::Write;

use super::prepare::Parts;
use crate::config::{Config, Tag};
use crate::error::RunError;
use crate::exit;
use crate::job::{Job, JobId};
use crate::template::RenderError;

/// Writes the commands to stdout; the exit code is 141 when stdout's reader went away.
pub(crate) fn print(config: &Config, parts: Parts) -> Result<i32, RunError> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, stdout.lock());
    let slots = config.slots.max(1) as u64;
    for (i, args) in parts.input.enumerate() {
        let seq = i as u64 + 1;
        let args = args?;
        if parts.skip.contains(&seq) {
            continue;
        }
        let job = Job::new(JobId(seq), args);
        let slot = ((seq - 1) % slots) as u32 + 1;
        let rendered = parts.template.render(&job, slot).and_then(|spec| {
            let tag = match (&parts.tag, &config.tag) {
                (Some(t), _) => t.render_plain(&job, slot)?,
                (None, Some(Tag::Args)) => job.args.join(&b' '),
                _ => Vec::new(),
            };
            Ok((spec, tag))
        });
        let (spec, mut line) = match rendered {
            Ok(r) => r,
            Err(RenderError::Skip) => continue,
            Err(RenderError::Perl(e)) => return Err(RunError::Perl(e)),
        };
        // The bytes as they are (GNU parallel does not re-encode), after the tag as output
        // lines would have it (`a<TAB>echo a`).
        if config.tag.is_some() {
            line.push(b'\t');
        }
        line.extend_from_slice(&spec.display_bytes());
        line.push(b'\n');
        match out.write_all(&line) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                return Ok(exit::OUTPUT_CLOSED);
            }
            r => r.map_err(RunError::Stdout)?,
        }
    }
    match out.flush() {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(exit::OUTPUT_CLOSED),
        r => r.map(|_| exit::SUCCESS).map_err(RunError::Stdout),
    }
}
