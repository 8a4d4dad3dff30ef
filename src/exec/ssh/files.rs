//! Files sent to and fetched from an ssh host around a job, as GNU parallel's
//! `--transferfile`, `--return`, `--cleanup`, `--basefile` and `--workdir` do: with rsync over
//! the host's ControlMaster (`rsync -e 'ssh … -o ControlPath=…'`), `-R` so that a relative
//! `dir/file` arrives as `dir/file` under the job's directory, and GNU parallel's path rules:
//!
//! - a relative name is relative to the job's directory on the host (`--workdir`, else the
//!   login directory); an absolute one is the same path there; in `dir/./rest`, only `rest` is
//!   kept under the job's directory (rsync's `-R` rule);
//! - a returned `dir/./rest` is fetched from `rest` under the job's directory into `dir/rest`
//!   here;
//! - `--cleanup` removes the sent and returned files on the host, and their directories that
//!   are left empty.
//!
//! Needs `rsync` on both ends (and `sh`, `mkdir`, `rm`, `rmdir` on the host).

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;

use crate::job::{JobFiles, JobId};
use crate::quote::quote_into;

/// What `--transferfile`, `--return`, `--cleanup`, `--basefile` and `--workdir` ask for.
#[derive(Debug, Clone, Default)]
pub struct FileOptions {
    /// `--transferfile` templates (rendered per job by the runner).
    pub transfer: Vec<OsString>,
    /// `--return` templates.
    pub returns: Vec<OsString>,
    /// `--cleanup`: the sent and returned files are removed from the host after the job (and
    /// the base files at the end of the run).
    pub cleanup: bool,
    /// `--basefile`: sent to each host once, before its first job.
    pub basefiles: Vec<PathBuf>,
    /// `--workdir`.
    pub workdir: Option<Workdir>,
}

/// Where a job runs on its host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Workdir {
    /// `...`: a fresh directory per job under `~/.parallel/tmp/`, removed after the job.
    Fresh,
    /// This path (`.` made into the current directory's path under the home directory).
    Fixed(OsString),
    /// A template, rendered per job.
    Template(OsString),
}

impl Workdir {
    /// `--workdir`'s value as GNU parallel reads it: `...`, `.` (the current directory, as a
    /// path relative to the home directory when it is below it) or a template.
    pub fn parse(value: &OsStr) -> Workdir {
        match value.as_bytes() {
            b"..." => Workdir::Fresh,
            b"." => Workdir::Fixed(here_from_home()),
            _ => Workdir::Template(value.to_owned()),
        }
    }
}

/// The current directory as a path below the home directory (`.` for the home itself), or
/// absolute when it is elsewhere.
fn here_from_home() -> OsString {
    let Ok(cwd) = std::env::current_dir() else {
        return ".".into();
    };
    let home = std::env::var_os("HOME").and_then(|h| std::fs::canonicalize(h).ok());
    let cwd = std::fs::canonicalize(&cwd).unwrap_or(cwd);
    match home.as_ref().and_then(|h| cwd.strip_prefix(h).ok()) {
        Some(rel) if rel.as_os_str().is_empty() => ".".into(),
        Some(rel) => rel.as_os_str().to_owned(),
        None => cwd.into_os_string(),
    }
}

impl FileOptions {
    /// The `--workdir` template the runner renders per job (not `.` or `...`).
    pub fn workdir_template(&self) -> Option<&OsString> {
        match &self.workdir {
            Some(Workdir::Template(t)) => Some(t),
            _ => None,
        }
    }

    /// True when nothing moves and no directory is set: jobs run as without these options.
    pub fn is_empty(&self) -> bool {
        self.transfer.is_empty()
            && self.returns.is_empty()
            && self.basefiles.is_empty()
            && self.workdir.is_none()
    }

    /// The directory for the base files (a relative `--workdir` or the login directory).
    pub(super) fn base_workdir(&self) -> Vec<u8> {
        match &self.workdir {
            Some(Workdir::Fixed(p)) | Some(Workdir::Template(p)) => normalize(p.as_bytes()),
            _ => b".".to_vec(),
        }
    }
}

/// This machine's name (GNU parallel names its `...` directories after it).
fn hostname() -> Vec<u8> {
    let name = std::fs::read("/proc/sys/kernel/hostname").unwrap_or_default();
    let name = name.trim_ascii();
    match name.is_empty() || name.contains(&b'/') {
        true => b"localhost".to_vec(),
        false => name.to_vec(),
    }
}

/// One job's files on one host.
#[derive(Debug, Clone)]
pub(super) struct Plan {
    /// The job's directory on the host (relative to the login directory, or absolute).
    pub workdir: Vec<u8>,
    /// The directory is fanout's own (`...`): removed after the job.
    pub fresh: bool,
    pub transfer: Vec<Vec<u8>>,
    pub returns: Vec<Vec<u8>>,
    pub cleanup: bool,
}

impl Plan {
    /// The plan for job `id`; `None` when nothing moves and the job runs in the login
    /// directory.
    pub(super) fn new(options: &FileOptions, files: Option<&JobFiles>, id: JobId) -> Option<Plan> {
        if options.is_empty() {
            return None;
        }
        let (workdir, fresh) = match &options.workdir {
            None => (b".".to_vec(), false),
            Some(Workdir::Fresh) => {
                let mut d = b".parallel/tmp/".to_vec();
                d.extend_from_slice(&hostname());
                d.extend_from_slice(format!("-{}-{}", std::process::id(), id).as_bytes());
                (d, true)
            }
            Some(Workdir::Fixed(p)) => (normalize(p.as_bytes()), false),
            Some(Workdir::Template(_)) => (
                normalize(
                    files
                        .and_then(|f| f.workdir.as_ref())
                        .map_or(&b"."[..], |w| w.as_bytes()),
                ),
                false,
            ),
        };
        let names = |v: Option<&Vec<OsString>>| {
            v.map(|v| v.iter().map(|n| n.as_bytes().to_vec()).collect())
                .unwrap_or_default()
        };
        Some(Plan {
            workdir,
            fresh,
            transfer: names(files.map(|f| &f.transfer)),
            returns: names(files.map(|f| &f.returns)),
            cleanup: options.cleanup,
        })
    }

    /// True when the job must `cd` before it runs.
    pub(super) fn changes_dir(&self) -> bool {
        self.workdir != b"."
    }

    /// The remote sh script run after the job (after the returns): `--cleanup`'s removals
    /// and a fresh directory's; `None` when there is nothing to remove.
    pub(super) fn cleanup_script(&self) -> Option<Vec<u8>> {
        let mut script = Vec::new();
        if self.cleanup {
            let names: Vec<&[u8]> = self
                .transfer
                .iter()
                .chain(&self.returns)
                .map(|n| &n[..])
                .collect();
            script = removal_script(&names, &self.workdir);
        }
        if self.fresh {
            script.extend_from_slice(b"rm -rf -- ");
            quote_into(&mut script, &self.workdir);
            script.extend_from_slice(b"; ");
            // Its parents, when this was the last job there.
            script.extend_from_slice(b"rmdir .parallel/tmp .parallel 2>/dev/null; ");
        }
        (!script.is_empty()).then(|| {
            script.extend_from_slice(b"true");
            script
        })
    }
}

/// A sh script that removes `names` (as sent to or fetched from `workdir`) and their
/// directories left empty, as GNU parallel's `--cleanup`; it fails only when sh does.
pub(super) fn removal_script(names: &[&[u8]], workdir: &[u8]) -> Vec<u8> {
    let mut script = Vec::new();
    for name in names {
        let path = remote_path(name, workdir);
        script.extend_from_slice(b"rm -f -- ");
        quote_into(&mut script, &path);
        script.extend_from_slice(b" 2>/dev/null; ");
        let dirs = parent_dirs(&path);
        if !dirs.is_empty() {
            script.extend_from_slice(b"rmdir --");
            for d in dirs {
                script.push(b' ');
                quote_into(&mut script, &d);
            }
            script.extend_from_slice(b" 2>/dev/null; ");
        }
    }
    // A directory still in use is no failure.
    script.extend_from_slice(b"true; ");
    script
}

/// Where `name` is on the host: `rest` of `dir/./rest`, or a relative name, under `workdir`;
/// an absolute name as it is.
fn remote_path(name: &[u8], workdir: &[u8]) -> Vec<u8> {
    let rest = match find_last(name, b"/./") {
        Some(i) => &name[i + 3..],
        None if name.starts_with(b"/") => return name.to_vec(),
        None => strip_dot_slash(name),
    };
    if workdir == b"." {
        return rest.to_vec();
    }
    [workdir, b"/", rest].concat()
}

/// The directories holding `path`, deepest first, up to its first component (not `.`, `/`).
fn parent_dirs(path: &[u8]) -> Vec<Vec<u8>> {
    let mut dirs = Vec::new();
    let mut end = path.len();
    while let Some(i) = path[..end].iter().rposition(|&b| b == b'/') {
        if i == 0 {
            break;
        }
        let d = &path[..i];
        if d != b"." && d != b".." && !d.ends_with(b"/.") && !d.ends_with(b"/..") {
            dirs.push(d.to_vec());
        }
        end = i;
    }
    dirs
}

/// rsync's arguments to send `name` into `workdir` on the host: `(source, destination
/// directory)`. `-R` keeps the name's directories (from after a `/./`).
pub(super) fn send_args(name: &[u8], workdir: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let relative = !name.starts_with(b"/") || find_last(name, b"/./").is_some();
    let dest = if relative {
        workdir.to_vec()
    } else {
        b"/".to_vec()
    };
    (name.to_vec(), dest)
}

/// How `name` comes back from the job's `workdir`: `(remote directory to cd into, the file's
/// name there, local directory)`, as GNU parallel's `--return`.
pub(super) fn return_args(name: &[u8], workdir: &[u8]) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let name = strip_dot_slash(name);
    let split = find_last(name, b"/./");
    let relative = !name.starts_with(b"/") || split.is_some();
    let (basedir, rest) = match split {
        Some(i) => (&name[..i + 1], &name[i + 3..]),
        None => (&b""[..], name),
    };
    let (dir, file) = match rest.iter().rposition(|&b| b == b'/') {
        Some(0) => (&b"/"[..], &rest[1..]),
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (&b"."[..], rest),
    };
    let remote_dir = if relative && !dir.starts_with(b"/") {
        [workdir, b"/", dir].concat()
    } else {
        dir.to_vec()
    };
    let local_dir = [basedir, dir].concat();
    (remote_dir, file.to_vec(), local_dir)
}

/// GNU parallel's clean-up of a `--workdir`: no `/./` (rsync would read it), no trailing
/// `/`, no leading `./`.
fn normalize(dir: &[u8]) -> Vec<u8> {
    let mut d = dir.to_vec();
    while let Some(i) = find_last(&d, b"/./") {
        d.drain(i..i + 2);
    }
    while d.len() > 1 && d.ends_with(b"/") {
        d.pop();
    }
    let d = strip_dot_slash(&d).to_vec();
    if d.is_empty() { b".".to_vec() } else { d }
}

fn strip_dot_slash(mut name: &[u8]) -> &[u8] {
    while name.len() > 2 && name.starts_with(b"./") {
        name = &name[2..];
    }
    name
}

fn find_last(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).rposition(|w| w == needle)
}

/// One word of rsync's `-e` command: rsync splits it at spaces and reads `'…'` (a doubled
/// quote inside being a quote), not backslashes.
pub(super) fn rsync_word(word: &[u8]) -> Vec<u8> {
    if !word.is_empty()
        && word
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,@%+".contains(b))
    {
        return word.to_vec();
    }
    let mut out = vec![b'\''];
    for &b in word {
        if b == b'\'' {
            out.push(b'\'');
        }
        out.push(b);
    }
    out.push(b'\'');
    out
}

/// `words` as one `-e` value.
pub(super) fn rsync_command(words: &[OsString]) -> OsString {
    let mut out = Vec::new();
    for (i, w) in words.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        out.extend(rsync_word(w.as_bytes()));
    }
    OsString::from_vec(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[u8]) -> &str {
        std::str::from_utf8(v).unwrap()
    }

    #[test]
    fn gnu_path_rules() {
        // The man page's table, with the work dir `wd`.
        assert_eq!(remote_path(b"/tmp/foo/bar", b"wd"), b"/tmp/foo/bar");
        assert_eq!(remote_path(b"tmp/foo/bar", b"wd"), b"wd/tmp/foo/bar");
        assert_eq!(remote_path(b"/tmp/./foo/bar", b"wd"), b"wd/foo/bar");
        assert_eq!(remote_path(b"tmp/./foo/bar", b"."), b"foo/bar");
        assert_eq!(send_args(b"/tmp/foo/bar", b"wd").1, b"/");
        assert_eq!(send_args(b"/tmp/./foo/bar", b"wd").1, b"wd");
        // `--return out/./{}.out` with `{}` = in/file: in/file.out there, out/in/file.out here.
        let (rd, f, ld) = return_args(b"out/./in/file.out", b".");
        assert_eq!((s(&rd), s(&f), s(&ld)), ("./in", "file.out", "out/in"));
        let (rd, f, ld) = return_args(b"/tmp/foo/bar.out", b"wd");
        assert_eq!((s(&rd), s(&f), s(&ld)), ("/tmp/foo", "bar.out", "/tmp/foo"));
        let (rd, f, ld) = return_args(b"./a.out", b"wd");
        assert_eq!((s(&rd), s(&f), s(&ld)), ("wd/.", "a.out", "."));
        assert_eq!(normalize(b"./a/./b//"), b"a/b");
        assert_eq!(normalize(b"./"), b".");
        assert_eq!(
            parent_dirs(b"wd/d/f"),
            vec![b"wd/d".to_vec(), b"wd".to_vec()]
        );
        assert!(parent_dirs(b"/f").is_empty());
        assert_eq!(rsync_word(b"a b'c"), b"'a b''c'");
        assert_eq!(rsync_word(b"-oControlPath=/tmp/x"), b"-oControlPath=/tmp/x");
    }

    #[test]
    fn removal_script_runs_in_sh() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("wd/dir")).unwrap();
        std::fs::write(d.path().join("wd/dir/f"), "x").unwrap();
        std::fs::write(d.path().join("wd/keep"), "x").unwrap();
        let script = removal_script(&[b"dir/f"], b"wd");
        let st = std::process::Command::new("sh")
            .arg("-c")
            .arg(OsString::from_vec(script))
            .current_dir(d.path())
            .status()
            .unwrap();
        assert!(st.success());
        assert!(!d.path().join("wd/dir").exists());
        assert!(d.path().join("wd/keep").exists());
    }
}
