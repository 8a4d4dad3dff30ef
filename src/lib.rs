//! fanout runs many external commands at once and keeps them under control.
//!
//! The engine reads as one line: input ([`input`]) → template ([`template`]) → scheduler
//! (`runner`, with a semaphore per place and one for the run's job slots) → executor
//! ([`exec`]: how an attempt is started, signalled and waited for) → events
//! ([`report::events`]) → reporters and the result store. It knows nothing of terminals or
//! of clap: it takes a [`Config`], and [`Run`] is the one way in, for the `fanout` binary as
//! for a program that embeds it.
//!
//! Modules are `foo.rs` for a single file and `foo/mod.rs` for a folder.
//!
//! Features: `cli` (default) brings the progress bar and what the binary needs (clap,
//! indicatif, tracing-subscriber); `default-features = false` builds the engine alone.
//! `testing` exposes `exec::fake`, an executor that starts no process.

#![warn(missing_docs)]

pub mod cancel;
pub mod cluster;
pub mod config;
pub mod error;
pub mod exec;
pub mod exit;
pub mod input;
pub mod job;
pub mod pipe;
pub mod quote;
pub mod report;
mod results;
mod run;
mod runner;
pub mod signals;
mod summary;
pub mod template;

pub use cancel::{Cancel, CancelReason};
pub use config::Config;
pub use error::{RunError, SetupError};
pub use job::{JobId, JobOutcome, JobRecord};
pub use report::events::RunEvent;
pub use report::{ReportError, Reporter};
pub use run::{Prepared, Run};
pub use summary::{HostSummary, RunSummary};
