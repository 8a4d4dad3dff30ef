//! The words after the options: the command, then the input sources at `:::`, `:::+`,
//! `::::` and `::::+`, as GNU parallel reads them.

use std::ffi::OsString;
use std::path::PathBuf;

use fanout::input::{Source, SourceKind};

/// Splits the trailing words into the command and the input sources at `:::`, `:::+`, `::::`
/// and `::::+`. `after_arg_files`: `-a` files come first, so a leading `:::+` links to them.
pub(super) fn split_sources(
    rest: Vec<OsString>,
    after_arg_files: bool,
) -> Result<(Vec<OsString>, Vec<Source>), String> {
    let mut command = Vec::new();
    let mut sources: Vec<Source> = Vec::new();
    // The separator that opened the current source: (files?, linked?).
    let mut current: Option<(bool, bool)> = None;
    for word in rest {
        let sep = match word.to_str() {
            Some(":::") => Some((false, false)),
            Some(":::+") => Some((false, true)),
            Some("::::") => Some((true, false)),
            Some("::::+") => Some((true, true)),
            _ => None,
        };
        match (sep, current) {
            (Some((files, linked)), _) => {
                if linked && sources.is_empty() && !after_arg_files {
                    return Err(format!(
                        "`{}` links to the input source before it, but there is none: use ::: or :::: first",
                        word.to_string_lossy()
                    ));
                }
                if !files {
                    sources.push(Source {
                        kind: SourceKind::Args(Vec::new()),
                        linked,
                    });
                }
                current = Some((files, linked));
            }
            (None, None) => command.push(word),
            (None, Some((true, linked))) => sources.push(Source {
                kind: SourceKind::File(PathBuf::from(word)),
                // Every file after `::::+` is linked to the source before it, as in GNU parallel
                // (`:::: a ::::+ b c` zips a, b and c).
                linked,
            }),
            (None, Some((false, _))) => {
                if let Some(Source {
                    kind: SourceKind::Args(v),
                    ..
                }) = sources.last_mut()
                {
                    v.push(word);
                }
            }
        }
    }
    Ok((command, sources))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_sources() {
        let words: Vec<OsString> = ["echo", "{}", ":::", "a", "b", ":::+", "1", "::::", "f"]
            .iter()
            .map(OsString::from)
            .collect();
        let (cmd, src) = split_sources(words, false).unwrap();
        assert_eq!(cmd, ["echo", "{}"]);
        assert_eq!(src.len(), 3);
        assert!(src[1].linked);
        assert_eq!(src[2].kind, SourceKind::File("f".into()));
        assert!(split_sources(vec![":::+".into(), "a".into()], false).is_err());
        assert!(split_sources(vec![":::+".into(), "a".into()], true).is_ok());
    }
}
