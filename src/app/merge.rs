//! `merge DIR… -o OUT`: read the shard run directories of one sharded run, check that they
//! belong together and merge them (`shard::merge`), and write the run directory a single
//! process would have written: `run.json` (the single-process specification), `records.jsonl`,
//! `summary.json` (every metric recomputed from the merged records, plus `shards`) and
//! `report.html`.

use super::output::{self, Ui};
use crate::error::Error;
use crate::record::read_jsonl;
use crate::report::{self, RunInfo, Summary};
use crate::shard::merge::{self, ShardRun};
use crate::shard::MergeInfo;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The shards' directories: each `DIR` holding a `run.json`, or the shard directories inside
/// a `DIR` that holds none (e.g. a Job's results volume), in name order. `out` is never one.
pub fn shard_dirs(dirs: &[PathBuf], out: &Path) -> Result<Vec<PathBuf>, Error> {
    let out_canon = std::fs::canonicalize(out).ok();
    let is_out = |p: &Path| out_canon.is_some() && std::fs::canonicalize(p).ok() == out_canon;
    let mut found = Vec::new();
    for d in dirs {
        if d.join("run.json").is_file() {
            if is_out(d) {
                return Err(Error::usage(format!(
                    "{} is both a shard and the output directory",
                    d.display()
                )));
            }
            found.push(d.clone());
            continue;
        }
        let entries = std::fs::read_dir(d).map_err(|e| Error::usage(format!("cannot read {}: {e}", d.display())))?;
        let mut inner: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_dir() && !is_out(p) && is_shard_dir(p))
            .collect();
        if inner.is_empty() {
            return Err(Error::usage(format!(
                "{} holds no run.json and no shard run directories",
                d.display()
            )));
        }
        inner.sort();
        found.extend(inner);
    }
    Ok(found)
}

/// A directory whose `run.json` describes a shard.
fn is_shard_dir(p: &Path) -> bool {
    crate::app::info::read_run_json(&p.join("run.json")).is_some_and(|i| i.shard.is_some())
}

/// Read one shard's directory.
pub fn read_shard(dir: &Path) -> Result<ShardRun, Error> {
    let shown = dir.display().to_string();
    let run_path = dir.join("run.json");
    let bytes =
        std::fs::read(&run_path).map_err(|e| Error::usage(format!("cannot read {}: {e}", run_path.display())))?;
    let run_json: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| Error::usage(format!("{}: invalid JSON: {e}", run_path.display())))?;
    let info: RunInfo = run_json
        .get("run")
        .cloned()
        .map(serde_json::from_value)
        .transpose()
        .map_err(|e| Error::usage(format!("{}: invalid run facts: {e}", run_path.display())))?
        .unwrap_or_default();
    let summary_path = dir.join("summary.json");
    let summary: Option<Summary> = match std::fs::read(&summary_path) {
        Ok(b) => Some(
            serde_json::from_slice(&b)
                .map_err(|e| Error::usage(format!("{}: invalid summary: {e}", summary_path.display())))?,
        ),
        Err(_) => None,
    };
    let records_path = dir.join("records.jsonl");
    let records = match std::fs::File::open(&records_path) {
        Ok(f) => {
            read_jsonl(std::io::BufReader::with_capacity(1 << 20, f))
                .map_err(|e| Error::usage(format!("{}: {e}", records_path.display())))?
                .0
        }
        Err(_) if summary.is_none() => Vec::new(),
        Err(e) => return Err(Error::usage(format!("cannot read {}: {e}", records_path.display()))),
    };
    // A finished shard's summary has the facts measured during the run (phase start).
    let info = summary.as_ref().map(|s| s.run.clone()).unwrap_or(info);
    Ok(ShardRun {
        dir: shown,
        run_json,
        info,
        summary,
        records,
    })
}

/// Read the shard directories, as many at once as there are cores (parsing records is most
/// of a merge's time), in the order given.
fn read_all(dirs: &[PathBuf]) -> Result<Vec<ShardRun>, Error> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(dirs.len());
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut read: Vec<(usize, Result<ShardRun, Error>)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(d) = dirs.get(i) else { return mine };
                        mine.push((i, read_shard(d)));
                    }
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().unwrap_or_default()).collect()
    });
    if read.len() != dirs.len() {
        return Err(Error::failed("a reader thread failed"));
    }
    read.sort_by_key(|(i, _)| *i);
    read.into_iter().map(|(_, r)| r).collect()
}

/// Merge the shard directories `dirs` into `out`; returns the exit code.
pub fn run(dirs: &[PathBuf], out: &Path, allow_partial: bool, no_html: bool, ui: Ui) -> Result<u8, Error> {
    let found = shard_dirs(dirs, out)?;
    let parts = read_all(&found)?;
    let merged = merge::merge(parts, allow_partial).map_err(Error::usage)?;
    let load = crate::spec::validate::load(&merged.spec)?;
    let mut info = super::info::with_load(merged.first_info.clone(), &load);
    info.shard = None;
    info.request_id_prefix = String::new();
    info.run_start_unix_us = Some(merged.info.origin_unix_us);
    info.started_at = crate::util::utc_strings(merged.info.origin_unix_us / 1_000_000).1;

    std::fs::create_dir_all(out).map_err(|e| Error::failed(format!("cannot create {}: {e}", out.display())))?;
    super::info::write_run_json(out, &merged.spec, &info)?;
    write_records(&out.join("records.jsonl"), &merged.records)?;
    let partial = !merged.partial.is_empty();
    let mut summary = report::build_summary(info, &merged.records, &merged.runtime, partial);
    if partial {
        summary.stopped_reason = Some(merged.partial.join("; "));
    }
    merge::flag_saturated_shards(&mut summary.client, &merged.info);
    // The server's side: one shard's scrapes, on the merged timeline.
    let (interval_s, sla) = (
        summary.run.server_metrics_interval_s.unwrap_or(0.0),
        summary.run.sla.clone(),
    );
    if let Some(log) = merged_scrapes(&merged.info, out)? {
        crate::report::server::attach(
            &mut summary,
            &merged.records,
            Some(&log),
            None,
            interval_s,
            sla.as_ref(),
        );
    }
    summary.shards = Some(merged.info);
    let files = output::Files {
        csv: merged.spec.output.csv,
        html: merged.spec.output.html && !no_html,
    };
    let note = summary.shards.as_ref().map(console_lines);
    output::write_all(out, &summary, &merged.records, files, ui, note)?;
    if let Some(spread) = summary.shards.as_ref().and_then(|s| s.start_spread_ms) {
        if spread > 1000.0 && !ui.silent {
            eprintln!(
                "warning: the shards' measured phases started {spread:.0} ms apart: they did not run together (use --start-at)"
            );
        }
    }
    Ok(0)
}

/// The server's record of a merged run. Every shard scraped the same server
/// (`server_metrics.jsonl`), each a snapshot of it at its own instants, so together, moved onto
/// the merged timeline by each shard's offset, they are one denser scrape log of that server
/// covering every shard's requests (a single shard's may start after another shard's first
/// tokens or end before its last). Rounds are renumbered in time order, one per shard round, so
/// no two shards' snapshots are combined as one. NVML readings are of a shard's own machine:
/// only the lowest-index shard's are kept. The log is written to `out`, so that `report OUT`
/// recomputes the same `server`, `gpu` and `sla` blocks. `None` when no shard scraped.
fn merged_scrapes(info: &MergeInfo, out: &Path) -> Result<Option<crate::telemetry::log::ScrapeLog>, Error> {
    use crate::telemetry::log::{ScrapeLine, NVML_SOURCE};
    use std::io::Write;
    let file = crate::telemetry::session::FILE;
    let mut shards: Vec<_> = info.shards.iter().collect();
    shards.sort_by_key(|h| h.index);
    let (mut lines, mut unreadable) = (Vec::new(), Vec::new());
    let mut nvml_from = None;
    for h in shards {
        let Ok(text) = std::fs::read_to_string(Path::new(&h.dir).join(file)) else {
            continue;
        };
        let shift = (h.offset_ms * 1000.0).round() as i64;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            match serde_json::from_str::<ScrapeLine>(line) {
                Ok(mut l) => {
                    if l.source == NVML_SOURCE && *nvml_from.get_or_insert(h.index) != h.index {
                        continue;
                    }
                    l.t_us += shift;
                    lines.push((h.index, l));
                }
                // Kept as it is (`ScrapeLog::read` counts it).
                Err(_) => unreadable.push(line.to_string()),
            }
        }
    }
    if lines.is_empty() && unreadable.is_empty() {
        return Ok(None);
    }
    lines.sort_by_key(|(_, l)| l.t_us);
    let mut rounds = std::collections::HashMap::new();
    for (shard, l) in &mut lines {
        let next = rounds.len() as u64;
        l.tick = *rounds.entry((*shard, l.tick)).or_insert(next);
    }
    let dst = out.join(file);
    let fail = |e: std::io::Error| Error::failed(format!("writing {} failed: {e}", dst.display()));
    let mut w = std::io::BufWriter::new(std::fs::File::create(&dst).map_err(fail)?);
    for (_, l) in &lines {
        let text = serde_json::to_string(l).map_err(|e| fail(e.into()))?;
        writeln!(w, "{text}").map_err(fail)?;
    }
    for l in &unreadable {
        writeln!(w, "{l}").map_err(fail)?;
    }
    w.flush().map_err(fail)?;
    Ok(crate::telemetry::log::ScrapeLog::read(&dst).ok())
}

fn write_records(path: &Path, records: &[crate::record::RequestRecord]) -> Result<(), Error> {
    use std::io::Write;
    let f = std::fs::File::create(path).map_err(|e| Error::failed(format!("cannot create {}: {e}", path.display())))?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
    for r in records {
        crate::record::write_jsonl(&mut w, r)
            .map_err(|e| Error::failed(format!("writing {} failed: {e}", path.display())))?;
    }
    w.flush()
        .map_err(|e| Error::failed(format!("writing {} failed: {e}", path.display())))
}

/// What `merge` prints after the summary.
fn console_lines(info: &MergeInfo) -> String {
    let mut out = format!(
        "merged {} of {} shards; measured phases started within {} ms; clock offset bound {}",
        info.merged.len(),
        info.count,
        ms(info.start_spread_ms),
        info.clock_bound_text()
    );
    for h in &info.shards {
        let verdict = match &h.client {
            Some(c) if c.saturated => format!("SATURATED: {}", c.saturated_reason.as_deref().unwrap_or("")),
            Some(_) => "ok".into(),
            None => "did not finish".into(),
        };
        let _ = write!(
            out,
            "\n  shard {} on {}: {} requests, offset {:.3} ms, late {} ms, {verdict}",
            h.index,
            h.host,
            h.requests,
            h.offset_ms,
            ms(h.start_late_ms)
        );
    }
    out
}

fn ms(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.2}")).unwrap_or_else(|| "n/a".into())
}
