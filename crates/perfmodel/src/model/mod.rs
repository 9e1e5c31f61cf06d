//! Transformer architecture descriptions ([`ModelSpec`]) and exact parameter
//! counting; the presets live in `presets.rs`, the Hugging Face `config.json`
//! reader in `hf_config.rs`.
//!
//! Everything the memory and roofline models need about a model lives here:
//! layer count, widths, attention heads and KV heads (GQA/MQA), explicit
//! `head_dim` (Qwen3 and Gemma 3 have `head_dim ≠ hidden/heads`), MLP shape,
//! mixture-of-experts routing, sliding-window layers and tied embeddings.
//! Parameter counts are exact for Llama-style decoder blocks (embeddings,
//! q/k/v/o projections, gated or plain MLP, MoE experts + router, RMSNorm
//! weights, optional q/k norms and q/k/v(/o) biases, lm_head unless tied).
//! Architectures outside that family (MLA, linear attention, biased MLPs)
//! are approximated by the same block.

use serde::{Deserialize, Serialize};

use crate::dtype::DType;
use crate::error::{Error, Result};

/// Largest accepted value of any single dimension (keeps all arithmetic exact
/// and overflow-free).
const MAX_DIM: u32 = 1 << 24;

/// Mixture-of-experts MLP: every decoder layer routes each token to `top_k`
/// of `num_experts` experts (plus an always-on shared expert if present).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MoeSpec {
    /// Routed experts per layer (`num_local_experts` / `num_experts`).
    pub num_experts: u32,
    /// Experts each token is routed to (`num_experts_per_tok`).
    pub top_k: u32,
    /// Intermediate size of one expert's MLP.
    pub expert_intermediate_size: u32,
    /// Intermediate size of the shared expert (0 = none), e.g. Qwen2-MoE.
    pub shared_expert_intermediate_size: u32,
}

/// A decoder-only transformer, described by its shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSpec {
    /// Preset name, `_name_or_path` from config.json, or a user label.
    pub name: String,
    /// Decoder layers (L).
    pub num_layers: u32,
    /// Residual width (D, `hidden_size`).
    pub hidden_size: u32,
    /// Query heads (H).
    pub num_heads: u32,
    /// Key/value heads (K); `K < H` is GQA, `K = 1` MQA.
    pub num_kv_heads: u32,
    /// Per-head width (d); explicit, may differ from `hidden_size / num_heads`.
    pub head_dim: u32,
    /// Dense MLP intermediate size (I). For an MoE model see [`MoeSpec`].
    pub intermediate_size: u32,
    /// Vocabulary size (V).
    pub vocab_size: u32,
    /// lm_head shares the embedding matrix (counted once).
    pub tie_word_embeddings: bool,
    /// Gated MLP (SwiGLU/GeGLU: gate, up, down = 3 matrices) vs plain (2).
    pub gated_mlp: bool,
    /// Biases on the q, k, v projections (Qwen2).
    pub qkv_bias: bool,
    /// Bias on the o projection (`attention_bias: true` in Llama configs).
    pub o_bias: bool,
    /// RMSNorm on q and k per head (Qwen3, Gemma 3): 2·head_dim params per layer.
    pub qk_norm: bool,
    /// Norm weight vectors of width D per layer (2 for Llama, 4 for Gemma 2/3).
    pub norms_per_layer: u32,
    /// Mixture-of-experts MLP, if any (applies to every layer).
    pub moe: Option<MoeSpec>,
    /// Sliding-window size in tokens, if some layers use local attention.
    pub sliding_window: Option<u32>,
    /// 0-based indices of the layers that use the sliding window
    /// (ignored when `sliding_window` is `None`).
    pub sliding_window_layers: Vec<u32>,
    /// Maximum context (`max_position_embeddings`).
    pub max_context: u32,
    /// Exact parameter count when known from elsewhere (the "params given"
    /// path, [`ModelSpec::from_param_count`]); overrides the derived count for
    /// memory, while the roofline still uses the per-matrix shapes.
    pub param_count_override: Option<u64>,
}

mod hf_config;
mod presets;

use presets::dense;

impl ModelSpec {
    /// The "params given" path (the seed's `estimate_memory_usage`): a
    /// multi-head-attention model known only by its parameter count, layers,
    /// heads and head width (`d_k`). Hidden = heads × head_dim, K = H, vocab
    /// 32000 (LLaMA-1/2), gated MLP with the intermediate size solved so the
    /// derived count matches; [`ModelSpec::param_count`] returns `total_params`
    /// exactly.
    pub fn from_param_count(
        name: &str,
        total_params: u64,
        num_layers: u32,
        num_heads: u32,
        head_dim: u32,
    ) -> Result<ModelSpec> {
        let bad = |reason: String| Error::InvalidModel {
            name: name.to_string(),
            reason,
        };
        if num_layers == 0 || num_heads == 0 || head_dim == 0 {
            return Err(bad("layers, heads and head_dim must be > 0".into()));
        }
        let hidden = u64::from(num_heads) * u64::from(head_dim);
        if hidden > u64::from(MAX_DIM) {
            return Err(bad(format!("hidden size {hidden} is too large")));
        }
        let mut m = dense(
            name,
            num_layers,
            hidden as u32,
            num_heads,
            num_heads,
            head_dim,
            1,
            32000,
            false,
            4096,
        );
        // With intermediate_size = 1 the derived count holds one "unit" of MLP
        // (n_mat · D · L parameters); solve for the number of units.
        let with_one_unit = u128::from(m.derived_param_count());
        let unit = 3 * u128::from(hidden) * u128::from(num_layers);
        let target = u128::from(total_params);
        if target <= with_one_unit {
            return Err(bad(format!(
                "{total_params} parameters is too few for {num_layers} layers of width {hidden}"
            )));
        }
        let inter = (target - with_one_unit) as f64 / unit as f64 + 1.0;
        let inter = inter.round().clamp(1.0, f64::from(MAX_DIM)) as u32;
        m.intermediate_size = inter;
        m.param_count_override = Some(total_params);
        m.validate()?;
        Ok(m)
    }

    /// Checks that the shape is usable: non-zero sizes, `K` divides `H`,
    /// MoE routing within the expert count, layer indices in range.
    pub fn validate(&self) -> Result<()> {
        let bad = |reason: String| Error::InvalidModel {
            name: self.name.clone(),
            reason,
        };
        for (what, v) in [
            ("num_layers", self.num_layers),
            ("hidden_size", self.hidden_size),
            ("num_heads", self.num_heads),
            ("num_kv_heads", self.num_kv_heads),
            ("head_dim", self.head_dim),
            ("intermediate_size", self.intermediate_size),
            ("vocab_size", self.vocab_size),
            ("max_context", self.max_context),
        ] {
            if v == 0 {
                return Err(bad(format!("{what} must be > 0")));
            }
            if v > MAX_DIM {
                return Err(bad(format!("{what} = {v} exceeds the supported {MAX_DIM}")));
            }
        }
        if self.norms_per_layer > 64 {
            return Err(bad("norms_per_layer must be <= 64".into()));
        }
        if self.num_kv_heads > self.num_heads || self.num_heads % self.num_kv_heads != 0 {
            return Err(bad(format!(
                "num_kv_heads ({}) must divide num_heads ({})",
                self.num_kv_heads, self.num_heads
            )));
        }
        if let Some(moe) = &self.moe {
            if moe.num_experts == 0 || moe.num_experts > MAX_DIM {
                return Err(bad("MoE num_experts must be in 1..=16777216".into()));
            }
            if moe.top_k == 0 || moe.top_k > moe.num_experts {
                return Err(bad(format!(
                    "MoE top_k ({}) must be in 1..={}",
                    moe.top_k, moe.num_experts
                )));
            }
            if moe.expert_intermediate_size == 0 || moe.expert_intermediate_size > MAX_DIM {
                return Err(bad("MoE expert_intermediate_size must be > 0".into()));
            }
            if moe.shared_expert_intermediate_size > MAX_DIM {
                return Err(bad("MoE shared_expert_intermediate_size too large".into()));
            }
        }
        if let Some(w) = self.sliding_window {
            if w == 0 {
                return Err(bad("sliding_window must be > 0".into()));
            }
            if let Some(&i) = self.sliding_window_layers.iter().find(|&&i| i >= self.num_layers) {
                return Err(bad(format!(
                    "sliding-window layer index {i} is out of range (model has {} layers)",
                    self.num_layers
                )));
            }
        }
        Ok(())
    }

    /// True when the MLP is a mixture of experts.
    pub fn is_moe(&self) -> bool {
        self.moe.is_some()
    }

    /// Whether layer `i` (0-based) attends only within the sliding window.
    pub fn is_sliding_layer(&self, i: u32) -> bool {
        self.sliding_window.is_some() && self.sliding_window_layers.contains(&i)
    }

    /// Number of sliding-window layers.
    pub fn num_sliding_layers(&self) -> u32 {
        if self.sliding_window.is_none() {
            return 0;
        }
        (0..self.num_layers)
            .filter(|&i| self.sliding_window_layers.contains(&i))
            .count() as u32
    }

    /// Number of full-attention layers.
    pub fn num_full_layers(&self) -> u32 {
        self.num_layers - self.num_sliding_layers()
    }

    // ---- parameter counting (exact, u128 internally) ----

    fn mlp_matrices(&self) -> u128 {
        if self.gated_mlp {
            3
        } else {
            2
        }
    }

    /// Embedding matrix parameters, V·D.
    pub fn embedding_params(&self) -> u64 {
        u64::from(self.vocab_size) * u64::from(self.hidden_size)
    }

    /// lm_head parameters: V·D, or 0 when tied to the embedding.
    pub fn lm_head_params(&self) -> u64 {
        if self.tie_word_embeddings {
            0
        } else {
            self.embedding_params()
        }
    }

    /// Linear (matmul) weights of one layer's attention: q, k, v, o with GQA:
    /// `D·H·d + 2·D·K·d + H·d·D`.
    pub fn attention_linear_params_per_layer(&self) -> u64 {
        let d = u128::from(self.hidden_size);
        let hd = u128::from(self.num_heads) * u128::from(self.head_dim);
        let kd = u128::from(self.num_kv_heads) * u128::from(self.head_dim);
        sat(d * hd + 2 * d * kd + hd * d)
    }

    /// Linear weights of one layer's MLP, all experts + router (+ shared expert).
    pub fn mlp_linear_params_per_layer(&self) -> u64 {
        let d = u128::from(self.hidden_size);
        let n = self.mlp_matrices();
        match &self.moe {
            None => sat(n * d * u128::from(self.intermediate_size)),
            Some(m) => sat(
                u128::from(m.num_experts) * n * d * u128::from(m.expert_intermediate_size)
                    + d * u128::from(m.num_experts)
                    + n * d * u128::from(m.shared_expert_intermediate_size)
                    + if m.shared_expert_intermediate_size > 0 { d } else { 0 },
            ),
        }
    }

    /// Linear weights of one layer's MLP that one token uses (top-k experts,
    /// router, shared expert). Equal to the total for a dense model.
    pub fn active_mlp_linear_params_per_layer(&self) -> u64 {
        match &self.moe {
            None => self.mlp_linear_params_per_layer(),
            Some(m) => {
                let d = u128::from(self.hidden_size);
                let n = self.mlp_matrices();
                sat(u128::from(m.top_k) * n * d * u128::from(m.expert_intermediate_size)
                    + d * u128::from(m.num_experts)
                    + n * d * u128::from(m.shared_expert_intermediate_size)
                    + if m.shared_expert_intermediate_size > 0 { d } else { 0 })
            }
        }
    }

    /// Small per-layer parameters kept in 16-bit even in quantised checkpoints:
    /// norm weights, q/k norms, projection biases.
    pub fn small_params_per_layer(&self) -> u64 {
        let d = u64::from(self.hidden_size);
        let hd = u64::from(self.num_heads) * u64::from(self.head_dim);
        let kd = u64::from(self.num_kv_heads) * u64::from(self.head_dim);
        let mut p = u64::from(self.norms_per_layer) * d;
        if self.qk_norm {
            p += 2 * u64::from(self.head_dim);
        }
        if self.qkv_bias {
            p += hd + 2 * kd;
        }
        if self.o_bias {
            p += d;
        }
        p
    }

    /// Parameters that weight quantisation applies to: the decoder blocks'
    /// matmul weights (embeddings, lm_head, norms and biases stay 16-bit, as in
    /// vLLM's FP8/AWQ/GPTQ checkpoints).
    pub fn quantizable_params(&self) -> u64 {
        let per_layer =
            u128::from(self.attention_linear_params_per_layer()) + u128::from(self.mlp_linear_params_per_layer());
        let total = sat(per_layer * u128::from(self.num_layers));
        match self.param_count_override {
            None => total,
            Some(p) => p.saturating_sub(self.non_quantizable_params()),
        }
    }

    /// Parameters kept at 16 bits: embeddings, lm_head, norms, biases.
    pub fn non_quantizable_params(&self) -> u64 {
        let per_layer = u128::from(self.small_params_per_layer()) * u128::from(self.num_layers);
        sat(u128::from(self.embedding_params())
            + u128::from(self.lm_head_params())
            + u128::from(self.hidden_size) // final norm
            + per_layer)
    }

    /// Parameter count derived from the architecture (ignores the override).
    pub fn derived_param_count(&self) -> u64 {
        let per_layer =
            u128::from(self.attention_linear_params_per_layer()) + u128::from(self.mlp_linear_params_per_layer());
        sat(per_layer * u128::from(self.num_layers) + u128::from(self.non_quantizable_params()))
    }

    /// Total parameters: the override when given, else derived.
    pub fn param_count(&self) -> u64 {
        self.param_count_override.unwrap_or_else(|| self.derived_param_count())
    }

    /// Parameters one token touches (MoE: top-k experts only). Includes the
    /// embeddings and lm_head.
    pub fn active_param_count(&self) -> u64 {
        let inactive = u128::from(self.mlp_linear_params_per_layer() - self.active_mlp_linear_params_per_layer())
            * u128::from(self.num_layers);
        self.param_count().saturating_sub(sat(inactive))
    }

    /// Bytes of all weights stored as `dtype` (quantisable matmul weights at
    /// `dtype`, the rest at 2 bytes; equals `params × 2` for 16-bit).
    pub fn weights_bytes(&self, dtype: DType) -> f64 {
        self.quantizable_params() as f64 * dtype.bytes() + self.non_quantizable_params() as f64 * 2.0
    }

    /// KV-cache bytes per token across all layers: `2 · L · K · d · bytes`
    /// (K and V). 131072 for Llama-3.1-8B in bf16.
    pub fn kv_bytes_per_token(&self, kv_dtype: DType) -> f64 {
        2.0 * f64::from(self.num_layers) * f64::from(self.num_kv_heads) * f64::from(self.head_dim) * kv_dtype.bytes()
    }

    /// KV-cache bytes one sequence of `context` tokens holds: full layers keep
    /// every token, sliding-window layers at most `window` tokens.
    pub fn kv_bytes_for_context(&self, context: u64, kv_dtype: DType) -> f64 {
        let per_layer_token = 2.0 * f64::from(self.num_kv_heads) * f64::from(self.head_dim) * kv_dtype.bytes();
        per_layer_token * self.kv_layer_tokens(context)
    }

    /// Σ over layers of tokens kept in that layer's cache for a context of `context`.
    pub(crate) fn kv_layer_tokens(&self, context: u64) -> f64 {
        let full = f64::from(self.num_full_layers()) * context as f64;
        let swa = match self.sliding_window {
            Some(w) => f64::from(self.num_sliding_layers()) * context.min(u64::from(w)) as f64,
            None => 0.0,
        };
        full + swa
    }
}

fn sat(v: u128) -> u64 {
    u64::try_from(v).unwrap_or(u64::MAX)
}
