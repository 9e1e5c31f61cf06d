//! The bridge between the simulated engine and the roofline performance model.
//!
//! `infermeter-engine` decides *what* runs in each iteration and asks a `StepTimer` how long
//! it takes; `infermeter-perfmodel` prices an iteration on a given GPU. The two crates are
//! independent and each has its own (identical) `StepShape`, so [`PerfTimer`] converts one
//! into the other. [`EngineSpec`] holds the engine flags shared by `sim serve`, `sim run` and
//! the embedded bench target, and [`EngineSpec::build`] turns them into a validated
//! [`Deployment`] plus the engine's [`EngineConfig`] (KV blocks from the memory model).

use infermeter_engine::{EngineConfig, SchedulerMode, StepShape as EngineShape, StepTimer};
use infermeter_perfmodel::{DType, Deployment, GpuSpec, ModelSpec, StepShape as PerfShape};

/// Prices engine steps with the roofline model of one deployment.
#[derive(Debug, Clone)]
pub struct PerfTimer {
    pub deployment: Deployment,
}

impl StepTimer for PerfTimer {
    fn step_time_s(&self, s: &EngineShape) -> f64 {
        self.deployment.step_time_s(&PerfShape {
            prefill: s.prefill,
            decode: s.decode,
        })
    }
}

/// KV block size used by the simulated engine (vLLM's default).
pub const BLOCK_SIZE: u32 = 16;

/// The engine flags, unvalidated (as given on the command line).
#[derive(Debug, Clone, PartialEq)]
pub struct EngineSpec {
    /// A model preset name (`ModelSpec::preset`), used when `model_config` is `None`.
    pub model_preset: String,
    /// Path to a Hugging Face `config.json` (overrides the preset).
    pub model_config: Option<std::path::PathBuf>,
    pub gpu: String,
    pub tp: u32,
    pub weights_dtype: String,
    pub kv_dtype: String,
    /// `None` = the vLLM default for the GPU.
    pub max_num_seqs: Option<u32>,
    /// `None` = the vLLM default for the GPU.
    pub max_num_batched_tokens: Option<u32>,
    pub chunked_prefill: bool,
    pub prefix_caching: bool,
    pub scheduler: SchedulerMode,
    /// `None` = the model's context, capped by the KV capacity.
    pub max_model_len: Option<u32>,
}

/// The calibration point of the performance model (docs/simulator.md): Llama-3.1-8B in bf16
/// on one H100 SXM with vLLM's defaults. Tests and validation start from it; the simulated
/// server's defaults are the run specification's (`spec::defaults`).
pub const REFERENCE_MODEL: &str = "llama-3.1-8b";
pub const REFERENCE_GPU: &str = "h100-sxm";

impl EngineSpec {
    /// The calibration point ([`REFERENCE_MODEL`] on [`REFERENCE_GPU`], vLLM defaults).
    pub fn reference() -> Self {
        EngineSpec {
            model_preset: REFERENCE_MODEL.into(),
            model_config: None,
            gpu: REFERENCE_GPU.into(),
            tp: 1,
            weights_dtype: "bf16".into(),
            kv_dtype: "bf16".into(),
            max_num_seqs: None,
            max_num_batched_tokens: None,
            chunked_prefill: true,
            prefix_caching: true,
            scheduler: SchedulerMode::Continuous,
            max_model_len: None,
        }
    }
}

/// A deployment ready to simulate.
#[derive(Debug, Clone)]
pub struct BuiltEngine {
    pub timer: PerfTimer,
    pub config: EngineConfig,
    /// Short label, e.g. `llama-3.1-8b@h100-sxm` or `llama-3.1-70b@2xh100-sxm`.
    pub label: String,
}

impl BuiltEngine {
    /// One line naming the deployment and every engine limit (for run.json and logs).
    pub fn describe(&self) -> String {
        let c = &self.config;
        let d = &self.timer.deployment;
        format!(
            "{} (weights {}, KV {}): {} KV blocks of {}, max_num_seqs {}, max_num_batched_tokens {}, max_model_len {}, chunked prefill {}, prefix caching {}, {} batching",
            self.label,
            d.weights_dtype,
            d.kv_dtype,
            c.num_gpu_blocks,
            c.block_size,
            c.max_num_seqs,
            c.max_num_batched_tokens,
            c.max_model_len,
            if c.enable_chunked_prefill { "on" } else { "off" },
            if c.enable_prefix_caching { "on" } else { "off" },
            match c.mode {
                SchedulerMode::Continuous => "continuous",
                SchedulerMode::Static => "static",
            }
        )
    }
}

/// Parse `continuous|static`.
pub fn parse_scheduler(s: &str) -> Result<SchedulerMode, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "continuous" => Ok(SchedulerMode::Continuous),
        "static" => Ok(SchedulerMode::Static),
        other => Err(format!("invalid --scheduler '{other}': expected continuous or static")),
    }
}

impl EngineSpec {
    /// Validate the flags and size the engine from the memory model.
    pub fn build(&self) -> Result<BuiltEngine, String> {
        let model = match &self.model_config {
            Some(p) => ModelSpec::from_hf_config_path(p).map_err(|e| format!("--model-config {}: {e}", p.display()))?,
            None => ModelSpec::preset(&self.model_preset).map_err(|e| format!("--model-preset: {e}"))?,
        };
        let gpu = GpuSpec::preset(&self.gpu).map_err(|e| format!("--gpu: {e}"))?;
        let wd: DType = self
            .weights_dtype
            .parse()
            .map_err(|e| format!("--weights-dtype: {e}"))?;
        let kd: DType = self.kv_dtype.parse().map_err(|e| format!("--kv-dtype: {e}"))?;
        if self.max_num_seqs == Some(0) {
            return Err("--max-num-seqs must be at least 1".into());
        }
        if self.max_num_batched_tokens == Some(0) {
            return Err("--max-num-batched-tokens must be at least 1".into());
        }
        let mut d = Deployment::new(model, gpu)
            .map_err(|e| e.to_string())?
            .with_weights_dtype(wd)
            .with_kv_dtype(kd)
            .with_tp(self.tp)
            .map_err(|e| format!("--tp: {e}"))?;
        d.engine.block_size = BLOCK_SIZE;
        if let Some(n) = self.max_num_seqs {
            d.engine.max_num_seqs = n;
        }
        if let Some(n) = self.max_num_batched_tokens {
            d.engine.max_num_batched_tokens = n;
        }
        d.validate().map_err(|e| e.to_string())?;
        let blocks = d.num_kv_blocks().min(u64::from(u32::MAX)) as u32;
        if blocks < 2 {
            return Err(format!(
                "{} does not fit on {} x {} with {} weights: no room left for the KV cache (try --tp or --weights-dtype)",
                d.model.name, d.tp, d.gpu.name, wd
            ));
        }
        let kv_tokens = (blocks - 1).saturating_mul(BLOCK_SIZE);
        let max_model_len = match self.max_model_len {
            Some(n) if n > kv_tokens => {
                return Err(format!(
                    "--max-model-len {n} exceeds the KV cache capacity of {kv_tokens} tokens"
                ))
            }
            Some(n) => n,
            None => d.model.max_context.min(kv_tokens),
        };
        let mut config = EngineConfig {
            max_num_batched_tokens: d.engine.max_num_batched_tokens,
            max_num_seqs: d.engine.max_num_seqs,
            block_size: BLOCK_SIZE,
            num_gpu_blocks: blocks,
            enable_chunked_prefill: self.chunked_prefill,
            enable_prefix_caching: self.prefix_caching,
            mode: self.scheduler,
            max_model_len,
            ..EngineConfig::default()
        };
        if self.scheduler == SchedulerMode::Continuous && !self.chunked_prefill && self.max_num_batched_tokens.is_none()
        {
            // Like vLLM: without chunking a whole prompt must fit one step's budget.
            config.max_num_batched_tokens = config.max_num_batched_tokens.max(max_model_len);
        }
        config.validate().map_err(|e| e.to_string())?;
        let label = if d.tp > 1 {
            format!("{}@{}x{}", d.model.name, d.tp, d.gpu.name)
        } else {
            format!("{}@{}", d.model.name, d.gpu.name)
        };
        Ok(BuiltEngine {
            timer: PerfTimer { deployment: d },
            config,
            label,
        })
    }
}

/// The text printed by `--list-presets`.
pub fn presets_text() -> String {
    let mut s = String::from("model presets:\n");
    for m in ModelSpec::preset_names() {
        s.push_str("  ");
        s.push_str(m);
        s.push('\n');
    }
    s.push_str("gpu presets:\n");
    for g in GpuSpec::preset_names() {
        s.push_str("  ");
        s.push_str(g);
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn llama_on_h100_matches_the_perf_model() {
        let b = EngineSpec::reference().build().unwrap();
        assert!(b.config.num_gpu_blocks > 10_000, "{}", b.config.num_gpu_blocks);
        assert_eq!(b.config.block_size, 16);
        let t = b.timer.step_time_s(&EngineShape {
            prefill: &[],
            decode: &[1024],
        });
        assert!((t * 1e3 - 6.48).abs() < 0.2, "{t}");
    }

    #[test]
    fn bad_flags_are_errors() {
        let bad = |f: fn(&mut EngineSpec)| {
            let mut s = EngineSpec::reference();
            f(&mut s);
            s.build().unwrap_err()
        };
        assert!(bad(|s| s.gpu = "nope".into()).contains("--gpu"));
        assert!(bad(|s| s.model_preset = "nope".into()).contains("--model-preset"));
        assert!(bad(|s| s.kv_dtype = "fp3".into()).contains("--kv-dtype"));
        assert!(bad(|s| s.max_num_seqs = Some(0)).contains("--max-num-seqs"));
        assert!(bad(|s| s.tp = 3).contains("--tp"));
        assert!(parse_scheduler("static").is_ok() && parse_scheduler("x").is_err());
    }
}
