//! `plan`: memory, batch capacity, roofline and cost for a model on a GPU, from the same
//! performance model and presets the simulated engine uses (`infermeter-perfmodel`), with
//! each estimate's uncertainty band from the simulator's held-out validation.

use crate::error::Error;
use infermeter_perfmodel::plan::{plan, render_text, PlanConfig};
use infermeter_perfmodel::{GpuSpec, ModelSpec};

/// The model and GPU presets, one line each.
pub fn presets() -> String {
    format!(
        "models: {}\ngpus:   {}\n",
        ModelSpec::preset_names().join(", "),
        GpuSpec::preset_names().join(", ")
    )
}

/// Compute the plan and print it (as JSON with `json`); returns the exit code.
pub fn run(cfg: &PlanConfig, json: bool) -> Result<u8, Error> {
    let report = plan(cfg).map_err(|e| Error::usage(e.to_string()))?;
    if json {
        let s = serde_json::to_string_pretty(&report).map_err(|e| Error::failed(e.to_string()))?;
        println!("{s}");
    } else {
        print!("{}", render_text(&report));
    }
    Ok(0)
}
