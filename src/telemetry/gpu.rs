//! The summary's `gpu` block: memory used/total and utilization (seed 004's
//! `used / total × 100%`), GPU utilization, power, energy, and tokens per joule — from local
//! NVML polls when available, else from GPU metrics scraped from a DCGM exporter (or the
//! simulated engine's stand-in for one).
//!
//! Formulas (docs/metrics.md, "GPU telemetry"): per poll, memory utilization = Σ used / Σ total
//! over the GPUs (0–1); statistics over the polls inside the window. Energy = the increase of
//! each GPU's energy counter over the window's span ([`super::window::counter_increase`]),
//! summed over GPUs; where a GPU has no energy counter, the trapezoidal integral of its power
//! samples over the span (`energy_method` says which). Tokens per joule = the client's output
//! (or input + output) tokens / energy.

use super::concepts::GpuReading;
use super::log::ScrapeLog;
use super::server::{ClientView, ConceptStats};
use super::window::{counter_increase, span};
use crate::metrics::Stats;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One GPU over the run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GpuStats {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub memory_total_bytes: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub memory_used_bytes: Option<ConceptStats>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub memory_utilization: Option<ConceptStats>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub utilization: Option<ConceptStats>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub power_w: Option<ConceptStats>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub energy_j: Option<f64>,
}

/// All GPUs over one window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GpuWindow {
    pub window_start_s: f64,
    pub window_end_s: f64,
    /// Σ used / Σ total per poll, 0–1.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub memory_utilization: Option<ConceptStats>,
    /// Σ over GPUs per poll.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub memory_used_bytes: Option<ConceptStats>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub power_w: Option<ConceptStats>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub energy_j: Option<f64>,
    /// `counter` (every GPU has an energy counter) or `power_integral` (some do not).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub energy_method: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub output_tokens_per_joule: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub total_tokens_per_joule: Option<f64>,
}

/// The `gpu` block of `summary.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GpuBlock {
    pub available: bool,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<String>,
    /// `nvml`, or the URL of the scraped endpoint the GPU metrics came from.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub source: Option<String>,
    /// True when the readings are the simulated engine's (no real GPU).
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub simulated: bool,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub gpus: Vec<GpuStats>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub total: Option<GpuWindow>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub steady_state: Option<GpuWindow>,
}

/// Marks a simulated GPU's name (the simulated engine's DCGM-style metrics carry it).
pub const SIMULATED_MARK: &str = "(simulated)";

fn gauge(points: &[(i64, f64)], a: i64, b: i64, source: &str) -> Option<ConceptStats> {
    let inside: Vec<f64> = points.iter().filter(|p| p.0 >= a && p.0 <= b).map(|p| p.1).collect();
    let (first, last) = (*inside.first()?, *inside.last()?);
    let s = Stats::from_samples(inside);
    Some(ConceptStats::Gauge {
        source: source.to_string(),
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

/// Trapezoidal ∫ power dt over the span of `[a, b]`, J.
fn power_integral(points: &[(i64, f64)], a: i64, b: i64) -> Option<f64> {
    let times: Vec<i64> = points.iter().map(|p| p.0).collect();
    let (i0, i1) = span(&times, a, b)?;
    Some(
        points[i0..=i1]
            .windows(2)
            .map(|w| (w[0].1 + w[1].1) / 2.0 * (w[1].0 - w[0].0) as f64 / 1e6)
            .sum(),
    )
}

/// Per-GPU time series from polls: id → (name, points of each field).
#[derive(Default)]
struct Series {
    name: Option<String>,
    used: Vec<(i64, f64)>,
    total: Vec<(i64, f64)>,
    util: Vec<(i64, f64)>,
    power: Vec<(i64, f64)>,
    energy: Vec<(i64, f64)>,
}

fn series(polls: &[(i64, &[GpuReading])]) -> BTreeMap<String, Series> {
    let mut m: BTreeMap<String, Series> = BTreeMap::new();
    for (t, gpus) in polls {
        for g in gpus.iter() {
            let s = m.entry(g.id.clone()).or_default();
            if s.name.is_none() {
                s.name.clone_from(&g.name);
            }
            let push = |v: &mut Vec<(i64, f64)>, x: Option<f64>| {
                if let Some(x) = x.filter(|x| x.is_finite()) {
                    v.push((*t, x));
                }
            };
            push(&mut s.used, g.memory_used_bytes);
            push(&mut s.total, g.memory_total_bytes);
            push(&mut s.util, g.utilization);
            push(&mut s.power, g.power_w);
            push(&mut s.energy, g.energy_j);
        }
    }
    m
}

fn window(polls: &[(i64, &[GpuReading])], a: i64, b: i64, t0: i64, client: &ClientView, src: &str) -> GpuWindow {
    // Per poll: Σ used / Σ total over the GPUs that reported both.
    let mut util = Vec::new();
    let mut used_sum = Vec::new();
    let mut power_sum = Vec::new();
    for (t, gpus) in polls {
        let both: Vec<(f64, f64)> = gpus
            .iter()
            .filter_map(|g| Some((g.memory_used_bytes?, g.memory_total_bytes?)))
            .collect();
        let (u, tot): (f64, f64) = both.iter().fold((0.0, 0.0), |acc, p| (acc.0 + p.0, acc.1 + p.1));
        if !both.is_empty() && tot > 0.0 {
            util.push((*t, u / tot));
            used_sum.push((*t, u));
        }
        let powers: Vec<f64> = gpus.iter().filter_map(|g| g.power_w).collect();
        if !powers.is_empty() {
            power_sum.push((*t, powers.iter().sum()));
        }
    }
    let per = series(polls);
    let mut energy = None;
    let mut method = "counter";
    for s in per.values() {
        let e = if s.energy.len() >= 2 {
            counter_increase(&s.energy, a, b).map(|i| i.increase)
        } else {
            method = "power_integral";
            power_integral(&s.power, a, b)
        };
        if let Some(e) = e {
            *energy.get_or_insert(0.0) += e;
        }
    }
    let per_joule = |tokens: u64| energy.filter(|e: &f64| *e > 0.0).map(|e| tokens as f64 / e);
    GpuWindow {
        window_start_s: (a - t0) as f64 / 1e6,
        window_end_s: (b - t0) as f64 / 1e6,
        memory_utilization: gauge(&util, a, b, src),
        memory_used_bytes: gauge(&used_sum, a, b, src),
        power_w: gauge(&power_sum, a, b, src),
        energy_j: energy,
        energy_method: energy.map(|_| method.to_string()),
        output_tokens_per_joule: per_joule(client.output_tokens),
        total_tokens_per_joule: per_joule(client.output_tokens + client.input_tokens),
    }
}

impl GpuBlock {
    pub fn unavailable(reason: impl Into<String>) -> GpuBlock {
        GpuBlock {
            available: false,
            reason: Some(reason.into()),
            ..Default::default()
        }
    }

    /// From NVML polls when there are any, else from the first scraped source with per-GPU
    /// readings.
    pub fn compute(log: &ScrapeLog, client: &ClientView) -> GpuBlock {
        let (polls, source): (Vec<(i64, &[GpuReading])>, String) = if !log.nvml.is_empty() {
            (
                log.nvml.iter().map(|(t, g)| (*t, g.as_slice())).collect(),
                "nvml".to_string(),
            )
        } else {
            let Some(src) = log.frames.iter().find(|f| !f.frame.gpus.is_empty()).map(|f| f.source) else {
                let mut why = vec!["no GPU telemetry".to_string()];
                if let Some(n) = &log.nvml_unavailable {
                    why.push(n.clone());
                }
                why.push("no DCGM exporter among the scraped endpoints".into());
                return GpuBlock::unavailable(why.join("; "));
            };
            (
                log.frames
                    .iter()
                    .filter(|f| f.source == src)
                    .map(|f| (f.t_us, f.frame.gpus.as_slice()))
                    .collect(),
                log.sources.get(src).map(|s| s.url.clone()).unwrap_or_default(),
            )
        };
        let (a, b) = client.window;
        let mut gpus = Vec::new();
        for (id, s) in series(&polls) {
            let util: Vec<(i64, f64)> = s
                .used
                .iter()
                .filter_map(|&(t, u)| {
                    s.total
                        .iter()
                        .find(|p| p.0 == t)
                        .filter(|p| p.1 > 0.0)
                        .map(|p| (t, u / p.1))
                })
                .collect();
            let energy = if s.energy.len() >= 2 {
                counter_increase(&s.energy, a, b).map(|i| i.increase)
            } else {
                power_integral(&s.power, a, b)
            };
            gpus.push(GpuStats {
                id,
                memory_total_bytes: s.total.last().map(|p| p.1),
                memory_used_bytes: gauge(&s.used, a, b, &source),
                memory_utilization: gauge(&util, a, b, &source),
                utilization: gauge(&s.util, a, b, &source),
                power_w: gauge(&s.power, a, b, &source),
                energy_j: energy,
                name: s.name,
            });
        }
        let simulated = gpus
            .iter()
            .any(|g| g.name.as_deref().is_some_and(|n| n.contains(SIMULATED_MARK)));
        GpuBlock {
            available: true,
            reason: None,
            total: Some(window(&polls, a, b, a, client, &source)),
            steady_state: client.steady.map(|(sa, sb)| window(&polls, sa, sb, a, client, &source)),
            source: Some(source),
            simulated,
            gpus,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::log::{ScrapeLine, NVML_SOURCE};

    const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

    fn reading(id: &str, used: f64, total: f64, power: f64, energy: Option<f64>) -> GpuReading {
        GpuReading {
            id: id.into(),
            name: Some("NVIDIA H100".into()),
            memory_used_bytes: Some(used * GIB),
            memory_total_bytes: Some(total * GIB),
            utilization: Some(0.5),
            power_w: Some(power),
            energy_j: energy,
        }
    }

    fn client() -> ClientView {
        ClientView {
            window: (0, 2_000_000),
            steady: None,
            output_tokens: 3000,
            input_tokens: 1000,
            ..Default::default()
        }
    }

    #[test]
    fn nvml_polls_give_memory_utilization_energy_and_tokens_per_joule() {
        let mut log = ScrapeLog::default();
        for (i, t) in [0i64, 1_000_000, 2_000_000].into_iter().enumerate() {
            let k = i as f64;
            log.absorb(&ScrapeLine {
                t_us: t,
                tick: i as u64,
                source: NVML_SOURCE.into(),
                gpus: vec![
                    reading("GPU-a", 60.0 + 10.0 * k, 80.0, 300.0, Some(1000.0 + 250.0 * k)),
                    // no energy counter: 100 W over 2 s = 200 J by the power integral
                    reading("GPU-b", 20.0, 40.0, 100.0, None),
                ],
                ..Default::default()
            });
        }
        let b = GpuBlock::compute(&log, &client());
        assert!(b.available);
        assert_eq!(b.source.as_deref(), Some("nvml"));
        assert_eq!(b.gpus.len(), 2);
        assert_eq!(b.gpus[0].energy_j, Some(500.0));
        assert_eq!(b.gpus[1].energy_j, Some(200.0));
        let t = b.total.unwrap();
        // (60+20)/120, (70+20)/120, (80+20)/120 → mean 90/120
        match t.memory_utilization.unwrap() {
            ConceptStats::Gauge { mean, max, .. } => {
                assert!((mean - 0.75).abs() < 1e-12);
                assert!((max - 100.0 / 120.0).abs() < 1e-12);
            }
            o => panic!("{o:?}"),
        }
        assert_eq!(t.energy_j, Some(700.0));
        assert_eq!(t.energy_method.as_deref(), Some("power_integral"));
        assert!((t.output_tokens_per_joule.unwrap() - 3000.0 / 700.0).abs() < 1e-12);
        assert!((t.total_tokens_per_joule.unwrap() - 4000.0 / 700.0).abs() < 1e-12);
    }

    #[test]
    fn no_source_says_why() {
        let log = ScrapeLog {
            nvml_unavailable: Some("NVML not available: libnvidia-ml.so.1: cannot open shared object file".into()),
            ..Default::default()
        };
        let b = GpuBlock::compute(&log, &client());
        assert!(!b.available);
        let r = b.reason.unwrap();
        assert!(r.contains("libnvidia-ml.so.1") && r.contains("DCGM"), "{r}");
    }
}
