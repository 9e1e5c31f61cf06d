//! `infermeter report DIR`: rebuild `summary.json` and `requests.csv` from `records.jsonl`
//! with the same pure metric functions a live run uses (works after a crash or `kill -9`),
//! and write the self-contained `report.html` (unless `--no-html`). A directory holding only
//! a `sweep.json` gets a sweep-only `report.html`.

use super::{CliError, ReportArgs};
use crate::record::read_jsonl;
use crate::report::{self, RunInfo};

pub fn run(a: ReportArgs) -> Result<u8, CliError> {
    let records_path = a.dir.join("records.jsonl");
    if !records_path.exists() && a.dir.join("sweep.json").is_file() {
        if a.no_html {
            return Err(CliError::usage(format!(
                "{} holds only a sweep.json: nothing to rebuild with --no-html",
                a.dir.display()
            )));
        }
        let path = report::html::write_report(&a.dir, None).map_err(|e| CliError::usage(format!("{e:#}")))?;
        println!("report: {}", path.display());
        return Ok(0);
    }
    let file = std::fs::File::open(&records_path)
        .map_err(|e| CliError::usage(format!("cannot open {}: {e}", records_path.display())))?;
    let (records, torn) = read_jsonl(std::io::BufReader::new(file))
        .map_err(|e| CliError::usage(format!("{}: {e}", records_path.display())))?;
    let run: RunInfo = std::fs::read(a.dir.join("run.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    // CPU time and probe samples are not in the records: the rebuilt client block has
    // only the record-derived parts (rates, schedule lag).
    let runtime = crate::metrics::health::RuntimeSamples {
        wall_s: records.iter().map(|r| r.end_abs_us()).max().unwrap_or(0) as f64 / 1e6,
        ..Default::default()
    };
    let summary = report::build_summary(run, &records, &runtime, torn > 0);
    report::write_json(&a.dir.join("summary.json"), &summary)?;
    report::write_csv(&a.dir.join("requests.csv"), &records)?;
    let html = if a.no_html {
        None
    } else {
        Some(report::html::write_report(&a.dir, Some((&summary, &records)))?)
    };
    print!("{}", report::render_console(&summary));
    if torn > 0 {
        eprintln!("note: ignored {torn} torn last line in {}", records_path.display());
    }
    println!("\nsummary: {}", a.dir.join("summary.json").display());
    if let Some(p) = html {
        println!("report:  {}", p.display());
    }
    Ok(0)
}
