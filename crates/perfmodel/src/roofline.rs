//! Roofline step-time model of one engine iteration (a vLLM-style step that
//! mixes prefill chunks and decodes), plus prefill/decode helpers, arithmetic
//! intensity and compute/memory-bound classification.
//!
//! Per step, per GPU (shapes divided by `tp`), following
//! `shared/research/anchors_sim.md` §8.2:
//!
//! ```text
//! F_gemm = 2·T·L·[D·d·(H+2K) + H·d·D + n_mat·D·I·k] + 2·N_logits·D·V
//! F_attn = 4·d·H·Σ_i [ L_full·Σ_p p + L_swa·Σ_p min(p, w) ]      (exact causal sums)
//! B_w    = b_w·L·[D·d·(H+2K) + H·d·D + n_mat·D·I·X] + 2·D·V       (X: experts touched)
//! B_act  = c_act·T·D·2·L
//! B_kv   = 2·K·d·b_kv·Σ_i [ L_full·(c_i+q_i) + L_swa·(min(c_i, w)+q_i) ]   (read past, write new)
//! t_gemm = max(F_gemm/(P_w·η_c), (B_w+B_act)/(BW·η_m))
//! t_attn = max(F_attn/(P·η_a),   B_kv/(BW·η_m))
//! t_comm = (tp>1)·2·L·[α + 2·(tp−1)/tp · T·D·2 / (link·η_link)]
//! t_step = t_fixed + t_per_seq·|S| + t_gemm + t_attn + t_comm
//! ```
//!
//! `T` = tokens computed this step, `N_logits` = scheduled sequences (vLLM
//! computes one logit row per scheduled request), `X = E·(1 − (1 − k/E)^T)`
//! is the expected number of distinct experts `T` uniformly routed tokens
//! touch, `P_w` is the tensor rate of the weight format (FP8 → FP8 rate,
//! INT8 → INT8 rate when the GPU has one, INT4 → BF16 since AWQ/GPTQ kernels
//! dequantise), and attention always runs at the BF16 rate. GEMMs and
//! attention run one after the other inside a layer, so their rooflines add.

use serde::{Deserialize, Serialize};

use crate::deployment::{Deployment, ACTIVATION_BYTES};
use crate::dtype::DType;

/// One engine iteration: the sequences and how many tokens each computes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StepShape<'a> {
    /// Prefill work: (new tokens computed this step, tokens already in the KV cache before them).
    pub prefill: &'a [(u32, u32)],
    /// Decode work: context length (tokens already in the KV cache) of each decoding sequence; each computes 1 token.
    pub decode: &'a [u32],
}

/// Which resource limits a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Bound {
    /// Tensor-core throughput.
    Compute,
    /// Memory bandwidth.
    Memory,
}

impl std::fmt::Display for Bound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Bound::Compute => "compute",
            Bound::Memory => "memory",
        })
    }
}

/// Work and time of one step (or, for [`Deployment::prefill_breakdown`], of
/// several steps added up).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct StepBreakdown {
    /// Engine steps added up here (1 for a single step).
    pub steps: u32,
    /// Tokens computed.
    pub tokens: u64,
    /// Sequences scheduled (summed over steps).
    pub sequences: u64,
    /// Linear-layer FLOPs per GPU (incl. lm_head).
    pub gemm_flops: f64,
    /// Attention FLOPs per GPU (QKᵀ and AV, causal).
    pub attention_flops: f64,
    /// Weight bytes streamed per GPU.
    pub weight_bytes: f64,
    /// Activation bytes moved per GPU.
    pub activation_bytes: f64,
    /// KV bytes read and written per GPU.
    pub kv_bytes: f64,
    /// `F_gemm / (P_w·η_c)`.
    pub gemm_compute_s: f64,
    /// `(B_w + B_act) / (BW·η_m)`.
    pub gemm_memory_s: f64,
    /// `F_attn / (P·η_a)`.
    pub attention_compute_s: f64,
    /// `B_kv / (BW·η_m)`.
    pub attention_memory_s: f64,
    /// Tensor-parallel all-reduce time.
    pub communication_s: f64,
    /// Fixed + per-sequence overhead.
    pub overhead_s: f64,
    /// Time of the compute-limited roofline terms (those where compute won the max).
    pub compute_bound_s: f64,
    /// Time of the memory-limited roofline terms.
    pub memory_bound_s: f64,
    /// Step time, seconds.
    pub total_s: f64,
}

impl StepBreakdown {
    /// All FLOPs.
    pub fn flops(&self) -> f64 {
        self.gemm_flops + self.attention_flops
    }

    /// All bytes moved.
    pub fn bytes(&self) -> f64 {
        self.weight_bytes + self.activation_bytes + self.kv_bytes
    }

    /// Arithmetic intensity, FLOP per byte.
    pub fn arithmetic_intensity(&self) -> f64 {
        let b = self.bytes();
        if b > 0.0 {
            self.flops() / b
        } else {
            0.0
        }
    }

    /// Compute-bound when the compute-limited terms take longer than the
    /// memory-limited ones (ties count as memory).
    pub fn bound(&self) -> Bound {
        if self.compute_bound_s > self.memory_bound_s {
            Bound::Compute
        } else {
            Bound::Memory
        }
    }

    fn add(&mut self, o: &StepBreakdown) {
        self.steps += o.steps;
        self.tokens += o.tokens;
        self.sequences += o.sequences;
        self.gemm_flops += o.gemm_flops;
        self.attention_flops += o.attention_flops;
        self.weight_bytes += o.weight_bytes;
        self.activation_bytes += o.activation_bytes;
        self.kv_bytes += o.kv_bytes;
        self.gemm_compute_s += o.gemm_compute_s;
        self.gemm_memory_s += o.gemm_memory_s;
        self.attention_compute_s += o.attention_compute_s;
        self.attention_memory_s += o.attention_memory_s;
        self.communication_s += o.communication_s;
        self.overhead_s += o.overhead_s;
        self.compute_bound_s += o.compute_bound_s;
        self.memory_bound_s += o.memory_bound_s;
        self.total_s += o.total_s;
    }
}

/// Σ_{p=c0+1}^{c0+q} p: keys each causal query of a chunk attends to.
fn causal_sum(c0: f64, q: f64) -> f64 {
    q * c0 + q * (q + 1.0) / 2.0
}

/// Σ_{p=c0+1}^{c0+q} min(p, w): the same with a sliding window.
fn window_sum(c0: f64, q: f64, w: f64) -> f64 {
    let a = c0 + 1.0;
    let b = c0 + q;
    if b <= w {
        causal_sum(c0, q)
    } else if a > w {
        q * w
    } else {
        (a + w) * (w - a + 1.0) / 2.0 + (b - w) * w
    }
}

/// Accumulated work of the sequences in a step (per head, summed over layers).
struct Work {
    l_full: f64,
    l_swa: f64,
    window: f64,
    tokens: f64,
    seqs: f64,
    prefill_seqs: f64,
    attn_pairs: f64,
    kv_layer_tokens: f64,
}

impl Work {
    /// Adds `mult` sequences each computing `q` tokens after `c0` cached ones.
    fn add(&mut self, q: f64, c0: f64, mult: f64) {
        if q <= 0.0 || mult <= 0.0 {
            return;
        }
        self.tokens += q * mult;
        self.seqs += mult;
        self.attn_pairs += mult * self.l_full * causal_sum(c0, q);
        self.kv_layer_tokens += mult * self.l_full * (c0 + q);
        if self.l_swa > 0.0 {
            self.attn_pairs += mult * self.l_swa * window_sum(c0, q, self.window);
            self.kv_layer_tokens += mult * self.l_swa * (c0.min(self.window) + q);
        }
    }
}

impl Deployment {
    /// Peak tensor rate the linear layers run at, given the weight format.
    pub fn gemm_peak_flops(&self) -> f64 {
        let g = &self.gpu;
        match self.weights_dtype {
            DType::Fp8 => g.fp8_flops.unwrap_or(g.bf16_flops),
            DType::Int8 => g.int8_ops.unwrap_or(g.bf16_flops),
            DType::Bf16 | DType::Fp16 | DType::Int4 => g.bf16_flops,
        }
    }

    /// Whether the linear layers run at an 8-bit tensor rate (FP8 or INT8
    /// weights on a GPU that has it); weight-only 8-bit kernels (A100 FP8)
    /// dequantise to 16 bits.
    fn gemm_is_8bit(&self) -> bool {
        let g = &self.gpu;
        match self.weights_dtype {
            DType::Fp8 => g.fp8_flops.is_some(),
            DType::Int8 => g.int8_ops.is_some(),
            _ => false,
        }
    }

    /// Peak rate attention runs at: FP8 when the KV cache is FP8 on a GPU with
    /// FP8 tensor cores (vLLM's FP8 KV path runs QKᵀ and AV in FP8), else BF16.
    pub fn attention_peak_flops(&self) -> f64 {
        match (self.kv_dtype, self.gpu.fp8_flops) {
            (DType::Fp8, Some(f)) => f,
            _ => self.gpu.bf16_flops,
        }
    }

    /// Nominal ridge point of the GPU: peak BF16 FLOP/s ÷ bandwidth (FLOP/B).
    pub fn ridge_point(&self) -> f64 {
        self.gpu.ridge_point()
    }

    /// Ridge point with the efficiencies applied:
    /// `P_w·η_c / (BW·η_m)`; decode GEMMs become compute-bound at about this
    /// many tokens per step (bf16).
    pub fn effective_ridge_point(&self) -> f64 {
        self.gemm_peak_flops() * self.efficiency.compute / (self.gpu.memory_bandwidth * self.efficiency.memory)
    }

    /// Full breakdown of one step. An empty step costs nothing.
    pub fn step_breakdown(&self, s: &StepShape) -> StepBreakdown {
        let mut w = self.work();
        for &(q, c0) in s.prefill {
            w.add(f64::from(q), f64::from(c0), 1.0);
            if q > 0 {
                w.prefill_seqs += 1.0;
            }
        }
        for &c0 in s.decode {
            w.add(1.0, f64::from(c0), 1.0);
        }
        self.finish(&w)
    }

    fn work(&self) -> Work {
        let m = &self.model;
        let l_swa = f64::from(m.num_sliding_layers());
        Work {
            l_full: f64::from(m.num_layers) - l_swa,
            l_swa,
            window: m.sliding_window.map(f64::from).unwrap_or(f64::INFINITY),
            tokens: 0.0,
            seqs: 0.0,
            prefill_seqs: 0.0,
            attn_pairs: 0.0,
            kv_layer_tokens: 0.0,
        }
    }

    fn finish(&self, w: &Work) -> StepBreakdown {
        let m = &self.model;
        let e = &self.efficiency;
        let tp = self.tp_f();
        let l = f64::from(m.num_layers);
        let d_model = f64::from(m.hidden_size);
        let hd = f64::from(m.head_dim);
        let h_r = self.heads_per_rank();
        let k_r = self.kv_heads_per_rank();
        let v_r = f64::from(m.vocab_size) / tp;
        let n_mat = if m.gated_mlp { 3.0 } else { 2.0 };
        let tokens = w.tokens;
        let seqs = w.seqs as u64;
        let attn_pairs = w.attn_pairs;
        let kv_layer_tokens = w.kv_layer_tokens;
        if seqs == 0 {
            return StepBreakdown::default();
        }
        let logits = seqs as f64;

        // Linear layers.
        let attn_linear = d_model * hd * (h_r + 2.0 * k_r) + h_r * hd * d_model;
        let mut moe_flop_params = 0.0;
        let (mlp_flop_params, mlp_touched_params) = match &m.moe {
            None => {
                let p = n_mat * d_model * f64::from(m.intermediate_size) / tp;
                (p, p)
            }
            Some(moe) => {
                let n_e = f64::from(moe.num_experts);
                let k = f64::from(moe.top_k);
                let expert = n_mat * d_model * f64::from(moe.expert_intermediate_size) / tp;
                let shared_i = f64::from(moe.shared_expert_intermediate_size);
                let shared = if shared_i > 0.0 {
                    n_mat * d_model * shared_i / tp + d_model
                } else {
                    0.0
                };
                let router = d_model * n_e;
                let touched = n_e * (1.0 - (1.0 - k / n_e).powf(tokens));
                moe_flop_params = k * expert;
                (k * expert + router + shared, touched * expert + router + shared)
            }
        };
        let gemm_flops = 2.0 * tokens * l * (attn_linear + mlp_flop_params) + 2.0 * logits * d_model * v_r;
        let small = m.small_params_per_layer() as f64 * l * 2.0; // norms/biases, replicated
        let weight_bytes =
            self.weights_dtype.bytes() * l * (attn_linear + mlp_touched_params) + 2.0 * d_model * v_r + small;
        let activation_bytes = e.activation_traffic * tokens * d_model * ACTIVATION_BYTES * l;

        // Attention.
        let attention_flops = 4.0 * hd * h_r * attn_pairs;
        let kv_bytes = 2.0 * k_r * hd * self.kv_dtype.bytes() * kv_layer_tokens;

        let bw = self.gpu.memory_bandwidth * e.memory;
        let eta_c = if e.gemm_half_saturation_tokens > 0.0 {
            e.compute * tokens / (tokens + e.gemm_half_saturation_tokens)
        } else {
            e.compute
        };
        let eta_c = if self.gemm_is_8bit() {
            eta_c * e.fp8_compute
        } else {
            eta_c
        };
        // Expert GEMMs run at `moe_compute` of the dense efficiency.
        let moe_flops = 2.0 * tokens * l * moe_flop_params;
        let gemm_compute_s = (gemm_flops - moe_flops) / (self.gemm_peak_flops() * eta_c)
            + moe_flops / (self.gemm_peak_flops() * eta_c * e.moe_compute);
        let gemm_memory_s = (weight_bytes + activation_bytes) / bw;
        let attention_compute_s = attention_flops / (self.attention_peak_flops() * e.attention);
        let attention_memory_s = kv_bytes / bw;

        let communication_s = if self.tp > 1 {
            let link = self.gpu.interconnect_bandwidth * e.interconnect;
            2.0 * l * (e.allreduce_latency_s + 2.0 * (tp - 1.0) / tp * tokens * d_model * ACTIVATION_BYTES / link)
        } else {
            0.0
        };
        let moe_layers = if m.moe.is_some() { l } else { 0.0 };
        let overhead_s = e.fixed_overhead_s
            + e.per_seq_overhead_s * seqs as f64
            + e.per_prefill_seq_overhead_s * w.prefill_seqs
            + e.moe_layer_overhead_s * moe_layers;

        let mut compute_bound_s = 0.0;
        let mut memory_bound_s = 0.0;
        for (c, mem) in [
            (gemm_compute_s, gemm_memory_s),
            (attention_compute_s, attention_memory_s),
        ] {
            if c > mem {
                compute_bound_s += c;
            } else {
                memory_bound_s += mem;
            }
        }
        let total_s = overhead_s + compute_bound_s + memory_bound_s + communication_s;

        StepBreakdown {
            steps: 1,
            tokens: tokens as u64,
            sequences: seqs,
            gemm_flops,
            attention_flops,
            weight_bytes,
            activation_bytes,
            kv_bytes,
            gemm_compute_s,
            gemm_memory_s,
            attention_compute_s,
            attention_memory_s,
            communication_s,
            overhead_s,
            compute_bound_s,
            memory_bound_s,
            total_s,
        }
    }

    /// Time of one engine iteration, seconds.
    pub fn step_time_s(&self, s: &StepShape) -> f64 {
        self.step_breakdown(s).total_s
    }

    /// A lone prompt of `prompt_len` tokens prefilled from an empty cache, in
    /// chunks of `engine.max_num_batched_tokens` (vLLM chunked prefill), steps
    /// added up. This is TTFT on an otherwise idle engine.
    pub fn prefill_breakdown(&self, prompt_len: u32) -> StepBreakdown {
        let chunk = self.engine.max_num_batched_tokens.max(1);
        let mut total = StepBreakdown::default();
        let mut done = 0u32;
        while done < prompt_len {
            let q = chunk.min(prompt_len - done);
            let step = [(q, done)];
            total.add(&self.step_breakdown(&StepShape {
                prefill: &step,
                decode: &[],
            }));
            done += q;
        }
        total
    }

    /// Seconds to prefill a lone prompt (see [`Deployment::prefill_breakdown`]).
    pub fn prefill_time_s(&self, prompt_len: u32) -> f64 {
        self.prefill_breakdown(prompt_len).total_s
    }

    /// One decode step of `batch` sequences each with `context` tokens cached.
    pub fn decode_breakdown(&self, batch: u32, context: u32) -> StepBreakdown {
        let mut w = self.work();
        w.add(1.0, f64::from(context), f64::from(batch));
        self.finish(&w)
    }

    /// Seconds per decode step (= inter-token latency of every sequence) for
    /// `batch` sequences at `context` cached tokens.
    pub fn decode_time_s(&self, batch: u32, context: u32) -> f64 {
        self.decode_breakdown(batch, context).total_s
    }

    /// Arithmetic intensity (FLOP/B) of a step.
    pub fn arithmetic_intensity(&self, s: &StepShape) -> f64 {
        self.step_breakdown(s).arithmetic_intensity()
    }

    /// Whether a step is compute- or memory-bound.
    pub fn bound(&self, s: &StepShape) -> Bound {
        self.step_breakdown(s).bound()
    }
}

#[cfg(test)]
mod tests {
    use super::{causal_sum, window_sum};

    fn brute(c0: u32, q: u32, w: u32) -> f64 {
        (c0 + 1..=c0 + q).map(|p| f64::from(p.min(w))).sum()
    }

    #[test]
    fn closed_form_sums_match_brute_force() {
        for c0 in [0u32, 1, 5, 100, 511, 512, 513, 2000] {
            for q in [1u32, 2, 7, 100, 512, 1000] {
                let full: f64 = (c0 + 1..=c0 + q).map(f64::from).sum();
                assert_eq!(causal_sum(f64::from(c0), f64::from(q)), full);
                for w in [1u32, 16, 512, 4096] {
                    assert_eq!(
                        window_sum(f64::from(c0), f64::from(q), f64::from(w)),
                        brute(c0, q, w),
                        "c0 {c0} q {q} w {w}"
                    );
                }
                assert_eq!(window_sum(f64::from(c0), f64::from(q), f64::INFINITY), full);
            }
        }
    }
}
