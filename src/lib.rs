//! fanout runs many external commands at once and keeps them under control.
//!
//! The engine (input, templates, the runner, the result store) knows nothing of terminals or
//! of clap: it takes a [`Config`] and emits [`report::events::RunEvent`]s, which reporters
//! render (output, progress bar, logs, joblog, results, summary). [`session`] wires them up.

pub mod config;
pub mod error;
pub mod exec;
pub mod exit;
pub mod input;
pub mod job;
pub mod report;
pub mod results;
pub mod runner;
pub mod session;
pub mod template;

pub use config::Config;
pub use error::SetupError;
