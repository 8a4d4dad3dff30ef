//! The fork/exec floor the benchmark compares fanout with: runs `CMD ARGS... VALUE` once per
//! line of stdin from J threads with `std::process::Command`, and nothing else (no pipes, no
//! scheduler, no bookkeeping). With `--capture`, each job's stdout is read into memory and
//! written out whole, the least any grouping runner must do. Built by `scripts/bench.sh` with
//! plain `rustc -O`; not part of the crate.
//!
//! usage: floor -j J [--capture] CMD [ARGS...] < values

use std::io::{BufRead, Write};
use std::process::{Command, Stdio};
use std::sync::Mutex;

fn main() {
    let mut args = std::env::args().skip(1);
    let mut jobs = 1usize;
    let mut capture = false;
    let mut cmd = Vec::new();
    while let Some(a) = args.next() {
        match a.as_str() {
            "-j" if cmd.is_empty() => {
                jobs = args.next().and_then(|j| j.parse().ok()).expect("-j N")
            }
            "--capture" if cmd.is_empty() => capture = true,
            _ => cmd.push(a),
        }
    }
    assert!(
        !cmd.is_empty(),
        "usage: floor -j J [--capture] CMD [ARGS...] < values"
    );
    let input = Mutex::new(std::io::BufReader::new(std::io::stdin()).lines());
    let out = Mutex::new(std::io::stdout());
    let failed = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| {
                loop {
                    let Some(Ok(value)) = input.lock().unwrap().next() else {
                        break;
                    };
                    let mut c = Command::new(&cmd[0]);
                    c.args(&cmd[1..]).arg(value).stdin(Stdio::null());
                    let ok = if capture {
                        let o = c.stderr(Stdio::inherit()).output().expect("spawn");
                        out.lock().unwrap().write_all(&o.stdout).expect("write");
                        o.status.success()
                    } else {
                        c.status().expect("spawn").success()
                    };
                    if !ok {
                        failed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            });
        }
    });
    std::process::exit(failed.into_inner().min(101) as i32);
}
