//! Engine configuration (the subset of vLLM's `SchedulerConfig`/`CacheConfig`
//! that shapes scheduling) and its validation.
//!
//! Kept separate so callers can build, serialise and validate a configuration
//! without instantiating an engine.

use serde::{Deserialize, Serialize};
use std::fmt;

/// How requests are batched.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum SchedulerMode {
    /// vLLM V1 iteration-level ("continuous") batching with chunked prefill,
    /// paged KV cache, prefix caching and recompute preemption.
    #[default]
    Continuous,
    /// "HuggingFace-style" static batching: form a batch, prefill it, decode
    /// until the longest member ends, then form the next batch.
    Static,
}

/// Engine configuration. Field names follow vLLM's engine arguments.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EngineConfig {
    /// Token budget per iteration (`--max-num-batched-tokens`). Default 8192.
    pub max_num_batched_tokens: u32,
    /// Maximum number of running requests (`--max-num-seqs`). Default 256.
    pub max_num_seqs: u32,
    /// Tokens per KV block (`--block-size`). Default 16.
    pub block_size: u32,
    /// Number of KV blocks as vLLM reports it (`# GPU blocks`, or
    /// `--num-gpu-blocks-override`). As in vLLM, one block is the reserved
    /// "null block", so `num_gpu_blocks - 1` blocks are usable.
    pub num_gpu_blocks: u32,
    /// Chunk long prefills over several steps (`--enable-chunked-prefill`). Default true.
    pub enable_chunked_prefill: bool,
    /// Cap on the prefill chunk of one request per step (`--long-prefill-token-threshold`); 0 = off.
    pub long_prefill_token_threshold: u32,
    /// Automatic prefix caching (`--enable-prefix-caching`). Default true.
    pub enable_prefix_caching: bool,
    /// Admit a waiting request only if its whole current sequence (not just the
    /// first chunk) fits in the free blocks. Mirrors vLLM's
    /// `scheduler_reserve_full_isl` (default true in recent vLLM; older V1
    /// releases only checked the first chunk). Default true.
    pub reserve_full_sequence: bool,
    /// Continuous (vLLM) or static (HF-style) batching. Default continuous.
    pub mode: SchedulerMode,
    /// Maximum sequence length, prompt + output (`--max-model-len`). Default 8192.
    pub max_model_len: u32,
    /// vLLM V0's default scheduling without chunked prefill: a step that
    /// admits waiting prompts runs only those prefills (running decodes wait
    /// for it); otherwise the step decodes. Default false (V1: one mixed step).
    pub prefill_first: bool,
    /// Multi-step scheduling (vLLM 0.6 `--num-scheduler-steps`): after a
    /// scheduling decision the running batch decodes this many steps before
    /// waiting requests are considered again. Default 1.
    pub scheduler_steps: u32,
    /// Serving front end (HTTP, chat template, tokenisation, hand-off to the
    /// engine) as one first-come-first-served server in front of the
    /// scheduler: each request occupies it for `frontend_s +
    /// frontend_per_token_s × prompt_len` seconds before it can be scheduled.
    /// TTFT still counts from arrival. Default 0 (no front end).
    pub frontend_s: f64,
    /// Per-prompt-token part of the front-end time, seconds. Default 0.
    pub frontend_per_token_s: f64,
}

impl Default for EngineConfig {
    /// vLLM-like defaults. `num_gpu_blocks` defaults to 2588 (the RTX 4090 /
    /// Llama-3.1-8B anchor); callers should set it from their memory model.
    fn default() -> Self {
        EngineConfig {
            max_num_batched_tokens: 8192,
            max_num_seqs: 256,
            block_size: 16,
            num_gpu_blocks: 2588,
            enable_chunked_prefill: true,
            long_prefill_token_threshold: 0,
            enable_prefix_caching: true,
            reserve_full_sequence: true,
            mode: SchedulerMode::Continuous,
            max_model_len: 8192,
            prefill_first: false,
            scheduler_steps: 1,
            frontend_s: 0.0,
            frontend_per_token_s: 0.0,
        }
    }
}

impl EngineConfig {
    /// Defaults with the given KV capacity and context length.
    pub fn new(num_gpu_blocks: u32, max_model_len: u32) -> Self {
        EngineConfig {
            num_gpu_blocks,
            max_model_len,
            ..Default::default()
        }
    }

    /// Usable KV blocks (`num_gpu_blocks - 1`, the null block excluded).
    pub fn usable_blocks(&self) -> u32 {
        self.num_gpu_blocks.saturating_sub(1)
    }

    /// Check the configuration for values the engine cannot run with.
    ///
    /// Like vLLM, the engine requires that one sequence of `max_model_len`
    /// tokens fits in the KV cache, and, without chunked prefill, that a whole
    /// prompt fits in one step's token budget. These two rules guarantee that
    /// the scheduler can always make progress.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.block_size == 0 {
            return Err(ConfigError("block_size must be >= 1".into()));
        }
        if self.num_gpu_blocks < 2 {
            return Err(ConfigError(
                "num_gpu_blocks must be >= 2 (one block is the null block)".into(),
            ));
        }
        if self.max_num_seqs == 0 {
            return Err(ConfigError("max_num_seqs must be >= 1".into()));
        }
        if self.max_num_batched_tokens == 0 {
            return Err(ConfigError("max_num_batched_tokens must be >= 1".into()));
        }
        if self.scheduler_steps == 0 {
            return Err(ConfigError("scheduler_steps must be >= 1".into()));
        }
        for (what, v) in [
            ("frontend_s", self.frontend_s),
            ("frontend_per_token_s", self.frontend_per_token_s),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(ConfigError(format!("{what} must be a finite number >= 0 (got {v})")));
            }
        }
        if self.max_model_len < 2 {
            return Err(ConfigError("max_model_len must be >= 2".into()));
        }
        let kv_tokens = self.usable_blocks() as u64 * self.block_size as u64;
        if self.max_model_len as u64 > kv_tokens {
            return Err(ConfigError(format!(
                "max_model_len {} exceeds the KV cache capacity of {} tokens \
                 ({} usable blocks x {}); lower max_model_len or add blocks",
                self.max_model_len,
                kv_tokens,
                self.usable_blocks(),
                self.block_size
            )));
        }
        if self.mode == SchedulerMode::Continuous
            && !self.enable_chunked_prefill
            && self.max_num_batched_tokens < self.max_model_len
        {
            return Err(ConfigError(format!(
                "without chunked prefill max_num_batched_tokens ({}) must be >= max_model_len ({})",
                self.max_num_batched_tokens, self.max_model_len
            )));
        }
        Ok(())
    }
}

/// An invalid [`EngineConfig`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid engine config: {}", self.0)
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid() {
        EngineConfig::default().validate().unwrap();
    }

    #[test]
    fn rejects_model_len_over_capacity() {
        let c = EngineConfig::new(10, 1000);
        assert!(c.validate().is_err());
        let c = EngineConfig::new(64, 1008);
        assert!(c.validate().is_ok());
    }

    #[test]
    fn rejects_small_budget_without_chunking() {
        let c = EngineConfig {
            enable_chunked_prefill: false,
            max_num_batched_tokens: 2048,
            ..EngineConfig::new(4096, 4096)
        };
        assert!(c.validate().is_err());
    }
}
