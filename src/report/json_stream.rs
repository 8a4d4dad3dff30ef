//! A `--results-json` line for a job whose output was spilled to temporary files (past 1 MiB):
//! the same bytes as `json::json_line`, written a chunk at a time, so a gigabyte of output is
//! never in memory, neither as text nor as base64. It takes two passes over a spilled stream:
//! one to learn whether it is UTF-8 (its encoding), one to write it.

use std::io::{self, Write};

use base64::Engine;

use super::json::RecordFields;
use super::spill::Captured;
use crate::job::JobRecord;

const BASE64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Writes the line of `record` with its output to `w`, newline included.
pub(crate) fn write_line(
    w: &mut dyn Write,
    record: &JobRecord,
    stdout: &Captured,
    stderr: &Captured,
) -> io::Result<()> {
    let mut head =
        serde_json::to_vec(&RecordFields::of(record)).expect("plain fields always serialize");
    // Its closing brace: the output fields follow, as `json_line` flattens them.
    head.pop();
    w.write_all(&head)?;
    for (name, out) in [("stdout", stdout), ("stderr", stderr)] {
        write!(w, ",\"{name}\":\"")?;
        let utf8 = each_str(out, |_| Ok(()))?;
        if utf8 {
            each_str(out, |s| write_escaped(w, s.as_bytes()))?;
        } else {
            write_base64(w, out)?;
        }
        let encoding = if utf8 { "utf8" } else { "base64" };
        write!(w, "\",\"{name}_encoding\":\"{encoding}\"")?;
    }
    w.write_all(b"}\n")
}

/// Writes UTF-8 `text` as the inside of a JSON string, escaped as serde_json escapes it
/// (`"`, `\\` and the control characters below 0x20: `\b \t \n \f \r` short, the others as
/// `\u00xx`). Plain bytes are recognised eight at a time and written in runs.
fn write_escaped(w: &mut dyn Write, text: &[u8]) -> io::Result<()> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut written = 0;
    let mut i = 0;
    while i < text.len() {
        if let Some(word) = text.get(i..i + 8)
            && !needs_escape(u64::from_ne_bytes(word.try_into().expect("eight bytes")))
        {
            i += 8;
            continue;
        }
        let b = text[i];
        let mut unicode = *b"\\u0000";
        let escaped: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            0x0c => b"\\f",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..0x20 => {
                unicode[4] = HEX[usize::from(b >> 4)];
                unicode[5] = HEX[usize::from(b & 0xf)];
                &unicode
            }
            _ => {
                i += 1;
                continue;
            }
        };
        w.write_all(&text[written..i])?;
        w.write_all(escaped)?;
        i += 1;
        written = i;
    }
    w.write_all(&text[written..])
}

/// Whether any of the eight bytes in `v` needs a JSON escape: one below 0x20 (the classic
/// "has a byte less than n" test, exact for n <= 128), a quote or a backslash (a zero byte
/// once XORed with it).
fn needs_escape(v: u64) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    const SPACE: u64 = ONES * 0x20;
    const QUOTE: u64 = ONES * b'"' as u64;
    const BACKSLASH: u64 = ONES * b'\\' as u64;
    let has_zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH != 0;
    v.wrapping_sub(SPACE) & !v & HIGH != 0 || has_zero(v ^ QUOTE) || has_zero(v ^ BACKSLASH)
}

enum Stop {
    NotUtf8,
    Io(io::Error),
}

/// Calls `f` on the text of `out` in pieces cut at character boundaries; false (and an early
/// stop) when `out` is not UTF-8.
fn each_str(out: &Captured, mut f: impl FnMut(&str) -> io::Result<()>) -> io::Result<bool> {
    // An unfinished character at the end of one chunk, then the next chunk.
    let mut buf: Vec<u8> = Vec::new();
    let r = out.for_each_chunk(
        |chunk| {
            buf.extend_from_slice(chunk);
            let valid = match std::str::from_utf8(&buf) {
                Ok(_) => buf.len(),
                Err(e) if e.error_len().is_none() => e.valid_up_to(),
                Err(_) => return Err(Stop::NotUtf8),
            };
            let text = std::str::from_utf8(&buf[..valid]).expect("checked just above");
            f(text).map_err(Stop::Io)?;
            buf.drain(..valid);
            Ok(())
        },
        Stop::Io,
    );
    match r {
        Ok(()) => Ok(buf.is_empty()),
        Err(Stop::NotUtf8) => Ok(false),
        Err(Stop::Io(e)) => Err(e),
    }
}

/// Writes `out` in base64, three bytes at a time as one whole encoding would.
fn write_base64(w: &mut dyn Write, out: &Captured) -> io::Result<()> {
    let mut carry: Vec<u8> = Vec::new();
    out.for_each_chunk(
        |chunk| {
            carry.extend_from_slice(chunk);
            let whole = carry.len() / 3 * 3;
            w.write_all(BASE64.encode(&carry[..whole]).as_bytes())?;
            carry.drain(..whole);
            Ok(())
        },
        |e| e,
    )?;
    w.write_all(BASE64.encode(&carry).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{JobId, JobOutcome};
    use crate::report::json::json_line;
    use std::time::{Duration, SystemTime};

    fn spilled(bytes: &[u8]) -> Captured {
        let dir = tempfile::tempdir().unwrap();
        Captured::from(bytes.to_vec())
            .spilled(Some(dir.path()))
            .unwrap()
    }

    #[test]
    fn streamed_lines_are_the_lines_json_line_makes() {
        let record = JobRecord {
            id: JobId(3),
            slot: 1,
            args: "a".into(),
            command: "cat a".into(),
            outcome: JobOutcome::Success,
            start: SystemTime::UNIX_EPOCH + Duration::from_secs(2),
            duration: Duration::from_millis(5),
            attempts: 1,
            stdout_bytes: 0,
            stderr_bytes: 0,
            usage: None,
            place: ":".into(),
            handle: None,
        };
        // Text with quotes, escapes and multi-byte characters across chunk ends; bytes that
        // are not UTF-8 (base64, with each padding length); nothing.
        let text: Vec<u8> = "é\"\\\n\t✓ \u{1}".repeat(20_000).into_bytes();
        // Every ASCII character, in every position against the eight-byte words.
        let ascii: String = (0u8..128).map(char::from).collect();
        let ascii = format!("{ascii}ü{ascii}{}", "Q".repeat(100)).repeat(9);
        let cases: [&[u8]; 7] = [
            &text,
            ascii.as_bytes(),
            b"\xff\x00\xfe",
            b"\xff\x00",
            b"\xff",
            b"",
            b"plain",
        ];
        for out in cases {
            for err in cases {
                let mut got = Vec::new();
                write_line(&mut got, &record, &spilled(out), &spilled(err)).unwrap();
                assert_eq!(got, json_line(&record, out, err));
            }
        }
        let mut torn = text.clone();
        torn.truncate(text.len() - 1);
        let mut got = Vec::new();
        write_line(&mut got, &record, &spilled(&torn), &Captured::default()).unwrap();
        assert_eq!(got, json_line(&record, &torn, b""));
    }
}
