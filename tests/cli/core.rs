//! The core: inputs, replacement strings, execution, slots, output modes, exit codes.

use crate::util::*;

#[test]
fn runs_one_job_per_argument() {
    let out = fanout().args(["--no-summary", "echo", "hi", ":::", "a", "b", "c"]).assert().success();
    assert_eq!(sorted_lines(&out.get_output().stdout), ["hi a", "hi b", "hi c"]);
}
