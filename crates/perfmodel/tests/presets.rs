//! Presets, dtype parsing and parameter counts against published numbers.

use infermeter_perfmodel::{DType, Error, GpuSpec, ModelSpec};

fn model(name: &str) -> ModelSpec {
    ModelSpec::preset(name).expect("preset")
}

#[test]
fn every_listed_preset_resolves_and_validates() {
    assert_eq!(GpuSpec::preset_names().len(), 11);
    assert_eq!(ModelSpec::preset_names().len(), 13);
    for n in GpuSpec::preset_names() {
        let g = GpuSpec::preset(n).unwrap();
        assert_eq!(&g.name, n);
        g.validate().unwrap();
        assert!(g.cost_per_hour > 0.0);
    }
    for n in ModelSpec::preset_names() {
        let m = ModelSpec::preset(n).unwrap();
        assert_eq!(&m.name, n);
        m.validate().unwrap();
    }
    assert_eq!(GpuSpec::presets().len(), 11);
    assert_eq!(ModelSpec::presets().len(), 13);
}

#[test]
fn preset_lookup_is_forgiving_about_case_and_org() {
    assert_eq!(GpuSpec::preset("H100_SXM").unwrap().name, "h100-sxm");
    assert_eq!(
        ModelSpec::preset("meta-llama/Llama-3.1-8B-Instruct").unwrap().name,
        "llama-3.1-8b"
    );
    assert_eq!(ModelSpec::preset("Qwen/Qwen3-0.6B").unwrap().name, "qwen3-0.6b");
}

#[test]
fn unknown_presets_list_valid_names() {
    let e = GpuSpec::preset("tpu-v9").unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, Error::UnknownPreset { kind: "GPU", .. }));
    assert!(msg.contains("tpu-v9"), "{msg}");
    for n in GpuSpec::preset_names() {
        assert!(msg.contains(n), "{msg} lacks {n}");
    }
    let msg = ModelSpec::preset("gpt-5").unwrap_err().to_string();
    assert!(msg.contains("unknown model preset 'gpt-5'"), "{msg}");
    for n in ModelSpec::preset_names() {
        assert!(msg.contains(n), "{msg} lacks {n}");
    }
}

#[test]
fn dtypes_parse_and_size() {
    let cases = [
        ("bf16", DType::Bf16, 2.0),
        ("FP16", DType::Fp16, 2.0),
        ("half", DType::Fp16, 2.0),
        ("fp8", DType::Fp8, 1.0),
        ("fp8_e4m3", DType::Fp8, 1.0),
        ("int8", DType::Int8, 1.0),
        (" int4 ", DType::Int4, 0.5),
    ];
    for (s, dt, bytes) in cases {
        let parsed: DType = s.parse().unwrap();
        assert_eq!(parsed, dt, "{s}");
        assert_eq!(parsed.bytes(), bytes);
        assert_eq!(parsed.name().parse::<DType>().unwrap(), dt);
    }
    let e = "fp4".parse::<DType>().unwrap_err().to_string();
    assert!(e.contains("fp4") && e.contains("bf16, fp16, fp8, int8, int4"), "{e}");
    assert_eq!(serde_json::to_string(&DType::Int4).unwrap(), "\"int4\"");
}

#[test]
fn llama_3_1_8b_parameter_count_is_exact() {
    let m = model("llama-3.1-8b");
    // Hugging Face reports 8,030,261,248 parameters.
    assert_eq!(m.param_count(), 8_030_261_248);
    assert_eq!(m.active_param_count(), m.param_count());
    let gb = m.weights_bytes(DType::Bf16) / 1e9;
    assert!((gb - 16.06).abs() < 0.005, "{gb}");
}

#[test]
fn other_dense_parameter_counts() {
    // Hugging Face figures.
    assert_eq!(model("llama-3.1-70b").param_count(), 70_553_706_496);
    assert_eq!(model("qwen2.5-7b").param_count(), 7_615_616_512);
    assert_eq!(model("qwen3-0.6b").param_count(), 596_049_920);
    assert_eq!(model("llama-2-7b").param_count(), 6_738_415_616);
    assert_eq!(model("gemma-3-270m").param_count(), 268_098_176);
    let mistral = model("mistral-7b").param_count() as f64 / 1e9;
    assert!((mistral - 7.248).abs() < 0.001, "{mistral}");
}

#[test]
fn mixtral_total_vs_active_parameters() {
    let m = model("mixtral-8x7b");
    assert!(m.is_moe());
    // Hugging Face: 46,702,792,704 total; ≈12.9 B used per token.
    assert_eq!(m.param_count(), 46_702_792_704);
    let active = m.active_param_count() as f64 / 1e9;
    assert!((active - 12.88).abs() < 0.01, "{active}");
    assert!(m.active_param_count() * 3 < m.param_count());
}

#[test]
fn kv_bytes_per_token_match_the_research_invariants() {
    let kv = |n: &str| model(n).kv_bytes_per_token(DType::Bf16);
    assert_eq!(kv("llama-3.1-8b"), 131072.0);
    assert_eq!(kv("llama-3.1-70b"), 327680.0);
    assert_eq!(kv("qwen2.5-7b"), 57344.0);
    assert_eq!(kv("qwen3-0.6b"), 114688.0);
    assert_eq!(kv("gemma-3-270m"), 18432.0);
    assert_eq!(kv("mixtral-8x7b"), 131072.0);
    // fp8 KV halves it, int4 quarters it.
    let m = model("llama-3.1-8b");
    assert_eq!(m.kv_bytes_per_token(DType::Fp8), 65536.0);
    assert_eq!(m.kv_bytes_per_token(DType::Int4), 32768.0);
}

#[test]
fn gqa_shrinks_kv_by_the_group_size() {
    // Same L, d; Llama-2-7B is MHA (32 KV heads), Llama-3.1-8B GQA with 8.
    let mha = model("llama-2-7b");
    let gqa = model("llama-3.1-8b");
    assert_eq!(mha.num_kv_heads, mha.num_heads);
    assert_eq!(gqa.num_heads / gqa.num_kv_heads, 4);
    assert_eq!(
        mha.kv_bytes_per_token(DType::Bf16),
        4.0 * gqa.kv_bytes_per_token(DType::Bf16)
    );
}

#[test]
fn sliding_window_layers_cap_their_tokens() {
    let m = model("gemma-3-270m");
    assert_eq!(m.num_sliding_layers(), 15);
    assert_eq!(m.num_full_layers(), 3);
    assert!(!m.is_sliding_layer(5) && m.is_sliding_layer(0) && !m.is_sliding_layer(17));
    // Below the window every layer stores every token.
    assert_eq!(m.kv_bytes_for_context(100, DType::Bf16), 100.0 * 18432.0);
    // 32k context: 3 full layers × 32768 + 15 windowed × 512, 1024 B per layer-token.
    let per_layer_token = 2.0 * 256.0 * 2.0;
    assert_eq!(
        m.kv_bytes_for_context(32768, DType::Bf16),
        per_layer_token * (3.0 * 32768.0 + 15.0 * 512.0)
    );
}

#[test]
fn quantised_weights_keep_embeddings_at_16_bit() {
    let m = model("llama-3.1-8b");
    let bf16 = m.weights_bytes(DType::Bf16);
    let int4 = m.weights_bytes(DType::Int4);
    let emb = 2.0 * m.embedding_params() as f64 * 2.0; // embedding + lm_head
    assert!(int4 > bf16 / 4.0);
    assert!((int4 - (m.quantizable_params() as f64 * 0.5 + m.non_quantizable_params() as f64 * 2.0)).abs() < 1.0);
    assert!(int4 > emb);
    assert_eq!(m.weights_bytes(DType::Fp16), bf16);
}

#[test]
fn gpu_ridge_points() {
    let h100 = GpuSpec::preset("h100-sxm").unwrap();
    assert!((h100.ridge_point() - 295.3).abs() < 0.1);
    let a100 = GpuSpec::preset("a100-80gb").unwrap();
    assert!((a100.ridge_point() - 153.0).abs() < 0.1);
    let custom = GpuSpec::custom("x", 100.0, 1000.0, 24.0);
    assert_eq!(custom.ridge_point(), 100.0);
    custom.validate().unwrap();
    let bad = GpuSpec::custom("x", -1.0, 1000.0, 24.0);
    assert!(bad.validate().is_err());
}

#[test]
fn new_presets_match_published_parameter_counts() {
    // Published totals: Llama 3.1 405B "405B" (Meta model card), Qwen3-8B 8.2B,
    // Qwen3-14B 14.8B, Qwen3-32B 32.8B (Qwen model cards), gpt-oss-20b 21B total,
    // 3.6B active (OpenAI model card; active excludes the embedding gather).
    let b = |n: &str| model(n).param_count() as f64 / 1e9;
    for (name, want) in [
        ("llama-3.1-405b", 405.0),
        ("qwen3-8b", 8.2),
        ("qwen3-14b", 14.8),
        ("qwen3-32b", 32.8),
        ("gpt-oss-20b", 21.0),
    ] {
        let got = b(name);
        assert!((got / want - 1.0).abs() < 0.01, "{name}: {got} B vs {want} B");
    }
    let oss = model("gpt-oss-20b");
    let active_without_embedding = (oss.active_param_count() - oss.embedding_params()) as f64 / 1e9;
    assert!(
        (active_without_embedding - 3.6).abs() < 0.05,
        "{active_without_embedding}"
    );
    assert_eq!(oss.num_sliding_layers(), 12);
    assert_eq!(GpuSpec::preset("rtx-pro-6000").unwrap().memory_bytes, 96 << 30);
}
