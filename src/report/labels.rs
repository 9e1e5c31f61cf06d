//! The one display name of every reported distribution and headline figure, shared by the
//! console summary, the HTML report and `compare` (text, HTML and gate messages), so the
//! same number carries the same name everywhere — and no output ever shows a bare "ITL":
//! the convention is part of the name (TPOT per request, ITL per token, ICL per chunk).

/// `(summary key, label)` of each latency distribution under `latency_ms`, in display order.
pub const LATENCY: [(&str, &str); 9] = [
    ("ttft", "TTFT"),
    ("ttfo", "TTFO (first content)"),
    ("e2e", "E2E"),
    ("tpot", "TPOT (per request)"),
    ("itl", "ITL (per token, chunk-aware)"),
    ("icl", "ICL (per chunk)"),
    ("normalized", "E2E / OSL"),
    ("schedule_lag", "schedule lag"),
    ("client_queue", "client queue"),
];

pub const PER_USER_TPS: &str = "per-user output tok/s";
pub const TOKENS_PER_CHUNK: &str = "tokens per chunk";

/// The label of a `latency_ms` key (`None` for an unknown key).
pub fn latency(key: &str) -> Option<&'static str> {
    LATENCY.iter().find(|(k, _)| *k == key).map(|(_, l)| *l)
}

/// The label of a `compare`/`--fail-if` metric key: `itl.p50` → `ITL (per token,
/// chunk-aware) p50`, `output_tps` → `output throughput`. Unknown keys are returned as given.
pub fn metric(key: &str) -> String {
    match key {
        "output_tps" => "output throughput".into(),
        "request_rate" => "request throughput".into(),
        "error_rate" => "error rate".into(),
        _ => match key.split_once('.') {
            Some((dist, stat)) => match latency(dist) {
                Some(l) => format!("{l} {stat}"),
                None => key.into(),
            },
            None => key.into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_key_has_a_labelled_name() {
        for (dist, _) in LATENCY.iter().take(6) {
            for stat in ["p50", "p99", "mean"] {
                let l = metric(&format!("{dist}.{stat}"));
                assert!(l.ends_with(stat) && !l.starts_with(dist), "{dist}.{stat} -> {l}");
            }
        }
        assert_eq!(metric("itl.p99"), "ITL (per token, chunk-aware) p99");
        assert_eq!(metric("icl.p50"), "ICL (per chunk) p50");
        assert_eq!(metric("output_tps"), "output throughput");
    }
}
