//! The integration tests: one binary that runs the real `fanout` in temporary directories.
//! Every run is bounded by a timeout, so a regression fails instead of hanging CI.

mod dead_streams;
mod engine;
mod environment;
mod exec;
mod faults;
mod gnu_args;
mod gnu_diff;
mod gnucli;
mod help;
mod input;
mod job_control;
mod joblog;
mod joblog_safety;
mod limits;
mod observe;
mod orphans;
mod output;
mod output_bounds;
mod pipe;
mod process_tree;
mod resources;
mod results;
mod results_gnu;
mod resume;
mod signals;
mod slots;
mod slurm;
mod ssh;
mod ssh_hosts;
mod ssh_slf;
mod template;
mod term;
mod timeline;
mod usage;
#[allow(
    dead_code,
    reason = "shared helpers: not every test module uses every one"
)]
mod util;
