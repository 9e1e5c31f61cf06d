//! `report DIR`: rebuild `summary.json` and `requests.csv` from `records.jsonl`
//! with the same pure metric functions a live run uses (works after a crash or `kill -9`),
//! keeping the live run's client block and stop reason when its own summary of the same
//! records is still there, and write the self-contained `report.html` (unless `--no-html`). A directory holding only
//! a `sweep.json` gets a sweep-only `report.html`.

use crate::error::Error;
use crate::record::read_jsonl;
use crate::report;
use std::path::Path;

/// Rebuild the run directory `dir` (with `report.html` unless `no_html`); returns the exit
/// code.
pub fn run(dir: &Path, no_html: bool) -> Result<u8, Error> {
    let records_path = dir.join("records.jsonl");
    if !records_path.exists() && dir.join("sweep.json").is_file() {
        if no_html {
            return Err(Error::usage(format!(
                "{} holds only a sweep.json: nothing to rebuild with --no-html",
                dir.display()
            )));
        }
        let path = report::html::write_report(dir, None).map_err(|e| Error::usage(format!("{e:#}")))?;
        println!("report: {}", path.display());
        return Ok(0);
    }
    let file = std::fs::File::open(&records_path)
        .map_err(|e| Error::usage(format!("cannot open {}: {e}", records_path.display())))?;
    let (records, torn) = read_jsonl(std::io::BufReader::new(file))
        .map_err(|e| Error::usage(format!("{}: {e}", records_path.display())))?;
    let run = super::info::read_run_json(&dir.join("run.json")).unwrap_or_default();
    // CPU time, probe samples and read lag are not in the records: the rebuilt client block
    // has only the record-derived parts (rates, schedule lag)...
    let runtime = crate::metrics::health::RuntimeSamples {
        wall_s: records.iter().map(|r| r.end_abs_us()).max().unwrap_or(0) as f64 / 1e6,
        ..Default::default()
    };
    let interval_s = run.server_metrics_interval_s.unwrap_or(0.0);
    let sla = run.sla.clone();
    let mut summary = report::build_summary(run, &records, &runtime, torn > 0);
    // ...unless the live run's own summary of these same records is still there: it keeps
    // what only the live run measured (the client block) and why a partial run stopped.
    let live = live_summary_of(&dir.join("summary.json"), &summary);
    if let Some(live) = &live {
        summary.client = live.client.clone();
        summary.partial |= live.partial;
        summary.stopped_reason = live.stopped_reason.clone();
        summary.aborted_in_flight = live.aborted_in_flight;
        summary.wall_s = live.wall_s;
        summary.shards = live.shards.clone();
    }
    // The server and GPU blocks come from server_metrics.jsonl with the same functions; the
    // scraper's own CPU cost is only known to the live run.
    let scrapes = dir.join(crate::telemetry::session::FILE);
    let live_server = live.as_ref().and_then(|l| l.server.clone());
    match crate::telemetry::log::ScrapeLog::read(&scrapes) {
        Ok(log) => {
            crate::report::server::attach(&mut summary, &records, Some(&log), None, interval_s, sla.as_ref());
            if let (Some(s), Some(l)) = (summary.server.as_mut(), &live_server) {
                s.scrapes.cpu_ms_per_round = l.scrapes.cpu_ms_per_round;
            }
            if log.bad_lines > 0 {
                eprintln!(
                    "note: ignored {} unreadable line(s) in {}",
                    log.bad_lines,
                    scrapes.display()
                );
            }
        }
        Err(_) => {
            summary.server = live_server;
            summary.gpu = live.as_ref().and_then(|l| l.gpu.clone());
            summary.sla =
                sla.map(|p| crate::telemetry::sla::evaluate(&p, &crate::report::server::sla_inputs(&summary)));
        }
    }
    report::write_json(&dir.join("summary.json"), &summary)?;
    report::write_csv(&dir.join("requests.csv"), &records)?;
    let html = if no_html {
        None
    } else {
        Some(report::html::write_report(dir, Some((&summary, &records)))?)
    };
    print!("{}", report::render_console(&summary));
    if torn > 0 {
        eprintln!("note: ignored {torn} torn last line in {}", records_path.display());
    }
    println!("\nsummary: {}", dir.join("summary.json").display());
    if let Some(p) = html {
        println!("report:  {}", p.display());
    }
    Ok(0)
}

/// The summary at `path` if a live run wrote it over the same records as `rebuilt` (same run
/// start, request-id prefix and request count); `None` otherwise (absent, unreadable, from
/// `report` itself, or from another run).
fn live_summary_of(path: &std::path::Path, rebuilt: &report::Summary) -> Option<report::Summary> {
    let live: report::Summary = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    let same = live.run.started_at == rebuilt.run.started_at
        && live.run.request_id_prefix == rebuilt.run.request_id_prefix
        && live.metrics.requests.total == rebuilt.metrics.requests.total;
    (same && live.client.cpu_s.is_some()).then_some(live)
}
