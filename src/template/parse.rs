//! Reading a template word into tokens: `{{`/`}}` escapes, `{= perl expression =}` (shortest
//! match, as GNU parallel), then the tags of the replacement-string table (longest first, plain
//! then positional forms). Words a `{= ... =}` spans are joined first, as GNU parallel does.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use super::TemplateError;
use super::rpl::{Builtin, Kind, Table, expression};
use super::token::{Placeholder, Token, placeholder_shaped};

const OPEN: &[u8] = b"{=";
const CLOSE: &[u8] = b"=}";

/// Joins `{=`, `perl`, `=}` given as separate words into one word `{= perl =}` (GNU
/// parallel's `merge_rpl_parts`), so a quoted expression split by the shell still works.
pub(crate) fn merge_perl_words(words: &[OsString]) -> Vec<OsString> {
    let mut out: Vec<OsString> = Vec::with_capacity(words.len());
    let mut open: Option<Vec<u8>> = None;
    for w in words {
        let mut cur = match open.take() {
            Some(mut s) => {
                s.push(b' ');
                s.extend_from_slice(w.as_bytes());
                s
            }
            None => w.as_bytes().to_vec(),
        };
        if unclosed(&cur) {
            open = Some(std::mem::take(&mut cur));
        } else {
            out.push(OsString::from_vec(cur));
        }
    }
    if let Some(s) = open {
        out.push(OsString::from_vec(s));
    }
    out
}

/// Whether `s` has a `{=` with no `=}` after it.
fn unclosed(s: &[u8]) -> bool {
    let Some(open) = find(s, OPEN, 0) else {
        return false;
    };
    let mut i = open;
    loop {
        match find(s, CLOSE, i + 2) {
            None => return true,
            Some(c) => match find(s, OPEN, c + 2) {
                None => return false,
                Some(o) => i = o,
            },
        }
    }
}

fn find(s: &[u8], pat: &[u8], from: usize) -> Option<usize> {
    s.get(from..)?
        .windows(pat.len())
        .position(|w| w == pat)
        .map(|p| p + from)
}

/// Splits GNU parallel's position off an expression: `2 s/a/b/` reads argument 2.
fn split_position(expr: &[u8]) -> (Option<i64>, &[u8]) {
    let sign = usize::from(expr.first() == Some(&b'-'));
    let digits = expr[sign..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    if digits == 0 {
        return (None, expr);
    }
    let pos = std::str::from_utf8(&expr[..sign + digits])
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .filter(|&p| p != 0);
    let rest = &expr[sign + digits..];
    let spaces = rest.iter().take_while(|&&b| b == b' ').count();
    (pos, &rest[spaces..])
}

/// Parses one word. Perl expressions are added to `exprs` (the same text once).
pub(crate) fn parse_word(
    w: &[u8],
    table: &Table,
    exprs: &mut Vec<Vec<u8>>,
) -> Result<Vec<Token>, TemplateError> {
    let mut tokens = Vec::new();
    let mut lit = Vec::new();
    let push = |tokens: &mut Vec<Token>, lit: &mut Vec<u8>, p: Placeholder| {
        if !lit.is_empty() {
            tokens.push(Token::Literal(std::mem::take(lit)));
        }
        tokens.push(Token::Placeholder(p));
    };
    let mut intern = |e: &[u8]| match exprs.iter().position(|x| x == e) {
        Some(i) => i,
        None => {
            exprs.push(e.to_vec());
            exprs.len() - 1
        }
    };
    let mut i = 0;
    while i < w.len() {
        let rest = &w[i..];
        if rest.starts_with(b"{{") {
            lit.push(b'{');
            i += 2;
            continue;
        }
        if rest.starts_with(b"}}") {
            lit.push(b'}');
            i += 2;
            continue;
        }
        if rest.starts_with(OPEN) {
            let Some(close) = find(w, CLOSE, i + 2) else {
                return Err(TemplateError::UnclosedPerl {
                    word: String::from_utf8_lossy(w).into_owned(),
                    offset: i,
                });
            };
            // The rightmost `{=` before the `=}` opens it (`{={==}` holds `{==}`).
            if find(&w[..close], OPEN, i + 1).is_some() {
                lit.push(w[i]);
                i += 1;
                continue;
            }
            let (input, expr) = split_position(&w[i + 2..close]);
            let expr = intern(expr);
            push(&mut tokens, &mut lit, Placeholder::Perl { expr, input });
            i = close + 2;
            continue;
        }
        if let Some(f) = table.find(rest) {
            let p = match f.kind {
                Kind::Builtin(Builtin::Value(transform)) => Placeholder::Value {
                    input: f.pos,
                    transform: *transform,
                },
                Kind::Builtin(Builtin::Seq) => Placeholder::Seq,
                Kind::Builtin(Builtin::Slot) => Placeholder::Slot,
                Kind::Perl(e) => {
                    let full = expression(e, &f.captures);
                    let (own, body) = split_position(&full);
                    Placeholder::Perl {
                        expr: intern(body),
                        input: f.pos.or(own),
                    }
                }
            };
            push(&mut tokens, &mut lit, p);
            i += f.len;
            continue;
        }
        if w[i] == b'{' && !table.renamed {
            let close = w[i + 1..].iter().position(|&b| b == b'}');
            let inner = &w[i + 1..close.map_or(w.len(), |c| i + 1 + c)];
            if placeholder_shaped(inner) {
                return Err(match close {
                    Some(c) => TemplateError::Unknown {
                        word: String::from_utf8_lossy(w).into_owned(),
                        text: String::from_utf8_lossy(&w[i..i + c + 2]).into_owned(),
                        offset: i,
                    },
                    None => TemplateError::Unclosed {
                        word: String::from_utf8_lossy(w).into_owned(),
                        text: String::from_utf8_lossy(&w[i..]).into_owned(),
                        offset: i,
                    },
                });
            }
        }
        lit.push(w[i]);
        i += 1;
    }
    if !lit.is_empty() || tokens.is_empty() {
        tokens.push(Token::Literal(lit));
    }
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::rpl::Replacements;

    fn os(ws: &[&str]) -> Vec<OsString> {
        ws.iter().map(OsString::from).collect()
    }

    #[test]
    fn perl_words_are_merged() {
        assert_eq!(
            merge_perl_words(&os(&["echo", "{=", "$_++", "=}", "x"])),
            os(&["echo", "{= $_++ =}", "x"])
        );
        assert_eq!(
            merge_perl_words(&os(&["a{=1=}", "b"])),
            os(&["a{=1=}", "b"])
        );
        assert_eq!(merge_perl_words(&os(&["{=", "x"])), os(&["{= x"]));
    }

    #[test]
    fn perl_positions_and_tokens() {
        let t = Table::new(&Replacements::default()).unwrap();
        let mut exprs = Vec::new();
        let toks = parse_word(
            b"log.{= $_++ =}.{=2 s/a/b/ =}{=1 $_=seq()=}",
            &t,
            &mut exprs,
        )
        .unwrap();
        assert_eq!(
            exprs,
            [
                b" $_++ ".to_vec(),
                b"s/a/b/ ".to_vec(),
                b"$_=seq()".to_vec()
            ]
        );
        assert_eq!(toks.len(), 5);
        assert_eq!(
            toks[3],
            Token::Placeholder(Placeholder::Perl {
                expr: 1,
                input: Some(2)
            })
        );
        assert!(matches!(
            parse_word(b"x{= $_", &t, &mut exprs),
            Err(TemplateError::UnclosedPerl { offset: 1, .. })
        ));
    }

    #[test]
    fn positional_and_negative_builtins() {
        let t = Table::new(&Replacements::default()).unwrap();
        let mut exprs = Vec::new();
        let toks = parse_word(b"{-1}{2/.}", &t, &mut exprs).unwrap();
        assert_eq!(
            toks[0],
            Token::Placeholder(Placeholder::Value {
                input: Some(-1),
                transform: super::super::token::Transform::Whole
            })
        );
        assert_eq!(toks.len(), 2);
    }
}
