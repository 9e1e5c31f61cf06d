//! The bridge between the simulated engine and the roofline performance model.
//!
//! `infermeter-engine` decides *what* runs in each iteration and asks a `StepTimer` how long
//! it takes; `infermeter-perfmodel` prices an iteration on a given GPU. The two crates are
//! independent and each has its own (identical) `StepShape`, so [`PerfTimer`] converts one
//! into the other. [`EngineSpec`] holds the engine flags shared by `sim serve`, `sim run` and
//! the embedded bench target, and [`EngineSpec::build`] turns them into a validated
//! [`Deployment`] plus the engine's [`EngineConfig`] (KV blocks from the memory model, limits
//! and scheduling from the engine profile via [`ServingPlan`]). [`prediction_band`] gives the
//! uncertainty band a simulated value carries (derived from the held-out validation errors).

use infermeter_engine::{EngineConfig, SchedulerMode, StepShape as EngineShape, StepTimer};
use infermeter_perfmodel::{
    Band, DType, Deployment, EngineProfile, GpuSpec, Metric, ModelSpec, ServingPlan, ServingSettings,
    StepShape as PerfShape,
};

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
    /// The engine generation to imitate: `vllm-0.5`, `vllm-0.6` or `vllm-v1` (host costs,
    /// scheduling policy, default limits); parsed by [`parse_engine_profile`].
    pub engine_profile: String,
    /// Multi-step scheduling (vLLM 0.6 `--num-scheduler-steps`); 1 = off. Only with `vllm-0.6`.
    pub scheduler_steps: u32,
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
            engine_profile: EngineProfile::default().name().into(),
            scheduler_steps: 1,
        }
    }
}

/// A deployment ready to simulate.
#[derive(Debug, Clone)]
pub struct BuiltEngine {
    pub timer: PerfTimer,
    pub config: EngineConfig,
    /// The engine generation imitated.
    pub profile: EngineProfile,
    /// Short label, e.g. `llama-3.1-8b@h100-sxm` or `llama-3.1-70b@2xh100-sxm`.
    pub label: String,
}

impl BuiltEngine {
    /// One line naming the deployment and every engine limit (for run.json and logs).
    pub fn describe(&self) -> String {
        let c = &self.config;
        let d = &self.timer.deployment;
        format!(
            "{} (weights {}, KV {}, engine profile {}): {} KV blocks of {}, max_num_seqs {}, max_num_batched_tokens {}, max_model_len {}, chunked prefill {}, prefix caching {}, {} batching{}",
            self.label,
            d.weights_dtype,
            d.kv_dtype,
            self.profile,
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
            },
            if c.scheduler_steps > 1 {
                format!(", {} scheduler steps", c.scheduler_steps)
            } else {
                String::new()
            }
        )
    }
}

/// Parse an engine profile name (`vllm-0.5`, `vllm-0.6`, `vllm-v1`; versions such as `0.6.3` or
/// `0.19.1` map to their generation). The error is one line listing the valid names.
pub fn parse_engine_profile(s: &str) -> Result<EngineProfile, String> {
    s.parse::<EngineProfile>().map_err(|_| {
        format!(
            "invalid engine profile '{s}': expected one of {}",
            EngineProfile::names()
        )
    })
}

/// The uncertainty band of a simulated `value` of `metric` (throughput in tok/s, TTFT or TPOT
/// in ms — any unit, the band scales with the value): the range the measured value of a real
/// server fell in for 80 % of the held-out validation points (docs/simulator.md).
pub fn prediction_band(metric: Metric, value: f64) -> Band {
    infermeter_perfmodel::uncertainty(metric, value)
}

/// `value` with its band, e.g. `812.4 tok/s (80 % band 530.9–892.1)`.
pub fn describe_with_band(metric: Metric, value: f64, unit: &str) -> String {
    let b = prediction_band(metric, value);
    format!("{value:.1} {unit} (80 % band {:.1}–{:.1})", b.low, b.high)
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
    /// Validate the flags and size the engine from the memory model and the engine profile.
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
        let profile = parse_engine_profile(&self.engine_profile)?;
        if self.max_num_seqs == Some(0) {
            return Err("--max-num-seqs must be at least 1".into());
        }
        if self.max_num_batched_tokens == Some(0) {
            return Err("--max-num-batched-tokens must be at least 1".into());
        }
        if self.scheduler_steps == 0 {
            return Err("--num-scheduler-steps must be at least 1".into());
        }
        if self.scheduler_steps > 1 && profile != EngineProfile::Vllm06 {
            return Err(format!(
                "--num-scheduler-steps {} needs engine profile vllm-0.6 (multi-step scheduling existed only there), not {profile}",
                self.scheduler_steps
            ));
        }
        let mut d = Deployment::new(model, gpu)
            .map_err(|e| e.to_string())?
            .with_weights_dtype(wd)
            .with_kv_dtype(kd)
            .with_tp(self.tp)
            .map_err(|e| format!("--tp: {e}"))?;
        let settings = ServingSettings {
            profile,
            max_num_seqs: self.max_num_seqs,
            max_num_batched_tokens: self.max_num_batched_tokens,
            max_model_len: self.max_model_len,
            chunked_prefill: self.chunked_prefill,
            scheduler_steps: self.scheduler_steps,
            gpu_memory_utilization: None,
            num_gpu_blocks: None,
            block_size: BLOCK_SIZE,
        };
        let plan = ServingPlan::resolve(&mut d, &settings).map_err(|e| {
            let m = e.to_string();
            let m = m.strip_prefix("invalid deployment: ").unwrap_or(&m).to_string();
            if m.starts_with("max_model_len") {
                format!("--{}", m.replacen("max_model_len", "max-model-len", 1))
            } else {
                m
            }
        })?;
        let config = EngineConfig {
            max_num_batched_tokens: plan.max_num_batched_tokens,
            max_num_seqs: plan.max_num_seqs,
            block_size: plan.block_size,
            num_gpu_blocks: plan.num_gpu_blocks,
            enable_chunked_prefill: plan.chunked_prefill,
            enable_prefix_caching: self.prefix_caching,
            mode: self.scheduler,
            max_model_len: plan.max_model_len,
            prefill_first: plan.prefill_first,
            scheduler_steps: plan.scheduler_steps,
            frontend_s: plan.frontend_s,
            frontend_per_token_s: plan.frontend_per_token_s,
            ..EngineConfig::default()
        };
        config.validate().map_err(|e| e.to_string())?;
        let label = if d.tp > 1 {
            format!("{}@{}x{}", d.model.name, d.tp, d.gpu.name)
        } else {
            format!("{}@{}", d.model.name, d.gpu.name)
        };
        Ok(BuiltEngine {
            timer: PerfTimer { deployment: d },
            config,
            profile,
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
    s.push_str("engine profiles:\n");
    for p in EngineProfile::ALL {
        s.push_str("  ");
        s.push_str(p.name());
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
        // vLLM publishes 6.48 ms (a held-out validation point); the band covers it.
        assert!((t * 1e3 - 7.5).abs() < 0.2, "{t}");
        let band = prediction_band(Metric::Tpot, t * 1e3);
        assert!(band.low < 6.48 && 6.48 < band.high, "{band:?}");
        assert_eq!(b.profile, EngineProfile::VllmV1);
        assert!(b.config.frontend_s > 0.0 && !b.config.prefill_first);
    }

    #[test]
    fn engine_profiles_change_scheduling_and_host_costs() {
        let v05 = EngineSpec {
            engine_profile: "vllm-0.5".into(),
            max_model_len: Some(4096),
            ..EngineSpec::reference()
        }
        .build()
        .unwrap();
        assert_eq!(v05.profile, EngineProfile::Vllm05);
        assert!(v05.config.prefill_first && !v05.config.enable_chunked_prefill);
        assert_eq!(v05.config.max_num_seqs, 256);
        assert_eq!(v05.config.max_num_batched_tokens, 4096);
        let v1 = EngineSpec::reference().build().unwrap();
        let shape = EngineShape {
            prefill: &[],
            decode: &[512; 64],
        };
        assert!(v05.timer.step_time_s(&shape) > v1.timer.step_time_s(&shape));
        assert!(v05.describe().contains("engine profile vllm-0.5"));
        let ms = EngineSpec {
            engine_profile: "vllm-0.6".into(),
            scheduler_steps: 10,
            max_model_len: Some(4096),
            ..EngineSpec::reference()
        }
        .build()
        .unwrap();
        assert_eq!(ms.config.scheduler_steps, 10);
        assert!(ms.describe().contains("10 scheduler steps"));
        let e = parse_engine_profile("vllm-9").unwrap_err();
        assert!(e.contains("vllm-0.5, vllm-0.6, vllm-v1") && !e.contains('\n'), "{e}");
        let s = describe_with_band(Metric::Throughput, 100.0, "tok/s");
        assert!(s.starts_with("100.0 tok/s (80 % band "), "{s}");
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
        assert!(bad(|s| s.engine_profile = "tgi".into()).contains("invalid engine profile 'tgi'"));
        assert!(bad(|s| s.scheduler_steps = 4).contains("--num-scheduler-steps"));
        assert!(bad(|s| s.scheduler_steps = 0).contains("--num-scheduler-steps"));
        assert!(bad(|s| s.max_model_len = Some(100_000_000)).contains("--max-model-len"));
        assert!(parse_scheduler("static").is_ok() && parse_scheduler("x").is_err());
    }
}
