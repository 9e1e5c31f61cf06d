//! The shards section of a merged run's report (`infermeter merge`): how the run was merged
//! (shards, timeline origin, start spread, clock bound), a warning for missing, unfinished or
//! saturated shards, and one row per shard: host, node, alignment, start lateness, clock,
//! requests, CPU, schedule lag and its self-health verdict.

use crate::report::svg::escape_html;
use crate::report::Summary;
use crate::shard::format_utc;
use std::fmt::Write as _;

fn ms(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.2}")).unwrap_or_else(|| "n/a".into())
}

/// The "Shards" section of a merged run's report (nothing for a run that was not merged).
pub(super) fn render(page: &mut String, s: &Summary) {
    let Some(info) = s.shards.as_ref() else { return };
    let mut out = String::from("<section id=\"shards\"><h2>Shards</h2>");
    let _ = write!(
        out,
        "<p>Merged from {} of {} shards; every metric above is computed from all shards' raw records on one timeline (origin {}). Measured phases started within {} ms of each other; clock offset bound: {}.</p>",
        info.merged.len(),
        info.count,
        escape_html(&format_utc(info.origin_unix_us)),
        ms(info.start_spread_ms),
        info.clock_bound_text(),
    );
    if !info.missing.is_empty() || !info.unfinished.is_empty() {
        let _ = write!(
            out,
            "<div class=\"warn\"><b>Partial merge:</b> missing shards [{}], unfinished shards [{}].</div>",
            join(&info.missing),
            join(&info.unfinished)
        );
    }
    if !info.saturated.is_empty() {
        let _ = write!(
            out,
            "<div class=\"warn\"><b>Saturated shard client(s): {}</b> — their load generator may have distorted the measurement.</div>",
            join(&info.saturated)
        );
    }
    out.push_str("<table><tr><th>shard</th><th>host</th><th>node</th><th>requests (ok)</th><th>offset ms</th><th>phase start ms</th><th>late ms</th><th>clock</th><th>CPU</th><th>schedule lag p99 ms</th><th>verdict</th></tr>");
    for h in &info.shards {
        let clock = match &h.clock {
            Some(c) if c.synchronized => format!("synchronized, max error {:.2} ms", c.max_error_us as f64 / 1000.0),
            Some(_) => "NOT synchronized".into(),
            None => "n/a".into(),
        };
        let (cpu, lag, verdict) = match &h.client {
            Some(c) => (
                c.cpu_utilization
                    .map(|u| format!("{:.0}% of {}", u * 100.0, c.cores))
                    .unwrap_or_else(|| "n/a".into()),
                format!("{:.2}", c.schedule_lag_ms.p99),
                if c.saturated {
                    format!(
                        "<b>SATURATED</b>: {}",
                        escape_html(c.saturated_reason.as_deref().unwrap_or(""))
                    )
                } else {
                    "ok".into()
                },
            ),
            None => ("n/a".into(), "n/a".into(), "<b>did not finish</b>".into()),
        };
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{} ({})</td><td>{:.3}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            h.index,
            escape_html(&h.host),
            escape_html(h.node.as_deref().unwrap_or("")),
            h.requests,
            h.succeeded,
            h.offset_ms,
            ms(h.phase_start_ms),
            ms(h.start_late_ms),
            escape_html(&clock),
            cpu,
            lag,
            verdict
        );
    }
    out.push_str("</table></section>");
    page.push_str(&out);
}

fn join(v: &[u32]) -> String {
    v.iter().map(|k| k.to_string()).collect::<Vec<_>>().join(", ")
}
