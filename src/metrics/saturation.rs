//! Where a server saturates, from a sweep's stages — a documented rule, not a guess.
//!
//! Stages are sorted by offered load `x` (request rate or concurrency); stages at the same
//! load (repeated trials) are averaged into one. For each stage we
//! know the output throughput `y`, the median TTFT `τ`, the error rate `e`, and whether its
//! latency kept rising during the stage (no steady state: a queue building up). With the
//! elasticity `ε = ln(y_i / y_{i−1}) / ln(x_i / x_{i−1})` (1 = throughput follows load,
//! 0 = flat), stage `i ≥ 1` is **saturated** when any of:
//!
//! * errors appear: `e_i > 1 %` while `e_{i−1} ≤ 1 %`;
//! * a TTFT spike: `τ_i > 3 · τ_{i−1}`;
//! * a plateau with queueing: `ε < 0.5` and `τ_i > 1.5 · τ_{i−1}`;
//! * throughput no longer keeps pace (`ε < 0.8`) while latency rises within the stage (its
//!   steady-state test found a queue building up). A rising latency alone, with throughput
//!   still proportional to load, is a transient queue in a short stage, not saturation.
//!
//! The **saturation point** is the stage just before the first saturated one (the highest
//! load the server still absorbed), and the peak throughput seen over all stages is reported
//! beside it. The **operating point** is `fraction × saturation load` (default 0.6, the seeds'
//! 50–70 %). With no saturated stage, there is no saturation point: the sweep never reached it.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StagePoint {
    pub load: f64,
    pub output_tps: f64,
    pub ttft_p50_ms: f64,
    pub error_rate: f64,
    /// Latency kept rising during the stage (no steady state because of a growing queue).
    pub latency_rising: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Saturation {
    /// Offered load of the last stage before the plateau (req/s or concurrency).
    pub load: f64,
    pub output_tokens_per_s: f64,
    /// Offered load of the first saturated stage.
    pub first_saturated_load: f64,
    pub peak_output_tokens_per_s: f64,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperatingPoint {
    pub fraction: f64,
    pub load: f64,
}

/// Stages at the same offered load (repeated trials, e.g. `--rates 4,4,8`) are one load: their
/// throughput, median TTFT and error rate are averaged, and latency counts as rising when it
/// rose in any of them. The rules compare distinct loads only (the elasticity of two equal
/// loads is `x / ln 1`, undefined).
fn merge_equal_loads(sorted: Vec<StagePoint>) -> Vec<StagePoint> {
    let mut out: Vec<(StagePoint, f64)> = Vec::new();
    for s in sorted {
        match out.last_mut() {
            Some((m, n)) if m.load == s.load => {
                let w = *n / (*n + 1.0);
                m.output_tps = m.output_tps * w + s.output_tps / (*n + 1.0);
                m.ttft_p50_ms = m.ttft_p50_ms * w + s.ttft_p50_ms / (*n + 1.0);
                m.error_rate = m.error_rate * w + s.error_rate / (*n + 1.0);
                m.latency_rising |= s.latency_rising;
                *n += 1.0;
            }
            _ => out.push((s, 1.0)),
        }
    }
    out.into_iter().map(|(s, _)| s).collect()
}

pub fn saturation(points: &[StagePoint]) -> Option<Saturation> {
    let mut p: Vec<StagePoint> = points.iter().copied().filter(|s| s.load > 0.0).collect();
    p.sort_by(|a, b| a.load.total_cmp(&b.load));
    let peak = p.iter().map(|s| s.output_tps).fold(0.0, f64::max);
    let p = merge_equal_loads(p);
    for i in 1..p.len() {
        let (prev, cur) = (p[i - 1], p[i]);
        let elasticity = if prev.output_tps > 0.0 && cur.output_tps > 0.0 {
            (cur.output_tps / prev.output_tps).ln() / (cur.load / prev.load).ln()
        } else {
            0.0
        };
        let ttft_ratio = if prev.ttft_p50_ms > 0.0 {
            cur.ttft_p50_ms / prev.ttft_p50_ms
        } else {
            1.0
        };
        let mut symptoms = Vec::new();
        if cur.error_rate > 0.01 && prev.error_rate <= 0.01 {
            symptoms.push(format!("error rate {:.1}%", cur.error_rate * 100.0));
        }
        if cur.latency_rising && elasticity < 0.8 {
            symptoms.push("latency kept rising within the stage".to_string());
        }
        if (elasticity < 0.5 && ttft_ratio > 1.5) || ttft_ratio > 3.0 {
            symptoms.push(format!("TTFT p50 {:.0} → {:.0} ms", prev.ttft_p50_ms, cur.ttft_p50_ms));
        }
        if symptoms.is_empty() {
            continue;
        }
        return Some(Saturation {
            load: prev.load,
            output_tokens_per_s: prev.output_tps,
            first_saturated_load: cur.load,
            peak_output_tokens_per_s: peak,
            reason: format!(
                "load {:.1} → {:.1}: output throughput {:.0} → {:.0} tok/s (elasticity {:.2}); {}",
                prev.load,
                cur.load,
                prev.output_tps,
                cur.output_tps,
                elasticity,
                symptoms.join(", ")
            ),
        });
    }
    None
}

pub fn operating_point(s: &Saturation, fraction: f64) -> OperatingPoint {
    OperatingPoint {
        fraction,
        load: s.load * fraction,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pt(load: f64, tps: f64, ttft: f64) -> StagePoint {
        StagePoint {
            load,
            output_tps: tps,
            ttft_p50_ms: ttft,
            error_rate: 0.0,
            latency_rising: false,
        }
    }

    #[test]
    fn knee_is_found() {
        // capacity 100 req/s × 10 tokens: linear until 100, then flat with TTFT exploding
        let c = [
            pt(20.0, 200.0, 50.0),
            pt(40.0, 400.0, 51.0),
            pt(80.0, 800.0, 55.0),
            pt(120.0, 1000.0, 900.0),
            pt(160.0, 1000.0, 3000.0),
        ];
        let s = saturation(&c).expect("saturated");
        assert_eq!(s.load, 80.0);
        assert_eq!(s.first_saturated_load, 120.0);
        assert_eq!(s.peak_output_tokens_per_s, 1000.0);
        assert!(s.reason.contains("TTFT"), "{}", s.reason);
        assert_eq!(operating_point(&s, 0.6).load, 48.0);
    }

    #[test]
    fn no_saturation_on_linear_curve() {
        let c: Vec<_> = (1..6).map(|i| pt(10.0 * i as f64, 100.0 * i as f64, 50.0)).collect();
        assert_eq!(saturation(&c), None);
    }

    #[test]
    fn plateau_without_symptom_is_not_saturation_but_errors_are() {
        let mut c = vec![pt(10.0, 100.0, 50.0), pt(20.0, 110.0, 52.0)];
        assert_eq!(
            saturation(&c),
            None,
            "flat but healthy (e.g. client-limited): no verdict"
        );
        c[1].latency_rising = true;
        assert!(saturation(&c).unwrap().reason.contains("rising"));
        c[1].latency_rising = false;
        c[1].error_rate = 0.2;
        assert!(saturation(&c).unwrap().reason.contains("error rate"));
    }

    /// Regression (audit, issue 16): two trials at one load compared as consecutive stages,
    /// with an elasticity of ±∞ or NaN (`ln 1 = 0` below the fraction bar), so the noise
    /// between two trials read as a TTFT spike at that load. Equal loads are averaged first.
    #[test]
    fn repeated_loads_are_one_stage() {
        let c = [
            pt(10.0, 100.0, 50.0),
            pt(10.0, 104.0, 160.0),
            pt(20.0, 204.0, 110.0),
            pt(40.0, 400.0, 112.0),
        ];
        assert_eq!(saturation(&c), None, "{:?}", saturation(&c));
        // The averaged stage (102 tok/s, TTFT 105 ms) is what the next load is compared with.
        let mut c = c.to_vec();
        c.push(pt(80.0, 420.0, 400.0));
        let s = saturation(&c).expect("saturated at 80");
        assert_eq!((s.load, s.first_saturated_load), (40.0, 80.0));
        assert_eq!(s.peak_output_tokens_per_s, 420.0);
        let one = [pt(10.0, 100.0, 50.0), pt(10.0, 90.0, 200.0)];
        assert_eq!(saturation(&one), None);
    }

    #[test]
    fn unsorted_input_and_closed_loop_concurrency() {
        let c = [
            StagePoint {
                load: 64.0,
                output_tps: 5000.0,
                ttft_p50_ms: 400.0,
                error_rate: 0.0,
                latency_rising: false,
            },
            StagePoint {
                load: 8.0,
                output_tps: 2000.0,
                ttft_p50_ms: 60.0,
                error_rate: 0.0,
                latency_rising: false,
            },
            StagePoint {
                load: 32.0,
                output_tps: 4800.0,
                ttft_p50_ms: 120.0,
                error_rate: 0.0,
                latency_rising: false,
            },
        ];
        let s = saturation(&c).unwrap();
        assert_eq!((s.load, s.first_saturated_load), (32.0, 64.0));
    }
}
