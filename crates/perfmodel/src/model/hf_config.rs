//! The Hugging Face `config.json` reader: turns a model's published config
//! into a [`ModelSpec`], tolerating the naming differences between model
//! families (GPT-2 style names, `text_config` wrappers, MoE and sliding-window
//! keys, transformers defaults for keys a config leaves out).
//!
//! Kept apart from the presets ([`super::presets`]) and the parameter
//! arithmetic because it is the crate's only I/O and its only untrusted input.

use std::path::Path;

use serde_json::{Map, Value};

use super::{ModelSpec, MoeSpec};
use crate::error::{Error, Result};

impl ModelSpec {
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
