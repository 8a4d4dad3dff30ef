//! The pieces a command template is parsed into, and how a placeholder reads back as text.

use std::fmt;

/// What a placeholder takes from an input value (GNU parallel's replacement strings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transform {
    /// `{}`: the value as is.
    Whole,
    /// `{.}`: without its last extension.
    NoExt,
    /// `{/}`: the basename.
    Base,
    /// `{//}`: the directory part (`.` when there is none).
    Dir,
    /// `{/.}`: the basename without its extension.
    BaseNoExt,
}

/// One placeholder in a template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Placeholder {
    /// A value: `input` is the 1-based input group (`{2}`), or `None` for all of them (`{}`).
    Value {
        /// The input group, counted from 1; `None` for all of them.
        input: Option<usize>,
        /// What is taken from the value.
        transform: Transform,
    },
    /// `{#}`: the job's sequence number.
    Seq,
    /// `{%}`: the job's slot number.
    Slot,
}

/// A run of literal bytes or a placeholder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Token {
    /// Bytes copied as they are (`{{` and `}}` already unescaped).
    Literal(Vec<u8>),
    /// A replacement string, filled in per job.
    Placeholder(Placeholder),
}

impl fmt::Display for Placeholder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Placeholder::Seq => f.write_str("{#}"),
            Placeholder::Slot => f.write_str("{%}"),
            Placeholder::Value { input, transform } => {
                f.write_str("{")?;
                if let Some(n) = input {
                    write!(f, "{n}")?;
                }
                f.write_str(match transform {
                    Transform::Whole => "",
                    Transform::NoExt => ".",
                    Transform::Base => "/",
                    Transform::Dir => "//",
                    Transform::BaseNoExt => "/.",
                })?;
                f.write_str("}")
            }
        }
    }
}

/// Reads the inside of `{...}`: `Ok(Some)` for a placeholder, `Ok(None)` when the text is not
/// placeholder-shaped at all (awk's `{print $1}` stays literal), `Err` when it looks like a
/// placeholder but is not a known one.
pub(crate) fn parse_placeholder(inner: &[u8]) -> Result<Option<Placeholder>, ()> {
    let shaped = inner
        .iter()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'/' | b'#' | b'%'));
    if !shaped {
        return Ok(None);
    }
    match inner {
        b"#" => return Ok(Some(Placeholder::Seq)),
        b"%" => return Ok(Some(Placeholder::Slot)),
        _ => {}
    }
    let digits = inner.iter().take_while(|b| b.is_ascii_digit()).count();
    let input = if digits == 0 {
        None
    } else {
        let n: usize = std::str::from_utf8(&inner[..digits])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or(())?;
        if n == 0 {
            return Err(());
        }
        Some(n)
    };
    let transform = match &inner[digits..] {
        b"" => Transform::Whole,
        b"." => Transform::NoExt,
        b"/" => Transform::Base,
        b"//" => Transform::Dir,
        b"/." => Transform::BaseNoExt,
        _ => return Err(()),
    };
    Ok(Some(Placeholder::Value { input, transform }))
}

/// Applies a transform to one input value.
pub(crate) fn transform(value: &[u8], t: Transform) -> &[u8] {
    let base_start = value.iter().rposition(|&b| b == b'/').map_or(0, |i| i + 1);
    let strip_ext = |s: &[u8], start: usize| -> usize {
        // The last dot of the basename, but not a leading one (".bashrc" has no extension).
        match s[start..].iter().rposition(|&b| b == b'.') {
            Some(i) if i > 0 => start + i,
            _ => s.len(),
        }
    };
    match t {
        Transform::Whole => value,
        Transform::NoExt => &value[..strip_ext(value, base_start)],
        Transform::Base => &value[base_start..],
        Transform::BaseNoExt => &value[base_start..strip_ext(value, base_start)],
        Transform::Dir => match base_start {
            0 => b".",
            1 => b"/",
            n => &value[..n - 1],
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transforms_follow_gnu_parallel() {
        let v = b"dir.d/sub/file.tar.gz";
        assert_eq!(transform(v, Transform::NoExt), b"dir.d/sub/file.tar");
        assert_eq!(transform(v, Transform::Base), b"file.tar.gz");
        assert_eq!(transform(v, Transform::Dir), b"dir.d/sub");
        assert_eq!(transform(v, Transform::BaseNoExt), b"file.tar");
        assert_eq!(transform(b"dir.d/file", Transform::NoExt), b"dir.d/file");
        assert_eq!(transform(b"file", Transform::Dir), b".");
        assert_eq!(transform(b"/file", Transform::Dir), b"/");
        assert_eq!(transform(b".bashrc", Transform::NoExt), b".bashrc");
    }

    #[test]
    fn placeholder_shapes() {
        assert_eq!(parse_placeholder(b"#"), Ok(Some(Placeholder::Seq)));
        assert_eq!(
            parse_placeholder(b"2/."),
            Ok(Some(Placeholder::Value {
                input: Some(2),
                transform: Transform::BaseNoExt
            }))
        );
        assert_eq!(parse_placeholder(b"print $1"), Ok(None));
        assert_eq!(parse_placeholder(b"0"), Err(()));
        assert_eq!(parse_placeholder(b"1..."), Err(()));
        assert_eq!(parse_placeholder(b"#%"), Err(()));
    }
}
