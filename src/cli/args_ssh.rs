//! The flags for running jobs on other machines over ssh (`-S`, `--slf`, `--ssh`, `--env`),
//! in GNU parallel's spelling, and their translation into the engine's `SshConfig`.

use std::ffi::OsString;
use std::path::PathBuf;

use fanout::config::OnAll;
use fanout::exec::SshConfig;
use fanout::exec::ssh::{FileOptions, Login, Workdir, read_login_file, split_command};

/// `-S`, `--slf`, `--ssh`, `--env`, and the files moved around remote jobs
/// (`--transferfile`, `--return`, `--cleanup`, `--trc`, `--basefile`, `--workdir`: without
/// ssh hosts they change nothing, as in GNU parallel, whose local jobs have their files).
#[derive(Debug, clap::Args)]
pub struct SshArgs {
    /// Run jobs on these hosts: a comma list of [N/][user@]host[:port] (N/ = its slots), `:`
    /// for this machine; may be repeated. -j then means slots per host
    #[arg(
        short = 'S',
        long = "sshlogin",
        env = "FANOUT_SSHLOGIN",
        value_name = "LOGINS"
    )]
    #[arg(help_heading = "Remote hosts (ssh)")]
    sshlogin: Vec<String>,

    /// Read sshlogins from FILE, one a line (# comments, N/ prefixes, `:`); may be repeated.
    /// Read again when it changes during the run: hosts added start taking jobs, hosts removed
    /// take no new ones
    #[arg(
        long = "sshloginfile",
        visible_alias = "slf",
        env = "FANOUT_SSHLOGINFILE",
        value_name = "FILE"
    )]
    #[arg(help_heading = "Remote hosts (ssh)")]
    sshloginfile: Vec<PathBuf>,

    /// The ssh program and its options [default: ssh]
    #[arg(long = "ssh", env = "FANOUT_SSH", value_name = "CMD")]
    #[arg(help_heading = "Remote hosts (ssh)")]
    ssh: Option<String>,

    /// Leave out the hosts that cannot be logged in to at the start (a warning each)
    #[arg(long = "filter-hosts", env = "FANOUT_FILTER_HOSTS")]
    #[arg(help_heading = "Remote hosts (ssh)")]
    filter_hosts: bool,

    /// Copy the variable NAME from here into the remote jobs; may be repeated
    #[arg(long = "env", env = "FANOUT_ENV", value_name = "NAME")]
    #[arg(help_heading = "Remote hosts (ssh)")]
    env: Vec<String>,

    /// Send FILE (a template, usually {}) to the host before the job; may be repeated
    #[arg(
        long = "transferfile",
        visible_alias = "tf",
        env = "FANOUT_TRANSFERFILE",
        value_name = "FILE"
    )]
    #[arg(help_heading = "Remote hosts (ssh)")]
    transferfile: Vec<OsString>,

    /// The same as --transferfile {}
    #[arg(long = "transfer", env = "FANOUT_TRANSFER")]
    #[arg(help_heading = "Remote hosts (ssh)")]
    transfer: bool,

    /// Fetch FILE (a template) from the host after the job; may be repeated
    #[arg(long = "return", env = "FANOUT_RETURN", value_name = "FILE")]
    #[arg(help_heading = "Remote hosts (ssh)")]
    returns: Vec<OsString>,

    /// Remove the sent and returned files (and --basefile at the end) from the host
    #[arg(long = "cleanup", env = "FANOUT_CLEANUP")]
    #[arg(help_heading = "Remote hosts (ssh)")]
    cleanup: bool,

    /// The same as --transfer --return FILE --cleanup (may be repeated)
    #[arg(long = "trc", env = "FANOUT_TRC", value_name = "FILE")]
    #[arg(help_heading = "Remote hosts (ssh)")]
    trc: Vec<OsString>,

    /// Send FILE to each host once, before its first job; may be repeated
    #[arg(
        long = "basefile",
        visible_alias = "bf",
        env = "FANOUT_BASEFILE",
        value_name = "FILE"
    )]
    #[arg(help_heading = "Remote hosts (ssh)")]
    basefile: Vec<PathBuf>,

    /// Run remote jobs in DIR (a template; `...`: a fresh directory per job, removed after
    /// it; `.`: this directory's path under the home directory)
    #[arg(
        long = "workdir",
        visible_alias = "wd",
        env = "FANOUT_WORKDIR",
        value_name = "DIR"
    )]
    #[arg(help_heading = "Remote hosts (ssh)")]
    workdir: Option<OsString>,

    /// Run every input on every host (one job at a time per host; -j N: N hosts at once),
    /// each host's output together
    #[arg(long = "onall", env = "FANOUT_ONALL")]
    #[arg(help_heading = "Remote hosts (ssh)")]
    pub onall: bool,

    /// Run the command once on every host, with no input (--onall without arguments)
    #[arg(long = "nonall", env = "FANOUT_NONALL")]
    #[arg(help_heading = "Remote hosts (ssh)")]
    pub nonall: bool,
}

impl SshArgs {
    /// The engine's ssh settings; `None` without `-S` or `--slf`. `jobs` is `-j` as given.
    pub fn into_config(self, jobs: Option<&str>) -> Result<Option<SshConfig>, String> {
        let mut logins = Vec::new();
        for list in &self.sshlogin {
            logins.extend(Login::parse_list(list).map_err(|e| format!("--sshlogin: {e}"))?);
        }
        let sshlogins = logins.clone();
        for file in &self.sshloginfile {
            let found = read_login_file(file).map_err(|e| format!("--sshloginfile: {e}"))?;
            if found.is_empty() {
                return Err(format!(
                    "--sshloginfile: `{}` names no host: add one login a line",
                    file.display()
                ));
            }
            logins.extend(found);
        }
        for name in &self.env {
            if name.is_empty()
                || name.starts_with(|c: char| c.is_ascii_digit())
                || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                return Err(format!(
                    "--env `{name}`: give the name of an environment variable (letters, digits, _)"
                ));
            }
        }
        if logins.is_empty() {
            if self.ssh.is_some() {
                return Err("--ssh needs hosts to run on: add -S HOST or --slf FILE".into());
            }
            if self.filter_hosts {
                return Err(
                    "--filter-hosts needs hosts to filter: add -S HOST or --slf FILE".into(),
                );
            }
            // `--env` alone changes nothing here (local jobs see the whole environment).
            return Ok(None);
        }
        let ssh = match &self.ssh {
            Some(cmd) => split_command(cmd)
                .map_err(|e| format!("--ssh: {e}"))?
                .into_iter()
                .map(OsString::from)
                .collect(),
            None => Vec::new(),
        };
        let workdir = self.workdir.as_deref().map(Workdir::parse);
        if workdir == Some(Workdir::Fresh)
            && let Some(f) = self.basefile.iter().find(|f| f.is_relative())
        {
            return Err(format!(
                "--basefile `{}` is relative and --workdir ... is new for each job: give the base file's absolute path",
                f.display()
            ));
        }
        let mut transfer = self.transferfile;
        if self.transfer || !self.trc.is_empty() {
            transfer.push("{}".into());
        }
        let mut returns = self.returns;
        returns.extend(self.trc.iter().cloned());
        let files = FileOptions {
            transfer,
            returns,
            cleanup: self.cleanup || !self.trc.is_empty(),
            basefiles: self.basefile,
            workdir,
        };
        Ok(Some(SshConfig {
            files,
            logins,
            login_files: self.sshloginfile,
            sshlogins,
            ssh,
            env: self.env.into_iter().map(OsString::from).collect(),
            jobs: jobs.map(str::to_owned),
            filter_hosts: self.filter_hosts,
        }))
    }
}

/// `--onall`/`--nonall`: `jobs` (`-j` as given) is how many of the `hosts` run at once.
pub fn onall(
    onall: bool,
    nonall: bool,
    jobs: Option<&str>,
    hosts: usize,
) -> Result<Option<OnAll>, String> {
    if !onall && !nonall {
        return Ok(None);
    }
    let hosts_at_once = match jobs {
        Some(j) => Some(
            fanout::config::parse_slots(j, hosts.max(1))
                .map_err(|e| format!("--jobs `{j}` with --onall (hosts at once): {e}"))?,
        ),
        None => None,
    };
    Ok(Some(OnAll {
        no_input: nonall,
        hosts_at_once,
    }))
}
