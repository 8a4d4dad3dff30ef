//! Helpers shared by the integration tests, one of each: the temporary directory and the
//! command that runs fanout in it ([`Dir`], [`fanout`]), the pseudo-terminal runner
//! ([`pty`]), a real screen to read (tmux, [`Screen`]), the joblog reader ([`joblog`]), processes started in the background and waited
//! for with a bound ([`process`]), and the small readers below.

mod dir;
pub mod joblog;
pub mod process;
pub mod pty;
pub mod screen;

pub use dir::Dir;
pub use joblog::{joblog_complete_rows, joblog_row, joblog_rows, joblog_seqs};
pub use process::{
    alive, finish, line_receiver, read_pid, signal, start, start_with, wait_bounded, wait_for_files,
};
pub use pty::{after_last_clear, terminal, under_pty, under_pty_env};
pub use screen::Screen;

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

/// The staging ssh hosts' turn: a test that logs in to them holds it, so that tests counting
/// a host's logins or breaking a host do not overlap (`ssh_slf.rs` takes it; `ssh.rs` has a
/// lock of its own, which should become this one).
pub static SSH_TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The longest any single fanout run in the tests may take.
pub const BOUND: Duration = Duration::from_secs(60);

/// Removes what the caller's environment could change about a run: `RUST_LOG`, `NO_COLOR`,
/// `CI` and every `FANOUT_*` variable. A test sets what it needs after this.
pub fn clean_env(cmd: &mut std::process::Command) -> &mut std::process::Command {
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().into_owned();
        if k.starts_with("FANOUT_") || k == "RUST_LOG" || k == "NO_COLOR" || k == "CI" {
            cmd.env_remove(&k);
        }
    }
    cmd
}

/// `fanout` as a std `Command` with a clean environment ([`clean_env`]), for runs that are
/// started in the background, signalled or read as they go.
pub fn fanout_cmd() -> std::process::Command {
    let mut cmd = std::process::Command::new(fanout_path());
    clean_env(&mut cmd);
    cmd
}

/// `fanout` with a clean environment ([`clean_env`]), bounded by [`BOUND`].
pub fn fanout() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::from_std(fanout_cmd());
    cmd.timeout(BOUND);
    cmd
}

/// The path of the built binary.
pub fn fanout_path() -> std::path::PathBuf {
    assert_cmd::cargo::cargo_bin("fanout")
}

/// `fanout --no-summary ARGS`, which must succeed; returns its stdout.
pub fn run_stdout(args: &[&str]) -> String {
    stdout_of(&fanout().arg("--no-summary").args(args).assert().success())
}

/// A finished run's stdout, as text.
pub fn stdout_of(out: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&out.get_output().stdout).into_owned()
}

/// A finished run's stderr, as text.
pub fn stderr_of(out: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&out.get_output().stderr).into_owned()
}

/// Output as sorted lines, for runs whose order is not defined.
pub fn sorted_lines(out: &[u8]) -> Vec<String> {
    let mut v: Vec<String> = String::from_utf8_lossy(out)
        .lines()
        .map(String::from)
        .collect();
    v.sort();
    v
}

/// The lines of a file the jobs wrote (none when it does not exist).
pub fn lines_of(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

/// Every line parsed as JSON (panics on a line that is not).
pub fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// A path as a `&str`, for argument lists.
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Writes an executable shell script.
pub fn script(path: &Path, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A shell loop that waits until `file` exists, checking every 50 ms for at most 20 s: how a
/// job waits for a marker another job (or the test) writes.
pub fn wait_for_file_sh(file: &Path) -> String {
    format!(
        "i=0; while [ ! -e '{}' ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done",
        file.display()
    )
}

/// Waits until `cond` holds, up to `bound`; false on time-out.
pub fn wait_until(bound: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + bound;
    while std::time::Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    cond()
}
