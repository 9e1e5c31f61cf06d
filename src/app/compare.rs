//! `compare RUN_A RUN_B [...]`: load run directories, compare them against the first
//! (`report::compare`), print a table or JSON, optionally write an HTML overlay, and apply
//! `--fail-if` gates.
//!
//! Exit codes: 0 all gates passed (or none given); 2 bad input (a malformed gate, an
//! unreadable run); 3 at least one gate was violated (each violation is printed on one
//! line on stderr).

use crate::error::Error;
use crate::metrics::{self, RunMetrics};
use crate::record::read_jsonl;
use crate::report::compare::{self, RunData};
use crate::report::html;
use serde_json::Value;
use std::path::Path;

/// Exit code of a violated `--fail-if` gate.
pub const EXIT_GATE_FAILED: u8 = 3;

fn read_value(p: &Path) -> Option<Value> {
    std::fs::read(p).ok().and_then(|b| serde_json::from_slice(&b).ok())
}

/// Load one run directory: `records.jsonl` when present (metrics are recomputed from it, so
/// runs from any version compare alike), else `summary.json`.
pub fn load_run(dir: &Path) -> Result<RunData, Error> {
    if !dir.is_dir() {
        return Err(Error::usage(format!("{}: not a run directory", dir.display())));
    }
    let summary = read_value(&dir.join("summary.json"));
    let run = summary
        .as_ref()
        .and_then(|s| s.get("run").cloned())
        .or_else(|| crate::app::info::read_run_json(&dir.join("run.json")).and_then(|r| serde_json::to_value(r).ok()))
        .unwrap_or(Value::Null);
    let text = |k: &str| run.get(k).and_then(Value::as_str).unwrap_or("?").to_string();
    let label = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| dir.display().to_string());
    let records_path = dir.join("records.jsonl");
    let (metrics, records): (RunMetrics, _) = if records_path.is_file() {
        let file = std::fs::File::open(&records_path)
            .map_err(|e| Error::usage(format!("cannot open {}: {e}", records_path.display())))?;
        let (records, _torn) = read_jsonl(std::io::BufReader::new(file))
            .map_err(|e| Error::usage(format!("{}: {e}", records_path.display())))?;
        (metrics::compute(&records), Some(records))
    } else if let Some(s) = summary {
        let m = serde_json::from_value(s)
            .map_err(|e| Error::usage(format!("{}: unreadable summary.json: {e}", dir.display())))?;
        (m, None)
    } else {
        return Err(Error::usage(format!(
            "{}: no records.jsonl or summary.json",
            dir.display()
        )));
    };
    Ok(RunData {
        label,
        target: text("target"),
        model: text("model"),
        metrics,
        records,
    })
}

/// What `compare` does, validated.
pub struct CompareOptions {
    /// Run directories; the first is the baseline.
    pub runs: Vec<std::path::PathBuf>,
    /// Write an HTML overlay report here.
    pub html: Option<std::path::PathBuf>,
    pub gates: Vec<compare::Gate>,
    pub json: bool,
    pub resamples: usize,
    pub seed: u64,
}

/// Compare the runs, print the table (or JSON), write the overlay, apply the gates; returns
/// the exit code (3 when a gate was violated).
pub fn run(a: &CompareOptions) -> Result<u8, Error> {
    let gates = &a.gates;
    let mut runs = a.runs.iter().map(|d| load_run(d)).collect::<Result<Vec<_>, _>>()?;
    // Distinct labels: a repeated directory name gets its position appended.
    for i in 0..runs.len() {
        if runs.iter().filter(|r| r.label == runs[i].label).count() > 1 {
            runs[i].label = format!("{}#{}", runs[i].label, i + 1);
        }
    }
    let cmp = compare::compare(&runs, a.resamples, a.seed);
    let results = compare::evaluate_gates(&runs, gates);
    if a.json {
        let v = serde_json::json!({ "comparison": cmp, "gates": results });
        println!(
            "{}",
            serde_json::to_string_pretty(&v).map_err(|e| Error::failed(e.to_string()))?
        );
    } else {
        print!("{}", compare::render_text(&cmp));
    }
    if let Some(path) = &a.html {
        std::fs::write(path, html::render_compare(&cmp, &runs))
            .map_err(|e| Error::failed(format!("cannot write {}: {e}", path.display())))?;
        if !a.json {
            println!("html: {}", path.display());
        }
    }
    let violated: Vec<_> = results.iter().filter(|r| r.violated).collect();
    for r in &violated {
        eprintln!("{}", r.message);
    }
    Ok(if violated.is_empty() { 0 } else { EXIT_GATE_FAILED })
}
