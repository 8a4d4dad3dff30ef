//! Writes a [`Chart`] as one self-contained HTML page: the same `<svg>` as the SVG file, inline,
//! with a few lines of CSS and script (nothing is fetched) that show a bar's details (seq, exit
//! code or signal, duration, command) in a tooltip that follows the pointer and outline the bar
//! under it. Without script the bars' `<title>`s still show as the browser's own tooltips.

use super::layout::Chart;
use super::svg;

const STYLE: &str = "body{margin:16px;background:#fff;color:#222;font-family:sans-serif}\
#bars rect:hover{stroke:#000;stroke-width:1}\
#tip{position:fixed;display:none;max-width:70em;padding:4px 8px;border-radius:4px;\
background:#222;color:#fff;font:12px/1.4 monospace;white-space:pre-wrap;pointer-events:none}";

/// On the first hover over a bar, its `<title>` moves into `data-tip` (so the browser's own
/// tooltip does not show as well), and the tooltip shows it next to the pointer.
const SCRIPT: &str = r#"(function () {
  var tip = document.getElementById("tip");
  var bars = document.getElementById("bars");
  bars.addEventListener("mousemove", function (e) {
    var r = e.target;
    if (r.tagName !== "rect") { tip.style.display = "none"; return; }
    var t = r.querySelector("title");
    if (t) { r.setAttribute("data-tip", t.textContent); t.remove(); }
    tip.textContent = r.getAttribute("data-tip") || "";
    tip.style.display = "block";
    var x = e.clientX + 14, y = e.clientY + 14;
    if (x + tip.offsetWidth > window.innerWidth) { x = e.clientX - tip.offsetWidth - 8; }
    if (y + tip.offsetHeight > window.innerHeight) { y = e.clientY - tip.offsetHeight - 8; }
    tip.style.left = Math.max(0, x) + "px";
    tip.style.top = Math.max(0, y) + "px";
  });
  bars.addEventListener("mouseleave", function () { tip.style.display = "none"; });
})();"#;

/// The HTML page.
pub(crate) fn document(chart: &Chart) -> String {
    let svg = svg::element(chart);
    let mut out = String::with_capacity(svg.len() + 2048);
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str(&format!(
        "<title>fanout timeline: {}</title>\n",
        svg::esc(&chart.name)
    ));
    out.push_str(&format!("<style>{STYLE}</style>\n</head>\n<body>\n"));
    out.push_str(&svg);
    out.push_str("<div id=\"tip\"></div>\n");
    out.push_str(&format!(
        "<script>\n{SCRIPT}\n</script>\n</body>\n</html>\n"
    ));
    out
}
