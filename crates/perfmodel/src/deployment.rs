//! A [`Deployment`]: one model served on `tp` identical GPUs with given weight
//! and KV dtypes, plus the calibration knobs ([`Efficiency`]) of the roofline
//! step model and the engine limits ([`EngineConfig`]) that size memory.
//!
//! It is the single object both the capacity planner and a simulated
//! vLLM-like engine hold; the memory methods live in [`crate::memory`] and the
//! step-time methods in [`crate::roofline`].

use serde::{Deserialize, Serialize};

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::gpu::GpuSpec;
use crate::model::ModelSpec;

/// Bytes per activation element (bf16/fp16 activations in every mode).
pub const ACTIVATION_BYTES: f64 = 2.0;

/// Calibration knobs of the roofline step model.
///
/// Defaults come from `shared/research/anchors_sim.md` §8.3: η_m ≈ 0.895 and
/// t_fixed ≈ 1.43 ms fit vLLM's published Llama-3.1-8B / H100 line
/// `ITL = 6.44 ms + 4.37e-5 ms × ctx` (KV-read slope ⇒ η_m, intercept minus
/// 15.01 GB weight streaming ⇒ t_fixed); η_c 0.6 for large GEMMs
/// (llm-analysis: "up to 0.7 for inference"); η_a 0.5 for FlashAttention
/// prefill. η_m is per GPU ([`GpuSpec::memory_efficiency`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Efficiency {
    /// η_c: achieved fraction of peak tensor FLOP/s in the linear layers.
    pub compute: f64,
    /// η_a: achieved fraction of peak FLOP/s in attention (QKᵀ, AV).
    pub attention: f64,
    /// η_m: achieved fraction of peak memory bandwidth.
    pub memory: f64,
    /// Achieved fraction of the TP link bandwidth in all-reduce
    /// (llm-d-sim docs: "typically 60–80 % of link rated speed").
    pub interconnect: f64,
    /// t_fixed: per-step overhead (launch gaps, sampling, scheduler), seconds.
    pub fixed_overhead_s: f64,
    /// t_per_seq: extra overhead per scheduled sequence, seconds (default 0).
    pub per_seq_overhead_s: f64,
    /// α: latency of one all-reduce call, seconds (TP only; default 10 µs,
    /// an estimate for NVLink custom all-reduce, not measured).
    pub allreduce_latency_s: f64,
    /// T_half for small-batch GEMM inefficiency `η_c(T) = η_c·T/(T+T_half)`;
    /// 0 disables it (default; the form is unverified).
    pub gemm_half_saturation_tokens: f64,
    /// c_act: activation traffic per token per layer in units of `D × 2 bytes`
    /// (research: 10–20; negligible for decode). Default 10.
    pub activation_traffic: f64,
    /// Extra host time per scheduled sequence that does prefill work this
    /// step (V0 engines build its metadata in Python), seconds. Default 0.
    #[serde(default)]
    pub per_prefill_seq_overhead_s: f64,
    /// Extra time per mixture-of-experts layer per step (routing, top-k,
    /// permutation and the grouped-GEMM launches that a dense layer does not
    /// have), seconds. Default 0.
    #[serde(default)]
    pub moe_layer_overhead_s: f64,
    /// Efficiency of the expert (grouped) GEMMs relative to dense GEMMs
    /// (multiplies η_c for the MoE FLOPs), in (0, 1]. Default 1.
    #[serde(default = "one")]
    pub moe_compute: f64,
    /// Efficiency of FP8 GEMMs relative to η_c (multiplies η_c when the
    /// weights run at the FP8 rate), in (0, 1]. Default 1.
    #[serde(default = "one")]
    pub fp8_compute: f64,
}

fn one() -> f64 {
    1.0
}

impl Default for Efficiency {
    /// The H100 SXM row of the calibration table with the vLLM V1 profile's
    /// host costs.
    fn default() -> Self {
        let h100 = crate::calibration::for_gpu("h100-sxm").expect("h100-sxm is in the table");
        let host = crate::profile::EngineProfile::VllmV1.host();
        Efficiency {
            compute: h100.compute,
            attention: h100.attention,
            memory: h100.memory,
            interconnect: 0.7,
            fixed_overhead_s: host.step_s,
            per_seq_overhead_s: host.per_seq_s,
            allreduce_latency_s: h100.allreduce_latency_s,
            gemm_half_saturation_tokens: 0.0,
            activation_traffic: 10.0,
            per_prefill_seq_overhead_s: host.per_prefill_seq_s,
            // Fitted on the fit split (gpt-oss-20b and Mixtral rows; FP8 rows).
            moe_layer_overhead_s: 21.2e-6,
            moe_compute: 0.5,
            fp8_compute: 0.58,
        }
    }
}

impl Efficiency {
    /// Defaults for a GPU: its η_m, η_c, η_a and all-reduce latency from the
    /// calibration table; host overheads are the engine profile's business
    /// ([`crate::profile`]) and default to the seed's 1.43 ms per step.
    pub fn for_gpu(gpu: &GpuSpec) -> Efficiency {
        Efficiency {
            memory: gpu.memory_efficiency,
            compute: gpu.compute_efficiency,
            attention: gpu.attention_efficiency,
            allreduce_latency_s: gpu.allreduce_latency_s,
            ..Efficiency::default()
        }
    }

    /// Checks ranges: efficiencies in (0, 1], overheads ≥ 0.
    pub fn validate(&self) -> Result<()> {
        for (what, v) in [
            ("compute", self.compute),
            ("attention", self.attention),
            ("memory", self.memory),
            ("interconnect", self.interconnect),
            ("moe_compute", self.moe_compute),
            ("fp8_compute", self.fp8_compute),
        ] {
            if !(v.is_finite() && v > 0.0 && v <= 1.0) {
                return Err(Error::InvalidDeployment(format!(
                    "efficiency.{what} must be in (0, 1] (got {v})"
                )));
            }
        }
        for (what, v) in [
            ("fixed_overhead_s", self.fixed_overhead_s),
            ("per_seq_overhead_s", self.per_seq_overhead_s),
            ("allreduce_latency_s", self.allreduce_latency_s),
            ("gemm_half_saturation_tokens", self.gemm_half_saturation_tokens),
            ("activation_traffic", self.activation_traffic),
            ("per_prefill_seq_overhead_s", self.per_prefill_seq_overhead_s),
            ("moe_layer_overhead_s", self.moe_layer_overhead_s),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(Error::InvalidDeployment(format!(
                    "efficiency.{what} must be >= 0 (got {v})"
                )));
            }
        }
        Ok(())
    }
}

/// Engine limits that decide memory use, mirroring vLLM's knobs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EngineConfig {
    /// Fraction of device memory the engine may use (vLLM `--gpu-memory-utilization`).
    pub gpu_memory_utilization: f64,
    /// Framework/CUDA overhead reserved outside weights, KV and activations,
    /// bytes. Default 2e9 like the seed's `overhead = 2.0` GB; vLLM's measured
    /// non-weight non-KV reserve is smaller (≈1.2 GB in total including
    /// activations for an 8B model on an RTX 4090, research §7).
    pub overhead_bytes: f64,
    /// Tokens per paged KV block (vLLM default 16).
    pub block_size: u32,
    /// Token budget of one engine step (vLLM `--max-num-batched-tokens`); also
    /// the chunk size of chunked prefill and the size of the activation reserve.
    pub max_num_batched_tokens: u32,
    /// Most sequences in one step (vLLM `--max-num-seqs`); sizes the logits buffer.
    pub max_num_seqs: u32,
}

impl EngineConfig {
    /// vLLM V1 OpenAI-server defaults (`EngineArgs.get_batch_defaults`): GPUs
    /// with ≥ 70 GiB that are not A100 get 8192 batched tokens / 1024 sequences,
    /// others 2048 / 256. Utilisation 0.9, block 16, overhead 2 GB.
    pub fn for_gpu(gpu: &GpuSpec) -> EngineConfig {
        let big = gpu.memory_bytes >= 70 * (1u64 << 30) && !gpu.name.starts_with("a100");
        EngineConfig {
            gpu_memory_utilization: 0.9,
            overhead_bytes: 2e9,
            block_size: 16,
            max_num_batched_tokens: if big { 8192 } else { 2048 },
            max_num_seqs: if big { 1024 } else { 256 },
        }
    }

    /// Checks ranges.
    pub fn validate(&self) -> Result<()> {
        let u = self.gpu_memory_utilization;
        if !(u.is_finite() && u > 0.0 && u <= 1.0) {
            return Err(Error::InvalidDeployment(format!(
                "gpu_memory_utilization must be in (0, 1] (got {u})"
            )));
        }
        if !(self.overhead_bytes.is_finite() && self.overhead_bytes >= 0.0) {
            return Err(Error::InvalidDeployment(format!(
                "overhead_bytes must be >= 0 (got {})",
                self.overhead_bytes
            )));
        }
        if self.block_size == 0 || self.max_num_batched_tokens == 0 || self.max_num_seqs == 0 {
            return Err(Error::InvalidDeployment(
                "block_size, max_num_batched_tokens and max_num_seqs must be > 0".into(),
            ));
        }
        Ok(())
    }
}

/// A model served on `tp` GPUs of one kind. Per-GPU quantities (memory,
/// step time) are for one tensor-parallel rank.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deployment {
    /// The model.
    pub model: ModelSpec,
    /// The GPU (one rank).
    pub gpu: GpuSpec,
    /// Storage format of the matmul weights.
    pub weights_dtype: DType,
    /// Storage format of the KV cache.
    pub kv_dtype: DType,
    /// Tensor-parallel degree (GPUs per replica).
    pub tp: u32,
    /// Roofline calibration.
    pub efficiency: Efficiency,
    /// Memory-sizing engine limits.
    pub engine: EngineConfig,
}

impl Deployment {
    /// bf16 weights and KV, TP 1, defaults for the GPU. Validates both specs.
    pub fn new(model: ModelSpec, gpu: GpuSpec) -> Result<Deployment> {
        model.validate()?;
        gpu.validate()?;
        let efficiency = Efficiency::for_gpu(&gpu);
        let engine = EngineConfig::for_gpu(&gpu);
        Ok(Deployment {
            model,
            gpu,
            weights_dtype: DType::Bf16,
            kv_dtype: DType::Bf16,
            tp: 1,
            efficiency,
            engine,
        })
    }

    /// From preset names, e.g. `("llama-3.1-8b", "h100-sxm")`.
    pub fn from_presets(model: &str, gpu: &str) -> Result<Deployment> {
        Deployment::new(ModelSpec::preset(model)?, GpuSpec::preset(gpu)?)
    }

    /// Sets the weight dtype.
    pub fn with_weights_dtype(mut self, dtype: DType) -> Deployment {
        self.weights_dtype = dtype;
        self
    }

    /// Sets the KV-cache dtype.
    pub fn with_kv_dtype(mut self, dtype: DType) -> Deployment {
        self.kv_dtype = dtype;
        self
    }

    /// Sets the tensor-parallel degree (checked against the head counts).
    pub fn with_tp(mut self, tp: u32) -> Result<Deployment> {
        self.tp = tp;
        self.validate_tp()?;
        Ok(self)
    }

    /// Replaces the calibration knobs.
    pub fn with_efficiency(mut self, efficiency: Efficiency) -> Deployment {
        self.efficiency = efficiency;
        self
    }

    /// Replaces the engine limits.
    pub fn with_engine(mut self, engine: EngineConfig) -> Deployment {
        self.engine = engine;
        self
    }

    fn validate_tp(&self) -> Result<()> {
        let tp = self.tp;
        let (h, k) = (self.model.num_heads, self.model.num_kv_heads);
        if tp == 0 {
            return Err(Error::InvalidDeployment("tp must be >= 1".into()));
        }
        if h % tp != 0 {
            return Err(Error::InvalidDeployment(format!(
                "tp {tp} must divide the {h} attention heads"
            )));
        }
        if (k >= tp && k % tp != 0) || (k < tp && tp % k != 0) {
            return Err(Error::InvalidDeployment(format!(
                "tp {tp} and {k} KV heads: one must divide the other"
            )));
        }
        Ok(())
    }

    /// Validates everything (model, GPU, TP, knobs). Methods never panic on an
    /// invalid deployment, but their numbers are meaningless.
    pub fn validate(&self) -> Result<()> {
        self.model.validate()?;
        self.gpu.validate()?;
        self.validate_tp()?;
        self.efficiency.validate()?;
        self.engine.validate()
    }

    /// TP degree as a float, at least 1.
    pub(crate) fn tp_f(&self) -> f64 {
        f64::from(self.tp.max(1))
    }

    /// Query heads per rank.
    pub(crate) fn heads_per_rank(&self) -> f64 {
        f64::from(self.model.num_heads) / self.tp_f()
    }

    /// KV heads per rank (replicated, i.e. 1, when `K < tp`).
    pub fn kv_heads_per_rank(&self) -> f64 {
        (f64::from(self.model.num_kv_heads) / self.tp_f()).max(1.0)
    }

    /// Total $/hour of the replica (`tp` GPUs).
    pub fn cost_per_hour(&self) -> f64 {
        self.gpu.cost_per_hour * self.tp_f()
    }
}
