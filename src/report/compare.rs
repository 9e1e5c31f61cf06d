//! Comparing runs (`infermeter compare`): headline metrics side by side with absolute and
//! relative deltas against the first run (the baseline), run-to-run noise estimated by a
//! seeded bootstrap over each run's records, ratio lines, and regression gates
//! (`--fail-if 'ttft.p99 > +10%'`). Everything here is pure; the CLI glue that reads run
//! directories and sets the exit code is `cli::compare_cmd`.
//!
//! **Noise.** For each metric, the run's requests are resampled with replacement
//! (`resamples` times, seeded), the statistic (percentile or mean) is recomputed on each
//! resample, and the 2.5th–97.5th percentiles of those estimates form a 95 % confidence
//! interval. Per-token distributions (ITL, ICL) are resampled by request (a cluster
//! bootstrap: a request's tokens stay together), since tokens of one request are not
//! independent. A difference is *significant* when the two runs' intervals do not overlap
//! (a conservative test). Throughput and request rate are single window-based numbers with
//! no per-request samples and get no interval.

use crate::metrics::stats::percentile_sorted;
use crate::metrics::{icl_samples, itl_samples, request_metrics, RunMetrics, Stats};
use crate::record::RequestRecord;
use crate::util::Rng;
use serde::Serialize;
use std::fmt::Write as _;

/// Bounds on the work of one interval on very large runs: at most `MAX_SAMPLES` pooled
/// samples (a seeded random subset of whole requests beyond that, which widens the interval:
/// conservative), and the number of resamples reduced so that at most `MAX_WORK` samples are
/// copied in all, never below `MIN_RESAMPLES`.
const MAX_SAMPLES: usize = 2_000_000;
const MAX_WORK: usize = 200_000_000;
const MIN_RESAMPLES: usize = 100;

/// The metrics of the comparison table, in order.
pub const HEADLINE: [&str; 11] = [
    "ttft.p50",
    "ttft.p99",
    "tpot.p50",
    "tpot.p99",
    "itl.p50",
    "itl.p99",
    "e2e.p50",
    "e2e.p99",
    "output_tps",
    "request_rate",
    "error_rate",
];

/// Latency distributions a metric key may name.
pub const DISTRIBUTIONS: [&str; 6] = ["ttft", "ttfo", "tpot", "itl", "icl", "e2e"];
/// Statistics a latency metric key may name.
pub const STATISTICS: [&str; 5] = ["p50", "p90", "p95", "p99", "mean"];

/// One run as the comparison sees it.
#[derive(Debug, Clone)]
pub struct RunData {
    pub label: String,
    pub target: String,
    pub model: String,
    pub metrics: RunMetrics,
    /// The raw records when `records.jsonl` was available (needed for intervals and CDFs).
    pub records: Option<Vec<RequestRecord>>,
}

/// A statistic of a sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Statistic {
    Mean,
    /// Percentile in [0, 100], linear interpolation (as in `Stats`).
    Percentile(f64),
}

/// The statistic of `v` (reordered in place); `None` when empty.
pub fn statistic(v: &mut [f64], stat: Statistic) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    match stat {
        Statistic::Mean => Some(v.iter().sum::<f64>() / v.len() as f64),
        Statistic::Percentile(p) => {
            let rank = (p / 100.0).clamp(0.0, 1.0) * (v.len() - 1) as f64;
            let lo = rank.floor() as usize;
            let frac = rank - lo as f64;
            let (_, a, rest) = v.select_nth_unstable_by(lo, f64::total_cmp);
            let a = *a;
            if frac > 0.0 {
                let b = rest.iter().copied().fold(f64::INFINITY, f64::min);
                Some(a + (b - a) * frac)
            } else {
                Some(a)
            }
        }
    }
}

/// Percentile-method bootstrap confidence interval of `stat` over the pooled samples of
/// `groups`, resampling whole groups (one group per request) with replacement. `level` is
/// e.g. 0.95. Deterministic for a given seed. `None` with fewer than 2 non-empty groups.
pub fn bootstrap_ci(
    groups: &[Vec<f64>],
    stat: Statistic,
    resamples: usize,
    seed: u64,
    level: f64,
) -> Option<(f64, f64)> {
    let mut groups: Vec<&Vec<f64>> = groups.iter().filter(|g| !g.is_empty()).collect();
    let mut rng = Rng::new(seed);
    let mut total: usize = groups.iter().map(|g| g.len()).sum();
    if total > MAX_SAMPLES {
        // Seeded partial Fisher–Yates shuffle: keep a random subset of whole groups.
        let mut kept = 0;
        total = 0;
        while kept < groups.len() && total < MAX_SAMPLES {
            let j = kept + rng.below((groups.len() - kept) as u64) as usize;
            groups.swap(kept, j);
            total += groups[kept].len();
            kept += 1;
        }
        groups.truncate(kept);
    }
    let n = groups.len();
    if n < 2 || resamples == 0 {
        return None;
    }
    let resamples = resamples.min((MAX_WORK / total.max(1)).max(MIN_RESAMPLES));
    let mut buf: Vec<f64> = Vec::with_capacity(total * 2);
    let mut est = Vec::with_capacity(resamples);
    for _ in 0..resamples {
        buf.clear();
        for _ in 0..n {
            buf.extend_from_slice(groups[rng.below(n as u64) as usize]);
        }
        if let Some(v) = statistic(&mut buf, stat) {
            est.push(v);
        }
    }
    est.sort_unstable_by(f64::total_cmp);
    let tail = (1.0 - level.clamp(0.0, 1.0)) / 2.0 * 100.0;
    Some((percentile_sorted(&est, tail), percentile_sorted(&est, 100.0 - tail)))
}

/// True for a metric key the comparison and the gates understand.
pub fn is_metric(key: &str) -> bool {
    matches!(key, "output_tps" | "request_rate" | "error_rate")
        || key
            .split_once('.')
            .is_some_and(|(d, s)| DISTRIBUTIONS.contains(&d) && STATISTICS.contains(&s))
}

fn stats_of<'a>(m: &'a RunMetrics, dist: &str) -> Option<&'a Stats> {
    m.latency_ms.get(dist).filter(|_| DISTRIBUTIONS.contains(&dist))
}

/// The value of a metric key in a run (`None` when the run has no sample of it).
pub fn metric_value(m: &RunMetrics, key: &str) -> Option<f64> {
    match key {
        "output_tps" => Some(m.throughput.output_tokens_per_s),
        "request_rate" => Some(m.throughput.requests_per_s),
        "error_rate" => (m.requests.total > 0).then(|| m.requests.failed as f64 / m.requests.total as f64),
        _ => {
            let (dist, stat) = key.split_once('.')?;
            let s = stats_of(m, dist).filter(|s| s.n > 0)?;
            match stat {
                "p50" => Some(s.p50),
                "p90" => Some(s.p90),
                "p95" => Some(s.p95),
                "p99" => Some(s.p99),
                "mean" => Some(s.mean),
                _ => None,
            }
        }
    }
}

/// Unit of a metric key's values.
pub fn unit_of(key: &str) -> &'static str {
    match key {
        "output_tps" => "tok/s",
        "request_rate" => "req/s",
        "error_rate" => "",
        _ => "ms",
    }
}

/// Per-request sample groups of a distribution (or of the error indicator).
pub fn sample_groups(records: &[RequestRecord], dist: &str) -> Vec<Vec<f64>> {
    let measured = records.iter().filter(|r| !r.warmup);
    match dist {
        "error_rate" => measured.map(|r| vec![if r.ok() { 0.0 } else { 1.0 }]).collect(),
        "itl" | "icl" => measured
            .filter(|r| r.ok())
            .map(|r| {
                if dist == "itl" {
                    itl_samples(r).map(f64::from).collect()
                } else {
                    icl_samples(r).map(f64::from).collect()
                }
            })
            .collect(),
        _ => measured
            .filter(|r| r.ok())
            .filter_map(|r| {
                let m = request_metrics(r);
                match dist {
                    "ttft" => m.ttft_ms,
                    "ttfo" => m.ttfo_ms,
                    "tpot" => m.tpot_ms,
                    "e2e" => m.e2e_ms,
                    _ => None,
                }
            })
            .map(|v| vec![v])
            .collect(),
    }
}

/// Bootstrap interval of a metric key in one run (`None` for window-based metrics or runs
/// without records).
pub fn metric_ci(records: &[RequestRecord], key: &str, resamples: usize, seed: u64) -> Option<(f64, f64)> {
    let (dist, stat) = match key {
        "error_rate" => ("error_rate", Statistic::Mean),
        _ => {
            let (d, s) = key.split_once('.')?;
            let stat = match s {
                "mean" => Statistic::Mean,
                p => Statistic::Percentile(p.strip_prefix('p')?.parse().ok()?),
            };
            (d, stat)
        }
    };
    bootstrap_ci(&sample_groups(records, dist), stat, resamples, seed, 0.95)
}

#[derive(Debug, Clone, Serialize)]
pub struct RunHeader {
    pub label: String,
    pub target: String,
    pub model: String,
    pub requests: u64,
    pub has_records: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Cell {
    pub value: Option<f64>,
    /// 95 % bootstrap interval.
    pub ci: Option<[f64; 2]>,
    /// Against the baseline (absent in the baseline's own cell).
    pub delta: Option<f64>,
    pub delta_pct: Option<f64>,
    /// The intervals of this run and the baseline do not overlap.
    pub significant: Option<bool>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// The metric key (as `--fail-if` names it), e.g. `itl.p50`.
    pub metric: String,
    /// Its display name, the same as in the console and the report, e.g. `ITL (per token,
    /// chunk-aware) p50`: what every rendering of the row shows.
    pub label: String,
    pub unit: String,
    pub cells: Vec<Cell>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub baseline: String,
    pub runs: Vec<RunHeader>,
    pub rows: Vec<Row>,
    /// "B output throughput is 11.2× A (2,800 vs 250 tok/s)" for each run after the first.
    pub ratios: Vec<String>,
    pub resamples: usize,
    pub confidence: f64,
}

/// Relative change `(v − base) / |base|` (infinite when the baseline is 0 and v is not).
pub fn rel_change(base: f64, v: f64) -> f64 {
    if base == 0.0 {
        if v == 0.0 {
            0.0
        } else {
            f64::INFINITY.copysign(v)
        }
    } else {
        (v - base) / base.abs()
    }
}

/// Build the comparison table. `runs[0]` is the baseline.
pub fn compare(runs: &[RunData], resamples: usize, seed: u64) -> Comparison {
    let mut rows = Vec::new();
    for (k, key) in HEADLINE.iter().enumerate() {
        let mut cells: Vec<Cell> = Vec::new();
        for (i, r) in runs.iter().enumerate() {
            let value = metric_value(&r.metrics, key);
            let ci = r
                .records
                .as_deref()
                .and_then(|recs| metric_ci(recs, key, resamples, seed.wrapping_add((k * 7919 + i) as u64)))
                .map(|(a, b)| [a, b]);
            cells.push(Cell {
                value,
                ci,
                delta: None,
                delta_pct: None,
                significant: None,
            });
        }
        if let Some((first, rest)) = cells.split_first_mut() {
            for c in rest {
                if let (Some(b), Some(v)) = (first.value, c.value) {
                    c.delta = Some(v - b);
                    let rel = rel_change(b, v);
                    c.delta_pct = rel.is_finite().then_some(rel * 100.0);
                }
                if let (Some([a0, a1]), Some([b0, b1])) = (first.ci, c.ci) {
                    c.significant = Some(b0 > a1 || b1 < a0);
                }
            }
        }
        rows.push(Row {
            metric: key.to_string(),
            label: super::labels::metric(key),
            unit: unit_of(key).to_string(),
            cells,
        });
    }
    let mut ratios = Vec::new();
    if let Some(base) = runs.first() {
        let b = base.metrics.throughput.output_tokens_per_s;
        for r in runs.iter().skip(1) {
            let v = r.metrics.throughput.output_tokens_per_s;
            if b > 0.0 && v > 0.0 {
                let lower = if v < b {
                    format!(", {}× lower", ratio(b / v))
                } else {
                    String::new()
                };
                ratios.push(format!(
                    "{} output throughput is {}× {} ({} vs {} tok/s{lower})",
                    r.label,
                    ratio(v / b),
                    base.label,
                    thousands(v),
                    thousands(b)
                ));
            }
        }
    }
    Comparison {
        baseline: runs.first().map(|r| r.label.clone()).unwrap_or_default(),
        runs: runs
            .iter()
            .map(|r| RunHeader {
                label: r.label.clone(),
                target: r.target.clone(),
                model: r.model.clone(),
                requests: r.metrics.requests.total,
                has_records: r.records.is_some(),
            })
            .collect(),
        rows,
        ratios,
        resamples,
        confidence: 0.95,
    }
}

fn ratio(x: f64) -> String {
    if x >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

/// `2800.4` → `2,800`; values below 100 keep one decimal.
pub fn thousands(v: f64) -> String {
    if v.abs() < 100.0 {
        return format!("{v:.1}");
    }
    let s = format!("{:.0}", v.abs());
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    if v < 0.0 {
        format!("-{out}")
    } else {
        out
    }
}

/// A value of a metric for display (error rate as a percentage).
pub fn fmt_value(key: &str, v: Option<f64>) -> String {
    match v {
        None => "n/a".into(),
        Some(v) if key == "error_rate" => format!("{:.2}%", v * 100.0),
        Some(v) if v.abs() >= 1000.0 => thousands(v),
        Some(v) => format!("{v:.2}"),
    }
}

fn fmt_delta(key: &str, c: &Cell) -> String {
    let abs = match c.delta {
        None => return String::new(),
        Some(d) if key == "error_rate" => format!("{:+.2}pp", d * 100.0),
        Some(d) => format!("{d:+.2}"),
    };
    let rel = c.delta_pct.map(|p| format!(" ({p:+.1}%)")).unwrap_or_default();
    let mark = match c.significant {
        Some(true) => " *",
        Some(false) => "",
        None => " ?",
    };
    format!("{abs}{rel}{mark}")
}

/// A row's name with its unit, e.g. `ITL (per token, chunk-aware) p50 (ms)`.
pub fn row_name(row: &Row) -> String {
    if row.unit.is_empty() {
        row.label.clone()
    } else {
        format!("{} ({})", row.label, row.unit)
    }
}

/// The console table.
pub fn render_text(c: &Comparison) -> String {
    let mut out = String::new();
    for (i, r) in c.runs.iter().enumerate() {
        let _ = writeln!(
            out,
            "{} {}: {} · model {} · {} requests{}",
            (b'A' + (i % 26) as u8) as char,
            r.label,
            r.target,
            r.model,
            r.requests,
            if i == 0 { " (baseline)" } else { "" }
        );
    }
    let _ = writeln!(out);
    let w = c
        .runs
        .iter()
        .map(|r| r.label.chars().count())
        .max()
        .unwrap_or(0)
        .clamp(12, 28);
    let lw = c
        .rows
        .iter()
        .map(|r| row_name(r).chars().count())
        .max()
        .unwrap_or(0)
        .max(22);
    let _ = write!(out, "{:<lw$}", "metric");
    for (i, r) in c.runs.iter().enumerate() {
        let _ = write!(out, " {:>w$}", r.label);
        if i > 0 {
            let _ = write!(out, " {:>24}", "Δ vs baseline");
        }
    }
    let _ = writeln!(out);
    for row in &c.rows {
        let _ = write!(out, "{:<lw$}", row_name(row));
        for (i, cell) in row.cells.iter().enumerate() {
            let _ = write!(out, " {:>w$}", fmt_value(&row.metric, cell.value));
            if i > 0 {
                let _ = write!(out, " {:>24}", fmt_delta(&row.metric, cell));
            }
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(
        out,
        "\n* outside run-to-run noise ({:.0}% bootstrap CIs, {} resamples, do not overlap); ? no interval",
        c.confidence * 100.0,
        c.resamples
    );
    for r in &c.ratios {
        let _ = writeln!(out, "{r}");
    }
    out
}

/// Direction of a gate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub enum Op {
    #[serde(rename = ">")]
    Greater,
    #[serde(rename = "<")]
    Less,
}

/// The change a gate allows.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// Relative to the baseline, as a fraction (+10% → 0.10).
    Relative(f64),
    /// In the metric's unit (ms, tok/s, req/s; error rate as a fraction).
    Absolute(f64),
}

/// `METRIC OP CHANGE`, e.g. `ttft.p99 > +10%`: fail when a run's change against the
/// baseline is beyond CHANGE in the direction of OP.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Gate {
    pub text: String,
    pub metric: String,
    pub op: Op,
    pub change: Change,
}

/// Parse a gate. Errors are one line naming what is wrong.
pub fn parse_gate(s: &str) -> Result<Gate, String> {
    let bad = |why: &str| {
        format!(
            "invalid --fail-if '{s}': {why} (expected METRIC >|< CHANGE, e.g. 'ttft.p99 > +10%' or 'output_tps < -5%')"
        )
    };
    let (pos, op) = match (s.find('>'), s.find('<')) {
        (Some(i), None) => (i, Op::Greater),
        (None, Some(i)) => (i, Op::Less),
        _ => return Err(bad("needs exactly one of > or <")),
    };
    let metric = s[..pos].trim();
    let rhs = s[pos + 1..].trim();
    if rhs.contains('>') || rhs.contains('<') {
        return Err(bad("needs exactly one of > or <"));
    }
    if !is_metric(metric) {
        return Err(bad(&format!(
            "unknown metric '{metric}'; use ttft|ttfo|tpot|itl|icl|e2e with .p50|.p90|.p95|.p99|.mean, or output_tps|request_rate|error_rate"
        )));
    }
    let num_end = rhs
        .char_indices()
        .find(|&(i, ch)| !(ch.is_ascii_digit() || ch == '.' || ((ch == '+' || ch == '-') && i == 0)))
        .map(|(i, _)| i)
        .unwrap_or(rhs.len());
    let value: f64 = rhs[..num_end]
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite())
        .ok_or_else(|| bad(&format!("'{rhs}' is not a signed number with a unit")))?;
    let unit = rhs[num_end..].trim();
    let change = match (unit, metric) {
        ("%", _) => Change::Relative(value / 100.0),
        ("ms", m) if unit_of(m) == "ms" => Change::Absolute(value),
        ("s", m) if unit_of(m) == "ms" => Change::Absolute(value * 1000.0),
        ("us" | "µs", m) if unit_of(m) == "ms" => Change::Absolute(value / 1000.0),
        ("tok/s", "output_tps") | ("req/s", "request_rate") => Change::Absolute(value),
        ("pp", "error_rate") => Change::Absolute(value / 100.0),
        ("", "error_rate") => Change::Absolute(value),
        _ => {
            let want = match unit_of(metric) {
                "ms" => "%, ms, s or us",
                "tok/s" => "% or tok/s",
                "req/s" => "% or req/s",
                _ => "% (relative), pp (percentage points) or a bare fraction",
            };
            return Err(bad(&format!("unit '{unit}' does not fit {metric}; use {want}")));
        }
    };
    Ok(Gate {
        text: s.trim().to_string(),
        metric: metric.to_string(),
        op,
        change,
    })
}

/// The outcome of one gate on one run.
#[derive(Debug, Clone, Serialize)]
pub struct GateResult {
    pub gate: String,
    pub run: String,
    pub baseline_value: Option<f64>,
    pub value: Option<f64>,
    pub violated: bool,
    pub message: String,
}

/// Check every gate on every run after the first. A metric missing from either run
/// violates the gate (a gate must never pass silently).
pub fn evaluate_gates(runs: &[RunData], gates: &[Gate]) -> Vec<GateResult> {
    let mut out = Vec::new();
    let Some(base) = runs.first() else {
        return out;
    };
    for g in gates {
        let unit = unit_of(&g.metric);
        let b = metric_value(&base.metrics, &g.metric);
        for r in runs.iter().skip(1) {
            let v = metric_value(&r.metrics, &g.metric);
            let (violated, message) = match (b, v) {
                (Some(b), Some(v)) => {
                    let (delta, limit, shown) = match g.change {
                        Change::Relative(x) => {
                            let d = rel_change(b, v);
                            (d, x, format!("{:+.1}%", d * 100.0))
                        }
                        Change::Absolute(x) => (v - b, x, format!("{:+.3} {unit}", v - b)),
                    };
                    let violated = match g.op {
                        Op::Greater => delta > limit,
                        Op::Less => delta < limit,
                    };
                    (
                        violated,
                        format!(
                            "gate '{}' {}: {} {} = {} vs {} in {} ({shown})",
                            g.text,
                            if violated { "violated" } else { "passed" },
                            r.label,
                            super::labels::metric(&g.metric),
                            fmt_value(&g.metric, Some(v)),
                            fmt_value(&g.metric, Some(b)),
                            base.label
                        ),
                    )
                }
                _ => (
                    true,
                    format!(
                        "gate '{}' violated: {} has no value in {}",
                        g.text,
                        super::labels::metric(&g.metric),
                        if b.is_none() { &base.label } else { &r.label }
                    ),
                ),
            };
            out.push(GateResult {
                gate: g.text.clone(),
                run: r.label.clone(),
                baseline_value: b,
                value: v,
                violated,
                message,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistic_matches_stats_percentiles() {
        let v: Vec<f64> = (0..101).map(|i| f64::from((i * 37) % 101)).collect();
        let s = Stats::from_samples(v.clone());
        for (p, want) in [(50.0, s.p50), (90.0, s.p90), (99.0, s.p99)] {
            assert!((statistic(&mut v.clone(), Statistic::Percentile(p)).unwrap() - want).abs() < 1e-9);
        }
        let mut w = vec![1.0, 2.0, 3.0, 4.0];
        assert_eq!(statistic(&mut w, Statistic::Percentile(50.0)), Some(2.5));
        assert_eq!(statistic(&mut w, Statistic::Mean), Some(2.5));
        assert_eq!(statistic(&mut [], Statistic::Mean), None);
    }

    fn noisy(seed: u64, n: usize, mean: f64) -> Vec<Vec<f64>> {
        let mut r = Rng::new(seed);
        (0..n).map(|_| vec![mean + r.normal()]).collect()
    }

    #[test]
    fn bootstrap_is_seeded_covers_the_estimate_and_narrows_with_n() {
        let g = noisy(1, 200, 50.0);
        let a = bootstrap_ci(&g, Statistic::Percentile(50.0), 1000, 7, 0.95).unwrap();
        assert_eq!(a, bootstrap_ci(&g, Statistic::Percentile(50.0), 1000, 7, 0.95).unwrap());
        let mut pooled: Vec<f64> = g.iter().flatten().copied().collect();
        let est = statistic(&mut pooled, Statistic::Percentile(50.0)).unwrap();
        assert!(a.0 <= est && est <= a.1, "{a:?} {est}");
        assert!(a.0 > 49.5 && a.1 < 50.5, "{a:?}");
        let big = bootstrap_ci(&noisy(2, 5000, 50.0), Statistic::Mean, 300, 7, 0.95).unwrap();
        assert!(big.1 - big.0 < a.1 - a.0);
        assert!(bootstrap_ci(&[vec![1.0]], Statistic::Mean, 100, 0, 0.95).is_none());
        // A huge pooled distribution stays fast (subset of requests, fewer resamples).
        let huge: Vec<Vec<f64>> = (0..20_000).map(|i| vec![f64::from(i % 97); 200]).collect();
        let t = std::time::Instant::now();
        let ci = bootstrap_ci(&huge, Statistic::Percentile(50.0), 1000, 1, 0.95).unwrap();
        assert!(ci.0 <= 48.0 && ci.1 >= 48.0, "{ci:?}");
        assert!(t.elapsed().as_secs() < 30);
    }

    #[test]
    fn bootstrap_separates_real_differences_not_noise() {
        let p99 = Statistic::Percentile(99.0);
        let overlap = |x: (f64, f64), y: (f64, f64)| !(y.0 > x.1 || y.1 < x.0);
        let a = bootstrap_ci(&noisy(3, 400, 10.0), p99, 500, 1, 0.95).unwrap();
        let same = bootstrap_ci(&noisy(4, 400, 10.0), p99, 500, 1, 0.95).unwrap();
        let worse = bootstrap_ci(&noisy(5, 400, 20.0), p99, 500, 1, 0.95).unwrap();
        assert!(overlap(a, same), "{a:?} {same:?}");
        assert!(!overlap(a, worse), "{a:?} {worse:?}");
    }

    #[test]
    fn gates_parse() {
        let g = parse_gate("ttft.p99 > +10%").unwrap();
        assert_eq!(
            (g.metric.as_str(), g.op, g.change),
            ("ttft.p99", Op::Greater, Change::Relative(0.1))
        );
        assert_eq!(parse_gate("output_tps<-5%").unwrap().change, Change::Relative(-0.05));
        assert_eq!(parse_gate("itl.mean > 2ms").unwrap().change, Change::Absolute(2.0));
        assert_eq!(parse_gate("e2e.p50 > +0.5s").unwrap().change, Change::Absolute(500.0));
        assert_eq!(parse_gate("error_rate > +1pp").unwrap().change, Change::Absolute(0.01));
        assert_eq!(
            parse_gate("output_tps < -100tok/s").unwrap().change,
            Change::Absolute(-100.0)
        );
        for bad in [
            "ttft.p99",
            "ttft.p98 > 10%",
            "foo > 1%",
            "ttft.p99 > ten%",
            "ttft.p99 > 10",
            "output_tps < -5ms",
            "a > b < c",
            "ttft.p99 >",
        ] {
            let e = parse_gate(bad).unwrap_err();
            assert!(e.starts_with("invalid --fail-if") && !e.contains('\n'), "{bad}: {e}");
        }
    }

    fn run(label: &str, itl: f64, tps: f64) -> RunData {
        let mut m = RunMetrics::default();
        m.latency_ms.itl = Stats {
            n: 10,
            p50: itl,
            p99: itl * 2.0,
            mean: itl,
            ..Default::default()
        };
        m.throughput.output_tokens_per_s = tps;
        m.requests.total = 10;
        RunData {
            label: label.into(),
            target: "t".into(),
            model: "m".into(),
            metrics: m,
            records: None,
        }
    }

    #[test]
    fn gates_evaluate_against_the_baseline() {
        let fast = run("fast", 5.0, 2800.0);
        let slow = run("slow", 20.0, 250.0);
        let g = [
            parse_gate("itl.p50 > +10%").unwrap(),
            parse_gate("output_tps < -5%").unwrap(),
        ];
        let res = evaluate_gates(&[fast.clone(), slow.clone()], &g);
        assert!(res.iter().all(|r| r.violated), "{res:?}");
        assert!(res[0].message.contains("+300.0%"), "{}", res[0].message);
        let c = compare(&[fast.clone(), slow.clone()], 100, 0);
        assert_eq!(
            c.ratios,
            vec!["slow output throughput is 0.09× fast (250 vs 2,800 tok/s, 11.2× lower)"]
        );
        let res = evaluate_gates(&[slow.clone(), fast.clone()], &g);
        assert!(res.iter().all(|r| !r.violated), "{res:?}");
        let c = compare(&[slow, fast], 100, 0);
        assert_eq!(
            c.ratios,
            vec!["fast output throughput is 11.2× slow (2,800 vs 250 tok/s)"]
        );
        let itl = c.rows.iter().find(|r| r.metric == "itl.p50").unwrap();
        assert_eq!(itl.cells[1].delta, Some(-15.0));
        assert_eq!(itl.cells[1].delta_pct, Some(-75.0));
        assert!(render_text(&c).contains("ITL (per token, chunk-aware) p50 (ms)"));
    }

    /// Regression (issue 16): the table printed bare `itl.p50`/`itl.p99` rows, an unlabelled
    /// ITL. Every row, in text and HTML, and every gate message now carries the console's
    /// and the report's name of its distribution.
    #[test]
    fn no_row_or_message_names_a_bare_distribution() {
        let c = compare(&[run("a", 5.0, 100.0), run("b", 6.0, 90.0)], 50, 0);
        let html = super::super::html::render_compare(&c, &[]);
        let text = render_text(&c);
        for row in &c.rows {
            if let Some((dist, stat)) = row.metric.split_once('.') {
                let name = super::super::labels::latency(dist).unwrap_or("?");
                assert_eq!(row.label, format!("{name} {stat}"));
                assert!(text.lines().any(|l| l.starts_with(&row_name(row))), "{text}");
                assert!(html.contains(&format!("<td>{}", crate::report::svg::escape_html(&row_name(row)))));
            }
        }
        for l in text.lines() {
            for dist in DISTRIBUTIONS {
                assert!(!l.starts_with(&format!("{dist}.")), "bare row: {l}");
            }
        }
        assert!(!html.contains("<td>itl.") && !html.contains("<td>icl.") && !html.contains("<td>tpot."));
        let res = evaluate_gates(
            &[run("a", 5.0, 100.0), run("b", 20.0, 90.0)],
            &[parse_gate("itl.p99 > +10%").unwrap()],
        );
        assert!(
            res[0].message.contains("b ITL (per token, chunk-aware) p99 = 40.00"),
            "{}",
            res[0].message
        );
    }
}
