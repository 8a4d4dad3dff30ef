//! How the progress bar's line is laid out for a width: which parts it shows and how wide the
//! bar itself is, so that the line always fits (it never wraps). As the width shrinks, parts
//! are dropped, least useful first (the rate, the elapsed time, the running count, the ETA),
//! then the bar; the done and failed counts stay. With no total yet (a pipe still being
//! read) there is no bar and no percentage: a spinner with the counts and the rate.

use std::time::Duration;

use super::progress::human;

/// What the bar shows.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct BarParts {
    pub done: u64,
    /// The number of jobs, when known (in memory, counted, or read to its end).
    pub total: Option<u64>,
    pub running: u64,
    pub failed: u64,
    pub rate: f64,
    pub eta: Option<Duration>,
}

/// An indicatif template and the message for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Layout {
    pub template: String,
    pub message: String,
}

/// The least bar worth drawing.
const MIN_BAR: usize = 10;
/// `{spinner} `.
const SPINNER: usize = 2;
/// `{elapsed_precise} `: `00:00:12 `.
const ELAPSED: usize = 9;

/// The parts of the message, each with whether it may be dropped and in which turn.
fn pieces(p: &BarParts) -> Vec<(Option<u8>, String)> {
    let mut v = vec![(
        None,
        match p.total {
            Some(t) => format!("{}/{t} done", p.done),
            None => format!("{} done", p.done),
        },
    )];
    v.push((Some(2), format!("{} running", p.running)));
    v.push((None, format!("{} failed", p.failed)));
    v.push((Some(0), format!("{:.1}/s", p.rate)));
    if p.total.is_some() {
        let eta = p.eta.map_or("?".into(), human);
        v.push((Some(3), format!("ETA {eta}")));
    }
    v
}

/// The line for `width` columns (what the bar may use, the free columns already taken off).
pub(crate) fn layout(p: &BarParts, width: usize, color: bool) -> Layout {
    let mut pieces = pieces(p);
    let mut elapsed = true;
    let mut bar = p.total.is_some();
    // Drop turns: 0 the rate, 1 the elapsed time, 2 running, 3 the ETA, then the bar.
    let mut turn = 0u8;
    loop {
        let msg: usize =
            pieces.iter().map(|(_, s)| s.len()).sum::<usize>() + 2 * pieces.len().saturating_sub(1);
        let fixed = SPINNER + if elapsed { ELAPSED } else { 0 } + msg;
        let room = width.saturating_sub(fixed);
        let fits = if bar {
            room >= MIN_BAR + 3
        } else {
            fixed <= width
        };
        if fits || (turn > 4) {
            let message = pieces
                .iter()
                .map(|(_, s)| s.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            let (spin, wide) = if color {
                ("{spinner:.cyan}", "{bar:N.cyan/blue}")
            } else {
                ("{spinner}", "{bar:N}")
            };
            let mut template = format!("{spin} ");
            if elapsed {
                template.push_str("{elapsed_precise} ");
            }
            if bar {
                template.push('[');
                template.push_str(&wide.replace('N', &(room - 3).to_string()));
                template.push_str("] ");
            }
            // Past every turn only the counts are left: cut them rather than wrap.
            let message = if fits {
                message
            } else {
                message
                    .chars()
                    .take(width.saturating_sub(SPINNER + 1))
                    .collect()
            };
            template.push_str("{msg}");
            return Layout { template, message };
        }
        match turn {
            1 => elapsed = false,
            4 => bar = false,
            t => pieces.retain(|(d, _)| *d != Some(t)),
        }
        turn += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(total: Option<u64>) -> BarParts {
        BarParts {
            done: 37,
            total,
            running: 4,
            failed: 1,
            rate: 3.1,
            eta: Some(Duration::from_secs(27)),
        }
    }

    /// The width the line takes: the template's fixed parts, the bar and the message.
    fn used(l: &Layout) -> usize {
        let bar: usize = l
            .template
            .split("{bar:")
            .nth(1)
            .map(|r| r.split(['.', '}']).next().unwrap().parse().unwrap())
            .unwrap_or(0);
        let fixed = SPINNER
            + if l.template.contains("elapsed") {
                ELAPSED
            } else {
                0
            }
            + if bar > 0 { bar + 3 } else { 0 };
        fixed + l.message.len()
    }

    #[test]
    fn a_wide_line_has_everything_and_a_bar_filling_the_rest() {
        let l = layout(&parts(Some(120)), 98, false);
        assert_eq!(
            l.message,
            "37/120 done, 4 running, 1 failed, 3.1/s, ETA 27.0s"
        );
        assert!(
            l.template.starts_with("{spinner} {elapsed_precise} [{bar:"),
            "{l:?}"
        );
        assert_eq!(used(&l), 98);
    }

    #[test]
    fn parts_are_dropped_as_the_width_shrinks_and_the_line_never_overflows() {
        let mut seen_bar_at_60 = false;
        for w in (8..=98).rev() {
            let l = layout(&parts(Some(120)), w, true);
            assert!(used(&l) <= w, "{w}: {l:?}");
            assert!(!l.template.contains("{bar:0"), "{w}: {l:?}");
            if w == 58 {
                seen_bar_at_60 = l.template.contains("{bar:");
                assert!(l.message.starts_with("37/120 done"), "{l:?}");
                assert!(l.message.contains("1 failed"), "{l:?}");
            }
        }
        assert!(seen_bar_at_60, "a bar still shows at 60 columns");
        let narrow = layout(&parts(Some(120)), 30, false);
        assert_eq!(narrow.message, "37/120 done, 1 failed");
        assert!(!narrow.template.contains("bar"), "{narrow:?}");
    }

    #[test]
    fn at_60_columns_the_rate_and_elapsed_time_go_and_the_bar_stays() {
        // 60 columns, two left free.
        let l = layout(&parts(Some(120)), 58, false);
        assert_eq!(l.template, "{spinner} [{bar:10}] {msg}");
        assert_eq!(l.message, "37/120 done, 4 running, 1 failed, ETA 27.0s");
        assert_eq!(used(&l), 58);
    }

    #[test]
    fn without_a_total_there_is_a_spinner_and_no_bar_or_eta() {
        let l = layout(&parts(None), 98, false);
        assert_eq!(l.message, "37 done, 4 running, 1 failed, 3.1/s");
        assert_eq!(l.template, "{spinner} {elapsed_precise} {msg}");
    }
}
