//! The joblog in GNU parallel's format: a header, then one tab-separated line per finished job
//! (`Seq Host Starttime JobRuntime Send Receive Exitval Signal Command`), written by the runner
//! with one `write` as each job ends, so a crash loses no line of a finished job, and synced
//! to disk when the run ends. The file is locked for the whole run ([`super::lock`]), taken
//! before it is read or truncated; a fresh run truncates only a file that is a joblog. On
//! `--resume` the old joblog is read, through the locked descriptor, to find the jobs already
//! done and the command each one ran (checked against this run's); a torn last line (a crash
//! mid-write) is cut off and its job runs again. Commands are bytes, written as they are.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::UNIX_EPOCH;

use super::files::{self, GuardError};
use super::lock::{self, Holder, LockError, Locked};
use crate::config::ResumeMode;
use crate::job::{JobOutcome, JobRecord};

pub const HEADER: &str =
    "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand\n";

/// A joblog that cannot be opened or read.
#[derive(Debug, thiserror::Error)]
pub enum JoblogError {
    #[error("cannot open joblog `{path}`: {source}; give a writable path to --joblog")]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "`{path}` is not a joblog (its first line is not GNU parallel's joblog header); give another --joblog path"
    )]
    NotAJoblog { path: PathBuf },
    #[error(
        "cannot write joblog `{path}`: {source}; free some space or give another --joblog path"
    )]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("joblog `{path}` line {line} is malformed; fix or remove that line to resume")]
    Malformed { path: PathBuf, line: usize },
    /// A fresh run would truncate a file that is not a joblog.
    #[error(
        "refusing to overwrite `{path}`: it is not empty and not a joblog (its first line is not GNU parallel's joblog header); give another --joblog path, or remove the file first if it may be lost"
    )]
    NotOurs { path: PathBuf },
    /// The path is a symlink in a world-writable sticky directory.
    #[error(
        "refusing to open joblog `{path}`: it is {what} in the world-writable directory `{dir}`, which anyone could have planted there; give a path outside such a directory (or the link's target itself)"
    )]
    Planted {
        path: PathBuf,
        dir: PathBuf,
        what: &'static str,
    },
    /// Another run holds the joblog.
    #[error(
        "joblog `{path}` is in use by another run ({holder}); wait for it to end, or give another --joblog path"
    )]
    Locked { path: PathBuf, holder: Holder },
    /// The joblog could not be made durable at the end of the run.
    #[error(
        "cannot sync joblog `{path}` to disk: {source}; its last lines may not survive a power cut"
    )]
    Sync {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A line could not be written mid-run: the run was stopped there.
    #[error(
        "failed to write joblog `{path}`: {source}; the run was stopped (use --resume to go on once it is writable)"
    )]
    Stopped {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// One parsed joblog line: the seq, whether the job succeeded, and where its Command field
/// is in the line.
fn parse_line(line: &[u8]) -> Option<(u64, bool, Range<usize>)> {
    let f: Vec<&[u8]> = line.splitn(9, |&b| b == b'\t').collect();
    if f.len() != 9 {
        return None;
    }
    let num = |b: &[u8]| std::str::from_utf8(b).ok().map(|s| s.trim().to_owned());
    let seq = num(f[0])?.parse().ok()?;
    num(f[2])?.parse::<f64>().ok()?;
    num(f[3])?.parse::<f64>().ok()?;
    let exit: i64 = num(f[6])?.parse().ok()?;
    let sig: i64 = num(f[7])?.parse().ok()?;
    let command = line.len() - f[8].len()..line.len();
    Some((seq, exit == 0 && sig == 0, command))
}

/// What an earlier joblog holds, for `--resume`: per seq, whether its last line says it
/// succeeded and the command it ran (as the joblog writes it, see [`escape_command`]).
#[derive(Debug, Default)]
pub(crate) struct Done {
    text: Vec<u8>,
    /// Per seq: success, and the byte range of its Command field in `text`.
    jobs: HashMap<u64, (bool, Range<usize>)>,
    /// The length of the valid prefix (shorter than the file when its last line is torn).
    pub valid: u64,
}

impl Done {
    /// Reads the joblog of `path` for a run that does not write it (`--dry-run`): missing means
    /// nothing is done yet.
    pub fn read(path: &Path) -> Result<Done, JoblogError> {
        match File::open(path) {
            Ok(f) => Done::read_from(&f, path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Done::default()),
            Err(source) => Err(JoblogError::Open {
                path: path.to_owned(),
                source,
            }),
        }
    }

    /// Reads an open joblog from its start (a device or a pipe holds nothing done).
    fn read_from(mut f: &File, path: &Path) -> Result<Done, JoblogError> {
        let open_err = |source| JoblogError::Open {
            path: path.to_owned(),
            source,
        };
        let mut text = Vec::new();
        if f.metadata().map_err(open_err)?.is_file() {
            f.seek(SeekFrom::Start(0)).map_err(open_err)?;
            f.read_to_end(&mut text).map_err(open_err)?;
        }
        Done::parse(text, path)
    }

    fn parse(text: Vec<u8>, path: &Path) -> Result<Done, JoblogError> {
        let header = HEADER.as_bytes();
        // Empty, or a header torn by a crash before any job ended: nothing is done yet.
        if text.len() < header.len() && header.starts_with(&text) {
            return Ok(Done::default());
        }
        if !text.starts_with(&header[..header.len() - 1]) {
            return Err(JoblogError::NotAJoblog {
                path: path.to_owned(),
            });
        }
        let mut jobs = HashMap::new();
        let mut valid = 0usize;
        let lines: Vec<&[u8]> = text.split_inclusive(|&b| b == b'\n').collect();
        for (i, raw) in lines.iter().enumerate() {
            let is_last = i + 1 == lines.len();
            let complete = raw.ends_with(b"\n");
            if i == 0 {
                if !complete {
                    break;
                }
                valid += raw.len();
                continue;
            }
            // Another header: joblogs concatenated with `cat` (the shards of a `--shard` run).
            if *raw == header {
                valid += raw.len();
                continue;
            }
            let body = &raw[..raw.len() - usize::from(complete)];
            match parse_line(body) {
                Some((seq, ok, cmd)) if complete => {
                    jobs.insert(seq, (ok, valid + cmd.start..valid + cmd.end));
                    valid += raw.len();
                }
                // A torn or garbled last line: a crash mid-write. Cut it; its job runs again.
                _ if is_last => break,
                _ => {
                    return Err(JoblogError::Malformed {
                        path: path.to_owned(),
                        line: i + 1,
                    });
                }
            }
        }
        Ok(Done {
            text,
            jobs,
            valid: valid as u64,
        })
    }

    /// The seqs to skip: every one with `--resume`, the successful ones with `--resume-failed`.
    pub fn skip(&self, mode: ResumeMode) -> HashSet<u64> {
        self.jobs
            .iter()
            .filter(|(_, (ok, _))| mode == ResumeMode::Resume || *ok)
            .map(|(&seq, _)| seq)
            .collect()
    }

    /// The highest seq the joblog has.
    pub fn max_seq(&self) -> Option<u64> {
        self.jobs.keys().copied().max()
    }

    /// The command job `seq` ran, as the joblog has it (tabs and newlines escaped).
    pub fn command(&self, seq: u64) -> Option<&[u8]> {
        self.jobs.get(&seq).map(|(_, r)| &self.text[r.clone()])
    }
}

/// A joblog file opened and locked for this run, not yet written to: read it for `--resume`
/// ([`JoblogFile::read_done`]), then [`JoblogFile::start`] the writer.
pub(crate) struct JoblogFile {
    file: Locked,
    path: PathBuf,
    /// Our stdout (`--joblog -`): never read, checked or cut, only written to.
    stream: bool,
}

impl JoblogFile {
    /// Opens `path` without truncating it (creating it if missing) and takes its lock; in a
    /// world-writable sticky directory a symlink is refused.
    pub fn open(path: &Path) -> Result<JoblogFile, JoblogError> {
        let file = files::open_for_write(path).map_err(|e| match e {
            GuardError::Planted { dir, what } => JoblogError::Planted {
                path: path.to_owned(),
                dir,
                what,
            },
            GuardError::Io(source) => JoblogError::Open {
                path: path.to_owned(),
                source,
            },
        })?;
        let file = lock::lock(file).map_err(|e| match e {
            LockError::Held(holder) => JoblogError::Locked {
                path: path.to_owned(),
                holder,
            },
            LockError::Io(source) => JoblogError::Open {
                path: path.to_owned(),
                source,
            },
        })?;
        Ok(JoblogFile {
            file,
            path: path.to_owned(),
            stream: false,
        })
    }

    /// Our stdout as the joblog (GNU parallel's `--joblog -`): a duplicate of descriptor 1,
    /// so lines share its offset with the jobs' output when stdout is a file.
    pub fn stdout() -> Result<JoblogFile, JoblogError> {
        use std::os::fd::AsFd;
        let path = PathBuf::from("-");
        let fd = std::io::stdout()
            .as_fd()
            .try_clone_to_owned()
            .map_err(|source| JoblogError::Open {
                path: path.clone(),
                source,
            })?;
        Ok(JoblogFile {
            file: Locked::Unlocked(std::fs::File::from(fd)),
            path,
            stream: true,
        })
    }

    /// What the joblog holds (`--resume`).
    pub fn read_done(&self) -> Result<Done, JoblogError> {
        Done::read_from(&self.file, &self.path)
    }

    /// Starts writing: afresh (truncated, with the header), refusing a file that is not a
    /// joblog; or, on resume, appended to after cutting the torn tail at `valid_len`.
    pub fn start(self, resume: Option<u64>) -> Result<JoblogWriter, JoblogError> {
        let JoblogFile { file, path, stream } = self;
        if stream {
            let mut file = file;
            file.write_all(HEADER.as_bytes())
                .map_err(|source| JoblogError::Write {
                    path: path.clone(),
                    source,
                })?;
            return Ok(JoblogWriter {
                inner: Arc::new(Mutex::new(Inner {
                    file,
                    path,
                    failed: false,
                    error: None,
                })),
            });
        }
        let open_err = |source| JoblogError::Open {
            path: path.clone(),
            source,
        };
        let regular = file.metadata().map_err(open_err)?.is_file();
        let keep = match resume {
            Some(valid_len) => valid_len,
            None => {
                let head = files::head(&file, HEADER.len() - 1).map_err(open_err)?;
                if !HEADER.as_bytes().starts_with(&head) {
                    return Err(JoblogError::NotOurs { path });
                }
                0
            }
        };
        if regular && file.metadata().map_err(open_err)?.len() > keep {
            file.set_len(keep).map_err(open_err)?;
        }
        let mut file = file;
        if file.metadata().map_err(open_err)?.len() == 0 {
            file.write_all(HEADER.as_bytes())
                .map_err(|source| JoblogError::Write {
                    path: path.clone(),
                    source,
                })?;
        }
        Ok(JoblogWriter {
            inner: Arc::new(Mutex::new(Inner {
                file,
                path,
                failed: false,
                error: None,
            })),
        })
    }
}

/// Writes joblog lines as jobs finish. A cheap handle: the runner writes through it from each
/// job's task, the session keeps one to learn of a write error.
///
/// The line is written by the runner the moment its job ends, before any event about the job
/// is sent, rather than by a reporter: a reporter waits behind job output that our stdout's
/// reader may be slow to take, and a line waiting there would be lost to a SIGKILL.
#[derive(Clone)]
pub struct JoblogWriter {
    inner: Arc<Mutex<Inner>>,
}

struct Inner {
    file: Locked,
    path: PathBuf,
    /// Whether a write failed; nothing is written after it, so a torn line stays the last.
    failed: bool,
    /// The first write error, until it is taken.
    error: Option<JoblogError>,
}

impl JoblogWriter {
    /// Opens and locks the joblog and starts it: afresh, or on resume appended to after
    /// cutting the torn tail at `valid_len`.
    #[cfg(test)]
    pub fn open(path: &Path, resume: Option<u64>) -> Result<JoblogWriter, JoblogError> {
        JoblogFile::open(path)?.start(resume)
    }

    /// Writes the line of a finished job with one `write` (unbuffered: once it returns, the
    /// line is the kernel's and survives our death). A job fanout itself ended (`--halt now`,
    /// a signal) did not finish: it is left out so that `--resume` runs it again. Returns
    /// false when the joblog cannot be written (now or before): the run must stop.
    pub fn record(&self, r: &JobRecord) -> bool {
        let mut inner = self
            .inner
            .lock()
            .expect("never poisoned: no panics under it");
        if inner.failed {
            return false;
        }
        if matches!(r.outcome, JobOutcome::Cancelled { .. }) {
            return true;
        }
        if let Err(source) = inner.file.write_all(&line(r)) {
            inner.failed = true;
            inner.error = Some(JoblogError::Stopped {
                path: inner.path.clone(),
                source,
            });
            return false;
        }
        true
    }

    /// Makes every line written so far durable (`fdatasync`): called when the run ends,
    /// interrupted or not.
    pub fn sync(&self) -> Result<(), JoblogError> {
        let inner = self.inner.lock().expect("never poisoned");
        files::sync(&inner.file).map_err(|source| JoblogError::Sync {
            path: inner.path.clone(),
            source,
        })
    }

    /// The write error that stopped the run, if one did (given out once).
    pub fn take_failure(&self) -> Option<JoblogError> {
        self.inner.lock().expect("never poisoned").error.take()
    }
}

/// A command as the joblog's Command column holds it: byte for byte, but with tabs and
/// newlines (which would break the format) written as `\t` and `\n`, as GNU parallel does.
pub(crate) fn escape_command(command: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(command.len());
    for &b in command {
        match b {
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            _ => out.push(b),
        }
    }
    out
}

/// One joblog line, newline included.
fn line(r: &JobRecord) -> Vec<u8> {
    let start = r
        .start
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    // GNU parallel's values: a job a signal killed has Exitval 0 (Signal says which), one
    // killed because it timed out -1.
    let exitval = match r.outcome {
        JobOutcome::Signaled { .. } => 0,
        o => o.exit_code().unwrap_or(-1),
    };
    let signal = r.outcome.signal().unwrap_or(0);
    let mut out = format!(
        "{}\t{}\t{:.3}\t{:.3}\t0\t{}\t{}\t{}\t",
        r.id,
        r.place,
        start,
        r.duration.as_secs_f64(),
        r.stdout_bytes,
        exitval,
        signal,
    )
    .into_bytes();
    out.extend_from_slice(&escape_command(r.command.as_bytes()));
    out.push(b'\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_done(p: &Path, mode: ResumeMode) -> Result<(HashSet<u64>, u64), JoblogError> {
        Done::read(p).map(|d| (d.skip(mode), d.valid))
    }

    #[test]
    fn torn_last_line_is_cut_and_failures_rerun() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log");
        let good = format!(
            "{HEADER}1\t:\t1.000\t0.100\t0\t0\t0\t0\techo a\n2\t:\t1.000\t0.100\t0\t0\t3\t0\tfalse\n"
        );
        std::fs::write(&p, format!("{good}3\t:\t1.0")).unwrap();
        let (skip, valid) = read_done(&p, ResumeMode::Resume).unwrap();
        assert_eq!(skip, HashSet::from([1, 2]));
        assert_eq!(valid, good.len() as u64);
        let (skip, _) = read_done(&p, ResumeMode::ResumeFailed).unwrap();
        assert_eq!(skip, HashSet::from([1]));
        let w = JoblogWriter::open(&p, Some(valid)).unwrap();
        drop(w);
        assert_eq!(std::fs::read_to_string(&p).unwrap(), good);
    }

    #[test]
    fn a_torn_header_means_nothing_is_done() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log");
        std::fs::write(&p, &HEADER[..7]).unwrap();
        let (skip, valid) = read_done(&p, ResumeMode::Resume).unwrap();
        assert!(skip.is_empty());
        assert_eq!(valid, 0);
        drop(JoblogWriter::open(&p, Some(valid)).unwrap());
        assert_eq!(std::fs::read_to_string(&p).unwrap(), HEADER);
    }

    #[test]
    fn concatenated_joblogs_read_as_one() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log");
        let line = |seq| format!("{seq}\t:\t1\t1\t0\t0\t0\t0\tx\n");
        std::fs::write(&p, format!("{HEADER}{}{HEADER}{}", line(1), line(2))).unwrap();
        let (skip, valid) = read_done(&p, ResumeMode::Resume).unwrap();
        assert_eq!(skip, [1, 2].into());
        assert_eq!(valid, std::fs::metadata(&p).unwrap().len());
    }

    #[test]
    fn garbage_in_the_middle_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log");
        std::fs::write(&p, format!("{HEADER}junk\n1\t:\t1\t1\t0\t0\t0\t0\tx\n")).unwrap();
        assert!(matches!(
            read_done(&p, ResumeMode::Resume),
            Err(JoblogError::Malformed { line: 2, .. })
        ));
        std::fs::write(&p, "hello\n").unwrap();
        assert!(matches!(
            read_done(&p, ResumeMode::Resume),
            Err(JoblogError::NotAJoblog { .. })
        ));
    }

    #[test]
    fn a_fresh_run_refuses_a_file_that_is_not_a_joblog_and_keeps_a_joblog_locked() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("notes");
        std::fs::write(&p, "my notes\n").unwrap();
        assert!(matches!(
            JoblogWriter::open(&p, None),
            Err(JoblogError::NotOurs { .. })
        ));
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "my notes\n");
        let jl = dir.path().join("jl");
        std::fs::write(&jl, format!("{HEADER}1\t:\t1\t1\t0\t0\t0\t0\tx\n")).unwrap();
        let w = JoblogWriter::open(&jl, None).unwrap();
        assert_eq!(std::fs::read_to_string(&jl).unwrap(), HEADER);
        assert!(matches!(
            JoblogFile::open(&jl),
            Err(JoblogError::Locked { .. })
        ));
        w.sync().unwrap();
        drop(w);
        assert!(JoblogFile::open(&jl).is_ok());
    }

    #[test]
    fn commands_are_written_and_read_byte_for_byte() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("jl");
        let w = JoblogWriter::open(&p, None).unwrap();
        let record = JobRecord {
            id: crate::job::JobId(4),
            slot: 1,
            place: ":".into(),
            handle: None,
            args: "".into(),
            command: crate::job::Text::from_bytes(b"echo \xff\tx\ny".to_vec()),
            outcome: JobOutcome::Success,
            start: UNIX_EPOCH,
            duration: std::time::Duration::ZERO,
            attempts: 1,
            stdout_bytes: 0,
            stderr_bytes: 0,
            usage: None,
        };
        assert!(w.record(&record));
        drop(w);
        let bytes = std::fs::read(&p).unwrap();
        assert!(bytes.ends_with(b"\techo \xff\\tx\\ny\n"), "{bytes:?}");
        let done = Done::read(&p).unwrap();
        assert_eq!(done.max_seq(), Some(4));
        assert_eq!(done.command(4), Some(&b"echo \xff\\tx\\ny"[..]));
        assert_eq!(
            done.command(4).unwrap(),
            escape_command(record.command.as_bytes())
        );
    }
}
