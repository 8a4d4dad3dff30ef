//! sshlogins in GNU parallel's forms: `[N/]host`, `[N/]user@host`, `[N/]user@host:port`, and
//! `:` for this machine; `--slf` files of them (one a line, `#` comments); and the `--ssh`
//! command split into words.

use std::path::Path;

/// One sshlogin: where jobs run and how many at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    /// The login as given without its `N/` prefix: the joblog's Host column (`:` for this
    /// machine), as GNU parallel writes it.
    pub name: String,
    /// The `N/` prefix: this host's slots. `None`: `-j`, else the host's CPU count.
    pub slots: Option<usize>,
    /// `None` for `:` (this machine); else `[user@]host` for ssh.
    pub dest: Option<String>,
    /// The `:port` suffix.
    pub port: Option<u16>,
}

impl Login {
    /// Parses one login (no commas: split lists first).
    pub fn parse(s: &str) -> Result<Login, String> {
        let s = s.trim();
        let (slots, rest) = match s.split_once('/') {
            Some((n, rest)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
                let n: usize = n
                    .parse()
                    .map_err(|_| format!("`{s}`: bad slot count `{n}`"))?;
                if n == 0 {
                    return Err(format!("`{s}`: a host needs at least 1 slot (`1/{rest}`)"));
                }
                (Some(n), rest)
            }
            _ => (None, s),
        };
        if rest.is_empty() {
            return Err("an empty sshlogin: give `host`, `user@host[:port]`, or `:`".into());
        }
        if rest == ":" {
            return Ok(Login {
                name: ":".into(),
                slots,
                dest: None,
                port: None,
            });
        }
        if rest.contains(char::is_whitespace) {
            return Err(format!(
                "`{rest}`: an sshlogin that is a whole ssh command is not supported: give the host alone and the ssh command with --ssh"
            ));
        }
        if rest.starts_with('-') {
            return Err(format!("`{rest}`: a host name cannot start with `-`"));
        }
        let (dest, port) = match rest.rsplit_once(':') {
            // `[v6::addr]` or a bare IPv6 address has colons of its own.
            Some((host, port)) if !host.contains(':') => {
                let port = port
                    .parse::<u16>()
                    .ok()
                    .filter(|p| *p > 0)
                    .ok_or_else(|| format!("`{rest}`: bad port `{port}`"))?;
                (host.to_string(), Some(port))
            }
            _ => (rest.to_string(), None),
        };
        if dest.is_empty() || dest.ends_with('@') {
            return Err(format!("`{rest}`: no host name"));
        }
        Ok(Login {
            name: rest.to_string(),
            slots,
            dest: Some(dest),
            port,
        })
    }

    /// Parses a `-S` value: a comma-separated list.
    pub fn parse_list(s: &str) -> Result<Vec<Login>, String> {
        s.split(',')
            .filter(|l| !l.trim().is_empty())
            .map(Login::parse)
            .collect()
    }
}

/// The logins of an `--slf` file: one a line (a line may hold a comma list too), blank lines and
/// `#` comments skipped.
pub fn read_login_file(path: &Path) -> Result<Vec<Login>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the sshlogin file `{}`: {e}", path.display()))?;
    let mut logins = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let found = Login::parse_list(line)
            .map_err(|e| format!("`{}` line {}: {e}", path.display(), n + 1))?;
        logins.extend(found);
    }
    Ok(logins)
}

/// Splits an `--ssh` command into words as sh would ([`crate::quote::split_words`]).
pub fn split_command(s: &str) -> Result<Vec<String>, String> {
    let words = crate::quote::split_words(s)?;
    if words.is_empty() {
        return Err("--ssh is empty: give the ssh program, e.g. --ssh 'ssh -F ./cfg'".into());
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gnu_forms() {
        let l = Login::parse("2/me@h1:2222").unwrap();
        assert_eq!(l.name, "me@h1:2222");
        assert_eq!(
            (l.slots, l.dest.as_deref(), l.port),
            (Some(2), Some("me@h1"), Some(2222))
        );
        let l = Login::parse("h2").unwrap();
        assert_eq!(
            (l.slots, l.dest.as_deref(), l.port),
            (None, Some("h2"), None)
        );
        let l = Login::parse("4/:").unwrap();
        assert_eq!((l.name.as_str(), l.slots, l.dest), (":", Some(4), None));
        assert_eq!(Login::parse_list("h1, 3/h2,,").unwrap().len(), 2);
        assert!(Login::parse("0/h1").is_err());
        assert!(Login::parse("h1:x").is_err());
        assert!(Login::parse("ssh -p 2 h").is_err());
        assert!(Login::parse("").is_err());
    }

    #[test]
    fn login_file_comments_and_prefixes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("slf");
        std::fs::write(&p, "# hosts\n2/h1\n\n  h2 \n:\n").unwrap();
        let names: Vec<_> = read_login_file(&p)
            .unwrap()
            .into_iter()
            .map(|l| l.name)
            .collect();
        assert_eq!(names, ["h1", "h2", ":"]);
        std::fs::write(&p, "h1\n0/h2\n").unwrap();
        assert!(read_login_file(&p).unwrap_err().contains("line 2"));
    }

    #[test]
    fn splits_ssh_commands() {
        assert_eq!(
            split_command("ssh -F './my cfg' -o \"A=b c\"").unwrap(),
            ["ssh", "-F", "./my cfg", "-o", "A=b c"]
        );
        assert!(split_command("ssh 'x").is_err());
        assert!(split_command("  ").is_err());
    }
}
