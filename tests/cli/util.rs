//! Helpers shared by the integration tests.

use std::path::Path;
use std::time::Duration;

/// The longest any single fanout run in the tests may take.
pub const BOUND: Duration = Duration::from_secs(60);

/// `fanout` with a clean environment (no RUST_LOG, NO_COLOR or FANOUT_* from the caller),
/// bounded by [`BOUND`].
pub fn fanout() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("fanout").expect("the fanout binary is built");
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().into_owned();
        if k.starts_with("FANOUT_") || k == "RUST_LOG" || k == "NO_COLOR" || k == "CI" {
            cmd.env_remove(&k);
        }
    }
    cmd.timeout(BOUND);
    cmd
}

/// The path of the built binary, for tests that need a std `Command` (signals, ptys).
pub fn fanout_path() -> std::path::PathBuf {
    assert_cmd::cargo::cargo_bin("fanout")
}

/// stdout as sorted lines, for runs whose order is not defined.
pub fn sorted_lines(out: &[u8]) -> Vec<String> {
    let mut v: Vec<String> = String::from_utf8_lossy(out)
        .lines()
        .map(String::from)
        .collect();
    v.sort();
    v
}

/// Writes an executable shell script.
pub fn script(path: &Path, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
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
