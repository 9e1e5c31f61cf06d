//! The summary's `server` block: what the server itself reported during the run, per
//! normalized concept, over the whole run and over the steady-state window, with cross-checks
//! against the client's own measurements — computed as a pure function of the [`ScrapeLog`]
//! and a few client figures, so the same numbers come back from `infermeter report DIR`.
//!
//! Per concept (formulas in docs/metrics.md, "Server metrics"):
//! * gauges: statistics of the scraped values inside the window (one value per scrape round;
//!   several sources of one concept are summed, fractions averaged, per round);
//! * counters: the increase over the window's span ([`super::window`]), resets handled, and
//!   its rate `increase / span seconds`;
//! * histograms: the window's delta histogram; `mean = Δsum/Δcount` (exact) and `p50..p99`
//!   by Prometheus's `histogram_quantile` interpolation (estimates: bucket-resolution only;
//!   `p50_bucket_ms` says which bucket the median fell in);
//! * `prefix_cache_hit_rate` = Δhits / Δqueries; `gpu_memory_utilization` = Σ used / Σ total
//!   per scrape round (0–1).
//!
//! Cross-checks: server generation (prompt) token increase vs the client's output (input)
//! total, and server TTFT vs client TTFT — their difference is network + HTTP + client time,
//! and is labelled as such. The server counts every request it saw, including failed ones
//! and other clients' traffic; the client counts its successful requests only.

use super::concepts::{Agg, Concept, Engine, Kind};
use super::log::ScrapeLog;
use super::window::{bucket_of, counter_increase, histogram_delta, histogram_quantile};
use crate::metrics::Stats;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One concept's statistics over a window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ConceptStats {
    Gauge {
        source: String,
        n: u64,
        mean: f64,
        min: f64,
        p50: f64,
        p90: f64,
        max: f64,
        first: f64,
        last: f64,
    },
    Counter {
        source: String,
        increase: f64,
        per_s: f64,
        resets: u32,
    },
    Histogram {
        source: String,
        count: f64,
        /// Exact: Δsum / Δcount (ms for latency histograms).
        mean: Option<f64>,
        p50: Option<f64>,
        p90: Option<f64>,
        p95: Option<f64>,
        p99: Option<f64>,
        /// The bucket `[lower, upper]` the median fell in: the estimate's resolution.
        p50_bucket: Option<[f64; 2]>,
        p99_bucket: Option<[f64; 2]>,
        resets: u32,
    },
    Ratio {
        source: String,
        value: f64,
    },
}

impl ConceptStats {
    pub fn mean(&self) -> Option<f64> {
        match self {
            ConceptStats::Gauge { mean, .. } => Some(*mean),
            ConceptStats::Histogram { mean, .. } => *mean,
            ConceptStats::Ratio { value, .. } => Some(*value),
            ConceptStats::Counter { .. } => None,
        }
    }
    pub fn max(&self) -> Option<f64> {
        match self {
            ConceptStats::Gauge { max, .. } => Some(*max),
            _ => None,
        }
    }
    pub fn increase(&self) -> Option<f64> {
        match self {
            ConceptStats::Counter { increase, .. } => Some(*increase),
            _ => None,
        }
    }
    pub fn source(&self) -> &str {
        match self {
            ConceptStats::Gauge { source, .. }
            | ConceptStats::Counter { source, .. }
            | ConceptStats::Histogram { source, .. }
            | ConceptStats::Ratio { source, .. } => source,
        }
    }
}

/// Concept statistics over one window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WindowStats {
    /// Window on the run's clock, seconds from the first measured send.
    pub window_start_s: f64,
    pub window_end_s: f64,
    #[serde(flatten)]
    pub concepts: BTreeMap<String, ConceptStats>,
}

impl WindowStats {
    pub fn get(&self, c: Concept) -> Option<&ConceptStats> {
        self.concepts.get(c.key())
    }
}

/// Scrape counts over all endpoints.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScrapeCounts {
    pub ok: u64,
    pub failed: u64,
    pub interval_s: f64,
    /// CPU time of the scraper's thread per round (all sources: HTTP, parsing, writing the
    /// line, normalizing), ms. Live runs only.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cpu_ms_per_round: Option<f64>,
}

/// Token count cross-check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenCheck {
    pub server: f64,
    pub client: f64,
    pub server_minus_client: f64,
    /// `server / client` (1 = agreement).
    pub ratio: Option<f64>,
}

/// Server vs client TTFT: the difference is time outside the engine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TtftCheck {
    pub server_mean_ms: Option<f64>,
    pub client_mean_ms: f64,
    /// `client − server` mean TTFT: network + HTTP + client time (both means are exact).
    pub network_http_client_mean_ms: Option<f64>,
    pub server_p50_ms: Option<f64>,
    pub client_p50_ms: f64,
    /// `client − server` median (the server's is a bucket estimate).
    pub network_http_client_p50_ms: Option<f64>,
    /// Observations in the server histogram vs successful client requests.
    pub server_count: f64,
    pub client_count: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CrossChecks {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub generation_tokens: Option<TokenCheck>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub prompt_tokens: Option<TokenCheck>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub requests: Option<TokenCheck>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub ttft: Option<TtftCheck>,
}

/// The `server` block of `summary.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerBlock {
    /// False when there is nothing to report; `reason` says why.
    pub available: bool,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<String>,
    /// The detected serving engine (`vllm`, `sglang`, `tgi`, `llama.cpp`, `tensorrt-llm`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub engine: Option<Engine>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub endpoints: Vec<super::log::SourceStatus>,
    pub scrapes: ScrapeCounts,
    /// Whole run: from the first measured send to the last token.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub total: Option<WindowStats>,
    /// The steady-state window (absent when none was detected).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub steady_state: Option<WindowStats>,
    /// Concepts the server does not expose, and why (never reported as zero).
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub unavailable: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cross_checks: Option<CrossChecks>,
    /// Growth of the server's waiting queue while requests were being sent, requests/s:
    /// (waiting at the last send − waiting at the first) / send span (the drain after the
    /// last send, when the queue empties, is left out).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub queue_growth_per_s: Option<f64>,
}

/// The client figures the block is aligned and cross-checked with. Times are µs on the run's
/// clock (the clock of `records.jsonl`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClientView {
    /// First measured send, last token.
    pub window: (i64, i64),
    /// Last measured send.
    pub last_send: i64,
    pub steady: Option<(i64, i64)>,
    pub output_tokens: u64,
    pub input_tokens: u64,
    pub requests_total: u64,
    pub ttft: Stats,
}

impl ClientView {
    /// From the run's records and their metrics (steady window in seconds from the first send).
    pub fn new(
        records: &[crate::record::RequestRecord],
        metrics: &crate::metrics::RunMetrics,
        steady: &crate::metrics::steady::SteadyState,
    ) -> ClientView {
        let measured = || records.iter().filter(|r| !r.warmup);
        let t0 = measured().map(|r| r.send_us).min().unwrap_or(0) as i64;
        let t1 = measured()
            .filter_map(|r| r.last_token_abs_us())
            .max()
            .unwrap_or(t0 as u64) as i64;
        ClientView {
            window: (t0, t1.max(t0)),
            last_send: measured().map(|r| r.send_us).max().unwrap_or(0) as i64,
            steady: steady.detected.then(|| {
                (
                    t0 + (steady.window_start_s * 1e6) as i64,
                    t0 + (steady.window_end_s * 1e6) as i64,
                )
            }),
            output_tokens: metrics.tokens.output,
            input_tokens: metrics.tokens.input,
            requests_total: metrics.requests.total,
            ttft: metrics.latency_ms.ttft,
        }
    }
}

/// Concepts a report is expected to show; a missing one is listed in `unavailable`.
const EXPECTED: [Concept; 10] = [
    Concept::Running,
    Concept::Waiting,
    Concept::KvCacheUsage,
    Concept::Preemptions,
    Concept::PromptTokens,
    Concept::GenerationTokens,
    Concept::Ttft,
    Concept::Itl,
    Concept::E2e,
    Concept::QueueTime,
];

/// The providers of concept `c`: source index → its frames' (t, tick, reading index).
fn providers(log: &ScrapeLog, c: Concept) -> Vec<usize> {
    let mut v: Vec<usize> = log
        .frames
        .iter()
        .filter(|f| f.frame.values.contains_key(&c))
        .map(|f| f.source)
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

fn source_names(log: &ScrapeLog, c: Concept, provs: &[usize]) -> String {
    let mut names: Vec<String> = Vec::new();
    for &p in provs {
        if let Some(f) = log
            .frames
            .iter()
            .find(|f| f.source == p && f.frame.sources.contains_key(&c))
        {
            let n = f.frame.sources[&c].clone();
            if !names.contains(&n) {
                names.push(n);
            }
        }
    }
    names.join(", ")
}

/// A gauge concept per scrape round, all providers combined: `(t_us, value)`, time-sorted.
/// Rounds where a provider is missing are left out (a partial sum would mislead).
pub fn gauge_series(log: &ScrapeLog, c: Concept) -> Vec<(i64, f64)> {
    let provs = providers(log, c);
    if provs.is_empty() {
        return Vec::new();
    }
    let mut by_tick: BTreeMap<u64, Vec<(i64, f64)>> = BTreeMap::new();
    for f in &log.frames {
        if let Some(v) = f.frame.value(c) {
            by_tick.entry(f.tick).or_default().push((f.t_us, v));
        }
    }
    let mut out: Vec<(i64, f64)> = by_tick
        .into_values()
        .filter(|v| v.len() == provs.len())
        .map(|v| {
            let n = v.len() as f64;
            let t = (v.iter().map(|p| p.0 as f64).sum::<f64>() / n) as i64;
            let sum: f64 = v.iter().map(|p| p.1).sum();
            (
                t,
                match c.agg() {
                    Agg::Sum => sum,
                    Agg::Mean => sum / n,
                },
            )
        })
        .collect();
    out.sort_by_key(|p| p.0);
    out
}

fn gauge_stats(series: &[(i64, f64)], a: i64, b: i64, source: String) -> Option<ConceptStats> {
    let inside: Vec<f64> = series.iter().filter(|p| p.0 >= a && p.0 <= b).map(|p| p.1).collect();
    let (first, last) = (*inside.first()?, *inside.last()?);
    let s = Stats::from_samples(inside);
    Some(ConceptStats::Gauge {
        source,
        n: s.n,
        // The sum of equal values divided back can round below them.
        mean: s.mean.clamp(s.min, s.max),
        min: s.min,
        p50: s.p50,
        p90: s.p90,
        max: s.max,
        first,
        last,
    })
}

fn counter_stats(log: &ScrapeLog, c: Concept, a: i64, b: i64) -> Option<ConceptStats> {
    let provs = providers(log, c);
    let mut total = 0.0;
    let mut seconds: f64 = 0.0;
    let mut resets = 0;
    let mut any = false;
    for &p in &provs {
        let pts: Vec<(i64, f64)> = log
            .frames
            .iter()
            .filter(|f| f.source == p)
            .filter_map(|f| f.frame.value(c).map(|v| (f.t_us, v)))
            .collect();
        if let Some(inc) = counter_increase(&pts, a, b) {
            total += inc.increase;
            seconds = seconds.max(inc.seconds);
            resets += inc.resets;
            any = true;
        }
    }
    any.then(|| ConceptStats::Counter {
        source: source_names(log, c, &provs),
        increase: total,
        per_s: if seconds > 0.0 { total / seconds } else { 0.0 },
        resets,
    })
}

fn histogram_stats(log: &ScrapeLog, c: Concept, a: i64, b: i64) -> Option<ConceptStats> {
    let provs = providers(log, c);
    let mut merged: Option<super::concepts::HistSnapshot> = None;
    let mut resets = 0;
    for &p in &provs {
        let pts: Vec<(i64, &super::concepts::HistSnapshot)> = log
            .frames
            .iter()
            .filter(|f| f.source == p)
            .filter_map(|f| f.frame.hist(c).map(|h| (f.t_us, h)))
            .collect();
        let Some((d, r)) = histogram_delta(&pts, a, b) else {
            continue;
        };
        resets += r;
        match &mut merged {
            None => merged = Some(d),
            Some(m) if m.bounds == d.bounds => {
                for (x, y) in m.cumulative.iter_mut().zip(&d.cumulative) {
                    *x += y;
                }
                m.sum += d.sum;
                m.count += d.count;
            }
            // Different bucket layouts cannot be added; the first provider stands alone.
            Some(_) => {}
        }
    }
    let h = merged?;
    let ms = |v: f64| v * 1000.0;
    let q = |p: f64| histogram_quantile(p, &h.bounds, &h.cumulative).map(ms);
    let bucket = |v: Option<f64>| {
        v.and_then(|v| bucket_of(v / 1000.0, &h.bounds))
            .map(|(lo, hi)| [ms(lo), if hi.is_finite() { ms(hi) } else { hi }])
            .filter(|b| b[1].is_finite())
    };
    let (p50, p99) = (q(0.5), q(0.99));
    Some(ConceptStats::Histogram {
        source: source_names(log, c, &provs),
        count: h.count,
        mean: (h.count > 0.0).then(|| ms(h.sum / h.count)),
        p50,
        p90: q(0.9),
        p95: q(0.95),
        p99,
        p50_bucket: bucket(p50),
        p99_bucket: bucket(p99),
        resets,
    })
}

/// Statistics of every available concept over `[a, b]` (µs on the run's clock); `t0` is the
/// first measured send (window bounds are reported in seconds from it).
pub fn window_stats(log: &ScrapeLog, a: i64, b: i64, t0: i64) -> WindowStats {
    let mut out = WindowStats {
        window_start_s: (a - t0) as f64 / 1e6,
        window_end_s: (b - t0) as f64 / 1e6,
        concepts: BTreeMap::new(),
    };
    for c in Concept::ALL {
        let stats = match c.kind() {
            Kind::Gauge => {
                let provs = providers(log, c);
                gauge_stats(&gauge_series(log, c), a, b, source_names(log, c, &provs))
            }
            Kind::Counter => counter_stats(log, c, a, b),
            Kind::Histogram => histogram_stats(log, c, a, b),
        };
        if let Some(s) = stats {
            out.concepts.insert(c.key().to_string(), s);
        }
    }
    // Derived: prefix-cache hit rate and GPU memory utilization.
    if let (Some(h), Some(q)) = (
        out.get(Concept::PrefixCacheHits).and_then(ConceptStats::increase),
        out.get(Concept::PrefixCacheQueries).and_then(ConceptStats::increase),
    ) {
        if q > 0.0 {
            out.concepts.insert(
                "prefix_cache_hit_rate".into(),
                ConceptStats::Ratio {
                    source: format!(
                        "Δ{} / Δ{}",
                        out.get(Concept::PrefixCacheHits)
                            .map(ConceptStats::source)
                            .unwrap_or(""),
                        out.get(Concept::PrefixCacheQueries)
                            .map(ConceptStats::source)
                            .unwrap_or("")
                    ),
                    value: h / q,
                },
            );
        }
    }
    let util = memory_utilization_series(log);
    if let Some(s) = gauge_stats(&util, a, b, "Σ gpu_memory_used_bytes / Σ gpu_memory_total_bytes".into()) {
        out.concepts.insert("gpu_memory_utilization".into(), s);
    }
    out
}

/// Σ used / Σ total GPU memory per scrape round (0–1), from scraped sources.
pub fn memory_utilization_series(log: &ScrapeLog) -> Vec<(i64, f64)> {
    let used = gauge_series(log, Concept::GpuMemoryUsedBytes);
    let total = gauge_series(log, Concept::GpuMemoryTotalBytes);
    let mut out = Vec::new();
    let mut j = 0;
    for (t, u) in used {
        while j < total.len() && total[j].0 < t {
            j += 1;
        }
        if let Some(&(tt, v)) = total.get(j) {
            if tt == t && v > 0.0 {
                out.push((t, u / v));
            }
        }
    }
    out
}

impl ServerBlock {
    /// No server block, and why.
    pub fn unavailable(reason: impl Into<String>) -> ServerBlock {
        ServerBlock {
            available: false,
            reason: Some(reason.into()),
            ..Default::default()
        }
    }

    /// Compute the block from a run's scrapes.
    pub fn compute(log: &ScrapeLog, client: &ClientView, interval_s: f64) -> ServerBlock {
        let endpoints: Vec<_> = log.endpoints().map(|(_, s)| s.clone()).collect();
        let scrapes = ScrapeCounts {
            ok: endpoints.iter().map(|s| s.scrapes_ok).sum(),
            failed: endpoints.iter().map(|s| s.scrapes_failed).sum(),
            interval_s,
            cpu_ms_per_round: None,
        };
        if endpoints.is_empty() {
            return ServerBlock::unavailable("no metrics endpoint was scraped");
        }
        if log.frames.is_empty() {
            let why: Vec<String> = endpoints
                .iter()
                .map(|s| {
                    format!(
                        "{}: {}",
                        s.url,
                        s.first_error.as_deref().unwrap_or("no scrape completed during the run")
                    )
                })
                .collect();
            return ServerBlock {
                available: false,
                reason: Some(format!("every scrape failed ({})", why.join("; "))),
                endpoints,
                scrapes,
                ..Default::default()
            };
        }
        let (a, b) = client.window;
        let total = window_stats(log, a, b, a);
        let steady_state = client.steady.map(|(sa, sb)| window_stats(log, sa, sb, a));
        let engine = log.engine();
        let mut unavailable = BTreeMap::new();
        match engine {
            None => {
                unavailable.insert(
                    "engine".to_string(),
                    "no known engine metric names (vllm:, sglang:, tgi_, llamacpp:, trtllm_) were found".to_string(),
                );
            }
            Some(e) => {
                for &(c, why) in e.known_gaps() {
                    if total.get(c).is_none() {
                        unavailable.insert(c.key().to_string(), why.to_string());
                    }
                }
                for c in EXPECTED {
                    if total.get(c).is_none() && !unavailable.contains_key(c.key()) {
                        unavailable.insert(c.key().to_string(), format!("not exposed by {}", e.as_str()));
                    }
                }
            }
        }
        if total.get(Concept::GpuMemoryUsedBytes).is_none() {
            unavailable.insert(
                Concept::GpuMemoryUsedBytes.key().to_string(),
                "no GPU memory metrics among the scraped endpoints (scrape a DCGM exporter with --server-metrics, or use --gpu-telemetry on the GPU host)".to_string(),
            );
        }
        let cross_checks = Some(cross_checks(&total, client));
        let queue_growth_per_s = {
            let w = gauge_series(log, Concept::Waiting);
            let at = |t: i64| w.iter().rev().find(|p| p.0 <= t).or(w.first()).map(|p| p.1);
            let span = (client.last_send - a) as f64 / 1e6;
            match (at(a), at(client.last_send)) {
                (Some(w0), Some(w1)) if span > 0.0 => Some((w1 - w0) / span),
                _ => None,
            }
        };
        ServerBlock {
            queue_growth_per_s,
            available: true,
            reason: None,
            engine,
            endpoints,
            scrapes,
            total: Some(total),
            steady_state,
            unavailable,
            cross_checks,
        }
    }
}

fn token_check(server: Option<f64>, client: f64) -> Option<TokenCheck> {
    let server = server?;
    Some(TokenCheck {
        server,
        client,
        server_minus_client: server - client,
        ratio: (client > 0.0).then(|| server / client),
    })
}

fn cross_checks(total: &WindowStats, client: &ClientView) -> CrossChecks {
    let inc = |c: Concept| total.get(c).and_then(ConceptStats::increase);
    let ttft = match total.get(Concept::Ttft) {
        Some(ConceptStats::Histogram { mean, p50, count, .. }) if client.ttft.n > 0 => Some(TtftCheck {
            server_mean_ms: *mean,
            client_mean_ms: client.ttft.mean,
            network_http_client_mean_ms: mean.map(|m| client.ttft.mean - m),
            server_p50_ms: *p50,
            client_p50_ms: client.ttft.p50,
            network_http_client_p50_ms: p50.map(|m| client.ttft.p50 - m),
            server_count: *count,
            client_count: client.ttft.n,
        }),
        _ => None,
    };
    CrossChecks {
        generation_tokens: token_check(inc(Concept::GenerationTokens), client.output_tokens as f64),
        prompt_tokens: token_check(inc(Concept::PromptTokens), client.input_tokens as f64),
        requests: token_check(inc(Concept::RequestsFinished), client.requests_total as f64),
        ttft,
    }
}

/// What the server said about saturation during one sweep stage.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerSignals {
    /// Growth of the waiting queue over the stage, requests per second (`(last − first) / T`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub queue_growth_per_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub waiting_max: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub preemptions: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub kv_cache_usage_max: Option<f64>,
    /// KV-cache usage reached [`KV_FULL`].
    pub kv_at_capacity: bool,
}

/// KV-cache usage from which the cache counts as full (vLLM starts preempting near 1.0).
pub const KV_FULL: f64 = 0.95;
/// Queue growth (requests/s) from which the waiting queue counts as building up.
pub const QUEUE_GROWTH: f64 = 0.5;

impl ServerSignals {
    pub fn from_block(b: &ServerBlock) -> ServerSignals {
        let Some(t) = &b.total else {
            return ServerSignals::default();
        };
        let wmax = t.get(Concept::Waiting).and_then(ConceptStats::max);
        let growth = b.queue_growth_per_s;
        let kv = t.get(Concept::KvCacheUsage).and_then(ConceptStats::max);
        ServerSignals {
            queue_growth_per_s: growth,
            waiting_max: wmax,
            preemptions: t.get(Concept::Preemptions).and_then(ConceptStats::increase),
            kv_cache_usage_max: kv,
            kv_at_capacity: kv.is_some_and(|k| k >= KV_FULL),
        }
    }

    /// The server-side reasons, in words (empty when the server showed no sign).
    pub fn explain(&self) -> Vec<String> {
        let mut v = Vec::new();
        if let Some(g) = self.queue_growth_per_s.filter(|g| *g >= QUEUE_GROWTH) {
            v.push(format!(
                "server queue grew {g:.1} requests/s (up to {:.0} waiting)",
                self.waiting_max.unwrap_or(0.0)
            ));
        }
        if let Some(p) = self.preemptions.filter(|p| *p > 0.0) {
            v.push(format!("{p:.0} preemptions"));
        }
        if self.kv_at_capacity {
            v.push(format!(
                "KV cache at capacity ({:.0} % used)",
                self.kv_cache_usage_max.unwrap_or(0.0) * 100.0
            ));
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::expo::parse;
    use crate::telemetry::log::ScrapeLine;

    fn line(t_us: i64, tick: u64, source: &str, text: &str) -> ScrapeLine {
        let e = parse(text).unwrap();
        ScrapeLine {
            t_us,
            tick,
            source: source.into(),
            latency_us: Some(1000),
            status: Some(200),
            types: e.types,
            samples: e.samples,
            ..Default::default()
        }
    }

    fn vllm(waiting: f64, kv: f64, gen: f64, prompt: f64, ttft: [f64; 3], ttft_sum: f64, pre: f64) -> String {
        format!(
            "vllm:num_requests_waiting{{engine=\"0\"}} {waiting}\nvllm:kv_cache_usage_perc{{engine=\"0\"}} {kv}\n\
vllm:generation_tokens_total{{engine=\"0\"}} {gen}\nvllm:prompt_tokens_total{{engine=\"0\"}} {prompt}\n\
vllm:num_preemptions_total{{engine=\"0\"}} {pre}\n\
vllm:time_to_first_token_seconds_bucket{{engine=\"0\",le=\"0.02\"}} {}\n\
vllm:time_to_first_token_seconds_bucket{{engine=\"0\",le=\"0.04\"}} {}\n\
vllm:time_to_first_token_seconds_bucket{{engine=\"0\",le=\"+Inf\"}} {}\n\
vllm:time_to_first_token_seconds_sum{{engine=\"0\"}} {ttft_sum}\n\
vllm:time_to_first_token_seconds_count{{engine=\"0\"}} {}\n",
            ttft[0], ttft[1], ttft[2], ttft[2]
        )
    }

    fn log() -> ScrapeLog {
        let mut log = ScrapeLog::default();
        let u = "http://e/metrics";
        // baseline before the run, three scrapes during it, one after
        log.absorb(&line(
            -100_000,
            0,
            u,
            &vllm(0.0, 0.0, 50.0, 10.0, [0.0, 0.0, 0.0], 0.0, 0.0),
        ));
        log.absorb(&line(
            1_000_000,
            1,
            u,
            &vllm(2.0, 0.5, 150.0, 110.0, [2.0, 4.0, 4.0], 0.1, 0.0),
        ));
        log.absorb(&line(
            2_000_000,
            2,
            u,
            &vllm(6.0, 0.97, 250.0, 210.0, [2.0, 8.0, 8.0], 0.22, 3.0),
        ));
        log.absorb(&line(
            3_000_000,
            3,
            u,
            &vllm(10.0, 0.9, 350.0, 310.0, [2.0, 8.0, 10.0], 0.34, 3.0),
        ));
        log.absorb(&line(
            3_500_000,
            4,
            u,
            &vllm(0.0, 0.1, 350.0, 310.0, [2.0, 8.0, 10.0], 0.34, 3.0),
        ));
        log.sort();
        log
    }

    fn client() -> ClientView {
        ClientView {
            window: (0, 3_200_000),
            last_send: 3_000_000,
            steady: Some((900_000, 3_000_000)),
            output_tokens: 290,
            input_tokens: 300,
            requests_total: 10,
            ttft: Stats {
                n: 10,
                mean: 40.0,
                p50: 35.0,
                ..Default::default()
            },
        }
    }

    #[test]
    fn block_from_a_hand_made_scrape_series() {
        let b = ServerBlock::compute(&log(), &client(), 1.0);
        assert!(b.available);
        assert_eq!(b.engine, Some(Engine::Vllm));
        let t = b.total.as_ref().unwrap();
        // Gauges: the three scrapes inside [0, 3.2 s].
        match t.get(Concept::Waiting).unwrap() {
            ConceptStats::Gauge {
                n,
                mean,
                first,
                last,
                max,
                ..
            } => {
                assert_eq!((*n, *mean, *first, *last, *max), (3, 6.0, 2.0, 10.0, 10.0));
            }
            other => panic!("{other:?}"),
        }
        // Counters: span from the baseline (−0.1 s) to the first scrape after 3.2 s (3.5 s).
        match t.get(Concept::GenerationTokens).unwrap() {
            ConceptStats::Counter { increase, per_s, .. } => {
                assert_eq!(*increase, 300.0);
                assert!((per_s - 300.0 / 3.6).abs() < 1e-9);
            }
            other => panic!("{other:?}"),
        }
        // Histogram: 10 observations, 2 ≤ 20 ms, 6 in (20, 40] ms, 2 above; sum 0.34 s.
        match t.get(Concept::Ttft).unwrap() {
            ConceptStats::Histogram {
                count,
                mean,
                p50,
                p99,
                p50_bucket,
                ..
            } => {
                assert_eq!(*count, 10.0);
                assert!((mean.unwrap() - 34.0).abs() < 1e-9);
                // rank 5: 20 + 20 · (5 − 2)/6 = 30 ms
                assert!((p50.unwrap() - 30.0).abs() < 1e-9);
                assert_eq!(*p99, Some(40.0));
                assert_eq!(*p50_bucket, Some([20.0, 40.0]));
            }
            other => panic!("{other:?}"),
        }
        let cc = b.cross_checks.as_ref().unwrap();
        let g = cc.generation_tokens.as_ref().unwrap();
        assert_eq!((g.server, g.client, g.server_minus_client), (300.0, 290.0, 10.0));
        let tt = cc.ttft.as_ref().unwrap();
        assert!((tt.network_http_client_mean_ms.unwrap() - 6.0).abs() < 1e-9);
        assert!((tt.network_http_client_p50_ms.unwrap() - 5.0).abs() < 1e-9);
        // Steady window [0.9, 3.0] s: gauges at 1, 2, 3 s; counters from 0.0 → 3.0 s span.
        let s = b.steady_state.as_ref().unwrap();
        assert!((s.window_start_s - 0.9).abs() < 1e-9);
        assert_eq!(s.get(Concept::Preemptions).unwrap().increase(), Some(3.0));
        // Not exposed here: running, ITL, E2E, queue time — listed, never zero.
        assert_eq!(
            b.unavailable.get("running").map(String::as_str),
            Some("not exposed by vllm")
        );
        assert!(!t.concepts.contains_key("running"));
        let sig = ServerSignals::from_block(&b);
        assert!(sig.kv_at_capacity);
        assert_eq!(sig.preemptions, Some(3.0));
        // waiting 0 at the baseline before the first send, 10 at the last send (3.0 s)
        assert!((sig.queue_growth_per_s.unwrap() - 10.0 / 3.0).abs() < 1e-9);
        let why = sig.explain();
        assert_eq!(why.len(), 3, "{why:?}");
        assert!(why[2].contains("97 %"), "{why:?}");
    }

    #[test]
    fn no_frames_means_no_block_with_the_reason() {
        let mut log = ScrapeLog::default();
        log.absorb(&ScrapeLine {
            t_us: 0,
            tick: 0,
            source: "http://x/metrics".into(),
            error: Some("connect: connection refused".into()),
            ..Default::default()
        });
        let b = ServerBlock::compute(&log, &client(), 0.5);
        assert!(!b.available);
        assert_eq!(
            b.reason.as_deref(),
            Some("every scrape failed (http://x/metrics: connect: connection refused)")
        );
        assert_eq!(b.scrapes.failed, 1);
    }

    #[test]
    fn two_replicas_sum_per_round_and_counters_add() {
        let mut log = ScrapeLog::default();
        for (tick, t) in [(0u64, 0i64), (1, 1_000_000), (2, 2_000_000)] {
            let v = tick as f64;
            log.absorb(&line(
                t,
                tick,
                "a",
                &format!(
                    "sglang:num_queue_reqs {v}\nsglang:generation_tokens_total {}\n",
                    10.0 * v
                ),
            ));
            log.absorb(&line(
                t + 10,
                tick,
                "b",
                &format!(
                    "sglang:num_queue_reqs {}\nsglang:generation_tokens_total {}\n",
                    2.0 * v,
                    5.0 * v
                ),
            ));
        }
        log.sort();
        let w = window_stats(&log, 0, 2_000_100, 0);
        match w.get(Concept::Waiting).unwrap() {
            ConceptStats::Gauge { last, n, .. } => assert_eq!((*last, *n), (6.0, 3)),
            o => panic!("{o:?}"),
        }
        assert_eq!(w.get(Concept::GenerationTokens).unwrap().increase(), Some(30.0));
    }
}
