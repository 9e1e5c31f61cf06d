//! Service-level objectives and goodput: only responses that meet every SLO count.
//!
//! `--slo ttft=200ms,tpot=50ms,e2e=10s,itl_p99=100ms,ttfo=300ms` (any subset), or a preset
//! named after the seeds' table — `chat` (TTFT < 200 ms), `batch` (TTFT < 1 s),
//! `realtime` (TTFT < 50 ms) — optionally overridden: `chat,tpot=40ms`.
//!
//! * A request is **good** when it succeeded and meets every applicable SLO (strictly below
//!   each limit, as the seeds' "TTFT < 200 ms").
//! * The TPOT SLO does not apply to requests whose TPOT is undefined (a single token event:
//!   one output token, or a non-streamed response; or OSL ≤ the first event's tokens); they
//!   are judged on the other SLOs and counted in `tpot_not_applicable` — never passed
//!   silently. The same holds for `itl_p99` on requests with no inter-token gap.
//! * **Attainment** = good / (succeeded + failed): failed requests count as violations
//!   (class `error`).
//! * **Goodput** = the throughput sums of [`super::attribute`] (the one attribution rule)
//!   over the good requests only, divided by the same window: good requests completed in it,
//!   and the output tokens of good requests that arrived in it. Over the whole run this is
//!   good requests / T and Σ OSL of good requests / T. Goodput ≤ throughput, always.

use super::{attribute, itl_samples, request_metrics, Window};
use crate::record::RequestRecord;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Slo {
    pub ttft_ms: Option<f64>,
    pub ttfo_ms: Option<f64>,
    pub tpot_ms: Option<f64>,
    pub e2e_ms: Option<f64>,
    /// p99 of one request's per-token ITL samples.
    pub itl_p99_ms: Option<f64>,
}

impl Slo {
    pub fn parse(spec: &str) -> Result<Slo, String> {
        let mut slo = Slo::default();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part {
                "chat" => slo.ttft_ms = Some(200.0),
                "batch" => slo.ttft_ms = Some(1000.0),
                "realtime" => slo.ttft_ms = Some(50.0),
                _ => {
                    let (k, v) = part.split_once('=').ok_or_else(|| {
                        format!(
                            "invalid --slo part '{part}': expected NAME=DURATION or a preset (chat, batch, realtime)"
                        )
                    })?;
                    let d = crate::util::parse_duration(v).map_err(|e| format!("invalid --slo value for {k}: {e}"))?;
                    let ms = Some(d.as_secs_f64() * 1000.0);
                    match k.trim() {
                        "ttft" => slo.ttft_ms = ms,
                        "ttfo" => slo.ttfo_ms = ms,
                        "tpot" => slo.tpot_ms = ms,
                        "e2e" => slo.e2e_ms = ms,
                        "itl_p99" => slo.itl_p99_ms = ms,
                        other => {
                            return Err(format!("unknown SLO '{other}' (use ttft, ttfo, tpot, e2e, itl_p99)"));
                        }
                    }
                }
            }
        }
        if slo == Slo::default() {
            return Err(format!("--slo '{spec}' sets no objective"));
        }
        Ok(slo)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Goodput {
    pub slo: Slo,
    pub good: u64,
    pub requests_per_s: f64,
    pub output_tokens_per_s: f64,
    /// good / (succeeded + failed), 0–1.
    pub attainment: f64,
    /// SLO name (or `error`) → number of requests that broke it (a request can break several).
    pub violations: BTreeMap<String, u64>,
    /// Requests for which the TPOT objective could not apply (TPOT undefined: one token
    /// event, or OSL ≤ the first event's tokens).
    pub tpot_not_applicable: u64,
}

/// Which objectives one request breaks (empty = good), and whether the TPOT objective could
/// not apply to it.
pub fn violations_of(r: &RequestRecord, slo: &Slo) -> (Vec<&'static str>, bool) {
    if !r.ok() {
        return (vec!["error"], false);
    }
    let m = request_metrics(r);
    let mut v = Vec::new();
    let over = |x: Option<f64>, lim: Option<f64>| matches!((x, lim), (Some(x), Some(l)) if x >= l);
    if over(m.ttft_ms, slo.ttft_ms) {
        v.push("ttft");
    }
    if over(m.ttfo_ms, slo.ttfo_ms) {
        v.push("ttfo");
    }
    if over(m.e2e_ms, slo.e2e_ms) {
        v.push("e2e");
    }
    let mut tpot_na = false;
    if slo.tpot_ms.is_some() {
        match m.tpot_ms {
            Some(_) if over(m.tpot_ms, slo.tpot_ms) => v.push("tpot"),
            Some(_) => {}
            None => tpot_na = true,
        }
    }
    if let Some(lim) = slo.itl_p99_ms {
        let itl: Vec<f32> = itl_samples(r).collect();
        if !itl.is_empty() && super::Stats::from_samples_f32(itl).p99 >= lim {
            v.push("itl_p99");
        }
    }
    (v, tpot_na)
}

/// Goodput of the measured records: the requests `judged` accepts are the population of
/// attainment and violations (the whole run: all; a steady-state window: those sent in it);
/// the rates are the one attribution rule's sums over the good ones among all `measured`
/// records, over `window` (`None`: no window, zero rates).
pub fn goodput(
    measured: &[&RequestRecord],
    judged: impl Fn(&RequestRecord) -> bool,
    slo: &Slo,
    window: Option<Window>,
) -> Goodput {
    let mut g = Goodput {
        slo: slo.clone(),
        ..Default::default()
    };
    let measured: Vec<&RequestRecord> = measured.iter().copied().filter(|r| !r.warmup).collect();
    // One verdict per record, shared by the population counts and the rates.
    let verdicts: Vec<(Vec<&'static str>, bool)> = measured.iter().map(|r| violations_of(r, slo)).collect();
    let mut total = 0u64;
    for (r, (v, na)) in measured.iter().zip(&verdicts) {
        if !judged(r) {
            continue;
        }
        total += 1;
        g.tpot_not_applicable += u64::from(*na);
        g.good += u64::from(v.is_empty());
        for name in v {
            *g.violations.entry(name.to_string()).or_insert(0) += 1;
        }
    }
    if total > 0 {
        g.attainment = g.good as f64 / total as f64;
    }
    if let Some(w) = window {
        let (_, good) = attribute(&measured, w, |i| verdicts[i].0.is_empty());
        let t = good.throughput(w);
        g.requests_per_s = t.requests_per_s;
        g.output_tokens_per_s = t.output_tokens_per_s;
    }
    g
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{ErrorClass, TokenCount, TokenEvent};

    fn rec(events: &[(u32, u32)], osl: u32) -> RequestRecord {
        RequestRecord {
            events: events.iter().map(|&(t, k)| TokenEvent::new(t, k, 1)).collect(),
            output_tokens: TokenCount {
                server: Some(osl),
                client: None,
            },
            end_us: events.last().map(|e| e.0),
            ..Default::default()
        }
    }

    #[test]
    fn parse_presets_and_overrides() {
        assert_eq!(Slo::parse("chat").unwrap().ttft_ms, Some(200.0));
        let s = Slo::parse("chat,tpot=50ms,e2e=10s").unwrap();
        assert_eq!(
            (s.ttft_ms, s.tpot_ms, s.e2e_ms),
            (Some(200.0), Some(50.0), Some(10_000.0))
        );
        assert_eq!(Slo::parse("realtime,ttft=80ms").unwrap().ttft_ms, Some(80.0));
        for bad in ["", "fast", "ttft", "ttft=abc", "speed=1s"] {
            assert!(Slo::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn goodput_on_hand_built_records() {
        let slo = Slo::parse("ttft=100ms,tpot=20ms").unwrap();
        let good = rec(&[(50_000, 1), (60_000, 1), (70_000, 1)], 3); // ttft 50, tpot 10
        let slow_ttft = rec(&[(150_000, 1), (160_000, 1)], 2);
        let slow_tpot = rec(&[(50_000, 1), (100_000, 1)], 2); // tpot 50
        let one_token = rec(&[(40_000, 1)], 1); // TPOT not applicable, TTFT ok → good
        let one_token_slow = rec(&[(400_000, 1)], 1); // breaks TTFT
        let mut failed = rec(&[], 0);
        failed.error = Some(ErrorClass::Http5xx);
        let recs = [good, slow_ttft, slow_tpot, one_token, one_token_slow, failed];
        let refs: Vec<&RequestRecord> = recs.iter().collect();
        let window = Window {
            start_us: 0,
            end_us: 2_000_000,
        };
        let g = goodput(&refs, |_| true, &slo, Some(window));
        assert_eq!(g.good, 2);
        assert!((g.attainment - 2.0 / 6.0).abs() < 1e-12);
        assert_eq!(g.requests_per_s, 1.0);
        assert_eq!(g.output_tokens_per_s, 2.0); // 3 + 1 tokens over 2 s
        assert_eq!(g.violations.get("ttft"), Some(&2));
        assert_eq!(g.violations.get("tpot"), Some(&1));
        assert_eq!(g.violations.get("error"), Some(&1));
        assert_eq!(g.tpot_not_applicable, 2);
    }

    #[test]
    fn itl_p99_per_request() {
        let slo = Slo::parse("itl_p99=30ms").unwrap();
        let smooth = rec(&[(10_000, 1), (20_000, 1), (30_000, 1)], 3);
        let stall = rec(&[(10_000, 1), (20_000, 1), (90_000, 1)], 3);
        assert!(violations_of(&smooth, &slo).0.is_empty());
        assert_eq!(violations_of(&stall, &slo).0, vec!["itl_p99"]);
    }
}
