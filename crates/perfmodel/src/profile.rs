//! Engine profiles: how a given generation of the serving stack spends CPU
//! time and schedules prompts against running decodes.
//!
//! The roofline prices what the GPU does; real servers add host time that
//! depends on the engine version far more than on the GPU. vLLM 0.5 ran the
//! API server, the scheduler, input preparation, sampling bookkeeping and
//! detokenisation in one Python process, synchronously with every step, and
//! ran new prompts in prefill-only steps that stall running decodes. vLLM 0.6
//! overlapped output processing with the GPU and added multi-step scheduling.
//! vLLM V1 (0.8+) moved the front end to its own process, schedules mixed
//! steps with chunked prefill, and keeps the GPU busy between steps. An
//! [`EngineProfile`] names one of these generations; [`EngineProfile::host`]
//! gives its fitted host costs and [`EngineProfile::scheduling`] its default
//! scheduling behaviour. The values are fitted on the fit split of the
//! validation corpus ([`crate::validation`]); `docs/simulator.md` lists them
//! with the points they rest on.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A serving-engine generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum EngineProfile {
    /// vLLM 0.5.x (V0 engine, single process, synchronous output processing).
    #[serde(rename = "vllm-0.5")]
    Vllm05,
    /// vLLM 0.6.x (V0 engine with async output processing and optional
    /// multi-step scheduling).
    #[serde(rename = "vllm-0.6")]
    Vllm06,
    /// vLLM V1 engine (0.8 and later; the default since 0.8).
    #[default]
    #[serde(rename = "vllm-v1")]
    VllmV1,
}

/// Host (CPU) costs of a profile, seconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HostCosts {
    /// Per engine step: scheduler, input preparation, launch gaps, sampling.
    pub step_s: f64,
    /// Per scheduled sequence per step (metadata, sampling and output
    /// processing, detokenisation where it is synchronous).
    pub per_seq_s: f64,
    /// Extra per sequence that does prefill work in the step.
    pub per_prefill_seq_s: f64,
    /// Front end per request (HTTP, chat template, tokenisation, hand-off),
    /// served first-come first-served ahead of the scheduler.
    pub frontend_s: f64,
    /// Front end per prompt token.
    pub frontend_per_token_s: f64,
}

/// Scheduling defaults of a profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scheduling {
    /// Engine generation uses V0's scheduler: without chunked prefill, prompts
    /// run in prefill-only steps (running decodes wait).
    pub v0_scheduler: bool,
    /// Chunked prefill is on by default only when `max_model_len` exceeds
    /// this many tokens (V0: 32768); `None` = always on (V1).
    pub chunked_prefill_above: Option<u32>,
    /// Chunk size when V0 turns chunked prefill on by itself.
    pub auto_chunk_tokens: u32,
    /// Default `--max-num-seqs` (`None` = V1's per-GPU default).
    pub max_num_seqs: Option<u32>,
}

impl EngineProfile {
    /// Every profile, oldest first.
    pub const ALL: [EngineProfile; 3] = [EngineProfile::Vllm05, EngineProfile::Vllm06, EngineProfile::VllmV1];

    /// The name `FromStr` accepts.
    pub fn name(self) -> &'static str {
        match self {
            EngineProfile::Vllm05 => "vllm-0.5",
            EngineProfile::Vllm06 => "vllm-0.6",
            EngineProfile::VllmV1 => "vllm-v1",
        }
    }

    /// `vllm-0.5, vllm-0.6, vllm-v1`.
    pub fn names() -> String {
        Self::ALL.iter().map(|p| p.name()).collect::<Vec<_>>().join(", ")
    }

    /// Fitted host costs (see the module docs and `docs/simulator.md`).
    pub fn host(self) -> HostCosts {
        match self {
            // One fit point of its own (Lambda, vLLM 0.5.4, 10 requests on an H100):
            // only the per-step cost is fitted; the per-sequence, per-prefill and
            // front-end costs are vLLM 0.6's.
            EngineProfile::Vllm05 => HostCosts {
                step_s: 2.85e-3,
                per_seq_s: 22.4e-6,
                per_prefill_seq_s: 50e-6,
                frontend_s: 1.19e-3,
                frontend_per_token_s: 0.0,
            },
            // Fitted on the vLLM 0.6 fit points (SGLang README multi-step runs,
            // Lambda multi-step runs, Oracle MI300X batch runs).
            EngineProfile::Vllm06 => HostCosts {
                step_s: 9.66e-3,
                per_seq_s: 22.4e-6,
                per_prefill_seq_s: 50e-6,
                frontend_s: 1.19e-3,
                frontend_per_token_s: 0.0,
            },
            // Fitted on the vLLM V1 fit points (vLLM blog, gpustack, LLMServingSim,
            // johnmusgrave.com, mushfiqrahman.dev).
            EngineProfile::VllmV1 => HostCosts {
                step_s: 1.47e-3,
                per_seq_s: 5.15e-6,
                per_prefill_seq_s: 0.0,
                frontend_s: 2.0e-3,
                frontend_per_token_s: 2.06e-6,
            },
        }
    }

    /// Scheduling defaults. V0 (vLLM 0.5/0.6): chunked prefill only when
    /// `max_model_len` > 32768, then in chunks of 512 tokens (vLLM blog
    /// 2024-10-23, "Serving LLMs on AMD MI300X"), 256 sequences; V1: chunked
    /// prefill always, per-GPU limits.
    pub fn scheduling(self) -> Scheduling {
        match self {
            EngineProfile::Vllm05 | EngineProfile::Vllm06 => Scheduling {
                v0_scheduler: true,
                chunked_prefill_above: Some(32768),
                auto_chunk_tokens: 512,
                max_num_seqs: Some(256),
            },
            EngineProfile::VllmV1 => Scheduling {
                v0_scheduler: false,
                chunked_prefill_above: None,
                auto_chunk_tokens: 0,
                max_num_seqs: None,
            },
        }
    }
}

impl fmt::Display for EngineProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for EngineProfile {
    type Err = Error;

    /// Parses `vllm-0.5`, `vllm-0.6` or `vllm-v1` (case-insensitive; `v0.5`,
    /// `0.5`, `v1` and `vllm-0.19`-style versions ≥ 0.8 are accepted too).
    fn from_str(s: &str) -> Result<EngineProfile> {
        let k = s.trim().to_ascii_lowercase();
        let v = k.strip_prefix("vllm").unwrap_or(&k).trim_start_matches(['-', '_', ' ']);
        let v = v.strip_prefix('v').unwrap_or(v);
        let parsed = match v {
            "0.5" | "0.5.x" => Some(EngineProfile::Vllm05),
            "0.6" | "0.6.x" | "0.7" => Some(EngineProfile::Vllm06),
            "1" => Some(EngineProfile::VllmV1),
            _ => {
                // A full version: 0.5.x / 0.6.x / 0.7.x map to their V0 profile, ≥ 0.8 to V1.
                let mut it = v.split('.');
                match (
                    it.next().and_then(|a| a.parse::<u32>().ok()),
                    it.next().and_then(|b| b.parse::<u32>().ok()),
                ) {
                    (Some(0), Some(5)) => Some(EngineProfile::Vllm05),
                    (Some(0), Some(6 | 7)) => Some(EngineProfile::Vllm06),
                    (Some(0), Some(m)) if m >= 8 => Some(EngineProfile::VllmV1),
                    (Some(a), Some(_)) if a >= 1 => Some(EngineProfile::VllmV1),
                    _ => None,
                }
            }
        };
        parsed.ok_or_else(|| Error::UnknownPreset {
            kind: "engine profile",
            name: s.to_string(),
            valid: EngineProfile::names(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_versions_map() {
        for p in EngineProfile::ALL {
            assert_eq!(p.name().parse::<EngineProfile>().unwrap(), p);
        }
        assert_eq!("VLLM-V1".parse::<EngineProfile>().unwrap(), EngineProfile::VllmV1);
        assert_eq!("0.5.4".parse::<EngineProfile>().unwrap(), EngineProfile::Vllm05);
        assert_eq!("vllm-0.6.0".parse::<EngineProfile>().unwrap(), EngineProfile::Vllm06);
        assert_eq!("0.19.1".parse::<EngineProfile>().unwrap(), EngineProfile::VllmV1);
        let e = "vllm-0.4".parse::<EngineProfile>().unwrap_err().to_string();
        assert!(
            e.contains("vllm-0.4") && e.contains("vllm-0.5, vllm-0.6, vllm-v1"),
            "{e}"
        );
        assert!(!e.contains('\n'));
    }
}
