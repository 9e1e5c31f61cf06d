//! GPU memory model: weights, KV cache, activation reserve, framework
//! overhead, what fits, how many sequences run concurrently, how many paged KV
//! blocks exist.
//!
//! Formulas (all per GPU, i.e. per tensor-parallel rank):
//! - weights = (quantisable matmul params × dtype bytes + embeddings, lm_head,
//!   norms, biases × 2) / tp;
//! - KV bytes per token = `2 · L · K_r · d · kv_bytes` with `K_r = max(K/tp, 1)`
//!   (131072 for Llama-3.1-8B bf16); a sequence of `c` tokens holds
//!   `2·K_r·d·kv_bytes · (L_full·c + L_swa·min(c, window))`;
//! - activations: the peak live tensors of one step of `max_num_batched_tokens`
//!   tokens, which is what vLLM profiles and reserves (layers run one after the
//!   other and free their intermediates, so it does not grow with L):
//!   `T · (2·D + (H_r+2·K_r)·d + H_r·d + n_mat·I_r) · 2 B + R · V · 8 B`, with
//!   `T = max_num_batched_tokens`, `R = min(max_num_seqs, T)` logit rows kept
//!   in fp32 twice (logits and probabilities), `I_r` the per-token active MLP
//!   width per rank (MoE: top-k experts + shared);
//! - overhead: [`crate::EngineConfig::overhead_bytes`] (default 2 GB, seed);
//! - fits ⇔ weights + batch·KV(ctx) + activations + overhead ≤ memory × utilisation;
//! - max concurrent sequences = ⌊(memory·util − weights − overhead − activations) / KV(ctx)⌋,
//!   the seed's `find_optimal_batch_size` with the reserve subtracted;
//! - KV blocks = ⌊same free bytes / (block_size · KV bytes per token)⌋
//!   (vLLM's `num_gpu_blocks`; a sliding-window model is counted as if every
//!   layer stored every token, an upper bound on per-block bytes).

use serde::{Deserialize, Serialize};

use crate::deployment::{Deployment, ACTIVATION_BYTES};

/// Memory use of one GPU for `batch` sequences of `context` tokens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemoryBreakdown {
    /// Concurrent sequences assumed.
    pub batch: u64,
    /// Tokens per sequence assumed.
    pub context: u64,
    /// Tensor-parallel degree; every byte figure is per GPU.
    pub tp: u32,
    /// Weights on this GPU.
    pub weights_bytes: u64,
    /// KV bytes one token adds on this GPU (all layers).
    pub kv_bytes_per_token: u64,
    /// KV bytes one sequence of `context` tokens holds (sliding windows applied).
    pub kv_bytes_per_request: u64,
    /// KV bytes of the whole batch: `batch × kv_bytes_per_request`.
    pub kv_bytes: u64,
    /// Activation reserve (peak of one `max_num_batched_tokens` step).
    pub activations_bytes: u64,
    /// Framework/CUDA overhead.
    pub overhead_bytes: u64,
    /// weights + KV + activations + overhead.
    pub total_bytes: u64,
    /// Device memory.
    pub gpu_memory_bytes: u64,
    /// Usable memory: device memory × `gpu_memory_utilization`.
    pub budget_bytes: u64,
    /// `total_bytes <= budget_bytes`.
    pub fits: bool,
}

fn to_u64(v: f64) -> u64 {
    // `as` saturates and maps NaN to 0: never panics.
    v.max(0.0).round() as u64
}

impl Deployment {
    /// Weights held by one GPU, bytes.
    pub fn weights_bytes_per_gpu(&self) -> f64 {
        self.model.weights_bytes(self.weights_dtype) / self.tp_f()
    }

    /// KV bytes one token adds on one GPU: `2 · L · K_r · d · kv_bytes`.
    pub fn kv_bytes_per_token(&self) -> f64 {
        2.0 * f64::from(self.model.num_layers)
            * self.kv_heads_per_rank()
            * f64::from(self.model.head_dim)
            * self.kv_dtype.bytes()
    }

    /// KV bytes a sequence of `context` tokens holds on one GPU (sliding-window
    /// layers keep at most `window` tokens).
    pub fn kv_bytes_per_request(&self, context: u64) -> f64 {
        2.0 * self.kv_heads_per_rank()
            * f64::from(self.model.head_dim)
            * self.kv_dtype.bytes()
            * self.model.kv_layer_tokens(context)
    }

    /// KV bytes of `batch` sequences of `context` tokens on one GPU.
    pub fn kv_bytes_for_batch(&self, batch: u64, context: u64) -> f64 {
        batch as f64 * self.kv_bytes_per_request(context)
    }

    /// Peak activation bytes of one step over `tokens` tokens producing
    /// `logit_rows` logit rows (see the module docs for the formula).
    pub fn activation_bytes_for(&self, tokens: u64, logit_rows: u64) -> f64 {
        let m = &self.model;
        let tp = self.tp_f();
        let d = f64::from(m.hidden_size);
        let hd = f64::from(m.head_dim);
        let h_r = self.heads_per_rank();
        let k_r = self.kv_heads_per_rank();
        let n_mat = if m.gated_mlp { 3.0 } else { 2.0 };
        let i_active = match &m.moe {
            None => f64::from(m.intermediate_size),
            Some(e) => {
                f64::from(e.top_k) * f64::from(e.expert_intermediate_size)
                    + f64::from(e.shared_expert_intermediate_size)
            }
        } / tp;
        let per_token = 2.0 * d + (h_r + 2.0 * k_r) * hd + h_r * hd + n_mat * i_active;
        tokens as f64 * per_token * ACTIVATION_BYTES + logit_rows as f64 * f64::from(m.vocab_size) * 8.0
    }

    /// Activation reserve: one step of `max_num_batched_tokens` tokens with
    /// `min(max_num_seqs, max_num_batched_tokens)` logit rows.
    pub fn activation_bytes(&self) -> f64 {
        let t = u64::from(self.engine.max_num_batched_tokens);
        let r = u64::from(self.engine.max_num_seqs).min(t);
        self.activation_bytes_for(t, r)
    }

    /// Usable memory of one GPU: device memory × utilisation.
    pub fn memory_budget_bytes(&self) -> f64 {
        self.gpu.memory_bytes as f64 * self.engine.gpu_memory_utilization
    }

    /// Bytes left for the KV cache on one GPU: budget − weights − overhead −
    /// activations (0 if negative).
    pub fn kv_cache_budget_bytes(&self) -> f64 {
        (self.memory_budget_bytes()
            - self.weights_bytes_per_gpu()
            - self.engine.overhead_bytes
            - self.activation_bytes())
        .max(0.0)
    }

    /// Most sequences of `context` tokens whose KV fits at once:
    /// `⌊(memory·util − weights − overhead − activations) / kv_per_request⌋`.
    /// 0 when the weights alone do not fit.
    pub fn max_concurrent_sequences(&self, context: u64) -> u64 {
        let per = self.kv_bytes_per_request(context.max(1));
        if per <= 0.0 || !per.is_finite() {
            return 0;
        }
        (self.kv_cache_budget_bytes() / per).floor() as u64
    }

    /// Paged KV blocks of `engine.block_size` tokens (vLLM `num_gpu_blocks`).
    pub fn num_kv_blocks(&self) -> u64 {
        self.num_kv_blocks_with(self.engine.block_size)
    }

    /// Paged KV blocks of `block_size` tokens that fit in the KV budget.
    pub fn num_kv_blocks_with(&self, block_size: u32) -> u64 {
        let per_block = f64::from(block_size.max(1)) * self.kv_bytes_per_token();
        if per_block <= 0.0 || !per_block.is_finite() {
            return 0;
        }
        (self.kv_cache_budget_bytes() / per_block).floor() as u64
    }

    /// Tokens the KV cache holds: blocks × block size.
    pub fn kv_capacity_tokens(&self) -> u64 {
        self.num_kv_blocks()
            .saturating_mul(u64::from(self.engine.block_size.max(1)))
    }

    /// Full memory picture for `batch` sequences of `context` tokens.
    pub fn memory_breakdown(&self, batch: u64, context: u64) -> MemoryBreakdown {
        let weights = self.weights_bytes_per_gpu();
        let per_req = self.kv_bytes_per_request(context);
        let kv = batch as f64 * per_req;
        let act = self.activation_bytes();
        let overhead = self.engine.overhead_bytes;
        let total = weights + kv + act + overhead;
        let budget = self.memory_budget_bytes();
        MemoryBreakdown {
            batch,
            context,
            tp: self.tp.max(1),
            weights_bytes: to_u64(weights),
            kv_bytes_per_token: to_u64(self.kv_bytes_per_token()),
            kv_bytes_per_request: to_u64(per_req),
            kv_bytes: to_u64(kv),
            activations_bytes: to_u64(act),
            overhead_bytes: to_u64(overhead),
            total_bytes: to_u64(total),
            gpu_memory_bytes: self.gpu.memory_bytes,
            budget_bytes: to_u64(budget),
            fits: total <= budget,
        }
    }
}
