//! `SetupError`: everything that stops fanout before (or instead of) running jobs. It is the
//! only error type that reaches `main`, which prints it on one line and exits 255.

use crate::input::InputError;
use crate::results::joblog::JoblogError;
use crate::results::json::ResultsError;
use crate::template::TemplateError;

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("bad command template: {0}")]
    Template(#[from] TemplateError),
    /// The `--tagstring` template, named so the user knows which one to fix.
    #[error("bad --tagstring: {0}")]
    TagTemplate(#[source] TemplateError),
    #[error(transparent)]
    Input(#[from] InputError),
    #[error(transparent)]
    Joblog(#[from] JoblogError),
    #[error(transparent)]
    Results(#[from] ResultsError),
    /// A bad combination of options, with what to do about it.
    #[error("{0}")]
    Usage(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}
