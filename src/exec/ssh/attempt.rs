//! One remote attempt: the local ssh client (a mux client of the host's ControlMaster, run as
//! a tracked local process), its control pipe to the remote wrapper, and the job's stderr with
//! the wrapper's end marker taken out of it. The marker is the verdict: with it the attempt
//! ended with the job's own status; without it the connection failed ([`Exit::Lost`]).

use std::io::Write;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::BoxFuture;
use nix::sys::signal::Signal;
use tokio::io::{AsyncRead, ReadBuf};
use tokio::sync::watch;
use tokio::time::Instant;

use super::host::{Host, Session};
use crate::exec::local::LocalAttempt;
use crate::exec::{Attempt, Exit, Handle, OutputStream};

/// How long after ssh's exit its stderr may take to reach its end (and the marker to be read).
const MARKER_WAIT: Duration = Duration::from_secs(3);
/// How long a killed attempt's ssh may take to end before it is killed here too.
const KILL_WAIT: Duration = Duration::from_secs(5);

/// The write end of the pipe that is the remote wrapper's stdin: signal names, one a line;
/// closing it ends the remote job.
#[derive(Debug, Default)]
pub(super) struct Control(Mutex<Option<std::fs::File>>);

impl Control {
    pub(super) fn new(stdin: tokio::process::ChildStdin) -> Option<Control> {
        let fd = stdin.into_owned_fd().ok()?;
        Some(Control(Mutex::new(Some(std::fs::File::from(fd)))))
    }

    /// Asks the wrapper to send `signal` to the job's group. The pipe is non-blocking and the
    /// wrapper reads it, so this never waits; a lost write (a dead connection) is no error.
    pub(super) fn send(&self, signal: Signal) {
        if let Some(f) = self.0.lock().expect("never poisoned").as_mut() {
            let name = signal.as_str().trim_start_matches("SIG");
            let _ = f.write_all(format!("{name}\n").as_bytes());
        }
    }

    /// End of file for the wrapper: it ends the job.
    pub(super) fn close(&self) {
        self.0.lock().expect("never poisoned").take();
    }
}

/// What the stderr filter has seen: its end, and the job's status from the marker.
#[derive(Debug, Default, Clone, Copy)]
struct Seen {
    eof: bool,
    status: Option<i32>,
}

/// The job's stderr with the end marker cut out. Bytes that could begin the marker are held
/// back until they are known to be something else (the marker starts with a byte, 0x1d, that
/// stderr text hardly ever holds, so nothing else waits).
pub(super) struct MarkerFilter {
    inner: OutputStream,
    prefix: Arc<[u8]>,
    pending: Vec<u8>,
    ready: Vec<u8>,
    at: usize,
    eof: bool,
    seen: watch::Sender<Seen>,
}

/// What [`MarkerFilter::scan`] makes of bytes starting at a 0x1d.
enum Match {
    Full { status: i32, len: usize },
    Partial,
    No,
}

fn match_marker(prefix: &[u8], rest: &[u8]) -> Match {
    if rest.len() < prefix.len() {
        return match prefix.starts_with(rest) {
            true => Match::Partial,
            false => Match::No,
        };
    }
    if !rest.starts_with(prefix) {
        return Match::No;
    }
    let digits = &rest[prefix.len()..];
    let n = digits.iter().take_while(|b| b.is_ascii_digit()).count();
    if n > 3 {
        return Match::No;
    }
    match &digits[n..] {
        [] | [0x1d] if n < 4 => Match::Partial,
        [0x1d, b'\n', ..] if n > 0 => {
            let status = std::str::from_utf8(&digits[..n])
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(255);
            Match::Full {
                status,
                len: prefix.len() + n + 2,
            }
        }
        _ => Match::No,
    }
}

impl MarkerFilter {
    fn scan(&mut self, data: &[u8]) {
        self.pending.extend_from_slice(data);
        let pending = std::mem::take(&mut self.pending);
        let mut i = 0;
        while i < pending.len() {
            let Some(k) = pending[i..].iter().position(|&b| b == 0x1d) else {
                self.ready.extend_from_slice(&pending[i..]);
                return;
            };
            let start = i + k;
            self.ready.extend_from_slice(&pending[i..start]);
            match match_marker(&self.prefix, &pending[start..]) {
                Match::Full { status, len } => {
                    self.seen.send_modify(|s| s.status = Some(status));
                    i = start + len;
                }
                Match::Partial => {
                    self.pending = pending[start..].to_vec();
                    return;
                }
                Match::No => {
                    self.ready.push(0x1d);
                    i = start + 1;
                }
            }
        }
    }

    fn finish(&mut self) {
        // An unfinished marker at the end is the job's own text.
        let pending = std::mem::take(&mut self.pending);
        self.ready.extend_from_slice(&pending);
        self.eof = true;
        self.seen.send_modify(|s| s.eof = true);
    }
}

impl AsyncRead for MarkerFilter {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.at < this.ready.len() {
                let n = buf.remaining().min(this.ready.len() - this.at);
                buf.put_slice(&this.ready[this.at..this.at + n]);
                this.at += n;
                if this.at == this.ready.len() {
                    this.ready.clear();
                    this.at = 0;
                }
                return Poll::Ready(Ok(()));
            }
            if this.eof {
                return Poll::Ready(Ok(()));
            }
            let mut tmp = [0u8; 8192];
            let mut rb = ReadBuf::new(&mut tmp);
            match this.inner.as_mut().poll_read(cx, &mut rb) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => {
                    this.finish();
                    return Poll::Ready(Err(e));
                }
                Poll::Ready(Ok(())) if rb.filled().is_empty() => this.finish(),
                Poll::Ready(Ok(())) => {
                    let data = rb.filled().to_vec();
                    this.scan(&data);
                }
            }
        }
    }
}

impl Drop for MarkerFilter {
    fn drop(&mut self) {
        // Nobody reads any more: the attempt must not wait for the marker.
        self.seen.send_modify(|s| s.eof = true);
    }
}

/// What is left to do on the host after the job: its `--return`s and `--cleanup`.
pub(super) struct After {
    pub plan: super::files::Plan,
    /// The master the job ran over.
    pub path: std::path::PathBuf,
}

impl After {
    /// Fetches the returns, then removes what is to be removed; the first error, if any
    /// (a removal that fails is only a warning).
    /// `ended`: fanout ended the job (a timeout, a halt, a signal), so its results are
    /// partial and are not fetched; the removals are still made.
    async fn run(&self, host: &Host, ended: bool) -> Result<(), String> {
        let mut result = Ok(());
        for name in self.plan.returns.iter().filter(|_| !ended) {
            let (remote_dir, file, local_dir) = super::files::return_args(name, &self.plan.workdir);
            if let Err(e) = host.fetch(&self.path, remote_dir, file, local_dir).await {
                let shown = String::from_utf8_lossy(name);
                result = result.and(Err(format!("--return `{shown}`: {e}")));
            }
        }
        if let Some(script) = self.plan.cleanup_script()
            && let Err(e) = host.run_script(&self.path, &script).await
        {
            tracing::warn!(host = host.name(), "--cleanup on {}: {e}", host.name());
        }
        result
    }
}

/// A running remote attempt.
pub(super) struct SshAttempt {
    client: LocalAttempt,
    control: Arc<Control>,
    prefix: Arc<[u8]>,
    seen: Option<watch::Sender<Seen>>,
    seen_rx: watch::Receiver<Seen>,
    host: Arc<Host>,
    _session: Session,
    ended: Option<Exit>,
    kill_by: Option<Instant>,
    after: Option<After>,
    /// fanout sent the job a signal that ends it.
    ended_by_us: bool,
}

impl SshAttempt {
    pub(super) fn new(
        client: LocalAttempt,
        control: Arc<Control>,
        prefix: Arc<[u8]>,
        host: Arc<Host>,
        session: Session,
        after: Option<After>,
    ) -> SshAttempt {
        let (tx, rx) = watch::channel(Seen::default());
        SshAttempt {
            client,
            control,
            prefix,
            seen: Some(tx),
            seen_rx: rx,
            host,
            _session: session,
            ended: None,
            kill_by: None,
            after,
            ended_by_us: false,
        }
    }
}

impl Attempt for SshAttempt {
    fn handle(&self) -> Handle {
        self.client.handle()
    }

    fn take_output(&mut self) -> (OutputStream, OutputStream) {
        let (stdout, stderr) = self.client.take_output();
        let filter = MarkerFilter {
            inner: stderr,
            prefix: self.prefix.clone(),
            pending: Vec::new(),
            ready: Vec::new(),
            at: 0,
            eof: false,
            seen: self.seen.take().expect("output is taken once"),
        };
        (stdout, Box::pin(filter))
    }

    fn signal(&mut self, signal: Signal) {
        if !matches!(
            signal,
            Signal::SIGTSTP | Signal::SIGSTOP | Signal::SIGCONT | Signal::SIGWINCH
        ) {
            self.ended_by_us = true;
        }
        self.control.send(signal);
        if signal == Signal::SIGKILL {
            self.control.close();
            self.kill_by.get_or_insert(Instant::now() + KILL_WAIT);
        }
    }

    fn wait(&mut self) -> BoxFuture<'_, Exit> {
        Box::pin(async move {
            if let Some(exit) = self.ended {
                return exit;
            }
            let status = loop {
                let exited = match self.kill_by {
                    Some(at) => tokio::time::timeout_at(at, self.client.wait()).await.ok(),
                    None => Some(self.client.wait().await),
                };
                match exited {
                    Some(e) => break e,
                    None => {
                        // A dead connection: the wrapper is unreachable, end the client.
                        self.client.signal(Signal::SIGKILL);
                        self.kill_by = None;
                    }
                }
            };
            self.control.close();
            let _ = tokio::time::timeout(MARKER_WAIT, self.seen_rx.wait_for(|s| s.eof)).await;
            let seen = *self.seen_rx.borrow();
            let mut exit = match seen.status {
                Some(code) => Exit::Code(code),
                None => {
                    tracing::debug!(
                        host = self.host.name(),
                        ?status,
                        "no end marker: the connection failed"
                    );
                    Exit::Lost
                }
            };
            // The job ran to its end: its files come back before it is reported. `after` is
            // dropped only once it has run: the runner may drop this future meanwhile (a
            // timer of the termseq fires) and call `wait` again, which then runs it again
            // (fetches and removals can be repeated).
            if exit != Exit::Lost
                && let Some(after) = &self.after
            {
                let done = after.run(&self.host, self.ended_by_us).await;
                self.after = None;
                if let Err(e) = done {
                    tracing::warn!(host = self.host.name(), "job on {}: {e}", self.host.name());
                    if exit == Exit::Code(0) {
                        exit = Exit::Code(255);
                    }
                }
            }
            self.host.attempt_ended(exit == Exit::Lost).await;
            self.ended = Some(exit);
            exit
        })
    }

    fn reclaim_output(&mut self) -> BoxFuture<'_, bool> {
        self.client.reclaim_output()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    async fn filter(chunks: &[&[u8]]) -> (Vec<u8>, Seen) {
        let (tx, rx) = watch::channel(Seen::default());
        let mut data = Vec::new();
        for c in chunks {
            data.extend_from_slice(c);
        }
        // One byte at a time, so the marker is split at every place.
        struct Slow(Vec<u8>, usize);
        impl AsyncRead for Slow {
            fn poll_read(
                mut self: Pin<&mut Self>,
                _: &mut Context<'_>,
                buf: &mut ReadBuf<'_>,
            ) -> Poll<std::io::Result<()>> {
                if self.1 < self.0.len() {
                    let b = self.0[self.1];
                    buf.put_slice(&[b]);
                    self.1 += 1;
                }
                Poll::Ready(Ok(()))
            }
        }
        let mut f = MarkerFilter {
            inner: Box::pin(Slow(data, 0)),
            prefix: super::super::remote::marker_prefix("n").into(),
            pending: Vec::new(),
            ready: Vec::new(),
            at: 0,
            eof: false,
            seen: tx,
        };
        let mut out = Vec::new();
        f.read_to_end(&mut out).await.unwrap();
        let seen = *rx.borrow();
        (out, seen)
    }

    #[tokio::test]
    async fn the_marker_is_cut_out_and_read() {
        let (out, seen) = filter(&[b"err\x1dx\n", b"\x1dFANOUT-END-n 255\x1d\n"]).await;
        assert_eq!(out, b"err\x1dx\n");
        assert_eq!((seen.eof, seen.status), (true, Some(255)));
        // Another run's marker, or a broken one, is the job's text.
        let (out, seen) = filter(&[b"\x1dFANOUT-END-m 0\x1d\n\x1dFANOUT-END-n 1"]).await;
        assert_eq!(out, b"\x1dFANOUT-END-m 0\x1d\n\x1dFANOUT-END-n 1");
        assert_eq!(seen.status, None);
    }
}
