//! The ssh test hosts (`scripts/test-hosts.sh up`, which exports `FO_SSH_CONFIG` and
//! `FO_HOSTS_DIR`) for test modules other than `ssh`: the `--ssh` value and a lock that
//! makes them take turns. Without the hosts, [`Hosts::get`] prints a visible SKIP line.
//!
//! `ssh.rs` has a richer copy (it counts sshd logins and breaks hosts) that takes the same
//! lock, [`TURN`], so no two tests of any module use the hosts at once.

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

use super::Dir;

/// Every test that uses the hosts holds this while it does.
pub static TURN: Mutex<()> = Mutex::new(());

/// The staging hosts h1.., and this test's turn at them.
pub struct Hosts {
    config: PathBuf,
    _turn: MutexGuard<'static, ()>,
}

impl Hosts {
    /// `None` (after a SKIP line naming `test`, as `module::name`) when the hosts are not up.
    pub fn get(test: &str) -> Option<Hosts> {
        let (Some(config), Some(_)) = (
            std::env::var_os("FO_SSH_CONFIG"),
            std::env::var_os("FO_HOSTS_DIR"),
        ) else {
            eprintln!(
                "SKIP {test}: no ssh test hosts (FO_SSH_CONFIG unset): run scripts/test.sh as root, or eval \"$(scripts/test-hosts.sh up)\""
            );
            return None;
        };
        let turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
        Some(Hosts {
            config: config.into(),
            _turn: turn,
        })
    }

    /// The `--ssh` value that reaches the hosts.
    pub fn ssh(&self) -> String {
        format!("ssh -F {}", self.config.display())
    }

    /// fanout in `d` with `--ssh` set to reach the hosts, bounded.
    pub fn fanout(&self, d: &Dir) -> assert_cmd::Command {
        let mut cmd = d.fanout();
        cmd.arg("--ssh").arg(self.ssh());
        cmd
    }
}
