//! The GPU efficiency table: for every preset GPU, the achieved fractions of
//! peak memory bandwidth (η_m), linear-layer tensor rate (η_c) and attention
//! rate (η_a), and the latency of one tensor-parallel all-reduce on its
//! interconnect (α), each with the published data it was derived from.
//!
//! It exists apart from the datasheet numbers in [`crate::gpu`] because these
//! are *fitted*, not specified: the values come from the fit split of the
//! validation corpus ([`crate::validation`]), so they change when the corpus
//! does, and every entry says which corpus points (or which family fit, for
//! GPUs without a point of their own) it rests on.

use crate::gpu::GpuSpec;

/// One row of the table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GpuCalibration {
    /// Preset name.
    pub gpu: &'static str,
    /// η_m.
    pub memory: f64,
    /// η_c.
    pub compute: f64,
    /// η_a.
    pub attention: f64,
    /// α, seconds.
    pub allreduce_latency_s: f64,
    /// Where the numbers come from.
    pub basis: &'static str,
}

/// The table, in preset order. Values are rounded outputs of
/// `cargo run --release -p infermeter-perfmodel --example fit` (fit split only).
pub const TABLE: [GpuCalibration; 11] = [
    GpuCalibration {
        gpu: "h100-sxm",
        memory: 0.75,
        compute: 0.403,
        attention: 0.5,
        allreduce_latency_s: 16.7e-6,
        basis: "fit: H100 points of the fit split (vLLM blog 2026-04-22 FP8-KV and gpt-oss rows, gpustack vLLM 0.11 H100 runs, SGLang-README vLLM 0.6 70B TP4, Lambda 8B-FP8/70B-FP8/Mixtral runs); η_a and α rest on the TP4/TP2 and long-prompt rows",
    },
    GpuCalibration {
        gpu: "h100-pcie",
        memory: 0.75,
        compute: 0.403,
        attention: 0.5,
        allreduce_latency_s: 32.6e-6,
        basis: "no corpus point: H100 SXM efficiencies (same die and HBM generation); PCIe all-reduce latency of the RTX PRO 6000 fit",
    },
    GpuCalibration {
        gpu: "h200",
        memory: 0.75,
        compute: 0.403,
        attention: 0.5,
        allreduce_latency_s: 16.7e-6,
        basis: "no corpus point: H100 SXM values (same die, NVLink 4)",
    },
    GpuCalibration {
        gpu: "a100-40gb",
        memory: 0.86,
        compute: 0.618,
        attention: 0.5,
        allreduce_latency_s: 16.7e-6,
        basis: "fit: johnmusgrave.com vLLM 0.23 sweep (concurrency 1 and 8); η_a prior; α from the H100 NVLink fit",
    },
    GpuCalibration {
        gpu: "a100-80gb",
        memory: 0.71,
        compute: 0.5,
        attention: 0.5,
        allreduce_latency_s: 16.7e-6,
        basis: "fit: SGLang-README vLLM 0.6 8B rows, gpustack Qwen3-32B ShareGPT, Lambda Mistral-7B runs; α from the H100 NVLink fit (no A100 TP point in the fit split)",
    },
    GpuCalibration {
        gpu: "l4",
        memory: 0.87,
        compute: 0.509,
        attention: 0.5,
        allreduce_latency_s: 32.6e-6,
        basis: "no corpus point: RTX 4090 fit (GDDR, Ada generation); PCIe all-reduce latency of the RTX PRO 6000 fit",
    },
    GpuCalibration {
        gpu: "l40s",
        memory: 0.87,
        compute: 0.509,
        attention: 0.5,
        allreduce_latency_s: 32.6e-6,
        basis: "no corpus point: RTX 4090 fit (GDDR, Ada generation); PCIe α of the RTX PRO 6000 fit",
    },
    GpuCalibration {
        gpu: "a10g",
        memory: 0.87,
        compute: 0.509,
        attention: 0.5,
        allreduce_latency_s: 32.6e-6,
        basis: "no corpus point: RTX 4090 fit (GDDR); PCIe α of the RTX PRO 6000 fit",
    },
    GpuCalibration {
        gpu: "mi300x",
        memory: 0.777,
        compute: 0.6,
        attention: 0.5,
        allreduce_latency_s: 23.3e-6,
        basis: "fit: Oracle 8x MI300X Llama-3.1-405B FP8 batch 1 and 32 (decode-bound, so η_c and η_a stay at their priors)",
    },
    GpuCalibration {
        gpu: "rtx-4090",
        memory: 0.87,
        compute: 0.509,
        attention: 0.5,
        allreduce_latency_s: 32.6e-6,
        basis: "fit: mushfiqrahman.dev Mistral-7B sweep and LLMServingSim's vLLM 0.19 RTX 4090 run; PCIe α of the RTX PRO 6000 fit",
    },
    GpuCalibration {
        gpu: "rtx-pro-6000",
        memory: 0.759,
        compute: 0.551,
        attention: 0.5,
        allreduce_latency_s: 32.6e-6,
        basis: "fit: LLMServingSim's vLLM 0.19 Qwen3-32B TP2 run (PCIe, no NVLink)",
    },
];

/// The row of a preset, if any.
pub fn for_gpu(name: &str) -> Option<&'static GpuCalibration> {
    TABLE.iter().find(|c| c.gpu == name)
}

/// Sets the fitted efficiencies of a preset GPU (no-op for other names).
pub fn apply(g: &mut GpuSpec) {
    if let Some(c) = for_gpu(&g.name) {
        g.memory_efficiency = c.memory;
        g.compute_efficiency = c.compute;
        g.attention_efficiency = c.attention;
        g.allreduce_latency_s = c.allreduce_latency_s;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_gpu_has_a_sourced_row() {
        assert_eq!(TABLE.len(), GpuSpec::PRESET_NAMES.len());
        for (row, name) in TABLE.iter().zip(GpuSpec::PRESET_NAMES) {
            assert_eq!(row.gpu, name);
            for v in [row.memory, row.compute, row.attention] {
                assert!(v > 0.0 && v <= 1.0, "{name}: {v}");
            }
            assert!(
                row.allreduce_latency_s > 0.0 && row.allreduce_latency_s < 1e-3,
                "{name}"
            );
            assert!(
                row.basis.starts_with("fit:") || row.basis.starts_with("no corpus point:"),
                "{name}"
            );
            let g = GpuSpec::preset(name).unwrap();
            assert_eq!(g.memory_efficiency, row.memory);
            assert_eq!(g.compute_efficiency, row.compute);
        }
    }
}
