//! Observability: structured logs (text and JSON, levels and filters, log file), the
//! end-of-run summary (text and JSON), `--slow` lines, the plain progress line, and the
//! progress bar under a real pseudo-terminal. Shared helpers here; the tests in the submodules.

mod logs;
mod progress;
mod summary;

use std::io::Read;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

use crate::util::{BOUND, fanout, fanout_path, wait_until};

fn stderr_of(out: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&out.get_output().stderr).into_owned()
}

/// Every stderr line parsed as JSON (panics on a line that is not).
fn json_lines(err: &str) -> Vec<Value> {
    err.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn events<'a>(lines: &'a [Value], name: &str) -> Vec<&'a Value> {
    lines.iter().filter(|v| v["event"] == name).collect()
}

/// Asserts that `v` has each field, of the JSON type given (`n` number, `s` string, `b` bool).
fn has_fields(v: &Value, fields: &[(&str, char)]) {
    for (f, t) in fields {
        let ok = match t {
            'n' => v[f].is_number(),
            's' => v[f].is_string(),
            'b' => v[f].is_boolean(),
            _ => unreachable!(),
        };
        assert!(ok, "field `{f}` ({t}) missing or mistyped in {v}");
    }
}

const COMMON: &[(&str, char)] = &[
    ("timestamp", 's'),
    ("level", 's'),
    ("message", 's'),
    ("event", 's'),
];

/// Runs fanout with `args` (shell words) under a pseudo-terminal (`script`), bounded, and
/// returns everything the terminal received.
fn under_pty(args: &str) -> String {
    under_pty_env(args, &[])
}

fn under_pty_env(args: &str, env: &[(&str, &str)]) -> String {
    let cmd = format!("{} {args}", fanout_path().display());
    let mut child = std::process::Command::new("script")
        .args(["-qfec", &cmd, "/dev/null"])
        .env_remove("CI")
        .env_remove("RUST_LOG")
        .env_remove("NO_COLOR")
        .env("TERM", "xterm")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("`script` (bsdutils) is installed");
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        buf
    });
    let ended = wait_until(BOUND, || child.try_wait().unwrap().is_some());
    if !ended {
        let _ = child.kill();
        let _ = child.wait();
        panic!("fanout under a pty did not end within {BOUND:?}");
    }
    String::from_utf8_lossy(&reader.join().unwrap()).into_owned()
}

/// What a terminal line shows last: the text after its last clear-line code.
fn after_last_clear(line: &str) -> &str {
    line.rsplit("\x1b[2K").next().unwrap()
}
