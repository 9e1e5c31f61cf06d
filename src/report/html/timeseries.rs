//! The "over the run" section: time series of the measured requests — in-flight count,
//! output tokens/s per bucket, TTFT by send time, failed requests by end time — with the
//! steady-state window shaded on each.

use super::{figure, optional};
use crate::metrics::request_metrics;
use crate::record::RequestRecord;
use crate::report::svg::{Band, Chart, Kind, Series};
use crate::report::Summary;
use serde_json::Value;
use std::collections::BTreeMap;

/// Series over the run derived from the records; times in seconds since the first send.
#[derive(Debug, Default)]
pub struct Timeline {
    pub bucket_s: f64,
    pub in_flight: Vec<(f64, f64)>,
    pub output_tps: Vec<(f64, f64)>,
    pub ttft: Vec<(f64, f64)>,
    pub ttft_tips: Vec<String>,
    pub errors: Vec<(f64, f64)>,
    pub error_tips: Vec<String>,
    /// From the first send to the last response end, seconds.
    pub span_s: f64,
}

const MAX_POINTS: usize = 4000;

/// Time series of measured requests: in-flight count (step), output tokens/s per bucket (1 s,
/// or 0.1 s for runs under 5 s), TTFT by request start, failed requests per bucket by end time.
pub fn timeline(records: &[RequestRecord]) -> Timeline {
    let measured: Vec<&RequestRecord> = records.iter().filter(|r| !r.warmup).collect();
    let Some(t0) = measured.iter().map(|r| r.send_us).min() else {
        return Timeline::default();
    };
    let t_end = measured
        .iter()
        .map(|r| r.end_abs_us().max(r.last_token_abs_us().unwrap_or(0)))
        .max()
        .unwrap_or(t0);
    let span_s = t_end.saturating_sub(t0) as f64 / 1e6;
    let bucket_s = if span_s < 5.0 { 0.1 } else { 1.0 };
    let nb = ((span_s / bucket_s).floor() as usize + 1).min(200_000);
    let rel = |us: u64| us.saturating_sub(t0) as f64 / 1e6;
    let bucket = |s: f64| ((s / bucket_s) as usize).min(nb - 1);

    let mut edges: Vec<(u64, i64)> = Vec::with_capacity(measured.len() * 2);
    for r in &measured {
        edges.push((r.send_us, 1));
        edges.push((r.end_abs_us().max(r.send_us), -1));
    }
    edges.sort_unstable();
    let mut in_flight = vec![(0.0, 0.0)];
    let mut cur = 0i64;
    for (t, d) in edges {
        cur += d;
        in_flight.push((rel(t), cur as f64));
    }
    if in_flight.len() > MAX_POINTS {
        // Keep the peak of each of MAX_POINTS/2 time slices so spikes stay visible.
        let slices = MAX_POINTS / 2;
        let w = span_s.max(1e-9) / slices as f64;
        let mut peak = vec![None::<f64>; slices + 1];
        for &(t, c) in &in_flight {
            let i = ((t / w) as usize).min(slices);
            peak[i] = Some(peak[i].map_or(c, |p: f64| p.max(c)));
        }
        in_flight = peak
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p.map(|c| (i as f64 * w, c)))
            .collect();
    }

    let mut tokens = vec![0u64; nb];
    let mut errs = vec![0u64; nb];
    let mut err_classes: Vec<BTreeMap<&'static str, u64>> = vec![BTreeMap::new(); nb];
    let mut ttft = Vec::new();
    let mut ttft_tips = Vec::new();
    for r in &measured {
        if r.ok() {
            for e in &r.events {
                tokens[bucket(rel(r.send_us + u64::from(e.t_us())))] += u64::from(e.tokens());
            }
            if let Some(t) = request_metrics(r).ttft_ms {
                let at = rel(r.send_us);
                ttft.push((at, t));
                ttft_tips.push(format!("request {}: TTFT {t:.2} ms, sent at {at:.3} s", r.id));
            }
        } else if let Some(e) = r.error {
            let b = bucket(rel(r.end_abs_us()));
            errs[b] += 1;
            *err_classes[b].entry(e.as_str()).or_insert(0) += 1;
        }
    }
    if ttft.len() > MAX_POINTS {
        let stride = ttft.len().div_ceil(MAX_POINTS);
        ttft = ttft.into_iter().step_by(stride).collect();
        ttft_tips = ttft_tips.into_iter().step_by(stride).collect();
    }
    let output_tps = tokens
        .iter()
        .enumerate()
        .map(|(i, &n)| ((i as f64 + 0.5) * bucket_s, n as f64 / bucket_s))
        .collect();
    let mut errors = Vec::new();
    let mut error_tips = Vec::new();
    for (i, &n) in errs.iter().enumerate() {
        if n > 0 {
            let at = (i as f64 + 0.5) * bucket_s;
            errors.push((at, n as f64));
            let classes: Vec<String> = err_classes[i].iter().map(|(k, v)| format!("{k} {v}")).collect();
            error_tips.push(format!(
                "{:.1}–{:.1} s: {n} failed ({})",
                i as f64 * bucket_s,
                (i + 1) as f64 * bucket_s,
                classes.join(", ")
            ));
        }
    }
    Timeline {
        bucket_s,
        in_flight,
        output_tps,
        ttft,
        ttft_tips,
        errors,
        error_tips,
        span_s,
    }
}

/// Steady-state window from the optional `steady_state` object (seconds since the first send).
fn steady_band(raw: &Value) -> Option<Band> {
    let s = optional(raw, "steady_state")?;
    let a = s.get("window_start_s")?.as_f64()?;
    let b = s.get("window_end_s")?.as_f64()?;
    (b > a).then(|| Band {
        x0: a,
        x1: b,
        label: format!("steady state {a:.1}–{b:.1} s"),
    })
}

pub(super) fn render(out: &mut String, s: &Summary, raw: &Value, records: &[RequestRecord]) {
    let m = &s.metrics;
    // Time series
    let tl = timeline(records);
    let band = steady_band(raw);
    let bands: Vec<Band> = band.into_iter().collect();
    out.push_str("<section id=\"timeline\"><h2>Over the run</h2>");
    if !bands.is_empty() {
        out.push_str(
            "<p class=\"note\">The shaded band is the steady-state window from <code>summary.steady_state</code>.</p>",
        );
    }
    out.push_str("<div class=\"grid\">");
    let x = "seconds since the first send";
    let x_range = Some((0.0, tl.span_s.max(tl.bucket_s)));
    let mut c = Chart::new("ts-inflight", "Requests in flight", x, "requests");
    c.x_zero = true;
    c.x_range = x_range;
    c.bands = bands.clone();
    c.series
        .push(Series::new("in flight", Kind::Step, tl.in_flight.clone()));
    figure(
        out,
        &c,
        &format!("from send to end of response; peak {}", m.concurrency.peak),
    );
    let mut c = Chart::new("ts-tps", "Output tokens/s", x, "tokens/s");
    c.x_zero = true;
    c.x_range = x_range;
    c.bands = bands.clone();
    c.series.push(Series::new(
        "output tokens/s",
        Kind::Step,
        step_edges(&tl.output_tps, tl.bucket_s),
    ));
    figure(
        out,
        &c,
        &format!(
            "tokens received per {} s bucket, by token arrival time (the last bucket may be partial)",
            tl.bucket_s
        ),
    );
    let mut c = Chart::new("ts-ttft", "TTFT of each request by its send time", x, "TTFT (ms)");
    c.x_zero = true;
    c.x_range = x_range;
    c.bands = bands.clone();
    c.series
        .push(Series::new("TTFT", Kind::Points, tl.ttft.clone()).tips(tl.ttft_tips.clone()));
    figure(out, &c, "one dot per successful request (hover for its id)");
    let mut c = Chart::new("ts-errors", "Errors over time", x, "failed requests");
    c.x_zero = true;
    c.x_range = x_range;
    c.bands = bands;
    let n_err = m.requests.failed;
    c.series.push(
        Series::new(
            "failed",
            Kind::Bars {
                width: tl.bucket_s * 0.9,
            },
            tl.errors.clone(),
        )
        .tips(tl.error_tips.clone())
        .color(1),
    );
    if tl.errors.is_empty() {
        // Keep the axes: an empty error chart is itself the result.
        c.series = vec![Series::new(
            "no errors",
            Kind::Line,
            vec![(0.0, 0.0), (m.duration_s.max(tl.bucket_s), 0.0)],
        )
        .color(2)];
    }
    figure(
        out,
        &c,
        &format!("{n_err} failed requests, by end time, per {} s bucket", tl.bucket_s),
    );
    out.push_str("</div></section>");
}

/// Bucket midpoints to step-chart edges so each bucket is drawn flat over its width.
fn step_edges(mid: &[(f64, f64)], w: f64) -> Vec<(f64, f64)> {
    let mut v: Vec<(f64, f64)> = mid.iter().map(|&(x, y)| (x - w / 2.0, y)).collect();
    if let Some(&(x, y)) = mid.last() {
        v.push((x + w / 2.0, y));
    }
    v
}
