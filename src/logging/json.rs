//! JSON log lines: one object per event, `timestamp`, `level`, then the fields at the top
//! level in the order they were given, as tracing-subscriber's flattened JSON has them; but a
//! field that holds JSON already (`args`, an array of the job's values; `hosts`) is put in as JSON, not
//! as a string holding JSON.

use std::fmt::Write as _;

use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use super::fields::{Fields, Value};

/// Fields given with `%` whose text is JSON (see `report::log::ArgsJson`; `hosts` is
/// `run_finished`'s per-host counts).
const RAW_JSON: &[&str] = &["args", "hosts"];

/// The JSON line format.
pub struct JsonFormat;

impl<S, N> FormatEvent<S, N> for JsonFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        writer.write_str(&line(event.metadata().level(), &Fields::of(event)))
    }
}

/// The JSON line of an event at `level` with `fields`, newline included.
pub fn line(level: &tracing::Level, fields: &Fields) -> String {
    let mut time = String::new();
    // The same RFC 3339 UTC timestamp, to the microsecond, as tracing-subscriber writes.
    let _ = SystemTime.format_time(&mut Writer::new(&mut time));
    let mut out = String::with_capacity(256);
    let _ = write!(
        out,
        "{{\"timestamp\":{},\"level\":\"{level}\"",
        quoted(&time)
    );
    for (name, value) in &fields.0 {
        let v = match value {
            Value::Shown(s)
                if RAW_JSON.contains(name)
                    && serde_json::from_str::<serde_json::Value>(s).is_ok() =>
            {
                s.clone()
            }
            Value::Str(s) | Value::Shown(s) => quoted(s),
            Value::U64(n) => n.to_string(),
            Value::I64(n) => n.to_string(),
            Value::F64(n) if n.is_finite() => n.to_string(),
            Value::F64(_) => "null".into(),
            Value::Bool(b) => b.to_string(),
        };
        let _ = write!(out, ",{}:{v}", quoted(name));
    }
    out.push_str("}\n");
    out
}

fn quoted(s: &str) -> String {
    serde_json::to_string(s).expect("a string always serializes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_json_fields_go_in_as_json() {
        let f = Fields(vec![
            ("message", Value::Shown("job \"x\"".into())),
            ("args", Value::Shown("[\"a\",\"b c\"]".into())),
            ("seq", Value::U64(3)),
            ("rate", Value::F64(f64::NAN)),
        ]);
        let l = line(&tracing::Level::WARN, &f);
        let v: serde_json::Value = serde_json::from_str(&l).unwrap();
        assert_eq!(v["level"], "WARN");
        assert_eq!(v["message"], "job \"x\"");
        assert_eq!(v["args"], serde_json::json!(["a", "b c"]));
        assert_eq!(v["seq"], 3);
        assert!(v["rate"].is_null());
        assert!(v["timestamp"].as_str().unwrap().ends_with('Z'));
    }
}
