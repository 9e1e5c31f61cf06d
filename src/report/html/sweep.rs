//! The sweep section of a report directory with a `sweep.json`: throughput vs latency,
//! goodput and SLO attainment vs offered load, with the saturation and operating points
//! marked, and the stages table. [`parse_sweep`] documents the accepted shape.

use super::{escape_html, f2, figure};
use crate::report::svg::{Chart, Kind, Marker, Series};
use serde_json::Value;
use std::fmt::Write as _;

/// One stage of a sweep, as read from `sweep.json`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SweepStage {
    pub rate: Option<f64>,
    pub concurrency: Option<f64>,
    pub output_tps: Option<f64>,
    pub request_rate: Option<f64>,
    pub ttft_p50: Option<f64>,
    pub ttft_p99: Option<f64>,
    pub tpot_p50: Option<f64>,
    pub goodput: Option<f64>,
    pub attainment: Option<f64>,
    pub error_rate: Option<f64>,
}

impl SweepStage {
    /// The offered load: the rate, else the concurrency.
    pub fn load(&self) -> Option<f64> {
        self.rate.or(self.concurrency)
    }
}

/// A marked point of a sweep (`saturation`, `operating_point`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SweepPoint {
    pub rate: Option<f64>,
    pub output_tps: Option<f64>,
    pub label: String,
}

fn num(v: &Value, keys: &[&str]) -> Option<f64> {
    keys.iter()
        .find_map(|k| v.pointer(k).and_then(Value::as_f64))
        .filter(|x| x.is_finite())
}

/// Read the goodput rate and SLO attainment from a `goodput` value: a number (goodput in
/// req/s) or an object with `requests_per_s`|`rate`|`goodput` and `attainment`|`slo_attainment`|
/// `fraction` (a fraction in 0..1, or a percentage when above 1).
fn goodput_of(v: Option<&Value>) -> (Option<f64>, Option<f64>) {
    match v {
        Some(Value::Number(n)) => (n.as_f64(), None),
        Some(o @ Value::Object(_)) => (
            num(o, &["/requests_per_s", "/rate", "/goodput", "/goodput_requests_per_s"]),
            num(o, &["/attainment", "/slo_attainment", "/fraction"]).map(|a| if a > 1.0 { a / 100.0 } else { a }),
        ),
        _ => (None, None),
    }
}

/// Parse `sweep.json`. Accepted shape (unknown keys are ignored; everything but `stages` is
/// optional):
///
/// ```json
/// {
///   "stages": [
///     { "rate": 4.0,              // offered req/s (open loop) — or "concurrency": 16
///       "summary": { ...summary.json of the stage: throughput.output_tokens_per_s,
///                    latency_ms.ttft.p50/p99, latency_ms.tpot.p50, requests, optional goodput },
///       "goodput": 3.9 | { "requests_per_s": 3.9, "attainment": 0.97 }   // or in summary
///     }, ...
///   ],
///   "saturation":      { "rate": 12.0, "output_tokens_per_s": 2400.0 },
///   "operating_point": { "rate": 10.0, "output_tokens_per_s": 2100.0 }
/// }
/// ```
///
/// A top-level array is accepted as the `stages` list.
pub fn parse_sweep(v: &Value) -> Result<(Vec<SweepStage>, Vec<SweepPoint>), String> {
    let stages = match v {
        Value::Array(a) => a,
        _ => v
            .get("stages")
            .and_then(Value::as_array)
            .ok_or("sweep.json: expected an object with a 'stages' array")?,
    };
    let mut out = Vec::new();
    for (i, st) in stages.iter().enumerate() {
        let s = st.get("summary").unwrap_or(&Value::Null);
        let rate = num(st, &["/rate", "/request_rate"]);
        let concurrency = num(st, &["/concurrency"]);
        if rate.is_none() && concurrency.is_none() {
            return Err(format!("sweep.json: stage {i} has neither 'rate' nor 'concurrency'"));
        }
        let (g1, a1) = goodput_of(st.get("goodput"));
        let (g2, a2) = goodput_of(s.get("goodput"));
        let total = num(s, &["/requests/total"]);
        let failed = num(s, &["/requests/failed"]);
        out.push(SweepStage {
            rate,
            concurrency,
            output_tps: num(s, &["/throughput/output_tokens_per_s"]),
            request_rate: num(s, &["/throughput/requests_per_s"]),
            ttft_p50: num(s, &["/latency_ms/ttft/p50"]),
            ttft_p99: num(s, &["/latency_ms/ttft/p99"]),
            tpot_p50: num(s, &["/latency_ms/tpot/p50"]),
            goodput: g1.or(g2),
            attainment: a1.or(a2).or_else(|| num(st, &["/attainment"])),
            error_rate: match (total, failed) {
                (Some(t), Some(f)) if t > 0.0 => Some(f / t),
                _ => None,
            },
        });
    }
    let mut points = Vec::new();
    for (key, label) in [("saturation", "saturation"), ("operating_point", "operating point")] {
        if let Some(p) = v.get(key).filter(|p| p.is_object()) {
            points.push(SweepPoint {
                rate: num(p, &["/rate", "/request_rate"]),
                output_tps: num(p, &["/output_tokens_per_s", "/output_tps"]),
                label: label.to_string(),
            });
        }
    }
    Ok((out, points))
}

fn nearest<'a>(stages: &'a [SweepStage], p: &SweepPoint) -> Option<&'a SweepStage> {
    let dist = |s: &SweepStage| match (p.rate, s.load(), p.output_tps, s.output_tps) {
        (Some(a), Some(b), _, _) => (a - b).abs(),
        (_, _, Some(a), Some(b)) => (a - b).abs(),
        _ => f64::INFINITY,
    };
    stages
        .iter()
        .filter(|s| dist(s).is_finite())
        .min_by(|a, b| dist(a).total_cmp(&dist(b)))
}

pub(super) fn render_sweep(out: &mut String, v: &Value) {
    out.push_str("<section id=\"sweep\"><h2>Sweep</h2>");
    let (stages, points) = match parse_sweep(v) {
        Ok(x) => x,
        Err(e) => {
            let _ = write!(out, "<div class=\"warn\">{}</div></section>", escape_html(&e));
            return;
        }
    };
    let by_rate = stages.iter().all(|s| s.rate.is_some());
    let load_label = if by_rate { "offered rate (req/s)" } else { "concurrency" };
    out.push_str("<div class=\"grid\">");
    latency_vs_throughput(out, &stages, &points, by_rate);
    goodput_vs_load(out, &stages, &points, load_label);
    attainment_vs_load(out, &stages, &points, load_label);
    out.push_str("</div>");
    stages_table(out, &stages, &points, load_label);
    out.push_str("</section>");
}

fn mark_color(label: &str) -> &'static str {
    if label == "saturation" {
        "#d62728"
    } else {
        "#ffbf00"
    }
}

/// A marker for each point at `at(point, its nearest stage)`, when that gives coordinates.
fn mark(
    c: &mut Chart,
    stages: &[SweepStage],
    points: &[SweepPoint],
    at: impl Fn(&SweepPoint, &SweepStage) -> (Option<f64>, Option<f64>),
) {
    for p in points {
        if let Some(s) = nearest(stages, p) {
            if let (Some(x), Some(y)) = at(p, s) {
                c.markers.push(Marker {
                    x,
                    y,
                    label: p.label.clone(),
                    color: mark_color(&p.label),
                });
            }
        }
    }
}

/// `(load, value)` points of one stage field, with tooltips.
fn series_of(stages: &[SweepStage], get: fn(&SweepStage) -> Option<f64>, what: &str) -> (Vec<(f64, f64)>, Vec<String>) {
    stages
        .iter()
        .filter_map(|s| {
            Some((
                (s.load()?, get(s)?),
                format!("{what} {:.2} at load {}", get(s)?, f2(s.load()?)),
            ))
        })
        .unzip()
}

fn latency_vs_throughput(out: &mut String, stages: &[SweepStage], points: &[SweepPoint], by_rate: bool) {
    let mut c = Chart::new(
        "sweep-latency-vs-tps",
        "Throughput vs latency (upper-left is better)",
        "latency (ms, log scale)",
        "output tokens/s",
    );
    c.x_log = true;
    let tip = |s: &SweepStage, what: &str, y: f64| {
        format!(
            "{} {}: {what} {y:.2} ms at {:.1} tok/s",
            if by_rate { "rate" } else { "concurrency" },
            s.load().map(f2).unwrap_or_default(),
            s.output_tps.unwrap_or(f64::NAN)
        )
    };
    for (name, get) in [
        (
            "TTFT p50",
            (|s: &SweepStage| s.ttft_p50) as fn(&SweepStage) -> Option<f64>,
        ),
        ("TTFT p99", |s: &SweepStage| s.ttft_p99),
        ("TPOT p50", |s: &SweepStage| s.tpot_p50),
    ] {
        let (pts, tips): (Vec<_>, Vec<_>) = stages
            .iter()
            .filter_map(|s| Some(((get(s)?, s.output_tps?), tip(s, name, get(s)?))))
            .unzip();
        c.series.push(Series::new(name, Kind::Line, pts).tips(tips));
    }
    mark(&mut c, stages, points, |p, s| {
        (s.ttft_p99, p.output_tps.or(s.output_tps))
    });
    figure(out, &c, "one point per stage, in order of offered load: achieved output throughput against latency; markers sit on the TTFT p99 curve");
}

fn goodput_vs_load(out: &mut String, stages: &[SweepStage], points: &[SweepPoint], load_label: &str) {
    let mut c = Chart::new(
        "sweep-goodput",
        "Goodput and throughput vs offered load",
        load_label,
        "requests/s",
    );
    c.x_zero = true;
    let (pts, tips) = series_of(stages, |s| s.request_rate, "throughput req/s");
    c.series
        .push(Series::new("achieved req/s", Kind::Line, pts).tips(tips).dashed());
    let (pts, tips) = series_of(stages, |s| s.goodput, "goodput req/s");
    c.series
        .push(Series::new("goodput req/s", Kind::Line, pts).tips(tips).color(2));
    mark(&mut c, stages, points, |p, s| {
        (p.rate.or(s.load()), s.goodput.or(s.request_rate))
    });
    figure(out, &c, "goodput: requests per second that met every SLO");
}

fn attainment_vs_load(out: &mut String, stages: &[SweepStage], points: &[SweepPoint], load_label: &str) {
    let mut c = Chart::new(
        "sweep-attainment",
        "SLO attainment vs offered load",
        load_label,
        "fraction of requests",
    );
    c.x_zero = true;
    c.y_range = Some((0.0, 1.0));
    let (pts, tips) = series_of(stages, |s| s.attainment, "attainment");
    c.series
        .push(Series::new("SLO attainment", Kind::Line, pts).tips(tips).color(2));
    let (pts, tips) = series_of(stages, |s| s.error_rate, "error rate");
    c.series
        .push(Series::new("error rate", Kind::Line, pts).tips(tips).color(1).dashed());
    mark(&mut c, stages, points, |p, s| (p.rate.or(s.load()), s.attainment));
    figure(out, &c, "attainment: fraction of requests meeting every SLO");
}

fn stages_table(out: &mut String, stages: &[SweepStage], points: &[SweepPoint], load_label: &str) {
    out.push_str("<h3 style=\"margin-top:12px\">Stages</h3><table id=\"sweep-stages\"><thead><tr>");
    let _ = write!(out, "<th>{}</th>", escape_html(load_label));
    out.push_str("<th>output tok/s</th><th>req/s</th><th>TTFT p50 (ms)</th><th>TTFT p99 (ms)</th><th>TPOT p50 (ms)</th><th>goodput (req/s)</th><th>attainment</th><th>errors</th></tr></thead><tbody>");
    let o = |v: Option<f64>| v.map(f2).unwrap_or_else(|| "—".into());
    let pct = |v: Option<f64>| v.map(|x| format!("{:.1}%", x * 100.0)).unwrap_or_else(|| "—".into());
    for s in stages {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            o(s.load()),
            o(s.output_tps),
            o(s.request_rate),
            o(s.ttft_p50),
            o(s.ttft_p99),
            o(s.tpot_p50),
            o(s.goodput),
            pct(s.attainment),
            pct(s.error_rate)
        );
    }
    out.push_str("</tbody></table>");
    for p in points {
        let _ = write!(
            out,
            "<p><b>{}</b>: rate {} · output {} tok/s</p>",
            escape_html(&p.label),
            o(p.rate),
            o(p.output_tps)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweep_shapes() {
        let v: Value = serde_json::json!({
            "stages": [
                {"rate": 1.0, "summary": {"throughput": {"output_tokens_per_s": 100.0, "requests_per_s": 1.0},
                  "latency_ms": {"ttft": {"p50": 30.0, "p99": 40.0}, "tpot": {"p50": 10.0}},
                  "requests": {"total": 10, "failed": 1}}, "goodput": {"requests_per_s": 0.9, "attainment": 90}},
                {"concurrency": 8, "summary": {"goodput": 2.5}}
            ],
            "saturation": {"rate": 1.0}
        });
        let (st, pts) = parse_sweep(&v).unwrap();
        assert_eq!(st[0].output_tps, Some(100.0));
        assert_eq!(st[0].attainment, Some(0.9));
        assert_eq!(st[0].error_rate, Some(0.1));
        assert_eq!(st[1].goodput, Some(2.5));
        assert_eq!(st[1].load(), Some(8.0));
        assert_eq!(pts[0].label, "saturation");
        assert!(parse_sweep(&serde_json::json!({"stages": [{"summary": {}}]})).is_err());
        assert!(parse_sweep(&serde_json::json!({})).is_err());
    }
}
