//! The simulated server's validated configuration ([`SimConfig`], built from the run
//! specification's `sim` section by `spec::validate::sim_server`) and its self-description
//! ([`Described`]), which reports print and `GET /infermeter/sim` serves.

use crate::sim::faults::FaultPlan;
use crate::sim::{timing, write_log};
use crate::workload::dist::ValueDist;
use serde_json::Value;
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct SimConfig {
    pub model: String,
    /// Time to first token after a slot is granted, in ms.
    pub ttft_ms: ValueDist,
    /// Gap between consecutive tokens, in ms.
    pub itl_ms: ValueDist,
    /// Extra prefill time per prompt token, in µs (TTFT grows with the prompt).
    pub prefill_us_per_token: f64,
    /// Concurrent sequences; later requests wait for a slot.
    pub max_num_seqs: usize,
    /// Tokens carried by each streamed chunk (>1 mimics speculative decoding / stream intervals).
    pub tokens_per_chunk: u32,
    pub seed: u64,
    /// Engine mode (`None` = fixed timing).
    pub engine: Option<EngineMode>,
    /// Faults to inject (empty: none).
    pub faults: FaultPlan,
    /// Record when each streamed chunk was written (`--write-log`).
    pub write_log: Option<Arc<write_log::WriteLog>>,
}

/// The simulated engine behind engine mode.
#[derive(Debug, Clone)]
pub struct EngineMode {
    pub built: timing::BuiltEngine,
    /// Real seconds per simulated second.
    pub time_scale: f64,
}

impl SimConfig {
    /// A fixed-timing server with constant TTFT and inter-token times (ms), no prefill cost
    /// and 256 slots: a predictable target for tests. The default simulated server is
    /// `spec::SimSpec::default()`, validated by `spec::validate::sim_server`.
    pub fn fixed_timing(ttft_ms: f64, itl_ms: f64) -> Self {
        SimConfig {
            model: crate::spec::defaults::SIM_FIXED_MODEL.into(),
            ttft_ms: ValueDist::fixed(ttft_ms),
            itl_ms: ValueDist::fixed(itl_ms),
            prefill_us_per_token: 0.0,
            max_num_seqs: crate::spec::defaults::SIM_FIXED_MAX_NUM_SEQS as usize,
            tokens_per_chunk: 1,
            seed: 0,
            engine: None,
            faults: FaultPlan::default(),
            write_log: None,
        }
    }

    /// What this server simulates, for reports and for [`DESCRIBE_PATH`].
    pub fn describe(&self) -> Described {
        match &self.engine {
            Some(e) => Described {
                mode: "engine".into(),
                model: self.model.clone(),
                engine: Some(format!("{}, time scale {}", e.built.describe(), e.time_scale)),
                fixed: None,
                time_scale: Some(e.time_scale),
            },
            None => Described {
                mode: "fixed".into(),
                model: self.model.clone(),
                engine: None,
                fixed: Some(format!(
                    "TTFT {} ms + {} µs per prompt token, inter-token {} ms, max_num_seqs {}, {} token{} per chunk",
                    self.ttft_ms,
                    self.prefill_us_per_token,
                    self.itl_ms,
                    self.max_num_seqs,
                    self.tokens_per_chunk,
                    if self.tokens_per_chunk == 1 { "" } else { "s" }
                )),
                time_scale: None,
            },
        }
    }
}

/// Where a simulated server describes itself (JSON [`Described`]).
pub const DESCRIBE_PATH: &str = "/infermeter/sim";

/// The `owned_by` of the simulator's `/v1/models` entries.
pub const OWNER: &str = "infermeter-sim";

/// What a simulated server simulates: its mode, served model and settings in one line.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Described {
    /// `engine` or `fixed`.
    pub mode: String,
    pub model: String,
    /// Engine mode: the deployment and every engine limit.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub engine: Option<String>,
    /// Fixed mode: the configured timing.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub fixed: Option<String>,
    /// Engine mode: simulated durations are multiplied by this (`--sim-time-scale`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub time_scale: Option<f64>,
}

impl Described {
    /// One line, e.g. `engine qwen3-0.6b@l4 (...)` or `fixed timing: TTFT ...`.
    pub fn line(&self) -> String {
        match (&self.engine, &self.fixed) {
            (Some(e), _) => format!("engine {e}"),
            (None, Some(f)) => format!("fixed timing: {f}"),
            (None, None) => self.mode.clone(),
        }
    }

    /// Record it in a run's description.
    pub fn fill(&self, info: &mut crate::report::RunInfo) {
        info.sim_engine = self.engine.clone();
        info.sim_fixed = self.fixed.clone();
        info.sim_time_scale = self.time_scale;
    }
}

/// True when a `/v1/models` body comes from this simulator.
pub fn is_simulator_listing(body: &[u8]) -> bool {
    serde_json::from_slice::<Value>(body).ok().is_some_and(|v| {
        v.get("data").and_then(Value::as_array).is_some_and(|d| {
            d.iter()
                .any(|m| m.get("owned_by").and_then(Value::as_str) == Some(OWNER))
        })
    })
}
