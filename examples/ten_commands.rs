//! Runs ten commands through fanout's library and prints each one's result as it ends.
//!
//! ```text
//! cargo run --example ten_commands
//! ```
//!
//! It needs no feature: with `default-features = false` the engine builds alone.

use fanout::input::Source;
use fanout::{Cancel, Config, Run, RunEvent};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = Config {
        // Each job prints its number, and every third one fails with it.
        command: vec![
            "sh".into(),
            "-c".into(),
            "echo job $1 on slot $FANOUT_SLOT; [ $(($1 % 3)) -ne 0 ] || exit $1".into(),
            "sh".into(),
            "{}".into(),
        ],
        sources: vec![Source::args((1..=10).map(|i| i.to_string()))],
        slots: 4,
        ..Config::default()
    };
    let summary = Run::new(config)
        .on_event(|event| {
            if let RunEvent::JobFinished { record, stdout, .. } = event {
                println!(
                    "#{:<2} {:<8} {:>4} ms  {}",
                    record.id,
                    record.outcome.name(),
                    record.duration.as_millis(),
                    String::from_utf8_lossy(&stdout.read().unwrap_or_default()).trim_end()
                );
            }
        })
        .prepare()?
        .run_blocking(Cancel::new())?;
    println!(
        "{} succeeded, {} failed, exit code {}",
        summary.succeeded, summary.failed, summary.exit_code
    );
    Ok(())
}
