//! Everything that can be checked before the first job: the template, the `--tagstring`
//! template, the input sources and the joblog (locked, read for `--resume` and checked against
//! this run's jobs, then started). Every problem here is a [`SetupError`] (exit 255).

use std::ffi::OsString;

use crate::cluster::Skip;
use crate::config::{Config, ResumeMode, Tag};
use crate::error::SetupError;
use crate::exec::{Marker, claim_joblog};
use crate::input::{ArgStream, InputError, Source, SourceKind};
use crate::pipe::PipeSource;
use crate::results::joblog::{Done, JoblogFile, JoblogWriter};
use crate::template::{ShellMode, Template};

/// The checked parts of a run: nothing here has started a job yet.
pub(crate) struct Parts {
    pub template: Template,
    pub tag: Option<Template>,
    pub input: ArgStream,
    /// Jobs that do not run here: other shards' (`--shard`), and those an earlier joblog has
    /// (`--resume`).
    pub skip: Skip,
    pub joblog: Option<JoblogWriter>,
    /// The claim on `<joblog>.live` for jobs run on this machine (see `check`).
    pub marker: Option<Marker>,
    /// `--pipe`: the input opened for cutting into blocks (`input` is then empty).
    pub pipe: Option<crate::pipe::PipeSource>,
}

/// `claim_local`: jobs run on this machine (the default executor), so processes of an earlier
/// run on this joblog that are still alive are waited for or refused before the joblog is
/// truncated or cut (a resumed run would start them again).
pub(crate) fn check(config: &Config, claim_local: bool) -> Result<Parts, SetupError> {
    let groups = config.sources.len().max(1);
    let template = Template::parse(&config.command, config.shell_mode, groups)?;
    let tag = match &config.tag {
        Some(Tag::Template(t)) => Some(
            Template::parse(std::slice::from_ref(t), ShellMode::Auto, groups)
                .map_err(SetupError::TagTemplate)?,
        ),
        _ => None,
    };
    if config.resume != ResumeMode::Off && config.joblog.is_none() {
        return Err(SetupError::ResumeWithoutJoblog);
    }
    for s in &config.sources {
        if let SourceKind::File(p) = &s.kind
            && config.joblog.as_deref() == Some(p.as_path())
        {
            return Err(SetupError::JoblogIsInput(p.clone()));
        }
    }
    let resume = config.resume != ResumeMode::Off;
    // The joblog is locked before it is read or truncated, so a second run on it stops here,
    // before it touches it.
    let mut marker = None;
    let (done, file) = match &config.joblog {
        Some(path) if config.dry_run => (
            if resume {
                Done::read(path)?
            } else {
                Done::default()
            },
            None,
        ),
        Some(path) => {
            let file = JoblogFile::open(path)?;
            // Claimed under the joblog's lock, before the joblog is read or touched.
            if claim_local {
                marker = claim_joblog(path)?;
            }
            let done = if resume {
                file.read_done()?
            } else {
                Done::default()
            };
            (done, Some(file))
        }
        None => (Done::default(), None),
    };
    let skip = match config.resume {
        ResumeMode::Off => Default::default(),
        mode => done.skip(mode),
    };
    let (mut input, pipe) = match &config.pipe {
        // Blocks are counted as jobs are, so `--resume` skips the blocks the joblog has; the
        // command is the same for every block, so there is nothing to check it against.
        Some(p) => (
            ArgStream::open(&[Source::args(Vec::<OsString>::new())], config.separator)?,
            Some(
                PipeSource::open(p, config.tmpdir.as_deref(), config.keep_order)
                    .map_err(InputError::from)?,
            ),
        ),
        None => (ArgStream::open(&config.sources, config.separator)?, None),
    };
    if resume && !config.resume_force && pipe.is_none() {
        input = super::resume::check(&template, input, &done, &skip)?;
    }
    let skip = Skip::new(skip, config.cluster.shard);
    // Truncated or cut only now that everything else is known to be right.
    let joblog = match file {
        Some(f) => Some(f.start(resume.then_some(done.valid))?),
        None => None,
    };
    Ok(Parts {
        template,
        tag,
        input,
        skip,
        joblog,
        marker,
        pipe,
    })
}
