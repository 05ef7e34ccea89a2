//! `latency.svg`: p50, p95 and p99 per scenario as horizontal bars on a logarithmic axis (the
//! scenarios span a sub-millisecond read to a seconds-long assistant run), with each latency
//! target drawn across its scenario's bars. A small writer of our own; nothing third-party.

use std::fmt::Write as _;

/// One scenario's bars.
#[derive(Debug, Clone)]
pub struct Bars {
    pub label: String,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    /// The p99 target, when the scenario has one.
    pub target_ms: Option<f64>,
}

const WIDTH: f64 = 960.0;
const LEFT: f64 = 330.0;
const RIGHT: f64 = 90.0;
const TOP: f64 = 64.0;
const BAR: f64 = 11.0;
const GROUP: f64 = 3.0 * BAR + 14.0;
const BOTTOM: f64 = 46.0;
const SERIES: [(&str, &str); 3] = [("p50", "#4c78a8"), ("p95", "#f58518"), ("p99", "#e45756")];

/// Text for an SVG text node or attribute.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The decades the axis spans: from the one below the fastest p50 to the one above the slowest
/// p99 (or target), at least one decade wide.
pub fn decades(bars: &[Bars]) -> (i32, i32) {
    let values = bars
        .iter()
        .flat_map(|b| {
            [b.p50_ms, b.p95_ms, b.p99_ms]
                .into_iter()
                .chain(b.target_ms)
        })
        .filter(|v| *v > 0.0);
    let (mut low, mut high) = (f64::INFINITY, 0.0_f64);
    for v in values {
        low = low.min(v);
        high = high.max(v);
    }
    if !low.is_finite() {
        return (0, 1);
    }
    let lo = low.log10().floor().max(-2.0) as i32;
    let hi = (high.log10().ceil() as i32).max(lo + 1);
    (lo, hi)
}

fn label_ms(v: f64) -> String {
    if v >= 1000.0 {
        format!("{:.2} s", v / 1000.0)
    } else if v >= 10.0 {
        format!("{v:.0} ms")
    } else if v >= 1.0 {
        format!("{v:.1} ms")
    } else {
        format!("{v:.2} ms")
    }
}

/// The chart (pure).
pub fn latency_chart(title: &str, subtitle: &str, bars: &[Bars]) -> String {
    let (lo, hi) = decades(bars);
    let plot = WIDTH - LEFT - RIGHT;
    let height = TOP + GROUP * bars.len().max(1) as f64 + BOTTOM;
    let x = |v: f64| {
        let v = v.max(10f64.powi(lo));
        LEFT + (v.log10() - f64::from(lo)) / f64::from(hi - lo) * plot
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        out,
        r##"<rect x="0" y="0" width="{WIDTH}" height="{height}" fill="#ffffff"/>"##
    );
    let _ = writeln!(
        out,
        r#"<text x="16" y="24" font-size="16" font-weight="bold">{}</text>"#,
        escape(title)
    );
    let _ = writeln!(
        out,
        r##"<text x="16" y="44" fill="#555555">{}</text>"##,
        escape(subtitle)
    );
    // Legend.
    for (i, (name, colour)) in SERIES.iter().enumerate() {
        let lx = WIDTH - RIGHT - 200.0 + i as f64 * 64.0;
        let _ = writeln!(
            out,
            r#"<rect x="{lx}" y="14" width="12" height="12" fill="{colour}"/><text x="{}" y="24">{name}</text>"#,
            lx + 16.0
        );
    }
    // Grid: every decade, with 2 and 5 between.
    let bottom = height - BOTTOM;
    for decade in lo..=hi {
        for step in [1.0, 2.0, 5.0] {
            let v = step * 10f64.powi(decade);
            if decade == hi && step > 1.0 {
                break;
            }
            let gx = x(v);
            let (stroke, dash) = if step == 1.0 {
                ("#bbbbbb", "")
            } else {
                ("#e5e5e5", r#" stroke-dasharray="2,3""#)
            };
            let _ = writeln!(
                out,
                r#"<line x1="{gx:.1}" y1="{TOP}" x2="{gx:.1}" y2="{bottom}" stroke="{stroke}"{dash}/>"#
            );
            let _ = writeln!(
                out,
                r##"<text x="{gx:.1}" y="{:.1}" text-anchor="middle" fill="#555555">{}</text>"##,
                bottom + 16.0,
                label_ms(v)
            );
        }
    }
    let _ = writeln!(
        out,
        r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" fill="#555555">latency per operation (logarithmic)</text>"##,
        LEFT + plot / 2.0,
        bottom + 36.0
    );
    if bars.is_empty() {
        let _ = writeln!(
            out,
            r#"<text x="{LEFT}" y="{:.1}">nothing was measured</text>"#,
            TOP + GROUP / 2.0
        );
    }
    for (i, b) in bars.iter().enumerate() {
        let gy = TOP + i as f64 * GROUP + 6.0;
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            LEFT - 10.0,
            gy + 1.5 * BAR + 4.0,
            escape(&b.label)
        );
        for (j, ((name, colour), value)) in SERIES
            .iter()
            .zip([b.p50_ms, b.p95_ms, b.p99_ms])
            .enumerate()
        {
            let y = gy + j as f64 * BAR;
            let w = (x(value) - LEFT).max(1.0);
            let _ = writeln!(
                out,
                r#"<rect x="{LEFT}" y="{y:.1}" width="{w:.1}" height="{:.1}" fill="{colour}"><title>{} {name}: {}</title></rect>"#,
                BAR - 2.0,
                escape(&b.label),
                label_ms(value)
            );
            let _ = writeln!(
                out,
                r#"<text x="{:.1}" y="{:.1}" font-size="10">{}</text>"#,
                LEFT + w + 4.0,
                y + BAR - 3.0,
                label_ms(value)
            );
        }
        if let Some(target) = b.target_ms {
            let tx = x(target);
            let _ = writeln!(
                out,
                r##"<line x1="{tx:.1}" y1="{:.1}" x2="{tx:.1}" y2="{:.1}" stroke="#222222" stroke-width="2" stroke-dasharray="4,2"><title>p99 target {}</title></line>"##,
                gy - 3.0,
                gy + 3.0 * BAR + 1.0,
                label_ms(target)
            );
        }
    }
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bars(label: &str, p50: f64, target: Option<f64>) -> Bars {
        Bars {
            label: label.into(),
            p50_ms: p50,
            p95_ms: p50 * 2.0,
            p99_ms: p50 * 4.0,
            target_ms: target,
        }
    }

    /// The width of the `n`th bar rectangle (after the background and the legend).
    fn bar_widths(svg: &str) -> Vec<f64> {
        svg.lines()
            .filter(|l| l.starts_with("<rect x=\"330\""))
            .map(|l| {
                let start = l.find("width=\"").unwrap() + 7;
                l[start..].split('"').next().unwrap().parse().unwrap()
            })
            .collect()
    }

    #[test]
    fn three_bars_per_scenario_longer_for_slower() {
        let svg = latency_chart(
            "Latency",
            "32 clients",
            &[bars("search", 5.0, Some(15.0)), bars("chart", 50.0, None)],
        );
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.trim_end().ends_with("</svg>"));
        let widths = bar_widths(&svg);
        assert_eq!(widths.len(), 6);
        assert!(widths[0] < widths[1] && widths[1] < widths[2], "{widths:?}");
        // A tenfold latency is one decade further on the log axis, for each percentile.
        let decade = widths[3] - widths[0];
        assert!(decade > 50.0);
        assert!((widths[4] - widths[1] - decade).abs() < 0.2);
        assert_eq!(svg.matches("p99 target").count(), 1);
    }

    #[test]
    fn labels_are_escaped() {
        let svg = latency_chart(
            "A <b> & c",
            "",
            &[bars("note: \"create\" & <sign>", 1.0, None)],
        );
        assert!(svg.contains("A &lt;b&gt; &amp; c"));
        assert!(svg.contains("note: &quot;create&quot; &amp; &lt;sign&gt;"));
        assert!(!svg.contains("<sign>"));
    }

    #[test]
    fn the_axis_covers_every_value() {
        assert_eq!(decades(&[bars("x", 0.4, None)]), (-1, 1));
        assert_eq!(
            decades(&[bars("x", 3.0, Some(25.0)), bars("y", 200.0, None)]),
            (0, 3)
        );
        assert_eq!(decades(&[]), (0, 1));
        let empty = latency_chart("t", "s", &[]);
        assert!(empty.contains("nothing was measured"));
    }
}
