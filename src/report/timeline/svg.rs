//! Writes a [`Chart`] as SVG: a title and a legend with counts, one labelled (and striped)
//! row per slot or lane, grid lines and an axis in seconds, and the bars, each with a
//! `<title>` (its tooltip) and `data-` attributes that tools and tests can read: the bars'
//! group has `data-px-per-s` and `data-t0` (the first start, epoch seconds), a job's bar
//! `data-seq`, a merged run `data-jobs`. Vertical geometry (row height, margins) is decided
//! here; the horizontal one comes from the layout.

use std::fmt::Write;

use super::layout::{Chart, MIN_BAR_PX};
use super::{Outcome, Source};

/// Above the plot: the title, the subtitle and the legend.
const TOP: f64 = 84.0;
/// Below the plot: tick labels and the axis title.
const BOTTOM: f64 = 48.0;
const RIGHT: f64 = 30.0;
/// The tallest the rows get together (rows are 1 to 24 pixels high).
const ROWS_H: f64 = 640.0;

/// The SVG file: an XML declaration and the `<svg>` element.
pub(crate) fn document(chart: &Chart) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(&element(chart));
    out
}

/// The `<svg>` element alone (the HTML page embeds it).
pub(crate) fn element(chart: &Chart) -> String {
    let rows = chart.rows.len().max(1) as f64;
    let row_h = (ROWS_H / rows).clamp(1.0, 24.0);
    let plot_h = rows * row_h;
    let labels: Vec<String> = chart.rows.iter().map(|r| row_label(chart, r)).collect();
    let widest = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    let left = (widest as f64 * 7.0 + 20.0).clamp(70.0, 240.0);
    let width = left + chart.plot_w + RIGHT;
    let height = TOP + plot_h + BOTTOM;
    // Writing to a String cannot fail.
    let mut o = String::with_capacity(chart.marks.len() * 200 + 4096);
    let _ = writeln!(
        o,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" viewBox=\"0 0 {width:.0} {height:.0}\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\" font-size=\"12\">"
    );
    let classes: String = Outcome::ALL
        .iter()
        .map(|o| format!(".{}{{fill:{}}}", o.class(), o.colour()))
        .collect();
    // Bars of one job each get a thin white edge, so back-to-back jobs in a slot stay apart.
    let edge = if chart.merged_px.is_none() {
        " #bars rect{stroke:#fff;stroke-width:0.5}"
    } else {
        ""
    };
    let _ = writeln!(
        o,
        "<style>{classes} .lbl{{fill:#333}} .tick{{fill:#555;font-size:11px}}{edge}</style>"
    );
    let _ = writeln!(o, "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>");
    let _ = writeln!(
        o,
        "<text x=\"{left:.0}\" y=\"24\" font-size=\"16\" font-weight=\"bold\">fanout timeline: {}</text>",
        esc(&chart.name)
    );
    let _ = writeln!(
        o,
        "<text x=\"{left:.0}\" y=\"44\" class=\"lbl\">{}</text>",
        esc(&subtitle(chart))
    );
    legend(&mut o, chart, left);
    rows_and_grid(&mut o, chart, &labels, left, row_h, plot_h);
    let bar_h = if row_h >= 4.0 { row_h * 0.75 } else { row_h };
    let pad = (row_h - bar_h) / 2.0;
    let _ = writeln!(
        o,
        "<g id=\"bars\" transform=\"translate({left:.0},{TOP:.0})\" data-px-per-s=\"{}\" data-t0=\"{}\" data-min-px=\"{MIN_BAR_PX}\">",
        chart.px_per_s, chart.t0
    );
    for m in &chart.marks {
        let y = m.row as f64 * row_h + pad;
        let _ = write!(
            o,
            "<rect x=\"{:.3}\" y=\"{y:.2}\" width=\"{:.3}\" height=\"{bar_h:.2}\" class=\"{}\"",
            m.x,
            m.w,
            m.outcome.class()
        );
        match m.seq {
            Some(seq) => {
                let _ = write!(o, " data-seq=\"{seq}\"");
            }
            None => {
                let _ = write!(o, " data-jobs=\"{}\"", m.jobs);
            }
        }
        let _ = writeln!(o, "><title>{}</title></rect>", esc(&m.title));
    }
    o.push_str("</g>\n</svg>\n");
    o
}

/// What a row is called: `slot 3`, `lane 3`, with the host in front when there are several
/// (`local` for this machine).
fn row_label(chart: &Chart, row: &super::layout::Row) -> String {
    let kind = if chart.slots { "slot" } else { "lane" };
    if chart.hosts > 1 {
        // GNU parallel's name for this machine, `:`, says little in a label.
        let host: String = match row.host.as_str() {
            ":" => "local".to_owned(),
            h => h.chars().take(20).collect(),
        };
        format!("{host} {kind} {}", row.number)
    } else {
        format!("{kind} {}", row.number)
    }
}

fn subtitle(chart: &Chart) -> String {
    let kind = if chart.slots { "slot" } else { "lane" };
    let mut s = format!(
        "{} jobs on {} {kind}{}",
        thousands(chart.total),
        chart.rows.len(),
        if chart.rows.len() == 1 { "" } else { "s" }
    );
    if chart.hosts > 1 {
        let _ = write!(s, " on {} hosts", chart.hosts);
    }
    let _ = write!(s, ", {:.3} s from {}", chart.span, utc(chart.t0));
    if let Some(r) = chart.merged_px {
        let _ = write!(
            s,
            "; bars under {r:.0} px merged into runs of busy time, coloured by their worst job"
        );
    }
    if chart.not_started > 0 {
        let _ = write!(
            s,
            "; {} never started (not drawn)",
            thousands(chart.not_started)
        );
    }
    s
}

fn legend(o: &mut String, chart: &Chart, left: f64) {
    let mut x = left;
    for &(outcome, n) in &chart.counts {
        let name = match (outcome, chart.source) {
            (Outcome::Signal, Source::Joblog) => {
                "killed by a signal (a joblog counts timeouts here)"
            }
            _ => outcome.label(),
        };
        let text = format!("{name}: {}", thousands(n));
        let _ = writeln!(
            o,
            "<rect x=\"{x:.0}\" y=\"56\" width=\"12\" height=\"12\" class=\"{}\"/><text x=\"{:.0}\" y=\"66\" class=\"lbl\">{}</text>",
            outcome.class(),
            x + 17.0,
            esc(&text)
        );
        x += 17.0 + text.chars().count() as f64 * 6.6 + 18.0;
    }
}

/// Row stripes and labels (every row when they are tall enough to read, else every few),
/// a line between hosts, then the grid and the axis.
fn rows_and_grid(
    o: &mut String,
    chart: &Chart,
    labels: &[String],
    left: f64,
    row_h: f64,
    plot_h: f64,
) {
    let every = (14.0 / row_h).ceil().max(1.0) as usize;
    o.push_str("<g id=\"rows\">\n");
    for (i, label) in labels.iter().enumerate() {
        let y = TOP + i as f64 * row_h;
        if i % 2 == 1 {
            let _ = writeln!(
                o,
                "<rect x=\"{left:.0}\" y=\"{y:.2}\" width=\"{:.0}\" height=\"{row_h:.2}\" fill=\"#f3f3f3\"/>",
                chart.plot_w
            );
        }
        let new_host = i > 0 && chart.rows[i].host != chart.rows[i - 1].host;
        if new_host {
            let _ = writeln!(
                o,
                "<line x1=\"4\" x2=\"{:.0}\" y1=\"{y:.2}\" y2=\"{y:.2}\" stroke=\"#888\"/>",
                left + chart.plot_w
            );
        }
        if i % every == 0 || new_host {
            let _ = writeln!(
                o,
                "<text x=\"{:.0}\" y=\"{:.2}\" text-anchor=\"end\" class=\"lbl\" font-size=\"{:.0}\">{}</text>",
                left - 8.0,
                y + row_h.min(14.0) / 2.0 + 4.0,
                row_h.clamp(9.0, 12.0),
                esc(label)
            );
        }
    }
    o.push_str("</g>\n<g id=\"axis\">\n");
    let bottom = TOP + plot_h;
    for &t in &chart.ticks {
        let x = left + t * chart.px_per_s;
        let _ = writeln!(
            o,
            "<line x1=\"{x:.2}\" x2=\"{x:.2}\" y1=\"{TOP:.0}\" y2=\"{:.2}\" stroke=\"#d0d0d0\"/><text x=\"{x:.2}\" y=\"{:.2}\" text-anchor=\"middle\" class=\"tick\">{:.*}</text>",
            bottom + 4.0,
            bottom + 17.0,
            chart.tick_decimals,
            t
        );
    }
    let _ = writeln!(
        o,
        "<line x1=\"{left:.0}\" x2=\"{:.0}\" y1=\"{bottom:.2}\" y2=\"{bottom:.2}\" stroke=\"#555\"/>",
        left + chart.plot_w
    );
    let _ = writeln!(
        o,
        "<text x=\"{:.0}\" y=\"{:.2}\" text-anchor=\"middle\" class=\"lbl\">seconds since the first job started</text>",
        left + chart.plot_w / 2.0,
        bottom + 36.0
    );
    o.push_str("</g>\n");
}

/// Text for XML: the five special characters escaped, control characters (which XML 1.0
/// forbids, and a command may hold) shown as `?`.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' | '\t' => out.push(c),
            c if c.is_control() => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

/// `12,345`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Epoch seconds as `2026-11-25 12:40:25 UTC` (the civil calendar from days, after Howard
/// Hinnant's `civil_from_days`).
fn utc(epoch: f64) -> String {
    let secs = epoch.floor() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_numbers() {
        assert_eq!(utc(0.0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(1_700_000_000.5), "2023-11-14 22:13:20 UTC");
        assert_eq!(utc(951_782_400.0), "2000-02-29 00:00:00 UTC");
        assert_eq!(thousands(100_000), "100,000");
        assert_eq!(thousands(999), "999");
    }

    #[test]
    fn text_is_escaped_for_xml() {
        assert_eq!(esc("a<b & \"c\"\x1b"), "a&lt;b &amp; &quot;c&quot;?");
    }
}
