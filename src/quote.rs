//! Byte-safe POSIX shell quoting, for `sh -c` scripts, the display form of a command and (later)
//! the command lines sent over ssh.

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
