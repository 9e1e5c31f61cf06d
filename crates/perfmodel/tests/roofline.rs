//! Roofline step model: calibration anchors, bounds, monotonicity, MoE,
//! sliding windows, TP, robustness.

use infermeter_perfmodel::{Bound, DType, Deployment, GpuSpec, ModelSpec, StepShape};

fn h100_8b() -> Deployment {
    Deployment::from_presets("llama-3.1-8b", "h100-sxm").unwrap()
}

fn within(actual: f64, expected: f64, tol: f64) -> bool {
    (actual / expected - 1.0).abs() <= tol
}

/// Research §9 V1: vLLM blog (2026-04-22), Llama-3.1-8B bf16 on one H100,
/// concurrency 1: ITL = 6.44 ms + 4.37e-5 ms × input_len. This line is in the
/// held-out split of the validation corpus (it no longer calibrates anything):
/// the fitted model is 15–17 % slow on it; ±20 %. The model's ITL is linear in
/// the context with slope = KV bytes per token / (BW·η_m).
#[test]
fn vllm_blog_h100_itl_line() {
    let d = h100_8b();
    for input in [1024u32, 16 * 1024, 64 * 1024] {
        let published = 6.44 + 4.37e-5 * f64::from(input);
        let ours = d.decode_time_s(1, input) * 1e3;
        assert!(within(ours, published, 0.20), "input {input}: {ours} vs {published}");
    }
    let slope = (d.decode_time_s(1, 65_536) - d.decode_time_s(1, 1024)) / 64_512.0;
    let want = 131_072.0 / (d.gpu.memory_bandwidth * d.efficiency.memory);
    assert!(within(slope, want, 1e-6), "{slope} vs {want}");
    // The step-time contract gives the same number.
    let t = d.step_time_s(&StepShape {
        prefill: &[],
        decode: &[16 * 1024],
    });
    assert_eq!(t, d.decode_time_s(1, 16 * 1024));
}

/// Research §9 V2: concurrency 8, ~20k input, median ITL 15.18 ms (held-out
/// split); the decode step alone is within ±20 % of it.
#[test]
fn vllm_blog_h100_concurrency_8_long_context() {
    let d = h100_8b();
    let ours = d.decode_time_s(8, 21_000) * 1e3;
    assert!(within(ours, 15.18, 0.20), "{ours}");
}

/// Research §9 V4: A100-40GB, 1024 in / 128 out at concurrency 1 ≈ 75 output
/// tokens/s (vLLM 0.23, johnmusgrave.com). ±20 %.
#[test]
fn a100_concurrency_1_throughput() {
    let d = Deployment::from_presets("llama-3.1-8b", "a100-40gb").unwrap();
    let ttft = d.prefill_time_s(1024);
    let tpot = d.decode_time_s(1, 1024 + 64);
    let tps = 128.0 / (ttft + 127.0 * tpot);
    assert!(within(tps, 75.0, 0.20), "{tps}");
}

/// Research §8.5: 1,024-token prefill of Llama-3.1-8B ≈ 1.43e13 linear +
/// 2.7e11 causal attention + 1.05e9 logit FLOPs ⇒ 1.43e13 / (989.4e12 × η_c
/// 0.403) ≈ 36 ms, plus attention and host time.
#[test]
fn prefill_flops_and_time() {
    let d = h100_8b();
    let p = d.prefill_breakdown(1024);
    assert_eq!(p.steps, 1);
    assert!(within(p.gemm_flops, 1.43e13 + 1.05e9, 0.01), "{}", p.gemm_flops);
    assert!(within(p.attention_flops, 2.75e11, 0.01), "{}", p.attention_flops);
    let ms = p.total_s * 1e3;
    let gemm_ms = p.gemm_flops / (989.4e12 * d.efficiency.compute) * 1e3;
    assert!(within(p.gemm_compute_s * 1e3, gemm_ms, 1e-9));
    assert!((36.0..40.0).contains(&ms), "{ms}");
    assert_eq!(d.prefill_time_s(1024), p.total_s);
    assert_eq!(d.prefill_time_s(0), 0.0);
}

#[test]
fn long_prompts_are_chunked_by_the_token_budget() {
    let d = h100_8b();
    assert_eq!(d.engine.max_num_batched_tokens, 8192);
    let p = d.prefill_breakdown(20_000);
    assert_eq!(p.steps, 3);
    assert_eq!(p.tokens, 20_000);
    // Chunking never makes the attention work smaller than one causal pass.
    let n = 20_000.0f64;
    let causal = 4.0 * 128.0 * 32.0 * 32.0 * n * (n + 1.0) / 2.0;
    assert!(within(p.attention_flops, causal, 1e-9));
}

#[test]
fn batch_one_decode_is_memory_bound_on_every_gpu() {
    for g in GpuSpec::preset_names() {
        for m in ModelSpec::preset_names() {
            let d = Deployment::from_presets(m, g).unwrap();
            let b = d.decode_breakdown(1, 1024);
            assert_eq!(b.bound(), Bound::Memory, "{m} on {g}");
            assert!(b.arithmetic_intensity() < d.ridge_point(), "{m} on {g}");
            assert!(b.arithmetic_intensity() < 2.5, "{m} on {g}");
        }
    }
}

#[test]
fn large_prefill_is_compute_bound_on_h100() {
    let d = h100_8b();
    let shape = StepShape {
        prefill: &[(8192, 0)],
        decode: &[],
    };
    assert_eq!(d.bound(&shape), Bound::Compute);
    assert!(d.arithmetic_intensity(&shape) > d.ridge_point());
    assert_eq!(d.prefill_breakdown(8192).bound(), Bound::Compute);
}

#[test]
fn decode_gemm_saturates_near_the_effective_ridge() {
    let d = h100_8b();
    let ridge = d.effective_ridge_point();
    let want = 989.4e12 * d.efficiency.compute / (3.35e12 * d.efficiency.memory);
    assert!((ridge - want).abs() < 1e-9, "{ridge}");
    assert!((100.0..250.0).contains(&ridge), "{ridge}");
    let below = d.decode_breakdown(128, 16);
    let above = d.decode_breakdown(256, 16);
    assert!(below.gemm_compute_s < below.gemm_memory_s);
    assert!(above.gemm_compute_s > above.gemm_memory_s);
}

#[test]
fn step_time_is_monotone_in_batch_and_context() {
    for (m, g) in [
        ("llama-3.1-8b", "h100-sxm"),
        ("mixtral-8x7b", "h200"),
        ("gemma-3-270m", "l4"),
        ("qwen2.5-7b", "a10g"),
    ] {
        let d = Deployment::from_presets(m, g).unwrap();
        let mut prev = 0.0;
        for b in [1u32, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024] {
            let t = d.decode_time_s(b, 2048);
            assert!(t > prev, "{m}/{g}: batch {b}: {t} <= {prev}");
            prev = t;
        }
        let mut prev = 0.0;
        for c in [0u32, 1, 100, 511, 512, 513, 1000, 4096, 16384, 65536] {
            let t = d.decode_time_s(8, c);
            assert!(t >= prev, "{m}/{g}: ctx {c}: {t} < {prev}");
            prev = t;
        }
        // Adding a sequence to any step never makes it faster.
        let base = d.step_time_s(&StepShape {
            prefill: &[(512, 0)],
            decode: &[100, 2000],
        });
        let more = d.step_time_s(&StepShape {
            prefill: &[(512, 0)],
            decode: &[100, 2000, 50],
        });
        assert!(more > base);
    }
}

#[test]
fn mixed_steps_and_chunk_attention() {
    let d = h100_8b();
    let chunk = d.step_breakdown(&StepShape {
        prefill: &[(256, 1000)],
        decode: &[],
    });
    // Exact causal pairs: Σ_{p=1001}^{1256} p per layer per head.
    let pairs: f64 = (1001..=1256).map(f64::from).sum();
    assert!(within(chunk.attention_flops, 4.0 * 128.0 * 32.0 * 32.0 * pairs, 1e-12));
    // KV traffic: read 1000 cached + write 256 new, all layers.
    assert!(within(chunk.kv_bytes, 131072.0 * 1256.0, 1e-12));
    let mixed = d.step_breakdown(&StepShape {
        prefill: &[(256, 1000)],
        decode: &[500; 10],
    });
    assert_eq!(mixed.tokens, 266);
    assert_eq!(mixed.sequences, 11);
    assert!(mixed.total_s > chunk.total_s);
    // Zero-token prefill entries and empty steps cost nothing.
    let empty = d.step_breakdown(&StepShape {
        prefill: &[(0, 5)],
        decode: &[],
    });
    assert_eq!(empty.total_s, 0.0);
    assert_eq!(d.step_time_s(&StepShape::default()), 0.0);
    assert_eq!(d.decode_time_s(0, 100), 0.0);
}

#[test]
fn moe_touches_more_experts_as_the_batch_grows() {
    let d = Deployment::from_presets("mixtral-8x7b", "h200").unwrap();
    let one = d.decode_breakdown(1, 512);
    // bs=1: attention + 2 of 8 experts + lm_head ≈ 25.5 GB (research §6).
    assert!(within(one.weight_bytes, 25.5e9, 0.01), "{}", one.weight_bytes);
    let eight = d.decode_breakdown(8, 512);
    // E·(1−(1−k/E)^T) = 7.2 experts at T = 8.
    let layer_attn = 4096.0 * 128.0 * 48.0 + 32.0 * 128.0 * 4096.0;
    let expert = 3.0 * 4096.0 * 14336.0;
    let expected = 2.0 * 32.0 * (layer_attn + 7.2 * expert + 4096.0 * 8.0) + 2.0 * 4096.0 * 32000.0;
    assert!(within(eight.weight_bytes, expected, 0.005), "{}", eight.weight_bytes);
    let many = d.decode_breakdown(256, 512);
    assert!(within(many.weight_bytes, 93.4e9, 0.01), "{}", many.weight_bytes);
    // FLOPs follow top-2 only.
    let dense_like = Deployment::from_presets("mistral-7b", "h200").unwrap();
    let ratio = one.gemm_flops / dense_like.decode_breakdown(1, 512).gemm_flops;
    assert!((1.7..1.9).contains(&ratio), "{ratio}");
}

#[test]
fn sliding_window_caps_attention_work() {
    let d = Deployment::from_presets("gemma-3-270m", "h100-sxm").unwrap();
    let mut no_swa = d.clone();
    no_swa.model.sliding_window = None;
    let a = d.decode_breakdown(16, 30_000);
    let b = no_swa.decode_breakdown(16, 30_000);
    assert!(a.kv_bytes < 0.2 * b.kv_bytes);
    assert!(a.attention_flops < 0.2 * b.attention_flops);
    // Below the window they agree.
    let a = d.decode_breakdown(16, 100);
    let b = no_swa.decode_breakdown(16, 100);
    assert!(within(a.total_s, b.total_s, 1e-12));
    // A prefill chunk straddling the window: exact Σ min(p, 512).
    let s = d.step_breakdown(&StepShape {
        prefill: &[(1000, 200)],
        decode: &[],
    });
    let swa: f64 = (201..=1200).map(|p: u32| f64::from(p.min(512))).sum();
    let full: f64 = (201..=1200).map(f64::from).sum();
    let expect = 4.0 * 256.0 * 4.0 * (15.0 * swa + 3.0 * full);
    assert!(within(s.attention_flops, expect, 1e-12));
}

#[test]
fn fp8_and_int4_weights_speed_up_decode() {
    let d = h100_8b();
    let bf16 = d.decode_time_s(1, 1024);
    let fp8 = d.clone().with_weights_dtype(DType::Fp8).decode_time_s(1, 1024);
    let int4 = d.clone().with_weights_dtype(DType::Int4).decode_time_s(1, 1024);
    assert!(int4 < fp8 && fp8 < bf16);
    // FP8 GEMMs run at the FP8 rate (at the fitted fp8_compute share of η_c):
    // prefill gets faster too.
    let p16 = d.prefill_time_s(8192);
    let p8 = d.clone().with_weights_dtype(DType::Fp8).prefill_time_s(8192);
    assert!(p8 < 0.95 * p16, "{p8} vs {p16}");
    // A100 has no FP8 tensor cores: FP8 weights compute at the BF16 rate.
    let a = Deployment::from_presets("llama-3.1-8b", "a100-80gb")
        .unwrap()
        .with_weights_dtype(DType::Fp8);
    assert_eq!(a.gemm_peak_flops(), 312e12);
}

#[test]
fn tensor_parallel_adds_communication_but_cuts_weight_streaming() {
    let one = Deployment::from_presets("llama-3.1-70b", "h100-sxm").unwrap();
    let four = one.clone().with_tp(4).unwrap();
    let a = one.decode_breakdown(1, 1024);
    let b = four.decode_breakdown(1, 1024);
    assert_eq!(a.communication_s, 0.0);
    assert!(b.communication_s > 0.0);
    assert!(b.total_s < a.total_s);
    // ≈ 139 GB / 4 streamed per rank at η_m 0.75 × 3.35 TB/s ≈ 13.8 ms, plus
    // 2 × 80 all-reduces of 16.7 µs and host time.
    let ms = b.total_s * 1e3;
    assert!((16.0..20.0).contains(&ms), "{ms}");
}

#[test]
fn efficiency_knobs_are_honoured() {
    let d = h100_8b();
    let mut e = d.efficiency.clone();
    e.fixed_overhead_s = 0.0;
    e.per_seq_overhead_s = 0.0;
    e.memory = 1.0;
    let ideal = d.clone().with_efficiency(e.clone());
    // Pure weight streaming floor (research §5: 15.01 GB / 3.35 TB/s = 4.48 ms).
    let ms = ideal.decode_time_s(1, 0) * 1e3;
    assert!((4.48..4.50).contains(&ms), "{ms}");
    e.per_seq_overhead_s = 1e-4;
    let per_seq = d.clone().with_efficiency(e.clone());
    let diff = per_seq.decode_time_s(10, 0) - ideal.decode_time_s(10, 0);
    assert!((diff - 1e-3).abs() < 1e-9);
    e.gemm_half_saturation_tokens = 64.0;
    let slow = d.clone().with_efficiency(e);
    assert!(slow.prefill_time_s(1024) > per_seq.prefill_time_s(1024));
    assert!(d.efficiency.validate().is_ok());
    let mut bad = d.efficiency.clone();
    bad.compute = 1.5;
    assert!(bad.validate().is_err());
}

#[test]
fn broken_public_fields_do_not_panic() {
    let mut d = h100_8b();
    d.tp = 0;
    d.engine.max_num_batched_tokens = 0;
    d.engine.block_size = 0;
    let _ = d.step_time_s(&StepShape {
        prefill: &[(u32::MAX, u32::MAX)],
        decode: &[u32::MAX; 3],
    });
    let _ = d.prefill_time_s(10);
    let _ = d.decode_time_s(u32::MAX, u32::MAX);
    let _ = d.max_concurrent_sequences(0);
    let _ = d.num_kv_blocks();
    let _ = d.memory_breakdown(u64::MAX, u64::MAX);
    assert!(d.validate().is_err());
}
