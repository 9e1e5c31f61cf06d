//! The steady-state section: the window (or why there is none) and its metrics laid out as
//! the whole run's are, side by side with them — one table of rates (throughput, goodput and
//! cost, by the one attribution rule of `metrics::attribute`), and one of the headline
//! statistics under the same labels (`report::labels`), each statistic a whole-run /
//! steady-state pair of columns. A `steady_state` object that
//! is not infermeter's own shape (another tool's summary) is shown as a key/value table.

use super::headline::{metric_rows, pair_table};
use super::{escape_html, f2, flatten, kv_table, optional};
use crate::metrics::cost::Cost;
use crate::metrics::slo::Goodput;
use crate::metrics::steady::SteadyState;
use crate::metrics::RunMetrics;
use crate::report::Summary;
use serde_json::Value;
use std::fmt::Write as _;

pub(super) fn render(out: &mut String, s: &Summary, raw: &Value) {
    let Some(v) = optional(raw, "steady_state") else {
        return;
    };
    out.push_str("<section id=\"steady_state\"><h2>Steady state</h2>");
    match serde_json::from_value::<SteadyState>(v.clone()) {
        Ok(ss) if ss.detected => side_by_side(out, s, &ss),
        Ok(ss) => {
            let _ = write!(
                out,
                "<p>No steady state ({} detection): {}. The whole run's figures above include ramp-up and drain.</p>",
                escape_html(&ss.method),
                escape_html(ss.reason.as_deref().unwrap_or("not found"))
            );
        }
        Err(_) => {
            let mut rows = Vec::new();
            flatten("", v, &mut rows);
            out.push_str(&kv_table(&rows));
        }
    }
    out.push_str("</section>");
}

/// One scope's figures for the rates table.
struct Scope<'a> {
    m: &'a RunMetrics,
    goodput: Option<&'a Goodput>,
    cost: Option<&'a Cost>,
}

fn side_by_side(out: &mut String, s: &Summary, ss: &SteadyState) {
    let whole = Scope {
        m: &s.metrics,
        goodput: s.goodput.as_ref(),
        cost: s.cost.as_ref(),
    };
    let steady = Scope {
        m: &ss.metrics,
        goodput: ss.goodput.as_ref(),
        cost: ss.cost.as_ref(),
    };
    let _ = write!(
        out,
        "<p class=\"note\">{} window {:.2}–{:.2} s after the first send ({:.2} s): ramp-up and drain excluded. Latency, requests and attainment cover the requests sent in the window; every rate counts what happened inside it (tokens when they arrived, requests when they completed), as the whole run's rates do over its own window.</p>",
        if ss.method == "manual" { "Manual (--warmup/--cooldown)" } else { "Detected" },
        ss.window_start_s,
        ss.window_end_s,
        ss.window_end_s - ss.window_start_s
    );
    out.push_str("<table id=\"steady-rates\"><thead><tr><th>figure</th><th>unit</th><th>whole run</th><th>steady state</th></tr></thead><tbody>");
    type Get = fn(&Scope) -> Option<f64>;
    let rows: [(&str, &str, Get); 14] = [
        ("window", "s", |x| Some(x.m.duration_s)),
        ("requests (sent)", "", |x| Some(x.m.requests.total as f64)),
        ("failed", "", |x| Some(x.m.requests.failed as f64)),
        ("request throughput", "req/s", |x| Some(x.m.throughput.requests_per_s)),
        ("output throughput", "tok/s", |x| {
            Some(x.m.throughput.output_tokens_per_s)
        }),
        ("input throughput", "tok/s", |x| Some(x.m.throughput.input_tokens_per_s)),
        ("total throughput", "tok/s", |x| Some(x.m.throughput.total_tokens_per_s)),
        ("concurrency mean", "requests", |x| Some(x.m.concurrency.mean)),
        ("goodput", "req/s", |x| x.goodput.map(|g| g.requests_per_s)),
        ("goodput output", "tok/s", |x| x.goodput.map(|g| g.output_tokens_per_s)),
        ("SLO attainment", "%", |x| x.goodput.map(|g| g.attainment * 100.0)),
        ("cost per 1M output tokens", "$", |x| {
            x.cost.and_then(|c| c.per_million_output_tokens)
        }),
        ("cost per 1M total tokens", "$", |x| {
            x.cost.and_then(|c| c.per_million_total_tokens)
        }),
        ("cost per 1M good output tokens", "$", |x| {
            x.cost.and_then(|c| c.per_million_good_output_tokens)
        }),
    ];
    for (label, unit, get) in rows {
        let (a, b) = (get(&whole), get(&steady));
        if a.is_none() && b.is_none() {
            continue;
        }
        let cell = |v: Option<f64>| match v {
            Some(x) if unit.is_empty() => format!("{x:.0}"),
            Some(x) if unit == "$" => format!("{x:.4}"),
            Some(x) => f2(x),
            None => "n/a".into(),
        };
        let _ = write!(
            out,
            "<tr><td>{label}</td><td>{unit}</td><td>{}</td><td>{}</td></tr>",
            cell(a),
            cell(b)
        );
    }
    out.push_str("</tbody></table><h3 style=\"margin-top:12px\">Latency: whole run and steady state</h3>");
    pair_table(
        out,
        "steady-headline",
        &metric_rows(&s.metrics),
        &metric_rows(&ss.metrics),
        &s.definitions,
    );
}

#[cfg(test)]
mod tests {
    use crate::record::{RequestRecord, TokenCount, TokenEvent};
    use crate::report::{build_summary, labels, RunInfo};

    /// 8 back-to-back workers of 20 requests (40 ms TTFT, then 15 tokens 10 ms apart).
    fn records() -> Vec<RequestRecord> {
        let mut v = Vec::new();
        for w in 0..8u64 {
            let mut t = w * 7_000;
            for i in 0..20u64 {
                let events: Vec<TokenEvent> = (0..16).map(|k| TokenEvent::new(40_000 + k * 10_000, 1, 1)).collect();
                let r = RequestRecord {
                    id: w * 20 + i,
                    sched_us: t,
                    start_us: t,
                    send_us: t,
                    end_us: Some(190_500),
                    events,
                    input_tokens: TokenCount {
                        server: Some(50),
                        client: None,
                    },
                    output_tokens: TokenCount {
                        server: Some(16),
                        client: None,
                    },
                    status: 200,
                    ..Default::default()
                };
                t = r.end_abs_us();
                v.push(r);
            }
        }
        v
    }

    fn section(html: &str) -> &str {
        let start = html
            .find("<section id=\"steady_state\">")
            .expect("steady-state section");
        let len = html[start..].find("</section>").expect("section end");
        &html[start..start + len]
    }

    /// Regression (issue 16): the section dumped ~100 raw `latency_ms.*` keys as a list. It is
    /// the headline table of each scope under the console's labels, side by side, with a
    /// rates table whose cells are the summary's own numbers.
    #[test]
    fn steady_state_is_a_labelled_table_beside_the_whole_run() {
        let recs = records();
        let run = RunInfo {
            slo: Some(crate::metrics::slo::Slo::parse("ttft=100ms").expect("slo")),
            gpu_cost_per_hour: Some(2.0),
            steady_skip_start_s: Some(0.5),
            steady_cooldown: Some("0.5s".into()),
            ..Default::default()
        };
        let s = build_summary(run, &recs, &Default::default(), false);
        assert!(s.steady_state.detected, "{:?}", s.steady_state.reason);
        let html = super::super::render_report(Some((&s, &recs)), None);
        let sec = section(&html);
        assert!(!sec.contains("latency_ms."), "raw keys: {sec}");
        for id in ["steady-rates", "steady-headline"] {
            assert!(sec.contains(&format!("<table id=\"{id}\">")), "{id}");
        }
        let table = &sec[sec.find("<table id=\"steady-headline\">").expect("table")..];
        let cells = |row: &str| -> Vec<String> {
            row.split("<td>")
                .skip(1)
                .map(|c| c.split("</td>").next().unwrap_or_default().to_string())
                .collect()
        };
        for (key, label) in labels::LATENCY {
            let at = table
                .find(&format!(">{label}</abbr>"))
                .unwrap_or_else(|| panic!("{label}"));
            let c = cells(table[at..].split("</tr>").next().unwrap_or_default());
            let (w, st) = (
                s.metrics.latency_ms.get(key).expect("whole"),
                s.steady_state.metrics.latency_ms.get(key).expect("steady"),
            );
            // After the unit: the p50 pair first, the n pair last; whole run, then steady state.
            if w.n > 0 && st.n > 0 {
                assert_eq!((&c[1], &c[2]), (&super::f2(w.p50), &super::f2(st.p50)), "{key}");
            }
            assert_eq!((&c[9], &c[10]), (&w.n.to_string(), &st.n.to_string()), "{key}");
        }
        let row = |label: &str| {
            let at = sec
                .find(&format!("<td>{label}</td>"))
                .unwrap_or_else(|| panic!("{label} row"));
            sec[at..].split("</tr>").next().unwrap_or_default().to_string()
        };
        let out = row("output throughput");
        assert!(
            out.contains(&super::f2(s.metrics.throughput.output_tokens_per_s)),
            "{out}"
        );
        assert!(
            out.contains(&super::f2(s.steady_state.metrics.throughput.output_tokens_per_s)),
            "{out}"
        );
        let good = row("goodput output");
        let g = s.steady_state.goodput.as_ref().expect("steady goodput");
        assert!(good.contains(&super::f2(g.output_tokens_per_s)), "{good}");
        assert!(sec.contains("<td>cost per 1M good output tokens</td>"));
    }

    #[test]
    fn no_steady_state_says_why() {
        let recs = records();
        let run = RunInfo {
            steady_skip_start_s: Some(100.0),
            ..Default::default()
        };
        let s = build_summary(run, &recs, &Default::default(), false);
        let html = super::super::render_report(Some((&s, &recs)), None);
        let sec = section(&html);
        assert!(sec.contains("No steady state (manual detection)"), "{sec}");
        assert!(sec.contains("leave no window"), "{sec}");
    }
}
