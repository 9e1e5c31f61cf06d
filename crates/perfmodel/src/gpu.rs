//! Accelerator presets: peak tensor throughput, memory bandwidth and capacity,
//! TP interconnect bandwidth, a default rental price and a default effective
//! memory-bandwidth efficiency.
//!
//! These are the hardware half of every estimate in this crate. Numbers are
//! dense (no 2:4 sparsity) datasheet peaks, gathered in the project research
//! (`shared/research/anchors_sim.md` §5). Memory capacity is the nominal "GB"
//! figure read as GiB (NVIDIA's 80 GB parts expose ≈79.6 GiB to CUDA), the
//! same unit the seed's `find_optimal_batch_size` uses. Prices are volatile
//! aggregator snapshots (2025-12 … 2026-06) and only defaults: every field is
//! public and editable, and a plan can override the price.

use serde::{Deserialize, Serialize};

use crate::error::{join_names, normalize_name, Error, Result};

const GIB: u64 = 1 << 30;

/// One accelerator (one TP rank).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GpuSpec {
    /// Preset name (lowercase-dash) or a user label.
    pub name: String,
    /// Human description, e.g. "NVIDIA H100 SXM5 80GB".
    pub description: String,
    /// Dense BF16/FP16 tensor throughput, FLOP/s.
    pub bf16_flops: f64,
    /// Dense FP8 tensor throughput, FLOP/s (`None` where there is no FP8 tensor core).
    pub fp8_flops: Option<f64>,
    /// Dense INT8 tensor throughput, OP/s (`None` where not relevant).
    pub int8_ops: Option<f64>,
    /// Peak device-memory bandwidth, bytes/s.
    pub memory_bandwidth: f64,
    /// Device memory, bytes.
    pub memory_bytes: u64,
    /// Per-GPU, per-direction bandwidth of the link used for tensor-parallel
    /// all-reduce (NVLink / Infinity Fabric / PCIe), bytes/s.
    pub interconnect_bandwidth: f64,
    /// Default rental price, US$ per GPU-hour.
    pub cost_per_hour: f64,
    /// Achieved fraction of `memory_bandwidth` for weight/KV streaming (η_m).
    /// Presets take it from the calibration table ([`crate::calibration`]).
    pub memory_efficiency: f64,
    /// Achieved fraction of the peak tensor rate in the linear layers (η_c).
    #[serde(default = "default_compute_efficiency")]
    pub compute_efficiency: f64,
    /// Achieved fraction of the peak BF16 rate in attention (η_a).
    #[serde(default = "default_attention_efficiency")]
    pub attention_efficiency: f64,
    /// Latency of one tensor-parallel all-reduce on this GPU's interconnect
    /// (α), seconds.
    #[serde(default = "default_allreduce_latency_s")]
    pub allreduce_latency_s: f64,
}

fn default_compute_efficiency() -> f64 {
    0.6
}
fn default_attention_efficiency() -> f64 {
    0.5
}
fn default_allreduce_latency_s() -> f64 {
    10e-6
}

impl GpuSpec {
    /// Names of the built-in presets, in display order.
    pub const PRESET_NAMES: [&'static str; 11] = [
        "h100-sxm",
        "h100-pcie",
        "h200",
        "a100-40gb",
        "a100-80gb",
        "l4",
        "l40s",
        "a10g",
        "mi300x",
        "rtx-4090",
        "rtx-pro-6000",
    ];

    /// Names of the built-in presets.
    pub fn preset_names() -> &'static [&'static str] {
        &Self::PRESET_NAMES
    }

    /// All built-in presets.
    pub fn presets() -> Vec<GpuSpec> {
        Self::PRESET_NAMES.iter().filter_map(|n| Self::preset(n).ok()).collect()
    }

    /// Looks a preset up by name (case-insensitive; `_` and `-` are the same).
    /// Unknown names give an error listing the valid ones.
    pub fn preset(name: &str) -> Result<GpuSpec> {
        let key = normalize_name(name);
        let mut g = match key.as_str() {
            // NVIDIA H100 datasheet (SXM5): BF16 989.4 TF dense (1978.9 sparse),
            // FP8/INT8 1978.9 dense, 3.35 TB/s HBM3, 80 GB; NVLink 4 900 GB/s
            // bidirectional = 450 GB/s per direction. Price: Lambda on-demand
            // $3.78/h (techbytes.app, May 2026). Efficiencies: the
            // calibration table (`crate::calibration`).
            "h100-sxm" | "h100" | "h100-sxm5" => GpuSpec {
                name: "h100-sxm".into(),
                description: "NVIDIA H100 SXM5 80GB (HBM3)".into(),
                bf16_flops: 989.4e12,
                fp8_flops: Some(1978.9e12),
                int8_ops: Some(1978.9e12),
                memory_bandwidth: 3.35e12,
                memory_bytes: 80 * GIB,
                interconnect_bandwidth: 450e9,
                cost_per_hour: 3.78,
                memory_efficiency: 0.895,
                compute_efficiency: 0.6,
                attention_efficiency: 0.5,
                allreduce_latency_s: 10e-6,
            },
            // NVIDIA H100 PCIe datasheet: BF16 756 TF dense (1513 sparse), FP8/INT8
            // 1513 dense, 2.0 TB/s HBM2e, 80 GB; PCIe Gen5 x16 64 GB/s per direction
            // (NVLink bridge not assumed). Price: Lambda $2.86/h.
            "h100-pcie" => GpuSpec {
                name: "h100-pcie".into(),
                description: "NVIDIA H100 PCIe 80GB (HBM2e)".into(),
                bf16_flops: 756.0e12,
                fp8_flops: Some(1513.0e12),
                int8_ops: Some(1513.0e12),
                memory_bandwidth: 2.0e12,
                memory_bytes: 80 * GIB,
                interconnect_bandwidth: 64e9,
                cost_per_hour: 2.86,
                memory_efficiency: 0.895,
                compute_efficiency: 0.6,
                attention_efficiency: 0.5,
                allreduce_latency_s: 10e-6,
            },
            // NVIDIA H200 SXM: same die as H100 SXM (989.4 TF BF16, 1978.9 FP8),
            // 4.8 TB/s HBM3e, 141 GB; NVLink 4 450 GB/s per direction. Price: RunPod
            // on-demand $6.35/h (deploybase.ai, Mar 2026).
            "h200" | "h200-sxm" => GpuSpec {
                name: "h200".into(),
                description: "NVIDIA H200 SXM 141GB (HBM3e)".into(),
                bf16_flops: 989.4e12,
                fp8_flops: Some(1978.9e12),
                int8_ops: Some(1978.9e12),
                memory_bandwidth: 4.8e12,
                memory_bytes: 141 * GIB,
                interconnect_bandwidth: 450e9,
                cost_per_hour: 6.35,
                memory_efficiency: 0.895,
                compute_efficiency: 0.6,
                attention_efficiency: 0.5,
                allreduce_latency_s: 10e-6,
            },
            // NVIDIA A100 SXM 40GB: BF16 312 TF dense, INT8 624 TOPS dense, no FP8;
            // 1,555 GB/s HBM2; NVLink 3 600 GB/s bidirectional = 300 per direction.
            // Price: Lambda $1.48/h.
            "a100-40gb" | "a100-sxm-40gb" | "a100-40g" => GpuSpec {
                name: "a100-40gb".into(),
                description: "NVIDIA A100 SXM 40GB (HBM2)".into(),
                bf16_flops: 312e12,
                fp8_flops: None,
                int8_ops: Some(624e12),
                memory_bandwidth: 1.555e12,
                memory_bytes: 40 * GIB,
                interconnect_bandwidth: 300e9,
                cost_per_hour: 1.48,
                memory_efficiency: 0.86,
                compute_efficiency: 0.6,
                attention_efficiency: 0.5,
                allreduce_latency_s: 10e-6,
            },
            // NVIDIA A100 SXM 80GB: 312 TF BF16, 624 TOPS INT8, 2,039 GB/s HBM2e,
            // NVLink 3 300 GB/s per direction. Price: RunPod SXM on-demand $2.45/h
            // (deploybase.ai).
            "a100-80gb" | "a100" | "a100-sxm-80gb" | "a100-80g" => GpuSpec {
                name: "a100-80gb".into(),
                description: "NVIDIA A100 SXM 80GB (HBM2e)".into(),
                bf16_flops: 312e12,
                fp8_flops: None,
                int8_ops: Some(624e12),
                memory_bandwidth: 2.039e12,
                memory_bytes: 80 * GIB,
                interconnect_bandwidth: 300e9,
                cost_per_hour: 2.45,
                memory_efficiency: 0.86,
                compute_efficiency: 0.6,
                attention_efficiency: 0.5,
                allreduce_latency_s: 10e-6,
            },
            // NVIDIA L4 datasheet: BF16 121 TF dense (242 sparse), FP8/INT8 242.5
            // dense (485 sparse), 300 GB/s GDDR6, 24 GB; PCIe Gen4 x16 32 GB/s per
            // direction. Price: RunPod on-demand $0.78/h.
            "l4" => GpuSpec {
                name: "l4".into(),
                description: "NVIDIA L4 24GB (GDDR6)".into(),
                bf16_flops: 121e12,
                fp8_flops: Some(242.5e12),
                int8_ops: Some(242.5e12),
                memory_bandwidth: 300e9,
                memory_bytes: 24 * GIB,
                interconnect_bandwidth: 32e9,
                cost_per_hour: 0.78,
                memory_efficiency: 0.85,
                compute_efficiency: 0.6,
                attention_efficiency: 0.5,
                allreduce_latency_s: 10e-6,
            },
            // NVIDIA L40S datasheet: BF16 362.05 TF dense (733 sparse), FP8/INT8 733
            // dense, 864 GB/s GDDR6, 48 GB; PCIe Gen4 x16 32 GB/s. Price: RunPod
            // on-demand $1.40/h.
            "l40s" => GpuSpec {
                name: "l40s".into(),
                description: "NVIDIA L40S 48GB (GDDR6)".into(),
                bf16_flops: 362.05e12,
                fp8_flops: Some(733e12),
                int8_ops: Some(733e12),
                memory_bandwidth: 864e9,
                memory_bytes: 48 * GIB,
                interconnect_bandwidth: 32e9,
                cost_per_hour: 1.40,
                memory_efficiency: 0.85,
                compute_efficiency: 0.6,
                attention_efficiency: 0.5,
                allreduce_latency_s: 10e-6,
            },
            // AWS A10G: 24 GB GDDR6, 600 GB/s (same memory as A10, Baseten); dense
            // tensor BF16 ≈70 TF from llm-analysis `a10g-pcie-24gb.json` (not published
            // by AWS/NVIDIA; the A10 is 125) — unverified; INT8 assumed 2×. PCIe Gen4.
            // Price: AWS g5.xlarge on-demand $1.006/h (us-east-1).
            "a10g" => GpuSpec {
                name: "a10g".into(),
                description: "NVIDIA A10G 24GB (GDDR6, AWS g5)".into(),
                bf16_flops: 70e12,
                fp8_flops: None,
                int8_ops: Some(140e12),
                memory_bandwidth: 600e9,
                memory_bytes: 24 * GIB,
                interconnect_bandwidth: 32e9,
                cost_per_hour: 1.006,
                memory_efficiency: 0.85,
                compute_efficiency: 0.6,
                attention_efficiency: 0.5,
                allreduce_latency_s: 10e-6,
            },
            // AMD Instinct MI300X: BF16 1,307.4 TF dense, FP8/INT8 2,614.9 dense,
            // 5.3 TB/s HBM3, 192 GB (GenZ system_configs, AMD datasheet); Infinity
            // Fabric 7 links × 64 GB/s = 448 GB/s per direction. Price: Vultr $1.85/h
            // (gpu.blog).
            "mi300x" => GpuSpec {
                name: "mi300x".into(),
                description: "AMD Instinct MI300X 192GB (HBM3)".into(),
                bf16_flops: 1307.4e12,
                fp8_flops: Some(2614.9e12),
                int8_ops: Some(2614.9e12),
                memory_bandwidth: 5.3e12,
                memory_bytes: 192 * GIB,
                interconnect_bandwidth: 448e9,
                cost_per_hour: 1.85,
                memory_efficiency: 0.80,
                compute_efficiency: 0.6,
                attention_efficiency: 0.5,
                allreduce_latency_s: 10e-6,
            },
            // NVIDIA RTX 4090: BF16/FP16 tensor 165.2 TF dense with FP32 accumulate
            // (330.3 sparse), FP8 330.3 (FP32 accumulate), INT8 660.6 TOPS dense;
            // 1,008 GB/s GDDR6X, 24 GB; PCIe Gen4 x16 without P2P. Price: RunPod
            // on-demand $0.60/h. CUDA reports
            // 25,250,627,584 B of the nominal 24 GiB (LLMServingSim trace).
            "rtx-4090" | "4090" | "rtx4090" => GpuSpec {
                name: "rtx-4090".into(),
                description: "NVIDIA GeForce RTX 4090 24GB (GDDR6X)".into(),
                bf16_flops: 165.2e12,
                fp8_flops: Some(330.3e12),
                int8_ops: Some(660.6e12),
                memory_bandwidth: 1.008e12,
                memory_bytes: 24 * GIB,
                interconnect_bandwidth: 32e9,
                cost_per_hour: 0.60,
                memory_efficiency: 0.87,
                compute_efficiency: 0.6,
                attention_efficiency: 0.5,
                allreduce_latency_s: 10e-6,
            },
            // NVIDIA RTX PRO 6000 Blackwell (GB202, 188 SMs): 96 GB GDDR7 on a 512-bit
            // bus, 1,792 GB/s (VideoCardz via gpu.name; Tom's Hardware); "4000 AI TOPS"
            // is FP4 with sparsity, so dense FP4 2000, FP8/INT8 1000 and BF16 500 TF
            // (Blackwell halves the rate per doubling of width; derived, not a datasheet
            // line); PCIe Gen5 x16, 64 GB/s per direction, no NVLink. Price: RunPod
            // on-demand $1.57/h (deploybase.ai, Mar 2026).
            "rtx-pro-6000" | "rtx-pro-6000-blackwell" | "rtxpro6000" => GpuSpec {
                name: "rtx-pro-6000".into(),
                description: "NVIDIA RTX PRO 6000 Blackwell 96GB (GDDR7)".into(),
                bf16_flops: 500e12,
                fp8_flops: Some(1000e12),
                int8_ops: Some(1000e12),
                memory_bandwidth: 1.792e12,
                memory_bytes: 96 * GIB,
                interconnect_bandwidth: 64e9,
                cost_per_hour: 1.57,
                memory_efficiency: 0.85,
                compute_efficiency: 0.6,
                attention_efficiency: 0.5,
                allreduce_latency_s: 10e-6,
            },
            _ => {
                return Err(Error::UnknownPreset {
                    kind: "GPU",
                    name: name.to_string(),
                    valid: join_names(&Self::PRESET_NAMES),
                })
            }
        };
        crate::calibration::apply(&mut g);
        Ok(g)
    }

    /// A user-described accelerator: dense BF16 TFLOP/s, bandwidth in GB/s
    /// (1e9 B/s) and memory in GB (read as GiB, like the presets). No FP8/INT8
    /// rate, PCIe-class interconnect (32 GB/s) with the fitted PCIe all-reduce
    /// latency, price 0 (set it), and the H100 SXM efficiencies of the
    /// calibration table.
    pub fn custom(name: &str, bf16_tflops: f64, bandwidth_gbs: f64, memory_gb: f64) -> GpuSpec {
        const H100: crate::calibration::GpuCalibration = crate::calibration::TABLE[0];
        const PCIE: crate::calibration::GpuCalibration = crate::calibration::TABLE[1];
        GpuSpec {
            name: name.to_string(),
            description: format!("custom: {bf16_tflops} TFLOP/s, {bandwidth_gbs} GB/s, {memory_gb} GB"),
            bf16_flops: bf16_tflops * 1e12,
            fp8_flops: None,
            int8_ops: None,
            memory_bandwidth: bandwidth_gbs * 1e9,
            memory_bytes: gb_to_bytes(memory_gb),
            interconnect_bandwidth: 32e9,
            cost_per_hour: 0.0,
            memory_efficiency: H100.memory,
            compute_efficiency: H100.compute,
            attention_efficiency: H100.attention,
            allreduce_latency_s: PCIE.allreduce_latency_s,
        }
    }

    /// Nominal ridge point of the roofline: peak BF16 FLOP/s ÷ bandwidth
    /// (FLOP per byte). Above it a kernel is compute-bound at 100 % efficiency.
    pub fn ridge_point(&self) -> f64 {
        self.bf16_flops / self.memory_bandwidth
    }

    /// Checks that every rate is finite and positive.
    pub fn validate(&self) -> Result<()> {
        let bad = |reason: String| Error::InvalidGpu {
            name: self.name.clone(),
            reason,
        };
        let pos = |v: f64| v.is_finite() && v > 0.0;
        if !pos(self.bf16_flops) {
            return Err(bad(format!("bf16_flops must be > 0 (got {})", self.bf16_flops)));
        }
        for (what, v) in [("fp8_flops", self.fp8_flops), ("int8_ops", self.int8_ops)] {
            if let Some(v) = v {
                if !pos(v) {
                    return Err(bad(format!("{what} must be > 0 (got {v})")));
                }
            }
        }
        if !pos(self.memory_bandwidth) {
            return Err(bad(format!(
                "memory_bandwidth must be > 0 (got {})",
                self.memory_bandwidth
            )));
        }
        if self.memory_bytes == 0 {
            return Err(bad("memory_bytes must be > 0".into()));
        }
        if !pos(self.interconnect_bandwidth) {
            return Err(bad(format!(
                "interconnect_bandwidth must be > 0 (got {})",
                self.interconnect_bandwidth
            )));
        }
        if !(self.cost_per_hour.is_finite() && self.cost_per_hour >= 0.0) {
            return Err(bad(format!("cost_per_hour must be >= 0 (got {})", self.cost_per_hour)));
        }
        for (what, v) in [
            ("compute_efficiency", self.compute_efficiency),
            ("attention_efficiency", self.attention_efficiency),
        ] {
            if !(pos(v) && v <= 1.0) {
                return Err(bad(format!("{what} must be in (0, 1] (got {v})")));
            }
        }
        if !(self.allreduce_latency_s.is_finite() && self.allreduce_latency_s >= 0.0) {
            return Err(bad(format!(
                "allreduce_latency_s must be >= 0 (got {})",
                self.allreduce_latency_s
            )));
        }
        if !(pos(self.memory_efficiency) && self.memory_efficiency <= 1.0) {
            return Err(bad(format!(
                "memory_efficiency must be in (0, 1] (got {})",
                self.memory_efficiency
            )));
        }
        Ok(())
    }
}

/// GB (read as GiB) → bytes, saturating and never negative.
pub(crate) fn gb_to_bytes(gb: f64) -> u64 {
    if gb.is_finite() && gb > 0.0 {
        let b = gb * GIB as f64;
        if b >= u64::MAX as f64 {
            u64::MAX
        } else {
            b as u64
        }
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::gb_to_bytes;

    #[test]
    fn gb_conversion_saturates() {
        assert_eq!(gb_to_bytes(1.0), 1 << 30);
        assert_eq!(gb_to_bytes(-3.0), 0);
        assert_eq!(gb_to_bytes(f64::NAN), 0);
        assert_eq!(gb_to_bytes(f64::INFINITY), 0);
        assert_eq!(gb_to_bytes(1e30), u64::MAX);
    }
}
