//! The command line. Only this module and `main.rs` know clap: `args` holds the `Cli` struct
//! and its translation into the engine's `Config`; `env` parses the command line together
//! with the `FANOUT_*` environment; `usage` makes clap's errors one line and validates values;
//! `sources` splits the command from its `:::`/`::::` input sources. They depend one way only:
//! `env` -> `args` -> `usage`, `sources` (and `env` -> `usage`); `usage` and `sources` use no
//! sibling. This file only re-exports what `main.rs` and `logging.rs` call.

mod args;
mod args_gnucli;
mod args_pipe;
mod args_slurm;
mod args_ssh;
mod args_template;
mod docs;
mod env;
mod parallel_env;
mod refusals;
mod sources;
mod usage;

pub use args::{Cli, LogFormat};
pub use docs::{SHELLS, completions, man};
pub use env::{command, parse};
