//! The workload's part of a summary: computing `summary.json` `workload` from the records
//! and the run's facts, and its console lines (the prompt source, what reading its file
//! skipped, the prefix-cache hit rate against the built-in reuse, per-turn and per-session
//! figures). Rendering only; the metrics are `metrics::workload`.

use super::{RunInfo, Summary};
use crate::metrics::workload::{self as wm, WorkloadMetrics};
use crate::record::RequestRecord;
use std::fmt::Write as _;

/// `summary.json` `workload` for these records.
pub fn compute(records: &[RequestRecord], run: &RunInfo) -> Option<WorkloadMetrics> {
    let w = run.workload.as_ref();
    wm::compute(
        records,
        w.and_then(|w| w.expected_prefix_reuse),
        w.and_then(|w| w.sessions.as_ref()).map(|s| s.turns),
    )
}

/// The prompt source in a few words, for the console's workload line.
pub fn source_line(r: &RunInfo) -> String {
    let synthetic = format!("input {} tokens", r.input_tokens);
    let Some(w) = &r.workload else { return synthetic };
    let file = w.file.as_deref().unwrap_or("?");
    let mut s = match w.source.as_str() {
        "dataset" => format!("dataset {file} ({})", w.format.as_deref().unwrap_or("?")),
        "trace" => {
            let t = w.trace.as_ref();
            format!(
                "trace {file} ({}, {} requests{})",
                w.format.as_deref().unwrap_or("?"),
                t.map(|t| t.requests).unwrap_or(0),
                t.map(|t| if t.untimed {
                    ", sent back to back".to_string()
                } else {
                    format!(", speed {}", t.speed)
                })
                .unwrap_or_default()
            )
        }
        "shared_prefix" => match &w.shared_prefix {
            Some(p) => format!(
                "{} groups × {} prompts sharing a {}-token prefix, suffix {} tokens",
                p.groups, p.prompts_per_group, p.prefix_tokens, p.suffix_tokens
            ),
            None => "shared prefix".into(),
        },
        _ => synthetic,
    };
    if let Some(ss) = &w.sessions {
        let _ = write!(
            s,
            "; sessions: {} users × {} turns, think {} ms",
            ss.users, ss.turns, ss.think_time_ms
        );
    }
    s
}

/// The output lengths, for the console's workload line.
pub fn output_phrase(r: &RunInfo) -> String {
    match r.workload.as_ref() {
        Some(w) if w.source == "trace" => "output lengths from the trace".into(),
        Some(w) if w.source == "dataset" => match &w.dataset_output_tokens {
            Some(d) => format!("output {d} tokens"),
            None => format!("output lengths from the file (else {} tokens)", r.output_tokens),
        },
        _ => format!("output {} tokens", r.output_tokens),
    }
}

/// Console lines after the latency table: file counts, prefix cache, turns and sessions.
pub fn console(s: &Summary, out: &mut String) {
    if let Some(c) = s.run.workload.as_ref().and_then(|w| w.input.as_ref()) {
        let mut parts = vec![format!("{} read", c.read), format!("{} used", c.used)];
        for (n, what) in [
            (c.skipped_invalid, "invalid skipped"),
            (c.skipped_too_long, "too long for the context skipped"),
            (c.filtered_out, "filtered out"),
            (c.unusable, "unusable"),
        ] {
            if n > 0 {
                parts.push(format!("{n} {what}"));
            }
        }
        let _ = writeln!(out, "input file {}", parts.join(" · "));
        if let Some(first) = &c.first_invalid {
            let _ = writeln!(out, "           first invalid: {first}");
        }
    }
    let Some(w) = &s.workload else { return };
    if let Some(p) = &w.prefix_cache {
        let _ = writeln!(
            out,
            "prefix cache hit rate {:.1}% ({} of {} prompt tokens, {} requests){}",
            p.hit_rate * 100.0,
            p.cached_tokens,
            p.input_tokens,
            p.requests_reporting,
            p.expected_reuse
                .map(|e| format!(" · built-in reuse {:.1}%", e * 100.0))
                .unwrap_or_default()
        );
    }
    if !w.per_turn.is_empty() {
        let _ = writeln!(
            out,
            "  {:<6} {:>8} {:>8} {:>12} {:>12} {:>12} {:>12}",
            "turn", "requests", "ok", "ISL mean", "TTFT p50", "TTFT p99", "E2E p50"
        );
        for t in &w.per_turn {
            let _ = writeln!(
                out,
                "  {:<6} {:>8} {:>8} {:>12.1} {:>12.2} {:>12.2} {:>12.2}",
                t.turn, t.requests, t.succeeded, t.input_tokens.mean, t.ttft_ms.p50, t.ttft_ms.p99, t.e2e_ms.p50
            );
        }
    }
    if let Some(ss) = &w.sessions {
        let _ = writeln!(
            out,
            "sessions   {} ({} completed) · turns mean {:.2} · duration p50 {:.2} s · mean TTFT per session p50 {:.2} ms",
            ss.sessions, ss.completed, ss.turns.mean, ss.duration_s.p50, ss.mean_ttft_ms.p50
        );
    }
    let _ = writeln!(out);
}
