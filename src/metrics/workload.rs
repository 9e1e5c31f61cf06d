//! Metrics of the workload's shape, defined once (formulas in `docs/metrics.md`, "Workload
//! metrics"): the prefix-cache hit rate the server reported, against the reuse the workload
//! was built with, and for multi-turn sessions the metrics per turn index (TTFT grows with
//! the history) and per session. Pure functions over the measured records.

use super::{request_metrics, Stats};
use crate::record::RequestRecord;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `summary.json` `workload`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkloadMetrics {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix_cache: Option<PrefixCache>,
    /// Multi-turn sessions: one entry per turn index (0-based), in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub per_turn: Vec<TurnMetrics>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sessions: Option<SessionMetrics>,
}

/// Server-reported prefix caching (`usage.prompt_tokens_details.cached_tokens`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PrefixCache {
    /// Successful measured requests whose usage reported cached tokens.
    pub requests_reporting: u64,
    /// Σ prompt tokens (server usage) and Σ cached tokens over those requests.
    pub input_tokens: u64,
    pub cached_tokens: u64,
    /// `cached_tokens / input_tokens`.
    pub hit_rate: f64,
    /// The reuse built into the workload (`run.workload.expected_prefix_reuse`, or for
    /// sessions the history fraction), for comparison.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_reuse: Option<f64>,
}

/// Requests of one turn index across sessions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TurnMetrics {
    pub turn: u32,
    pub requests: u64,
    pub succeeded: u64,
    /// ISL per request (server usage when reported): the history sent at this turn.
    pub input_tokens: Stats,
    pub ttft_ms: Stats,
    pub e2e_ms: Stats,
}

/// Whole conversations.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SessionMetrics {
    /// Conversations with at least one measured turn.
    pub sessions: u64,
    /// Conversations whose every planned turn succeeded.
    pub completed: u64,
    /// Successful turns per conversation.
    pub turns: Stats,
    /// First turn's send to the last successful turn's last token, s (think times included).
    pub duration_s: Stats,
    /// Mean TTFT of each conversation's successful turns, ms.
    pub mean_ttft_ms: Stats,
    /// Σ output tokens of each conversation.
    pub output_tokens: Stats,
}

/// The workload metrics of `records` (warmup excluded); `None` when there is nothing to say
/// (no cached-token reports and no sessions). `expected_reuse` comes from the run's facts;
/// `planned_turns` from the session settings.
pub fn compute(
    records: &[RequestRecord],
    expected_reuse: Option<f64>,
    planned_turns: Option<u32>,
) -> Option<WorkloadMetrics> {
    let measured: Vec<&RequestRecord> = records.iter().filter(|r| !r.warmup).collect();
    let per_turn = per_turn(&measured);
    let sessions = sessions(&measured, planned_turns);
    let expected = expected_reuse.or_else(|| sessions.as_ref().and(history_reuse(&measured)));
    let prefix_cache = prefix_cache(&measured, expected);
    if prefix_cache.is_none() && per_turn.is_empty() && sessions.is_none() {
        return None;
    }
    Some(WorkloadMetrics {
        prefix_cache,
        per_turn,
        sessions,
    })
}

fn prefix_cache(measured: &[&RequestRecord], expected: Option<f64>) -> Option<PrefixCache> {
    let mut p = PrefixCache {
        expected_reuse: expected,
        ..Default::default()
    };
    for r in measured.iter().filter(|r| r.ok()) {
        let (Some(c), Some(isl)) = (r.cached_tokens, r.input_tokens.primary()) else {
            continue;
        };
        p.requests_reporting += 1;
        p.input_tokens += u64::from(isl);
        p.cached_tokens += u64::from(c.min(isl));
    }
    if p.requests_reporting == 0 {
        return None;
    }
    p.hit_rate = if p.input_tokens > 0 {
        p.cached_tokens as f64 / p.input_tokens as f64
    } else {
        0.0
    };
    Some(p)
}

fn per_turn(measured: &[&RequestRecord]) -> Vec<TurnMetrics> {
    let mut by_turn: BTreeMap<u32, Vec<&RequestRecord>> = BTreeMap::new();
    for r in measured {
        if let Some(t) = r.turn {
            by_turn.entry(t).or_default().push(r);
        }
    }
    by_turn
        .into_iter()
        .map(|(turn, rs)| {
            let ok: Vec<&&RequestRecord> = rs.iter().filter(|r| r.ok()).collect();
            let m: Vec<_> = ok.iter().map(|r| request_metrics(r)).collect();
            TurnMetrics {
                turn,
                requests: rs.len() as u64,
                succeeded: ok.len() as u64,
                input_tokens: Stats::from_samples(m.iter().filter_map(|x| x.input_tokens).map(f64::from).collect()),
                ttft_ms: Stats::from_samples(m.iter().filter_map(|x| x.ttft_ms).collect()),
                e2e_ms: Stats::from_samples(m.iter().filter_map(|x| x.e2e_ms).collect()),
            }
        })
        .collect()
}

fn by_session<'a>(measured: &[&'a RequestRecord]) -> BTreeMap<u64, Vec<&'a RequestRecord>> {
    let mut m: BTreeMap<u64, Vec<&RequestRecord>> = BTreeMap::new();
    for r in measured {
        if let Some(s) = r.session {
            m.entry(s).or_default().push(r);
        }
    }
    for v in m.values_mut() {
        v.sort_by_key(|r| r.turn.unwrap_or(0));
    }
    m
}

fn sessions(measured: &[&RequestRecord], planned_turns: Option<u32>) -> Option<SessionMetrics> {
    let all = by_session(measured);
    if all.is_empty() {
        return None;
    }
    let (mut turns, mut dur, mut ttft, mut out) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut completed = 0;
    for rs in all.values() {
        let ok: Vec<&&RequestRecord> = rs.iter().filter(|r| r.ok()).collect();
        turns.push(ok.len() as f64);
        if planned_turns.is_some_and(|p| ok.len() as u64 == u64::from(p) && rs.len() == ok.len()) {
            completed += 1;
        }
        if let (Some(first), Some(end)) = (rs.first(), ok.iter().filter_map(|r| r.last_token_abs_us()).max()) {
            dur.push(end.saturating_sub(first.send_us) as f64 / 1e6);
        }
        let t: Vec<f64> = ok.iter().filter_map(|r| request_metrics(r).ttft_ms).collect();
        if !t.is_empty() {
            ttft.push(t.iter().sum::<f64>() / t.len() as f64);
        }
        out.push(
            ok.iter()
                .map(|r| f64::from(r.output_tokens.primary().unwrap_or(0)))
                .sum(),
        );
    }
    Some(SessionMetrics {
        sessions: all.len() as u64,
        completed,
        turns: Stats::from_samples(turns),
        duration_s: Stats::from_samples(dur),
        mean_ttft_ms: Stats::from_samples(ttft),
        output_tokens: Stats::from_samples(out),
    })
}

/// Sessions: Σ over turns k ≥ 1 of the previous turn's ISL + OSL (the history resent),
/// divided by Σ ISL over all turns — the reuse a prefix cache could serve.
fn history_reuse(measured: &[&RequestRecord]) -> Option<f64> {
    let (mut reused, mut total) = (0u64, 0u64);
    for rs in by_session(measured).values() {
        let mut prev: Option<&RequestRecord> = None;
        for r in rs.iter().filter(|r| r.ok()) {
            let isl = u64::from(r.input_tokens.primary().unwrap_or(0));
            total += isl;
            if let Some(p) = prev.filter(|p| p.turn.map(|t| t + 1) == r.turn) {
                let hist = u64::from(p.input_tokens.primary().unwrap_or(0))
                    + u64::from(p.output_tokens.primary().unwrap_or(0));
                reused += hist.min(isl);
            }
            prev = Some(r);
        }
    }
    (total > 0).then(|| reused as f64 / total as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{ErrorClass, TokenCount, TokenEvent};

    fn rec(session: u64, turn: u32, send: u64, isl: u32, osl: u32, cached: Option<u32>, ttft_us: u32) -> RequestRecord {
        RequestRecord {
            id: session * 10 + u64::from(turn),
            send_us: send,
            end_us: Some(ttft_us + 1000),
            events: vec![
                TokenEvent::new(ttft_us, 1, 1),
                TokenEvent::new(ttft_us + 1000, osl - 1, 1),
            ],
            input_tokens: TokenCount {
                server: Some(isl),
                client: None,
            },
            output_tokens: TokenCount {
                server: Some(osl),
                client: None,
            },
            cached_tokens: cached,
            session: Some(session),
            turn: Some(turn),
            status: 200,
            ..Default::default()
        }
    }

    #[test]
    fn hand_computed_turns_sessions_and_cache() {
        // session 0: turns of ISL 10, 25 (=10+5+10), 40; session 1: 10, then a failed turn
        let mut failed = rec(1, 1, 5_000_000, 25, 5, None, 2000);
        failed.error = Some(ErrorClass::Http5xx);
        let rs = vec![
            rec(0, 0, 0, 10, 5, Some(0), 1000),
            rec(0, 1, 1_000_000, 25, 5, Some(15), 2000),
            rec(0, 2, 2_000_000, 40, 5, Some(30), 3000),
            rec(1, 0, 0, 10, 5, Some(0), 1000),
            failed,
        ];
        let m = compute(&rs, None, Some(3)).unwrap();
        assert_eq!(m.per_turn.len(), 3);
        assert_eq!((m.per_turn[1].requests, m.per_turn[1].succeeded), (2, 1));
        assert_eq!(m.per_turn[1].input_tokens.mean, 25.0);
        assert_eq!(m.per_turn[2].ttft_ms.p50, 3.0);
        let s = m.sessions.unwrap();
        assert_eq!((s.sessions, s.completed), (2, 1));
        assert_eq!((s.turns.min, s.turns.max), (1.0, 3.0));
        // session 0: send 0 → last token at 2 s + 4 ms
        assert!((s.duration_s.max - 2.004).abs() < 1e-9);
        let p = m.prefix_cache.unwrap();
        assert_eq!((p.requests_reporting, p.input_tokens, p.cached_tokens), (4, 85, 45));
        assert!((p.hit_rate - 45.0 / 85.0).abs() < 1e-12);
        // history resent: turn 1 reuses 10 + 5, turn 2 reuses 25 + 5 → 45 / 85
        assert!((p.expected_reuse.unwrap() - 45.0 / 85.0).abs() < 1e-12);
        assert!(compute(&[rec(0, 0, 0, 1, 2, None, 1)][..0], None, None).is_none());
    }
}
