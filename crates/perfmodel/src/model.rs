//! Transformer architecture descriptions ([`ModelSpec`]): built-in presets, a
//! parser for Hugging Face `config.json`, and exact parameter counting.
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

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::dtype::DType;
use crate::error::{join_names, normalize_name, Error, Result};

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

#[allow(clippy::too_many_arguments)]
fn dense(
    name: &str,
    layers: u32,
    hidden: u32,
    heads: u32,
    kv_heads: u32,
    head_dim: u32,
    intermediate: u32,
    vocab: u32,
    tied: bool,
    max_context: u32,
) -> ModelSpec {
    ModelSpec {
        name: name.to_string(),
        num_layers: layers,
        hidden_size: hidden,
        num_heads: heads,
        num_kv_heads: kv_heads,
        head_dim,
        intermediate_size: intermediate,
        vocab_size: vocab,
        tie_word_embeddings: tied,
        gated_mlp: true,
        qkv_bias: false,
        o_bias: false,
        qk_norm: false,
        norms_per_layer: 2,
        moe: None,
        sliding_window: None,
        sliding_window_layers: Vec::new(),
        max_context,
        param_count_override: None,
    }
}

impl ModelSpec {
    /// Names of the built-in presets, in display order.
    pub const PRESET_NAMES: [&'static str; 8] = [
        "llama-3.1-8b",
        "llama-3.1-70b",
        "llama-2-7b",
        "qwen2.5-7b",
        "mistral-7b",
        "mixtral-8x7b",
        "gemma-3-270m",
        "qwen3-0.6b",
    ];

    /// Names of the built-in presets.
    pub fn preset_names() -> &'static [&'static str] {
        &Self::PRESET_NAMES
    }

    /// All built-in presets.
    pub fn presets() -> Vec<ModelSpec> {
        Self::PRESET_NAMES.iter().filter_map(|n| Self::preset(n).ok()).collect()
    }

    /// Looks a preset up by name: case-insensitive, `_` = `-`, an `org/` prefix
    /// and an `-instruct` / `-it` suffix are ignored. Unknown names give an
    /// error listing the valid ones.
    ///
    /// Sources: Hugging Face `config.json` of each model as tabulated in the
    /// research (`anchors_sim.md` §6), re-checked against code-search copies of
    /// the configs (Qwen3-0.6B: `tie_word_embeddings: true`, `head_dim` 128;
    /// gemma-3-270m: `head_dim` 256, `sliding_window` 512, full attention at
    /// layers 5/11/17).
    pub fn preset(name: &str) -> Result<ModelSpec> {
        let mut key = normalize_name(name);
        if let Some(pos) = key.rfind('/') {
            key = key[pos + 1..].to_string();
        }
        for suffix in ["-instruct", "-it"] {
            if let Some(stripped) = key.strip_suffix(suffix) {
                key = stripped.to_string();
            }
        }
        let m = match key.as_str() {
            // meta-llama/Llama-3.1-8B: 8.03 B params.
            "llama-3.1-8b" | "llama3.1-8b" | "meta-llama-3.1-8b" => {
                dense("llama-3.1-8b", 32, 4096, 32, 8, 128, 14336, 128256, false, 131072)
            }
            // meta-llama/Llama-3.1-70B: 70.55 B params.
            "llama-3.1-70b" | "llama3.1-70b" | "meta-llama-3.1-70b" => {
                dense("llama-3.1-70b", 80, 8192, 64, 8, 128, 28672, 128256, false, 131072)
            }
            // meta-llama/Llama-2-7b-hf: MHA (K = H), 6.74 B params.
            "llama-2-7b" | "llama2-7b" | "llama-2-7b-hf" => {
                dense("llama-2-7b", 32, 4096, 32, 32, 128, 11008, 32000, false, 4096)
            }
            // Qwen/Qwen2.5-7B: q/k/v biases, 7.62 B params (6.53 B non-embedding);
            // base model context 131072 (the Instruct config says 32768).
            "qwen2.5-7b" | "qwen2-5-7b" => {
                let mut m = dense("qwen2.5-7b", 28, 3584, 28, 4, 128, 18944, 152064, false, 131072);
                m.qkv_bias = true;
                m
            }
            // mistralai/Mistral-7B-v0.3: vocab 32768, no sliding window
            // (v0.1 had vocab 32000 and a 4096-token window on every layer).
            "mistral-7b" | "mistral-7b-v0.3" => dense("mistral-7b", 32, 4096, 32, 8, 128, 14336, 32768, false, 32768),
            // mistralai/Mixtral-8x7B-v0.1: 8 experts, top-2, 46.7 B total / 12.9 B active.
            "mixtral-8x7b" | "mixtral-8x7b-v0.1" => {
                let mut m = dense("mixtral-8x7b", 32, 4096, 32, 8, 128, 14336, 32000, false, 32768);
                m.moe = Some(MoeSpec {
                    num_experts: 8,
                    top_k: 2,
                    expert_intermediate_size: 14336,
                    shared_expert_intermediate_size: 0,
                });
                m
            }
            // google/gemma-3-270m: head_dim 256 ≠ 640/4, MQA, tied 262144-token
            // embedding, q/k norms, 4 norms per layer, 512-token window on 15 of 18
            // layers (every 6th layer is global).
            "gemma-3-270m" | "gemma3-270m" => {
                let mut m = dense("gemma-3-270m", 18, 640, 4, 1, 256, 2048, 262144, true, 32768);
                m.qk_norm = true;
                m.norms_per_layer = 4;
                m.sliding_window = Some(512);
                m.sliding_window_layers = (0..18).filter(|i| (i + 1) % 6 != 0).collect();
                m
            }
            // Qwen/Qwen3-0.6B: head_dim 128 ≠ 1024/16, q/k norms, tied embeddings.
            "qwen3-0.6b" | "qwen3-0-6b" => {
                let mut m = dense("qwen3-0.6b", 28, 1024, 16, 8, 128, 3072, 151936, true, 40960);
                m.qk_norm = true;
                m
            }
            _ => {
                return Err(Error::UnknownPreset {
                    kind: "model",
                    name: name.to_string(),
                    valid: join_names(&Self::PRESET_NAMES),
                })
            }
        };
        Ok(m)
    }

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

    // ---- Hugging Face config.json ----

    /// Reads `config.json` from a file (or from `<dir>/config.json` when `path`
    /// is a directory) and parses it with [`ModelSpec::from_hf_config_json`].
    /// This is the crate's only I/O.
    pub fn from_hf_config_path(path: impl AsRef<Path>) -> Result<ModelSpec> {
        let mut p = path.as_ref().to_path_buf();
        if p.is_dir() {
            p.push("config.json");
        }
        let text = std::fs::read_to_string(&p).map_err(|source| Error::Io {
            path: p.display().to_string(),
            source,
        })?;
        Self::from_hf_config_json(&text)
    }

    /// Parses a Hugging Face `config.json`.
    ///
    /// Handles: fields nested under `text_config` (multimodal wrappers such as
    /// Gemma 3; they win over top-level ones), explicit `head_dim` or
    /// `hidden_size / num_attention_heads`, missing `num_key_value_heads` (→ MHA),
    /// `tie_word_embeddings` (missing → true for Gemma, false otherwise, as the
    /// per-model transformers defaults), `num_local_experts` / `num_experts` /
    /// `n_routed_experts` + `num_experts_per_tok` + `moe_intermediate_size` +
    /// `shared_expert_intermediate_size`, `sliding_window` with
    /// `use_sliding_window`, `layer_types`, `sliding_window_pattern` /
    /// `_sliding_window_pattern`, Qwen2's `max_window_layers`, Gemma 2's
    /// alternation, and the transformers defaults of `gemma3_text` for keys a
    /// Gemma 3 config leaves out. GPT-2 style names (`n_layer`, `n_embd`, …) are
    /// accepted too. Anything unusable is an [`Error::InvalidConfig`].
    pub fn from_hf_config_json(json: &str) -> Result<ModelSpec> {
        let root: Value = serde_json::from_str(json)?;
        let root = root
            .as_object()
            .ok_or_else(|| Error::InvalidConfig("the top level must be a JSON object".into()))?;
        let text = match root.get("text_config") {
            None | Some(Value::Null) => None,
            Some(Value::Object(m)) => Some(m),
            Some(_) => return Err(Error::InvalidConfig("`text_config` must be an object".into())),
        };
        let cfg = Cfg { root, text };
        parse_hf(&cfg)
    }
}

fn sat(v: u128) -> u64 {
    u64::try_from(v).unwrap_or(u64::MAX)
}

/// Layered view of a config: `text_config` first, then the top level.
struct Cfg<'a> {
    root: &'a Map<String, Value>,
    text: Option<&'a Map<String, Value>>,
}

impl<'a> Cfg<'a> {
    /// First non-null value among `keys`, text_config before top level.
    fn get<'k>(&self, keys: &[&'k str]) -> Option<(&'k str, &'a Value)> {
        for map in self.text.iter().copied().chain(std::iter::once(self.root)) {
            for k in keys {
                if let Some(v) = map.get(*k) {
                    if !v.is_null() {
                        return Some((k, v));
                    }
                }
            }
        }
        None
    }

    fn u32(&self, keys: &[&str]) -> Result<Option<u32>> {
        match self.get(keys) {
            None => Ok(None),
            Some((k, v)) => as_u32(k, v).map(Some),
        }
    }

    fn bool(&self, keys: &[&str]) -> Result<Option<bool>> {
        match self.get(keys) {
            None => Ok(None),
            Some((_, Value::Bool(b))) => Ok(Some(*b)),
            Some((k, other)) => Err(Error::InvalidConfig(format!(
                "`{k}` must be true or false, got {other}"
            ))),
        }
    }

    fn string(&self, keys: &[&str]) -> Option<String> {
        match self.get(keys) {
            Some((_, Value::String(s))) if !s.trim().is_empty() => Some(s.trim().to_string()),
            _ => None,
        }
    }
}

fn as_u32(key: &str, v: &Value) -> Result<u32> {
    let err = || Error::InvalidConfig(format!("`{key}` must be a non-negative integer, got {v}"));
    let n = if let Some(n) = v.as_u64() {
        n
    } else if let Some(f) = v.as_f64() {
        if f.is_finite() && f >= 0.0 && f.fract() == 0.0 && f <= u32::MAX as f64 {
            f as u64
        } else {
            return Err(err());
        }
    } else {
        return Err(err());
    };
    u32::try_from(n).map_err(|_| err())
}

fn parse_hf(cfg: &Cfg<'_>) -> Result<ModelSpec> {
    let model_type = cfg.string(&["model_type"]).unwrap_or_default().to_ascii_lowercase();
    let gemma3 = model_type.starts_with("gemma3");
    let gemma2 = model_type.starts_with("gemma2");
    let gemma = model_type.starts_with("gemma");
    let qwen2 = model_type.starts_with("qwen2");

    // transformers' Gemma3TextConfig defaults, for keys a Gemma 3 config omits.
    let g3 = |v: u32| if gemma3 { Some(v) } else { None };
    let required = |keys: &[&str], default: Option<u32>| -> Result<u32> {
        match cfg.u32(keys)?.or(default) {
            Some(v) => Ok(v),
            None => Err(Error::InvalidConfig(format!("missing `{}`", keys[0]))),
        }
    };

    let num_layers = required(&["num_hidden_layers", "n_layer", "num_layers", "n_layers"], g3(26))?;
    let hidden = required(&["hidden_size", "n_embd", "d_model", "dim"], g3(2304))?;
    let heads = required(&["num_attention_heads", "n_head", "num_heads", "n_heads"], g3(8))?;
    if heads == 0 || hidden == 0 || num_layers == 0 {
        return Err(Error::InvalidConfig(
            "num_hidden_layers, hidden_size and num_attention_heads must be > 0".into(),
        ));
    }
    let mq = cfg.bool(&["multi_query"])?.unwrap_or(false);
    let kv_heads = match cfg.u32(&[
        "num_key_value_heads",
        "num_kv_heads",
        "n_kv_heads",
        "multi_query_group_num",
    ])? {
        Some(k) => k,
        None if mq => 1,
        None => g3(4).unwrap_or(heads),
    };
    let head_dim = match cfg.u32(&["head_dim", "attention_head_dim"])?.or(g3(256)) {
        Some(d) => d,
        None => {
            if hidden % heads != 0 {
                return Err(Error::InvalidConfig(format!(
                    "no `head_dim`, and hidden_size {hidden} is not divisible by num_attention_heads {heads}"
                )));
            }
            hidden / heads
        }
    };
    let vocab = required(&["vocab_size", "padded_vocab_size"], g3(262208))?;

    // Mixture of experts.
    let experts = cfg.u32(&[
        "num_local_experts",
        "num_experts",
        "n_routed_experts",
        "moe_num_experts",
    ])?;
    let moe_inter = cfg.u32(&["moe_intermediate_size", "expert_intermediate_size"])?;
    let dense_inter = cfg.u32(&["intermediate_size", "ffn_dim", "n_inner", "ffn_hidden_size"])?;
    let moe = match experts {
        Some(e) if e > 1 => {
            let top_k = cfg
                .u32(&["num_experts_per_tok", "moe_topk", "num_experts_per_token", "moe_top_k"])?
                .ok_or_else(|| {
                    Error::InvalidConfig(format!("MoE config with {e} experts but no `num_experts_per_tok`"))
                })?;
            let expert_inter = moe_inter.or(dense_inter).ok_or_else(|| {
                Error::InvalidConfig("MoE config without `moe_intermediate_size` or `intermediate_size`".into())
            })?;
            let shared = cfg.u32(&["shared_expert_intermediate_size"])?.unwrap_or(0);
            Some(MoeSpec {
                num_experts: e,
                top_k,
                expert_intermediate_size: expert_inter,
                shared_expert_intermediate_size: shared,
            })
        }
        _ => None,
    };
    let intermediate = match dense_inter.or(g3(9216)) {
        Some(i) => i,
        None if model_type == "gpt2" || model_type == "gpt_bigcode" => hidden.saturating_mul(4),
        None => match &moe {
            Some(m) => m.expert_intermediate_size,
            None => return Err(Error::InvalidConfig("missing `intermediate_size`".into())),
        },
    };

    let tie = cfg.bool(&["tie_word_embeddings"])?.unwrap_or(gemma);
    let max_context = cfg
        .u32(&[
            "max_position_embeddings",
            "n_positions",
            "max_sequence_length",
            "seq_length",
        ])?
        .or(g3(131072))
        .unwrap_or(4096);

    const PLAIN_MLP: &[&str] = &[
        "gpt2",
        "gpt_neox",
        "gptj",
        "gpt_bigcode",
        "opt",
        "bloom",
        "falcon",
        "phi",
        "starcoder2",
        "mpt",
        "codegen",
    ];
    let gated_mlp = !PLAIN_MLP.contains(&model_type.as_str());
    let attention_bias = cfg.bool(&["attention_bias"])?.unwrap_or(false);
    let qkv_bias = attention_bias || cfg.bool(&["qkv_bias"])?.unwrap_or(qwen2);
    let qk_norm = ["qwen3", "qwen3_moe", "gemma3", "gemma3_text", "olmo2", "olmoe"].contains(&model_type.as_str());
    let norms_per_layer = if gemma2 || gemma3 { 4 } else { 2 };

    // Sliding window.
    let use_swa = cfg.bool(&["use_sliding_window"])?;
    let mut window = cfg.u32(&["sliding_window", "sliding_window_size"])?.or(g3(4096));
    if use_swa == Some(false) || window == Some(0) {
        window = None;
    }
    let mut swa_layers: Vec<u32> = Vec::new();
    if window.is_some() {
        if let Some((_, lt)) = cfg.get(&["layer_types"]) {
            let arr = lt
                .as_array()
                .ok_or_else(|| Error::InvalidConfig("`layer_types` must be an array of strings".into()))?;
            if arr.len() != num_layers as usize {
                return Err(Error::InvalidConfig(format!(
                    "`layer_types` has {} entries but num_hidden_layers is {num_layers}",
                    arr.len()
                )));
            }
            for (i, t) in arr.iter().enumerate() {
                let s = t
                    .as_str()
                    .ok_or_else(|| Error::InvalidConfig("`layer_types` must be an array of strings".into()))?;
                let s = s.to_ascii_lowercase();
                if s.contains("sliding") || s == "local" || s.contains("local_attention") {
                    swa_layers.push(i as u32);
                }
            }
        } else if let Some(p) = cfg.u32(&["sliding_window_pattern", "_sliding_window_pattern"])? {
            if p > 1 {
                swa_layers = (0..num_layers).filter(|i| (i + 1) % p != 0).collect();
            }
        } else if gemma3 {
            swa_layers = (0..num_layers).filter(|i| (i + 1) % 6 != 0).collect();
        } else if gemma2 {
            swa_layers = (0..num_layers).filter(|i| i % 2 == 0).collect();
        } else if qwen2 {
            let from = cfg.u32(&["max_window_layers"])?.unwrap_or(0);
            swa_layers = (from..num_layers).collect();
        } else {
            swa_layers = (0..num_layers).collect();
        }
        if swa_layers.is_empty() {
            window = None;
        }
    }

    let name = cfg
        .string(&["_name_or_path"])
        .or_else(|| {
            cfg.get(&["architectures"])
                .and_then(|(_, v)| v.as_array())
                .and_then(|a| a.first())
                .and_then(|v| v.as_str())
                .map(str::to_string)
        })
        .or_else(|| (!model_type.is_empty()).then(|| model_type.clone()))
        .unwrap_or_else(|| "hf-model".to_string());

    let spec = ModelSpec {
        name,
        num_layers,
        hidden_size: hidden,
        num_heads: heads,
        num_kv_heads: kv_heads,
        head_dim,
        intermediate_size: intermediate,
        vocab_size: vocab,
        tie_word_embeddings: tie,
        gated_mlp,
        qkv_bias,
        o_bias: attention_bias,
        qk_norm,
        norms_per_layer,
        moe,
        sliding_window: window,
        sliding_window_layers: if window.is_some() { swa_layers } else { Vec::new() },
        max_context,
        param_count_override: None,
    };
    spec.validate().map_err(|e| Error::InvalidConfig(e.to_string()))?;
    Ok(spec)
}
