//! Everything that can be checked before the first job: the template, the `--tagstring`
//! template, the input sources and the joblog (read for `--resume`, then opened). Every
//! problem here is a [`SetupError`] (exit 255).

use std::collections::HashSet;

use crate::config::{Config, ResumeMode, Tag};
use crate::error::SetupError;
use crate::input::{ArgStream, SourceKind};
use crate::results::joblog::{self, JoblogWriter};
use crate::template::{ShellMode, Template};

/// The checked parts of a run: nothing here has started a job yet.
pub(crate) struct Parts {
    pub template: Template,
    pub tag: Option<Template>,
    pub input: ArgStream,
    /// Seqs an earlier joblog has (`--resume`).
    pub skip: HashSet<u64>,
    pub joblog: Option<JoblogWriter>,
}

pub(crate) fn check(config: &Config) -> Result<Parts, SetupError> {
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
    let (skip, joblog) = match &config.joblog {
        Some(path) if config.dry_run => (
            match config.resume {
                ResumeMode::Off => HashSet::new(),
                mode => joblog::read_done(path, mode)?.0,
            },
            None,
        ),
        Some(path) => {
            let (skip, valid) = match config.resume {
                ResumeMode::Off => (HashSet::new(), None),
                mode => {
                    let (skip, valid) = joblog::read_done(path, mode)?;
                    (skip, Some(valid))
                }
            };
            (skip, Some(JoblogWriter::open(path, valid)?))
        }
        None => (HashSet::new(), None),
    };
    let input = ArgStream::open(&config.sources, config.separator)?;
    Ok(Parts {
        template,
        tag,
        input,
        skip,
        joblog,
    })
}
