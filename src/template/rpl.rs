//! The table of replacement strings, as GNU parallel keeps it: the seven defaults (renamed by
//! `-I`, `--extensionreplace`, ...), `--plus`'s table and `--rpl 'TAG perl-expression'`. A tag
//! may hold a `(regex)` whose matches the expression reads as `$$1`, `$$2`; a tag that starts
//! with `{` also has a positional form (`{2.}`, `{3%.gz}`). The defaults are done natively;
//! the rest are perl expressions for the evaluator ([`super::perl`]).

use regex::bytes::Regex;

use super::token::Transform;

/// Replacement strings besides the defaults, or the defaults under other names (GNU
/// parallel's `-I`, `--extensionreplace`, `--basenamereplace`, `--dirnamereplace`,
/// `--basenameextensionreplace`, `--seqreplace`, `--slotreplace`, `--plus`, `--rpl`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Replacements {
    /// The string that stands for `{}` (`-I`).
    pub whole: Option<String>,
    /// The string for `{.}` (`--extensionreplace`).
    pub no_ext: Option<String>,
    /// The string for `{/}` (`--basenamereplace`).
    pub base: Option<String>,
    /// The string for `{//}` (`--dirnamereplace`).
    pub dir: Option<String>,
    /// The string for `{/.}` (`--basenameextensionreplace`).
    pub base_no_ext: Option<String>,
    /// The string for `{#}` (`--seqreplace`).
    pub seq: Option<String>,
    /// The string for `{%}` (`--slotreplace`).
    pub slot: Option<String>,
    /// GNU parallel's `--plus` table: `{..}`, `{+/}`, `{%suffix}`, `{/old/new}` ...
    pub plus: bool,
    /// `--rpl` definitions, `TAG perl-expression` each, in order (a later one wins).
    pub rpl: Vec<String>,
}

/// What a native replacement string stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Builtin {
    Value(Transform),
    Seq,
    Slot,
}

/// What a tag is replaced by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kind {
    Builtin(Builtin),
    /// A perl expression, with `$$N` still in it.
    Perl(String),
}

/// One tag of the table, ready to match.
#[derive(Debug, Clone)]
struct Entry {
    /// The tag as defined (longer tags are tried first, as GNU parallel does).
    tag: String,
    prefix: Vec<u8>,
    postfix: Vec<u8>,
    /// The tag's `(regex)` and postfix, anchored, when it has a group.
    group: Option<Regex>,
    /// The positional form `{N...}`, when the tag starts with `{`.
    positional: Option<Regex>,
    kind: Kind,
}

/// A tag found in a template word.
pub(crate) struct Found<'a> {
    /// Bytes of the word it covers.
    pub len: usize,
    pub kind: &'a Kind,
    /// The position of a positional form (`{2.}`: 2).
    pub pos: Option<i64>,
    /// What the tag's groups matched (`$$1`, `$$2`, ...).
    pub captures: Vec<Vec<u8>>,
}

/// The compiled table of one run.
#[derive(Debug, Clone)]
pub(crate) struct Table {
    entries: Vec<Entry>,
    /// A default was renamed (`-I` ...): text shaped like a default placeholder that is no
    /// tag is then literal, as in GNU parallel, rather than an error.
    pub renamed: bool,
}

/// A `--rpl` definition that cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RplError {
    /// No space between the tag and the expression.
    #[error("--rpl `{0}` has no perl expression: write --rpl 'TAG perl-expression'")]
    NoExpression(String),
    /// The tag's `(regex)` does not compile.
    #[error("--rpl tag `{tag}` has a regex that cannot be used: {reason}")]
    BadRegex {
        /// The tag.
        tag: String,
        /// Why.
        reason: String,
    },
    /// A renamed replacement string is empty.
    #[error(
        "an empty replacement string cannot be matched: give -I and the *replace options a non-empty string"
    )]
    Empty,
}

/// GNU parallel's `--plus` table (`init_globals` of GNU parallel 20221122).
const PLUS: &[(&str, &str)] = &[
    ("{+/}", "s:/[^/]*$:: || s:.*$::"),
    ("{+.}", "s:.*\\.:: || s:.*$::"),
    ("{+..}", "s:.*\\.([^/.]*\\.[^/.]*)$:$1: || s:.*$::"),
    (
        "{+...}",
        "s:.*\\.([^/.]*\\.[^/.]*\\.[^/.]*)$:$1: || s:.*$::",
    ),
    ("{..}", "s:\\.[^/.]*\\.[^/.]*$::"),
    ("{...}", "s:\\.[^/.]*\\.[^/.]*\\.[^/.]*$::"),
    ("{/..}", "s:.*/::; s:\\.[^/.]*\\.[^/.]*$::"),
    ("{/...}", "s:.*/::; s:\\.[^/.]*\\.[^/.]*\\.[^/.]*$::"),
    (
        "{choose_k}",
        "for $t (2..$#arg){ if($arg[$t-1] ge $arg[$t]) { skip() } }",
    ),
    ("{uniq}", "if(::uniq(@arg) != @arg) { skip(); }"),
    ("{##}", "1 $_=total_jobs()"),
    (
        "{0%}",
        "1 $f=1+int((log($Arg::max_slots||1)/log(10)));$_=sprintf(\"%0${f}d\",slot())",
    ),
    (
        "{0#}",
        "1 $f=1+int((log(total_jobs())/log(10)));$_=sprintf(\"%0${f}d\",seq())",
    ),
    ("{:-([^}]+?)}", "$_ ||= $$1"),
    ("{:(\\d+?)}", "substr($_,0,$$1) = \"\""),
    ("{:(\\d+?):(\\d+?)}", "$_ = substr($_,$$1,$$2);"),
    (
        "{#([^#}][^}]*?)}",
        "$nongreedy=::make_regexp_ungreedy($$1);s/^$nongreedy(.*)/$1/;",
    ),
    ("{##([^#}][^}]*?)}", "s/^$$1//;"),
    (
        "{%([^}]+?)}",
        "$nongreedy=::make_regexp_ungreedy($$1);s/(.*)$nongreedy$/$1/;",
    ),
    ("{%%([^}]+?)}", "s/$$1$//;"),
    ("{/([^#%}/]+?)/([^}]*?)}", "s/$$1/$$2/;"),
    ("{/#([^}]+?)/([^}]*?)}", "s/^$$1/$$2/g;"),
    ("{/%([^}]+?)/([^}]*?)}", "s/$$1$/$$2/g;"),
    ("{//([^}]+?)/([^}]*?)}", "s/$$1/$$2/g;"),
    ("{^([^}]+?)}", "s/^($$1)/uc($1)/e;"),
    ("{^^([^}]+?)}", "s/($$1)/uc($1)/eg;"),
    ("{,([^}]+?)}", "s/^($$1)/lc($1)/e;"),
    ("{,,([^}]+?)}", "s/($$1)/lc($1)/eg;"),
    ("{slot}", "1 $_=\"\\${PARALLEL_JOBSLOT}\";uq()"),
    ("{host}", "1 $_=\"\\${PARALLEL_SSHHOST}\";uq()"),
    ("{sshlogin}", "1 $_=\"\\${PARALLEL_SSHLOGIN}\";uq()"),
    ("{hgrp}", "1 $_=\"\\${PARALLEL_HOSTGROUPS}\";uq()"),
    ("{agrp}", "1 $_=\"\\${PARALLEL_ARGHOSTGROUPS}\";uq()"),
];

impl Table {
    /// Builds the table: the defaults under their names, `--plus`, then `--rpl` (a tag defined
    /// again replaces the earlier meaning, as in GNU parallel).
    pub fn new(r: &Replacements) -> Result<Table, RplError> {
        let defaults: [(&Option<String>, &str, Builtin); 7] = [
            (&r.whole, "{}", Builtin::Value(Transform::Whole)),
            (&r.no_ext, "{.}", Builtin::Value(Transform::NoExt)),
            (&r.base, "{/}", Builtin::Value(Transform::Base)),
            (&r.dir, "{//}", Builtin::Value(Transform::Dir)),
            (&r.base_no_ext, "{/.}", Builtin::Value(Transform::BaseNoExt)),
            (&r.seq, "{#}", Builtin::Seq),
            (&r.slot, "{%}", Builtin::Slot),
        ];
        let mut defs: Vec<(String, Kind)> = Vec::new();
        let mut renamed = false;
        if r.plus {
            for (tag, expr) in PLUS {
                defs.push((tag.to_string(), Kind::Perl(expr.to_string())));
            }
        }
        for (name, default, b) in defaults {
            let tag = match name {
                Some(n) if n.is_empty() => return Err(RplError::Empty),
                Some(n) => {
                    renamed |= n != default;
                    n.clone()
                }
                None => default.to_string(),
            };
            defs.retain(|(t, _)| *t != tag);
            defs.push((tag, Kind::Builtin(b)));
        }
        for def in &r.rpl {
            let (tag, expr) = def
                .split_once(char::is_whitespace)
                .ok_or_else(|| RplError::NoExpression(def.clone()))?;
            if tag.is_empty() {
                return Err(RplError::Empty);
            }
            defs.retain(|(t, _)| t != tag);
            defs.push((tag.to_string(), Kind::Perl(expr.to_string())));
        }
        let mut entries = defs
            .into_iter()
            .map(|(tag, kind)| Entry::new(tag, kind))
            .collect::<Result<Vec<_>, _>>()?;
        // Longer tags first: a short one may be part of a long one (`{%}` and `{%%(...)}`).
        entries.sort_by_key(|e| std::cmp::Reverse(e.tag.len()));
        Ok(Table { entries, renamed })
    }

    /// The tag at the start of `rest`, if any: the plain forms first, then the positional ones.
    pub fn find<'a>(&'a self, rest: &[u8]) -> Option<Found<'a>> {
        for e in &self.entries {
            if let Some(f) = e.plain(rest) {
                return Some(f);
            }
        }
        if rest.first() != Some(&b'{') {
            return None;
        }
        self.entries.iter().find_map(|e| e.positional(rest))
    }
}

impl Entry {
    fn new(tag: String, kind: Kind) -> Result<Entry, RplError> {
        // GNU parallel's split of a tag: prefix up to the first `(`, the group from it to the
        // last `)`, and the postfix after.
        let (prefix, group, postfix) = match (tag.find('('), tag.rfind(')')) {
            (Some(open), Some(close)) if open < close => {
                (&tag[..open], Some(&tag[open..=close]), &tag[close + 1..])
            }
            _ => (tag.as_str(), None, ""),
        };
        let bad = |e: regex::Error| RplError::BadRegex {
            tag: tag.clone(),
            reason: e.to_string(),
        };
        let group_re = group
            .map(|g| Regex::new(&format!(r"\A(?s-u:{g}){}", regex::escape(postfix))).map_err(bad))
            .transpose()?;
        let positional = match prefix.strip_prefix('{') {
            Some(inner) => Some(
                Regex::new(&format!(
                    r"\A\{{(-?\d+)\s*{}(?s-u:{}){}",
                    regex::escape(inner),
                    group.unwrap_or(""),
                    regex::escape(postfix)
                ))
                .map_err(bad)?,
            ),
            None => None,
        };
        Ok(Entry {
            prefix: prefix.as_bytes().to_vec(),
            postfix: postfix.as_bytes().to_vec(),
            group: group_re,
            positional,
            kind,
            tag,
        })
    }

    fn plain(&self, rest: &[u8]) -> Option<Found<'_>> {
        let after = rest.strip_prefix(self.prefix.as_slice())?;
        match &self.group {
            None => after.starts_with(&self.postfix).then(|| Found {
                len: self.prefix.len() + self.postfix.len(),
                kind: &self.kind,
                pos: None,
                captures: Vec::new(),
            }),
            Some(re) => {
                let caps = re.captures(after)?;
                Some(Found {
                    len: self.prefix.len() + caps[0].len(),
                    kind: &self.kind,
                    pos: None,
                    captures: caps
                        .iter()
                        .skip(1)
                        .map(|c| c.map_or(Vec::new(), |m| m.as_bytes().to_vec()))
                        .collect(),
                })
            }
        }
    }

    fn positional(&self, rest: &[u8]) -> Option<Found<'_>> {
        let caps = self.positional.as_ref()?.captures(rest)?;
        let pos: i64 = std::str::from_utf8(&caps[1]).ok()?.parse().ok()?;
        if pos == 0 {
            return None;
        }
        Some(Found {
            len: caps[0].len(),
            kind: &self.kind,
            pos: Some(pos),
            captures: caps
                .iter()
                .skip(2)
                .map(|c| c.map_or(Vec::new(), |m| m.as_bytes().to_vec()))
                .collect(),
        })
    }
}

/// The perl expression for a tag found with `captures`: GNU parallel's `$_pAr_gRpN = "..."`
/// assignments, then the expression with `$$N` read as those variables.
pub(crate) fn expression(expr: &str, captures: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, c) in captures.iter().enumerate() {
        out.extend_from_slice(format!("$_pAr_gRp{} = \"", i + 1).as_bytes());
        for &b in c {
            if matches!(b, b'\\' | b'"' | b'$' | b'@') {
                out.push(b'\\');
            }
            out.push(b);
        }
        out.extend_from_slice(b"\";");
    }
    let bytes = expr.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i..].starts_with(b"$$") && bytes.get(i + 2).is_some_and(u8::is_ascii_digit) {
            out.extend_from_slice(b"$_pAr_gRp");
            i += 2;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plus_tags_match_with_groups_and_positions() {
        let t = Table::new(&Replacements {
            plus: true,
            ..Default::default()
        })
        .unwrap();
        let f = t.find(b"{%.gz}x").unwrap();
        assert_eq!((f.len, f.captures.clone()), (6, vec![b".gz".to_vec()]));
        let f = t.find(b"{2..}").unwrap();
        assert_eq!((f.len, f.pos), (5, Some(2)));
        let f = t.find(b"{}").unwrap();
        assert_eq!(f.kind, &Kind::Builtin(Builtin::Value(Transform::Whole)));
        let f = t.find(b"{##}").unwrap();
        assert_eq!(f.kind, &Kind::Perl("1 $_=total_jobs()".into()));
        assert!(t.find(b"{print}").is_none());
    }

    #[test]
    fn renames_and_rpl() {
        let t = Table::new(&Replacements {
            whole: Some(",,".into()),
            rpl: vec!["{odd} $_ = seq() % 2".into()],
            ..Default::default()
        })
        .unwrap();
        assert!(t.renamed);
        assert_eq!(t.find(b",,").unwrap().len, 2);
        assert!(t.find(b"{}").is_none());
        assert_eq!(t.find(b"{3odd}").unwrap().pos, Some(3));
        assert!(
            Table::new(&Replacements {
                rpl: vec!["{x}".into()],
                ..Default::default()
            })
            .is_err()
        );
    }

    #[test]
    fn expressions_get_their_captures() {
        assert_eq!(
            expression("s/$$1//", &[b"a\"$".to_vec()]),
            b"$_pAr_gRp1 = \"a\\\"\\$\";s/$_pAr_gRp1//".to_vec()
        );
    }
}
