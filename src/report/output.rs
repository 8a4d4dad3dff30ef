//! Prints the jobs' output: each job's stdout and stderr whole when it ends (group), or lines
//! and chunks as they come (line buffer, ungroup); in input order with `--keep-order`, where
//! each job is printed as soon as every earlier one is (a silent job still moves the order on);
//! with each line prefixed by its tag; with `--unique`, each distinct stdout line only the
//! first time it is printed. Only what is printed is filtered: results files hold what the
//! jobs wrote.
//!
//! Output is printed once: with `--line-buffer` and `-u` it comes as `JobOutput` pieces, and
//! the copy a finished job carries (for the results files) is not printed again. A spilled
//! output (past 1 MiB, in a temporary file) is printed a chunk at a time. Output held for
//! `--keep-order` stays in memory up to 8 MiB in all, and goes to temporary files past that.
//!
//! A line is never shared by two jobs when lines are tagged or with `--line-buffer`: a job's
//! unterminated last line is ended with a newline before another job's output on that stream.
//! Grouped output without tags is passed on byte for byte.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use super::console::Console;
use super::events::{Captured, RunEvent, Stream};
use super::spill::{SpillBuf, SpillError};
use super::{ReportError, Reporter};
use crate::config::{Config, OutputMode};
use crate::job::JobOutcome;

/// The most output held in memory, all jobs together, for jobs waiting for their turn (`-k`).
const HELD_MEMORY: usize = 8 << 20;

/// Output held back for a job that is not yet at the head of the order.
#[derive(Default)]
struct Held {
    tag: Option<Arc<[u8]>>,
    /// What it passed on while it ran (`--line-buffer`, `-u`): stdout, stderr. A held job's
    /// two streams are printed one after the other, as a grouped job's are.
    pieces: [SpillBuf; 2],
    /// Its whole output (grouped), once it ended.
    whole: Option<[Captured; 2]>,
    done: bool,
}

/// The output printer.
pub struct OutputPrinter {
    console: Console,
    keep_order: bool,
    /// Print job stdout and stderr at all (not stdout when results go to stdout instead,
    /// neither with GNU's `--results`).
    print: [bool; 2],
    /// Output comes as it is written (`JobOutput`); a finished job's copy is for results only.
    streamed: bool,
    /// End a job's open last line before another job's output (`--line-buffer`; tagged
    /// output always).
    separate: bool,
    /// Per stream (stdout, stderr): the job whose output left a line open there.
    open: [Option<u64>; 2],
    /// The next seq to print, with `--keep-order`.
    head: u64,
    held: BTreeMap<u64, Held>,
    /// Bytes of held output in memory.
    held_memory: usize,
    tmpdir: Option<PathBuf>,
    /// Seqs that will never run (other shards', skipped by `--resume`).
    skipped: Arc<crate::cluster::Skip>,
    /// The stdout lines printed so far, with `--unique`.
    seen: Option<HashSet<Vec<u8>>>,
    /// fanout's own messages for jobs that could not start (`fanout: x: command not found`)
    /// printed so far: each is said once, not per job. `None`: never printed (JSON logs carry
    /// them in `job_finished`'s `error`).
    start_messages: Option<HashSet<Vec<u8>>>,
    /// Jobs with an attempt running (`--line-buffer`, `-u`): output of any other job is
    /// fanout's own message for an attempt that could not start.
    running: HashSet<u64>,
    /// `--files`: the directory each job's stdout is saved in (its file's name is printed).
    files: Option<PathBuf>,
}

fn ix(stream: Stream) -> usize {
    match stream {
        Stream::Stdout => 0,
        Stream::Stderr => 1,
    }
}

const STREAMS: [Stream; 2] = [Stream::Stdout, Stream::Stderr];

impl OutputPrinter {
    /// A printer for the run `config` describes, writing to `console`; `print` says which
    /// streams (stdout, stderr) are printed at all.
    pub(crate) fn new(
        console: Console,
        config: &Config,
        print: [bool; 2],
        skipped: Arc<crate::cluster::Skip>,
    ) -> OutputPrinter {
        OutputPrinter {
            console,
            keep_order: config.keep_order,
            print,
            streamed: config.output != OutputMode::Group,
            separate: config.output == OutputMode::LineBuffer,
            open: [None; 2],
            head: 1,
            held: BTreeMap::new(),
            held_memory: 0,
            tmpdir: config.tmpdir.clone(),
            skipped,
            seen: config.unique.then(HashSet::new),
            start_messages: Some(HashSet::new()),
            running: HashSet::new(),
            files: config
                .files
                .then(|| config.tmpdir.clone().unwrap_or_else(std::env::temp_dir)),
        }
    }

    /// Leaves fanout's own messages for jobs that could not start to the JSON logs.
    pub(crate) fn json_logs(mut self, json: bool) -> OutputPrinter {
        if json {
            self.start_messages = None;
        }
        self
    }

    /// Whether fanout's message for a job that could not start is to be printed: the first
    /// time only.
    fn admit_start_message(&mut self, msg: &[u8]) -> bool {
        match &mut self.start_messages {
            Some(seen) => seen.insert(msg.to_vec()),
            None => false,
        }
    }

    fn emit(&self, stream: Stream, data: &[u8]) -> Result<(), ReportError> {
        match stream {
            Stream::Stdout => self.console.out(data),
            Stream::Stderr => self.console.err(data),
        }
        .map_err(ReportError::from_stdout)
    }

    /// Prints a piece of job `id`'s output.
    fn write(
        &mut self,
        stream: Stream,
        id: u64,
        tag: Option<&[u8]>,
        data: &[u8],
    ) -> Result<(), ReportError> {
        if data.is_empty() || !self.print[ix(stream)] {
            return Ok(());
        }
        let fresh;
        let data = match (&mut self.seen, stream) {
            (Some(seen), Stream::Stdout) => {
                fresh = admit_unique(seen, data);
                &fresh[..]
            }
            _ => data,
        };
        if data.is_empty() {
            return Ok(());
        }
        let open = std::mem::replace(
            &mut self.open[ix(stream)],
            (!data.ends_with(b"\n")).then_some(id),
        );
        // Another job left a line open: end it, so that no line holds two jobs' output.
        if open.is_some_and(|o| o != id) && (self.separate || tag.is_some()) {
            self.emit(stream, b"\n")?;
        }
        match tag {
            // The first bytes continue a line this job left open: its tag is already there.
            Some(tag) => self.emit(stream, &prefix_lines(tag, data, open != Some(id))),
            None => self.emit(stream, data),
        }
    }

    /// Prints a whole captured stream, a chunk at a time when it was spilled.
    fn write_captured(
        &mut self,
        stream: Stream,
        id: u64,
        tag: Option<&[u8]>,
        out: &Captured,
    ) -> Result<(), ReportError> {
        if let Some(bytes) = out.as_bytes() {
            return self.write(stream, id, tag, bytes);
        }
        if !self.print[ix(stream)] {
            return Ok(());
        }
        let read_err = |e| {
            ReportError::Fatal(format!(
                "cannot read the output of job {id} back from its temporary file: {e}"
            ))
        };
        if stream == Stream::Stdout && self.seen.is_some() {
            // --unique compares whole lines: each piece is cut after its last newline.
            let mut line = Vec::new();
            out.for_each_chunk(
                |chunk| {
                    let Some(i) = chunk.iter().rposition(|&b| b == b'\n') else {
                        line.extend_from_slice(chunk);
                        return Ok(());
                    };
                    line.extend_from_slice(&chunk[..=i]);
                    self.write(stream, id, tag, &line)?;
                    line.clear();
                    line.extend_from_slice(&chunk[i + 1..]);
                    Ok(())
                },
                read_err,
            )?;
            return self.write(stream, id, tag, &line);
        }
        out.for_each_chunk(|chunk| self.write(stream, id, tag, chunk), read_err)
    }

    /// Says on stderr that a job's output is incomplete (its temporary file could not be
    /// written); the runner has recorded it as cancelled and stopped the run.
    fn report_lost(&mut self, id: u64, out: [&Captured; 2]) -> Result<(), ReportError> {
        let Some(why) = out.iter().find_map(|c| c.incomplete()) else {
            return Ok(());
        };
        if self.open[1].take().is_some() {
            self.emit(Stream::Stderr, b"\n")?;
        }
        let msg = format!(
            "fanout: error: the output of job {id} is incomplete: {why}; the job is recorded as cancelled (not in the joblog, so --resume runs it again) and the run was stopped: give --tmpdir a directory with room\n"
        );
        self.emit(Stream::Stderr, msg.as_bytes())
    }

    /// Holds a piece of output of a job that is not at the head of the order.
    fn hold_piece(
        &mut self,
        id: u64,
        stream: Stream,
        tag: &Option<Arc<[u8]>>,
        data: &[u8],
    ) -> Result<(), ReportError> {
        if !self.print[ix(stream)] {
            return Ok(());
        }
        let over = self.held_memory + data.len() > HELD_MEMORY;
        let tmpdir = self.tmpdir.as_deref();
        let held = self.held.entry(id).or_default();
        if held.tag.is_none() {
            held.tag.clone_from(tag);
        }
        let buf = &mut held.pieces[ix(stream)];
        let before = buf.memory_len();
        let r = match over {
            true => buf.spill(tmpdir).and_then(|()| buf.push(data, tmpdir)),
            false => buf.push(data, tmpdir),
        };
        self.held_memory = self.held_memory - before + buf.memory_len();
        r.map_err(|e| hold_failed(id, e))
    }

    /// Holds the whole output of a finished job that is not at the head of the order: a
    /// copy in memory while the held total stays under [`HELD_MEMORY`], else in a file.
    fn hold_whole(
        &mut self,
        id: u64,
        tag: &Option<Arc<[u8]>>,
        out: [&Captured; 2],
    ) -> Result<(), ReportError> {
        let mut whole: [Captured; 2] = Default::default();
        for (i, c) in out.into_iter().enumerate() {
            if !self.print[i] {
                continue;
            }
            let n = c.memory_len();
            whole[i] = if n > 0 && self.held_memory + n > HELD_MEMORY {
                c.spilled(self.tmpdir.as_deref())
                    .map_err(|e| hold_failed(id, e))?
            } else {
                self.held_memory += n;
                c.clone()
            };
        }
        let held = self.held.entry(id).or_default();
        held.tag.clone_from(tag);
        held.whole = Some(whole);
        held.done = true;
        Ok(())
    }

    /// Prints what job `id` holds, and forgets it.
    fn print_held(&mut self, id: u64, held: &mut Held) -> Result<(), ReportError> {
        let pieces = [held.pieces[0].take(), held.pieces[1].take()];
        let whole = held.whole.take();
        let all = pieces.iter().chain(whole.iter().flatten());
        self.held_memory -= all.map(Captured::memory_len).sum::<usize>();
        let tag = held.tag.as_deref();
        for (stream, out) in STREAMS.into_iter().zip(&pieces) {
            self.write_captured(stream, id, tag, out)?;
        }
        for (stream, out) in STREAMS.into_iter().zip(whole.iter().flatten()) {
            self.write_captured(stream, id, tag, out)?;
        }
        Ok(())
    }

    /// Prints what the head of the order holds, moving the head past finished jobs.
    fn advance(&mut self) -> Result<(), ReportError> {
        loop {
            while self.skipped.contains(&self.head) {
                self.head += 1;
            }
            let head = self.head;
            let Some(mut held) = self.held.remove(&head) else {
                return Ok(());
            };
            self.print_held(head, &mut held)?;
            if !held.done {
                // Still running: what it prints from now on passes straight through.
                self.held.insert(head, held);
                return Ok(());
            }
            self.head += 1;
        }
    }

    fn finished(
        &mut self,
        id: u64,
        tag: &Option<Arc<[u8]>>,
        out: [&Captured; 2],
    ) -> Result<(), ReportError> {
        // With --line-buffer and -u its output was printed as it came.
        let print = !self.streamed;
        if !self.keep_order {
            if print {
                for (stream, c) in STREAMS.into_iter().zip(out) {
                    self.write_captured(stream, id, tag.as_deref(), c)?;
                }
            }
            return Ok(());
        }
        if id == self.head {
            // The usual case in order: print straight from the event, no copy.
            if let Some(mut held) = self.held.remove(&id) {
                self.print_held(id, &mut held)?;
            }
            if print {
                for (stream, c) in STREAMS.into_iter().zip(out) {
                    self.write_captured(stream, id, tag.as_deref(), c)?;
                }
            }
            self.head += 1;
        } else if print {
            self.hold_whole(id, tag, out)?;
        } else {
            self.held.entry(id).or_default().done = true;
        }
        self.advance()
    }
}

/// `--files`: writes job `id`'s stdout to a new file `parXXXXX.par` in `dir` (readable by
/// its owner only, as GNU parallel's) and gives back the line to print in its place: the
/// file's name. A file that cannot be written stops the run (the output would be lost).
fn save_stdout(dir: &std::path::Path, id: u64, out: &Captured) -> Result<Captured, ReportError> {
    use std::io::Write;
    let failed = |e: std::io::Error| {
        ReportError::Fatal(format!(
            "--files: cannot save the output of job {id} in `{}`: {e}; the run was stopped: give --tmpdir a directory with room",
            dir.display()
        ))
    };
    let (mut file, path) = tempfile::Builder::new()
        .prefix("par")
        .suffix(".par")
        .rand_bytes(5)
        .tempfile_in(dir)
        .map_err(failed)?
        .keep()
        .map_err(|e| failed(e.error))?;
    out.for_each_chunk(
        |chunk| file.write_all(chunk).map_err(failed),
        |e| failed(std::io::Error::other(e)),
    )?;
    file.flush().map_err(failed)?;
    let mut line = std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str()).to_vec();
    line.push(b'\n');
    Ok(Captured::from(line))
}

/// The printer cannot hold a job's output for `--keep-order`: the run stops.
fn hold_failed(id: u64, e: SpillError) -> ReportError {
    ReportError::Fatal(format!(
        "cannot hold the output of job {id} for --keep-order: {e}; the run was stopped: give --tmpdir a directory with room"
    ))
}

impl Reporter for OutputPrinter {
    fn on_event(&mut self, event: &RunEvent) -> Result<(), ReportError> {
        match event {
            RunEvent::JobOutput {
                id,
                stream,
                data,
                tag,
            } => {
                if !self.running.contains(&id.0) && !self.admit_start_message(data) {
                    return Ok(());
                }
                if self.keep_order && id.0 != self.head {
                    return self.hold_piece(id.0, *stream, tag, data);
                }
                self.write(*stream, id.0, tag.as_deref(), data)
            }
            RunEvent::JobStarted { id, .. } if self.streamed => {
                self.running.insert(id.0);
                Ok(())
            }
            RunEvent::JobRetrying { record, .. } if self.streamed => {
                self.running.remove(&record.id.0);
                Ok(())
            }
            RunEvent::JobFinished {
                record,
                stdout,
                stderr,
                tag,
            } => {
                self.running.remove(&record.id.0);
                let own = !self.streamed
                    && record.handle.is_none()
                    && matches!(record.outcome, JobOutcome::SpawnFailed { .. })
                    && stderr
                        .as_bytes()
                        .is_some_and(|m| !self.admit_start_message(m));
                let none = Captured::default();
                let stderr = if own { &none } else { stderr };
                let saved;
                let stdout = match &self.files {
                    // A job that never started has no output to save.
                    Some(dir) if record.handle.is_some() => {
                        saved = save_stdout(dir, record.id.0, stdout)?;
                        &saved
                    }
                    _ => stdout,
                };
                self.finished(record.id.0, tag, [stdout, stderr])?;
                self.report_lost(record.id.0, [stdout, stderr])
            }
            RunEvent::RunFinished { .. } => {
                // Jobs that never ran (cancelled before starting) leave gaps: print the rest.
                let held = std::mem::take(&mut self.held);
                for (id, mut h) in held {
                    self.print_held(id, &mut h)?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn flush(&mut self) -> Result<(), ReportError> {
        self.console.flush().map_err(ReportError::from_stdout)
    }
}

/// The lines of `out` not in `seen`, which then holds them (each with a newline).
fn admit_unique(seen: &mut HashSet<Vec<u8>>, out: &[u8]) -> Vec<u8> {
    let mut kept = Vec::new();
    for line in out.split_inclusive(|&b| b == b'\n') {
        let key = line.strip_suffix(b"\n").unwrap_or(line);
        if seen.insert(key.to_vec()) {
            kept.extend_from_slice(key);
            kept.push(b'\n');
        }
    }
    kept
}

/// Puts `tag` and a tab before every line of `data`; before the first one only when
/// `tag_first` (it may continue a line already tagged).
fn prefix_lines(tag: &[u8], data: &[u8], tag_first: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + tag.len() * 4);
    for (i, line) in data.split_inclusive(|&b| b == b'\n').enumerate() {
        if i > 0 || tag_first {
            out.extend_from_slice(tag);
            out.push(b'\t');
        }
        out.extend_from_slice(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_every_line() {
        assert_eq!(prefix_lines(b"a", b"x\ny\nz", true), b"a\tx\na\ty\na\tz");
        assert_eq!(prefix_lines(b"a", b"x\ny", false), b"x\na\ty");
    }

    #[test]
    fn unique_admits_each_line_once() {
        let mut seen = HashSet::new();
        assert_eq!(admit_unique(&mut seen, b"a\nb\na\n"), b"a\nb\n");
        assert_eq!(admit_unique(&mut seen, b"b\nc"), b"c\n");
    }
}
