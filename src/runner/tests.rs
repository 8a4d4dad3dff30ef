//! The runner's timing over the fake executor, on paused time: every instant below is exact,
//! and the whole file runs in milliseconds of real time.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::time::Instant;

use super::{RunParts, run};
use crate::cancel::{Cancel, CancelReason};
use crate::config::{Config, HaltPolicy, RetryPolicy, TermSeq};
use crate::exec::fake::{Answer, FakeEvent, FakeExecutor, Script, StartFailure};
use crate::exec::{Exit, Place};
use crate::input::{ArgStream, Source};
use crate::job::{JobId, JobOutcome, JobRecord};
use crate::report::events::{RunEvent, RunSummary};
use crate::report::{self, FnReporter};
use crate::template::{ShellMode, Template};

const MS: Duration = Duration::from_millis(1);

/// What a run did: its summary, its events, the fake's log, and the instant it started.
struct Ran {
    summary: RunSummary,
    events: Vec<RunEvent>,
    log: Vec<FakeEvent>,
    t0: Instant,
}

impl Ran {
    fn record(&self, id: u64) -> JobRecord {
        self.events
            .iter()
            .find_map(|e| match e {
                RunEvent::JobFinished { record, .. } if record.id == JobId(id) => {
                    Some((**record).clone())
                }
                _ => None,
            })
            .unwrap_or_else(|| panic!("job {id} finished"))
    }

    /// When job `id` was sent each signal, from the start of the run.
    fn signals(&self, id: u64) -> Vec<(Signal, Duration)> {
        self.log
            .iter()
            .filter_map(|e| match e {
                FakeEvent::Signalled { id: i, signal, at } if *i == JobId(id) => {
                    Some((*signal, *at - self.t0))
                }
                _ => None,
            })
            .collect()
    }

    /// The place of every attempt, in the order they started.
    fn started_at(&self) -> Vec<String> {
        self.log
            .iter()
            .filter_map(|e| match e {
                FakeEvent::Started { place, .. } => Some(place.to_string()),
                _ => None,
            })
            .collect()
    }

    /// When job `id`'s attempts started, from the start of the run.
    fn starts(&self, id: u64) -> Vec<Duration> {
        self.log
            .iter()
            .filter_map(|e| match e {
                FakeEvent::Started { id: i, at, .. } if *i == JobId(id) => Some(*at - self.t0),
                _ => None,
            })
            .collect()
    }
}

/// Runs `values` through the runner on `fake`, on one scheduler thread (the test's, whose
/// clock is paused), with `during` running beside it (to cancel at a chosen instant).
async fn run_fake(
    config: Config,
    values: &[&str],
    fake: FakeExecutor,
    during: impl FnOnce(Cancel) -> tokio::task::JoinHandle<()>,
) -> Ran {
    let config = Config {
        command: vec!["job".into(), "{}".into()],
        ..config
    };
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let cancel = Cancel::new();
    let reporter = FnReporter(move |e: &RunEvent| seen.lock().unwrap().push(e.clone()));
    let thread = report::spawn(vec![Box::new(reporter)], cancel.clone(), true);
    let side = during(cancel.clone());
    let t0 = Instant::now();
    let (summary, error) = run(
        config.clone(),
        RunParts {
            template: Template::parse(&config.command, ShellMode::Auto, 1).unwrap(),
            tag: None,
            files: None,
            input: ArgStream::open(&[Source::args(values.iter().copied())], b'\n').unwrap(),
            executor: Arc::new(fake.clone()),
            skip: Default::default(),
            events: thread.sender,
            cancel,
            joblog: None,
            threads: 1,
            pipe: None,
        },
    )
    .await;
    side.abort();
    assert!(error.is_none());
    thread.handle.join().unwrap();
    let events = std::mem::take(&mut *events.lock().unwrap());
    Ran {
        summary,
        events,
        log: fake.log(),
        t0,
    }
}

fn nothing(_: Cancel) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async {})
}

/// Cancels with `reason` after `after`.
fn cancel_after(
    after: Duration,
    reason: CancelReason,
) -> impl FnOnce(Cancel) -> tokio::task::JoinHandle<()> {
    move |cancel| {
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            cancel.escalate(reason);
        })
    }
}

#[tokio::test(start_paused = true)]
async fn a_timeout_sends_the_terminate_sequence_at_its_instants() {
    let fake = FakeExecutor::new(|_| {
        Script::exit(0)
            .runs_for(Duration::from_secs(60))
            .on(Signal::SIGTERM, Answer::Ignore)
            .on(Signal::SIGINT, Answer::Ignore)
    });
    let config = Config {
        timeout: Some(Duration::from_secs(1)),
        termseq: TermSeq::parse("TERM,100,INT,200,KILL,25").unwrap(),
        ..Config::default()
    };
    let ran = run_fake(config, &["a"], fake, nothing).await;
    assert_eq!(
        ran.signals(1),
        [
            (Signal::SIGTERM, 1000 * MS),
            (Signal::SIGINT, 1100 * MS),
            (Signal::SIGKILL, 1300 * MS),
        ]
    );
    assert_eq!(
        ran.record(1).outcome,
        JobOutcome::TimedOut { signal: Some(9) }
    );
    assert_eq!(ran.summary.exit_code, 1);
}

#[tokio::test(start_paused = true)]
async fn a_job_that_exits_on_term_is_timed_out_and_gets_no_more_signals() {
    let fake = FakeExecutor::new(|_| {
        Script::exit(0)
            .runs_for(Duration::from_secs(60))
            .on(Signal::SIGTERM, Answer::Exit(Exit::Code(0)))
    });
    let config = Config {
        timeout: Some(Duration::from_millis(500)),
        ..Config::default()
    };
    let ran = run_fake(config, &["a"], fake, nothing).await;
    assert_eq!(ran.signals(1), [(Signal::SIGTERM, 500 * MS)]);
    assert_eq!(ran.record(1).outcome, JobOutcome::TimedOut { signal: None });
}

#[tokio::test(start_paused = true)]
async fn a_signal_is_forwarded_and_a_job_that_ignores_it_is_killed_after_the_grace() {
    let fake = FakeExecutor::new(|_| {
        Script::exit(0)
            .runs_for(Duration::from_secs(60))
            .on(Signal::SIGTERM, Answer::Ignore)
    });
    let config = Config {
        grace: Duration::from_secs(5),
        ..Config::default()
    };
    let ran = run_fake(
        config,
        &["a"],
        fake,
        cancel_after(500 * MS, CancelReason::Signal(libc::SIGTERM)),
    )
    .await;
    assert_eq!(
        ran.signals(1),
        [(Signal::SIGTERM, 500 * MS), (Signal::SIGKILL, 5500 * MS)]
    );
    assert_eq!(
        ran.record(1).outcome,
        JobOutcome::Cancelled { signal: Some(9) }
    );
    assert_eq!(ran.summary.exit_code, 143);
}

#[tokio::test(start_paused = true)]
async fn a_second_signal_kills_at_once() {
    let fake = FakeExecutor::new(|_| {
        Script::exit(0)
            .runs_for(Duration::from_secs(60))
            .on(Signal::SIGINT, Answer::Ignore)
    });
    let config = Config {
        grace: Duration::from_secs(5),
        ..Config::default()
    };
    let signals = |cancel: Cancel| {
        tokio::spawn(async move {
            tokio::time::sleep(100 * MS).await;
            cancel.escalate(CancelReason::Signal(libc::SIGINT));
            tokio::time::sleep(200 * MS).await;
            cancel.escalate(CancelReason::SecondSignal(libc::SIGINT));
        })
    };
    let ran = run_fake(config, &["a"], fake, signals).await;
    assert_eq!(
        ran.signals(1),
        [(Signal::SIGINT, 100 * MS), (Signal::SIGKILL, 300 * MS)]
    );
    assert_eq!(ran.summary.exit_code, 130);
}

#[tokio::test(start_paused = true)]
async fn retries_wait_their_back_off_up_to_the_cap() {
    let fake = FakeExecutor::new(|_| Script::exit(3).runs_for(10 * MS));
    let config = Config {
        retry: RetryPolicy {
            // Five attempts in all (GNU parallel's count).
            retries: 5,
            delay: Duration::from_secs(1),
            backoff: true,
            max_delay: Duration::from_secs(3),
        },
        ..Config::default()
    };
    let ran = run_fake(config, &["a"], fake, nothing).await;
    // Each attempt runs 10 ms; then waits 1 s, 2 s, 3 s (the cap), 3 s.
    assert_eq!(
        ran.starts(1),
        [Duration::ZERO, 1010 * MS, 3020 * MS, 6030 * MS, 9040 * MS]
    );
    let record = ran.record(1);
    assert_eq!(
        (record.attempts, record.outcome),
        (5, JobOutcome::Failed { code: 3 })
    );
    let retrying = ran
        .events
        .iter()
        .filter(|e| matches!(e, RunEvent::JobRetrying { .. }))
        .count();
    assert_eq!(retrying, 4);
}

#[tokio::test(start_paused = true)]
async fn a_job_that_passes_on_a_retry_is_flaky() {
    let fake = FakeExecutor::new(|req| Script::exit(if req.attempt < 2 { 1 } else { 0 }));
    let config = Config {
        retry: RetryPolicy {
            retries: 3,
            delay: 100 * MS,
            ..RetryPolicy::default()
        },
        ..Config::default()
    };
    let ran = run_fake(config, &["a"], fake, nothing).await;
    assert_eq!(ran.starts(1), [Duration::ZERO, 100 * MS]);
    assert_eq!(
        (
            ran.summary.succeeded,
            ran.summary.flaky,
            ran.summary.exit_code
        ),
        (1, 1, 0)
    );
}

#[tokio::test(start_paused = true)]
async fn halt_now_terminates_the_running_jobs_the_moment_one_fails() {
    let fake = FakeExecutor::new(|req| match req.id.0 {
        1 => Script::exit(7).runs_for(100 * MS),
        _ => Script::exit(0).runs_for(Duration::from_secs(10)),
    });
    let config = Config {
        slots: 2,
        halt: HaltPolicy::parse("now,fail=1").unwrap(),
        ..Config::default()
    };
    let ran = run_fake(config, &["a", "b", "c"], fake, nothing).await;
    assert_eq!(ran.signals(2), [(Signal::SIGTERM, 100 * MS)]);
    assert!(ran.starts(3).is_empty(), "no job starts after the halt");
    assert_eq!(
        ran.record(2).outcome,
        JobOutcome::Cancelled {
            signal: Some(libc::SIGTERM)
        }
    );
    // The failing job's own code.
    assert_eq!(ran.summary.exit_code, 7);
}

#[tokio::test(start_paused = true)]
async fn halt_soon_lets_the_running_jobs_finish_and_starts_no_new_one() {
    let fake = FakeExecutor::new(|req| match req.id.0 {
        1 => Script::exit(7).runs_for(100 * MS),
        _ => Script::exit(0).runs_for(Duration::from_secs(10)),
    });
    let config = Config {
        slots: 2,
        halt: HaltPolicy::parse("soon,fail=1").unwrap(),
        ..Config::default()
    };
    let ran = run_fake(config, &["a", "b", "c"], fake, nothing).await;
    assert!(ran.signals(2).is_empty());
    assert_eq!(ran.record(2).outcome, JobOutcome::Success);
    assert!(ran.starts(3).is_empty());
    let cancelling: Vec<_> = ran
        .events
        .iter()
        .filter_map(|e| match e {
            RunEvent::Cancelling { reason } => Some(*reason),
            _ => None,
        })
        .collect();
    assert_eq!(cancelling, [CancelReason::HaltSoon]);
}

#[tokio::test(start_paused = true)]
async fn a_slow_job_is_reported_once_per_period() {
    let fake = FakeExecutor::new(|_| Script::exit(0).runs_for(3500 * MS));
    let config = Config {
        slow: Some(Duration::from_secs(1)),
        ..Config::default()
    };
    let ran = run_fake(config, &["a"], fake, nothing).await;
    let slow: Vec<Duration> = ran
        .events
        .iter()
        .filter_map(|e| match e {
            RunEvent::JobSlow { elapsed, .. } => Some(*elapsed),
            _ => None,
        })
        .collect();
    assert_eq!(slow, [1000 * MS, 2000 * MS, 3000 * MS]);
    assert_eq!(ran.record(1).outcome, JobOutcome::Success);
}

#[tokio::test(start_paused = true)]
async fn a_shortage_is_waited_out_with_a_growing_back_off() {
    let fake = FakeExecutor::new(|_| {
        Script::exit(0).failing_starts([StartFailure::Shortage, StartFailure::Shortage])
    });
    let ran = run_fake(Config::default(), &["a"], fake, nothing).await;
    assert_eq!(ran.starts(1), [15 * MS], "after 5 ms and then 10 ms more");
    assert_eq!(ran.record(1).attempts, 1);
    assert_eq!(ran.summary.exit_code, 0);
}

#[tokio::test(start_paused = true)]
async fn a_job_that_cannot_start_is_a_failed_job_with_its_code_and_message() {
    let fake = FakeExecutor::new(|_| Script::exit(0).failing_starts([StartFailure::Job(127)]));
    let ran = run_fake(Config::default(), &["a"], fake, nothing).await;
    let record = ran.record(1);
    assert_eq!(record.outcome, JobOutcome::SpawnFailed { code: 127 });
    assert_eq!(record.handle, None);
    let stderr = ran.events.iter().find_map(|e| match e {
        RunEvent::JobFinished { stderr, .. } => Some(stderr.read().unwrap().into_owned()),
        _ => None,
    });
    assert_eq!(stderr.unwrap(), b"fake: cannot start (exit 127)\n");
}

#[tokio::test(start_paused = true)]
async fn a_failed_place_sends_its_jobs_to_another_place() {
    let fake = FakeExecutor::new(|_| Script::exit(0).runs_for(10 * MS))
        .with_places(vec![Place::new("down", 4), Place::new("up", 1)])
        .failing_place(0);
    let config = Config {
        slots: 2,
        ..Config::default()
    };
    let ran = run_fake(config, &["a", "b", "c"], fake, nothing).await;
    assert_eq!(ran.summary.succeeded, 3);
    for id in 1..=3 {
        assert_eq!(&*ran.record(id).place, "up");
    }
    assert!(ran.events.iter().any(|e| matches!(
        e,
        RunEvent::PlaceFailed { place, .. } if &**place == "down"
    )));
}

#[tokio::test(start_paused = true)]
async fn no_place_left_stops_the_run_with_255_and_the_job_unrun() {
    let fake = FakeExecutor::new(|_| Script::exit(0)).failing_place(0);
    let ran = run_fake(Config::default(), &["a", "b", "c"], fake, nothing).await;
    assert_eq!(
        ran.record(1).outcome,
        JobOutcome::Cancelled { signal: None }
    );
    assert_eq!(ran.summary.cancel, Some(CancelReason::NoPlace));
    assert_eq!(
        crate::exit::for_run(HaltPolicy::default(), &ran.summary),
        255
    );
    // The queue is not drained into failures: nothing after the first job was tried.
    assert!(ran.starts(2).is_empty() && ran.starts(3).is_empty());
}

#[tokio::test(start_paused = true)]
async fn jobs_failing_at_every_place_at_once_do_not_wait_for_each_other() {
    // Three places of one slot, all failing: each job gives its room back before it waits
    // for another place, so the run ends (before, each held what the next one waited for).
    let fake = FakeExecutor::new(|_| Script::exit(0))
        .with_places(vec![
            Place::new("a", 1),
            Place::new("b", 1),
            Place::new("c", 1),
        ])
        .failing_place(0)
        .failing_place(1)
        .failing_place(2);
    let config = Config {
        slots: 3,
        ..Config::default()
    };
    let values: Vec<String> = (0..10).map(|i| i.to_string()).collect();
    let values: Vec<&str> = values.iter().map(String::as_str).collect();
    let ran = tokio::time::timeout(
        Duration::from_secs(60),
        run_fake(config, &values, fake, nothing),
    )
    .await
    .expect("the run ends");
    assert_eq!(ran.summary.cancel, Some(CancelReason::NoPlace));
    assert_eq!(ran.summary.succeeded, 0);
}

#[tokio::test(start_paused = true)]
async fn job_slots_stay_unique_among_running_jobs() {
    let fake = FakeExecutor::new(|req| Script::exit(0).runs_for(MS * (req.slot * 7)));
    let config = Config {
        slots: 3,
        ..Config::default()
    };
    let values: Vec<String> = (0..30).map(|i| i.to_string()).collect();
    let values: Vec<&str> = values.iter().map(String::as_str).collect();
    let ran = run_fake(config, &values, fake.clone(), nothing).await;
    assert_eq!(ran.summary.succeeded, 30);
    assert!(fake.most_running_at("fake") <= 3);
    // Replay the events: a slot is never given to two running jobs.
    let mut busy = HashSet::new();
    for e in &ran.events {
        match e {
            RunEvent::JobStarted { slot, .. } => assert!(busy.insert(*slot), "slot {slot} twice"),
            RunEvent::JobFinished { record, .. } => {
                busy.remove(&record.slot);
            }
            _ => {}
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_retry_runs_where_the_job_has_not_failed_yet() {
    // The job fails at "a" and "b" and succeeds at "c"; with 3 attempts it gets there, one
    // place after the other (not three times at the freest place).
    let fake = FakeExecutor::new(|req| match req.place {
        2 => Script::exit(0),
        _ => Script::exit(1),
    })
    .with_places(vec![
        Place::new("a", 1),
        Place::new("b", 1),
        Place::new("c", 1),
    ]);
    let config = Config {
        slots: 3,
        retry: RetryPolicy {
            retries: 3,
            ..RetryPolicy::default()
        },
        ..Config::default()
    };
    let ran = run_fake(config, &["x"], fake, nothing).await;
    let places = ran.started_at();
    let mut sorted = places.clone();
    sorted.sort();
    assert_eq!(sorted, ["a", "b", "c"], "each place once: {places:?}");
    assert_eq!(places.last().map(String::as_str), Some("c"));
    assert_eq!(ran.record(1).outcome, JobOutcome::Success);
    assert_eq!(ran.record(1).attempts, 3);
}

#[tokio::test(start_paused = true)]
async fn retries_beyond_the_places_use_every_place_again() {
    let fake = FakeExecutor::new(|_| Script::exit(1))
        .with_places(vec![Place::new("a", 1), Place::new("b", 1)]);
    let config = Config {
        slots: 2,
        retry: RetryPolicy {
            retries: 5,
            ..RetryPolicy::default()
        },
        ..Config::default()
    };
    let ran = run_fake(config, &["x"], fake, nothing).await;
    let places = ran.started_at();
    assert_eq!(places.len(), 5);
    // No place twice in a row while another one has not had the job since.
    for pair in places.windows(2) {
        assert_ne!(pair[0], pair[1], "{places:?}");
    }
    assert_eq!(ran.record(1).attempts, 5);
}

#[tokio::test(start_paused = true)]
async fn jobs_that_all_meet_a_shortage_give_up_after_the_short_patience() {
    // Two jobs, neither can start: nothing runs that could end and free what is missing, so
    // each gives up after the 2 s patience (not the 30 s meant for while others run).
    let fake = FakeExecutor::new(|_| {
        Script::exit(0).failing_starts((0..1000).map(|_| StartFailure::Shortage))
    });
    let config = Config {
        slots: 2,
        ..Config::default()
    };
    let ran = run_fake(config, &["a", "b"], fake, nothing).await;
    for id in [1, 2] {
        assert_eq!(
            ran.record(id).outcome,
            JobOutcome::SpawnFailed { code: 126 }
        );
    }
    assert!(
        ran.t0.elapsed() < Duration::from_secs(5),
        "{:?}",
        ran.t0.elapsed()
    );
}

/// Places that change mid-run (an `--slf` file edited): `[a:1]`, then `[a:1, b:2]` at 25 ms,
/// then `a` retired at 55 ms.
fn changing_places() -> FakeExecutor {
    let retired_a = {
        let mut a = Place::new("a", 1);
        a.retired = true;
        a
    };
    FakeExecutor::new(|_| Script::exit(0).runs_for(10 * MS))
        .with_places(vec![Place::new("a", 1)])
        .changing_places(25 * MS, vec![Place::new("a", 1), Place::new("b", 2)])
        .changing_places(30 * MS, vec![retired_a, Place::new("b", 2)])
}

#[tokio::test(start_paused = true)]
async fn an_added_place_brings_its_slots_and_a_retired_one_takes_no_new_jobs() {
    let fake = changing_places();
    let values: Vec<String> = (0..20).map(|i| i.to_string()).collect();
    let values: Vec<&str> = values.iter().map(String::as_str).collect();
    let ran = run_fake(Config::default(), &values, fake.clone(), nothing).await;
    assert_eq!(ran.summary.succeeded, 20);
    let starts = |place: &str| -> Vec<Duration> {
        ran.log
            .iter()
            .filter_map(|e| match e {
                FakeEvent::Started { place: p, at, .. } if &**p == place => Some(*at - ran.t0),
                _ => None,
            })
            .collect()
    };
    // `a` alone until 25 ms: one job at a time, every 10 ms.
    assert_eq!(starts("a"), [0, 10, 20, 30, 40, 50].map(|n| n * MS));
    // `b` from 25 ms, two at a time (the run's total grew from 1 to 3 for it).
    let b = starts("b");
    assert_eq!(b.first(), Some(&(25 * MS)));
    assert_eq!(b.len(), 14);
    assert_eq!(fake.most_running_at("b"), 2);
    assert_eq!(fake.most_running_at("a"), 1);
    // Slot numbers stay unique among running jobs, up to the grown total.
    let mut busy = HashSet::new();
    for e in &ran.events {
        match e {
            RunEvent::JobStarted { slot, .. } => {
                assert!(busy.insert(*slot), "slot {slot} twice");
                assert!(*slot <= 3);
            }
            RunEvent::JobFinished { record, .. } => {
                busy.remove(&record.slot);
            }
            _ => {}
        }
    }
}
