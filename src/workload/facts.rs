//! What a run's workload was, as facts for `run.json` and `summary.json` (`run.workload`):
//! the source and its file, what reading the file kept and skipped, a trace's window and
//! recorded rate, and the sharing the workload was built with (the reference the measured
//! prefix-cache hit rate is compared against).

use super::input::InputCounts;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkloadInfo {
    /// `synthetic`, `dataset`, `trace` or `shared_prefix`.
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// Lines read, used, skipped and filtered (datasets and traces).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<InputCounts>,
    /// Dataset: the output-length distribution overriding the entries' own lengths.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset_output_tokens: Option<String>,
    /// Trace: requests in the window, its recorded span and rate, and the replay speed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<TraceFacts>,
    /// Shared-prefix workload settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_prefix: Option<SharedPrefixFacts>,
    /// Multi-turn sessions settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sessions: Option<SessionFacts>,
    /// Fraction of the measured requests' input tokens that repeat an earlier request's
    /// prefix by construction (shared-prefix groups, trace `hash_ids` blocks): the hit rate
    /// of a prefix cache that never evicts and caches every token (an upper bound; real
    /// caches hit whole blocks only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_prefix_reuse: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TraceFacts {
    pub requests: u64,
    /// Window in trace time, s after the trace's first request.
    pub window_start_s: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_end_s: Option<f64>,
    /// Recorded times of the first and last request replayed (trace time, s).
    pub first_s: f64,
    pub last_s: f64,
    /// Recorded arrival rate over the window, req/s of trace time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded_rate: Option<f64>,
    pub speed: f64,
    /// `recorded_rate × speed`: the rate the replay offers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offered_rate: Option<f64>,
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// Requests sent back to back (`--concurrency`), ignoring the recorded times.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub untimed: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SharedPrefixFacts {
    pub groups: u32,
    pub prompts_per_group: u32,
    pub prefix_tokens: u32,
    pub suffix_tokens: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SessionFacts {
    pub users: u32,
    pub turns: u32,
    pub think_time_ms: String,
    /// Where user messages come from: `synthetic` or `dataset`.
    pub messages: String,
}
