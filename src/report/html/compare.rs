//! The `compare --html` page: the comparison table (intervals on hover, significant changes
//! coloured) and the CDFs of every run on shared axes.

use super::{escape_html, figure, page};
use crate::report::compare::{self, Comparison, RunData};
use crate::report::svg::{self, Chart};
use std::fmt::Write as _;

/// The `compare --html` page: the comparison table and CDFs of all runs on shared axes.
pub fn render_compare(c: &Comparison, runs: &[RunData]) -> String {
    let mut out = String::new();
    out.push_str("<header><h1>infermeter compare</h1><p class=\"sub\">baseline: ");
    out.push_str(&escape_html(&c.baseline));
    out.push_str("</p></header><section id=\"runs\"><h2>Runs</h2><table><thead><tr><th>run</th><th class=\"l\">target</th><th class=\"l\">model</th><th>requests</th></tr></thead><tbody>");
    for (i, r) in c.runs.iter().enumerate() {
        let _ = write!(
            out,
            "<tr><td><span style=\"color:{}\">■</span> {}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td></tr>",
            svg::PALETTE[i % svg::PALETTE.len()],
            escape_html(&r.label),
            escape_html(&r.target),
            escape_html(&r.model),
            r.requests
        );
    }
    out.push_str("</tbody></table></section><section id=\"table\"><h2>Headline metrics</h2><table id=\"compare\"><thead><tr><th>metric</th>");
    for (i, r) in c.runs.iter().enumerate() {
        let _ = write!(out, "<th>{}</th>", escape_html(&r.label));
        if i > 0 {
            out.push_str("<th>Δ vs baseline</th>");
        }
    }
    out.push_str("</tr></thead><tbody>");
    for row in &c.rows {
        let unit = if row.unit.is_empty() {
            String::new()
        } else {
            format!(" ({})", row.unit)
        };
        let _ = write!(out, "<tr><td>{}{}</td>", escape_html(&row.label), escape_html(&unit));
        for (i, cell) in row.cells.iter().enumerate() {
            let ci = cell
                .ci
                .map(|[a, b]| {
                    format!(
                        " title=\"95% CI {} – {}\"",
                        compare::fmt_value(&row.metric, Some(a)),
                        compare::fmt_value(&row.metric, Some(b))
                    )
                })
                .unwrap_or_default();
            let _ = write!(
                out,
                "<td{ci}>{}</td>",
                escape_html(&compare::fmt_value(&row.metric, cell.value))
            );
            if i > 0 {
                let d = match (cell.delta, cell.delta_pct) {
                    (Some(d), Some(p)) if row.metric == "error_rate" => format!("{:+.2}pp ({p:+.1}%)", d * 100.0),
                    (Some(d), Some(p)) => format!("{d:+.2} ({p:+.1}%)"),
                    (Some(d), None) => format!("{d:+.2}"),
                    _ => String::new(),
                };
                let worse = match (cell.delta, matches!(row.metric.as_str(), "output_tps" | "request_rate")) {
                    (Some(d), true) => d < 0.0,
                    (Some(d), false) => d > 0.0,
                    _ => false,
                };
                let class = match (cell.significant, worse) {
                    (Some(true), true) => " class=\"sig worse\" title=\"worse, outside run-to-run noise: the 95% bootstrap CIs do not overlap\"",
                    (Some(true), false) => " class=\"sig better\" title=\"better, outside run-to-run noise: the 95% bootstrap CIs do not overlap\"",
                    _ => "",
                };
                let _ = write!(
                    out,
                    "<td{class}>{}{}</td>",
                    escape_html(&d),
                    if cell.significant == Some(true) { " *" } else { "" }
                );
            }
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table><p class=\"note\">* outside run-to-run noise: 95% bootstrap confidence intervals (hover a value) do not overlap.</p>");
    for r in &c.ratios {
        let _ = write!(out, "<p><b>{}</b></p>", escape_html(r));
    }
    out.push_str("</section><section id=\"overlay\"><h2>Distributions</h2><div class=\"grid\">");
    for (dist, name) in [
        ("ttft", "TTFT"),
        ("tpot", "TPOT"),
        ("e2e", "E2E"),
        ("itl", "ITL (per token, chunk-aware)"),
    ] {
        let mut ch = Chart::new(
            &format!("cdf-{dist}"),
            &format!("{name} CDF"),
            &format!("{name} (ms)"),
            "fraction ≤ x",
        );
        ch.y_range = Some((0.0, 1.0));
        for (i, r) in runs.iter().enumerate() {
            let Some(recs) = r.records.as_deref() else { continue };
            let vals: Vec<f64> = compare::sample_groups(recs, dist).into_iter().flatten().collect();
            ch.series.push(svg::cdf_series(&r.label, &vals, "ms", 400).color(i));
        }
        figure(&mut out, &ch, "");
    }
    out.push_str("</div></section>");
    page("infermeter compare", &out)
}
