//! Byte-safe POSIX shell quoting, for `sh -c` scripts, the display form of a command and the
//! command lines sent over ssh; and the reverse for options that hold a command line.

/// Appends `value` quoted as one POSIX shell word. Works on bytes, so non-UTF-8 values survive
/// (shell-words quotes only `str`). Plain words are left bare for readable `--dry-run` output.
pub(crate) fn quote_into(out: &mut Vec<u8>, value: &[u8]) {
    let plain = !value.is_empty()
        && value
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"_-./=:,+@%^".contains(b));
    if plain {
        out.extend_from_slice(value);
        return;
    }
    out.push(b'\'');
    for &b in value {
        if b == b'\'' {
            out.extend_from_slice(b"'\\''");
        } else {
            out.push(b);
        }
    }
    out.push(b'\'');
}

/// Splits a command line given in one option (`--ssh`, `--slurm-args`) into words as sh
/// would: blanks separate, '...' and "..." quote, a backslash escapes (in "..." only before
/// `"` `\\` `$` and a backquote, as in sh); no expansions.
pub fn split_words(s: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' => {
                if let Some(w) = word.take() {
                    words.push(w);
                }
            }
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => w.push(c),
                        None => return Err(format!("unmatched ' in `{s}`")),
                    }
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => w.push(c),
                            Some(c) => {
                                w.push('\\');
                                w.push(c);
                            }
                            None => return Err(format!("unmatched \" in `{s}`")),
                        },
                        Some(c) => w.push(c),
                        None => return Err(format!("unmatched \" in `{s}`")),
                    }
                }
            }
            '\\' => match chars.next() {
                Some(c) => word.get_or_insert_with(String::new).push(c),
                None => return Err(format!("a lone \\ ends `{s}`")),
            },
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    if let Some(w) = word {
        words.push(w);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_only_what_needs_it() {
        let q = |v: &[u8]| {
            let mut out = Vec::new();
            quote_into(&mut out, v);
            out
        };
        assert_eq!(q(b"plain-word_1.txt"), b"plain-word_1.txt");
        assert_eq!(q(b""), b"''");
        assert_eq!(q(b"a b"), b"'a b'");
        assert_eq!(q(b"\xff'x"), b"'\xff'\\''x'");
    }
}
