//! The file names of `--transferfile`, `--return` and `--workdir`: templates like the
//! command's, rendered once per job (unquoted: they are file names, not shell words) into
//! the job's [`JobFiles`], which only a remote executor reads.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::sync::Arc;

use super::{RenderError, Template, TemplateError, TemplateOptions};
use crate::job::{Job, JobFiles};

/// The parsed file-name templates of a run.
#[derive(Debug, Clone)]
pub(crate) struct FileTemplates {
    transfer: Vec<Template>,
    returns: Vec<Template>,
    workdir: Option<Template>,
}

impl FileTemplates {
    /// Parses each name; `workdir` is a `--workdir` other than `.` and `...` (which are not
    /// templates). `None` when there is nothing to render.
    pub fn parse(
        transfer: &[OsString],
        returns: &[OsString],
        workdir: Option<&OsString>,
        groups: usize,
        options: &TemplateOptions,
    ) -> Result<Option<FileTemplates>, TemplateError> {
        if transfer.is_empty() && returns.is_empty() && workdir.is_none() {
            return Ok(None);
        }
        let one = |w: &OsString| {
            Template::parse_with(
                std::slice::from_ref(w),
                super::ShellMode::Auto,
                groups,
                options,
            )
        };
        Ok(Some(FileTemplates {
            transfer: transfer.iter().map(one).collect::<Result<_, _>>()?,
            returns: returns.iter().map(one).collect::<Result<_, _>>()?,
            workdir: workdir.map(one).transpose()?,
        }))
    }

    /// The names for `job` in `slot`.
    pub fn render(&self, job: &Job, slot: u32) -> Result<Arc<JobFiles>, RenderError> {
        let all = |ts: &[Template]| {
            ts.iter()
                .map(|t| t.render_plain(job, slot).map(OsString::from_vec))
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(Arc::new(JobFiles {
            transfer: all(&self.transfer)?,
            returns: all(&self.returns)?,
            workdir: self
                .workdir
                .as_ref()
                .map(|t| t.render_plain(job, slot).map(OsString::from_vec))
                .transpose()?,
        }))
    }

    /// Sets the number of jobs in total, for `total_jobs()`.
    pub fn set_total(&self, total: u64) {
        for t in self.all() {
            t.set_total(total);
        }
    }

    /// Whether an expression asks for the number of jobs.
    pub fn needs_total(&self) -> bool {
        self.all().any(Template::needs_total)
    }

    fn all(&self) -> impl Iterator<Item = &Template> {
        self.transfer
            .iter()
            .chain(&self.returns)
            .chain(self.workdir.as_ref())
    }
}
