//! The latency distributions section: CDFs of TTFT, TPOT and E2E, the histogram of per-token
//! ITL (chunk-aware samples, `metrics::itl_samples`) and the tokens-per-chunk distribution.

use super::figure;
use crate::metrics::{itl_samples, request_metrics, tokens_per_chunk};
use crate::record::RequestRecord;
use crate::report::svg::{self, Chart, Kind, Series};
use crate::report::Summary;
use std::collections::BTreeMap;

pub(super) fn render(out: &mut String, s: &Summary, records: &[RequestRecord]) {
    let m = &s.metrics;
    // Distributions
    let measured_ok: Vec<&RequestRecord> = records.iter().filter(|r| !r.warmup && r.ok()).collect();
    let per_req: Vec<_> = measured_ok.iter().map(|r| request_metrics(r)).collect();
    // Per-token samples are pooled one distribution at a time, as f32 with an exact capacity:
    // with 10^6 token events this pass is the run's memory peak.
    let n_itl: usize = measured_ok.iter().map(|r| itl_samples(r).count()).sum();
    let mut itl: Vec<f32> = Vec::with_capacity(n_itl);
    for r in &measured_ok {
        itl.extend(itl_samples(r));
    }
    out.push_str("<section id=\"distributions\"><h2>Latency distributions</h2><div class=\"grid\">");
    for (id, name, vals, note) in [
        (
            "cdf-ttft",
            "TTFT",
            per_req.iter().filter_map(|m| m.ttft_ms).collect::<Vec<_>>(),
            "time to first token-bearing event",
        ),
        (
            "cdf-tpot",
            "TPOT",
            per_req.iter().filter_map(|m| m.tpot_ms).collect(),
            "per request: (last − first token time) / (OSL − tokens in first event)",
        ),
        (
            "cdf-e2e",
            "E2E",
            per_req.iter().filter_map(|m| m.e2e_ms).collect(),
            "send to last token-bearing event",
        ),
    ] {
        let mut c = Chart::new(
            id,
            &format!("{name} CDF"),
            &format!("{name} (ms)"),
            "fraction of requests ≤ x",
        );
        c.y_range = Some((0.0, 1.0));
        c.series.push(svg::cdf_series(name, &vals, "ms", 500));
        figure(
            out,
            &c,
            &format!("{note}; n = {}; dots mark p50/p90/p99/p99.9", vals.len()),
        );
    }
    let n_itl = itl.len();
    let (bars, w) = svg::histogram(itl, 40);
    let tips = bars
        .iter()
        .map(|&(x, n)| format!("{:.2}–{:.2} ms: {n} tokens", x - w / 2.0, x + w / 2.0))
        .collect();
    let mut c = Chart::new(
        "hist-itl",
        "ITL per token (chunk-aware) histogram",
        "inter-token latency (ms)",
        "tokens",
    );
    c.series
        .push(Series::new("ITL", Kind::Bars { width: w }, bars).tips(tips));
    figure(out, &c, &format!("an event with k tokens after a gap g gives k samples of g/k; n = {}; values above p99.9 fold into the last bin", n_itl));
    let mut counts: BTreeMap<u64, u64> = BTreeMap::new();
    for k in measured_ok.iter().flat_map(|r| tokens_per_chunk(r)) {
        *counts.entry(u64::from(k)).or_insert(0) += 1;
    }
    let n_chunks: u64 = counts.values().sum();
    let total = n_chunks.max(1) as f64;
    let (pts, tips): (Vec<_>, Vec<_>) = counts
        .iter()
        .map(|(&k, &n)| {
            (
                (k as f64, n as f64),
                format!("{k} tokens/chunk: {n} chunks ({:.1}%)", n as f64 / total * 100.0),
            )
        })
        .unzip();
    let mut c = Chart::new("hist-tpc", "Tokens per chunk", "tokens in a streamed event", "events");
    c.series
        .push(Series::new("chunks", Kind::Bars { width: 0.8 }, pts).tips(tips));
    figure(
        out,
        &c,
        &format!(
            "{} token-bearing events; mean {:.2} tokens",
            n_chunks, m.tokens_per_chunk.mean
        ),
    );
    out.push_str("</div></section>");
}
