//! `infermeter plan`: flags → a validated [`PlanConfig`] (model, GPU, formats, parallelism,
//! workload); `app::plan` computes and prints the plan.

use super::{CliError, PlanArgs};
use infermeter_perfmodel::plan::PlanConfig;
use infermeter_perfmodel::{DType, GpuSpec, ModelSpec};

fn usage<E: std::fmt::Display>(e: E) -> CliError {
    CliError::usage(e.to_string())
}

/// Stage two: flags → `PlanConfig`.
pub fn config(a: &PlanArgs) -> Result<PlanConfig, CliError> {
    let model = match (&a.model_preset, &a.model_config) {
        (Some(_), Some(_)) => {
            return Err(CliError::usage(
                "give either --model-preset or --model-config, not both",
            ))
        }
        (Some(p), None) => ModelSpec::preset(p).map_err(usage)?,
        (None, Some(path)) => ModelSpec::from_hf_config_path(path).map_err(usage)?,
        (None, None) => {
            return Err(CliError::usage(
                "--model-preset NAME or --model-config PATH is required (see --list-presets)",
            ))
        }
    };
    let mut c = PlanConfig::new(model);
    match (&a.gpu, a.gpu_tflops, a.gpu_bandwidth, a.gpu_memory) {
        (Some(g), None, None, None) => c.gpu = Some(GpuSpec::preset(g).map_err(usage)?),
        (Some(g), t, b, m) => {
            c.gpu = Some(GpuSpec::preset(g).map_err(usage)?);
            c.custom_tflops = t;
            c.custom_bandwidth_gbs = b;
            c.custom_memory_gb = m;
        }
        (None, Some(t), Some(b), Some(m)) => {
            c.custom_tflops = Some(t);
            c.custom_bandwidth_gbs = Some(b);
            c.custom_memory_gb = Some(m);
        }
        (None, None, None, None) => c.gpu = Some(GpuSpec::preset(crate::spec::defaults::PLAN_GPU).map_err(usage)?),
        _ => {
            return Err(CliError::usage(
                "a custom GPU needs all of --gpu-tflops, --gpu-bandwidth and --gpu-memory",
            ))
        }
    }
    c.weights_dtype = a.weights_dtype.parse::<DType>().map_err(usage)?;
    c.kv_dtype = a
        .kv_dtype
        .as_deref()
        .unwrap_or(&a.weights_dtype)
        .parse::<DType>()
        .map_err(usage)?;
    if a.kv_dtype.is_none() && matches!(c.kv_dtype, DType::Int4 | DType::Int8) {
        c.kv_dtype = DType::Bf16; // integer weight formats keep a 16-bit KV cache unless asked
    }
    if a.tp == 0 {
        return Err(CliError::usage("--tp must be at least 1"));
    }
    c.tp = a.tp;
    if !(a.gpu_memory_utilization > 0.0 && a.gpu_memory_utilization <= 1.0) {
        return Err(CliError::usage(format!(
            "invalid --gpu-memory-utilization '{}': must be in (0, 1]",
            a.gpu_memory_utilization
        )));
    }
    c.gpu_memory_utilization = a.gpu_memory_utilization;
    if a.context == 0 || a.input_tokens == 0 || a.output_tokens == 0 {
        return Err(CliError::usage(
            "--context, --input-tokens and --output-tokens must be at least 1",
        ));
    }
    c.context = a.context;
    c.input_len = a.input_tokens;
    c.output_len = a.output_tokens;
    if let Some(b) = &a.batch {
        let sizes: Result<Vec<u32>, _> = b.split(',').map(|x| x.trim().parse::<u32>()).collect();
        match sizes {
            Ok(v) if !v.is_empty() && v.iter().all(|&x| x > 0) => c.batch_sizes = v,
            _ => return Err(CliError::usage(format!("invalid --batch '{b}': expected e.g. 1,8,32"))),
        }
    }
    if let Some(p) = a.gpu_cost_per_hour {
        if !(p.is_finite() && p >= 0.0) {
            return Err(CliError::usage(format!("invalid --gpu-cost-per-hour '{p}'")));
        }
        c.gpu_cost_per_hour = Some(p);
    }
    c.compare_dtypes = a.compare_dtypes;
    Ok(c)
}

pub fn run(a: PlanArgs) -> Result<u8, CliError> {
    if a.list_presets {
        print!("{}", crate::app::plan::presets());
        return Ok(0);
    }
    crate::app::plan::run(&config(&a)?, a.json)
}
