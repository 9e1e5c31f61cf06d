//! Capacity planning: the `infermeter plan` report.
//!
//! Given a model, a GPU (preset or custom numbers), dtypes, TP degree and a
//! workload shape, [`plan`] answers: does it fit, how many sequences run at
//! once, how fast is prefill, and for each batch size how fast is decode, is
//! it compute- or memory-bound, what throughput and what cost per token.
//! [`PlanReport`] serialises to JSON; [`render_text`] prints it for a console.
//!
//! Conventions:
//! - memory is per GPU; `memory` is the breakdown at the **largest** batch
//!   size, each sequence sized at `context` tokens (the worst case a sequence
//!   may reach), and each batch row repeats `kv_bytes` / `total_memory_bytes`
//!   for its own batch;
//! - decode rows are one engine step with `batch` sequences at the mean
//!   decode context `input_len + output_len / 2`; ms/token is the step time
//!   (every sequence gets one token per step) and throughput is `batch / step`;
//! - TTFT is a lone prefill of `input_len` tokens (no queueing), and the
//!   request time is `TTFT + (output_len − 1) × TPOT` (seed 3.4.5);
//! - cost per output token = `$/h / (tokens/s × 3600)` with `$/h` for all `tp`
//!   GPUs (seed 4.5); tokens per dollar is its inverse (seed 002).

use serde::{Deserialize, Serialize};

use crate::deployment::{Deployment, Efficiency};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::gpu::{gb_to_bytes, GpuSpec};
use crate::memory::MemoryBreakdown;
use crate::model::ModelSpec;
use crate::roofline::Bound;
use crate::validation::{uncertainty, Band, Metric};

/// Default batch sizes of the decode table.
pub const DEFAULT_BATCH_SIZES: [u32; 6] = [1, 8, 32, 64, 128, 256];

/// What to plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanConfig {
    /// The model.
    pub model: ModelSpec,
    /// GPU preset; `None` means describe it with the three `custom_*` fields.
    pub gpu: Option<GpuSpec>,
    /// Dense BF16 TFLOP/s (overrides the preset's when both are given).
    pub custom_tflops: Option<f64>,
    /// Memory bandwidth, GB/s (1e9 B/s).
    pub custom_bandwidth_gbs: Option<f64>,
    /// Device memory, GB (read as GiB like the presets).
    pub custom_memory_gb: Option<f64>,
    /// Weight storage format.
    pub weights_dtype: DType,
    /// KV-cache storage format.
    pub kv_dtype: DType,
    /// Tensor-parallel degree.
    pub tp: u32,
    /// Fraction of GPU memory usable (default 0.9).
    pub gpu_memory_utilization: f64,
    /// Tokens each sequence is sized at for memory (default 4096).
    pub context: u32,
    /// Batch sizes of the decode table (default 1, 8, 32, 64, 128, 256).
    pub batch_sizes: Vec<u32>,
    /// Prompt tokens per request (default 1024).
    pub input_len: u32,
    /// Output tokens per request (default 256).
    pub output_len: u32,
    /// $/hour of one GPU; `None` → the preset's default.
    pub gpu_cost_per_hour: Option<f64>,
    /// Add FP16 / INT8 / INT4 weight comparison.
    pub compare_dtypes: bool,
    /// Framework overhead bytes; `None` → 2e9.
    pub overhead_bytes: Option<f64>,
    /// Calibration; `None` → the GPU's defaults.
    pub efficiency: Option<Efficiency>,
}

impl PlanConfig {
    /// Defaults for `model`, with no GPU chosen yet.
    pub fn new(model: ModelSpec) -> PlanConfig {
        PlanConfig {
            model,
            gpu: None,
            custom_tflops: None,
            custom_bandwidth_gbs: None,
            custom_memory_gb: None,
            weights_dtype: DType::Bf16,
            kv_dtype: DType::Bf16,
            tp: 1,
            gpu_memory_utilization: 0.9,
            context: 4096,
            batch_sizes: DEFAULT_BATCH_SIZES.to_vec(),
            input_len: 1024,
            output_len: 256,
            gpu_cost_per_hour: None,
            compare_dtypes: false,
            overhead_bytes: None,
            efficiency: None,
        }
    }

    /// Defaults for a model preset on a GPU preset.
    pub fn for_presets(model: &str, gpu: &str) -> Result<PlanConfig> {
        let mut c = PlanConfig::new(ModelSpec::preset(model)?);
        c.gpu = Some(GpuSpec::preset(gpu)?);
        Ok(c)
    }

    /// The GPU after applying custom overrides and the price override.
    pub fn resolve_gpu(&self) -> Result<GpuSpec> {
        let mut g = match &self.gpu {
            Some(g) => g.clone(),
            None => match (self.custom_tflops, self.custom_bandwidth_gbs, self.custom_memory_gb) {
                (Some(t), Some(b), Some(m)) => GpuSpec::custom("custom", t, b, m),
                _ => {
                    return Err(Error::InvalidPlan(format!(
                        "choose a GPU preset ({}) or give all of custom TFLOP/s, bandwidth GB/s and memory GB",
                        GpuSpec::preset_names().join(", ")
                    )))
                }
            },
        };
        if self.gpu.is_some() {
            let mut custom = false;
            if let Some(t) = self.custom_tflops {
                g.bf16_flops = t * 1e12;
                custom = true;
            }
            if let Some(b) = self.custom_bandwidth_gbs {
                g.memory_bandwidth = b * 1e9;
                custom = true;
            }
            if let Some(m) = self.custom_memory_gb {
                g.memory_bytes = gb_to_bytes(m);
                custom = true;
            }
            if custom {
                g.description = format!("{} (with custom overrides)", g.description);
            }
        }
        if let Some(p) = self.gpu_cost_per_hour {
            g.cost_per_hour = p;
        }
        g.validate()?;
        Ok(g)
    }

    /// The deployment this plan evaluates.
    pub fn deployment(&self) -> Result<Deployment> {
        let gpu = self.resolve_gpu()?;
        let mut d = Deployment::new(self.model.clone(), gpu)?
            .with_weights_dtype(self.weights_dtype)
            .with_kv_dtype(self.kv_dtype)
            .with_tp(self.tp)?;
        d.engine.gpu_memory_utilization = self.gpu_memory_utilization;
        if let Some(o) = self.overhead_bytes {
            d.engine.overhead_bytes = o;
        }
        if let Some(e) = &self.efficiency {
            d.efficiency = e.clone();
        }
        d.validate()?;
        Ok(d)
    }
}

/// Model facts shown in the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSummary {
    /// Model name.
    pub name: String,
    /// Total parameters.
    pub params: u64,
    /// Parameters one token uses (MoE: top-k experts).
    pub active_params: u64,
    /// Layers.
    pub layers: u32,
    /// Hidden size.
    pub hidden: u32,
    /// Query heads.
    pub heads: u32,
    /// KV heads.
    pub kv_heads: u32,
    /// Head width.
    pub head_dim: u32,
    /// MoE experts (0 = dense).
    pub experts: u32,
    /// MoE experts per token (0 = dense).
    pub experts_per_token: u32,
    /// Sliding window, if any.
    pub sliding_window: Option<u32>,
    /// Layers using the sliding window.
    pub sliding_window_layers: u32,
    /// Maximum context.
    pub max_context: u32,
}

/// GPU facts shown in the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GpuSummary {
    /// Preset or custom name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Dense BF16 TFLOP/s.
    pub bf16_tflops: f64,
    /// TFLOP/s the linear layers run at with this weight format.
    pub gemm_tflops: f64,
    /// Memory bandwidth, GB/s.
    pub bandwidth_gbs: f64,
    /// Device memory, bytes.
    pub memory_bytes: u64,
    /// Tensor-parallel degree (GPUs per replica).
    pub tp: u32,
    /// $/hour of one GPU.
    pub cost_per_hour: f64,
    /// $/hour of the replica (`tp` GPUs).
    pub total_cost_per_hour: f64,
}

/// Paged KV-cache capacity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KvCacheSummary {
    /// Tokens per block.
    pub block_size: u32,
    /// Blocks per GPU (vLLM `num_gpu_blocks`).
    pub num_blocks: u64,
    /// Tokens the cache holds.
    pub capacity_tokens: u64,
    /// Bytes per GPU left for the KV cache.
    pub budget_bytes: u64,
}

/// Prefill of one prompt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrefillSummary {
    /// Prompt tokens.
    pub prompt_tokens: u32,
    /// Engine steps (chunks of `max_num_batched_tokens`).
    pub chunks: u32,
    /// Time to prefill = TTFT on an idle engine, ms.
    pub time_ms: f64,
    /// Compute or memory.
    pub bound: Bound,
    /// FLOP per byte.
    pub arithmetic_intensity: f64,
    /// Prompt tokens per second.
    pub tokens_per_s: f64,
    /// 80 % uncertainty band of `time_ms` (from the held-out TTFT errors of
    /// the validation corpus, [`crate::validation::uncertainty`]).
    pub time_band_ms: Band,
}

/// One row of the decode table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchRow {
    /// Concurrent sequences.
    pub batch: u32,
    /// Step time = time per output token of each sequence (TPOT), ms.
    pub decode_ms_per_token: f64,
    /// Compute or memory.
    pub bound: Bound,
    /// FLOP per byte of the step.
    pub arithmetic_intensity: f64,
    /// Output tokens per second of the replica: `batch / step`.
    pub output_tokens_per_s: f64,
    /// `$/h / (tok/s · 3600) · 1e6`; `None` without a price.
    pub cost_per_million_output_tokens: Option<f64>,
    /// `tok/s · 3600 / $/h`; `None` without a price.
    pub output_tokens_per_dollar: Option<f64>,
    /// Whether `batch` sequences of `context` tokens fit.
    pub fits_in_memory: bool,
    /// KV bytes of the batch at `context`, per GPU.
    pub kv_bytes: u64,
    /// Total memory per GPU for this batch.
    pub total_memory_bytes: u64,
    /// Time to first token (lone prefill), ms.
    pub ttft_ms: f64,
    /// `TTFT + (output_len − 1) × TPOT`, seconds.
    pub total_time_s: f64,
    /// 80 % uncertainty band of `decode_ms_per_token` (held-out TPOT errors).
    pub decode_band_ms: Band,
    /// 80 % uncertainty band of `output_tokens_per_s` (held-out throughput errors).
    pub throughput_band: Band,
}

/// One weight format in the dtype comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DtypeRow {
    /// Weight format.
    pub weights_dtype: DType,
    /// Weights per GPU.
    pub weights_bytes: u64,
    /// Saving vs FP16 weights, percent.
    pub savings_pct: f64,
    /// Max concurrent sequences at `context`.
    pub max_concurrent_sequences: u64,
    /// Decode ms/token at batch 1.
    pub decode_ms_per_token_batch1: f64,
    /// Batch used for the next two columns: min(max concurrent, largest batch), ≥ 1.
    pub batch: u32,
    /// Decode ms/token at `batch`.
    pub decode_ms_per_token: f64,
    /// Output tokens/s at `batch`.
    pub output_tokens_per_s: f64,
    /// Whether `batch` sequences fit (false when not even one does).
    pub fits: bool,
}

/// The plan. See the module docs for conventions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanReport {
    /// Model facts.
    pub model: ModelSummary,
    /// GPU facts.
    pub gpu: GpuSummary,
    /// Weight format.
    pub weights_dtype: DType,
    /// KV format.
    pub kv_dtype: DType,
    /// Tokens per sequence for memory sizing.
    pub context: u32,
    /// Prompt tokens per request.
    pub input_len: u32,
    /// Output tokens per request.
    pub output_len: u32,
    /// Context the decode rows are evaluated at: `input_len + output_len / 2`.
    pub decode_context: u32,
    /// Memory per GPU at the largest batch size and `context`.
    pub memory: MemoryBreakdown,
    /// Most sequences of `context` tokens that fit at once.
    pub max_concurrent_sequences: u64,
    /// Paged KV-cache capacity.
    pub kv_cache: KvCacheSummary,
    /// Nominal ridge point, FLOP/B.
    pub ridge_point: f64,
    /// Ridge point with efficiencies (`P·η_c / (BW·η_m)`), FLOP/B.
    pub effective_ridge_point: f64,
    /// Prefill of one `input_len` prompt.
    pub prefill: PrefillSummary,
    /// Decode table.
    pub batches: Vec<BatchRow>,
    /// FP16/INT8/INT4 weight comparison, when asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dtype_comparison: Option<Vec<DtypeRow>>,
    /// Calibration used.
    pub efficiency: Efficiency,
    /// Things the reader should know (context beyond the model's, no fit, …).
    pub warnings: Vec<String>,
}

fn round_u64(v: f64) -> u64 {
    v.max(0.0).round() as u64
}

fn price_terms(cost_per_hour: f64, tokens_per_s: f64) -> (Option<f64>, Option<f64>) {
    if cost_per_hour > 0.0 && tokens_per_s > 0.0 && tokens_per_s.is_finite() {
        let per_token = cost_per_hour / (tokens_per_s * 3600.0);
        (Some(per_token * 1e6), Some(1.0 / per_token))
    } else {
        (None, None)
    }
}

/// Builds the plan. Errors on an unusable configuration (no GPU, empty or
/// zero batch sizes, zero lengths, TP not dividing the heads, …).
pub fn plan(cfg: &PlanConfig) -> Result<PlanReport> {
    if cfg.batch_sizes.is_empty() {
        return Err(Error::InvalidPlan("batch_sizes is empty".into()));
    }
    if cfg.batch_sizes.contains(&0) {
        return Err(Error::InvalidPlan("batch sizes must be >= 1".into()));
    }
    if cfg.context == 0 || cfg.input_len == 0 || cfg.output_len == 0 {
        return Err(Error::InvalidPlan(
            "context, input_len and output_len must be >= 1".into(),
        ));
    }
    let d = cfg.deployment()?;
    let m = &d.model;
    let mut batches = cfg.batch_sizes.clone();
    batches.sort_unstable();
    batches.dedup();
    let largest = *batches.last().unwrap_or(&1);
    let context = u64::from(cfg.context);
    let decode_context = cfg.input_len.saturating_add(cfg.output_len / 2);
    let cost = d.cost_per_hour();
    let max_conc = d.max_concurrent_sequences(context);

    let mut warnings = Vec::new();
    if cfg.context > m.max_context {
        warnings.push(format!(
            "context {} exceeds the model's maximum context {}",
            cfg.context, m.max_context
        ));
    }
    if u64::from(cfg.input_len) + u64::from(cfg.output_len) > u64::from(m.max_context) {
        warnings.push(format!(
            "input_len + output_len = {} exceeds the model's maximum context {}",
            u64::from(cfg.input_len) + u64::from(cfg.output_len),
            m.max_context
        ));
    }
    if max_conc == 0 {
        warnings.push(format!(
            "not even one sequence of {} tokens fits: weights {:.2} GB + reserve exceed the {:.2} GB usable per GPU",
            cfg.context,
            d.weights_bytes_per_gpu() / 1e9,
            d.memory_budget_bytes() / 1e9
        ));
    }
    if cost <= 0.0 {
        warnings.push("no GPU price given: cost columns are empty".into());
    }

    let prefill_b = d.prefill_breakdown(cfg.input_len);
    let ttft_s = prefill_b.total_s;
    let prefill = PrefillSummary {
        prompt_tokens: cfg.input_len,
        chunks: prefill_b.steps,
        time_ms: ttft_s * 1e3,
        bound: prefill_b.bound(),
        arithmetic_intensity: prefill_b.arithmetic_intensity(),
        tokens_per_s: if ttft_s > 0.0 {
            f64::from(cfg.input_len) / ttft_s
        } else {
            0.0
        },
        time_band_ms: uncertainty(Metric::Ttft, ttft_s * 1e3),
    };

    let rows: Vec<BatchRow> = batches
        .iter()
        .map(|&b| {
            let step = d.decode_breakdown(b, decode_context);
            let tps = f64::from(b) / step.total_s;
            let (per_m, per_dollar) = price_terms(cost, tps);
            let mem = d.memory_breakdown(u64::from(b), context);
            BatchRow {
                batch: b,
                decode_ms_per_token: step.total_s * 1e3,
                bound: step.bound(),
                arithmetic_intensity: step.arithmetic_intensity(),
                output_tokens_per_s: tps,
                cost_per_million_output_tokens: per_m,
                output_tokens_per_dollar: per_dollar,
                fits_in_memory: mem.fits,
                kv_bytes: mem.kv_bytes,
                total_memory_bytes: mem.total_bytes,
                ttft_ms: ttft_s * 1e3,
                total_time_s: ttft_s + f64::from(cfg.output_len - 1) * step.total_s,
                decode_band_ms: uncertainty(Metric::Tpot, step.total_s * 1e3),
                throughput_band: uncertainty(Metric::Throughput, tps),
            }
        })
        .collect();

    let dtype_comparison = if cfg.compare_dtypes {
        let fp16_bytes = d.clone().with_weights_dtype(DType::Fp16).weights_bytes_per_gpu();
        Some(
            [DType::Fp16, DType::Int8, DType::Int4]
                .iter()
                .map(|&dt| {
                    let v = d.clone().with_weights_dtype(dt);
                    let w = v.weights_bytes_per_gpu();
                    let mc = v.max_concurrent_sequences(context);
                    let b = (mc.min(u64::from(largest)).max(1)) as u32;
                    let step = v.decode_breakdown(b, decode_context);
                    DtypeRow {
                        weights_dtype: dt,
                        weights_bytes: round_u64(w),
                        savings_pct: if fp16_bytes > 0.0 {
                            (1.0 - w / fp16_bytes) * 100.0
                        } else {
                            0.0
                        },
                        max_concurrent_sequences: mc,
                        decode_ms_per_token_batch1: v.decode_time_s(1, decode_context) * 1e3,
                        batch: b,
                        decode_ms_per_token: step.total_s * 1e3,
                        output_tokens_per_s: f64::from(b) / step.total_s,
                        fits: mc >= u64::from(b),
                    }
                })
                .collect(),
        )
    } else {
        None
    };

    Ok(PlanReport {
        model: ModelSummary {
            name: m.name.clone(),
            params: m.param_count(),
            active_params: m.active_param_count(),
            layers: m.num_layers,
            hidden: m.hidden_size,
            heads: m.num_heads,
            kv_heads: m.num_kv_heads,
            head_dim: m.head_dim,
            experts: m.moe.as_ref().map_or(0, |e| e.num_experts),
            experts_per_token: m.moe.as_ref().map_or(0, |e| e.top_k),
            sliding_window: m.sliding_window,
            sliding_window_layers: m.num_sliding_layers(),
            max_context: m.max_context,
        },
        gpu: GpuSummary {
            name: d.gpu.name.clone(),
            description: d.gpu.description.clone(),
            bf16_tflops: d.gpu.bf16_flops / 1e12,
            gemm_tflops: d.gemm_peak_flops() / 1e12,
            bandwidth_gbs: d.gpu.memory_bandwidth / 1e9,
            memory_bytes: d.gpu.memory_bytes,
            tp: d.tp,
            cost_per_hour: d.gpu.cost_per_hour,
            total_cost_per_hour: cost,
        },
        weights_dtype: d.weights_dtype,
        kv_dtype: d.kv_dtype,
        context: cfg.context,
        input_len: cfg.input_len,
        output_len: cfg.output_len,
        decode_context,
        memory: d.memory_breakdown(u64::from(largest), context),
        max_concurrent_sequences: max_conc,
        kv_cache: KvCacheSummary {
            block_size: d.engine.block_size,
            num_blocks: d.num_kv_blocks(),
            capacity_tokens: d.kv_capacity_tokens(),
            budget_bytes: round_u64(d.kv_cache_budget_bytes()),
        },
        ridge_point: d.ridge_point(),
        effective_ridge_point: d.effective_ridge_point(),
        prefill,
        batches: rows,
        dtype_comparison,
        efficiency: d.efficiency.clone(),
        warnings,
    })
}

fn gb(bytes: u64) -> String {
    format!("{:.2} GB", bytes as f64 / 1e9)
}

fn params_b(p: u64) -> String {
    format!("{:.2} B", p as f64 / 1e9)
}

fn opt_num(v: Option<f64>, decimals: usize) -> String {
    match v {
        Some(v) => format!("{v:.decimals$}"),
        None => "-".to_string(),
    }
}

/// Console rendering of a plan: aligned sections and tables, GB with 2
/// decimals (1 GB = 1e9 B), times in ms, rows beyond the memory limit marked.
pub fn render_text(r: &PlanReport) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    let m = &r.model;
    let g = &r.gpu;
    let _ = writeln!(
        o,
        "Plan: {} on {} x {} (weights {}, KV cache {})",
        m.name, g.tp, g.name, r.weights_dtype, r.kv_dtype
    );
    let mut arch = format!(
        "{} parameters, {} layers, hidden {}, {} query / {} KV heads x {}",
        params_b(m.params),
        m.layers,
        m.hidden,
        m.heads,
        m.kv_heads,
        m.head_dim
    );
    if m.experts > 0 {
        let _ = write!(
            arch,
            ", MoE {} experts top-{} ({} active)",
            m.experts,
            m.experts_per_token,
            params_b(m.active_params)
        );
    }
    if let Some(w) = m.sliding_window {
        let _ = write!(
            arch,
            ", sliding window {} on {}/{} layers",
            w, m.sliding_window_layers, m.layers
        );
    }
    let _ = write!(arch, ", max context {}", m.max_context);
    let _ = writeln!(o, "  model      {arch}");
    let _ = writeln!(
        o,
        "  GPU        {}: {:.1} TFLOP/s bf16 ({:.1} for {} GEMMs), {:.0} GB/s, {}, ${:.2}/h per GPU",
        g.description,
        g.bf16_tflops,
        g.gemm_tflops,
        r.weights_dtype,
        g.bandwidth_gbs,
        gb(g.memory_bytes),
        g.cost_per_hour
    );
    let e = &r.efficiency;
    let _ = writeln!(
        o,
        "  roofline   ridge point {:.1} FLOP/B (effective {:.1} at eta_c {:.2}, eta_m {:.3}); fixed overhead {:.2} ms/step",
        r.ridge_point,
        r.effective_ridge_point,
        e.compute,
        e.memory,
        e.fixed_overhead_s * 1e3
    );
    o.push('\n');

    let mem = &r.memory;
    let per = if mem.tp > 1 { "per GPU, " } else { "" };
    let _ = writeln!(o, "Memory ({per}context {} tokens, batch {})", mem.context, mem.batch);
    let line = |o: &mut String, label: &str, value: String| {
        let _ = writeln!(o, "  {label:<26}{value:>12}");
    };
    line(&mut o, "weights", gb(mem.weights_bytes));
    line(&mut o, "KV cache per token", format!("{} B", mem.kv_bytes_per_token));
    line(&mut o, "KV cache per sequence", gb(mem.kv_bytes_per_request));
    line(&mut o, &format!("KV cache ({} sequences)", mem.batch), gb(mem.kv_bytes));
    line(&mut o, "activations (peak step)", gb(mem.activations_bytes));
    line(&mut o, "framework overhead", gb(mem.overhead_bytes));
    let verdict = if mem.fits { "fits" } else { "DOES NOT FIT" };
    let _ = writeln!(
        o,
        "  {:<26}{:>12}   of {} usable ({:.0}% of {})  {}",
        "total",
        gb(mem.total_bytes),
        gb(mem.budget_bytes),
        if mem.gpu_memory_bytes > 0 {
            mem.budget_bytes as f64 / mem.gpu_memory_bytes as f64 * 100.0
        } else {
            0.0
        },
        gb(mem.gpu_memory_bytes),
        verdict
    );
    let _ = writeln!(
        o,
        "  {:<26}{:>12}   at {} tokens each",
        "max concurrent sequences", r.max_concurrent_sequences, r.context
    );
    let _ = writeln!(
        o,
        "  {:<26}{:>12}   blocks of {} tokens = {} tokens ({})",
        "KV cache capacity",
        r.kv_cache.num_blocks,
        r.kv_cache.block_size,
        r.kv_cache.capacity_tokens,
        gb(r.kv_cache.budget_bytes)
    );
    o.push('\n');

    let p = &r.prefill;
    let _ = writeln!(
        o,
        "Prefill ({} prompt tokens, {} step{}): {:.2} ms (80 % band {:.2}–{:.2}), {}-bound, {:.1} FLOP/B, {:.0} tokens/s",
        p.prompt_tokens,
        p.chunks,
        if p.chunks == 1 { "" } else { "s" },
        p.time_ms,
        p.time_band_ms.low,
        p.time_band_ms.high,
        p.bound,
        p.arithmetic_intensity,
        p.tokens_per_s
    );
    o.push('\n');

    let _ = writeln!(
        o,
        "Decode (context {} = {} in + {}/2 out; ${:.2}/h for {} GPU{}; request = TTFT + {} x TPOT)",
        r.decode_context,
        r.input_len,
        r.output_len,
        g.total_cost_per_hour,
        g.tp,
        if g.tp == 1 { "" } else { "s" },
        r.output_len.saturating_sub(1)
    );
    let _ = writeln!(
        o,
        "  {:>6} {:>9} {:>13} {:>8} {:>9} {:>10} {:>15} {:>10} {:>12} {:>10}  memory",
        "batch",
        "ms/token",
        "80 % band",
        "bound",
        "FLOP/B",
        "tokens/s",
        "80 % band",
        "$/M tok",
        "tokens/$",
        "request s",
    );
    for row in &r.batches {
        let mem_note = if row.fits_in_memory {
            "ok".to_string()
        } else {
            format!("EXCEEDS MEMORY (max {})", r.max_concurrent_sequences)
        };
        let _ = writeln!(
            o,
            "  {:>6} {:>9.2} {:>13} {:>8} {:>9.1} {:>10.1} {:>15} {:>10} {:>12} {:>10.2}  {}",
            row.batch,
            row.decode_ms_per_token,
            format!("{:.2}–{:.2}", row.decode_band_ms.low, row.decode_band_ms.high),
            row.bound.to_string(),
            row.arithmetic_intensity,
            row.output_tokens_per_s,
            format!("{:.0}–{:.0}", row.throughput_band.low, row.throughput_band.high),
            opt_num(row.cost_per_million_output_tokens, 4),
            opt_num(row.output_tokens_per_dollar, 0),
            row.total_time_s,
            mem_note
        );
    }

    let _ = writeln!(
        o,
        "  (80 % band: where a real vLLM server's value fell for 80 % of the held-out validation points; docs/simulator.md)"
    );

    if let Some(cmp) = &r.dtype_comparison {
        o.push('\n');
        let _ = writeln!(
            o,
            "Weight formats (KV cache {}, context {}; savings vs fp16)",
            r.kv_dtype, r.context
        );
        let _ = writeln!(
            o,
            "  {:>6} {:>10} {:>8} {:>9} {:>11} {:>6} {:>9} {:>10}",
            "dtype", "weights", "saving", "max seqs", "ms/tok bs1", "batch", "ms/token", "tokens/s"
        );
        for row in cmp {
            let _ = writeln!(
                o,
                "  {:>6} {:>10} {:>7.1}% {:>9} {:>11.2} {:>6} {:>9.2} {:>10.1}{}",
                row.weights_dtype.to_string(),
                gb(row.weights_bytes),
                row.savings_pct,
                row.max_concurrent_sequences,
                row.decode_ms_per_token_batch1,
                row.batch,
                row.decode_ms_per_token,
                row.output_tokens_per_s,
                if row.fits { "" } else { "  EXCEEDS MEMORY" }
            );
        }
    }

    if !r.warnings.is_empty() {
        o.push('\n');
        for w in &r.warnings {
            let _ = writeln!(o, "warning: {w}");
        }
    }
    o
}
