//! The summary's telemetry blocks: `server`, `gpu` and `sla` filled in from a run's scrapes
//! and records (after a run, and again by `report DIR`), the console lines that show them, and
//! the server's side of a sweep stage's saturation. The telemetry room measures; this is where
//! its figures meet the summary, so that telemetry never depends on the report.

use super::Summary;
use crate::record::RequestRecord;
use crate::telemetry::gpu::GpuBlock;
use crate::telemetry::log::ScrapeLog;
use crate::telemetry::server::{ClientView, ConceptStats, ServerBlock, ServerSignals};
use crate::telemetry::sla::{evaluate, SlaInputs, SlaProfile};
use std::sync::Arc;

/// Fill the summary's `server`, `gpu` and `sla` blocks from a run's scrapes (`log`, `None`
/// when nothing was scraped, `why_none` saying why) and records.
pub fn attach(
    summary: &mut Summary,
    records: &[RequestRecord],
    log: Option<&ScrapeLog>,
    why_none: Option<&str>,
    interval_s: f64,
    sla: Option<&SlaProfile>,
) {
    let client = ClientView::new(records, &summary.metrics, &summary.steady_state);
    match log {
        Some(log) => {
            let mut server = ServerBlock::compute(log, &client, interval_s);
            if let (Some(cpu), true) = (log.scraper_cpu_s, log.rounds > 0) {
                server.scrapes.cpu_ms_per_round = Some(cpu * 1000.0 / log.rounds as f64);
            }
            if log.endpoints().next().is_none() {
                server = ServerBlock::unavailable(why_none.unwrap_or("no metrics endpoint to scrape"));
            }
            summary.gpu = Some(GpuBlock::compute(log, &client));
            summary.server = Some(server);
            summary.scrapes = Some(Arc::new(log.clone()));
        }
        None => {
            let why = why_none.unwrap_or("no metrics endpoint to scrape").to_string();
            summary.server = Some(ServerBlock::unavailable(why.clone()));
            summary.gpu = Some(GpuBlock::unavailable(format!(
                "no GPU telemetry ({why}; NVML not used)"
            )));
        }
    }
    summary.sla = sla.map(|p| evaluate(p, &sla_inputs(summary)));
}

/// What the SLA is judged on: the steady-state window when detected, else the whole run.
pub fn sla_inputs(s: &Summary) -> SlaInputs {
    let steady = s.steady_state.detected;
    let (ttft, tps) = if steady {
        (
            s.steady_state.metrics.latency_ms.ttft,
            s.steady_state.metrics.throughput.output_tokens_per_s,
        )
    } else {
        (s.metrics.latency_ms.ttft, s.metrics.throughput.output_tokens_per_s)
    };
    let gpu_window = s.gpu.as_ref().filter(|g| g.available).and_then(|g| {
        let w = if steady {
            g.steady_state.as_ref()
        } else {
            g.total.as_ref()
        };
        w.and_then(|w| w.memory_utilization.as_ref())
            .and_then(ConceptStats::mean)
            .map(|m| (m, g.source.clone().unwrap_or_default()))
    });
    let server_window = s.server.as_ref().and_then(|b| {
        if steady {
            b.steady_state.as_ref()
        } else {
            b.total.as_ref()
        }
    });
    let kv = server_window.and_then(|w| {
        let c = w.get(crate::telemetry::concepts::Concept::KvCacheUsage)?;
        Some((c.mean()?, c.source().to_string()))
    });
    SlaInputs {
        window: if steady { "steady_state" } else { "total" }.into(),
        ttft,
        output_tokens_per_s: tps,
        memory_utilization: gpu_window,
        kv_cache_usage: kv,
    }
}

/// The console lines for the server, GPU and SLA blocks (empty when there is nothing to say).
pub fn console(s: &Summary) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    if let Some(b) = &s.server {
        if !b.available {
            let _ = writeln!(
                out,
                "server metrics: none ({})",
                b.reason.as_deref().unwrap_or("unknown")
            );
        } else if let Some(t) = &b.total {
            let _ = writeln!(
                out,
                "server ({}, {} scrapes{}):",
                b.engine.map(|e| e.as_str()).unwrap_or("unknown engine"),
                b.scrapes.ok,
                if b.scrapes.failed > 0 {
                    format!(", {} failed", b.scrapes.failed)
                } else {
                    String::new()
                }
            );
            let g = |c: crate::telemetry::concepts::Concept| t.get(c);
            let mut parts = Vec::new();
            for (label, c, scale, unit) in [
                ("running", crate::telemetry::concepts::Concept::Running, 1.0, ""),
                ("waiting", crate::telemetry::concepts::Concept::Waiting, 1.0, ""),
                (
                    "KV cache",
                    crate::telemetry::concepts::Concept::KvCacheUsage,
                    100.0,
                    " %",
                ),
            ] {
                if let Some(ConceptStats::Gauge { mean, max, .. }) = g(c) {
                    parts.push(format!(
                        "{label} mean {:.1}{unit} max {:.1}{unit}",
                        mean * scale,
                        max * scale
                    ));
                }
            }
            if let Some(p) = g(crate::telemetry::concepts::Concept::Preemptions).and_then(ConceptStats::increase) {
                parts.push(format!("preemptions {p:.0}"));
            }
            if let Some(ConceptStats::Ratio { value, .. }) = t.concepts.get("prefix_cache_hit_rate") {
                parts.push(format!("prefix-cache hits {:.1} %", value * 100.0));
            }
            if !parts.is_empty() {
                let _ = writeln!(out, "  {}", parts.join(", "));
            }
            if let Some(ConceptStats::Histogram { p50, p99, .. }) = g(crate::telemetry::concepts::Concept::Ttft) {
                let _ = writeln!(
                    out,
                    "  server TTFT p50 {} ms, p99 {} ms (bucket estimates)",
                    p50.map(|v| format!("{v:.1}")).unwrap_or_else(|| "n/a".into()),
                    p99.map(|v| format!("{v:.1}")).unwrap_or_else(|| "n/a".into())
                );
            }
            if let Some(cc) = &b.cross_checks {
                if let Some(tc) = &cc.ttft {
                    if let Some(d) = tc.network_http_client_mean_ms {
                        let _ = writeln!(out, "  client − server TTFT (network + HTTP + client): {d:.1} ms mean");
                    }
                }
                if let Some(g) = &cc.generation_tokens {
                    let _ = writeln!(
                        out,
                        "  generated tokens: server {:.0}, client {:.0} (difference {:+.0})",
                        g.server, g.client, g.server_minus_client
                    );
                }
            }
            for (k, why) in &b.unavailable {
                if k == "kv_cache_usage" || k == "engine" {
                    let _ = writeln!(out, "  {k}: {why}");
                }
            }
        }
    }
    if let Some(g) = &s.gpu {
        if let (true, Some(t)) = (g.available, &g.total) {
            let mut parts = Vec::new();
            if let Some(m) = t.memory_utilization.as_ref().and_then(ConceptStats::mean) {
                parts.push(format!("memory utilization {:.1} %", m * 100.0));
            }
            if let Some(p) = t.power_w.as_ref().and_then(ConceptStats::mean) {
                parts.push(format!("power {p:.0} W"));
            }
            if let Some(e) = t.energy_j {
                parts.push(format!("energy {e:.0} J"));
            }
            if let Some(tpj) = t.output_tokens_per_joule {
                parts.push(format!("{tpj:.2} output tokens/J"));
            }
            let _ = writeln!(
                out,
                "GPU ({}{}, {} GPU(s)): {}",
                g.source.as_deref().unwrap_or("?"),
                if g.simulated { ", simulated" } else { "" },
                g.gpus.len(),
                parts.join(", ")
            );
        }
    }
    if let Some(r) = &s.sla {
        for l in crate::telemetry::sla::console_lines(r) {
            let _ = writeln!(out, "{l}");
        }
    }
    out
}

/// Server-side reasons for a sweep stage's saturation, in words.
pub fn saturation_signals(s: &Summary) -> Option<ServerSignals> {
    s.server.as_ref().filter(|b| b.available).map(ServerSignals::from_block)
}
