//! GNU parallel's rules for reading values that fanout takes as they are by default: `-E EOF`
//! (stop at an end-of-file value), `-r` (skip blank values), `--trim`, and `--link` (how
//! sources are combined). Plain data applied by the readers in this module's parent.

/// How input values are read and combined; the default reads every value as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InputFilter {
    /// A source ends at the first value equal to this (`-E`); it and the rest are not read.
    pub eof: Option<Vec<u8>>,
    /// Values that are empty or only whitespace run no job (`-r`).
    pub skip_empty: bool,
    /// Whitespace removed around each value (`--trim`).
    pub trim: Trim,
    /// All sources are linked, and shorter ones wrap around (`--link`).
    pub link: bool,
}

/// Which ends of a value `--trim` cleans of spaces and tabs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Trim {
    /// Neither (`n`, the default).
    #[default]
    None,
    /// The start (`l`).
    Left,
    /// The end (`r`).
    Right,
    /// Both (`lr` or `rl`).
    Both,
}

impl Trim {
    /// Parses GNU parallel's `--trim` values.
    pub fn parse(s: &str) -> Result<Trim, String> {
        match s {
            "n" => Ok(Trim::None),
            "l" => Ok(Trim::Left),
            "r" => Ok(Trim::Right),
            "lr" | "rl" => Ok(Trim::Both),
            _ => Err(format!("invalid trim `{s}`: use n, l, r, lr or rl")),
        }
    }
}

/// What happens to one value read.
pub(crate) enum Verdict {
    /// Use it (trimmed as asked).
    Keep(Vec<u8>),
    /// Skip it (`-r`).
    Skip,
    /// The source ends here (`-E`).
    End,
}

impl InputFilter {
    /// Applies the rules to one value of a source.
    pub(crate) fn judge(&self, mut value: Vec<u8>) -> Verdict {
        if self.eof.as_ref().is_some_and(|e| *e == value) {
            return Verdict::End;
        }
        let blank = |b: &u8| matches!(b, b' ' | b'\t');
        if matches!(self.trim, Trim::Right | Trim::Both) {
            while value.last().is_some_and(blank) {
                value.pop();
            }
        }
        if matches!(self.trim, Trim::Left | Trim::Both) {
            let lead = value.iter().take_while(|b| blank(b)).count();
            value.drain(..lead);
        }
        if self.skip_empty && value.iter().all(|b| b.is_ascii_whitespace()) {
            return Verdict::Skip;
        }
        Verdict::Keep(value)
    }

    /// Applies the rules to a whole source held in memory.
    pub(crate) fn judge_all(&self, values: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
        let mut out = Vec::with_capacity(values.len());
        for v in values {
            match self.judge(v) {
                Verdict::Keep(v) => out.push(v),
                Verdict::Skip => {}
                Verdict::End => break,
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(f: &InputFilter, v: &[&str]) -> Vec<String> {
        f.judge_all(v.iter().map(|s| s.as_bytes().to_vec()).collect())
            .into_iter()
            .map(|v| String::from_utf8(v).unwrap())
            .collect()
    }

    #[test]
    fn eof_skip_and_trim() {
        let f = InputFilter {
            eof: Some(b"STOP".to_vec()),
            ..Default::default()
        };
        assert_eq!(all(&f, &["a", "STOP", "b"]), ["a"]);
        let f = InputFilter {
            skip_empty: true,
            ..Default::default()
        };
        assert_eq!(all(&f, &["a", "", "  ", "b"]), ["a", "b"]);
        let f = InputFilter {
            trim: Trim::Both,
            ..Default::default()
        };
        assert_eq!(all(&f, &[" a ", "\tb"]), ["a", "b"]);
        let f = InputFilter {
            trim: Trim::Left,
            ..Default::default()
        };
        assert_eq!(all(&f, &[" a "]), ["a "]);
        assert_eq!(Trim::parse("rl"), Ok(Trim::Both));
        assert!(Trim::parse("x").is_err());
    }
}
