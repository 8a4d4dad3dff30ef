//! Columns, as GNU parallel splits input values: `--colsep REGEX` (each value split at the
//! regex, each column trimmed of blanks, as GNU's `--colsep` implies `--trim rl`) and `--csv`
//! (fields separated by `,` or a one-character `--colsep`, `"quoted"` fields with `""` inside,
//! a quoted field may go on over the next lines). The columns of a record's values are
//! flattened in order, so `{1}` `{2}` name them.

use regex::bytes::Regex;

use super::{ArgStream, InputError};

/// How values are split into columns.
#[derive(Debug, Clone)]
pub(crate) enum Splitter {
    /// `--colsep REGEX`.
    Regex(Regex),
    /// `--csv`, with its separator byte.
    Csv(u8),
}

/// A `--colsep` or `--csv` that cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ColumnsError {
    /// The regex does not compile.
    #[error("--colsep `{regex}` is not a regex fanout can use: {reason}")]
    BadRegex {
        /// As given.
        regex: String,
        /// Why.
        reason: String,
    },
    /// `--csv` with a separator of more than one character.
    #[error("--csv takes a one-character --colsep (the field separator), not `{0}`")]
    CsvSeparator(String),
}

impl Splitter {
    /// The splitter for `--colsep` and `--csv`, if either is given.
    pub(crate) fn new(colsep: Option<&str>, csv: bool) -> Result<Option<Splitter>, ColumnsError> {
        if csv {
            let sep = match colsep {
                None => b',',
                Some(s) if s.len() == 1 => s.as_bytes()[0],
                Some(s) => return Err(ColumnsError::CsvSeparator(s.to_string())),
            };
            return Ok(Some(Splitter::Csv(sep)));
        }
        colsep
            .map(|c| {
                Regex::new(c)
                    .map(Splitter::Regex)
                    .map_err(|e| ColumnsError::BadRegex {
                        regex: c.to_string(),
                        reason: e.to_string(),
                    })
            })
            .transpose()
    }

    /// The header's names (GNU parallel splits a header at the colsep, else at tabs).
    pub(crate) fn names(splitter: Option<&Splitter>, v: &[u8]) -> Vec<Vec<u8>> {
        match splitter {
            Some(s) => s.split(v),
            None => v.split(|&b| b == b'\t').map(<[u8]>::to_vec).collect(),
        }
    }

    /// Splits one value.
    pub(crate) fn split(&self, v: &[u8]) -> Vec<Vec<u8>> {
        match self {
            Splitter::Regex(re) => re.split(v).map(|c| trim(c).to_vec()).collect(),
            Splitter::Csv(sep) => csv_fields(v, *sep),
        }
    }

    /// Whether `v` ends inside a quoted CSV field (it goes on on the next line).
    fn open_quote(&self, v: &[u8]) -> bool {
        matches!(self, Splitter::Csv(_)) && v.iter().filter(|&&b| b == b'"').count() % 2 == 1
    }
}

fn trim(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &v[start..end]
}

fn csv_fields(v: &[u8], sep: u8) -> Vec<Vec<u8>> {
    let v = v.strip_suffix(b"\r").unwrap_or(v);
    let mut fields = Vec::new();
    let mut field = Vec::new();
    let mut quoted = false;
    let mut i = 0;
    while i < v.len() {
        let b = v[i];
        if quoted {
            if b == b'"' && v.get(i + 1) == Some(&b'"') {
                field.push(b'"');
                i += 1;
            } else if b == b'"' {
                quoted = false;
            } else {
                field.push(b);
            }
        } else if b == b'"' {
            quoted = true;
        } else if b == sep {
            fields.push(std::mem::take(&mut field));
        } else {
            field.push(b);
        }
        i += 1;
    }
    fields.push(field);
    fields
}

/// The records of a stream with each value split into columns.
pub(crate) struct Split {
    pub inner: Box<ArgStream>,
    pub splitter: Splitter,
}

impl Split {
    pub(crate) fn next(&mut self) -> Option<Result<Vec<Vec<u8>>, InputError>> {
        let mut rec = match self.inner.next()? {
            Ok(r) => r,
            Err(e) => return Some(Err(e)),
        };
        while rec.len() == 1 && self.splitter.open_quote(&rec[0]) {
            match self.inner.next() {
                Some(Ok(more)) => {
                    rec[0].push(b'\n');
                    rec[0].extend(more.into_iter().flatten());
                }
                Some(Err(e)) => return Some(Err(e)),
                None => break,
            }
        }
        Some(Ok(rec
            .iter()
            .flat_map(|v| self.splitter.split(v))
            .collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strs(v: Vec<Vec<u8>>) -> Vec<String> {
        v.into_iter()
            .map(|c| String::from_utf8(c).unwrap())
            .collect()
    }

    #[test]
    fn colsep_splits_and_trims() {
        let s = Splitter::new(Some(","), false).unwrap().unwrap();
        assert_eq!(strs(s.split(b" a , b ,")), ["a", "b", ""]);
        assert!(Splitter::new(Some("("), false).is_err());
    }

    #[test]
    fn csv_fields_are_unquoted() {
        let s = Splitter::new(None, true).unwrap().unwrap();
        assert_eq!(
            strs(s.split(b"x,\"a,b\",\"say \"\"hi\"\"\",")),
            ["x", "a,b", "say \"hi\"", ""]
        );
        assert!(s.open_quote(b"a,\"b"));
        let s = Splitter::new(Some(";"), true).unwrap().unwrap();
        assert_eq!(strs(s.split(b"a;b,c")), ["a", "b,c"]);
        assert!(Splitter::new(Some(";;"), true).is_err());
    }
}
