//! The plan report: JSON shape, arithmetic, text rendering, errors.

use infermeter_perfmodel::plan::{plan, render_text, PlanConfig, DEFAULT_BATCH_SIZES};
use infermeter_perfmodel::{Bound, DType, GpuSpec, ModelSpec};

fn default_report() -> infermeter_perfmodel::PlanReport {
    plan(&PlanConfig::for_presets("llama-3.1-8b", "h100-sxm").unwrap()).unwrap()
}

#[test]
fn defaults() {
    let c = PlanConfig::new(ModelSpec::preset("qwen3-0.6b").unwrap());
    assert_eq!(c.batch_sizes, DEFAULT_BATCH_SIZES.to_vec());
    assert_eq!(c.batch_sizes, vec![1, 8, 32, 64, 128, 256]);
    assert_eq!(c.context, 4096);
    assert_eq!(c.gpu_memory_utilization, 0.9);
    assert_eq!((c.weights_dtype, c.kv_dtype, c.tp), (DType::Bf16, DType::Bf16, 1));
    // No GPU chosen: a clear error listing presets.
    let e = plan(&c).unwrap_err().to_string();
    assert!(e.contains("h100-sxm") && e.contains("custom"), "{e}");
}

#[test]
fn json_has_the_documented_keys() {
    let r = default_report();
    let v = serde_json::to_value(&r).unwrap();
    for key in [
        "weights_bytes",
        "kv_bytes_per_token",
        "kv_bytes",
        "activations_bytes",
        "overhead_bytes",
        "total_bytes",
        "fits",
    ] {
        assert!(v["memory"].get(key).is_some(), "memory.{key}");
    }
    assert_eq!(v["memory"]["kv_bytes_per_token"], 131072);
    assert_eq!(v["memory"]["batch"], 256);
    assert_eq!(v["memory"]["fits"], false);
    assert!(v["max_concurrent_sequences"].as_u64().unwrap() > 100);
    let rows = v["batches"].as_array().unwrap();
    assert_eq!(rows.len(), 6);
    for key in [
        "batch",
        "decode_ms_per_token",
        "bound",
        "arithmetic_intensity",
        "output_tokens_per_s",
        "cost_per_million_output_tokens",
        "output_tokens_per_dollar",
        "fits_in_memory",
        "total_time_s",
        "kv_bytes",
    ] {
        assert!(rows[0].get(key).is_some(), "batches[].{key}");
    }
    assert_eq!(rows[0]["bound"], "memory");
    for key in ["time_ms", "bound", "arithmetic_intensity"] {
        assert!(v["prefill"].get(key).is_some(), "prefill.{key}");
    }
    assert!(v["ridge_point"].as_f64().unwrap() > 290.0);
    assert!(v.get("dtype_comparison").is_none());
    // Round-trips.
    let back: infermeter_perfmodel::PlanReport = serde_json::from_value(v).unwrap();
    assert_eq!(back, r);
}

#[test]
fn row_arithmetic_follows_the_seed_formulas() {
    let r = default_report();
    let price = 3.78;
    for row in &r.batches {
        let tps = f64::from(row.batch) / (row.decode_ms_per_token / 1e3);
        assert!((row.output_tokens_per_s / tps - 1.0).abs() < 1e-12);
        // Cost per token = $/h / (TPS · 3600).
        let per_m = price / (tps * 3600.0) * 1e6;
        assert!((row.cost_per_million_output_tokens.unwrap() / per_m - 1.0).abs() < 1e-12);
        let per_dollar = tps * 3600.0 / price;
        assert!((row.output_tokens_per_dollar.unwrap() / per_dollar - 1.0).abs() < 1e-12);
        // Total = TTFT + (n − 1) · TPOT.
        let total = r.prefill.time_ms / 1e3 + 255.0 * row.decode_ms_per_token / 1e3;
        assert!((row.total_time_s - total).abs() < 1e-12);
        assert_eq!(row.fits_in_memory, u64::from(row.batch) <= r.max_concurrent_sequences);
    }
    // Throughput grows and cost falls with batch.
    for w in r.batches.windows(2) {
        assert!(w[1].output_tokens_per_s > w[0].output_tokens_per_s);
        assert!(w[1].decode_ms_per_token > w[0].decode_ms_per_token);
    }
    assert_eq!(r.decode_context, 1024 + 128);
    assert_eq!(r.prefill.bound, Bound::Compute);
}

#[test]
fn dtype_comparison_when_asked() {
    let mut c = PlanConfig::for_presets("llama-3.1-8b", "l40s").unwrap();
    c.compare_dtypes = true;
    let r = plan(&c).unwrap();
    let cmp = r.dtype_comparison.as_ref().unwrap();
    let dts: Vec<DType> = cmp.iter().map(|x| x.weights_dtype).collect();
    assert_eq!(dts, vec![DType::Fp16, DType::Int8, DType::Int4]);
    assert_eq!(cmp[0].savings_pct, 0.0);
    assert!(cmp[1].savings_pct > 40.0 && cmp[1].savings_pct < 50.0);
    assert!(cmp[2].savings_pct > 60.0 && cmp[2].savings_pct < 75.0);
    assert!(cmp[2].max_concurrent_sequences > cmp[1].max_concurrent_sequences);
    assert!(cmp[1].max_concurrent_sequences > cmp[0].max_concurrent_sequences);
    assert!(cmp[2].decode_ms_per_token_batch1 < cmp[0].decode_ms_per_token_batch1);
    let text = render_text(&r);
    assert!(text.contains("Weight formats"), "{text}");
    assert!(text.contains("int4"));
}

#[test]
fn text_report_is_readable() {
    let r = default_report();
    let t = render_text(&r);
    assert!(t.starts_with("Plan: llama-3.1-8b on 1 x h100-sxm"), "{t}");
    assert!(t.contains("16.06 GB"), "{t}");
    assert!(t.contains("131072 B"), "{t}");
    assert!(t.contains("ms/token"), "{t}");
    assert!(t.contains("EXCEEDS MEMORY (max "), "{t}");
    assert!(t.contains("DOES NOT FIT"), "{t}");
    assert!(t.contains("compute-bound"), "{t}");
    // Table rows align: every row of the decode table has the same length up to the memory column.
    let rows: Vec<&str> = t
        .lines()
        .skip_while(|l| !l.contains("ms/token"))
        .skip(1)
        .take(6)
        .collect();
    let widths: Vec<usize> = rows
        .iter()
        .map(|l| l.find("  ok").or(l.find("  EXCEEDS")).unwrap())
        .collect();
    assert!(widths.windows(2).all(|w| w[0] == w[1]), "{rows:#?}");
}

#[test]
fn custom_gpu_and_overrides() {
    let mut c = PlanConfig::new(ModelSpec::preset("llama-3.1-8b").unwrap());
    c.custom_tflops = Some(500.0);
    c.custom_bandwidth_gbs = Some(2000.0);
    c.custom_memory_gb = Some(48.0);
    let r = plan(&c).unwrap();
    assert_eq!(r.gpu.name, "custom");
    assert_eq!(r.gpu.bf16_tflops, 500.0);
    assert!(r.batches[0].cost_per_million_output_tokens.is_none());
    assert!(r.warnings.iter().any(|w| w.contains("price")));
    c.gpu_cost_per_hour = Some(1.0);
    let r = plan(&c).unwrap();
    assert!(r.batches[0].cost_per_million_output_tokens.is_some());

    // A preset with a memory override and a price override.
    let mut c = PlanConfig::for_presets("llama-3.1-8b", "h100-sxm").unwrap();
    c.custom_memory_gb = Some(94.0);
    c.gpu_cost_per_hour = Some(2.0);
    c.batch_sizes = vec![64, 1, 1];
    let r = plan(&c).unwrap();
    assert_eq!(r.gpu.cost_per_hour, 2.0);
    assert_eq!(r.batches.iter().map(|b| b.batch).collect::<Vec<_>>(), vec![1, 64]);
    let base = default_report();
    assert!(r.max_concurrent_sequences > base.max_concurrent_sequences);
}

#[test]
fn tensor_parallel_plan_costs_all_gpus() {
    let mut c = PlanConfig::for_presets("llama-3.1-70b", "h100-sxm").unwrap();
    c.tp = 4;
    let r = plan(&c).unwrap();
    assert_eq!(r.gpu.tp, 4);
    assert!((r.gpu.total_cost_per_hour - 4.0 * 3.78).abs() < 1e-9);
    assert!(r.memory.fits || r.max_concurrent_sequences > 0);
    let t = render_text(&r);
    assert!(t.contains("per GPU"), "{t}");
    c.tp = 3;
    assert!(plan(&c).is_err());
}

#[test]
fn invalid_plans_are_errors() {
    let base = PlanConfig::for_presets("llama-3.1-8b", "h100-sxm").unwrap();
    let mut c = base.clone();
    c.batch_sizes.clear();
    assert!(plan(&c).unwrap_err().to_string().contains("batch"));
    let mut c = base.clone();
    c.batch_sizes = vec![0];
    assert!(plan(&c).is_err());
    let mut c = base.clone();
    c.output_len = 0;
    assert!(plan(&c).is_err());
    let mut c = base.clone();
    c.gpu_memory_utilization = 1.5;
    assert!(plan(&c).is_err());
    let mut c = base.clone();
    c.gpu_cost_per_hour = Some(f64::NAN);
    assert!(plan(&c).is_err());
    let mut c = base;
    c.custom_bandwidth_gbs = Some(-1.0);
    assert!(plan(&c).is_err());
}

#[test]
fn warnings_for_long_context_and_no_fit() {
    let mut c = PlanConfig::for_presets("llama-2-7b", "l4").unwrap();
    c.context = 8192;
    let r = plan(&c).unwrap();
    assert!(r.warnings.iter().any(|w| w.contains("maximum context")));
    let c = PlanConfig::for_presets("llama-3.1-70b", "a10g").unwrap();
    let r = plan(&c).unwrap();
    assert_eq!(r.max_concurrent_sequences, 0);
    assert!(r.warnings.iter().any(|w| w.contains("not even one")));
    assert!(r.batches.iter().all(|b| !b.fits_in_memory));
    let t = render_text(&r);
    assert!(t.contains("warning: not even one"), "{t}");
}

#[test]
fn every_preset_pair_plans() {
    for g in GpuSpec::preset_names() {
        for m in ModelSpec::preset_names() {
            let mut c = PlanConfig::for_presets(m, g).unwrap();
            c.compare_dtypes = true;
            let r = plan(&c).unwrap();
            assert!(r.prefill.time_ms > 0.0, "{m} on {g}");
            assert!(!render_text(&r).is_empty());
            serde_json::to_string(&r).unwrap();
        }
    }
}
