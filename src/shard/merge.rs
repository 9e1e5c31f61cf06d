//! Merging the shards of one run into the run a single process would have recorded: the
//! checks that the parts belong together, and the combination of their raw records on one
//! timeline. Pure: the shards' files are read and the merged run written by `app::merge`.
//!
//! Exact, not approximate: every metric of the merged run is computed again from the merged
//! raw records by the same functions as a single run (`report::build_summary`), so
//! percentiles are those of all requests together (never an average of the shards'
//! percentiles), and the throughput window is the merged timeline's first send to its last
//! token. Timelines are aligned by each shard's wall-clock anchor (`run.run_start_unix_us`,
//! read back to back with the monotonic clock its records count from): a shard's record
//! instants are shifted by its anchor minus the earliest anchor; durations inside a record
//! are never touched.

use super::facts::{MergeInfo, ShardHealth, ShardInfo};
use super::{Partition, Shard};
use crate::metrics::health::{ClientHealth, RuntimeSamples};
use crate::record::RequestRecord;
use crate::report::{RunInfo, Summary};
use crate::schedule::Load;
use crate::spec::RunSpec;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

/// One shard's run directory, read.
#[derive(Debug, Clone)]
pub struct ShardRun {
    /// The directory as given (for messages).
    pub dir: String,
    /// `run.json` as written (the specification with the run's facts under `run`).
    pub run_json: Value,
    /// The run's facts (`run.json` `run`, or `summary.json` `run` when it finished).
    pub info: RunInfo,
    /// `summary.json`; `None` when the shard did not finish.
    pub summary: Option<Summary>,
    pub records: Vec<RequestRecord>,
}

/// The merged run, before its summary is computed.
#[derive(Debug)]
pub struct Merged {
    /// The single-process specification (the shards' one, without `[shard]`).
    pub spec: RunSpec,
    /// Every shard's records on the merged timeline, in completion order.
    pub records: Vec<RequestRecord>,
    /// What the shards measured besides their records, combined (CPU and cores summed).
    pub runtime: RuntimeSamples,
    pub info: MergeInfo,
    /// The first shard's (lowest index) run description.
    pub first_info: RunInfo,
    /// Why the merged run is partial (missing or unfinished shards, shards stopped early).
    pub partial: Vec<String>,
}

/// The specification of a shard's `run.json` as compared between shards: without the run's
/// facts and without the shard index (the one setting that differs).
pub fn comparable_spec(run_json: &Value) -> Value {
    let mut v = run_json.clone();
    if let Value::Object(m) = &mut v {
        m.remove("run");
        if let Some(Value::Object(s)) = m.get_mut("shard") {
            s.remove("index");
        }
    }
    v
}

/// The first key (dotted path) where two specification trees differ, with both values.
pub fn first_difference(a: &Value, b: &Value) -> Option<(String, String, String)> {
    fn walk(path: &str, a: Option<&Value>, b: Option<&Value>) -> Option<(String, String, String)> {
        match (a, b) {
            (Some(Value::Object(x)), Some(Value::Object(y))) => {
                let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
                keys.into_iter().find_map(|k| {
                    let p = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    walk(&p, x.get(k), y.get(k))
                })
            }
            (x, y) if x == y => None,
            (x, y) => {
                let show = |v: Option<&Value>| v.map(|v| v.to_string()).unwrap_or_else(|| "absent".into());
                Some((path.to_string(), show(x), show(y)))
            }
        }
    }
    walk("", Some(a), Some(b))
}

fn shard_of(p: &ShardRun) -> Result<&ShardInfo, String> {
    p.info.shard.as_ref().ok_or_else(|| {
        format!(
            "{} is not a shard of a sharded run (its run.json has no run.shard): run each part with --shard K/N or --shards N",
            p.dir
        )
    })
}

/// Check that `parts` are the shards of one run and combine them. Refusals are one line:
/// shards of different specifications, a shard given twice, a missing or unfinished shard
/// (unless `allow_partial`), a record that belongs to another shard or appears twice.
pub fn merge(parts: Vec<ShardRun>, allow_partial: bool) -> Result<Merged, String> {
    let checked = check(&parts, allow_partial)?;
    check_ownership(&parts, &checked)?;
    Ok(combine(parts, checked))
}

/// What the checks found: the shards by index, the absent and unfinished ones, and the
/// single-process specification with its load.
struct Checked {
    count: u32,
    /// Shard index → position in `parts`.
    by_index: BTreeMap<u32, usize>,
    missing: Vec<u32>,
    unfinished: Vec<u32>,
    spec: RunSpec,
    load: crate::spec::validate::LoadConfig,
}

fn check(parts: &[ShardRun], allow_partial: bool) -> Result<Checked, String> {
    let first = parts
        .first()
        .ok_or("nothing to merge: give the shards' run directories")?;
    let base = comparable_spec(&first.run_json);
    let count = shard_of(first)?.count;
    let mut by_index: BTreeMap<u32, usize> = BTreeMap::new();
    for (i, p) in parts.iter().enumerate() {
        let s = shard_of(p)?;
        if let Some((key, here, there)) = first_difference(&base, &comparable_spec(&p.run_json)) {
            return Err(format!(
                "{} and {} are not shards of one specification: {key} is {there} in {} but {here} in {}",
                first.dir, p.dir, p.dir, first.dir
            ));
        }
        if s.count != count {
            return Err(format!(
                "{} is shard {}/{} but {} is of {count} shards",
                p.dir, s.index, s.count, first.dir
            ));
        }
        if let Some(&j) = by_index.get(&s.index) {
            return Err(format!(
                "shard {} appears twice: {} and {}",
                s.index, parts[j].dir, p.dir
            ));
        }
        by_index.insert(s.index, i);
        if p.info.run_start_unix_us.is_none() {
            return Err(format!(
                "{} has no wall-clock anchor (run.run_start_unix_us in run.json): it cannot be aligned with the other shards",
                p.dir
            ));
        }
    }
    let missing: Vec<u32> = (0..count).filter(|k| !by_index.contains_key(k)).collect();
    let unfinished: Vec<u32> = by_index
        .iter()
        .filter(|(_, &i)| parts[i].summary.is_none())
        .map(|(k, _)| *k)
        .collect();
    if !allow_partial {
        if let Some(k) = missing.first() {
            return Err(format!(
                "shard {k} of {count} is missing{}: give every shard's directory, or merge what exists with --allow-partial",
                if missing.len() > 1 {
                    format!(" (and {} more)", missing.len() - 1)
                } else {
                    String::new()
                }
            ));
        }
        if let Some(k) = unfinished.first() {
            return Err(format!(
                "shard {k} ({}) did not finish (no summary.json): rerun it, or merge what it recorded with --allow-partial",
                parts[by_index[k]].dir
            ));
        }
    }
    let mut spec: RunSpec =
        serde_json::from_value(base).map_err(|e| format!("{}: run.json is not a run specification: {e}", first.dir))?;
    let load = crate::spec::validate::load(&spec).map_err(|e| format!("{}: {}", first.dir, e.message))?;
    spec.shard = Default::default();
    spec.run = None;
    Ok(Checked {
        count,
        by_index,
        missing,
        unfinished,
        spec,
        load,
    })
}

/// One shard's measured phase on the merged timeline (µs from the origin), from its own
/// phase start and wall time, or (unfinished) from its records.
fn span(p: &ShardRun, shift: u64) -> Option<(u64, u64)> {
    let measured = || p.records.iter().filter(|r| !r.warmup);
    let start = p
        .info
        .shard
        .as_ref()
        .and_then(|s| s.phase_start_us)
        .or_else(|| measured().map(|r| r.sched_us).min())?;
    let end = match &p.summary {
        Some(sum) => start + (sum.wall_s * 1e6) as u64,
        None => measured().map(|r| r.end_abs_us()).max()?.max(start),
    };
    Some((shift + start, shift + end))
}

/// One shard's line of the merged summary.
fn health(p: &ShardRun, s: &ShardInfo, shift: u64) -> ShardHealth {
    let measured: Vec<&RequestRecord> = p.records.iter().filter(|r| !r.warmup).collect();
    ShardHealth {
        index: s.index,
        dir: p.dir.clone(),
        host: s.host.clone(),
        node: s.node.clone(),
        request_id_prefix: p.info.request_id_prefix.clone(),
        requests: measured.len() as u64,
        succeeded: measured.iter().filter(|r| r.ok()).count() as u64,
        offset_ms: shift as f64 / 1000.0,
        phase_start_ms: s.phase_start_us.map(|ps| (shift + ps) as f64 / 1000.0),
        start_late_ms: s.start_late_ms,
        clock: s.clock.clone(),
        finished: p.summary.is_some(),
        stopped_reason: p.summary.as_ref().and_then(|s| s.stopped_reason.clone()),
        client: p.summary.as_ref().map(|s| s.client.clone()),
    }
}

/// The shards' records on one timeline, their self-health, and what they measured besides.
fn combine(parts: Vec<ShardRun>, c: Checked) -> Merged {
    let origin = parts.iter().filter_map(|p| p.info.run_start_unix_us).min().unwrap_or(0);
    let first_info = parts[c.by_index.values().next().copied().unwrap_or(0)].info.clone();
    let mut info = MergeInfo {
        count: c.count,
        merged: c.by_index.keys().copied().collect(),
        missing: c.missing.clone(),
        unfinished: c.unfinished.clone(),
        origin_unix_us: origin,
        start_at: first_info.shard.as_ref().and_then(|s| s.start_at.clone()),
        ..Default::default()
    };
    let mut partial = Vec::new();
    if !c.missing.is_empty() {
        partial.push(format!(
            "merged {} of {} shards (--allow-partial): missing {}",
            c.by_index.len(),
            c.count,
            list(&c.missing)
        ));
    }
    if !c.unfinished.is_empty() {
        partial.push(format!(
            "shard{} {} did not finish",
            plural(c.unfinished.len()),
            list(&c.unfinished)
        ));
    }
    let mut records = Vec::with_capacity(parts.iter().map(|p| p.records.len()).sum());
    let (mut spans, mut clocks, mut phase_starts) = (Vec::new(), Vec::new(), Vec::new());
    let (mut cpu, mut cores, mut rss) = (Some(0.0), 0usize, None::<u64>);
    let rx = parts
        .iter()
        .find_map(|p| p.summary.as_ref().and_then(|s| s.client.rx_timestamp));
    let mut parts: Vec<Option<ShardRun>> = parts.into_iter().map(Some).collect();
    for &i in c.by_index.values() {
        let Some(p) = parts[i].take() else { continue };
        let s = p.info.shard.clone().unwrap_or_default();
        let shift = p.info.run_start_unix_us.unwrap_or(origin) - origin;
        spans.extend(span(&p, shift));
        phase_starts.extend(s.phase_start_us.map(|ps| shift + ps));
        clocks.push(s.clock.clone());
        if let Some(sum) = &p.summary {
            cpu = cpu.zip(sum.client.cpu_s).map(|(a, b)| a + b);
            cores += sum.client.cores;
            rss = rss.max(sum.client.peak_rss_bytes);
            if sum.partial {
                let why = sum.stopped_reason.as_deref().unwrap_or("partial");
                partial.push(format!("shard {} stopped early: {why}", s.index));
            }
        }
        info.shards.push(health(&p, &s, shift));
        records.extend(p.records.into_iter().map(|mut r| {
            r.sched_us += shift;
            r.start_us += shift;
            r.send_us += shift;
            r
        }));
    }
    records.sort_by_key(|r| (r.end_abs_us(), r.id));
    info.saturated = info
        .shards
        .iter()
        .filter(|h| h.client.as_ref().is_some_and(|c| c.saturated))
        .map(|h| h.index)
        .collect();
    info.start_spread_ms = match (phase_starts.iter().min(), phase_starts.iter().max()) {
        (Some(a), Some(b)) if phase_starts.len() > 1 => Some((b - a) as f64 / 1000.0),
        _ => None,
    };
    info.clock_bound_ms = super::clock::pairwise_bound_ms(&clocks);
    let wall_s = match (spans.iter().map(|s| s.0).min(), spans.iter().map(|s| s.1).max()) {
        (Some(a), Some(b)) => (b - a) as f64 / 1e6,
        _ => 0.0,
    };
    let runtime = RuntimeSamples {
        cpu_s: cpu.filter(|_| cores > 0),
        wall_s,
        cores,
        peak_rss_bytes: rss,
        rx_timestamp: rx,
        ..Default::default()
    };
    Merged {
        spec: c.spec,
        records,
        runtime,
        info,
        first_info,
        partial,
    }
}

/// Every record was sent by the shard whose directory holds it, and no request id appears
/// twice.
fn check_ownership(parts: &[ShardRun], c: &Checked) -> Result<(), String> {
    let (load, count) = (&c.load, c.count);
    let any = Shard { index: 0, count };
    let measured = match load.load {
        Load::Closed { concurrency } => Partition::slots(any, concurrency as u64),
        Load::Open { .. } | Load::Trace { .. } => Partition::stride(any),
    };
    let warm = Partition::stride(any);
    let mut seen: HashMap<u64, u32> = HashMap::new();
    for (&k, &i) in &c.by_index {
        let p = &parts[i];
        for r in &p.records {
            let owner = if r.warmup {
                warm.owner(r.id)
            } else if r.id >= load.warmup {
                measured.owner(r.id - load.warmup)
            } else {
                return Err(format!(
                    "{}: request {} is not a warm-up request but its id is below the warm-up count {}",
                    p.dir, r.id, load.warmup
                ));
            };
            if owner != k {
                return Err(format!(
                    "{}: request {} belongs to shard {owner}, not shard {k}: these directories are not parts of one run",
                    p.dir, r.id
                ));
            }
            if let Some(other) = seen.insert(r.id, k) {
                return Err(format!(
                    "request {} was recorded twice (shard {other} and shard {k}, {})",
                    r.id, p.dir
                ));
            }
        }
    }
    Ok(())
}

/// The merged client block: the merged records' verdict, and saturated as well when any
/// shard's own client was, naming the shards.
pub fn flag_saturated_shards(client: &mut ClientHealth, info: &MergeInfo) {
    let mut reasons: Vec<String> = client.saturated_reason.iter().cloned().collect();
    for h in &info.shards {
        if let Some(c) = h.client.as_ref().filter(|c| c.saturated) {
            reasons.push(format!(
                "shard {} ({}): {}",
                h.index,
                h.host,
                c.saturated_reason.as_deref().unwrap_or("saturated")
            ));
        }
    }
    client.saturated = !reasons.is_empty();
    client.saturated_reason = (!reasons.is_empty()).then(|| reasons.join("; "));
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn list(v: &[u32]) -> String {
    v.iter().map(|k| k.to_string()).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests;
