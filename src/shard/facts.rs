//! The facts a sharded run records and a merge reports, as they appear in `run.json` and
//! `summary.json`: a shard's own (`run.shard`) and a merged run's (`shards`). Plain data, so
//! the report types can hold them without depending on how shards are run or merged.

use super::clock::ClockEvidence;
use crate::metrics::health::ClientHealth;
use serde::{Deserialize, Serialize};

/// Where and how a shard ran: written to its `run.json` (before the run) and `summary.json`
/// under `run.shard`, and collected by `merge` into the merged summary's `shards`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ShardInfo {
    pub index: u32,
    pub count: u32,
    /// `argument` (`--shard K/N` or `shard.index`) or the environment variable it came from.
    pub index_source: String,
    /// The machine's host name (the pod's name in Kubernetes).
    pub host: String,
    /// `NODE_NAME` when set (the rendered Job sets it to the pod's node).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// The agreed start of the measured phase (`shard.start_at`), RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_at: Option<String>,
    /// The measured phase's start, µs after the run's time origin (`run.run_start_unix_us`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase_start_us: Option<u64>,
    /// How late the measured phase started after `start_at`, ms (0 when on time; large when
    /// the process came up after the agreed time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_late_ms: Option<f64>,
    /// The kernel's view of this machine's clock at the start (bounds its offset from UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock: Option<ClockEvidence>,
}

/// How a merge went: which shards, how they were aligned, and each shard's self-health
/// (`summary.json` `shards`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MergeInfo {
    /// Shards the run was split into.
    pub count: u32,
    /// Shards merged, by index.
    pub merged: Vec<u32>,
    /// Shards absent (merged anyway with `--allow-partial`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<u32>,
    /// Shards that did not finish (no `summary.json`): their records so far are merged
    /// (`--allow-partial`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unfinished: Vec<u32>,
    /// The merged timeline's origin: the earliest shard's run start, UNIX µs.
    pub origin_unix_us: u64,
    /// The agreed start of the measured phase, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_at: Option<String>,
    /// Latest minus earliest start of the shards' measured phases on the merged timeline, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_spread_ms: Option<f64>,
    /// Bound on any two shards' clock offset (the two largest kernel `max_error`s), ms, when
    /// every clock reported itself synchronized; the timeline alignment is no better.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock_bound_ms: Option<f64>,
    /// Shards whose client was saturated (their measurement may be distorted).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub saturated: Vec<u32>,
    pub shards: Vec<ShardHealth>,
}

impl MergeInfo {
    /// `clock_bound_ms` in words.
    pub fn clock_bound_text(&self) -> String {
        self.clock_bound_ms
            .map(|b| format!("{b:.2} ms"))
            .unwrap_or_else(|| "unknown (a clock was not reported synchronized)".into())
    }
}

/// One merged shard: where it ran, how it was aligned, and its own self-health.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ShardHealth {
    pub index: u32,
    pub dir: String,
    pub host: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// This shard's `X-Request-Id` prefix.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub request_id_prefix: String,
    /// Measured requests recorded, and how many succeeded.
    pub requests: u64,
    pub succeeded: u64,
    /// Its run start after the merged origin, ms (the shift applied to its records).
    pub offset_ms: f64,
    /// Its measured phase's start on the merged timeline, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase_start_ms: Option<f64>,
    /// How late its measured phase started after `start_at`, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_late_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock: Option<ClockEvidence>,
    /// It wrote its `summary.json` (the run ended, possibly early).
    pub finished: bool,
    /// It stopped early, and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_reason: Option<String>,
    /// Its client self-health block (`None` when it did not finish).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<ClientHealth>,
}
