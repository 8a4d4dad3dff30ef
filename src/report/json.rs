//! `--results-json FILE`: one JSON object per finished job (JSON lines), with the job's record
//! and its whole stdout and stderr. Each line is written with one `write` as the job ends, so a
//! crash leaves complete lines and at most a torn last one; on `--resume` that torn tail is cut
//! and new lines are appended, so the file and the joblog go on together. With `-` the lines go
//! to stdout (through the console, which then prints no job stdout).
//!
//! Output that is valid UTF-8 is stored as text (`"stdout_encoding": "utf8"`); anything else
//! as standard base64 (`"stdout_encoding": "base64"`), so every byte comes back. Arguments and
//! commands that are not valid UTF-8 get `args_base64`/`command_base64` beside their lossy text.
//!
//! A fresh run truncates only a file that is empty or whose first line is one of ours (starts
//! with `{"seq":`), and never follows a symlink in a world-writable sticky directory; the file
//! is synced to disk when the run ends.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use base64::Engine;
use serde::Serialize;

use crate::job::JobRecord;
use crate::report::console::Console;
use crate::report::events::RunEvent;
use crate::report::json_stream;
use crate::report::{ReportError, Reporter};
use crate::results::files::{self, GuardError};

/// A results file that cannot be opened.
#[derive(Debug, thiserror::Error)]
pub enum ResultsError {
    /// The `--results-json` file could not be opened.
    #[error("cannot open results file `{path}`: {source}; give a writable path to --results-json")]
    OpenJson {
        /// The file, as given.
        path: PathBuf,
        /// Why opening it failed.
        #[source]
        source: std::io::Error,
    },
    /// The `--results FILE.csv|.tsv|.json` table could not be opened.
    #[error("cannot open results file `{path}`: {source}; give a writable path to --results")]
    OpenTable {
        /// The file, as given.
        path: PathBuf,
        /// Why opening it failed.
        #[source]
        source: std::io::Error,
    },
    /// The `--results` directory could not be created.
    #[error(
        "cannot create results directory `{path}`: {source}; give a writable directory to {flag}"
    )]
    CreateDir {
        /// The flag it was given to.
        flag: &'static str,
        /// The directory, as given.
        path: PathBuf,
        /// Why creating it failed.
        #[source]
        source: std::io::Error,
    },
    /// A fresh `--results-json` would truncate a file that is not a results file of ours.
    #[error(
        "refusing to overwrite `{path}`: it is not empty and not a fanout results file (its first line is not a JSON object starting with \"seq\"); give another --results-json path, or remove the file first if it may be lost"
    )]
    JsonNotOurs {
        /// The file, as given.
        path: PathBuf,
    },
    /// A results path is a symlink (or a directory of another user) in a world-writable sticky
    /// directory, which anyone could have planted there.
    #[error(
        "refusing to write {flag} `{path}`: it is {what} in the world-writable directory `{dir}`, which anyone could have planted there; give a path outside such a directory (or the link's target itself)"
    )]
    Planted {
        /// The flag it was given to.
        flag: &'static str,
        /// The path, as given.
        path: PathBuf,
        /// The world-writable sticky directory it is in.
        dir: PathBuf,
        /// What it is.
        what: &'static str,
    },
    /// The `--results` directory holds something that is not a job's results.
    #[error(
        "refusing to write results into `{path}`: it holds `{entry}`, which is not a job's results directory (named by its sequence number); give an empty or new directory to --results-by-seq"
    )]
    DirNotOurs {
        /// The directory, as given.
        path: PathBuf,
        /// The first entry in it that is not ours.
        entry: String,
    },
    /// fanout's own stdout cannot be used.
    #[error("cannot use stdout: {0}")]
    Stdout(#[source] std::io::Error),
}

fn base64_of(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn ms(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A captured stream as JSON: text when it is UTF-8, base64 otherwise.
fn encode(bytes: &[u8]) -> (String, &'static str) {
    match std::str::from_utf8(bytes) {
        Ok(s) => (s.to_owned(), "utf8"),
        Err(_) => (
            base64::engine::general_purpose::STANDARD.encode(bytes),
            "base64",
        ),
    }
}

/// The fields every results format shares (also `result.json` in `--results DIR`).
#[derive(Serialize)]
pub struct RecordFields<'a> {
    pub seq: u64,
    pub slot: u32,
    /// The values one by one (`{1}`, `{2}`, ...), lossy where not UTF-8.
    pub args: Vec<&'a str>,
    /// The values joined by spaces, as the joblog shows them.
    pub args_text: &'a str,
    /// The joined arguments' bytes in base64, only when they are not valid UTF-8
    /// (`args_text` is lossy).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub args_base64: Option<String>,
    pub command: &'a str,
    /// The command's bytes in base64, only when they are not valid UTF-8.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command_base64: Option<String>,
    pub outcome: &'static str,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    /// Start time, seconds since the Unix epoch (fractional).
    pub start: f64,
    pub duration_ms: u64,
    pub attempts: u32,
    pub stdout_bytes: u64,
    pub stderr_bytes: u64,
    /// The place that ran it (`:` is this machine).
    pub host: &'a str,
    /// The last attempt's handle as text (its pid here), `null` when it never started.
    pub handle: Option<String>,
    /// The last attempt's pid when it ran on this machine, else 0.
    pub pid: u32,
    /// CPU time in user mode and in the kernel, and peak memory (KiB), from the kernel's
    /// accounting of the job's process; `null` where the executor cannot tell (remote jobs).
    pub cpu_user_ms: Option<u64>,
    pub cpu_system_ms: Option<u64>,
    pub max_rss_kib: Option<u64>,
}

impl<'a> RecordFields<'a> {
    pub fn of(r: &'a JobRecord) -> RecordFields<'a> {
        RecordFields {
            seq: r.id.0,
            slot: r.slot,
            args: r.args.values().iter().map(|v| v.as_str()).collect(),
            args_text: &r.args,
            args_base64: r.args.non_utf8_bytes().map(base64_of),
            command: &r.command,
            command_base64: r.command.non_utf8_bytes().map(base64_of),
            outcome: r.outcome.name(),
            exit_code: r.outcome.exit_code(),
            signal: r.outcome.signal(),
            start: r
                .start
                .duration_since(UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
            duration_ms: u64::try_from(r.duration.as_millis()).unwrap_or(u64::MAX),
            attempts: r.attempts,
            stdout_bytes: r.stdout_bytes,
            stderr_bytes: r.stderr_bytes,
            host: &r.place,
            handle: r.handle.as_ref().map(|h| h.to_string()),
            pid: r.handle.as_ref().and_then(|h| h.pid()).unwrap_or(0),
            cpu_user_ms: r.usage.map(|u| ms(u.user)),
            cpu_system_ms: r.usage.map(|u| ms(u.system)),
            max_rss_kib: r.usage.map(|u| u.max_rss_kib),
        }
    }
}

#[derive(Serialize)]
struct Line<'a> {
    #[serde(flatten)]
    record: RecordFields<'a>,
    stdout: String,
    stdout_encoding: &'static str,
    stderr: String,
    stderr_encoding: &'static str,
}

/// One finished job as a JSON line, newline included.
pub fn json_line(record: &JobRecord, stdout: &[u8], stderr: &[u8]) -> Vec<u8> {
    let (stdout, stdout_encoding) = encode(stdout);
    let (stderr, stderr_encoding) = encode(stderr);
    let line = Line {
        record: RecordFields::of(record),
        stdout,
        stdout_encoding,
        stderr,
        stderr_encoding,
    };
    let mut out = serde_json::to_vec(&line).expect("a record of plain fields always serializes");
    out.push(b'\n');
    out
}

enum Sink {
    File(File),
    Stdout(Console),
}

/// Writes the JSON lines as jobs finish.
pub struct JsonResults {
    sink: Sink,
    path: PathBuf,
}

/// How every line of ours starts: the first field of [`RecordFields`].
const OURS: &[u8] = b"{\"seq\":";

impl JsonResults {
    /// Opens the results file: truncated, or on `--resume` appended to after its torn tail (a
    /// crash mid-line) is cut. Either way an existing file must be one of ours. `-` writes to
    /// stdout through `console`.
    pub fn open(path: &Path, resume: bool, console: &Console) -> Result<JsonResults, ResultsError> {
        if path.as_os_str() == "-" {
            return Ok(JsonResults {
                sink: Sink::Stdout(console.clone()),
                path: path.to_owned(),
            });
        }
        let err = |source| ResultsError::OpenJson {
            path: path.to_owned(),
            source,
        };
        let mut f = files::open_for_write(path).map_err(|e| match e {
            GuardError::Planted { dir, what } => ResultsError::Planted {
                flag: "--results-json",
                path: path.to_owned(),
                dir,
                what,
            },
            GuardError::Io(source) => err(source),
        })?;
        if !OURS.starts_with(&files::head(&f, OURS.len()).map_err(err)?) {
            return Err(ResultsError::JsonNotOurs {
                path: path.to_owned(),
            });
        }
        let keep = if resume {
            complete_len(&mut f).map_err(err)?
        } else {
            0
        };
        let meta = f.metadata().map_err(err)?;
        if meta.is_file() && meta.len() > keep {
            f.set_len(keep).map_err(err)?;
        }
        Ok(JsonResults {
            sink: Sink::File(f),
            path: path.to_owned(),
        })
    }

    /// Makes the lines written so far durable (the run has ended, or was interrupted).
    fn sync(&self) -> Result<(), ReportError> {
        let Sink::File(f) = &self.sink else {
            return Ok(());
        };
        files::sync(f).map_err(|e| {
            ReportError::Fatal(format!(
                "cannot sync results file `{}` to disk: {e}; its last lines may not survive a power cut",
                self.path.display()
            ))
        })
    }
}

/// The length of the file up to and including its last newline (0 when it has none).
fn complete_len(f: &mut File) -> std::io::Result<u64> {
    let len = f.metadata()?.len();
    if !f.metadata()?.is_file() {
        return Ok(len);
    }
    let mut end = len;
    let mut buf = vec![0u8; 64 * 1024];
    while end > 0 {
        let start = end.saturating_sub(buf.len() as u64);
        let n = (end - start) as usize;
        f.seek(SeekFrom::Start(start))?;
        f.read_exact(&mut buf[..n])?;
        if let Some(i) = buf[..n].iter().rposition(|&b| b == b'\n') {
            return Ok(start + i as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

impl Reporter for JsonResults {
    fn on_event(&mut self, event: &RunEvent) -> Result<(), ReportError> {
        if let RunEvent::RunFinished { .. } = event {
            return self.sync();
        }
        let RunEvent::JobFinished {
            record,
            stdout,
            stderr,
            ..
        } = event
        else {
            return Ok(());
        };
        let (Some(out), Some(err)) = (stdout.as_bytes(), stderr.as_bytes()) else {
            // Spilled output: streamed from its temporary files, in pieces (the line is still
            // whole before the next one starts, so a crash tears at most the last line).
            let r = match &mut self.sink {
                Sink::File(f) => {
                    let mut w = std::io::BufWriter::with_capacity(64 * 1024, &*f);
                    json_stream::write_line(&mut w, record, stdout, stderr)
                        .and_then(|()| w.flush())
                        .map_err(|e| write_failed(&self.path, e))
                }
                Sink::Stdout(console) => {
                    json_stream::write_line(&mut ConsoleOut(console), record, stdout, stderr)
                        .and_then(|()| console.flush())
                        .map_err(ReportError::from_stdout)
                }
            };
            return r;
        };
        let line = json_line(record, out, err);
        match &mut self.sink {
            // One write per line, and no buffer: a crash never tears any line but the last.
            Sink::File(f) => f.write_all(&line).map_err(|e| write_failed(&self.path, e)),
            Sink::Stdout(console) => console
                .out(&line)
                .and_then(|()| console.flush())
                .map_err(ReportError::from_stdout),
        }
    }
}

fn write_failed(path: &Path, e: std::io::Error) -> ReportError {
    ReportError::Fatal(format!(
        "failed to write results file `{}`: {e}; the run was stopped (make room or give another --results-json, then rerun with --joblog FILE --resume)",
        path.display()
    ))
}

/// The console's stdout as a `Write`, for a line written in pieces.
struct ConsoleOut<'a>(&'a Console);

impl Write for ConsoleOut<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.out(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{JobId, JobOutcome};
    use std::time::{Duration, SystemTime};

    fn rec() -> JobRecord {
        JobRecord {
            id: JobId(7),
            slot: 2,
            args: crate::job::Args::from_values(&[b"a".to_vec(), b"b".to_vec()]),
            command: "echo a b".into(),
            outcome: JobOutcome::Signaled { signal: 9 },
            start: SystemTime::UNIX_EPOCH + Duration::from_millis(1_500),
            duration: Duration::from_millis(42),
            attempts: 1,
            stdout_bytes: 2,
            stderr_bytes: 1,
            usage: None,
            place: ":".into(),
            handle: Some(crate::exec::Handle::Pid(99)),
        }
    }

    #[test]
    fn line_has_every_field_and_round_trips_bytes() {
        let line = json_line(&rec(), b"\xff\x00", b"e");
        assert_eq!(line.last(), Some(&b'\n'));
        let v: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(v["seq"], 7);
        assert_eq!(v["slot"], 2);
        assert_eq!(v["args"], serde_json::json!(["a", "b"]));
        assert_eq!(v["args_text"], "a b");
        assert_eq!(v["outcome"], "signaled");
        assert_eq!(v["exit_code"], serde_json::Value::Null);
        assert_eq!(v["signal"], 9);
        assert_eq!(v["start"], 1.5);
        assert_eq!(v["duration_ms"], 42);
        assert_eq!(v["stderr"], "e");
        assert_eq!(v["stderr_encoding"], "utf8");
        assert_eq!(v["stdout_encoding"], "base64");
        let raw = base64::engine::general_purpose::STANDARD
            .decode(v["stdout"].as_str().unwrap())
            .unwrap();
        assert_eq!(raw, b"\xff\x00");
    }

    #[test]
    fn resume_cuts_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.jsonl");
        std::fs::write(&p, "{\"seq\":1}\n{\"seq\":2}\n{\"se").unwrap();
        let mut f = File::open(&p).unwrap();
        assert_eq!(complete_len(&mut f).unwrap(), 20);
        let console = Console::new(None).unwrap();
        let mut w = JsonResults::open(&p, true, &console).unwrap();
        let ev = RunEvent::JobFinished {
            record: Box::new(rec()),
            tag: None,
            stdout: b"x".to_vec().into(),
            stderr: Default::default(),
        };
        w.on_event(&ev).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[2].starts_with("{\"seq\":7,"));
    }
}
