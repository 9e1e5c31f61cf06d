//! Prints the `infermeter plan` text report (and optionally its JSON) for a
//! model preset on a GPU preset: the equivalent of
//! `infermeter plan --model-preset llama-3.1-8b --gpu h100-sxm`.
//!
//! Usage: `cargo run --example plan -- [MODEL] [GPU] [--compare-dtypes] [--json]`.

use std::io::Write;

use infermeter_perfmodel::{plan, render_text, PlanConfig};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let positional: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
    let model = positional.first().map_or("llama-3.1-8b", |s| s.as_str());
    let gpu = positional.get(1).map_or("h100-sxm", |s| s.as_str());
    let mut cfg = match PlanConfig::for_presets(model, gpu) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    cfg.compare_dtypes = args.iter().any(|a| a == "--compare-dtypes");
    match plan(&cfg) {
        Ok(report) => {
            let text = if args.iter().any(|a| a == "--json") {
                match serde_json::to_string_pretty(&report) {
                    Ok(j) => j + "\n",
                    Err(e) => {
                        eprintln!("error: {e}");
                        std::process::exit(1);
                    }
                }
            } else {
                render_text(&report)
            };
            // A closed pipe (`| head`) is not an error worth a panic.
            let _ = std::io::stdout().lock().write_all(text.as_bytes());
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    }
}
