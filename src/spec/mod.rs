//! The run specification: one serialisable description of everything a run does, written
//! before it starts (`run.json`), readable back (`--config FILE`), and validated once into
//! the typed configurations the application layer runs (`validate`).
//!
//! Sources, in order of precedence: command-line flags, then a config file (TOML, YAML or
//! JSON by extension), then the defaults in [`defaults`] — the one place a default is
//! written. Values keep the human spelling of the command line (`"10s"`, `"normal:512,128"`)
//! so a file reads like the flags that produced it. Unknown keys are refused (see `file`).
//!
//! Sections: `target` (which server, how to talk to it), `load` (closed/open loop, how many
//! and how long), `workload` (what to send), `slo`/`cost` (how to judge it), `reliability`
//! (what to do when it fails), `output` (where results go), `sim` (the simulated server:
//! the embedded `bench` target, `sim serve` and `sim run` share it) and `sweep`.

pub mod defaults;
pub mod file;
pub mod sources;
pub mod validate;

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Version of the run specification's layout, written as `spec_version`.
pub const SPEC_VERSION: u32 = 1;

/// Everything a `bench`, `sweep` or `sim run` does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunSpec {
    /// Layout version of this description (1).
    pub spec_version: u32,
    /// Seed of every random choice: prompts, lengths, arrival times, simulated timings and
    /// faults. The same seed sends the same requests.
    pub seed: u64,
    pub target: TargetSpec,
    pub load: LoadSpec,
    pub workload: WorkloadSpec,
    /// Service-level objectives for goodput, e.g. `ttft=200ms,tpot=50ms,e2e=10s,itl_p99=100ms`
    /// or a preset: `chat` (TTFT < 200 ms), `batch` (< 1 s), `realtime` (< 50 ms).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slo: Option<String>,
    /// SLA profile judged in `summary.json`: `chat`, `batch` or `realtime` (seed 004's
    /// production targets for TTFT, output tokens/s and GPU memory utilization), or custom
    /// objectives `ttft=300ms,tps=2000,memory=85%` (and `ttft_percentile=95`), optionally
    /// after a preset (`chat,ttft=150ms`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sla: Option<String>,
    pub cost: CostSpec,
    pub reliability: ReliabilitySpec,
    pub output: OutputSpec,
    pub telemetry: TelemetrySpec,
    /// The simulated server. Present when the target is the embedded server (no
    /// `target.url`), and for `sim serve` / `sim run`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sim: Option<SimSpec>,
    /// `infermeter sweep` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sweep: Option<SweepSpec>,
    /// Sharded runs (`bench` only): this process sends one of `shard.count` parts of the
    /// workload; and a synchronized start (`shard.start_at`).
    #[serde(skip_serializing_if = "ShardSpec::is_unset")]
    pub shard: ShardSpec,
    /// Facts of a run that happened (resolved model and URL, start time, command line), written
    /// by infermeter into `run.json`; ignored when the file is read back as a configuration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run: Option<crate::report::RunInfo>,
}

/// Which server to load and how to talk to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TargetSpec {
    /// Base URL of an OpenAI-compatible server, e.g. `http://127.0.0.1:8000`. Absent: the
    /// embedded simulated server (`sim`), started on 127.0.0.1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Model name to request (absent: the first model the server lists).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// `completions` or `chat`.
    pub api: String,
    /// Endpoint path overriding the API's default (e.g. `/v1/completions`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Stream the response (`false`: one response; TTFT then equals E2E).
    pub stream: bool,
    /// Extra headers `Name: value`. Values are never written to `run.json` (they often carry
    /// credentials): a rerun must give them again.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<String>,
    /// Environment variable holding the API key (sent as a Bearer token; never printed).
    pub api_key_env: String,
    /// File holding the API key, instead of the environment variable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key_file: Option<PathBuf>,
    /// PEM file whose certificates are added to the trusted roots (https:// targets).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_cert: Option<PathBuf>,
    /// Do not verify the server's TLS certificate (https:// only; prints a warning).
    pub insecure: bool,
    /// Arrival time of streamed bytes: `kernel` (the socket's receive timestamp) or `user`
    /// (when the client's read returned).
    pub rx_timestamp: String,
    /// Limit for the TCP (and TLS) connection.
    pub connect_timeout: String,
    /// Limit until the response headers arrive.
    pub first_byte_timeout: String,
    /// Longest silence between two chunks of a stream.
    pub idle_timeout: String,
    /// Whole-request limit.
    pub request_timeout: String,
}

/// How much load, and for how long.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoadSpec {
    /// Closed loop: concurrent workers (the default load when `rate` is absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<usize>,
    /// Open loop: request rate, requests/s.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    /// Open-loop arrival process: `poisson`, `constant` or `gamma`.
    pub arrival: String,
    /// Gamma shape for `arrival = gamma` (< 1 burstier than Poisson, > 1 smoother).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub burstiness: Option<f64>,
    /// Open loop: cap on requests in flight; the wait is reported as client queue time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_concurrency: Option<usize>,
    /// Measured requests (default 320 unless `duration` is given).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requests: Option<u64>,
    /// Stop sending new requests after this long, e.g. `60s` (simulated time in `sim run`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
    /// A number of requests sent first and excluded from all metrics, or a duration (`10s`)
    /// excluded from the steady-state window only.
    pub warmup: String,
    /// Excluded from the end of the steady-state window: a duration (`5s`) or a number of
    /// last-completed requests. Without warmup/cooldown durations the window is detected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cooldown: Option<String>,
}

/// What to send.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkloadSpec {
    /// Input length in tokens: `N`, `uniform:LO,HI`, `normal:MEAN,STD`,
    /// `lognormal:MEAN,STD`, `exp:MEAN`, each with optional `,MIN,MAX`.
    pub input_tokens: String,
    /// Output length in tokens (sent as `max_tokens`), same forms.
    pub output_tokens: String,
    /// Client tokenizer: `cl100k_base`, `o200k_base` or a path to a `tokenizer.json`.
    pub tokenizer: String,
    /// Send `ignore_eos` so every request generates exactly its output length.
    pub ignore_eos: bool,
    /// Ask for cumulative usage on every chunk (`stream_options.continuous_usage_stats`).
    pub continuous_usage: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// JSON object merged into every request body, e.g. `{"top_p": 0.9}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra_body: Option<serde_json::Map<String, serde_json::Value>>,
    /// Skip (and count) malformed lines of a dataset or trace, and prompts longer than the
    /// model's context, instead of stopping before the run.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub skip_invalid: bool,
    /// Prompts from a file (`dataset.path`) instead of synthetic text.
    #[serde(skip_serializing_if = "DatasetSpec::is_unset")]
    pub dataset: DatasetSpec,
    /// Requests and their arrival times replayed from a trace file (`trace.path`).
    #[serde(skip_serializing_if = "TraceSpec::is_unset")]
    pub trace: TraceSpec,
    /// Groups of prompts sharing a prefix (`shared_prefix.groups`).
    #[serde(skip_serializing_if = "SharedPrefixSpec::is_unset")]
    pub shared_prefix: SharedPrefixSpec,
    /// Multi-turn conversations (`sessions.users`).
    #[serde(skip_serializing_if = "SessionsSpec::is_unset")]
    pub sessions: SessionsSpec,
}

/// A prompt dataset: JSONL (`prompt` or OpenAI `messages` per line), ShareGPT JSON or plain
/// text (one prompt per line). See docs/workloads.md.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatasetSpec {
    /// Prompt file: JSONL, ShareGPT JSON or text (absent: synthetic prompts).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// `auto` (by extension and content), `jsonl`, `sharegpt` or `text`.
    pub format: String,
    /// `shuffle` (a seeded permutation, reshuffled on every pass) or `sequential` (file order).
    pub order: String,
    /// Drop entries whose prompt has fewer tokens (client tokenizer).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_input_tokens: Option<u32>,
    /// Drop entries whose prompt has more tokens (client tokenizer).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_input_tokens: Option<u32>,
    /// Output length: `file` (the entry's own, else `workload.output_tokens`) or a length
    /// distribution for every entry.
    pub output_tokens: String,
}

/// A request trace: Mooncake JSONL, Azure LLM inference CSV or BurstGPT CSV. See
/// docs/workloads.md.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TraceSpec {
    /// Trace file (absent: no trace).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// `auto` (by content), `mooncake`, `azure` or `burstgpt`.
    pub format: String,
    /// Replay speed: recorded gaps are divided by this (2 = twice as fast).
    pub speed: f64,
    /// Replay only requests recorded at or after this offset from the trace's first
    /// request, e.g. `10m` (trace time).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    /// Replay only requests recorded before this offset (trace time).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
    /// Tokens per `hash_ids` block (Mooncake: 512).
    pub block_size: u32,
}

/// Synthetic prompts in groups sharing a prefix (SGLang's generated-shared-prefix,
/// inference-perf's shared_prefix).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SharedPrefixSpec {
    /// Number of distinct shared prefixes (absent: no shared-prefix workload).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<u32>,
    /// Prompts per group (requests default to groups × prompts_per_group).
    pub prompts_per_group: u32,
    /// Length of each group's shared prefix, tokens.
    pub prefix_tokens: u32,
    /// Length of each prompt's unique suffix, tokens (a length distribution).
    pub suffix_tokens: String,
}

/// Multi-turn sessions: each user holds a conversation whose every turn sends the whole
/// history, including the assistant text actually received.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionsSpec {
    /// Concurrent users, each in one conversation at a time (absent: no sessions).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub users: Option<u32>,
    /// Turns per conversation (requests default to users × turns).
    pub turns: u32,
    /// Think time before each later turn, from the previous response's end, ms (a
    /// distribution: `N`, `uniform:LO,HI`, `exp:MEAN`, ...).
    pub think_time_ms: String,
}

/// Price of the serving hardware, for cost per token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CostSpec {
    /// $/hour of one GPU.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gpu_cost_per_hour: Option<f64>,
    /// Price with this GPU preset's default $/hour instead.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price_gpu: Option<String>,
    /// GPUs serving the target.
    pub gpus: f64,
}

/// What to do when requests fail, and how a stopped run ends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReliabilitySpec {
    /// Stop the run (exit 3) when more than this fraction of the last `error_window`
    /// completed requests failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_error_rate: Option<f64>,
    /// Completed requests the `max_error_rate` window covers.
    pub error_window: usize,
    /// Retries of a request failing with 429, 5xx, a connect error or a reset before the
    /// response headers (never once a body started). 0 = off.
    pub retry: u32,
    /// Wait before the first retry, doubled for each further one (at most 10 s).
    pub retry_backoff: String,
    /// After Ctrl-C or a breaker stop, wait at most this long for requests in flight.
    pub drain_timeout: String,
}

/// Where results go.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutputSpec {
    /// Output directory (default `results/<command>-<UTC time>`). Never written to
    /// `run.json`, so a rerun of a run does not overwrite it.
    #[serde(skip_serializing)]
    pub dir: Option<PathBuf>,
    /// Also write `requests.csv` (one row per request).
    pub csv: bool,
    /// Write `report.html`.
    pub html: bool,
}

/// Server and GPU telemetry during the run, and the live Prometheus exporter (`[telemetry]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetrySpec {
    /// `/metrics` endpoints scraped during the run: `auto` (the target's own `/metrics`),
    /// `off`, or URLs (several allowed, e.g. the engine's and a DCGM exporter's
    /// `http://gpu-host:9400/metrics`; `auto` may be listed with them).
    pub server_metrics: Vec<String>,
    /// Time between two scrapes.
    pub server_metrics_interval: String,
    /// Local GPU telemetry through NVML (loaded at run time): `auto` (used when an NVIDIA
    /// driver and GPU are present) or `off`.
    pub gpu_telemetry: String,
    /// Serve the run's live metrics for Prometheus at this address: `PORT` (on 127.0.0.1) or
    /// `HOST:PORT` (e.g. `0.0.0.0:9464` to listen on every interface).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prometheus_listen: Option<String>,
    /// After the run, keep serving until Prometheus has scraped the final values, at most
    /// this long.
    pub prometheus_linger: String,
}

/// The simulated OpenAI-compatible server: the embedded `bench` target, `sim serve` and
/// `sim run` are all built from this one description.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimSpec {
    /// `engine` (a simulated vLLM-like engine timed by the roofline model) or `fixed`
    /// (configured TTFT and inter-token times). Any fixed-timing key given selects `fixed`.
    pub mode: String,
    /// Model name the server answers to (default: the preset's name in engine mode,
    /// `infermeter-sim` in fixed mode).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub served_model: Option<String>,
    /// Engine: model preset (see `infermeter sim serve --list-presets`).
    pub model_preset: String,
    /// Engine: a Hugging Face `config.json` describing the model (overrides `model_preset`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_config: Option<PathBuf>,
    /// Engine: GPU preset, e.g. `h100-sxm`, `a100-80gb`, `l4`.
    pub gpu: String,
    /// Engine: tensor-parallel degree.
    pub tp: u32,
    /// Engine: weight format (`bf16`, `fp16`, `fp8`, `int8`, `int4`).
    pub weights_dtype: String,
    /// Engine: KV-cache format (`bf16`, `fp16`, `fp8`).
    pub kv_dtype: String,
    /// Most sequences running at once (default: vLLM's for the GPU in engine mode, 256 in
    /// fixed mode); later requests queue.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_num_seqs: Option<u32>,
    /// Engine: token budget per step (default: vLLM's for the GPU).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_num_batched_tokens: Option<u32>,
    /// Engine: longest prompt + output (default: the model's context, capped by the KV cache).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_model_len: Option<u32>,
    /// Engine: prefill long prompts in chunks interleaved with decodes.
    pub chunked_prefill: bool,
    /// Engine: automatic prefix caching.
    pub prefix_caching: bool,
    /// Engine: `continuous` (vLLM) or `static` (HF-style) batching.
    pub scheduler: String,
    /// Engine: the vLLM generation imitated: `vllm-0.5`, `vllm-0.6` or `vllm-v1` (host costs,
    /// scheduling of new prompts against running decodes, default limits).
    pub engine_profile: String,
    /// Engine: multi-step scheduling of vLLM 0.6 (`--num-scheduler-steps`); 1 = off.
    pub num_scheduler_steps: u32,
    /// Engine: real seconds per simulated second (< 1 runs faster than real time; measured
    /// latencies scale with it). Ignored by `sim run`, which needs no real time.
    pub time_scale: f64,
    /// Fixed: time to first token once a slot is free, ms (`N`, `uniform:LO,HI`,
    /// `normal:MEAN,STD`, `lognormal:MEAN,STD`, `exp:MEAN`).
    pub ttft_ms: String,
    /// Fixed: gap between tokens, ms (same forms).
    pub itl_ms: String,
    /// Fixed: extra prefill time per prompt token, µs.
    pub prefill_us_per_token: f64,
    /// Tokens per streamed chunk (> 1 mimics speculative decoding or stream intervals).
    pub tokens_per_chunk: u32,
    /// Faults `KIND=PROB` injected into this share of requests (see docs/reliability.md).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<String>,
    /// How long a `stall` fault keeps a stream silent, ms.
    pub fault_stall_ms: u64,
    /// How late a `slow_first_byte` head is, and how long `slow_headers` trickles, ms.
    pub fault_delay_ms: u64,
}

/// `infermeter sweep`: the stages and the searches over them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SweepSpec {
    /// Open-loop stages at these request rates, e.g. `[5, 10, 20, 40]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rates: Option<Vec<f64>>,
    /// Closed-loop stages at these concurrency levels, e.g. `[1, 4, 16, 64]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub concurrencies: Option<Vec<f64>>,
    /// Automatic mode (neither list): rate stages up to 1.2× the probe's maximum throughput.
    pub stages: usize,
    /// Concurrency of the automatic mode's closed-loop probe.
    pub probe_concurrency: usize,
    /// Recommended operating point as a fraction of the saturation load (0.5–0.7).
    pub operating_fraction: f64,
    /// SLO attainment the max-goodput search must reach (needs `slo`).
    pub attainment_target: f64,
    /// Repeated trials per load in the max-goodput search.
    pub trials: usize,
    /// Bisection steps of the max-goodput search (0 = only the stages).
    pub search_steps: usize,
}

/// A run split over several processes (e.g. the pods of a Kubernetes Indexed Job), each
/// sending its part of the single-process workload; see docs/distributed.md.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShardSpec {
    /// Number of shards the run is split into (absent: not sharded).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    /// This process's shard, 0 to `count - 1` (absent: from the environment variable
    /// `JOB_COMPLETION_INDEX`, set by a Kubernetes Indexed Job).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<u32>,
    /// Start the measured phase at this absolute time (RFC 3339 with a zone, e.g.
    /// `2026-05-01T12:00:00Z`): each process prepares, warms up, then waits for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_at: Option<String>,
}

impl ShardSpec {
    pub fn is_unset(&self) -> bool {
        *self == ShardSpec::default()
    }
}

impl RunSpec {
    /// The specification with its simulated server present (the embedded target's default).
    pub fn embedded() -> Self {
        RunSpec {
            sim: Some(SimSpec::default()),
            ..RunSpec::default()
        }
    }

    /// True when the target is the embedded simulated server.
    pub fn is_embedded(&self) -> bool {
        self.target.url.is_none()
    }

    /// As TOML (for `--print-config`).
    pub fn to_toml(&self) -> Result<String, String> {
        toml::to_string_pretty(self).map_err(|e| format!("cannot write the specification as TOML: {e}"))
    }
}
