//! The steady-state window: the part of a run between ramp-up and drain, where the load
//! the server sees is stable — so its metrics describe the system, not the edges of the test.
//!
//! Automatic detection (documented in docs/metrics.md):
//! 1. in-flight requests `n(t)` from the `[send, end]` intervals, sampled at 200 points over
//!    the run window and smoothed with a centred moving average over ±5 samples (11 samples,
//!    about 5 % of the run; fewer at the edges);
//! 2. level `L` = median of the smoothed curve over the middle half of the run;
//! 3. window = from the first to the last sample where the smoothed curve is ≥ 0.9 · L
//!    (for `L < 1`, a near-idle run, the whole window);
//! 4. rejected (no steady state) when the window covers < 20 % of the run, holds < 20
//!    requests, or TTFT trends upward across it: the median TTFT of requests sent in the last
//!    third of the window exceeds twice that of the first third (a queue building up, i.e.
//!    overload). Medians of thirds, not a regression slope, so that a few queueing bursts in
//!    a short stage do not read as a trend.
//!
//! Manual windows come from `--warmup 10s` / `--cooldown 5s` (time) or `--cooldown N`
//! (requests).
//!
//! Inside the window, the population (latency, counts, errors, attainment) is the requests
//! sent in it; every rate (throughput, goodput, cost) follows the run's one attribution rule
//! ([`super::attribute`]) over all measured requests, so a request sent before the window
//! still contributes the tokens it emitted inside it.

use super::slo::{goodput, Slo};
use super::{attribute, compute_refs, failed_after, request_metrics, run_window, RunMetrics, Window};
use crate::record::RequestRecord;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SteadyState {
    pub detected: bool,
    /// `auto` or `manual`.
    pub method: String,
    /// Why no steady state was found (when `detected` is false).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<String>,
    /// Window bounds in seconds from the first measured send.
    pub window_start_s: f64,
    pub window_end_s: f64,
    /// Metrics over the window, same shape as the whole run's.
    #[serde(flatten)]
    pub metrics: RunMetrics,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub goodput: Option<super::slo::Goodput>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cost: Option<super::cost::Cost>,
}

/// How the window is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum WindowSpec {
    #[default]
    Auto,
    /// Exclude the first `skip_start_s` and the last `skip_end_s` seconds.
    Time { skip_start_s: f64, skip_end_s: f64 },
    /// Exclude the last `n` completed requests (drain) and the first `skip_start_s` seconds.
    Requests { skip_start_s: f64, cooldown: u64 },
}

fn measured(records: &[RequestRecord]) -> Vec<&RequestRecord> {
    records.iter().filter(|r| !r.warmup).collect()
}

fn in_flight_at(intervals: &[(u64, u64)], t: u64) -> usize {
    intervals.iter().filter(|(s, e)| *s <= t && t < *e).count()
}

/// The median: the middle value, or the mean of the two middle values of an even count.
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_unstable_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => v[n / 2],
        _ => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Find the window (µs since run start) automatically; `Err(reason)` when there is none.
pub fn detect(records: &[RequestRecord]) -> Result<(u64, u64), String> {
    let m = measured(records);
    let ivs: Vec<(u64, u64)> = m.iter().map(|r| (r.send_us, r.end_abs_us().max(r.send_us))).collect();
    let run = run_window(&m).ok_or("no requests")?;
    let (t0, t1) = (run.start_us, run.end_us);
    if t1 <= t0 {
        return Err("run too short".into());
    }
    const N: usize = 200;
    let span = (t1 - t0) as f64;
    let at = |i: usize| t0 + (span * (i as f64 + 0.5) / N as f64) as u64;
    let raw: Vec<f64> = (0..N).map(|i| in_flight_at(&ivs, at(i)) as f64).collect();
    let half = (N / 40).max(1); // 5 % wide centred window
    let smooth: Vec<f64> = (0..N)
        .map(|i| {
            let (a, b) = (i.saturating_sub(half), (i + half + 1).min(N));
            raw[a..b].iter().sum::<f64>() / (b - a) as f64
        })
        .collect();
    let level = median(smooth[N / 4..3 * N / 4].to_vec());
    let (ws, we) = if level < 1.0 {
        (t0, t1)
    } else {
        let first = smooth.iter().position(|&x| x >= 0.9 * level).unwrap_or(0);
        let last = smooth.iter().rposition(|&x| x >= 0.9 * level).unwrap_or(N - 1);
        (at(first), at(last))
    };
    if ((we - ws) as f64) < 0.2 * span {
        return Err(format!(
            "in-flight requests never plateau (level {level:.1} held for < 20% of the run)"
        ));
    }
    let inside: Vec<(f64, f64)> = m
        .iter()
        .filter(|r| r.send_us >= ws && r.send_us <= we)
        .filter_map(|r| request_metrics(r).ttft_ms.map(|t| (r.send_us as f64 / 1e6, t)))
        .collect();
    if inside.len() < 20 {
        return Err(format!(
            "only {} successful requests inside the plateau (need 20)",
            inside.len()
        ));
    }
    // Robust trend test: median TTFT of the last third of the plateau vs the first third.
    let mut by_time = inside;
    by_time.sort_by(|a, b| a.0.total_cmp(&b.0));
    let third = by_time.len() / 3;
    let ttft = |v: &[(f64, f64)]| median(v.iter().map(|p| p.1).collect());
    let (first, last) = (ttft(&by_time[..third]), ttft(&by_time[by_time.len() - third..]));
    if last > 2.0 * first {
        return Err(format!(
            "median TTFT rises from {first:.0} ms to {last:.0} ms across the plateau: a queue is building up, the server is overloaded"
        ));
    }
    Ok((ws, we))
}

/// Metrics of the records over `[ws, we]` (µs since run start): latency, counts and token
/// totals from the requests sent inside the window; rates by the one attribution rule over
/// every measured request (output tokens that arrived inside it, requests completed inside
/// it, input tokens of requests sent inside it), each divided by the window; concurrency mean
/// = in-flight time inside the window / its length.
pub fn window_metrics(records: &[RequestRecord], ws: u64, we: u64) -> RunMetrics {
    let m = measured(records);
    let subset: Vec<&RequestRecord> = m
        .iter()
        .copied()
        .filter(|r| r.send_us >= ws && r.send_us <= we)
        .collect();
    let mut out = compute_refs(&subset);
    let w = Window {
        start_us: ws,
        end_us: we,
    };
    out.duration_s = w.secs();
    out.requests.failed_after_window = failed_after(&subset, w);
    out.throughput = attribute(&m, w, |_| false).0.throughput(w);
    out.concurrency.mean = super::concurrency(&m, w).mean;
    out
}

/// The steady-state window of a run and its metrics; with an SLO, its goodput over the same
/// window by the same attribution rule (the population: requests sent in the window).
pub fn steady_state(records: &[RequestRecord], spec: WindowSpec, slo: Option<&Slo>) -> SteadyState {
    let m = measured(records);
    let run = run_window(&m);
    let t0 = run.map_or(0, |w| w.start_us);
    let t1 = run.map_or(t0, |w| w.end_us);
    let manual = |ws: u64, we: u64| {
        if we <= ws {
            Err("the --warmup/--cooldown exclusions leave no window".to_string())
        } else {
            Ok((ws, we))
        }
    };
    let (method, found) = match spec {
        WindowSpec::Auto => ("auto", detect(records)),
        WindowSpec::Time {
            skip_start_s,
            skip_end_s,
        } => (
            "manual",
            manual(
                t0 + (skip_start_s * 1e6).round() as u64,
                t1.saturating_sub((skip_end_s * 1e6).round() as u64),
            ),
        ),
        WindowSpec::Requests { skip_start_s, cooldown } => {
            let mut ends: Vec<u64> = m.iter().map(|r| r.end_abs_us()).collect();
            ends.sort_unstable();
            let keep = ends.len().saturating_sub(cooldown as usize);
            let we = if keep == 0 { t0 } else { ends[keep - 1] };
            ("manual", manual(t0 + (skip_start_s * 1e6).round() as u64, we))
        }
    };
    match found {
        Ok((ws, we)) => SteadyState {
            detected: true,
            method: method.into(),
            reason: None,
            window_start_s: ws.saturating_sub(t0) as f64 / 1e6,
            window_end_s: we.saturating_sub(t0) as f64 / 1e6,
            metrics: window_metrics(records, ws, we),
            goodput: slo.map(|slo| {
                let w = Window {
                    start_us: ws,
                    end_us: we,
                };
                goodput(&m, |r| w.contains(r.send_us), slo, Some(w))
            }),
            cost: None,
        },
        Err(reason) => SteadyState {
            detected: false,
            method: method.into(),
            reason: Some(reason),
            ..Default::default()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{TokenCount, TokenEvent};

    fn rec(send: u64, ttft: u32, dur: u32) -> RequestRecord {
        RequestRecord {
            send_us: send,
            sched_us: send,
            start_us: send,
            end_us: Some(dur),
            events: vec![TokenEvent::new(ttft, 1, 1), TokenEvent::new(dur, 9, 1)],
            output_tokens: TokenCount {
                server: Some(10),
                client: None,
            },
            ..Default::default()
        }
    }

    /// Closed loop with C workers of fixed request length over `secs`: ramp at start (workers
    /// start staggered) and a drain at the end.
    fn closed_loop(c: u64, secs: u64, ttft_growth: f64) -> Vec<RequestRecord> {
        let dur = 500_000u64;
        let mut v = Vec::new();
        for w in 0..c {
            let mut t = w * 2_000_000 / c; // 2 s ramp
            let mut i = 0;
            while t + dur < secs * 1_000_000 + w * 1_000_000 / c {
                let ttft = 50_000.0 + ttft_growth * t as f64 / 1e6 * 1000.0;
                v.push(rec(t, ttft as u32, dur as u32 + ttft as u32));
                t += dur + ttft as u64;
                i += 1;
            }
            let _ = i;
        }
        v
    }

    #[test]
    fn detects_plateau_excluding_ramp() {
        let recs = closed_loop(16, 30, 0.0);
        let s = steady_state(&recs, WindowSpec::Auto, None);
        assert!(s.detected, "{:?}", s.reason);
        assert!(
            s.window_start_s >= 1.0 && s.window_start_s <= 3.0,
            "start {}",
            s.window_start_s
        );
        assert!(s.window_end_s > 25.0, "end {}", s.window_end_s);
        assert!(
            (s.metrics.concurrency.mean - 16.0).abs() < 1.5,
            "{}",
            s.metrics.concurrency.mean
        );
    }

    #[test]
    fn rising_latency_means_no_steady_state() {
        // TTFT grows by 100 ms every second: a queue building up.
        let recs = closed_loop(8, 30, 100.0);
        let s = steady_state(&recs, WindowSpec::Auto, None);
        assert!(!s.detected);
        assert!(s.reason.unwrap().contains("overloaded"));
    }

    #[test]
    fn too_few_requests_has_no_steady_state() {
        let recs = vec![rec(0, 10, 100), rec(50, 10, 100)];
        assert!(!steady_state(&recs, WindowSpec::Auto, None).detected);
    }

    #[test]
    fn manual_windows() {
        let recs = closed_loop(4, 20, 0.0);
        let s = steady_state(
            &recs,
            WindowSpec::Time {
                skip_start_s: 5.0,
                skip_end_s: 5.0,
            },
            None,
        );
        assert!(s.detected && s.method == "manual");
        assert_eq!(s.window_start_s, 5.0);
        let total = recs.len() as u64;
        let r = steady_state(
            &recs,
            WindowSpec::Requests {
                skip_start_s: 0.0,
                cooldown: 8,
            },
            None,
        );
        assert!(r.detected);
        assert!(r.metrics.requests.total < total);
        assert!(
            !steady_state(
                &recs,
                WindowSpec::Time {
                    skip_start_s: 100.0,
                    skip_end_s: 0.0
                },
                None
            )
            .detected
        );
    }
}
