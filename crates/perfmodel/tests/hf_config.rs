//! Hugging Face config.json parsing: fixtures and error handling.

use infermeter_perfmodel::{DType, Error, ModelSpec};

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(path).unwrap()
}

#[test]
fn llama_3_1_8b_config_matches_the_preset() {
    let m = ModelSpec::from_hf_config_json(&fixture("llama-3.1-8b.config.json")).unwrap();
    let mut p = ModelSpec::preset("llama-3.1-8b").unwrap();
    assert_eq!(m.name, "LlamaForCausalLM");
    p.name = m.name.clone();
    assert_eq!(m, p);
    assert_eq!(m.head_dim, 128); // hidden / heads, no explicit head_dim
    assert_eq!(m.kv_bytes_per_token(DType::Bf16), 131072.0);
    assert_eq!(m.param_count(), 8_030_261_248);
}

#[test]
fn config_path_reads_files_and_directories() {
    let dir = format!("{}/tests/fixtures", env!("CARGO_MANIFEST_DIR"));
    let m = ModelSpec::from_hf_config_path(format!("{dir}/llama-3.1-8b.config.json")).unwrap();
    assert_eq!(m.num_layers, 32);
    // A directory without config.json is an I/O error naming the path.
    let e = ModelSpec::from_hf_config_path(&dir).unwrap_err();
    assert!(matches!(e, Error::Io { .. }));
    assert!(e.to_string().contains("config.json"), "{e}");
    let e = ModelSpec::from_hf_config_path("/nonexistent/config.json").unwrap_err();
    assert!(e.to_string().contains("/nonexistent/config.json"), "{e}");
}

#[test]
fn gemma_3_270m_config_matches_the_preset() {
    let m = ModelSpec::from_hf_config_json(&fixture("gemma-3-270m.config.json")).unwrap();
    let mut p = ModelSpec::preset("gemma-3-270m").unwrap();
    p.name = m.name.clone();
    assert_eq!(m, p);
    assert_eq!(m.head_dim, 256); // explicit, ≠ 640/4
    assert!(m.tie_word_embeddings); // Gemma default when the key is absent
    assert_eq!(m.sliding_window, Some(512));
    assert_eq!(m.sliding_window_layers.len(), 15);
    assert_eq!(m.param_count(), 268_098_176);
}

/// Gemma-3 multimodal wrapper: the text model sits under `text_config` and
/// leaves most keys to transformers' Gemma3TextConfig defaults (8 heads,
/// 4 KV heads, head_dim 256, vocab 262208, window pattern 6).
#[test]
fn gemma_3_text_config_with_sliding_window() {
    let m = ModelSpec::from_hf_config_json(&fixture("gemma-3-4b-it.config.json")).unwrap();
    assert_eq!(m.name, "Gemma3ForConditionalGeneration");
    assert_eq!(m.num_layers, 34);
    assert_eq!(m.hidden_size, 2560); // text_config wins over vision_config
    assert_eq!(m.intermediate_size, 10240);
    assert_eq!((m.num_heads, m.num_kv_heads, m.head_dim), (8, 4, 256));
    assert_eq!(m.vocab_size, 262208);
    assert!(m.tie_word_embeddings && m.qk_norm);
    assert_eq!(m.norms_per_layer, 4);
    assert_eq!(m.sliding_window, Some(1024));
    // Every 6th layer (5, 11, 17, 23, 29) is global.
    assert_eq!(m.num_full_layers(), 5);
    assert!(!m.is_sliding_layer(5) && m.is_sliding_layer(6));
    assert_eq!(m.max_context, 131072);
    // ≈3.88 B language-model parameters.
    let b = m.param_count() as f64 / 1e9;
    assert!((3.8..3.95).contains(&b), "{b}");
    // 2·34·4·256·2 = 139264 B per token below the window.
    assert_eq!(m.kv_bytes_per_token(DType::Bf16), 139264.0);
}

#[test]
fn mixtral_style_moe_config() {
    let json = r#"{
        "architectures": ["MixtralForCausalLM"], "model_type": "mixtral",
        "hidden_size": 4096, "intermediate_size": 14336, "num_attention_heads": 32,
        "num_hidden_layers": 32, "num_key_value_heads": 8, "vocab_size": 32000,
        "num_local_experts": 8, "num_experts_per_tok": 2, "sliding_window": null,
        "max_position_embeddings": 32768, "tie_word_embeddings": false
    }"#;
    let m = ModelSpec::from_hf_config_json(json).unwrap();
    let mut p = ModelSpec::preset("mixtral-8x7b").unwrap();
    p.name = m.name.clone();
    assert_eq!(m, p);
}

#[test]
fn qwen_moe_with_shared_expert_and_moe_intermediate() {
    let json = r#"{
        "model_type": "qwen2_moe", "hidden_size": 2048, "intermediate_size": 5632,
        "moe_intermediate_size": 1408, "shared_expert_intermediate_size": 5632,
        "num_experts": 60, "num_experts_per_tok": 4, "num_attention_heads": 16,
        "num_key_value_heads": 16, "num_hidden_layers": 24, "vocab_size": 151936,
        "use_sliding_window": false, "sliding_window": 32768, "max_window_layers": 21,
        "tie_word_embeddings": false, "max_position_embeddings": 8192
    }"#;
    let m = ModelSpec::from_hf_config_json(json).unwrap();
    let moe = m.moe.clone().unwrap();
    assert_eq!((moe.num_experts, moe.top_k), (60, 4));
    assert_eq!(moe.expert_intermediate_size, 1408);
    assert_eq!(moe.shared_expert_intermediate_size, 5632);
    assert!(m.qkv_bias);
    assert_eq!(m.sliding_window, None); // use_sliding_window: false
                                        // Qwen1.5-MoE-A2.7B: 14.3 B total, 2.7 B active.
    let total = m.param_count() as f64 / 1e9;
    let active = m.active_param_count() as f64 / 1e9;
    assert!((total - 14.3).abs() < 0.1, "{total}");
    assert!((active - 2.7).abs() < 0.1, "{active}");
}

#[test]
fn qwen2_sliding_window_disabled_and_missing_kv_heads() {
    let json = r#"{"model_type": "qwen2", "hidden_size": 3584, "intermediate_size": 18944,
        "num_attention_heads": 28, "num_key_value_heads": 4, "num_hidden_layers": 28,
        "vocab_size": 152064, "sliding_window": 131072, "use_sliding_window": false,
        "max_position_embeddings": 131072, "tie_word_embeddings": false,
        "_name_or_path": "Qwen/Qwen2.5-7B"}"#;
    let m = ModelSpec::from_hf_config_json(json).unwrap();
    assert_eq!(m.name, "Qwen/Qwen2.5-7B");
    assert_eq!(m.sliding_window, None);
    assert_eq!(m.param_count(), 7_615_616_512);
    assert_eq!(m.kv_bytes_per_token(DType::Bf16), 57344.0);

    let mha = r#"{"hidden_size": 768, "num_attention_heads": 12, "num_hidden_layers": 12,
        "intermediate_size": 3072, "vocab_size": 50000}"#;
    let m = ModelSpec::from_hf_config_json(mha).unwrap();
    assert_eq!(m.num_kv_heads, 12);
    assert_eq!(m.head_dim, 64);
    assert_eq!(m.max_context, 4096);
    assert!(!m.tie_word_embeddings);
}

#[test]
fn mistral_v0_1_window_applies_to_every_layer() {
    let json = r#"{"model_type": "mistral", "hidden_size": 4096, "intermediate_size": 14336,
        "num_attention_heads": 32, "num_key_value_heads": 8, "num_hidden_layers": 32,
        "vocab_size": 32000, "sliding_window": 4096, "max_position_embeddings": 32768}"#;
    let m = ModelSpec::from_hf_config_json(json).unwrap();
    assert_eq!(m.num_sliding_layers(), 32);
    assert_eq!(
        m.kv_bytes_for_context(32768, DType::Bf16),
        m.kv_bytes_for_context(4096, DType::Bf16)
    );
}

#[test]
fn sliding_window_pattern_key() {
    let json = r#"{"model_type": "gemma3_text", "hidden_size": 1152, "intermediate_size": 6912,
        "num_attention_heads": 4, "num_key_value_heads": 1, "head_dim": 256,
        "num_hidden_layers": 26, "vocab_size": 262144, "sliding_window": 512,
        "sliding_window_pattern": 6, "max_position_embeddings": 32768}"#;
    let m = ModelSpec::from_hf_config_json(json).unwrap();
    assert_eq!(m.num_full_layers(), 4); // layers 5, 11, 17, 23
}

#[test]
fn bad_configs_are_errors_not_panics() {
    let cases: &[(&str, &str)] = &[
        ("{not json", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        (r#"{"hidden_size": 4096}"#, "num_hidden_layers"),
        (
            r#"{"num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 4, "vocab_size": 10}"#,
            "intermediate_size",
        ),
        (
            r#"{"num_hidden_layers": -2, "hidden_size": 64, "num_attention_heads": 4, "intermediate_size": 8, "vocab_size": 10}"#,
            "num_hidden_layers",
        ),
        (
            r#"{"num_hidden_layers": "32", "hidden_size": 64, "num_attention_heads": 4, "intermediate_size": 8, "vocab_size": 10}"#,
            "num_hidden_layers",
        ),
        (
            r#"{"num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 4, "num_key_value_heads": 3, "intermediate_size": 8, "vocab_size": 10}"#,
            "num_kv_heads",
        ),
        (
            r#"{"num_hidden_layers": 2, "hidden_size": 66, "num_attention_heads": 4, "intermediate_size": 8, "vocab_size": 10}"#,
            "not divisible",
        ),
        (
            r#"{"num_hidden_layers": 0, "hidden_size": 64, "num_attention_heads": 4, "intermediate_size": 8, "vocab_size": 10}"#,
            "> 0",
        ),
        (
            r#"{"num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 4, "intermediate_size": 8, "vocab_size": 10, "sliding_window": 16, "layer_types": ["sliding_attention"]}"#,
            "layer_types",
        ),
        (
            r#"{"num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 4, "intermediate_size": 8, "vocab_size": 10, "num_local_experts": 8}"#,
            "num_experts_per_tok",
        ),
        (
            r#"{"num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 4, "intermediate_size": 8, "vocab_size": 10, "num_local_experts": 8, "num_experts_per_tok": 9}"#,
            "top_k",
        ),
        (
            r#"{"num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 4, "intermediate_size": 8, "vocab_size": 10, "tie_word_embeddings": "yes"}"#,
            "tie_word_embeddings",
        ),
        (
            r#"{"num_hidden_layers": 99999999999, "hidden_size": 64, "num_attention_heads": 4, "intermediate_size": 8, "vocab_size": 10}"#,
            "num_hidden_layers",
        ),
        (r#"{"text_config": 5}"#, "text_config"),
    ];
    for (json, needle) in cases {
        let e = ModelSpec::from_hf_config_json(json).unwrap_err().to_string();
        assert!(e.contains(needle), "{json}: {e}");
    }
}
