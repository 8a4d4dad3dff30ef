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
        /// The input group or argument, counted from 1 (from the end when negative); `None`
        /// for all of them.
        input: Option<i64>,
        /// What is taken from the value.
        transform: Transform,
    },
    /// `{#}`: the job's sequence number.
    Seq,
    /// `{%}`: the job's slot number.
    Slot,
    /// `{= perl expression =}` (and the `--rpl`/`--plus` tags): evaluated by perl.
    Perl {
        /// The expression's id in the template's list.
        expr: usize,
        /// The argument it reads (`{=2 ... =}`); `None`: evaluated for each one.
        input: Option<i64>,
    },
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
            Placeholder::Perl { input, .. } => match input {
                Some(n) => write!(f, "{{={n} perl expression =}}"),
                None => f.write_str("{= perl expression =}"),
            },
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

/// Whether the inside of `{...}` looks like a default replacement string (digits and
/// `.` `/` `#` `%` `-`): such text that is no known tag is an error rather than literal (a
/// typo like `{1..}`), while awk's `{print $1}` stays literal.
pub(crate) fn placeholder_shaped(inner: &[u8]) -> bool {
    !inner.is_empty()
        && inner
            .iter()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'/' | b'#' | b'%' | b'-'))
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
        assert!(placeholder_shaped(b"1..."));
        assert!(placeholder_shaped(b"#%"));
        assert!(!placeholder_shaped(b"print $1"));
        assert!(!placeholder_shaped(b""));
    }
}
