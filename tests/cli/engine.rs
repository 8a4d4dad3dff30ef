//! The engine as a library: a [`Run`] driven through the fake executor (no process at all) and
//! through the local one, its events collected with a callback (no CLI, no terminal). Shows
//! that a backend is an `Executor` and nothing else.

use std::sync::{Arc, Mutex};

use fanout::config::Config;
use fanout::exec::fake::{FakeExecutor, Script};
use fanout::exec::{Executor, Place};
use fanout::input::Source;
use fanout::{Cancel, JobId, JobOutcome, JobRecord, Run, RunEvent, RunSummary};

/// Runs `config` over `values` with `executor`, collecting every event.
pub(crate) fn run_engine(
    config: Config,
    values: &[&str],
    executor: impl Executor,
) -> (RunSummary, Vec<RunEvent>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let config = Config {
        sources: vec![Source::args(values.iter().copied())],
        ..config
    };
    let summary = Run::new(config)
        .executor(executor)
        .on_event(move |e| seen.lock().unwrap().push(e.clone()))
        .prepare()
        .expect("the run is set up")
        .run_blocking(Cancel::new())
        .expect("the run ends without a run error");
    let events = std::mem::take(&mut *events.lock().unwrap());
    (summary, events)
}

/// The record of job `id`.
pub(crate) fn finished(events: &[RunEvent], id: u64) -> JobRecord {
    events
        .iter()
        .find_map(|e| match e {
            RunEvent::JobFinished { record, .. } if record.id == JobId(id) => {
                Some((**record).clone())
            }
            _ => None,
        })
        .unwrap_or_else(|| panic!("job {id} finished"))
}

#[test]
fn the_runner_drives_any_executor_and_reports_through_events() {
    // Each job prints its arguments and exits with the code its value names.
    let fake = FakeExecutor::new(|req| {
        let words: Vec<String> = req
            .spec
            .argv
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let code: i32 = words.last().unwrap().parse().unwrap();
        Script::exit(code).stdout(format!("remote:{}:{}\n", req.id, words.join(" ")))
    });
    let config = Config {
        command: vec!["job".into()],
        slots: 2,
        ..Config::default()
    };
    let (summary, events) = run_engine(config, &["0", "3", "0"], fake.clone());
    assert_eq!(fake.starts(), 3);
    assert_eq!(
        (summary.succeeded, summary.failed, summary.exit_code),
        (2, 1, 1)
    );
    assert_eq!(finished(&events, 2).outcome, JobOutcome::Failed { code: 3 });
    assert_eq!(&*finished(&events, 2).place, "fake");
    let mut outputs: Vec<String> = events
        .iter()
        .filter_map(|e| match e {
            RunEvent::JobFinished { stdout, .. } => {
                Some(String::from_utf8_lossy(&stdout.read().unwrap()).into_owned())
            }
            _ => None,
        })
        .collect();
    outputs.sort();
    assert_eq!(
        outputs,
        ["remote:1:job 0\n", "remote:2:job 3\n", "remote:3:job 0\n"]
    );
    assert!(matches!(
        events.first(),
        Some(RunEvent::RunStarted { slots: 2, .. })
    ));
    assert!(matches!(events.last(), Some(RunEvent::RunFinished { .. })));
    let started = events
        .iter()
        .filter(|e| matches!(e, RunEvent::JobStarted { .. }))
        .count();
    assert_eq!(started, 3);
}

#[test]
fn each_place_gets_its_own_slots_and_the_joblog_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let joblog = dir.path().join("joblog");
    let fake =
        FakeExecutor::new(|_| Script::exit(0).runs_for(std::time::Duration::from_millis(20)))
            .with_places(vec![Place::new("alpha", 1), Place::new("beta", 2)]);
    let config = Config {
        command: vec!["job".into()],
        slots: 8,
        joblog: Some(joblog.clone()),
        ..Config::default()
    };
    let values: Vec<String> = (1..=9).map(|i| i.to_string()).collect();
    let values: Vec<&str> = values.iter().map(String::as_str).collect();
    let (summary, _) = run_engine(config, &values, fake.clone());
    assert_eq!(summary.succeeded, 9);
    // Never more at once than a place's slots, nor than the three places' slots in all.
    assert!(fake.most_running_at("alpha") <= 1);
    assert!(fake.most_running_at("beta") <= 2);
    let text = std::fs::read_to_string(&joblog).unwrap();
    let hosts: Vec<&str> = text
        .lines()
        .skip(1)
        .map(|l| l.split('\t').nth(1).unwrap())
        .collect();
    assert_eq!(hosts.len(), 9);
    assert!(
        hosts.iter().all(|h| *h == "alpha" || *h == "beta"),
        "{hosts:?}"
    );
    assert!(
        hosts.contains(&"alpha") && hosts.contains(&"beta"),
        "{hosts:?}"
    );
}
