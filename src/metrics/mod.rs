//! Every metric infermeter reports, defined once, as pure functions over records.
//!
//! The formulas (documented with their peer equivalents in `docs/metrics.md`):
//! for a successful request with token events `i = 0..m` at times `t_i` (since send) carrying
//! `k_i` tokens, and output length `OSL` (server `usage.completion_tokens`, else the client
//! tokenizer count):
//!
//! * TTFT  = `t_0` — first token-bearing event in any channel (role-only/empty frames never count)
//! * TTFO  = time of the first event carrying content tokens
//! * E2E   = `t_m` (last token-bearing event)
//! * TPOT  = `(t_m − t_0) / (OSL − k_0)`, undefined when `OSL − k_0 ≤ 0`
//! * ITL (per token, chunk-aware) = for each `i ≥ 1`, `k_i` samples of `(t_i − t_{i−1}) / k_i`
//! * ICL (per chunk) = `t_i − t_{i−1}` for `i ≥ 1`
//! * tokens per chunk = `k_i`
//! * normalized latency = `E2E / OSL`
//! * per-user output TPS = `OSL / E2E`
//! * window `T` = `max(last token time of a successful request) − min(send time)` over
//!   measured requests; failed requests never move it (they are counted beside it)
//! * system TPS = `Σ OSL / T` (output), `Σ ISL / T` (input), their sum (total), over
//!   successful requests; request throughput = `succeeded / T`
//! * concurrency mean = in-flight time inside the window / `T` (Little's law), peak by a
//!   sweep line
//!
//! **One attribution rule** places every rate in time ([`attribute`]), for the whole run and
//! for any window (steady state), for throughput, goodput and cost alike: a request's output
//! tokens count when its token events arrived (its OSL spread over its events in proportion
//! to their per-event counts), a request counts when it completed (its last token), its
//! input tokens when it was sent. Goodput takes the same sums over the good requests only, so
//! it can never exceed throughput over the same window.
//!
//! **One token-count provenance rule**: every token figure is OSL/ISL (server `usage` when
//! reported, else the client tokenizer); per-event counts only say *when* tokens arrived.
//! * schedule lag = `start − sched` (how late the client began a request against its plan)
//! * client queue time = time waiting for a `--max-concurrency` slot

pub mod cost;
pub mod health;
pub mod saturation;
pub mod slo;
pub mod stats;
pub mod steady;

use crate::record::{kind, RequestRecord};
use serde::{Deserialize, Serialize};
pub use stats::Stats;
use std::collections::BTreeMap;

/// Per-request derived values (one row of `requests.csv`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RequestMetrics {
    pub id: u64,
    pub ok: bool,
    pub ttft_ms: Option<f64>,
    pub ttfo_ms: Option<f64>,
    pub e2e_ms: Option<f64>,
    pub tpot_ms: Option<f64>,
    pub normalized_ms_per_token: Option<f64>,
    pub output_tokens_per_s: Option<f64>,
    pub input_tokens: Option<u32>,
    pub output_tokens: Option<u32>,
    pub schedule_lag_ms: f64,
    pub client_queue_ms: f64,
    pub error: Option<&'static str>,
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// Derive the per-request metrics of one record.
pub fn request_metrics(r: &RequestRecord) -> RequestMetrics {
    let mut m = RequestMetrics {
        id: r.id,
        ok: r.ok(),
        input_tokens: r.input_tokens.primary(),
        output_tokens: r.output_tokens.primary(),
        schedule_lag_ms: ms(r.start_us.saturating_sub(r.sched_us)),
        client_queue_ms: ms(r.queue_us),
        error: r.error.map(|e| e.as_str()),
        ..Default::default()
    };
    if !r.ok() {
        return m;
    }
    let (Some(first), Some(last)) = (r.events.first(), r.events.last()) else {
        return m;
    };
    let ttft = first.t_us() as f64 / 1000.0;
    let e2e = last.t_us() as f64 / 1000.0;
    m.ttft_ms = Some(ttft);
    m.ttfo_ms = r
        .events
        .iter()
        .find(|e| e.kind() & kind::CONTENT != 0)
        .map(|e| e.t_us() as f64 / 1000.0);
    m.e2e_ms = Some(e2e);
    if let Some(osl) = m.output_tokens.filter(|&n| n > 0) {
        let k0 = first.tokens();
        if osl > k0 && r.events.len() > 1 {
            m.tpot_ms = Some((e2e - ttft) / f64::from(osl - k0));
        }
        m.normalized_ms_per_token = Some(e2e / f64::from(osl));
        if e2e > 0.0 {
            m.output_tokens_per_s = Some(f64::from(osl) / (e2e / 1000.0));
        }
    }
    m
}

/// The most samples one event adds to the per-token ITL distribution (an event of k tokens
/// adds k samples of gap/k). Far above any real stream chunk, it bounds memory when a
/// server's usage counts (or a records file) claim billions of tokens in one event: without
/// it, one such event asked for a 16 GiB `Vec`.
pub const MAX_ITL_WEIGHT: u32 = 1024;

/// Per-token (chunk-aware) inter-token latencies of one request, in ms: an event carrying `k`
/// tokens after a gap `g` from the previous event gives `k` samples of `g / k` (at most
/// [`MAX_ITL_WEIGHT`]); an event with `k = 0` (text whose streamed usage did not grow) gives
/// one sample of `g`, so no time is dropped. The first event (its gap is the TTFT) gives none. Event times out of
/// order (only in a hand-edited records file) count as a zero gap. This is the one definition
/// of "ITL per token".
pub fn itl_samples(r: &RequestRecord) -> impl Iterator<Item = f32> + '_ {
    r.events.windows(2).flat_map(|w| {
        let k = w[1].tokens().max(1);
        let per = w[1].t_us().saturating_sub(w[0].t_us()) as f32 / 1000.0 / k as f32;
        std::iter::repeat_n(per, k.min(MAX_ITL_WEIGHT) as usize)
    })
}

/// Inter-chunk latencies (gap between consecutive token-bearing events) of one request, ms.
pub fn icl_samples(r: &RequestRecord) -> impl Iterator<Item = f32> + '_ {
    r.events
        .windows(2)
        .map(|w| w[1].t_us().saturating_sub(w[0].t_us()) as f32 / 1000.0)
}

/// Tokens carried by each token-bearing event of one request.
pub fn tokens_per_chunk(r: &RequestRecord) -> impl Iterator<Item = u32> + '_ {
    r.events.iter().map(|e| e.tokens())
}

/// The interval rates are computed over, µs since run start, bounds included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start_us: u64,
    pub end_us: u64,
}

impl Window {
    pub fn contains(&self, t_us: u64) -> bool {
        self.start_us <= t_us && t_us <= self.end_us
    }
    pub fn secs(&self) -> f64 {
        self.end_us.saturating_sub(self.start_us) as f64 / 1e6
    }
}

/// The whole run's window over measured records: the first send to the last token of a
/// successful request. A failed request never moves it, whatever its end. `None` without
/// measured records.
pub fn run_window(measured: &[&RequestRecord]) -> Option<Window> {
    let start_us = measured.iter().map(|r| r.send_us).min()?;
    let end_us = measured
        .iter()
        .filter(|r| r.ok())
        .filter_map(|r| r.last_token_abs_us())
        .max()
        .unwrap_or(start_us)
        .max(start_us);
    Some(Window { start_us, end_us })
}

/// Output tokens of one successful request that arrived inside `w`: its OSL (the one token
/// count, server `usage` first) spread over its token events in proportion to their
/// per-event counts (equally when every count is 0), so the events only say *when* the
/// tokens arrived, never how many there were. Exactly OSL when every event is inside. A
/// record without events counts its OSL at its end.
pub fn output_tokens_in(r: &RequestRecord, w: Window) -> f64 {
    let osl = f64::from(r.output_tokens.primary().unwrap_or(0));
    if r.events.is_empty() {
        return if r.last_token_abs_us().is_some_and(|t| w.contains(t)) {
            osl
        } else {
            0.0
        };
    }
    let weight = |e: &crate::record::TokenEvent| u64::from(e.tokens());
    let total: u64 = r.events.iter().map(weight).sum();
    let (inside, all) = if total == 0 {
        let n = r
            .events
            .iter()
            .filter(|e| w.contains(r.send_us + u64::from(e.t_us())))
            .count();
        (n as u64, r.events.len() as u64)
    } else {
        let n: u64 = r
            .events
            .iter()
            .filter(|e| w.contains(r.send_us + u64::from(e.t_us())))
            .map(weight)
            .sum();
        (n, total)
    };
    if inside == all {
        osl
    } else {
        osl * inside as f64 / all as f64
    }
}

/// Sums of the one attribution rule over a window: requests completed in it (last token
/// inside), output tokens arrived in it ([`output_tokens_in`]), input tokens of requests sent
/// in it. Successful requests only.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Attributed {
    pub requests: u64,
    pub output_tokens: f64,
    pub input_tokens: u64,
}

impl Attributed {
    fn add(&mut self, r: &RequestRecord, w: Window) {
        self.requests += u64::from(r.last_token_abs_us().is_some_and(|t| w.contains(t)));
        self.output_tokens += output_tokens_in(r, w);
        if w.contains(r.send_us) {
            self.input_tokens += u64::from(r.input_tokens.primary().unwrap_or(0));
        }
    }

    /// The rates of these sums over the window's length (zeros for an empty window).
    pub fn throughput(&self, w: Window) -> Throughput {
        let s = w.secs();
        if s <= 0.0 {
            return Throughput::default();
        }
        Throughput {
            requests_per_s: self.requests as f64 / s,
            output_tokens_per_s: self.output_tokens / s,
            input_tokens_per_s: self.input_tokens as f64 / s,
            total_tokens_per_s: (self.input_tokens as f64 + self.output_tokens) / s,
        }
    }
}

/// The one attribution rule behind every rate (throughput, goodput, cost): over the
/// successful measured `records`, the sums for all of them and for those `good` accepts
/// (called with each record's index in `records`). One pass, same order, so the good sums
/// never exceed the totals (floating-point rounding is monotonic).
pub fn attribute(
    records: &[&RequestRecord],
    w: Window,
    mut good: impl FnMut(usize) -> bool,
) -> (Attributed, Attributed) {
    let (mut all, mut sel) = (Attributed::default(), Attributed::default());
    for (i, r) in records.iter().enumerate().filter(|(_, r)| r.ok() && !r.warmup) {
        all.add(r, w);
        if good(i) {
            sel.add(r, w);
        }
    }
    (all, sel)
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RequestCounts {
    pub total: u64,
    pub succeeded: u64,
    pub failed: u64,
    /// Warmup requests: recorded, excluded from every metric.
    pub warmup_excluded: u64,
    /// Measured requests re-sent at least once under `--retry` (ok or not in the end).
    #[serde(default)]
    pub retried: u64,
    /// Failed requests that ended after the window closed: the window ends at the last token
    /// of a successful request, so they do not stretch it; they are counted here instead.
    #[serde(default)]
    pub failed_after_window: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Throughput {
    pub requests_per_s: f64,
    pub output_tokens_per_s: f64,
    pub input_tokens_per_s: f64,
    pub total_tokens_per_s: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    pub ttft: Stats,
    pub ttfo: Stats,
    pub e2e: Stats,
    pub tpot: Stats,
    /// Per-token inter-token latency, chunk-aware (an event with k tokens gives k samples of gap/k).
    pub itl: Stats,
    /// Inter-chunk latency: gaps between consecutive token-bearing events.
    pub icl: Stats,
    /// E2E / OSL.
    pub normalized: Stats,
    pub schedule_lag: Stats,
    pub client_queue: Stats,
}

impl Latency {
    /// The distribution of a `latency_ms` key (`ttft`, `itl`, ...).
    pub fn get(&self, key: &str) -> Option<&Stats> {
        Some(match key {
            "ttft" => &self.ttft,
            "ttfo" => &self.ttfo,
            "e2e" => &self.e2e,
            "tpot" => &self.tpot,
            "itl" => &self.itl,
            "icl" => &self.icl,
            "normalized" => &self.normalized,
            "schedule_lag" => &self.schedule_lag,
            "client_queue" => &self.client_queue,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Concurrency {
    pub mean: f64,
    pub peak: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TokenTotals {
    pub input: u64,
    pub output: u64,
    pub cached: u64,
    pub reasoning: u64,
    /// Where the input/output totals came from: requests whose counts were server-reported.
    pub input_from_server: u64,
    pub output_from_server: u64,
    /// Requests that have both a server and a client output count, and how many differ.
    pub output_compared: u64,
    pub output_mismatched: u64,
    /// Σ (server − client) output tokens over compared requests.
    pub output_server_minus_client: i64,
    /// Σ per-event token counts − Σ OSL: how well the event-level counts reconcile with usage.
    pub event_sum_minus_osl: i64,
}

/// Whole-run metrics: the body of `summary.json` below its run metadata.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunMetrics {
    pub requests: RequestCounts,
    pub errors: BTreeMap<String, u64>,
    pub duration_s: f64,
    pub throughput: Throughput,
    pub latency_ms: Latency,
    pub per_user_output_tokens_per_s: Stats,
    pub tokens_per_chunk: Stats,
    pub tokens: TokenTotals,
    pub concurrency: Concurrency,
}

/// Compute every run-level metric from the records (warmup records are excluded).
pub fn compute(records: &[RequestRecord]) -> RunMetrics {
    let all: Vec<&RequestRecord> = records.iter().collect();
    compute_refs(&all)
}

/// `compute` over borrowed records (subsets are never cloned: records hold every token event).
pub fn compute_refs(records: &[&RequestRecord]) -> RunMetrics {
    let measured: Vec<&RequestRecord> = records.iter().copied().filter(|r| !r.warmup).collect();
    let mut out = RunMetrics {
        requests: RequestCounts {
            total: measured.len() as u64,
            succeeded: measured.iter().filter(|r| r.ok()).count() as u64,
            failed: measured.iter().filter(|r| !r.ok()).count() as u64,
            warmup_excluded: (records.len() - measured.len()) as u64,
            retried: measured.iter().filter(|r| r.retries > 0).count() as u64,
            failed_after_window: 0,
        },
        errors: crate::record::error_counts(measured.iter().copied()),
        ..Default::default()
    };
    let Some(window) = run_window(&measured) else {
        return out;
    };
    out.duration_s = window.secs();
    out.requests.failed_after_window = failed_after(&measured, window);

    let (mut ttft, mut ttfo, mut e2e, mut tpot, mut norm, mut pu) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut lag, mut queue) = (Vec::new(), Vec::new());
    let mut tok = TokenTotals::default();
    for r in &measured {
        let m = request_metrics(r);
        lag.push(m.schedule_lag_ms);
        queue.push(m.client_queue_ms);
        if !r.ok() {
            continue;
        }
        ttft.extend(m.ttft_ms);
        ttfo.extend(m.ttfo_ms);
        e2e.extend(m.e2e_ms);
        tpot.extend(m.tpot_ms);
        norm.extend(m.normalized_ms_per_token);
        pu.extend(m.output_tokens_per_s);
        let osl = r.output_tokens.primary().unwrap_or(0);
        tok.output += u64::from(osl);
        tok.input += u64::from(r.input_tokens.primary().unwrap_or(0));
        tok.cached += u64::from(r.cached_tokens.unwrap_or(0));
        tok.reasoning += u64::from(r.reasoning_tokens.unwrap_or(0));
        tok.input_from_server += u64::from(r.input_tokens.server.is_some());
        tok.output_from_server += u64::from(r.output_tokens.server.is_some());
        if let (Some(s), Some(c)) = (r.output_tokens.server, r.output_tokens.client) {
            tok.output_compared += 1;
            tok.output_mismatched += u64::from(s != c);
            tok.output_server_minus_client += i64::from(s) - i64::from(c);
        }
        let ev_sum: i64 = r.events.iter().map(|e| i64::from(e.tokens())).sum();
        tok.event_sum_minus_osl += ev_sum - i64::from(osl);
    }
    // Every successful request lies inside the run window: the attributed sums are Σ OSL,
    // Σ ISL and the success count.
    out.throughput = attribute(&measured, window, |_| false).0.throughput(window);
    out.tokens = tok;
    out.latency_ms = Latency {
        ttft: Stats::from_samples(ttft),
        ttfo: Stats::from_samples(ttfo),
        e2e: Stats::from_samples(e2e),
        tpot: Stats::from_samples(tpot),
        itl: pooled(&measured, |r, v| v.extend(itl_samples(r))),
        icl: pooled(&measured, |r, v| v.extend(icl_samples(r))),
        normalized: Stats::from_samples(norm),
        schedule_lag: Stats::from_samples(lag),
        client_queue: Stats::from_samples(queue),
    };
    out.per_user_output_tokens_per_s = Stats::from_samples(pu);
    out.tokens_per_chunk = pooled(&measured, |r, v| v.extend(tokens_per_chunk(r).map(|k| k as f32)));
    out.concurrency = concurrency(&measured, window);
    out
}

/// Failed requests among `records` that ended after `w` closed.
pub fn failed_after(records: &[&RequestRecord], w: Window) -> u64 {
    records
        .iter()
        .filter(|r| !r.ok() && r.end_abs_us().max(r.send_us) > w.end_us)
        .count() as u64
}

/// Statistics of one pooled per-event distribution over the successful requests, gathered
/// one distribution at a time (as `f32`) to bound the end-of-run memory peak.
fn pooled(records: &[&RequestRecord], gather: impl Fn(&RequestRecord, &mut Vec<f32>)) -> Stats {
    let mut v = Vec::new();
    for r in records.iter().filter(|r| r.ok()) {
        gather(r, &mut v);
    }
    Stats::from_samples_f32(v)
}

/// Mean in-flight requests over the window (Little's law: in-flight time inside the window
/// / its length) and the peak by sweep line over the whole run. A request is in flight from
/// its send to its end.
pub fn concurrency(records: &[&RequestRecord], w: Window) -> Concurrency {
    let mut edges: Vec<(u64, i64)> = Vec::with_capacity(records.len() * 2);
    let mut busy_us = 0u64;
    for r in records {
        let end = r.end_abs_us().max(r.send_us);
        busy_us += end.min(w.end_us).saturating_sub(r.send_us.max(w.start_us));
        edges.push((r.send_us, 1));
        edges.push((end, -1));
    }
    let window_s = w.secs();
    // Ends sort before starts at the same instant: back-to-back requests do not overlap.
    edges.sort_unstable();
    let (mut cur, mut peak) = (0i64, 0i64);
    for (_, d) in edges {
        cur += d;
        peak = peak.max(cur);
    }
    Concurrency {
        mean: if window_s > 0.0 {
            busy_us as f64 / 1e6 / window_s
        } else {
            0.0
        },
        peak: peak.max(0) as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{ErrorClass, TokenCount, TokenEvent};

    fn rec(id: u64, send: u64, events: &[(u32, u32, u8)], osl: u32) -> RequestRecord {
        RequestRecord {
            id,
            sched_us: send,
            start_us: send,
            send_us: send,
            hdr_us: Some(1_000),
            end_us: events.last().map(|e| e.0 + 100),
            events: events.iter().map(|&(t, k, c)| TokenEvent::new(t, k, c)).collect(),
            input_tokens: TokenCount {
                server: Some(100),
                client: Some(98),
            },
            output_tokens: TokenCount {
                server: Some(osl),
                client: Some(osl),
            },
            max_tokens: osl,
            status: 200,
            ..Default::default()
        }
    }

    #[test]
    fn hand_computed_single_request() {
        // first event at 50 ms with 1 token, then 10 ms gaps, 5 tokens total
        let r = rec(
            0,
            0,
            &[
                (50_000, 1, 1),
                (60_000, 1, 1),
                (70_000, 1, 1),
                (80_000, 1, 1),
                (90_000, 1, 1),
            ],
            5,
        );
        let m = request_metrics(&r);
        assert_eq!(m.ttft_ms, Some(50.0));
        assert_eq!(m.e2e_ms, Some(90.0));
        assert_eq!(m.tpot_ms, Some(10.0)); // (90-50)/(5-1)
        assert_eq!(m.normalized_ms_per_token, Some(18.0));
        assert!((m.output_tokens_per_s.unwrap() - 5.0 / 0.09).abs() < 1e-9);
        // total = TTFT + (n-1)·TPOT
        assert_eq!(m.ttft_ms.unwrap() + 4.0 * m.tpot_ms.unwrap(), m.e2e_ms.unwrap());
    }

    #[test]
    fn chunk_aware_itl_with_multi_token_events() {
        // events: 2 tokens at 40ms, 3 tokens at 70ms, 1 token at 80ms → OSL 6
        let r = rec(0, 0, &[(40_000, 2, 1), (70_000, 3, 1), (80_000, 1, 1)], 6);
        assert_eq!(icl_samples(&r).collect::<Vec<_>>(), vec![30.0, 10.0]);
        assert_eq!(itl_samples(&r).collect::<Vec<_>>(), vec![10.0, 10.0, 10.0, 10.0]);
        assert_eq!(tokens_per_chunk(&r).collect::<Vec<_>>(), vec![2, 3, 1]);
        // TPOT divides by OSL − k_first = 4 (not OSL − 1 = 5)
        assert_eq!(request_metrics(&r).tpot_ms, Some(10.0));
    }

    /// Regressions: event times out of order underflowed (found by the `records` fuzz
    /// target: a panic with overflow checks, a 71-minute gap without); an event claiming
    /// u32::MAX tokens (a hostile server's usage counts, or a crafted records file) made the
    /// ITL expansion allocate 16 GiB.
    #[test]
    fn hostile_token_counts_and_times_are_bounded() {
        let r = rec(0, 0, &[(40_000, 1, 1), (30_000, u32::MAX, 1), (50_000, 2, 1)], u32::MAX);
        let m = compute(std::slice::from_ref(&r));
        assert_eq!(m.latency_ms.itl.n, u64::from(MAX_ITL_WEIGHT) + 2);
        assert_eq!(m.latency_ms.icl.max, 20.0);
        assert_eq!(itl_samples(&r).count(), MAX_ITL_WEIGHT as usize + 2);
        assert_eq!(icl_samples(&r).collect::<Vec<_>>(), vec![0.0, 20.0]);
    }

    #[test]
    fn ttfo_skips_reasoning_events() {
        let r = rec(
            0,
            0,
            &[
                (20_000, 1, kind::REASONING),
                (30_000, 1, kind::REASONING),
                (45_000, 1, kind::CONTENT),
            ],
            3,
        );
        let m = request_metrics(&r);
        assert_eq!(m.ttft_ms, Some(20.0));
        assert_eq!(m.ttfo_ms, Some(45.0));
    }

    #[test]
    fn single_token_has_no_tpot() {
        let r = rec(0, 0, &[(20_000, 1, 1)], 1);
        assert_eq!(request_metrics(&r).tpot_ms, None);
    }

    #[test]
    fn run_level_window_throughput_concurrency_errors() {
        let a = rec(0, 0, &[(100_000, 1, 1), (1_000_000, 9, 1)], 10);
        let b = rec(1, 500_000, &[(100_000, 1, 1), (1_500_000, 19, 1)], 20);
        let mut c = rec(2, 200_000, &[], 0);
        c.error = Some(ErrorClass::Http5xx);
        c.end_us = Some(1_000);
        c.retries = 2;
        let mut w = rec(3, 0, &[(1, 1, 1)], 1);
        w.warmup = true;
        w.retries = 1;
        let m = compute(&[a, b, c, w]);
        assert_eq!(
            m.requests,
            RequestCounts {
                total: 3,
                succeeded: 2,
                failed: 1,
                warmup_excluded: 1,
                retried: 1,
                failed_after_window: 0
            }
        );
        assert_eq!(m.errors.get("http_5xx"), Some(&1));
        // window: min send 0 → max last token 0.5 s + 1.5 s = 2.0 s
        assert!((m.duration_s - 2.0).abs() < 1e-12);
        assert!((m.throughput.output_tokens_per_s - 15.0).abs() < 1e-9);
        assert!((m.throughput.input_tokens_per_s - 100.0).abs() < 1e-9);
        assert!((m.throughput.requests_per_s - 1.0).abs() < 1e-9);
        assert_eq!(m.concurrency.peak, 2);
        assert_eq!(m.tokens.output_compared, 2);
        assert_eq!(m.tokens.output_mismatched, 0);
        assert_eq!(m.latency_ms.ttft.n, 2);
    }
}
