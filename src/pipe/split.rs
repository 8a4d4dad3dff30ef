//! Cutting a byte stream into blocks of whole records (`--pipe`): where a record ends
//! ([`Rules`]: `--recend`, `--recstart`, `--regexp`), and the [`Splitter`] that reads a
//! stream and hands out blocks of about `--block` bytes, or of `-N` records of `-L` lines,
//! each as it is read, so memory stays at about one block.

use std::io::Read;

use bytes::Bytes;
use memchr::memmem;

use super::{Header, PipeConfig, PipeError};

/// Where records end: a split point is a place between two bytes that is after a record end
/// and before a record start (GNU parallel: "the combined string endstringstartstring").
#[derive(Debug)]
pub(crate) enum Rules {
    /// Literal strings: `end` then `start` around the split.
    Plain {
        end: Vec<u8>,
        start: Vec<u8>,
        /// Finds `end` + `start`, forwards and backwards.
        find: Box<memmem::Finder<'static>>,
        rfind: Box<memmem::FinderRev<'static>>,
    },
    /// Neither end nor start (`--recend ''`): any byte boundary splits.
    Anywhere,
    /// Regular expressions (`--regexp`): `(?:END)(START)`, the split before the group.
    Regex(regex::bytes::Regex),
}

impl Rules {
    /// The rules of `--recend END --recstart START [--regexp]`.
    pub fn new(end: &[u8], start: &[u8], regexp: bool) -> Result<Rules, PipeError> {
        if regexp {
            let text = |b: &[u8], flag| {
                std::str::from_utf8(b)
                    .map(str::to_owned)
                    .map_err(|_| PipeError::Regex {
                        flag,
                        message: "it is not valid UTF-8".into(),
                    })
            };
            let (e, s) = (text(end, "--recend")?, text(start, "--recstart")?);
            // Each on its own first, so an error names the flag and shows the user's text.
            super::regex(&e, "--recend")?;
            super::regex(&s, "--recstart")?;
            let re = super::regex(&format!("(?:{e})({s})"), "--recend/--recstart")?;
            return Ok(Rules::Regex(re));
        }
        if end.is_empty() && start.is_empty() {
            return Ok(Rules::Anywhere);
        }
        let pattern = [end, start].concat();
        Ok(Rules::Plain {
            end: end.to_vec(),
            start: start.to_vec(),
            find: Box::new(memmem::Finder::new(&pattern).into_owned()),
            rfind: Box::new(memmem::FinderRev::new(&pattern).into_owned()),
        })
    }

    /// The first split point `p > from` in `hay` (`from` may be 0), when `hay` holds enough to
    /// know it.
    pub fn next_split(&self, hay: &[u8], from: usize) -> Option<usize> {
        match self {
            Rules::Anywhere => (from < hay.len()).then_some(from + 1),
            Rules::Plain { end, find, .. } => {
                // A match at `i` splits at `i + end.len()`, which must be past `from`.
                let mut at = (from + 1).saturating_sub(end.len());
                loop {
                    let i = at + find.find(hay.get(at..)?)?;
                    let p = i + end.len();
                    if p > 0 && p > from {
                        return Some(p);
                    }
                    at = i + 1;
                }
            }
            Rules::Regex(re) => {
                let mut at = 0;
                while at <= hay.len() {
                    let caps = re.captures_at(hay, at)?;
                    let group = caps.get(1).expect("the pattern has one group");
                    let p = group.start();
                    if p > from {
                        return Some(p);
                    }
                    let whole = caps.get(0).expect("group 0 is the match");
                    at = if whole.end() > whole.start() {
                        whole.end().max(at + 1)
                    } else {
                        at + 1
                    };
                }
                None
            }
        }
    }

    /// The last split point `p` with `0 < p <= limit` in `hay`.
    pub fn last_split(&self, hay: &[u8], limit: usize) -> Option<usize> {
        match self {
            Rules::Anywhere => (limit > 0 && !hay.is_empty()).then(|| limit.min(hay.len())),
            Rules::Plain {
                end, start, rfind, ..
            } => {
                let window = (limit + start.len()).min(hay.len());
                let mut hay = &hay[..window];
                loop {
                    let i = rfind.rfind(hay)?;
                    let p = i + end.len();
                    if p > 0 && p <= limit {
                        return Some(p);
                    }
                    if i == 0 {
                        return None;
                    }
                    hay = &hay[..i + end.len() + start.len() - 1];
                }
            }
            Rules::Regex(_) => {
                let mut last = None;
                let mut from = 0;
                while let Some(p) = self.next_split(hay, from) {
                    if p > limit {
                        break;
                    }
                    last = Some(p);
                    from = p;
                }
                last
            }
        }
    }
}

/// Reads a stream and cuts it into blocks (see the module documentation).
pub(crate) struct Splitter<R> {
    reader: R,
    rules: Rules,
    block: usize,
    records_per_block: Option<usize>,
    lines_per_record: usize,
    /// The header still to be read from the front of the input.
    header_rule: Option<Header>,
    /// The header read, repeated before every block.
    header: Option<Bytes>,
    /// Bytes read and not yet handed out.
    buf: Vec<u8>,
    eof: bool,
}

impl<R: Read> Splitter<R> {
    /// A splitter of `reader` by the rules of `config`.
    pub fn new(reader: R, config: &PipeConfig) -> Result<Splitter<R>, PipeError> {
        Ok(Splitter {
            reader,
            rules: Rules::new(&config.recend, &config.recstart, config.regexp)?,
            block: config.block_size.max(1),
            records_per_block: config.records_per_block.filter(|&n| n > 0),
            lines_per_record: config.lines_per_record.unwrap_or(1).max(1),
            header_rule: config.header.clone(),
            header: None,
            buf: Vec::new(),
            eof: false,
        })
    }

    /// The header (`--header`), once the first block has been asked for.
    pub fn header(&self) -> Option<&Bytes> {
        self.header.as_ref()
    }

    /// Reads until `buf` holds at least `want` bytes or the input ends.
    fn fill(&mut self, want: usize) -> std::io::Result<()> {
        while self.buf.len() < want && !self.eof {
            let need = (want - self.buf.len()) as u64;
            self.buf.reserve(need as usize);
            let got = (&mut self.reader).take(need).read_to_end(&mut self.buf)?;
            if (got as u64) < need {
                self.eof = true;
            }
        }
        Ok(())
    }

    /// Reads more when a search ran out of data: another block's worth. False at the end.
    fn more(&mut self) -> std::io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        let want = self.buf.len() + self.block.max(64 * 1024);
        self.fill(want)?;
        Ok(true)
    }

    /// Hands out `buf[..p]` and keeps the rest for the next block.
    fn cut(&mut self, p: usize) -> Bytes {
        let rest = self.buf[p..].to_vec();
        let mut block = std::mem::replace(&mut self.buf, rest);
        block.truncate(p);
        Bytes::from(block)
    }

    fn read_header(&mut self) -> std::io::Result<()> {
        let Some(rule) = self.header_rule.take() else {
            return Ok(());
        };
        let end = loop {
            let found = match &rule {
                Header::Lines(n) => {
                    let mut at = 0;
                    let mut lines = 0;
                    while lines < *n {
                        match memchr::memchr(b'\n', &self.buf[at..]) {
                            Some(i) => {
                                at += i + 1;
                                lines += 1;
                            }
                            None => break,
                        }
                    }
                    (lines == *n).then_some(at)
                }
                Header::Regex(re) => re.find(&self.buf).map(|m| m.end()),
            };
            match found {
                Some(end) => break end,
                None if !self.more()? => break self.buf.len(),
                None => {}
            }
        };
        if end > 0 {
            self.header = Some(self.cut(end));
        }
        Ok(())
    }

    /// The next block, or `None` at the end of the input.
    pub fn next_block(&mut self) -> std::io::Result<Option<Bytes>> {
        if self.header_rule.is_some() {
            self.fill(self.block)?;
            self.read_header()?;
        }
        if self.records_per_block.is_some() || self.lines_per_record > 1 {
            return self.next_counted();
        }
        self.fill(self.block)?;
        if self.buf.is_empty() {
            return Ok(None);
        }
        if self.eof && self.buf.len() <= self.block {
            return Ok(Some(self.cut(self.buf.len())));
        }
        if let Some(p) = self.rules.last_split(&self.buf, self.block) {
            return Ok(Some(self.cut(p)));
        }
        // A record longer than the block: the block is that record, whole.
        let mut from = self.block;
        loop {
            if let Some(p) = self.rules.next_split(&self.buf, from) {
                return Ok(Some(self.cut(p)));
            }
            from = self.buf.len().saturating_sub(self.lookback()).max(from);
            if !self.more()? {
                return Ok(Some(self.cut(self.buf.len())));
            }
        }
    }

    /// How far back of the data's end a split point may still appear once more is read.
    fn lookback(&self) -> usize {
        match &self.rules {
            Rules::Plain { end, start, .. } => end.len() + start.len(),
            Rules::Anywhere => 0,
            // A match may start anywhere: search again from the last split found.
            Rules::Regex(_) => usize::MAX,
        }
    }

    /// A block of `-N` records (or, without `-N`, as many whole records as fit in the block),
    /// where a record is `-L` lines.
    fn next_counted(&mut self) -> std::io::Result<Option<Bytes>> {
        self.fill(self.block)?;
        if self.buf.is_empty() {
            return Ok(None);
        }
        let (mut from, mut lines, mut records, mut fits) = (0, 0, 0, None);
        loop {
            let Some(p) = self.rules.next_split(&self.buf, from) else {
                if !self.more()? {
                    return Ok(Some(self.cut(self.buf.len())));
                }
                continue;
            };
            from = p;
            lines += 1;
            if lines % self.lines_per_record != 0 {
                continue;
            }
            records += 1;
            match self.records_per_block {
                Some(n) if records == n => return Ok(Some(self.cut(p))),
                Some(_) => {}
                None if p <= self.block => fits = Some(p),
                None => return Ok(Some(self.cut(fits.unwrap_or(p)))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(block: usize) -> PipeConfig {
        PipeConfig {
            block_size: block,
            ..PipeConfig::default()
        }
    }

    fn blocks(input: &[u8], config: &PipeConfig) -> Vec<String> {
        let mut s = Splitter::new(input, config).unwrap();
        let mut out = Vec::new();
        while let Some(b) = s.next_block().unwrap() {
            out.push(String::from_utf8_lossy(&b).into_owned());
        }
        out
    }

    #[test]
    fn blocks_end_at_the_last_record_end_within_the_size() {
        assert_eq!(blocks(b"aa\nbb\ncc\n", &config(7)), ["aa\nbb\n", "cc\n"]);
        assert_eq!(blocks(b"aa\nbb\ncc", &config(6)), ["aa\nbb\n", "cc"]);
        assert_eq!(blocks(b"", &config(6)), Vec::<String>::new());
    }

    #[test]
    fn a_record_longer_than_the_block_is_one_block() {
        assert_eq!(blocks(b"aaaaaaaa\nb\n", &config(3)), ["aaaaaaaa\n", "b\n"]);
        let long = [vec![b'x'; 200_000], b"\ny\n".to_vec()].concat();
        let got = blocks(&long, &config(10));
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].len(), 200_001);
    }

    #[test]
    fn every_byte_reaches_exactly_one_block_in_order() {
        let input: Vec<u8> = (0..5000)
            .flat_map(|i| format!("{}\n", "z".repeat(i % 37)).into_bytes())
            .collect();
        for size in [1, 2, 17, 100, 4096, 1 << 20] {
            let got = blocks(&input, &config(size));
            assert_eq!(got.concat().as_bytes(), &input[..], "size {size}");
            for b in &got {
                assert!(b.ends_with('\n'), "size {size}: {b:?}");
                assert!(b.len() <= size || b.matches('\n').count() == 1);
            }
        }
    }

    #[test]
    fn recend_and_recstart() {
        let c = PipeConfig {
            recend: b"XX".to_vec(),
            ..config(1)
        };
        assert_eq!(blocks(b"a1XXa2XXa3XX", &c), ["a1XX", "a2XX", "a3XX"]);
        let c = PipeConfig {
            recend: Vec::new(),
            recstart: b"ST".to_vec(),
            ..config(1)
        };
        assert_eq!(blocks(b"STa1STa2STa3", &c), ["STa1", "STa2", "STa3"]);
        let c = PipeConfig {
            recend: b"E\n".to_vec(),
            recstart: b"S".to_vec(),
            ..config(1)
        };
        assert_eq!(
            blocks(b"S1E\nS2E\nE\nS3E\n", &c),
            ["S1E\n", "S2E\nE\n", "S3E\n"]
        );
        let c = PipeConfig {
            recend: Vec::new(),
            ..config(4)
        };
        assert_eq!(blocks(b"abcdefghij", &c), ["abcd", "efgh", "ij"]);
    }

    #[test]
    fn regexp_records() {
        let c = PipeConfig {
            recend: b";+".to_vec(),
            regexp: true,
            ..config(1)
        };
        assert_eq!(blocks(b"a1;;a2;a3;;", &c), ["a1;;", "a2;", "a3;;"]);
        let c = PipeConfig {
            recend: b"\n".to_vec(),
            recstart: b">[a-z]".to_vec(),
            regexp: true,
            ..config(8)
        };
        assert_eq!(
            blocks(b">a\nAC\n>1\nGT\n>b\nTT\n", &c),
            [">a\nAC\n>1\nGT\n", ">b\nTT\n"]
        );
        let bad = PipeConfig {
            recend: b"(".to_vec(),
            regexp: true,
            ..config(1)
        };
        assert!(Splitter::new(&b""[..], &bad).is_err());
    }

    #[test]
    fn records_per_block_and_lines_per_record() {
        let c = PipeConfig {
            records_per_block: Some(2),
            ..config(1)
        };
        assert_eq!(blocks(b"a\nb\nc\nd\ne\n", &c), ["a\nb\n", "c\nd\n", "e\n"]);
        let c = PipeConfig {
            records_per_block: Some(50),
            ..config(10)
        };
        let input: String = (1..=100).map(|i| format!("{i}\n")).collect();
        let got = blocks(input.as_bytes(), &c);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].lines().count(), 50);
        let c = PipeConfig {
            lines_per_record: Some(2),
            ..config(3)
        };
        assert_eq!(blocks(b"a\nb\nc\nd\ne\n", &c), ["a\nb\n", "c\nd\n", "e\n"]);
        let c = PipeConfig {
            lines_per_record: Some(2),
            records_per_block: Some(1),
            ..config(100)
        };
        assert_eq!(blocks(b"a\nb\nc\nd\ne\n", &c), ["a\nb\n", "c\nd\n", "e\n"]);
        let c = PipeConfig {
            lines_per_record: Some(2),
            ..config(100)
        };
        assert_eq!(blocks(b"a\nb\nc\nd\ne\n", &c), ["a\nb\nc\nd\ne\n"]);
    }

    #[test]
    fn the_header_is_read_once_and_kept() {
        let c = PipeConfig {
            header: Some(Header::Lines(2)),
            records_per_block: Some(2),
            ..config(100)
        };
        let mut s = Splitter::new(&b"H1\nH2\na\nb\nc\n"[..], &c).unwrap();
        assert_eq!(s.next_block().unwrap().unwrap(), &b"a\nb\n"[..]);
        assert_eq!(s.header().unwrap(), &b"H1\nH2\n"[..]);
        assert_eq!(s.next_block().unwrap().unwrap(), &b"c\n"[..]);
        assert!(s.next_block().unwrap().is_none());
        let c = PipeConfig {
            header: Some(Header::parse("H1\\n").unwrap()),
            records_per_block: Some(2),
            ..config(100)
        };
        assert_eq!(blocks(b"H1\nH2\na\nb\n", &c), ["H2\na\n", "b\n"]);
        let c = PipeConfig {
            header: Some(Header::Lines(1)),
            ..config(100)
        };
        assert!(blocks(b"H\n", &c).is_empty());
    }

    #[test]
    fn rules_find_split_points() {
        let r = Rules::new(b"\n", b"", false).unwrap();
        assert_eq!(r.next_split(b"a\nb\n", 0), Some(2));
        assert_eq!(r.next_split(b"a\nb\n", 2), Some(4));
        assert_eq!(r.next_split(b"a\nb", 2), None);
        assert_eq!(r.last_split(b"a\nb\nc\n", 5), Some(4));
        assert_eq!(r.last_split(b"a\nb\nc\n", 1), None);
        let r = Rules::new(b"", b"S", false).unwrap();
        assert_eq!(r.next_split(b"SaSb", 0), Some(2));
        assert_eq!(r.last_split(b"SaSb", 4), Some(2));
        assert_eq!(r.last_split(b"Sa", 2), None);
    }
}
