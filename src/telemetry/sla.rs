//! SLA profiles: seed 004's production targets as named presets, each objective judged
//! passed, failed or unknown with its measured value and where the value came from.
//!
//! | profile | TTFT | output throughput | GPU memory utilization |
//! |---|---|---|---|
//! | `chat` | < 200 ms | > 1,000 tokens/s | > 70 % |
//! | `batch` | < 1,000 ms | > 5,000 tokens/s | > 90 % |
//! | `realtime` | < 50 ms | > 500 tokens/s | > 80 % |
//!
//! The TTFT objective is judged on a percentile of the client's TTFT (default p99, the one the
//! shipped Prometheus alert uses); throughput is the client's system output tokens/s; memory
//! utilization is seed 004's `used / total × 100%` of GPU memory, from NVML or a scraped GPU
//! exporter. Values come from the steady-state window when one was detected, else the whole
//! run. A value that was not measured makes its objective `unknown` — in particular KV-cache
//! usage is never used as memory utilization (vLLM preallocates the KV cache, so the two differ
//! by design); when only KV usage is known, the objective says so and shows it beside.
//!
//! Custom profiles: `--sla 'ttft=300ms,tps=2000,memory=85%'`, optionally `ttft_percentile=95`,
//! or a preset with overrides (`chat,ttft=150ms`); in a run specification, the same fields.

use crate::metrics::Stats;
use serde::{Deserialize, Serialize};

/// A set of objectives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlaProfile {
    pub name: String,
    /// TTFT must be strictly below this (ms) at `ttft_percentile`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub ttft_ms: Option<f64>,
    /// 50, 90, 95, 99 or 99.9.
    #[serde(default = "default_percentile")]
    pub ttft_percentile: f64,
    /// Output tokens/s must be strictly above this.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub min_output_tokens_per_s: Option<f64>,
    /// GPU memory utilization (0–1) must be strictly above this.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub min_memory_utilization: Option<f64>,
}

fn default_percentile() -> f64 {
    99.0
}

impl SlaProfile {
    pub const PRESETS: [&'static str; 3] = ["chat", "batch", "realtime"];

    /// Seed 004's table.
    pub fn preset(name: &str) -> Option<SlaProfile> {
        let (ttft, tps, mem) = match name {
            "chat" => (200.0, 1000.0, 0.70),
            "batch" => (1000.0, 5000.0, 0.90),
            "realtime" => (50.0, 500.0, 0.80),
            _ => return None,
        };
        Some(SlaProfile {
            name: name.into(),
            ttft_ms: Some(ttft),
            ttft_percentile: 99.0,
            min_output_tokens_per_s: Some(tps),
            min_memory_utilization: Some(mem),
        })
    }

    /// `chat`, `batch`, `realtime`, or `key=value` parts (`ttft=300ms`, `tps=2000`,
    /// `memory=85%` or `memory=0.85`, `ttft_percentile=95`), optionally after a preset.
    pub fn parse(spec: &str) -> Result<SlaProfile, String> {
        let mut p = SlaProfile {
            name: "custom".into(),
            ttft_ms: None,
            ttft_percentile: 99.0,
            min_output_tokens_per_s: None,
            min_memory_utilization: None,
        };
        let mut any = false;
        for (i, part) in spec.split(',').map(str::trim).filter(|s| !s.is_empty()).enumerate() {
            if let Some(pre) = SlaProfile::preset(part) {
                if i > 0 {
                    return Err(format!("--sla: preset '{part}' must come first"));
                }
                p = pre;
                any = true;
                continue;
            }
            let (k, v) = part.split_once('=').ok_or_else(|| {
                format!("invalid --sla part '{part}': expected a preset (chat, batch, realtime) or KEY=VALUE")
            })?;
            let v = v.trim();
            let num = |s: &str| -> Result<f64, String> {
                s.parse::<f64>()
                    .ok()
                    .filter(|x| x.is_finite() && *x >= 0.0)
                    .ok_or_else(|| format!("invalid --sla value '{v}' for {k}"))
            };
            match k.trim() {
                "ttft" => {
                    let d = crate::util::parse_duration(v).map_err(|e| format!("invalid --sla ttft: {e}"))?;
                    p.ttft_ms = Some(d.as_secs_f64() * 1000.0);
                }
                "ttft_percentile" => {
                    let q = num(v)?;
                    if ![50.0, 90.0, 95.0, 99.0, 99.9].contains(&q) {
                        return Err(format!(
                            "--sla ttft_percentile must be 50, 90, 95, 99 or 99.9 (got {v})"
                        ));
                    }
                    p.ttft_percentile = q;
                }
                "tps" | "output_tokens_per_s" => p.min_output_tokens_per_s = Some(num(v)?),
                "memory" | "memory_utilization" => {
                    let m = match v.strip_suffix('%') {
                        Some(pct) => num(pct)? / 100.0,
                        None => num(v)?,
                    };
                    if m > 1.0 {
                        return Err(format!(
                            "--sla memory must be a fraction or a percentage ≤ 100% (got {v})"
                        ));
                    }
                    p.min_memory_utilization = Some(m);
                }
                other => {
                    return Err(format!(
                        "unknown --sla objective '{other}' (use ttft, ttft_percentile, tps, memory)"
                    ))
                }
            }
            any = true;
            if p.name != "custom" && !p.name.ends_with('+') {
                p.name.push('+');
            }
        }
        if !any {
            return Err(format!("--sla '{spec}' sets no objective"));
        }
        Ok(p)
    }

    fn ttft_of(&self, s: &Stats) -> f64 {
        match self.ttft_percentile {
            q if q >= 99.9 => s.p999,
            q if q >= 99.0 => s.p99,
            q if q >= 95.0 => s.p95,
            q if q >= 90.0 => s.p90,
            _ => s.p50,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Passed,
    Failed,
    Unknown,
}

/// One objective's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Objective {
    /// `ttft_p99`, `output_tokens_per_s`, `memory_utilization`.
    pub objective: String,
    /// `<` or `>`.
    pub comparison: String,
    pub target: f64,
    pub unit: String,
    pub value: Option<f64>,
    pub verdict: Verdict,
    /// Where `value` came from.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub note: Option<String>,
}

/// The `sla` block of `summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlaResult {
    pub profile: SlaProfile,
    /// `steady_state` or `total`.
    pub window: String,
    /// Failed if any objective failed, else unknown if any is unknown, else passed.
    pub verdict: Verdict,
    pub objectives: Vec<Objective>,
}

/// What the objectives are judged on.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SlaInputs {
    /// `steady_state` or `total`.
    pub window: String,
    /// Client TTFT over the window (ms).
    pub ttft: Stats,
    pub output_tokens_per_s: f64,
    /// Mean GPU memory utilization (0–1) and its source.
    pub memory_utilization: Option<(f64, String)>,
    /// Mean KV-cache usage (0–1) and its source, shown when memory utilization is unknown.
    pub kv_cache_usage: Option<(f64, String)>,
}

pub fn evaluate(p: &SlaProfile, x: &SlaInputs) -> SlaResult {
    let mut objectives = Vec::new();
    if let Some(limit) = p.ttft_ms {
        let (value, verdict) = if x.ttft.n == 0 {
            (None, Verdict::Unknown)
        } else {
            let v = p.ttft_of(&x.ttft);
            (Some(v), if v < limit { Verdict::Passed } else { Verdict::Failed })
        };
        objectives.push(Objective {
            objective: format!("ttft_p{}", fmt_pct(p.ttft_percentile)),
            comparison: "<".into(),
            target: limit,
            unit: "ms".into(),
            value,
            verdict,
            source: Some(format!("client TTFT ({} requests)", x.ttft.n)),
            note: (x.ttft.n == 0).then(|| "no successful request".to_string()),
        });
    }
    if let Some(limit) = p.min_output_tokens_per_s {
        let v = x.output_tokens_per_s;
        objectives.push(Objective {
            objective: "output_tokens_per_s".into(),
            comparison: ">".into(),
            target: limit,
            unit: "tokens/s".into(),
            value: Some(v),
            verdict: if v > limit { Verdict::Passed } else { Verdict::Failed },
            source: Some("client: output tokens of successful requests / window".into()),
            note: None,
        });
    }
    if let Some(limit) = p.min_memory_utilization {
        let o = match &x.memory_utilization {
            Some((v, src)) => Objective {
                objective: "memory_utilization".into(),
                comparison: ">".into(),
                target: limit * 100.0,
                unit: "%".into(),
                value: Some(v * 100.0),
                verdict: if *v > limit { Verdict::Passed } else { Verdict::Failed },
                source: Some(format!("GPU memory used / total ({src})")),
                note: None,
            },
            None => Objective {
                objective: "memory_utilization".into(),
                comparison: ">".into(),
                target: limit * 100.0,
                unit: "%".into(),
                value: None,
                verdict: Verdict::Unknown,
                source: None,
                note: Some(match &x.kv_cache_usage {
                    Some((kv, src)) => format!(
                        "GPU memory was not measured (no NVML, no GPU exporter); KV-cache utilization was {:.1} % ({src}) — that is not GPU memory utilization",
                        kv * 100.0
                    ),
                    None => "GPU memory was not measured (no NVML, no GPU exporter)".into(),
                }),
            },
        };
        objectives.push(o);
    }
    let verdict = if objectives.iter().any(|o| o.verdict == Verdict::Failed) {
        Verdict::Failed
    } else if objectives.iter().any(|o| o.verdict == Verdict::Unknown) {
        Verdict::Unknown
    } else {
        Verdict::Passed
    };
    SlaResult {
        profile: p.clone(),
        window: x.window.clone(),
        verdict,
        objectives,
    }
}

fn fmt_pct(q: f64) -> String {
    if q.fract() == 0.0 {
        format!("{q:.0}")
    } else {
        format!("{q}").replace('.', "")
    }
}

/// One console line per objective, e.g. `SLA chat: ttft_p99 183.2 ms < 200 ms  passed`.
pub fn console_lines(r: &SlaResult) -> Vec<String> {
    let mut v = vec![format!(
        "SLA {} ({}): {}",
        r.profile.name,
        r.window.replace('_', " "),
        verdict_word(r.verdict)
    )];
    for o in &r.objectives {
        let val = match o.value {
            Some(x) => format!("{x:.1} {}", o.unit),
            None => "n/a".into(),
        };
        let mut line = format!(
            "  {:<20} {:>14} {} {} {}  {}",
            o.objective,
            val,
            o.comparison,
            crate::report::svg::fmt_num(o.target),
            o.unit,
            verdict_word(o.verdict)
        );
        if let Some(n) = &o.note {
            line.push_str(&format!(" ({n})"));
        }
        v.push(line);
    }
    v
}

fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Passed => "passed",
        Verdict::Failed => "FAILED",
        Verdict::Unknown => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ttft(p99: f64) -> Stats {
        Stats {
            n: 100,
            p50: p99 / 2.0,
            p99,
            ..Default::default()
        }
    }

    #[test]
    fn presets_are_seed_004s_table() {
        let c = SlaProfile::preset("chat").unwrap();
        assert_eq!(
            (c.ttft_ms, c.min_output_tokens_per_s, c.min_memory_utilization),
            (Some(200.0), Some(1000.0), Some(0.7))
        );
        let b = SlaProfile::preset("batch").unwrap();
        assert_eq!(
            (b.ttft_ms, b.min_output_tokens_per_s, b.min_memory_utilization),
            (Some(1000.0), Some(5000.0), Some(0.9))
        );
        let r = SlaProfile::preset("realtime").unwrap();
        assert_eq!(
            (r.ttft_ms, r.min_output_tokens_per_s, r.min_memory_utilization),
            (Some(50.0), Some(500.0), Some(0.8))
        );
        assert!(SlaProfile::preset("nope").is_none());
    }

    #[test]
    fn parse_custom_and_overrides() {
        let p = SlaProfile::parse("ttft=300ms,tps=2000,memory=85%,ttft_percentile=95").unwrap();
        assert_eq!(p.name, "custom");
        assert_eq!(
            (
                p.ttft_ms,
                p.min_output_tokens_per_s,
                p.min_memory_utilization,
                p.ttft_percentile
            ),
            (Some(300.0), Some(2000.0), Some(0.85), 95.0)
        );
        let o = SlaProfile::parse("chat,ttft=150ms").unwrap();
        assert_eq!(
            (o.name.as_str(), o.ttft_ms, o.min_output_tokens_per_s),
            ("chat+", Some(150.0), Some(1000.0))
        );
        for bad in [
            "",
            "fast",
            "ttft=abc",
            "memory=120%",
            "tps=-1",
            "ttft_percentile=42",
            "ttft=1s,chat",
            "x=1",
        ] {
            let e = SlaProfile::parse(bad).unwrap_err();
            assert!(!e.contains('\n'), "{bad}: {e}");
        }
    }

    #[test]
    fn verdicts_values_and_sources() {
        let chat = SlaProfile::preset("chat").unwrap();
        let r = evaluate(
            &chat,
            &SlaInputs {
                window: "steady_state".into(),
                ttft: ttft(150.0),
                output_tokens_per_s: 800.0,
                memory_utilization: Some((0.9, "nvml".into())),
                kv_cache_usage: Some((0.3, "vllm:kv_cache_usage_perc".into())),
            },
        );
        assert_eq!(r.verdict, Verdict::Failed);
        assert_eq!(r.objectives[0].objective, "ttft_p99");
        assert_eq!(
            (r.objectives[0].value, r.objectives[0].verdict),
            (Some(150.0), Verdict::Passed)
        );
        assert_eq!(r.objectives[1].verdict, Verdict::Failed);
        assert_eq!(r.objectives[2].value, Some(90.0));
        assert_eq!(r.objectives[2].verdict, Verdict::Passed);
        // Strict: exactly at the limit fails.
        let at = evaluate(
            &chat,
            &SlaInputs {
                ttft: ttft(200.0),
                output_tokens_per_s: 1000.0,
                memory_utilization: Some((0.7, "nvml".into())),
                ..Default::default()
            },
        );
        assert!(at.objectives.iter().all(|o| o.verdict == Verdict::Failed));
    }

    #[test]
    fn kv_usage_is_never_memory_utilization() {
        let r = evaluate(
            &SlaProfile::preset("batch").unwrap(),
            &SlaInputs {
                window: "total".into(),
                ttft: ttft(100.0),
                output_tokens_per_s: 6000.0,
                memory_utilization: None,
                kv_cache_usage: Some((0.97, "vllm:kv_cache_usage_perc".into())),
            },
        );
        let m = &r.objectives[2];
        assert_eq!((m.value, m.verdict), (None, Verdict::Unknown));
        let note = m.note.as_deref().unwrap();
        assert!(
            note.contains("KV-cache utilization was 97.0 %") && note.contains("not GPU memory"),
            "{note}"
        );
        assert_eq!(r.verdict, Verdict::Unknown);
        let lines = console_lines(&r);
        assert!(lines[0].contains("batch") && lines[0].contains("unknown"), "{lines:?}");
        assert!(lines[3].contains("n/a"), "{lines:?}");
    }
}
