//! The built-in model presets: the shapes of the models the simulator and
//! the planner know by name (Llama, Qwen, Mistral/Mixtral, Gemma), each with
//! its source.
//!
//! Kept apart from [`super::ModelSpec`]'s arithmetic and from the Hugging Face
//! reader ([`super::hf_config`]) so that adding a model is a one-place change.

use super::{ModelSpec, MoeSpec};
use crate::error::{join_names, normalize_name, Error, Result};

#[allow(clippy::too_many_arguments)]
pub(super) fn dense(
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
    pub const PRESET_NAMES: [&'static str; 13] = [
        "llama-3.1-8b",
        "llama-3.1-70b",
        "llama-3.1-405b",
        "llama-2-7b",
        "qwen2.5-7b",
        "mistral-7b",
        "mixtral-8x7b",
        "gemma-3-270m",
        "qwen3-0.6b",
        "qwen3-8b",
        "qwen3-14b",
        "qwen3-32b",
        "gpt-oss-20b",
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
            // meta-llama/Llama-3.1-405B: 126 layers, hidden 16384, 128 heads, 8 KV
            // heads, intermediate 53248 (config.json); 405.9 B params.
            "llama-3.1-405b" | "llama3.1-405b" | "meta-llama-3.1-405b" => {
                dense("llama-3.1-405b", 126, 16384, 128, 8, 128, 53248, 128256, false, 131072)
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
            // Qwen/Qwen3-8B, -14B, -32B (config.json): head_dim 128, 8 KV heads,
            // q/k norms, untied embeddings, vocab 151936, context 40960.
            "qwen3-8b" => {
                let mut m = dense("qwen3-8b", 36, 4096, 32, 8, 128, 12288, 151936, false, 40960);
                m.qk_norm = true;
                m
            }
            "qwen3-14b" => {
                let mut m = dense("qwen3-14b", 40, 5120, 40, 8, 128, 17408, 151936, false, 40960);
                m.qk_norm = true;
                m
            }
            "qwen3-32b" => {
                let mut m = dense("qwen3-32b", 64, 5120, 64, 8, 128, 25600, 151936, false, 40960);
                m.qk_norm = true;
                m
            }
            // openai/gpt-oss-20b (config.json): 24 layers, hidden 2880, 64 heads of 64,
            // 8 KV heads, 32 experts (intermediate 2880), top-4, vocab 201088, q/k/v/o
            // biases, 128-token sliding window on every other layer (layer_types starts
            // with "sliding_attention"). 20.9 B params, 3.6 B active. The checkpoint
            // stores the experts in MXFP4 (serve it with weights int4).
            "gpt-oss-20b" | "gpt-oss" => {
                let mut m = dense("gpt-oss-20b", 24, 2880, 64, 8, 64, 2880, 201088, false, 131072);
                m.qkv_bias = true;
                m.o_bias = true;
                m.moe = Some(MoeSpec {
                    num_experts: 32,
                    top_k: 4,
                    expert_intermediate_size: 2880,
                    shared_expert_intermediate_size: 0,
                });
                m.sliding_window = Some(128);
                m.sliding_window_layers = (0..24).filter(|i| i % 2 == 0).collect();
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
}
