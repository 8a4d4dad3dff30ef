//! The integration tests: one binary that runs the real `fanout` in temporary directories.
//! Every run is bounded by a timeout, so a regression fails instead of hanging CI.

mod core;
mod engine;
mod faults;
mod joblog;
mod limits;
mod observe;
mod polish;
mod results;
mod review;
mod signals;
#[allow(
    dead_code,
    reason = "shared helpers: not every test module uses every one"
)]
mod util;
