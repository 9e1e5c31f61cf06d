//! Writing a finished run's outputs (`summary.json`, `requests.csv`, `report.html`) and its
//! console summary, the same way for `bench`, each `sweep` stage and `sim run`.

use crate::error::Error;
use crate::record::RequestRecord;
use crate::report::{self, Summary};
use std::path::Path;

/// How much a command prints.
#[derive(Debug, Clone, Copy)]
pub struct Ui {
    /// Show a progress bar.
    pub progress: bool,
    /// Print only the `summary.json` path.
    pub quiet: bool,
    /// Print nothing (the stages of a sweep).
    pub silent: bool,
}

impl Ui {
    pub const SILENT: Ui = Ui {
        progress: false,
        quiet: false,
        silent: true,
    };
}

/// Optional output files.
#[derive(Debug, Clone, Copy)]
pub struct Files {
    pub csv: bool,
    pub html: bool,
}

/// Write the summary and reports, then print the console summary (with `note`, e.g. the
/// simulator's own statistics, after it).
pub fn write_all(
    dir: &Path,
    summary: &Summary,
    records: &[RequestRecord],
    files: Files,
    ui: Ui,
    note: Option<String>,
) -> Result<(), Error> {
    let summary_path = dir.join("summary.json");
    report::write_json(&summary_path, summary)?;
    if files.csv {
        report::write_csv(&dir.join("requests.csv"), records)?;
    }
    let html_path = if files.html {
        Some(report::html::write_report(dir, Some((summary, records)))?)
    } else {
        None
    };
    if ui.silent {
        return Ok(());
    }
    if ui.quiet {
        println!("{}", summary_path.display());
        return Ok(());
    }
    print!("{}", report::render_console(summary));
    if let Some(n) = note {
        println!("\n{n}");
    }
    println!(
        "\nrecords: {}\nsummary: {}",
        dir.join("records.jsonl").display(),
        summary_path.display()
    );
    if let Some(p) = &html_path {
        println!("report:  {}", p.display());
    }
    Ok(())
}

/// The one-line failure when every request failed (`verb`: "failed", "were refused by the
/// simulated engine"); `None` otherwise.
pub fn all_failed(summary: &Summary, records: &[RequestRecord], verb: &str) -> Option<String> {
    let m = &summary.metrics;
    if m.requests.total == 0 || m.requests.succeeded > 0 {
        return None;
    }
    let (class, n) = m
        .errors
        .iter()
        .max_by_key(|(_, n)| **n)
        .map(|(k, n)| (k.as_str(), *n))
        .unwrap_or(("unknown", 0));
    let detail = records.iter().find_map(|r| r.error_detail.clone()).unwrap_or_default();
    Some(format!(
        "all {} requests {verb} ({class}: {n}); first error: {detail}",
        m.requests.total
    ))
}
