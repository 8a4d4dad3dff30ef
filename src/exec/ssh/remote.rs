//! What runs on the remote host: the job's command line, quoted once for the remote POSIX sh,
//! inside a small sh wrapper that
//! - runs the job in a session (and process group) of its own, stdin from `/dev/null`;
//! - reads signal names from ssh's stdin (fanout's control pipe) and sends each to the job's
//!   group, so `--termseq`, forwarded signals and Ctrl-Z keep their meaning remotely;
//! - at end of file on that pipe (fanout ended the attempt, died, or the connection went
//!   away) sends TERM, then KILL 2 s later, to the group: remote jobs never outlive the run;
//! - after the job, kills what is left in its group, and prints an end marker with the
//!   job's exit status on stderr, last. The marker tells a job's own exit 255 (or a signal
//!   death, which ssh also reports as 255) apart from ssh's 255 for a failed connection: no
//!   marker, no verdict from the job. The executor strips the marker from the job's stderr.
//!
//! Needs only `sh`, `setsid` (util-linux) and `kill` on the remote host (and coreutils' `env`
//! for Ctrl-C, see [`WRAPPER`]).

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use crate::quote::quote_into;

/// The wrapper; `$1` is the run's nonce, the other words start the job. A job killed by
/// signal N ends with 128+N, as in sh. The watcher keeps no copy of the job's stdout or
/// stderr, which would hold the session open.
const WRAPPER: &str = r#"exec 3<&0 </dev/null
n=$1; shift
setsid "$@" 3<&- &
j=$!
{ while read s <&3; do kill -$s -$j; done; kill -TERM -$j; sleep 2; kill -KILL -$j; } >/dev/null 2>&1 &
w=$!
{ wait $j; } 2>/dev/null; rc=$?
kill $w 2>/dev/null; kill -KILL -$j 2>/dev/null
printf '\035FANOUT-END-%s %s\035\n' "$n" $rc >&2
exit $rc"#;

/// The shell words a connection's first session runs to learn whether the host's `env` has
/// `--default-signal` (coreutils 8.31 and later): they print 1 or 0. A background job
/// ignores SIGINT and SIGQUIT in sh; started through `env --default-signal` it has them
/// back, so a forwarded Ctrl-C means what it does locally.
pub(super) const DEFAULT_SIGNAL_PROBE: &str =
    "$(env --default-signal=INT,QUIT true 2>/dev/null && echo 1 || echo 0)";

/// The remote command line for one job: `exec sh -c WRAPPER sh NONCE WORDS...`, every word
/// quoted once. WORDS are `env [--default-signal=INT,QUIT] NAME=VALUE... ARGV...` (one exec
/// before the job's own), or, when the job needs a shell first (a `workdir` to make and enter,
/// exit 255 when it cannot be; a program name `env` would misread), `sh -c SCRIPT` doing
/// that, exporting `env` and exec'ing `argv`.
pub(super) fn command_line(
    argv: &[OsString],
    env: &[(OsString, OsString)],
    nonce: &str,
    workdir: Option<&[u8]>,
    default_signal: bool,
) -> OsString {
    let mut words: Vec<Vec<u8>> = Vec::new();
    let direct = workdir.is_none()
        && argv.first().is_some_and(|p| {
            let p = p.as_bytes();
            !p.contains(&b'=') && !p.starts_with(b"-")
        });
    if direct || default_signal {
        words.push(b"env".to_vec());
    }
    if default_signal {
        words.push(b"--default-signal=INT,QUIT".to_vec());
    }
    if direct {
        for (name, value) in env {
            let mut w = name.as_bytes().to_vec();
            w.push(b'=');
            w.extend_from_slice(value.as_bytes());
            words.push(w);
        }
        words.extend(argv.iter().map(|w| w.as_bytes().to_vec()));
    } else {
        let mut script = Vec::new();
        if let Some(dir) = workdir {
            let mut q = Vec::new();
            quote_into(&mut q, dir);
            script.extend_from_slice(b"mkdir -p -- ");
            script.extend_from_slice(&q);
            script.extend_from_slice(b" && cd -- ");
            script.extend_from_slice(&q);
            script.extend_from_slice(b" || exit 255; ");
        }
        if !env.is_empty() {
            script.extend_from_slice(b"export");
            for (name, value) in env {
                script.push(b' ');
                script.extend_from_slice(name.as_bytes());
                script.push(b'=');
                quote_into(&mut script, value.as_bytes());
            }
            script.extend_from_slice(b"; ");
        }
        script.extend_from_slice(b"exec");
        for word in argv {
            script.push(b' ');
            quote_into(&mut script, word.as_bytes());
        }
        words.extend([b"sh".to_vec(), b"-c".to_vec(), script]);
    }
    let mut line = b"exec sh -c ".to_vec();
    quote_into(&mut line, WRAPPER.as_bytes());
    line.extend_from_slice(b" sh ");
    line.extend_from_slice(nonce.as_bytes());
    for w in &words {
        line.push(b' ');
        quote_into(&mut line, w);
    }
    OsString::from_vec(line)
}

/// The marker's bytes before the exit status, for the run's `nonce`.
pub(super) fn marker_prefix(nonce: &str) -> Vec<u8> {
    format!("\x1dFANOUT-END-{nonce} ").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The command line, run by a local sh as a remote login shell would: every byte of every
    /// word arrives, the status comes back, and the marker is the last thing on stderr.
    /// Runs `line` in a local sh with stdin a pipe held open meanwhile (at its end of file the
    /// wrapper ends the job).
    fn run(line: &OsString) -> std::process::Output {
        let (r, w) = nix::unistd::pipe().unwrap();
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(line)
            .stdin(std::process::Stdio::from(r))
            .output()
            .unwrap();
        drop(w);
        out
    }

    #[test]
    fn runs_byte_exact_through_a_local_sh() {
        let argv: Vec<OsString> = vec![
            "printf".into(),
            "[%s]\\n".into(),
            "a b".into(),
            "it's".into(),
            "$(hostname);`x`".into(),
            "two\nlines".into(),
            OsString::from_vec(b"caf\xe9".to_vec()),
        ];
        let env = vec![("FANOUT_SEQ".into(), "7".into())];
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("a b/c");
        let sub = sub.as_os_str().as_bytes();
        // Straight through env, with and without --default-signal, and through sh -c to
        // enter a workdir: the same bytes arrive every way.
        for (workdir, default_signal) in [(None, false), (None, true), (Some(sub), true)] {
            let line = command_line(&argv, &env, "n1", workdir, default_signal);
            let out = run(&line);
            assert_eq!(
                out.stdout,
                b"[a b]\n[it's]\n[$(hostname);`x`]\n[two\nlines]\n[caf\xe9]\n"
            );
            assert_eq!(out.stderr, b"\x1dFANOUT-END-n1 0\x1d\n");
        }
        assert!(std::path::Path::new(std::ffi::OsStr::from_bytes(sub)).is_dir());
        for default_signal in [false, true] {
            let line = command_line(
                &["sh".into(), "-c".into(), "echo $FANOUT_SEQ; exit 3".into()],
                &env,
                "n1",
                None,
                default_signal,
            );
            let out = run(&line);
            assert_eq!((out.status.code(), &out.stdout[..]), (Some(3), &b"7\n"[..]));
            assert!(out.stderr.ends_with(b"\x1dFANOUT-END-n1 3\x1d\n"));
        }
        // A program env would take for a variable or an option goes through sh; a missing
        // one is 127 either way.
        for prog in ["a=b", "-x", "no-such-program-here"] {
            let out = run(&command_line(&[prog.into()], &env, "n1", None, true));
            assert_eq!(out.status.code(), Some(127), "{prog}: {out:?}");
            assert!(out.stderr.ends_with(b"\x1dFANOUT-END-n1 127\x1d\n"));
        }
    }
}
