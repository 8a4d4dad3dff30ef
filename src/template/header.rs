//! `--header`: the names the input's first line (or first value) gives the columns become
//! replacement strings, as GNU parallel does it: the command is rewritten before it is parsed,
//! `{name}` `{name.}` `{name/}` `{name//}` `{name/.}` to `{N}` `{N.}` ..., and
//! `{=name perl =}` to `{=N perl =}`.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use regex::bytes::{Captures, Regex};

/// Rewrites `words` with `names` (position N+1 for `names[N]`; empty names are skipped).
pub(crate) fn name_columns(words: &[OsString], names: &[Vec<u8>]) -> Vec<OsString> {
    let mut out: Vec<Vec<u8>> = words.iter().map(|w| w.as_bytes().to_vec()).collect();
    for (i, name) in names.iter().enumerate() {
        let Ok(name) = std::str::from_utf8(name) else {
            continue;
        };
        if name.is_empty() {
            continue;
        }
        let id = i + 1;
        let plain = Regex::new(&format!(r"\{{{}(|/|//|\.|/\.)\}}", regex::escape(name)))
            .expect("an escaped name is a valid regex");
        let perl = Regex::new(&format!(r"(?s)\{{={}(.*?)=\}}", regex::escape(name)))
            .expect("an escaped name is a valid regex");
        for w in &mut out {
            let once = plain
                .replace_all(w, |c: &Captures| {
                    let mut r = format!("{{{id}").into_bytes();
                    r.extend_from_slice(&c[1]);
                    r.push(b'}');
                    r
                })
                .into_owned();
            *w = perl
                .replace_all(&once, |c: &Captures| {
                    let mut r = format!("{{={id}").into_bytes();
                    r.extend_from_slice(&c[1]);
                    r.extend_from_slice(b"=}");
                    r
                })
                .into_owned();
        }
    }
    out.into_iter().map(OsString::from_vec).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_positions() {
        let words: Vec<OsString> = ["echo", "{b}-{a.}", "{=a s/x/y/ =}", "{ab}"]
            .iter()
            .map(OsString::from)
            .collect();
        let out = name_columns(&words, &[b"a".to_vec(), b"b".to_vec()]);
        assert_eq!(out, ["echo", "{2}-{1.}", "{=1 s/x/y/ =}", "{ab}"]);
    }
}
