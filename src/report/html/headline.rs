//! The report's first section: warnings (partial run, saturated client), the key numbers, and
//! the headline latency table — every distribution under its one label (`report::labels`),
//! its definition on hover — with the run's throughput. The steady-state section reuses the
//! rows and labels ([`metric_rows`], [`pair_table`]), so the two scopes read alike.

use super::{escape_html, f2, kpi};
use crate::metrics::{RunMetrics, Stats};
use crate::report::{labels, Summary};
use std::collections::BTreeMap;
use std::fmt::Write as _;

pub(super) fn render(out: &mut String, s: &Summary) {
    let m = &s.metrics;
    let l = &m.latency_ms;
    let defs = &s.definitions;

    out.push_str("<section id=\"summary\"><h2>Summary</h2>");
    if s.partial {
        let _ = write!(
            out,
            "<div class=\"warn\"><b>Partial run:</b> {}; metrics cover completed requests only.</div>",
            escape_html(s.stopped_reason.as_deref().unwrap_or("the run was interrupted"))
        );
    }
    if s.client.saturated {
        let _ = write!(
            out,
            "<div class=\"warn\"><b>Client saturated:</b> the load generator may have distorted this measurement: {}. See <a href=\"#client\">client health</a>.</div>",
            escape_html(s.client.saturated_reason.as_deref().unwrap_or("see below"))
        );
    }
    out.push_str("<div class=\"kpis\">");
    kpi(out, &f2(m.throughput.output_tokens_per_s), "output tokens/s");
    kpi(out, &f2(m.throughput.requests_per_s), "requests/s");
    let ms = |s: &Stats, v: f64| if s.n > 0 { format!("{} ms", f2(v)) } else { "n/a".into() };
    kpi(out, &ms(&l.ttft, l.ttft.p50), "TTFT p50");
    kpi(out, &ms(&l.ttft, l.ttft.p99), "TTFT p99");
    kpi(out, &ms(&l.tpot, l.tpot.p50), "TPOT p50");
    kpi(
        out,
        &format!("{} / {}", m.requests.succeeded, m.requests.total),
        "requests ok / total",
    );
    kpi(out, &format!("{:.2} s", m.duration_s), "duration (window)");
    kpi(
        out,
        &format!("{:.2} / {}", m.concurrency.mean, m.concurrency.peak),
        "concurrency mean / peak",
    );
    out.push_str("</div>");
    stat_table(out, "headline", &metric_rows(m), defs);
    let t = &m.throughput;
    let _ = write!(
        out,
        "<p>Throughput: <b>{}</b> req/s · output <b>{}</b> tok/s · input {} tok/s · total {} tok/s over a {:.2} s window (wall {:.2} s).</p>",
        f2(t.requests_per_s),
        f2(t.output_tokens_per_s),
        f2(t.input_tokens_per_s),
        f2(t.total_tokens_per_s),
        m.duration_s,
        s.wall_s
    );
    if m.requests.failed_after_window > 0 {
        let _ = write!(
            out,
            "<p class=\"note\">{} failed requests ended after the window closed (its end is the last token of a successful request): they are counted under errors, not in the window.</p>",
            m.requests.failed_after_window
        );
    }
    out.push_str("</section>");
}

/// One row of a statistics table: a label, the definition key it links to, its samples' stats.
pub(super) struct MetricRow<'a> {
    pub label: &'a str,
    pub def_key: &'a str,
    pub stats: &'a Stats,
    pub unit: &'a str,
}

/// The rows of the headline table of one scope (whole run or steady state), in the order and
/// with the labels of `report::labels`.
pub(super) fn metric_rows(m: &RunMetrics) -> Vec<MetricRow<'_>> {
    let l = &m.latency_ms;
    let mut rows: Vec<MetricRow> = labels::LATENCY
        .iter()
        .filter_map(|&(key, label)| {
            Some(MetricRow {
                label,
                def_key: key,
                stats: l.get(key)?,
                unit: if key == "normalized" { "ms/token" } else { "ms" },
            })
        })
        .collect();
    rows.push(MetricRow {
        label: labels::PER_USER_TPS,
        def_key: "per_user_output_tokens_per_s",
        stats: &m.per_user_output_tokens_per_s,
        unit: "tok/s",
    });
    rows.push(MetricRow {
        label: labels::TOKENS_PER_CHUNK,
        def_key: "tokens_per_chunk",
        stats: &m.tokens_per_chunk,
        unit: "tokens",
    });
    rows
}

/// The label cell of a row: its name, with its definition on hover and a glossary link.
fn name_cell(r: &MetricRow, defs: &BTreeMap<String, String>) -> String {
    let def = defs.get(r.def_key).map(String::as_str).unwrap_or("");
    if def.is_empty() {
        escape_html(r.label)
    } else {
        format!(
            "<abbr title=\"{}\">{}</abbr> <a href=\"#def-{}\">?</a>",
            escape_html(def),
            escape_html(r.label),
            escape_html(r.def_key)
        )
    }
}

/// Two scopes' rows (same labels, same order) in one table, each statistic as a pair of
/// columns: whole run, then steady state.
pub(super) fn pair_table(
    out: &mut String,
    id: &str,
    left: &[MetricRow],
    right: &[MetricRow],
    defs: &BTreeMap<String, String>,
) {
    const STATS: [&str; 5] = ["p50", "p90", "p99", "mean", "n"];
    let _ = write!(
        out,
        "<table id=\"{id}\"><thead><tr><th rowspan=\"2\">metric</th><th rowspan=\"2\">unit</th>"
    );
    for st in STATS {
        let _ = write!(out, "<th colspan=\"2\">{st}</th>");
    }
    out.push_str("</tr><tr>");
    for _ in STATS {
        out.push_str("<th>whole run</th><th>steady state</th>");
    }
    out.push_str("</tr></thead><tbody>");
    for (a, b) in left.iter().zip(right) {
        let _ = write!(out, "<tr><td>{}</td><td>{}</td>", name_cell(a, defs), a.unit);
        let v = |s: &Stats, st: &str| match st {
            _ if s.n == 0 && st != "n" => "n/a".to_string(),
            "p50" => f2(s.p50),
            "p90" => f2(s.p90),
            "p99" => f2(s.p99),
            "mean" => f2(s.mean),
            _ => s.n.to_string(),
        };
        for st in STATS {
            let _ = write!(out, "<td>{}</td><td>{}</td>", v(a.stats, st), v(b.stats, st));
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
}

/// A statistics table (`id` names it in the page): mean, percentiles, max and n per row, each
/// label with its definition on hover and a link to the glossary.
pub(super) fn stat_table(out: &mut String, id: &str, rows: &[MetricRow], defs: &BTreeMap<String, String>) {
    let _ = write!(out, "<table id=\"{id}\"><thead><tr><th>metric</th><th>unit</th><th>mean</th><th>p50</th><th>p90</th><th>p95</th><th>p99</th><th>p99.9</th><th>max</th><th>n</th></tr></thead><tbody>");
    for r in rows {
        let name = name_cell(r, defs);
        let s = r.stats;
        if s.n == 0 {
            let _ = write!(
                out,
                "<tr><td>{name}</td><td>{}</td><td colspan=\"7\" style=\"text-align:center;color:#5b6575\">n/a — no samples</td><td>0</td></tr>",
                r.unit
            );
            continue;
        }
        let _ = write!(
            out,
            "<tr><td>{name}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            r.unit,
            f2(s.mean),
            f2(s.p50),
            f2(s.p90),
            f2(s.p95),
            f2(s.p99),
            f2(s.p999),
            f2(s.max),
            s.n
        );
    }
    out.push_str("</tbody></table>");
}
