//! The two tiers of fanout's own errors. [`SetupError`]: everything that stops a run before
//! its first job (a bad template, unreadable input, a joblog that cannot be opened).
//! [`RunError`]: what stops a run that had started (an input that fails mid-way, a joblog or
//! results write error). `fanout` prints either on one line and exits 255. A job's failure is
//! never an error: it is an outcome in the job's record.

use std::path::PathBuf;

use crate::input::InputError;
use crate::report::{ReportError, ResultsError};
use crate::results::joblog::JoblogError;
use crate::template::TemplateError;

/// A run that cannot start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SetupError {
    /// The command template.
    #[error("bad command template: {0}")]
    Template(#[from] TemplateError),
    /// The `--tagstring` template, named so the user knows which one to fix.
    #[error("bad --tagstring: {0}")]
    TagTemplate(#[source] TemplateError),
    /// A `--transferfile`, `--return` or `--workdir` name.
    #[error("bad --transferfile, --return or --workdir name: {0}")]
    FileTemplate(#[source] TemplateError),
    /// An input source.
    #[error(transparent)]
    Input(#[from] InputError),
    /// The joblog.
    #[error(transparent)]
    Joblog(#[from] JoblogError),
    /// A results file or directory.
    #[error(transparent)]
    Results(#[from] ResultsError),
    /// Resuming needs the joblog of the earlier run.
    #[error("--resume and --resume-failed need --joblog FILE: give the joblog of the earlier run")]
    ResumeWithoutJoblog,
    /// The joblog would overwrite an input file.
    #[error("`{}` is both an input file and the joblog: give them different paths", .0.display())]
    JoblogIsInput(PathBuf),
    /// Processes of an earlier run on this joblog are still alive (its fanout was killed and
    /// they were not ended): the jobs they belong to would run a second time beside them.
    #[error(
        "jobs of an earlier run on `{}` are still running{holders} and hold `{}`: wait for them to end or end them (`fuser -k {}`), then run again",
        joblog.display(), lock.display(), lock.display()
    )]
    EarlierJobsRunning {
        /// The joblog.
        joblog: PathBuf,
        /// `<joblog>.live`, which every process of a run holds open.
        lock: PathBuf,
        /// Who holds it, for the message: ` (pid 12 sleep, pid 14 sh and 3 more)`, or empty.
        holders: String,
    },
    /// `--resume`: a job in the joblog renders to another command now.
    #[error(
        "cannot resume: job {seq} ran `{logged}` but is now `{now}`, so the input or the command changed since the joblog was written; resume with the same input and command, drop --resume to start afresh, or give --resume-force to skip jobs by sequence number anyway"
    )]
    ResumeMismatch {
        /// The first job whose command differs.
        seq: u64,
        /// Its command in the joblog (tabs, newlines escaped; bytes not UTF-8 as `\xNN`).
        logged: String,
        /// Its command now, written the same way.
        now: String,
    },
    /// The private directory for the ssh ControlMaster sockets.
    #[error("cannot make a directory for the ssh connections in $TMPDIR or /tmp: {0}")]
    SshDir(#[source] std::io::Error),
    /// `--resume`: the joblog has more jobs than the input now gives.
    #[error(
        "cannot resume: the joblog has job {logged} but the input now gives only {now} job(s), so it changed since the joblog was written; resume with the same input, drop --resume to start afresh, or give --resume-force to skip jobs by sequence number anyway"
    )]
    ResumeInputShorter {
        /// The highest seq in the joblog.
        logged: u64,
        /// How many jobs the input gives.
        now: u64,
    },
}

/// What stopped a run after it had started. The jobs that finished are in the joblog and the
/// results; the summary was reported.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// An input source failed mid-run.
    #[error(transparent)]
    Input(#[from] InputError),
    /// The joblog could not be written.
    #[error(transparent)]
    Joblog(#[from] JoblogError),
    /// A reporter could not write (our stdout, a results file).
    #[error(transparent)]
    Report(ReportError),
    /// A perl expression died while a dry run rendered a job.
    #[error("perl expression failed: {0}")]
    Perl(String),
    /// Writing the commands of a dry run to stdout failed.
    #[error("failed to write to stdout: {0}")]
    Stdout(#[source] std::io::Error),
    /// The executor could not get what the run needs (a Slurm allocation).
    #[error(transparent)]
    Acquire(#[from] crate::exec::AcquireError),
    /// The runtime for a blocking run could not start.
    #[error("cannot start the runtime: {0}")]
    Runtime(#[source] std::io::Error),
}
