//! The words after the options: the command, then the input sources at `:::`, `:::+`,
//! `::::` and `::::+`, as GNU parallel reads them.

use std::ffi::OsString;
use std::path::PathBuf;

use fanout::input::{Source, SourceKind};

/// Splits the trailing words into the command and the input sources at `:::`, `:::+`, `::::`
/// and `::::+`. `after_arg_files`: `-a` files come first, so a leading `:::+` links to them.
/// `seps`: the words for `:::` and `::::` (GNU parallel's `--arg-sep`, `--arg-file-sep`); the
/// linked forms add a `+`.
pub(super) fn split_sources(
    rest: Vec<OsString>,
    after_arg_files: bool,
    seps: &(String, String),
) -> Result<(Vec<OsString>, Vec<Source>), String> {
    let (args, files) = seps;
    let (args_linked, files_linked) = (format!("{args}+"), format!("{files}+"));
    let mut command = Vec::new();
    let mut sources: Vec<Source> = Vec::new();
    // The separator that opened the current source: (files?, linked?).
    let mut current: Option<(bool, bool)> = None;
    for word in rest {
        let sep = match word.to_str() {
            Some(w) if w == args => Some((false, false)),
            Some(w) if w == args_linked => Some((false, true)),
            Some(w) if w == files => Some((true, false)),
            Some(w) if w == files_linked => Some((true, true)),
            _ => None,
        };
        match (sep, current) {
            (Some((files, linked)), _) => {
                // A leading `:::+`/`::::+` has nothing to link to: its first source stands
                // alone, as in GNU parallel (`::::+ a b` still zips a and b).
                if !files {
                    sources.push(Source {
                        kind: SourceKind::Args(Vec::new()),
                        linked: linked && (!sources.is_empty() || after_arg_files),
                    });
                }
                current = Some((files, linked));
            }
            (None, None) => command.push(word),
            (None, Some((true, linked))) => sources.push(Source {
                kind: SourceKind::File(PathBuf::from(word)),
                // Every file after `::::+` is linked to the source before it, as in GNU parallel
                // (`:::: a ::::+ b c` zips a, b and c).
                linked: linked && (!sources.is_empty() || after_arg_files),
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
        let seps = (":::".to_string(), "::::".to_string());
        let (cmd, src) = split_sources(words, false, &seps).unwrap();
        assert_eq!(cmd, ["echo", "{}"]);
        assert_eq!(src.len(), 3);
        assert!(src[1].linked);
        assert_eq!(src[2].kind, SourceKind::File("f".into()));
        // A leading `:::+` has nothing to link to (GNU parallel); after `-a` it links to it.
        let (_, src) = split_sources(vec![":::+".into(), "a".into()], false, &seps).unwrap();
        assert!(!src[0].linked);
        let (_, src) = split_sources(vec![":::+".into(), "a".into()], true, &seps).unwrap();
        assert!(src[0].linked);
        let gnu = (",,".to_string(), "//".to_string());
        let (_, src) = split_sources(vec![",,".into(), "a".into()], false, &gnu).unwrap();
        assert_eq!(src.len(), 1);
    }
}
