//! The one way the tests give fanout a terminal: util-linux `script` runs it under a
//! pseudo-terminal.

use std::io::Read;
use std::process::{Command, Stdio};

use super::{BOUND, clean_env, fanout_path, wait_until};

/// Runs fanout with `args` (shell words) under a pseudo-terminal (`script`), with a clean
/// environment, `TERM=xterm` and stdin from /dev/null (so the terminal's input ends at once),
/// bounded by [`BOUND`]; returns everything the terminal received.
pub fn under_pty(args: &str) -> String {
    under_pty_env(args, &[])
}

/// [`under_pty`] with variables set for fanout (`NO_COLOR`, ...).
pub fn under_pty_env(args: &str, env: &[(&str, &str)]) -> String {
    let mut child = terminal(&format!("{} {args}", fanout_path().display()))
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("`script` (util-linux) is installed");
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        buf
    });
    if !wait_until(BOUND, || child.try_wait().unwrap().is_some()) {
        let _ = child.kill();
        let _ = child.wait();
        panic!("fanout under a pty did not end within {BOUND:?}");
    }
    String::from_utf8_lossy(&reader.join().unwrap()).into_owned()
}

/// What a terminal line shows last: the text after its last clear-line code, without the
/// codes the bar's clear ends with (erase below, back to the line's start, wrapping on).
pub fn after_last_clear(line: &str) -> &str {
    let mut rest = line.rsplit("\x1b[2K").next().unwrap();
    while let Some(r) = ["\x1b[C", "\x1b[J", "\r", "\x1b[?7h"]
        .iter()
        .find_map(|p| rest.strip_prefix(p))
    {
        rest = r;
    }
    rest
}

/// A pseudo-terminal (util-linux `script`) that runs the shell command `inner`, with a clean
/// environment and `TERM=xterm`; not started. What is written to its stdin is typed on the
/// terminal (Ctrl-Z), and killing it hangs the terminal up. [`under_pty`] is built on it.
pub fn terminal(inner: &str) -> Command {
    let mut script = Command::new("script");
    clean_env(&mut script)
        .args(["-qfec", inner, "/dev/null"])
        .env("TERM", "xterm");
    script
}
