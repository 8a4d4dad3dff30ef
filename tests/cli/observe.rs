//! Observability: structured logs (text and JSON, levels and filters, log file), the
//! end-of-run summary (text and JSON), `--slow` lines, the plain progress line, the
//! progress bar under a real pseudo-terminal and on a real screen (tmux). The JSON checks shared by the submodules here.

mod bar;
mod logs;
mod progress;
mod summary;

use serde_json::Value;

fn events<'a>(lines: &'a [Value], name: &str) -> Vec<&'a Value> {
    lines.iter().filter(|v| v["event"] == name).collect()
}

/// Asserts that `v` has each field, of the JSON type given (`n` number, `s` string, `b` bool).
fn has_fields(v: &Value, fields: &[(&str, char)]) {
    for (f, t) in fields {
        let ok = match t {
            'n' => v[f].is_number(),
            's' => v[f].is_string(),
            'b' => v[f].is_boolean(),
            _ => unreachable!(),
        };
        assert!(ok, "field `{f}` ({t}) missing or mistyped in {v}");
    }
}

const COMMON: &[(&str, char)] = &[
    ("timestamp", 's'),
    ("level", 's'),
    ("message", 's'),
    ("event", 's'),
];
