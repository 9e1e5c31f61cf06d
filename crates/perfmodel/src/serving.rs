//! From serving settings to a concrete engine setup: resolves an engine
//! profile, the user's limits and the memory model into the numbers a
//! simulated engine runs with (KV blocks, budgets, context length, chunked
//! prefill, scheduling policy, front-end costs), and puts the profile's host
//! costs into the deployment's step-time model.
//!
//! It is the single place that knows vLLM's version-dependent defaults, so
//! the product (`EngineSpec::build` in the main crate) and the validation
//! harness build engines the same way.

use serde::{Deserialize, Serialize};

use crate::deployment::Deployment;
use crate::error::{Error, Result};
use crate::profile::EngineProfile;

/// What a user (or a corpus point) sets; `None` means "the profile's default".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServingSettings {
    /// Engine generation.
    pub profile: EngineProfile,
    /// `--max-num-seqs`.
    pub max_num_seqs: Option<u32>,
    /// `--max-num-batched-tokens`.
    pub max_num_batched_tokens: Option<u32>,
    /// `--max-model-len`.
    pub max_model_len: Option<u32>,
    /// `false` turns chunked prefill off; `true` keeps the profile's default
    /// (always on in V1; on in vLLM 0.5/0.6 only above 32768 tokens of context).
    pub chunked_prefill: bool,
    /// Multi-step scheduling (`--num-scheduler-steps`, vLLM 0.6); 1 = off.
    pub scheduler_steps: u32,
    /// `--gpu-memory-utilization`.
    pub gpu_memory_utilization: Option<f64>,
    /// KV blocks as an engine reported them (overrides the memory model).
    pub num_gpu_blocks: Option<u32>,
    /// Tokens per KV block.
    pub block_size: u32,
}

impl Default for ServingSettings {
    fn default() -> Self {
        ServingSettings {
            profile: EngineProfile::default(),
            max_num_seqs: None,
            max_num_batched_tokens: None,
            max_model_len: None,
            chunked_prefill: true,
            scheduler_steps: 1,
            gpu_memory_utilization: None,
            num_gpu_blocks: None,
            block_size: 16,
        }
    }
}

/// The resolved engine setup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServingPlan {
    /// Engine generation.
    pub profile: EngineProfile,
    /// KV blocks (vLLM's `num_gpu_blocks`, including the null block).
    pub num_gpu_blocks: u32,
    /// Tokens per block.
    pub block_size: u32,
    /// Most running sequences.
    pub max_num_seqs: u32,
    /// Token budget per step.
    pub max_num_batched_tokens: u32,
    /// Longest prompt + output.
    pub max_model_len: u32,
    /// Chunked prefill on.
    pub chunked_prefill: bool,
    /// V0 prefill-only steps for new prompts.
    pub prefill_first: bool,
    /// Multi-step scheduling.
    pub scheduler_steps: u32,
    /// Front end per request, seconds.
    pub frontend_s: f64,
    /// Front end per prompt token, seconds.
    pub frontend_per_token_s: f64,
}

impl ServingPlan {
    /// Resolves `s` for the deployment `d`, and writes the engine limits and
    /// the profile's host costs into `d` (`d.engine`, `d.efficiency`). Errors
    /// are one line, naming the setting.
    pub fn resolve(d: &mut Deployment, s: &ServingSettings) -> Result<ServingPlan> {
        let bad = |m: String| Err(Error::InvalidDeployment(m));
        if s.max_num_seqs == Some(0) {
            return bad("max_num_seqs must be at least 1".into());
        }
        if s.max_num_batched_tokens == Some(0) {
            return bad("max_num_batched_tokens must be at least 1".into());
        }
        if s.scheduler_steps == 0 {
            return bad("scheduler_steps must be at least 1".into());
        }
        if s.block_size == 0 {
            return bad("block_size must be at least 1".into());
        }
        let sched = s.profile.scheduling();
        let host = s.profile.host();
        let k = f64::from(s.scheduler_steps);
        // Multi-step scheduling prepares inputs and schedules once per k steps.
        d.efficiency.fixed_overhead_s = host.step_s / k;
        d.efficiency.per_seq_overhead_s = host.per_seq_s / k;
        d.efficiency.per_prefill_seq_overhead_s = host.per_prefill_seq_s;
        d.engine.block_size = s.block_size;
        if let Some(u) = s.gpu_memory_utilization {
            d.engine.gpu_memory_utilization = u;
        }
        if let Some(n) = s.max_num_seqs.or(sched.max_num_seqs) {
            d.engine.max_num_seqs = n;
        }
        // Provisional budget for the memory model; refined below.
        if let Some(n) = s.max_num_batched_tokens {
            d.engine.max_num_batched_tokens = n;
        }
        d.validate()?;
        let blocks_now = |d: &Deployment| -> Result<u32> {
            let b = match s.num_gpu_blocks {
                Some(b) => b,
                None => d.num_kv_blocks().min(u64::from(u32::MAX)) as u32,
            };
            if b < 2 {
                return Err(Error::InvalidDeployment(format!(
                    "{} does not fit on {} x {} with {} weights: no room left for the KV cache (try more GPUs or smaller weights)",
                    d.model.name, d.tp, d.gpu.name, d.weights_dtype
                )));
            }
            Ok(b)
        };
        let mut blocks = blocks_now(d)?;
        let kv_tokens = |b: u32| (b - 1).saturating_mul(s.block_size);
        let mut max_model_len = match s.max_model_len {
            Some(n) if n > kv_tokens(blocks) => {
                return bad(format!(
                    "max_model_len {n} exceeds the KV cache capacity of {} tokens",
                    kv_tokens(blocks)
                ))
            }
            Some(n) => n,
            None => d.model.max_context.min(kv_tokens(blocks)),
        };
        let chunked = s.chunked_prefill
            && match sched.chunked_prefill_above {
                None => true,
                Some(limit) => max_model_len > limit,
            };
        if s.max_num_batched_tokens.is_none() && sched.v0_scheduler {
            d.engine.max_num_batched_tokens = if chunked {
                sched.auto_chunk_tokens
            } else {
                max_model_len.max(2048)
            };
            // The activation reserve follows the budget: size the KV cache again.
            blocks = blocks_now(d)?;
            if s.max_model_len.is_none() {
                max_model_len = max_model_len.min(kv_tokens(blocks));
            } else if max_model_len > kv_tokens(blocks) {
                return bad(format!(
                    "max_model_len {max_model_len} exceeds the KV cache capacity of {} tokens",
                    kv_tokens(blocks)
                ));
            }
        }
        let mut budget = d.engine.max_num_batched_tokens;
        if !chunked && s.max_num_batched_tokens.is_none() {
            // Like vLLM: without chunking a whole prompt must fit one step's budget.
            budget = budget.max(max_model_len);
        }
        if !chunked && budget < max_model_len {
            return bad(format!(
                "without chunked prefill max_num_batched_tokens ({budget}) must be >= max_model_len ({max_model_len})"
            ));
        }
        if max_model_len < 2 {
            return bad("max_model_len must be at least 2".into());
        }
        Ok(ServingPlan {
            profile: s.profile,
            num_gpu_blocks: blocks,
            block_size: s.block_size,
            max_num_seqs: d.engine.max_num_seqs,
            max_num_batched_tokens: budget,
            max_model_len,
            chunked_prefill: chunked,
            prefill_first: sched.v0_scheduler && !chunked,
            scheduler_steps: s.scheduler_steps,
            frontend_s: host.frontend_s,
            frontend_per_token_s: host.frontend_per_token_s,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dep() -> Deployment {
        Deployment::from_presets("llama-3.1-8b", "h100-sxm").unwrap()
    }

    #[test]
    fn profiles_set_vllm_defaults() {
        let mut d = dep();
        let v1 = ServingPlan::resolve(&mut d, &ServingSettings::default()).unwrap();
        assert!(v1.chunked_prefill && !v1.prefill_first);
        assert_eq!((v1.max_num_seqs, v1.max_num_batched_tokens), (1024, 8192));
        assert_eq!(v1.max_model_len, 131072);

        let mut d = dep();
        let s = ServingSettings {
            profile: EngineProfile::Vllm05,
            max_model_len: Some(2048),
            ..ServingSettings::default()
        };
        let v0 = ServingPlan::resolve(&mut d, &s).unwrap();
        assert!(!v0.chunked_prefill && v0.prefill_first);
        assert_eq!((v0.max_num_seqs, v0.max_num_batched_tokens), (256, 2048));

        // Above 32K of context V0 chunks prefills in 512-token pieces.
        let mut d = dep();
        let s = ServingSettings {
            profile: EngineProfile::Vllm06,
            scheduler_steps: 10,
            ..ServingSettings::default()
        };
        let long = ServingPlan::resolve(&mut d, &s).unwrap();
        assert!(long.chunked_prefill && !long.prefill_first);
        assert_eq!(long.max_num_batched_tokens, 512);
        assert_eq!(long.scheduler_steps, 10);
        assert!((d.efficiency.fixed_overhead_s - EngineProfile::Vllm06.host().step_s / 10.0).abs() < 1e-15);
    }

    #[test]
    fn bad_settings_are_one_line_errors() {
        for s in [
            ServingSettings {
                max_num_seqs: Some(0),
                ..ServingSettings::default()
            },
            ServingSettings {
                scheduler_steps: 0,
                ..ServingSettings::default()
            },
            ServingSettings {
                max_model_len: Some(10_000_000),
                ..ServingSettings::default()
            },
        ] {
            let e = ServingPlan::resolve(&mut dep(), &s).unwrap_err().to_string();
            assert!(!e.contains('\n') && !e.is_empty(), "{e}");
        }
        let mut big = Deployment::from_presets("llama-3.1-405b", "l4").unwrap();
        let e = ServingPlan::resolve(&mut big, &ServingSettings::default()).unwrap_err();
        assert!(e.to_string().contains("does not fit"), "{e}");
    }
}
