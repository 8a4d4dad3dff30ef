//! `--results-by-seq DIR`: each finished job's output and status in files of its own, one directory
//! per job named by its sequence number:
//!
//! ```text
//! DIR/<seq>/cmd          the command line, as in the joblog
//! DIR/<seq>/args         the job's arguments (space separated)
//! DIR/<seq>/stdout       the job's stdout, byte for byte
//! DIR/<seq>/stderr       the job's stderr, byte for byte
//! DIR/<seq>/result.json  the record: the fields of a --results-json line, without the output
//! DIR/<seq>/exitval      the exit status as a shell shows it ($?: 128+N for signal N), written last
//! ```
//!
//! fanout's own layout beside GNU parallel's `--results DIR` ([`super::gnu_dir`]): the seq is
//! always a safe name, and the joblog and `--results-json` use the same number. Every file is written to a temporary name
//! and renamed, so none is ever half-written; `exitval` is removed first and written last, so a
//! job directory without it is one whose results are incomplete. A rerun overwrites.
//!
//! Only a directory of ours is written into: DIR must be new, empty or hold nothing but job
//! directories, and in a world-writable sticky directory (`/tmp`) it must be a real directory
//! of our own, not a symlink. The `cmd` and `args` files hold the bytes as they are.

use std::path::{Path, PathBuf};

use super::json::{RecordFields, ResultsError};
use crate::job::JobRecord;
use crate::report::events::{Captured, RunEvent};
use crate::report::{ReportError, Reporter};
use crate::results::files::{self, GuardError};

/// Writes a directory per finished job.
pub struct ResultsDir {
    root: PathBuf,
}

impl ResultsDir {
    /// Creates DIR (and its parents) if needed, and checks that it is ours to write into.
    pub fn create(root: &Path) -> Result<ResultsDir, ResultsError> {
        open_root(root, "--results-by-seq")?;
        let err = |source| ResultsError::CreateDir {
            flag: "--results-by-seq",
            path: root.to_owned(),
            source,
        };
        for entry in std::fs::read_dir(root).map_err(err)? {
            let entry = entry.map_err(err)?;
            let name = entry.file_name();
            // Named by a seq: a job's (a file there is an error when that job is written).
            let is_seq = name
                .to_str()
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
            if !is_seq {
                return Err(ResultsError::DirNotOurs {
                    path: root.to_owned(),
                    entry: name.to_string_lossy().into_owned(),
                });
            }
        }
        Ok(ResultsDir {
            root: root.to_owned(),
        })
    }

    fn write_job(
        &self,
        r: &JobRecord,
        stdout: &Captured,
        stderr: &Captured,
    ) -> Result<(), ReportError> {
        let dir = self.root.join(r.id.0.to_string());
        let fatal = |what: &Path, e: std::io::Error| {
            ReportError::Fatal(format!(
                "failed to write results `{}`: {e}; the run was stopped (fix DIR or give another --results-by-seq, then rerun with --joblog FILE --resume)",
                what.display()
            ))
        };
        std::fs::create_dir_all(&dir).map_err(|e| fatal(&dir, e))?;
        let exitval = dir.join("exitval");
        match std::fs::remove_file(&exitval) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(fatal(&exitval, e)),
            _ => {}
        }
        let mut meta =
            serde_json::to_vec(&RecordFields::of(r)).expect("plain fields always serialize");
        meta.push(b'\n');
        let status = match (r.outcome.exit_code(), r.outcome.signal()) {
            (Some(code), _) => code,
            (None, Some(sig)) => crate::exit::for_signal(sig),
            (None, None) => -1,
        };
        let line = |b: &[u8]| [b, b"\n"].concat();
        let (cmd, args, status, meta) = (
            Captured::from(line(r.command.as_bytes())),
            Captured::from(line(r.args.as_bytes())),
            Captured::from(format!("{status}\n").into_bytes()),
            Captured::from(meta),
        );
        // A spilled output (past 1 MiB) is copied from its temporary file a chunk at a time.
        let files: [(&str, &Captured); 6] = [
            ("cmd", &cmd),
            ("args", &args),
            ("stdout", stdout),
            ("stderr", stderr),
            ("result.json", &meta),
            ("exitval", &status),
        ];
        for (name, data) in files {
            let path = dir.join(name);
            write_whole(&dir, name, data).map_err(|e| fatal(&path, e))?;
        }
        Ok(())
    }
}

/// Creates a results directory `root` (and its parents) if needed, and checks that it is ours
/// to write into: in a world-writable sticky directory, a real directory of our own.
pub(super) fn open_root(root: &Path, flag: &'static str) -> Result<(), ResultsError> {
    let err = |source| ResultsError::CreateDir {
        flag,
        path: root.to_owned(),
        source,
    };
    // Checked before anything is created in it: a planted symlink is never followed far.
    if files::sticky_world_writable(&files::parent_of(root))
        && std::fs::symlink_metadata(root).is_ok_and(|m| m.file_type().is_symlink())
    {
        return Err(planted(
            flag,
            root,
            files::parent_of(root),
            "a symbolic link",
        ));
    }
    std::fs::create_dir_all(root).map_err(err)?;
    files::check_dir(root).map_err(|e| match e {
        GuardError::Planted { dir, what } => planted(flag, root, dir, what),
        GuardError::Io(source) => err(source),
    })
}

fn planted(flag: &'static str, root: &Path, dir: PathBuf, what: &'static str) -> ResultsError {
    ResultsError::Planted {
        flag,
        path: root.to_owned(),
        dir,
        what,
    }
}

/// Writes `data` to `dir/name` through a temporary file and a rename: readers see the old file
/// or the new one, never a part.
pub(super) fn write_whole(dir: &Path, name: &str, data: &Captured) -> std::io::Result<()> {
    let tmp = dir.join(format!(".{name}.tmp"));
    // A fresh file (O_EXCL never follows a symlink): a leftover of a crash is removed first.
    match std::fs::remove_file(&tmp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)?;
    data.write_to(&mut f)?;
    drop(f);
    std::fs::rename(&tmp, dir.join(name))
}

impl Reporter for ResultsDir {
    fn on_event(&mut self, event: &RunEvent) -> Result<(), ReportError> {
        if let RunEvent::JobFinished {
            record,
            stdout,
            stderr,
            ..
        } = event
        {
            self.write_job(record, stdout, stderr)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{JobId, JobOutcome};
    use std::time::{Duration, SystemTime};

    #[test]
    fn writes_every_file_and_exitval_last() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = ResultsDir::create(&dir.path().join("r")).unwrap();
        let record = JobRecord {
            id: JobId(3),
            slot: 1,
            args: "x".into(),
            command: "sh -c 'kill -9 $$'".into(),
            outcome: JobOutcome::Signaled { signal: 9 },
            start: SystemTime::now(),
            duration: Duration::from_millis(5),
            attempts: 1,
            stdout_bytes: 1,
            stderr_bytes: 0,
            usage: None,
            place: ":".into(),
            handle: Some(crate::exec::Handle::Pid(1)),
        };
        let ev = RunEvent::JobFinished {
            record: Box::new(record),
            tag: None,
            stdout: b"\xfe".to_vec().into(),
            stderr: Default::default(),
        };
        w.on_event(&ev).unwrap();
        let job = dir.path().join("r/3");
        assert_eq!(std::fs::read(job.join("stdout")).unwrap(), b"\xfe");
        assert_eq!(std::fs::read(job.join("stderr")).unwrap(), b"");
        assert_eq!(
            std::fs::read_to_string(job.join("exitval")).unwrap(),
            "137\n"
        );
        let meta: serde_json::Value =
            serde_json::from_slice(&std::fs::read(job.join("result.json")).unwrap()).unwrap();
        assert_eq!(meta["signal"], 9);
        let mut names: Vec<String> = std::fs::read_dir(&job)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            ["args", "cmd", "exitval", "result.json", "stderr", "stdout"]
        );
    }
}
