//! Memory model: the seed's worked example, capacity, fits, TP split.

use infermeter_perfmodel::{DType, Deployment, GpuSpec, ModelSpec};

fn h100_8b() -> Deployment {
    Deployment::from_presets("llama-3.1-8b", "h100-sxm").unwrap()
}

/// Seed 3.4.6: LLaMA-7B, FP16, batch 1, seq 4096, 32 layers, 32 heads, d_k 128,
/// 2 GB overhead → "Model: 14.0 GB", "KV Cache: 2.1 GB", "Total: 18.1 GB"
/// (decimal GB, weights + KV + overhead).
#[test]
fn seed_worked_example_via_params_given_path() {
    let m = ModelSpec::from_param_count("llama-7b", 7_000_000_000, 32, 32, 128).unwrap();
    assert_eq!(m.param_count(), 7_000_000_000);
    assert_eq!(m.hidden_size, 4096);
    assert_eq!(m.num_kv_heads, 32);
    // The solved MLP width lands near LLaMA-7B's real 11008.
    assert!((11000..12000).contains(&m.intermediate_size), "{}", m.intermediate_size);
    let derived = m.derived_param_count() as f64;
    assert!((derived / 7e9 - 1.0).abs() < 1e-3, "{derived}");

    let mut d = Deployment::new(m, GpuSpec::preset("a100-80gb").unwrap())
        .unwrap()
        .with_weights_dtype(DType::Fp16)
        .with_kv_dtype(DType::Fp16);
    d.engine.max_num_batched_tokens = 4096;
    d.engine.max_num_seqs = 1;
    let b = d.memory_breakdown(1, 4096);
    assert_eq!(b.weights_bytes, 14_000_000_000);
    assert_eq!(b.kv_bytes_per_token, 524_288);
    assert_eq!(b.kv_bytes, 2 * 32 * 4096 * 32 * 128 * 2);
    assert_eq!(format!("{:.1}", b.weights_bytes as f64 / 1e9), "14.0");
    assert_eq!(format!("{:.1}", b.kv_bytes as f64 / 1e9), "2.1");
    assert_eq!(b.overhead_bytes, 2_000_000_000);
    let seed_total = b.weights_bytes + b.kv_bytes + b.overhead_bytes;
    assert_eq!(format!("{:.1}", seed_total as f64 / 1e9), "18.1");
    // Our total also counts the activation reserve of one 4096-token step.
    assert_eq!(b.total_bytes, seed_total + b.activations_bytes);
    assert!(b.activations_bytes > 100_000_000 && b.activations_bytes < 1_000_000_000);
    assert!(b.fits);
    // Seed: "INT4: ~3.5GB for 7B model" (we keep embeddings/lm_head at 16 bit).
    let int4 = d.clone().with_weights_dtype(DType::Int4).weights_bytes_per_gpu() / 1e9;
    assert!((3.5..4.0).contains(&int4), "{int4}");
}

#[test]
fn params_given_path_rejects_impossible_input() {
    assert!(ModelSpec::from_param_count("x", 1000, 32, 32, 128).is_err());
    assert!(ModelSpec::from_param_count("x", 7_000_000_000, 0, 32, 128).is_err());
}

#[test]
fn llama_8b_on_h100_capacity() {
    let d = h100_8b();
    assert_eq!(d.kv_bytes_per_token(), 131072.0);
    assert_eq!(d.kv_bytes_per_request(4096), 4096.0 * 131072.0);
    let n = d.max_concurrent_sequences(4096);
    // (0.9 × 80 GiB − 16.06 GB − 2 GB − activations) / 0.537 GB ≈ 106.
    assert!((100..=112).contains(&n), "{n}");
    // fits exactly up to the maximum.
    assert!(d.memory_breakdown(n, 4096).fits);
    assert!(!d.memory_breakdown(n + 1, 4096).fits);
    // Blocks: the same free bytes in 16-token blocks.
    let blocks = d.num_kv_blocks();
    assert_eq!(blocks, d.num_kv_blocks_with(16));
    assert_eq!(d.kv_capacity_tokens(), blocks * 16);
    assert!(d.kv_capacity_tokens() >= n * 4096);
    assert!(d.kv_capacity_tokens() < (n + 1) * 4096 + 16);
    assert_eq!(d.num_kv_blocks_with(32), blocks / 2);
}

/// Research §7/§9 V3: real vLLM 0.19 on an RTX 4090 (CUDA total 25,250,627,584 B,
/// utilisation 0.9, max_num_batched_tokens 2048) reported 2588 blocks for
/// Llama-3.1-8B. With the overhead set to vLLM's non-torch reserve (~0.72 GB)
/// instead of the seed's 2 GB, the block count lands on it.
#[test]
fn rtx_4090_kv_blocks_match_vllm_trace() {
    let mut d = Deployment::from_presets("llama-3.1-8b", "rtx-4090").unwrap();
    d.gpu.memory_bytes = 25_250_627_584;
    assert_eq!(d.engine.max_num_batched_tokens, 2048);
    assert_eq!(d.engine.max_num_seqs, 256);
    d.engine.overhead_bytes = 0.72e9;
    let blocks = d.num_kv_blocks() as f64;
    assert!((blocks / 2588.0 - 1.0).abs() < 0.02, "{blocks}");
    // With the default 2 GB overhead the estimate is conservative.
    d.engine.overhead_bytes = 2e9;
    assert!((d.num_kv_blocks() as f64) < 2588.0 * 0.8);
}

#[test]
fn too_big_models_do_not_fit() {
    let d = Deployment::from_presets("llama-3.1-70b", "l4").unwrap();
    assert_eq!(d.max_concurrent_sequences(4096), 0);
    assert_eq!(d.num_kv_blocks(), 0);
    assert!(!d.memory_breakdown(1, 4096).fits);
    assert_eq!(d.kv_cache_budget_bytes(), 0.0);
}

#[test]
fn tensor_parallel_splits_weights_and_kv() {
    let one = Deployment::from_presets("llama-3.1-70b", "h100-sxm").unwrap();
    let four = one.clone().with_tp(4).unwrap();
    assert!((four.weights_bytes_per_gpu() * 4.0 - one.weights_bytes_per_gpu()).abs() < 1.0);
    assert_eq!(four.kv_bytes_per_token(), 327680.0 / 4.0);
    assert_eq!(one.max_concurrent_sequences(4096), 0); // 141 GB of weights
    assert!(four.max_concurrent_sequences(4096) > 100);
    // 8 KV heads on 16 ranks: KV heads are replicated, 1 per rank.
    let sixteen = one.clone().with_tp(16).unwrap();
    assert_eq!(sixteen.kv_heads_per_rank(), 1.0);
    assert_eq!(sixteen.kv_bytes_per_token(), 2.0 * 80.0 * 128.0 * 2.0);
    // TP must divide the heads.
    assert!(one.clone().with_tp(3).is_err());
    assert!(one.clone().with_tp(0).is_err());
    assert_eq!(four.cost_per_hour(), 4.0 * one.gpu.cost_per_hour);
}

#[test]
fn fp8_kv_doubles_concurrency_roughly() {
    let d = h100_8b();
    let f = d.clone().with_kv_dtype(DType::Fp8);
    let (a, b) = (d.max_concurrent_sequences(8192), f.max_concurrent_sequences(8192));
    assert!(b >= 2 * a && b <= 2 * a + 1, "{a} {b}");
}

#[test]
fn sliding_window_raises_long_context_concurrency() {
    let d = Deployment::from_presets("gemma-3-270m", "l4").unwrap();
    let short = d.kv_bytes_per_request(512);
    let long = d.kv_bytes_per_request(32768);
    // Beyond the window only 3 of 18 layers grow.
    assert!((long - short) / (32768.0 - 512.0) < 0.2 * d.kv_bytes_per_token());
    assert!(d.max_concurrent_sequences(32768) > 100);
}

#[test]
fn activation_reserve_follows_the_token_budget() {
    let mut d = h100_8b();
    let big = d.activation_bytes();
    d.engine.max_num_batched_tokens = 2048;
    d.engine.max_num_seqs = 256;
    let small = d.activation_bytes();
    assert!(small < big);
    // T·(2D + (H+2K)d + Hd + 3I)·2 + R·V·8
    let expect = 2048.0 * (2.0 * 4096.0 + 48.0 * 128.0 + 32.0 * 128.0 + 3.0 * 14336.0) * 2.0 + 256.0 * 128256.0 * 8.0;
    assert!((small - expect).abs() < 1.0);
}
