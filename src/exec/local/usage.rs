//! What the kernel accounted to a job that has exited: CPU time and peak memory, read from the
//! zombie before it is reaped. tokio's `Child::wait` reaps and keeps only the exit status, so
//! a pidfd tells when the child has exited, `waitid(WNOWAIT)` reads its `rusage` (the child's
//! own and that of the children it waited for, such as the program under `sh -c`) and leaves
//! the zombie for tokio to reap as before. Without pidfds (Linux before 5.3) there is no usage.
//!
//! The one module with `unsafe`: neither nix nor std wraps `pidfd_open` or a `waitid` that
//! returns the `rusage`, and tokio's `AsyncFd` registration is `unsafe` since 1.52. Each block
//! says why it is sound.
#![allow(unsafe_code)]

use std::os::fd::{FromRawFd, OwnedFd};
use std::time::Duration;

use tokio::io::unix::AsyncFd;

use crate::job::Usage;

/// Becomes ready when the child has exited (its pidfd is readable).
pub(super) struct ExitWatch(AsyncFd<OwnedFd>);

impl ExitWatch {
    /// A watch on `pid`, which must be our unreaped child; `None` when the kernel has no pidfds.
    pub(super) fn open(pid: u32) -> Option<ExitWatch> {
        // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
        if fd < 0 {
            return None;
        }
        // SAFETY: `fd` is a descriptor we own from here on.
        let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        // SAFETY: the AsyncFd owns the descriptor, so it stays open (and the same) for as long
        // as it is registered.
        unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }
            .ok()
            .map(ExitWatch)
    }

    /// Waits until the child has exited. Cancel-safe: readiness stays set once it is.
    pub(super) async fn exited(&self) {
        let _ = self.0.readable().await;
    }
}

/// The usage of `pid`, an exited child not yet reaped (it stays unreaped).
pub(super) fn of_zombie(pid: u32) -> Option<Usage> {
    // SAFETY: all-zero is a valid siginfo_t and rusage.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // The raw system call: glibc's waitid has no rusage argument.
    // SAFETY: the pointers are to live, writable values of the kernel's types.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_waitid,
            libc::P_PID,
            pid as libc::id_t,
            &mut info as *mut libc::siginfo_t,
            libc::WEXITED | libc::WNOWAIT | libc::WNOHANG,
            &mut ru as *mut libc::rusage,
        )
    };
    // WNOHANG with nothing to report leaves si_pid 0.
    // SAFETY: si_pid is filled in by waitid (or still zero).
    if rc != 0 || unsafe { info.si_pid() } == 0 {
        return None;
    }
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    Some(Usage {
        user: tv(ru.ru_utime),
        system: tv(ru.ru_stime),
        max_rss_kib: ru.ru_maxrss.max(0) as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn usage_of_a_busy_child_is_read_before_tokio_reaps_it() {
        // A child that burns CPU and touches 40 MiB, then exits.
        let mut child = tokio::process::Command::new("perl")
            .args([
                "-e",
                "$x = q(a) x 40_000_000; $s = 0; $s += $_ for 1 .. 1_000_000",
            ])
            .spawn()
            .unwrap();
        let pid = child.id().unwrap();
        let Some(watch) = ExitWatch::open(pid) else {
            eprintln!(
                "SKIP usage_of_a_busy_child_is_read_before_tokio_reaps_it: no pidfd_open here"
            );
            return;
        };
        tokio::time::timeout(Duration::from_secs(120), watch.exited())
            .await
            .expect("the child exits");
        let usage = of_zombie(pid).expect("the zombie's usage");
        assert!(
            usage.user + usage.system > Duration::from_millis(20),
            "{usage:?}"
        );
        assert!(usage.max_rss_kib > 30 * 1024, "{usage:?}");
        // Still there for tokio: the exit status is not lost.
        let status = child.wait().await.unwrap();
        assert!(status.success());
    }
}
