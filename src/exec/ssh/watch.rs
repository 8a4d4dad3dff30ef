//! `--slf` files read again when they change during the run, as GNU parallel does: each is
//! looked at (one `stat`) about once a second, and a file whose modification time, size or
//! inode changed is read again; the executor's places then follow the logins it names
//! (`Ssh::reload`): new ones are connected and added, gone ones retire.

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use super::login::{Login, read_login_file};
use super::{Entry, Host, Ssh};
use crate::exec::{Executor, Place};
use std::sync::Arc;

/// How often the files are looked at: GNU parallel's "at most once per second".
pub(super) const CHECK_EVERY: Duration = Duration::from_secs(1);

/// What tells that a file changed: its modification time, size, device and inode (a file
/// replaced by `mv` has another inode, perhaps the same time and size).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp(Option<SystemTime>, u64, u64, u64);

fn stamp(path: &std::path::Path) -> Option<Stamp> {
    let meta = std::fs::metadata(path).ok()?;
    Some(Stamp(
        meta.modified().ok(),
        meta.len(),
        meta.dev(),
        meta.ino(),
    ))
}

/// The `--slf` files of a run and the `-S` logins beside them.
#[derive(Debug)]
pub(super) struct LoginFiles {
    paths: Vec<PathBuf>,
    /// The `-S` logins: they stay whatever the files say.
    fixed: Vec<Login>,
    /// Each file as last seen (`None`: it could not be looked at).
    seen: std::sync::Mutex<Vec<Option<Stamp>>>,
}

impl LoginFiles {
    /// Watches `paths` from now on (they were read just before, for the run's first logins).
    pub(super) fn new(paths: Vec<PathBuf>, fixed: Vec<Login>) -> LoginFiles {
        let seen = paths.iter().map(|p| stamp(p)).collect();
        LoginFiles {
            paths,
            fixed,
            seen: std::sync::Mutex::new(seen),
        }
    }

    /// True when a file changed since the last look (a file that went away did not change:
    /// it is probably being replaced, and is read once it is back).
    pub(super) fn changed(&self) -> bool {
        let mut seen = self.seen.lock().expect("never poisoned");
        let mut changed = false;
        for (path, last) in self.paths.iter().zip(seen.iter_mut()) {
            let now = stamp(path);
            if now.is_some() && now != *last {
                *last = now;
                changed = true;
            }
        }
        changed
    }

    /// The run's logins now: the `-S` ones, then every file's, in order, without duplicates.
    /// An error says which file and line is wrong; a file that names no host is one too.
    pub(super) fn read(&self) -> Result<Vec<Login>, String> {
        let mut logins = self.fixed.clone();
        for path in &self.paths {
            logins.extend(read_login_file(path)?);
        }
        if logins.is_empty() {
            return Err(format!(
                "`{}` names no host",
                self.paths
                    .first()
                    .map_or_else(String::new, |p| p.display().to_string())
            ));
        }
        let mut seen = std::collections::HashSet::new();
        logins.retain(|l| seen.insert(l.name.clone()));
        Ok(logins)
    }
}

impl Ssh {
    /// Waits until an `--slf` file changes in a way that changes the places, and returns them
    /// ([`Executor::places_changed`]); never, without `--slf`.
    pub(super) async fn follow_login_files(&self) -> Vec<Place> {
        let Some(files) = &self.login_files else {
            return std::future::pending().await;
        };
        loop {
            tokio::time::sleep(CHECK_EVERY).await;
            if !files.changed() {
                continue;
            }
            match files.read() {
                Ok(logins) => {
                    if self.reload(logins).await {
                        return self.places();
                    }
                }
                Err(e) => tracing::warn!(
                    error = e.as_str(),
                    "--sshloginfile changed but is not used: {e}; the hosts stay as they are"
                ),
            }
        }
    }

    /// Makes the places follow `logins` (an `--slf` file changed): places of logins that are
    /// gone retire, those that came back return, an `N/` prefix sets a place's slots anew (as
    /// in GNU parallel), and new logins become new places once their hosts were connected (as
    /// at the start: one that cannot be reached is taken out for a while) or, with
    /// `--filter-hosts`, answered. Nothing changes when no place would be left. True when
    /// something changed.
    async fn reload(&self, logins: Vec<Login>) -> bool {
        let new: Vec<Login> = {
            let table = self.table.lock().expect("never poisoned");
            logins
                .iter()
                .filter(|l| !table.iter().any(|e| e.login.name == l.name))
                .cloned()
                .collect()
        };
        let hosts: Vec<Option<Arc<Host>>> = new
            .iter()
            .map(|login| {
                login.dest.is_some().then(|| {
                    let mut added = self.added.lock().expect("never poisoned");
                    let host = Arc::new(Host::new(
                        login.clone(),
                        format!("a{}", added.len()),
                        self.ssh.clone(),
                        self.dir_path.clone(),
                        self.local.clone(),
                    ));
                    // Kept from now on, so that the end closes whatever it connected.
                    added.push(host.clone());
                    host
                })
            })
            .collect();
        let answers = futures::future::join_all(hosts.iter().map(|h| async move {
            match h {
                None => Ok(crate::config::default_slots()),
                Some(h) if self.filter_hosts => h.probe().await,
                Some(h) => h.connect().await,
            }
        }))
        .await;
        let mut entries = Vec::new();
        for ((login, host), answer) in new.into_iter().zip(hosts).zip(answers) {
            let cpus = match answer {
                Ok(cpus) => cpus,
                Err(e) if self.filter_hosts => {
                    let name = &login.name;
                    tracing::warn!(
                        host = name.as_str(),
                        error = e.as_str(),
                        "--filter-hosts: leaving out ssh host {name}: {e}"
                    );
                    continue;
                }
                // Taken out by `connect`, with its warning; it counts as 1 CPU.
                Err(_) => 1,
            };
            entries.push(Entry {
                slots: self.slots_for(&login, cpus),
                login,
                host,
                retired: false,
            });
        }
        let mut table = self.table.lock().expect("never poisoned");
        let wanted = |name: &str| logins.iter().find(|l| l.name == name);
        let left = table
            .iter()
            .filter(|e| wanted(&e.login.name).is_some())
            .count();
        if left + entries.len() == 0 {
            tracing::warn!(
                "--sshloginfile changed but none of its hosts can be used; the hosts stay as they are"
            );
            return false;
        }
        let mut changed = !entries.is_empty();
        for e in table.iter_mut() {
            let name = e.login.name.clone();
            let Some(login) = wanted(&name) else {
                if !e.retired {
                    e.retired = true;
                    changed = true;
                    tracing::info!(
                        host = name.as_str(),
                        "--sshloginfile: {name} left the file: no new jobs go there (its running jobs finish)"
                    );
                }
                continue;
            };
            if e.retired {
                e.retired = false;
                changed = true;
                tracing::info!(host = name.as_str(), "--sshloginfile: {name} is back");
            }
            if let Some(n) = login.slots
                && n != e.slots
            {
                e.slots = n;
                changed = true;
            }
        }
        for e in &entries {
            let name = e.login.name.as_str();
            tracing::info!(
                host = name,
                slots = e.slots,
                "--sshloginfile: {name} joins the run"
            );
        }
        table.extend(entries);
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_or_replaced_file_is_seen_once_and_read_with_the_fixed_logins() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("slf");
        std::fs::write(&p, "h1\n").unwrap();
        let fixed = Login::parse_list("h0,h1").unwrap();
        let files = LoginFiles::new(vec![p.clone()], fixed);
        assert!(!files.changed());
        std::fs::write(&p, "# more\n2/h2\nh1\n").unwrap();
        assert!(files.changed());
        assert!(!files.changed(), "seen once");
        let names: Vec<_> = files.read().unwrap().into_iter().map(|l| l.name).collect();
        assert_eq!(names, ["h0", "h1", "h2"]);
        // Replaced by `mv`, same size: another inode.
        let q = dir.path().join("new");
        std::fs::write(&q, "# more\n2/h3\nh1\n").unwrap();
        std::fs::rename(&q, &p).unwrap();
        assert!(files.changed());
        std::fs::remove_file(&p).unwrap();
        assert!(!files.changed(), "a missing file is not a change");
        std::fs::write(&p, "0/h1\n").unwrap();
        assert!(files.changed());
        assert!(files.read().unwrap_err().contains("line 1"));
    }
}
