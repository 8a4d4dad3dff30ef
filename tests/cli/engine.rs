//! The engine as a library: the runner driven through a fake executor, its events collected
//! directly (no CLI, no terminal). Shows that a backend only has to build the command.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use fanout::config::Config;
use fanout::exec::Executor;
use fanout::input::{ArgStream, Source, SourceKind};
use fanout::job::{JobId, JobOutcome, JobSpec};
use fanout::report::channel::EventSender;
use fanout::report::events::RunEvent;
use fanout::results::ResultStore;
use fanout::runner::{self, Cancel, RunParts};
use fanout::template::{ShellMode, Template};

/// Runs every job as `sh -c 'echo remote:ARGS; exit N'` where N comes from the value, the way
/// an ssh backend would wrap the argv, and counts what it built.
struct Fake {
    built: AtomicUsize,
}

impl Executor for Fake {
    fn host(&self) -> &str {
        "fake"
    }

    fn command(&self, spec: &JobSpec, id: JobId, _slot: u32) -> tokio::process::Command {
        self.built.fetch_add(1, Ordering::SeqCst);
        let words: Vec<String> = spec
            .argv
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let code = words.last().cloned().unwrap_or_default();
        let mut cmd = tokio::process::Command::new("sh");
        cmd.arg("-c")
            .arg(format!("echo remote:{id}:{}; exit {code}", words.join(" ")));
        cmd
    }
}

#[test]
fn the_runner_drives_any_executor_and_reports_through_events() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (summary, events) = rt.block_on(async {
        let config = Config {
            command: vec!["job".into()],
            slots: 2,
            ..Config::default()
        };
        let sources = vec![Source {
            kind: SourceKind::Args(vec!["0".into(), "3".into(), "0".into()]),
            linked: false,
        }];
        let (tx, mut rx) = tokio::sync::mpsc::channel(64);
        let fake = Arc::new(Fake {
            built: AtomicUsize::new(0),
        });
        let collect = tokio::spawn(async move {
            let mut v = Vec::new();
            while let Some(e) = rx.recv().await {
                v.push(e);
            }
            v
        });
        let (summary, err) = runner::run(
            config.clone(),
            RunParts {
                template: Template::parse(&config.command, ShellMode::Auto, 1).unwrap(),
                tag: None,
                input: ArgStream::open(&sources, b'\n').unwrap(),
                executor: fake.clone(),
                skip: HashSet::new(),
                events: EventSender::new(tx, std::thread::current(), true),
                cancel: Cancel::new(),
                store: ResultStore::new(),
                joblog: None,
            },
        )
        .await;
        assert!(err.is_none());
        assert_eq!(fake.built.load(Ordering::SeqCst), 3);
        (summary, collect.await.unwrap())
    });
    assert_eq!(
        (summary.succeeded, summary.failed, summary.exit_code),
        (2, 1, 1)
    );
    let mut outputs: Vec<String> = events
        .iter()
        .filter_map(|e| match e {
            RunEvent::JobFinished { record, stdout, .. } => {
                if record.id == JobId(2) {
                    assert_eq!(record.outcome, JobOutcome::Failed { code: 3 });
                }
                Some(String::from_utf8_lossy(stdout).into_owned())
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
