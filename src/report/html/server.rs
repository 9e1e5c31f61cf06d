//! The report's *Server* section: what the server and its GPUs said during the run, on the
//! same time axis as the client's charts (seconds since the first measured send), so a TTFT
//! rise can be read against the server's queue, KV cache, preemptions and GPU memory.
//!
//! Charts come from the run's scrapes (`server_metrics.jsonl`, kept with the summary while the
//! report is written); the tables from the summary's `server`, `gpu` and `sla` blocks. A
//! quantity the server does not expose is said to be missing, with the reason, never drawn as
//! zeros (llama.cpp's llama-server has no KV-cache gauge).

use super::{figure, timeline};
use crate::record::RequestRecord;
use crate::report::svg::{escape_html, Band, Chart, Kind, Series};
use crate::report::Summary;
use crate::telemetry::concepts::Concept;
use crate::telemetry::log::ScrapeLog;
use crate::telemetry::server::{gauge_series, memory_utilization_series, ConceptStats, ServerBlock};
use std::fmt::Write as _;

fn missing(out: &mut String, title: &str, why: &str) {
    let _ = write!(
        out,
        "<figure class=\"card\" style=\"margin:0\"><h3>{}</h3><p class=\"note\">Not available: {}</p></figure>",
        escape_html(title),
        escape_html(why)
    );
}

fn fmt(v: f64) -> String {
    if !v.is_finite() {
        "n/a".into()
    } else if v.abs() >= 1e5 {
        format!("{v:.3e}")
    } else if v.abs() >= 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

fn stats_cell(c: &ConceptStats) -> String {
    match c {
        ConceptStats::Gauge { mean, min, max, n, .. } => {
            format!(
                "mean {} · min {} · max {} ({n} scrapes)",
                fmt(*mean),
                fmt(*min),
                fmt(*max)
            )
        }
        ConceptStats::Counter {
            increase,
            per_s,
            resets,
            ..
        } => format!(
            "+{} ({} /s){}",
            fmt(*increase),
            fmt(*per_s),
            if *resets > 0 {
                format!(" · {resets} resets")
            } else {
                String::new()
            }
        ),
        ConceptStats::Histogram {
            count, mean, p50, p99, ..
        } => {
            let o = |v: &Option<f64>| v.map(fmt).unwrap_or_else(|| "n/a".into());
            format!(
                "n {} · mean {} · p50 ≈{} · p99 ≈{}",
                fmt(*count),
                o(mean),
                o(p50),
                o(p99)
            )
        }
        ConceptStats::Ratio { value, .. } => format!("{:.1} %", value * 100.0),
    }
}

fn block_table(out: &mut String, b: &ServerBlock) {
    let Some(t) = &b.total else { return };
    out.push_str("<table><thead><tr><th class=\"l\">concept</th><th class=\"l\">whole run</th><th class=\"l\">steady state</th><th class=\"l\">source</th></tr></thead><tbody>");
    for (k, v) in &t.concepts {
        let steady = b
            .steady_state
            .as_ref()
            .and_then(|s| s.concepts.get(k))
            .map(stats_cell)
            .unwrap_or_else(|| "—".into());
        let _ = write!(
            out,
            "<tr><td class=\"l mono\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l mono\">{}</td></tr>",
            escape_html(k),
            escape_html(&stats_cell(v)),
            escape_html(&steady),
            escape_html(v.source())
        );
    }
    for (k, why) in &b.unavailable {
        let _ = write!(
            out,
            "<tr><td class=\"l mono\">{}</td><td class=\"l\" colspan=\"3\">not available: {}</td></tr>",
            escape_html(k),
            escape_html(why)
        );
    }
    out.push_str("</tbody></table>");
}

/// Server-side mean TTFT per scrape interval (Δsum/Δcount between consecutive scrapes), ms.
fn server_ttft_per_interval(log: &ScrapeLog) -> Vec<(i64, f64)> {
    let mut out = Vec::new();
    for src in 0..log.sources.len() {
        let pts: Vec<(i64, &crate::telemetry::concepts::HistSnapshot)> = log
            .frames
            .iter()
            .filter(|f| f.source == src)
            .filter_map(|f| f.frame.hist(Concept::Ttft).map(|h| (f.t_us, h)))
            .collect();
        for w in pts.windows(2) {
            let (dc, ds) = (w[1].1.count - w[0].1.count, w[1].1.sum - w[0].1.sum);
            if dc > 0.0 && ds >= 0.0 {
                out.push((w[1].0, ds / dc * 1000.0));
            }
        }
    }
    out.sort_by_key(|p| p.0);
    out
}

/// The *Server* section (empty when the summary has no server or GPU block).
pub fn section(s: &Summary, records: &[RequestRecord]) -> String {
    let (Some(b), gpu) = (&s.server, &s.gpu) else {
        return String::new();
    };
    let mut out = String::from("<section id=\"server\"><h2>Server</h2>");
    if !b.available {
        let _ = write!(
            out,
            "<div class=\"warn\">No server metrics: {}</div>",
            escape_html(b.reason.as_deref().unwrap_or("unknown"))
        );
    } else {
        let endpoints: Vec<String> = b
            .endpoints
            .iter()
            .map(|e| {
                let engines: Vec<&str> = e.engines.iter().map(|x| x.as_str()).collect();
                format!(
                    "{} ({}; {} scrapes, {} failed)",
                    e.url,
                    if engines.is_empty() {
                        "unrecognized".to_string()
                    } else {
                        engines.join(" + ")
                    },
                    e.scrapes_ok,
                    e.scrapes_failed
                )
            })
            .collect();
        let _ = write!(
            out,
            "<p class=\"note\">Engine <b>{}</b>, scraped every {} s: {}. Server-side percentiles are estimates from histogram buckets; means are exact.</p>",
            escape_html(b.engine.map(|e| e.as_str()).unwrap_or("unknown")),
            b.scrapes.interval_s,
            escape_html(&endpoints.join("; "))
        );
    }
    if let Some(log) = s.scrapes.as_deref().filter(|_| b.available) {
        charts(&mut out, s, records, log, b);
    }
    if b.available {
        block_table(&mut out, b);
        if let Some(cc) = &b.cross_checks {
            out.push_str("<h3>Cross-checks with the client</h3><table><tbody>");
            for (name, c) in [
                ("generated tokens", &cc.generation_tokens),
                ("prompt tokens", &cc.prompt_tokens),
                ("requests finished", &cc.requests),
            ] {
                if let Some(c) = c {
                    let _ = write!(
                        out,
                        "<tr><td class=\"l\">{name}</td><td class=\"l\">server {} · client {} · difference {:+}</td></tr>",
                        fmt(c.server),
                        fmt(c.client),
                        c.server_minus_client
                    );
                }
            }
            if let Some(t) = &cc.ttft {
                let _ = write!(
                    out,
                    "<tr><td class=\"l\">TTFT mean</td><td class=\"l\">client {} ms · server {} ms · network + HTTP + client {} ms</td></tr>",
                    fmt(t.client_mean_ms),
                    t.server_mean_ms.map(fmt).unwrap_or_else(|| "n/a".into()),
                    t.network_http_client_mean_ms.map(fmt).unwrap_or_else(|| "n/a".into())
                );
            }
            out.push_str("</tbody></table>");
        }
    }
    if let Some(g) = gpu {
        out.push_str("<h3>GPU</h3>");
        if !g.available {
            let _ = write!(
                out,
                "<p class=\"note\">No GPU telemetry: {}</p>",
                escape_html(g.reason.as_deref().unwrap_or("unknown"))
            );
        } else if let Some(t) = &g.total {
            let mean = |c: &Option<ConceptStats>| c.as_ref().and_then(ConceptStats::mean);
            let _ = write!(
                out,
                "<p class=\"note\">{} GPU(s) from {}{}: memory utilization (used / total) {} · power {} · energy {} · {} output tokens/J</p>",
                g.gpus.len(),
                escape_html(g.source.as_deref().unwrap_or("?")),
                if g.simulated { " (simulated)" } else { "" },
                mean(&t.memory_utilization)
                    .map(|m| format!("{:.1} %", m * 100.0))
                    .unwrap_or_else(|| "n/a".into()),
                mean(&t.power_w).map(|p| format!("{p:.0} W")).unwrap_or_else(|| "n/a".into()),
                t.energy_j.map(|e| format!("{e:.0} J")).unwrap_or_else(|| "n/a".into()),
                t.output_tokens_per_joule.map(fmt).unwrap_or_else(|| "n/a".into())
            );
        }
    }
    if let Some(r) = &s.sla {
        let _ = write!(
            out,
            "<h3>SLA {} ({})</h3><table><thead><tr><th class=\"l\">objective</th><th>value</th><th>target</th><th class=\"l\">verdict</th><th class=\"l\">source</th></tr></thead><tbody>",
            escape_html(&r.profile.name),
            escape_html(&r.window.replace('_', " "))
        );
        for o in &r.objectives {
            let _ = write!(
                out,
                "<tr><td class=\"l mono\">{}</td><td>{}</td><td>{} {} {}</td><td class=\"l\"><b>{:?}</b></td><td class=\"l\">{}</td></tr>",
                escape_html(&o.objective),
                o.value.map(|v| format!("{v:.1} {}", o.unit)).unwrap_or_else(|| "n/a".into()),
                escape_html(&o.comparison),
                fmt(o.target),
                escape_html(&o.unit),
                o.verdict,
                escape_html(&[o.source.clone(), o.note.clone()].into_iter().flatten().collect::<Vec<_>>().join("; "))
            );
        }
        out.push_str("</tbody></table>");
    }
    out.push_str("</section>");
    out
}

fn charts(out: &mut String, s: &Summary, records: &[RequestRecord], log: &ScrapeLog, b: &ServerBlock) {
    let tl = timeline(records);
    let t0 = records
        .iter()
        .filter(|r| !r.warmup)
        .map(|r| r.send_us)
        .min()
        .unwrap_or(0) as i64;
    let rel = |v: Vec<(i64, f64)>, k: f64| -> Vec<(f64, f64)> {
        v.into_iter()
            .map(|(t, y)| ((t - t0) as f64 / 1e6, y * k))
            .filter(|p| p.0 >= -1.0)
            .collect()
    };
    let x = "seconds since the first send";
    let x_range = Some((0.0, tl.span_s.max(tl.bucket_s)));
    let bands: Vec<Band> = (s.steady_state.detected)
        .then(|| Band {
            x0: s.steady_state.window_start_s,
            x1: s.steady_state.window_end_s,
            label: "steady state".into(),
        })
        .into_iter()
        .collect();
    let chart = |id: &str, title: &str, y: &str| {
        let mut c = Chart::new(id, title, x, y);
        c.x_zero = true;
        c.x_range = x_range;
        c.bands = bands.clone();
        c
    };
    let why = |c: Concept| {
        b.unavailable
            .get(c.key())
            .cloned()
            .unwrap_or_else(|| "not exposed by the scraped endpoints".into())
    };
    out.push_str("<div class=\"grid\">");
    let mut c = chart(
        "srv-queue",
        "Server running and waiting vs client in flight",
        "requests",
    );
    c.series
        .push(Series::new("client in flight", Kind::Step, tl.in_flight.clone()).color(0));
    for (i, (concept, name)) in [
        (Concept::Running, "server running"),
        (Concept::Waiting, "server waiting"),
    ]
    .into_iter()
    .enumerate()
    {
        let pts = rel(gauge_series(log, concept), 1.0);
        if !pts.is_empty() {
            c.series.push(Series::new(name, Kind::Line, pts).color(i + 1));
        }
    }
    figure(out, &c, "server figures per scrape; the client's from its own records");
    let kv = rel(gauge_series(log, Concept::KvCacheUsage), 100.0);
    if kv.is_empty() {
        missing(out, "KV-cache usage", &why(Concept::KvCacheUsage));
    } else {
        let mut c = chart("srv-kv", "KV-cache usage", "% of the KV cache");
        c.series.push(Series::new("KV cache used", Kind::Line, kv).color(3));
        figure(
            out,
            &c,
            "the engine's KV-cache blocks in use; not GPU memory (the pool is preallocated)",
        );
    }
    let pre = gauge_like_counter(log, Concept::Preemptions);
    if pre.is_empty() {
        missing(out, "Preemptions", &why(Concept::Preemptions));
    } else {
        let mut c = chart("srv-preempt", "Preemptions since the run started", "preemptions");
        c.series
            .push(Series::new("preemptions", Kind::Step, rel(pre, 1.0)).color(1));
        figure(out, &c, "cumulative, from the first scrape");
    }
    let used = rel(gauge_series(log, Concept::GpuMemoryUsedBytes), 1e-9);
    if used.is_empty() {
        missing(out, "GPU memory", &why(Concept::GpuMemoryUsedBytes));
    } else {
        let mut c = chart("srv-gpu-mem", "GPU memory", "GB");
        c.series.push(Series::new("used", Kind::Line, used).color(4));
        let total = rel(gauge_series(log, Concept::GpuMemoryTotalBytes), 1e-9);
        if !total.is_empty() {
            c.series.push(Series::new("total", Kind::Line, total).color(5).dashed());
        }
        let util = memory_utilization_series(log);
        let note = util
            .last()
            .map(|u| {
                format!(
                    "memory utilization (used / total) {:.1} % at the last scrape",
                    u.1 * 100.0
                )
            })
            .unwrap_or_default();
        figure(out, &c, &note);
    }
    let mut c = chart(
        "srv-ttft",
        "TTFT: client per request, server per scrape interval",
        "TTFT (ms)",
    );
    c.series
        .push(Series::new("client (by send time)", Kind::Points, tl.ttft.clone()).color(0));
    let st = rel(server_ttft_per_interval(log), 1.0);
    let note = if st.is_empty() {
        format!("server: {}", why(Concept::Ttft))
    } else {
        c.series
            .push(Series::new("server mean per interval", Kind::Step, st).color(1));
        "the gap between the two is network, HTTP and client time (and the server counts from its own receipt)".into()
    };
    figure(out, &c, &note);
    out.push_str("</div>");
}

/// A counter as its increase since the first scrape (one source per concept is enough here:
/// the sum over sources per round).
fn gauge_like_counter(log: &ScrapeLog, c: Concept) -> Vec<(i64, f64)> {
    let mut by_tick: std::collections::BTreeMap<u64, (i64, f64)> = Default::default();
    for f in &log.frames {
        if let Some(v) = f.frame.value(c) {
            let e = by_tick.entry(f.tick).or_insert((f.t_us, 0.0));
            e.1 += v;
        }
    }
    let v: Vec<(i64, f64)> = by_tick.into_values().collect();
    let Some(&(_, base)) = v.first() else {
        return v;
    };
    let mut acc = 0.0;
    let mut prev = base;
    v.into_iter()
        .map(|(t, x)| {
            acc += if x >= prev { x - prev } else { x };
            prev = x;
            (t, acc)
        })
        .collect()
}
