//! The perl co-process that evaluates `{= perl expression =}` (and the `--rpl`/`--plus` tags,
//! which are perl expressions too): started once per template that needs it, before any job
//! runs, and kept for the whole run, so each expression is compiled once and its globals live
//! from job to job as in GNU parallel. The protocol (length-prefixed fields over two pipes) is
//! described in `evaluator.pl`. Calls are serialised by a mutex: one job's expressions are
//! evaluated in one round trip of a few microseconds.

use std::io::{BufReader, Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Mutex;

use super::TemplateError;

/// GNU parallel's helpers and the request loop, run with `perl -e`.
const EVALUATOR: &str = include_str!("evaluator.pl");

/// A running evaluator.
pub(crate) struct Perl {
    proc: Mutex<Proc>,
}

struct Proc {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

/// What one job's expressions gave.
#[derive(Debug)]
pub(crate) struct Evaluated {
    /// An expression called `skip()`: the job is not run.
    pub skip: bool,
    /// Per (expression, argument) pair asked for: whether `uq()` was called, and the value.
    pub values: Vec<(bool, Vec<u8>)>,
}

/// One evaluation of a job: its numbers, its arguments and the pairs to evaluate.
pub(crate) struct Request<'a> {
    pub seq: u64,
    pub slot: u32,
    pub total: Option<u64>,
    pub args: &'a [Vec<u8>],
    /// (expression id, argument index; `None` for an empty value).
    pub pairs: &'a [(usize, Option<usize>)],
}

impl std::fmt::Debug for Perl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Perl")
    }
}

impl Perl {
    /// Starts perl and compiles `exprs` (their ids are their indexes). A missing perl or an
    /// expression that does not compile is an error now, before any job runs.
    pub fn start(exprs: &[Vec<u8>], slots: usize) -> Result<Perl, TemplateError> {
        let mut child = Command::new("perl")
            .arg("-e")
            .arg(EVALUATOR)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            // Its own process group: a Ctrl-C at the terminal is for the jobs and fanout,
            // which still need the evaluator while they wind down.
            .process_group(0)
            .spawn()
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    TemplateError::PerlMissing
                } else {
                    TemplateError::PerlFailed(format!("cannot start perl: {e}"))
                }
            })?;
        let stdin = child.stdin.take().expect("stdin is piped");
        let stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
        let perl = Perl {
            proc: Mutex::new(Proc {
                child,
                stdin: Some(stdin),
                stdout,
            }),
        };
        let mut fields: Vec<&[u8]> = vec![b"C"];
        let slots = slots.to_string();
        fields.push(slots.as_bytes());
        fields.extend(exprs.iter().map(Vec::as_slice));
        let reply = perl
            .call(&fields)
            .map_err(|e| TemplateError::PerlFailed(format!("perl ended: {e}")))?;
        match reply.first().map(Vec::as_slice) {
            Some(b"ok") => Ok(perl),
            _ => Err(TemplateError::PerlCompile(
                reply
                    .get(1)
                    .map(|m| String::from_utf8_lossy(m).into_owned())
                    .unwrap_or_default(),
            )),
        }
    }

    /// Evaluates one job's pairs. `Err` is perl's error (a `die`), or perl gone.
    pub fn eval(&self, r: &Request<'_>) -> Result<Evaluated, String> {
        let seq = r.seq.to_string();
        let slot = r.slot.to_string();
        let total = r.total.map(|t| t.to_string()).unwrap_or_default();
        let nargs = r.args.len().to_string();
        let npairs = r.pairs.len().to_string();
        let ids: Vec<(String, String)> = r
            .pairs
            .iter()
            .map(|(e, a)| (e.to_string(), a.map(|a| a.to_string()).unwrap_or_default()))
            .collect();
        let mut fields: Vec<&[u8]> = vec![
            b"E",
            seq.as_bytes(),
            slot.as_bytes(),
            total.as_bytes(),
            nargs.as_bytes(),
        ];
        fields.extend(r.args.iter().map(Vec::as_slice));
        fields.push(npairs.as_bytes());
        for (e, a) in &ids {
            fields.push(e.as_bytes());
            fields.push(a.as_bytes());
        }
        let reply = self
            .call(&fields)
            .map_err(|e| format!("the perl evaluator ended: {e}"))?;
        let (Some(skip), Some(err)) = (reply.first(), reply.get(1)) else {
            return Err("the perl evaluator gave a short answer".into());
        };
        if !err.is_empty() {
            return Err(String::from_utf8_lossy(err).into_owned());
        }
        let values: Vec<(bool, Vec<u8>)> = reply[2..]
            .chunks(2)
            .map(|c| (c[0] == b"1", c.get(1).cloned().unwrap_or_default()))
            .collect();
        if values.len() != r.pairs.len() {
            return Err("the perl evaluator gave a short answer".into());
        }
        Ok(Evaluated {
            skip: skip == b"1",
            values,
        })
    }

    fn call(&self, fields: &[&[u8]]) -> std::io::Result<Vec<Vec<u8>>> {
        let mut msg = Vec::with_capacity(64 + fields.iter().map(|f| f.len() + 4).sum::<usize>());
        msg.extend_from_slice(&len32(fields.len())?);
        for f in fields {
            msg.extend_from_slice(&len32(f.len())?);
            msg.extend_from_slice(f);
        }
        let mut p = self.proc.lock().unwrap_or_else(|e| e.into_inner());
        let stdin = p
            .stdin
            .as_mut()
            .ok_or_else(|| std::io::Error::other("closed"))?;
        stdin.write_all(&msg)?;
        stdin.flush()?;
        let count = read32(&mut p.stdout)?;
        let mut out = Vec::with_capacity(count);
        for _ in 0..count {
            let n = read32(&mut p.stdout)?;
            let mut buf = vec![0; n];
            p.stdout.read_exact(&mut buf)?;
            out.push(buf);
        }
        Ok(out)
    }
}

fn len32(n: usize) -> std::io::Result<[u8; 4]> {
    u32::try_from(n)
        .map(u32::to_be_bytes)
        .map_err(|_| std::io::Error::other("a value of 4 GiB or more"))
}

fn read32(r: &mut impl Read) -> std::io::Result<usize> {
    let mut b = [0; 4];
    r.read_exact(&mut b)?;
    Ok(u32::from_be_bytes(b) as usize)
}

impl Drop for Proc {
    fn drop(&mut self) {
        // End of its input ends the evaluator; then reap it.
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn have_perl() -> bool {
        Command::new("perl").arg("-e1").status().is_ok()
    }

    #[test]
    fn evaluates_with_gnu_helpers_and_keeps_globals() {
        if !have_perl() {
            eprintln!("SKIP evaluates_with_gnu_helpers_and_keeps_globals: no perl");
            return;
        }
        let exprs = vec![
            b"$_++".to_vec(),
            b"$_ = Q($_)".to_vec(),
            b"$n++; $_ = $n . seq() . slot() . $arg[2]".to_vec(),
            b"skip() if $_ eq 'x'; uq()".to_vec(),
        ];
        let p = Perl::start(&exprs, 4).unwrap();
        let args = vec![b"9".to_vec(), b"a b".to_vec()];
        let pairs = [(0, Some(0)), (1, Some(1)), (2, None), (3, Some(1))];
        let e = p
            .eval(&Request {
                seq: 5,
                slot: 2,
                total: None,
                args: &args,
                pairs: &pairs,
            })
            .unwrap();
        assert!(!e.skip);
        let v: Vec<_> = e.values.iter().map(|(_, v)| v.clone()).collect();
        assert_eq!(
            v,
            [
                b"10".to_vec(),
                b"'a b'".to_vec(),
                b"152a b".to_vec(),
                b"a b".to_vec()
            ]
        );
        assert!(e.values[3].0);
        let e = p
            .eval(&Request {
                seq: 6,
                slot: 1,
                total: None,
                args: &[b"x".to_vec()],
                pairs: &[(2, None), (3, Some(0))],
            })
            .unwrap();
        assert!(e.skip);
        assert_eq!(e.values[0].1, b"261");
        assert!(
            p.eval(&Request {
                seq: 1,
                slot: 1,
                total: None,
                args: &[],
                pairs: &[],
            })
            .is_ok()
        );
    }

    #[test]
    fn bad_expressions_are_errors_at_start_and_die_is_an_error() {
        if !have_perl() {
            eprintln!("SKIP bad_expressions_are_errors_at_start_and_die_is_an_error: no perl");
            return;
        }
        assert!(matches!(
            Perl::start(&[b"syntax error(".to_vec()], 1),
            Err(TemplateError::PerlCompile(_))
        ));
        let p = Perl::start(&[b"die 'no'".to_vec()], 1).unwrap();
        let e = p.eval(&Request {
            seq: 1,
            slot: 1,
            total: None,
            args: &[b"a".to_vec()],
            pairs: &[(0, Some(0))],
        });
        assert!(e.unwrap_err().starts_with("no at"));
    }
}
