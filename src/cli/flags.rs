//! Stage one of the command line: the raw flags, grouped by the section of the run
//! specification they set. Each flag's id (its field name) is mapped to one specification key
//! in `overlay::KEYS`; defaults shown in the help come from `spec::defaults`, the one place
//! they are written. Flags only given on the command line are applied (see `overlay`), so a
//! config file's values survive every flag the user did not type.

use crate::spec::defaults as d;
use clap::Args;
use serde::Serialize;
use std::path::PathBuf;

/// `--config`, `--print-config`: where the specification starts.
#[derive(Debug, Args, Clone, Serialize)]
#[command(next_help_heading = "Run specification")]
pub struct ConfigFlags {
    /// Read the run specification from FILE (TOML, YAML or JSON by extension, e.g. a run's
    /// `run.json`); flags given on the command line override its values.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print the resolved run specification as TOML and exit without running.
    #[arg(long)]
    pub print_config: bool,
}

/// Which server, and how to talk to it (`[target]`).
#[derive(Debug, Args, Clone, Serialize)]
#[command(next_help_heading = "Target")]
pub struct TargetFlags {
    /// Base URL of an OpenAI-compatible server (e.g. http://127.0.0.1:8000). Without it, the
    /// embedded simulated server (--sim-*) is started on 127.0.0.1.
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// Model name to request [default: the first model the server lists].
    #[arg(long, value_name = "NAME")]
    pub model: Option<String>,
    /// API to call.
    #[arg(long, value_name = "API", value_parser = ["completions", "chat"], default_value = d::API)]
    pub api: String,
    /// Endpoint path overriding the API's default (e.g. /v1/completions).
    #[arg(long, value_name = "PATH")]
    pub endpoint: Option<String>,
    /// Ask for a single non-streamed response instead of a stream (TTFT then equals E2E).
    #[arg(long)]
    pub no_stream: bool,
    /// Extra header 'Name: value' (repeatable; values are never written to run.json).
    #[arg(long = "header", short = 'H', value_name = "HEADER")]
    pub headers: Vec<String>,
    /// Environment variable holding the API key (sent as a Bearer token; never printed).
    #[arg(long, value_name = "VAR", default_value = d::API_KEY_ENV)]
    pub api_key_env: String,
    /// File holding the API key (surrounding whitespace trimmed; never printed), instead of
    /// the environment variable.
    #[arg(long, value_name = "PATH", conflicts_with = "api_key_env")]
    pub api_key_file: Option<PathBuf>,
    /// Add the certificates of this PEM file to the trusted roots (for https:// targets).
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
    /// Do not verify the server's TLS certificate (https:// only; prints a warning).
    #[arg(long)]
    pub insecure: bool,
    /// Arrival time of streamed bytes: the kernel's receive timestamp of the socket segment
    /// (Linux; immune to the client's own scheduling delay), or when the client's read
    /// returned.
    #[arg(long, value_parser = ["kernel", "user"], default_value = d::RX_TIMESTAMP, value_name = "CLOCK")]
    pub rx_timestamp: String,
    /// Limit for opening the connection (TCP and TLS).
    #[arg(long, value_name = "DURATION", default_value = d::CONNECT_TIMEOUT)]
    pub connect_timeout: String,
    /// Limit until the response headers arrive.
    #[arg(long, value_name = "DURATION", default_value = d::FIRST_BYTE_TIMEOUT)]
    pub first_byte_timeout: String,
    /// Longest silence between two chunks of a stream.
    #[arg(long, value_name = "DURATION", default_value = d::IDLE_TIMEOUT)]
    pub idle_timeout: String,
    /// Whole-request limit.
    #[arg(long, value_name = "DURATION", default_value = d::REQUEST_TIMEOUT)]
    pub request_timeout: String,
}

/// The load's shape: closed loop (`--concurrency`) or open loop (`--rate`) (`[load]`).
#[derive(Debug, Args, Clone, Serialize)]
#[command(next_help_heading = "Load")]
pub struct LoadShapeFlags {
    /// Closed loop: number of concurrent workers [default: 32 when --rate is not given].
    #[arg(long, short = 'c', value_name = "N")]
    pub concurrency: Option<usize>,
    /// Open loop: request rate in requests/s.
    #[arg(long, short = 'r', value_name = "REQ_PER_S")]
    pub rate: Option<f64>,
}

/// How arrivals are paced and how long the load lasts (`[load]`; also each sweep stage).
#[derive(Debug, Args, Clone, Serialize)]
#[command(next_help_heading = "Load")]
pub struct ExtentFlags {
    /// Open-loop arrival process.
    #[arg(long, value_name = "PROCESS", value_parser = ["poisson", "constant", "gamma"], default_value = d::ARRIVAL)]
    pub arrival: String,
    /// Gamma shape for --arrival gamma (<1 burstier than Poisson, >1 smoother).
    #[arg(long, value_name = "SHAPE")]
    pub burstiness: Option<f64>,
    /// Open loop: cap on requests in flight; waiting time is reported as client queue time.
    #[arg(long, value_name = "N")]
    pub max_concurrency: Option<usize>,
    /// Number of measured requests [default: 320 unless --duration is given].
    #[arg(long, short = 'n', value_name = "N")]
    pub requests: Option<u64>,
    /// Stop sending new requests after this long (e.g. 60s, 5m; simulated time for `sim run`).
    #[arg(long, short = 'd', value_name = "DURATION")]
    pub duration: Option<String>,
    /// Warmup: a number of requests sent first and excluded from all metrics, or a duration
    /// (e.g. 10s) excluded from the steady-state window only.
    #[arg(long, value_name = "N|DURATION", default_value = d::WARMUP)]
    pub warmup: String,
    /// Excluded from the end of the steady-state window: a duration (5s) or a number of
    /// last-completed requests. Without --warmup/--cooldown durations the window is detected.
    #[arg(long, value_name = "N|DURATION")]
    pub cooldown: Option<String>,
}

/// What to send (`[workload]`, and the run's `seed`).
#[derive(Debug, Args, Clone, Serialize)]
#[command(next_help_heading = "Workload")]
pub struct WorkloadFlags {
    /// Input length distribution in tokens: N, uniform:LO,HI, normal:MEAN,STD,
    /// lognormal:MEAN,STD or exp:MEAN (each with optional ,MIN,MAX).
    #[arg(long, value_name = "DIST", default_value = d::INPUT_TOKENS)]
    pub input_tokens: String,
    /// Output length distribution in tokens (sent as max_tokens), same forms.
    #[arg(long, value_name = "DIST", default_value = d::OUTPUT_TOKENS)]
    pub output_tokens: String,
    /// Client tokenizer: cl100k_base, o200k_base or a path to a tokenizer.json.
    #[arg(long, value_name = "NAME|PATH", default_value = d::TOKENIZER)]
    pub tokenizer: String,
    /// Do not send ignore_eos (let the model stop naturally).
    #[arg(long)]
    pub no_ignore_eos: bool,
    /// Do not ask for cumulative usage on every chunk (stream_options.continuous_usage_stats).
    #[arg(long)]
    pub no_continuous_usage: bool,
    /// Sampling temperature sent with every request [default: the server's].
    #[arg(long, value_name = "T")]
    pub temperature: Option<f64>,
    /// JSON object merged into every request body, e.g. '{"top_p":0.9}'.
    #[arg(long, value_name = "JSON")]
    pub extra_body: Option<String>,
}

/// Where prompts and arrivals come from: a dataset, a trace, shared-prefix groups or
/// multi-turn sessions (`[workload.dataset]`, `[workload.trace]`, `[workload.shared_prefix]`,
/// `[workload.sessions]`; see docs/workloads.md).
#[derive(Debug, Args, Clone, Serialize)]
#[command(next_help_heading = "Workload sources")]
pub struct SourceFlags {
    /// Prompts from FILE (sent verbatim): JSONL with `prompt` or OpenAI `messages` per line,
    /// ShareGPT JSON, or text with one prompt per line.
    #[arg(long, value_name = "FILE")]
    pub dataset: Option<PathBuf>,
    /// Format of --dataset.
    #[arg(long, value_name = "FORMAT", value_parser = ["auto", "jsonl", "sharegpt", "text"], default_value = d::DATASET_FORMAT)]
    pub dataset_format: String,
    /// Order of --dataset entries: a seeded shuffle (reshuffled on every pass) or file order.
    #[arg(long, value_name = "ORDER", value_parser = ["shuffle", "sequential"], default_value = d::DATASET_ORDER)]
    pub dataset_order: String,
    /// Drop --dataset entries whose prompt has fewer tokens (client tokenizer).
    #[arg(long, value_name = "N")]
    pub dataset_min_input_tokens: Option<u32>,
    /// Drop --dataset entries whose prompt has more tokens (client tokenizer).
    #[arg(long, value_name = "N")]
    pub dataset_max_input_tokens: Option<u32>,
    /// Output length of --dataset requests: `file` (each entry's own, else --output-tokens)
    /// or a length distribution for all.
    #[arg(long, value_name = "file|DIST", default_value = d::DATASET_OUTPUT_TOKENS)]
    pub dataset_output_tokens: String,
    /// Replay the requests of a trace FILE at their recorded times: Mooncake JSONL, Azure LLM
    /// inference CSV or BurstGPT CSV.
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
    /// Format of --trace.
    #[arg(long, value_name = "FORMAT", value_parser = ["auto", "mooncake", "azure", "burstgpt"], default_value = d::TRACE_FORMAT)]
    pub trace_format: String,
    /// Replay speed: recorded gaps are divided by X (2 = twice as fast).
    #[arg(long, value_name = "X", default_value_t = d::TRACE_SPEED)]
    pub trace_speed: f64,
    /// Replay only requests recorded at or after this offset from the trace's first request
    /// (e.g. 10m; trace time).
    #[arg(long, value_name = "DURATION")]
    pub trace_start: Option<String>,
    /// Replay only requests recorded before this offset (trace time).
    #[arg(long, value_name = "DURATION")]
    pub trace_end: Option<String>,
    /// Tokens per `hash_ids` block of a Mooncake trace.
    #[arg(long, value_name = "N", default_value_t = d::TRACE_BLOCK_SIZE)]
    pub trace_block_size: u32,
    /// Skip (and count) malformed dataset/trace lines and prompts longer than the model's
    /// context, instead of stopping before the run.
    #[arg(long)]
    pub skip_invalid: bool,
    /// Shared-prefix workload: number of groups, each with its own shared prefix.
    #[arg(long, value_name = "N")]
    pub prefix_groups: Option<u32>,
    /// Shared-prefix workload: prompts per group (requests default to groups x this).
    #[arg(long, value_name = "N", default_value_t = d::PROMPTS_PER_GROUP)]
    pub prompts_per_group: u32,
    /// Shared-prefix workload: tokens of each group's shared prefix.
    #[arg(long, value_name = "N", default_value_t = d::PREFIX_TOKENS)]
    pub prefix_tokens: u32,
    /// Shared-prefix workload: tokens of each prompt's unique suffix (a length distribution).
    #[arg(long, value_name = "DIST", default_value = d::SUFFIX_TOKENS)]
    pub suffix_tokens: String,
    /// Multi-turn sessions: concurrent users, each in one conversation at a time; every turn
    /// sends the whole history (user turns of --input-tokens, replies of --output-tokens).
    #[arg(long, value_name = "N")]
    pub users: Option<u32>,
    /// Multi-turn sessions: turns per conversation (requests default to users x turns).
    #[arg(long, value_name = "N", default_value_t = d::TURNS)]
    pub turns: u32,
    /// Multi-turn sessions: think time before each later turn, from the previous response's
    /// end, ms (N, uniform:LO,HI, normal:MEAN,STD, lognormal:MEAN,STD, exp:MEAN).
    #[arg(long, value_name = "DIST", default_value = d::THINK_TIME_MS)]
    pub think_time_ms: String,
}

/// The run's seed.
#[derive(Debug, Args, Clone, Serialize)]
#[command(next_help_heading = "Workload")]
pub struct SeedFlags {
    /// Seed of every random choice (prompts, lengths, arrivals, simulated timing and faults):
    /// the same seed sends the same requests.
    #[arg(long, value_name = "N", default_value_t = d::SEED)]
    pub seed: u64,
}

/// What `sim run` sends: lengths only (no text is built offline).
#[derive(Debug, Args, Clone, Serialize)]
#[command(next_help_heading = "Workload")]
pub struct SimWorkloadFlags {
    /// Input length distribution in tokens: N, uniform:LO,HI, normal:MEAN,STD,
    /// lognormal:MEAN,STD or exp:MEAN (each with optional ,MIN,MAX).
    #[arg(long, value_name = "DIST", default_value = d::INPUT_TOKENS)]
    pub input_tokens: String,
    /// Output length distribution in tokens (the requests' max_tokens), same forms.
    #[arg(long, value_name = "DIST", default_value = d::OUTPUT_TOKENS)]
    pub output_tokens: String,
    /// Tokenizer counting the tokens of --dataset prompts: cl100k_base, o200k_base or a path
    /// to a tokenizer.json.
    #[arg(long, value_name = "NAME|PATH", default_value = d::TOKENIZER)]
    pub tokenizer: String,
    /// Let requests stop "naturally" (somewhere in the upper half of max_tokens).
    #[arg(long)]
    pub no_ignore_eos: bool,
}

/// How to judge the run: SLOs for goodput, price for cost per token.
#[derive(Debug, Args, Clone, Serialize)]
#[command(next_help_heading = "SLO and cost")]
pub struct JudgeFlags {
    /// Service-level objectives for goodput, e.g. ttft=200ms,tpot=50ms,e2e=10s,itl_p99=100ms,
    /// or a preset: chat (TTFT < 200 ms), batch (TTFT < 1 s), realtime (TTFT < 50 ms).
    #[arg(long, value_name = "OBJECTIVES")]
    pub slo: Option<String>,
    /// $/hour of one GPU, for cost per token.
    #[arg(long, value_name = "USD")]
    pub gpu_cost_per_hour: Option<f64>,
    /// Price the run with this GPU preset's default $/hour (see `infermeter plan --list-presets`).
    #[arg(long, value_name = "PRESET")]
    pub price_gpu: Option<String>,
    /// Number of GPUs serving the target.
    #[arg(long, value_name = "N", default_value_t = d::GPUS)]
    pub gpus: f64,
    /// SLA profile judged in the summary: chat (TTFT < 200 ms, more than 1,000 output tok/s,
    /// GPU memory utilization above 70 %), batch (< 1 s, 5,000, 90 %), realtime (< 50 ms,
    /// 500, 80 %), or custom ttft=300ms,tps=2000,memory=85%[,ttft_percentile=95], optionally
    /// after a preset (chat,ttft=150ms). TTFT is judged at p99 unless told otherwise.
    #[arg(long, value_name = "PROFILE")]
    pub sla: Option<String>,
}

/// Server and GPU telemetry, the live exporter (`[telemetry]`).
#[derive(Debug, Args, Clone, Serialize)]
#[command(next_help_heading = "Telemetry")]
pub struct TelemetryFlags {
    /// /metrics endpoints to scrape during the run: auto (the target's own /metrics), off,
    /// or URLs (several allowed, e.g. a DCGM exporter's http://gpu-host:9400/metrics; auto
    /// may be listed with them). Raw scrapes go to server_metrics.jsonl.
    #[arg(long, value_name = "URL|auto|off", num_args = 1.., default_values_t = [d::SERVER_METRICS.to_string()])]
    pub server_metrics: Vec<String>,
    /// Time between two scrapes.
    #[arg(long, value_name = "DURATION", default_value = d::SERVER_METRICS_INTERVAL)]
    pub server_metrics_interval: String,
    /// Local GPU telemetry through NVML, loaded at run time: auto (when an NVIDIA driver and
    /// GPU are present) or off.
    #[arg(long, value_name = "MODE", value_parser = ["auto", "off"], default_value = d::GPU_TELEMETRY)]
    pub gpu_telemetry: String,
    /// Serve the run's live metrics for Prometheus at PORT (on 127.0.0.1) or HOST:PORT (e.g.
    /// 0.0.0.0:9464 for every interface).
    #[arg(long, value_name = "ADDR")]
    pub prometheus_listen: Option<String>,
    /// After the run, keep serving until Prometheus has scraped the final values, at most
    /// this long.
    #[arg(long, value_name = "DURATION", default_value = d::PROMETHEUS_LINGER)]
    pub prometheus_linger: String,
}

/// Failures and early stops (`[reliability]`).
#[derive(Debug, Args, Clone, Serialize)]
#[command(next_help_heading = "Reliability")]
pub struct ReliabilityFlags {
    /// Circuit breaker: stop the run (exit code 3) when more than this fraction of the last
    /// --error-window completed requests failed. Off by default.
    #[arg(long, value_name = "FRACTION")]
    pub max_error_rate: Option<f64>,
    /// Completed requests the --max-error-rate window covers; the breaker can trip once
    /// min(N, 10) requests have completed.
    #[arg(long, value_name = "N", default_value_t = d::ERROR_WINDOW, requires = "max_error_rate")]
    pub error_window: usize,
    /// Retry a failed request up to N times on http_429, http_5xx, connect errors and resets
    /// before the response headers (never once a response body has started). 0 = off.
    #[arg(long, value_name = "N", default_value_t = d::RETRY)]
    pub retry: u32,
    /// Wait before the first retry, doubled for each further one (at most 10s).
    #[arg(long, value_name = "DURATION", default_value = d::RETRY_BACKOFF)]
    pub retry_backoff: String,
    /// After Ctrl-C or a --max-error-rate stop, wait at most this long for the requests in
    /// flight (a second Ctrl-C abandons them at once).
    #[arg(long, value_name = "DURATION", default_value = d::DRAIN_TIMEOUT)]
    pub drain_timeout: String,
}

/// Output files (`[output]`).
#[derive(Debug, Args, Clone, Serialize)]
#[command(next_help_heading = "Output")]
pub struct OutputFlags {
    /// Output directory [default: results/<command>-<UTC time>].
    #[arg(long, short = 'o', value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Also write requests.csv (one row per request).
    #[arg(long)]
    pub csv: bool,
    /// Do not write report.html.
    #[arg(long)]
    pub no_html: bool,
}

/// What the console shows (not part of the run specification).
#[derive(Debug, Args, Clone, Serialize)]
#[command(next_help_heading = "Output")]
pub struct UiFlags {
    /// No progress bar.
    #[arg(long)]
    pub no_progress: bool,
    /// Print only the summary.json path.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

/// The simulated server (`[sim]`): the embedded `bench` target, `sim serve` and `sim run`.
/// The names without `sim-` are accepted too (hidden) for `sim serve`/`sim run` scripts of
/// earlier versions.
#[derive(Debug, Args, Clone, Serialize)]
#[command(next_help_heading = "Simulated server")]
pub struct SimFlags {
    /// Simulated server: `engine` (a simulated vLLM-like engine timed by a roofline model of
    /// the GPU) or `fixed` (configured TTFT and inter-token times). Any of --sim-ttft-ms,
    /// --sim-itl-ms, --sim-prefill-us-per-token selects `fixed`.
    #[arg(long, value_name = "MODE", value_parser = ["engine", "fixed"], default_value = d::SIM_MODE)]
    pub sim_mode: String,
    /// Model name the simulated server answers to [default: the preset's name in engine
    /// mode, infermeter-sim in fixed mode].
    #[arg(long, value_name = "NAME")]
    pub sim_model: Option<String>,
    /// Engine: model preset (see `infermeter sim serve --list-presets`).
    #[arg(long, alias = "model-preset", value_name = "PRESET", default_value = d::SIM_MODEL_PRESET)]
    pub sim_model_preset: String,
    /// Engine: a Hugging Face config.json describing the model (overrides --sim-model-preset).
    #[arg(long, alias = "model-config", value_name = "FILE")]
    pub sim_model_config: Option<PathBuf>,
    /// Engine: GPU preset, e.g. h100-sxm, a100-80gb, l4.
    #[arg(long, alias = "gpu", value_name = "PRESET", default_value = d::SIM_GPU)]
    pub sim_gpu: String,
    /// Engine: tensor-parallel degree.
    #[arg(long, alias = "tp", value_name = "N", default_value_t = d::SIM_TP)]
    pub sim_tp: u32,
    /// Engine: weight format: bf16, fp16, fp8, int8, int4.
    #[arg(long, alias = "weights-dtype", value_name = "DTYPE", default_value = d::DTYPE)]
    pub sim_weights_dtype: String,
    /// Engine: KV-cache format: bf16, fp16, fp8.
    #[arg(long, alias = "kv-dtype", value_name = "DTYPE", default_value = d::DTYPE)]
    pub sim_kv_dtype: String,
    /// Sequences served at once; more requests queue [default: vLLM's for the GPU in engine
    /// mode, 256 in fixed mode].
    #[arg(long, alias = "max-num-seqs", value_name = "N")]
    pub sim_max_num_seqs: Option<u32>,
    /// Engine: token budget per step [default: vLLM's for the GPU].
    #[arg(long, alias = "max-num-batched-tokens", value_name = "N")]
    pub sim_max_num_batched_tokens: Option<u32>,
    /// Engine: longest prompt + output [default: the model's context, capped by the KV cache].
    #[arg(long, alias = "max-model-len", value_name = "N")]
    pub sim_max_model_len: Option<u32>,
    /// Engine: prefill each prompt in one step instead of chunks.
    #[arg(long, alias = "no-chunked-prefill")]
    pub sim_no_chunked_prefill: bool,
    /// Engine: disable automatic prefix caching.
    #[arg(long, alias = "no-prefix-caching")]
    pub sim_no_prefix_caching: bool,
    /// Engine: continuous (vLLM) or static (HF-style baseline) batching.
    #[arg(long, alias = "scheduler", value_name = "BATCHING", value_parser = ["continuous", "static"], default_value = d::SCHEDULER)]
    pub sim_scheduler: String,
    /// Engine: the vLLM generation to imitate: vllm-0.5, vllm-0.6 or vllm-v1 (host costs,
    /// scheduling of new prompts against running decodes, default limits).
    #[arg(long, alias = "engine-profile", value_name = "PROFILE", default_value = d::SIM_ENGINE_PROFILE)]
    pub sim_engine_profile: String,
    /// Engine: multi-step scheduling of vLLM 0.6 (decode steps between scheduling decisions;
    /// needs --sim-engine-profile vllm-0.6).
    #[arg(long, alias = "num-scheduler-steps", value_name = "N", default_value_t = d::SIM_SCHEDULER_STEPS)]
    pub sim_num_scheduler_steps: u32,
    /// Engine: real seconds per simulated second (< 1 runs faster than real time; measured
    /// latencies scale with it; `sim run` needs no real time).
    #[arg(long, alias = "time-scale", value_name = "FACTOR", default_value_t = d::SIM_TIME_SCALE)]
    pub sim_time_scale: f64,
    /// Fixed: time to first token once a slot is free, ms (N, uniform:LO,HI, normal:MEAN,STD,
    /// lognormal:MEAN,STD, exp:MEAN).
    #[arg(long, alias = "ttft-ms", value_name = "DIST", default_value = d::SIM_TTFT_MS)]
    pub sim_ttft_ms: String,
    /// Fixed: gap between tokens, ms (same forms as --sim-ttft-ms).
    #[arg(long, alias = "itl-ms", value_name = "DIST", default_value = d::SIM_ITL_MS)]
    pub sim_itl_ms: String,
    /// Fixed: extra prefill time per prompt token, µs.
    #[arg(long, alias = "prefill-us-per-token", value_name = "US", default_value_t = d::SIM_PREFILL_US_PER_TOKEN)]
    pub sim_prefill_us_per_token: f64,
    /// Tokens carried by each streamed chunk.
    #[arg(long, alias = "tokens-per-chunk", value_name = "N", default_value_t = d::SIM_TOKENS_PER_CHUNK)]
    pub sim_tokens_per_chunk: u32,
    /// Inject a fault into this share of requests, KIND=PROB (repeatable; probabilities add up
    /// to at most 1). Kinds: http_429, http_500_json, http_503_html, reset_before_headers,
    /// reset_mid_stream, truncated, error_event, stall, slow_first_byte, malformed_json,
    /// invalid_utf8, huge_line, slow_headers, not_sse. See docs/reliability.md.
    #[arg(long = "fault", value_name = "KIND=PROB")]
    pub fault: Vec<String>,
    /// How long a `stall` fault keeps the stream silent, ms.
    #[arg(long, value_name = "MS", default_value_t = crate::sim::faults::DEFAULT_FAULT_MS)]
    pub fault_stall_ms: u64,
    /// How late a `slow_first_byte` response head is, and how long a `slow_headers` head takes
    /// to trickle out, ms.
    #[arg(long, value_name = "MS", default_value_t = crate::sim::faults::DEFAULT_FAULT_MS)]
    pub fault_delay_ms: u64,
}

/// Sharded runs and a synchronized start (`[shard]`); see docs/distributed.md.
#[derive(Debug, Args, Clone, Serialize)]
#[command(next_help_heading = "Shards")]
pub struct ShardFlags {
    /// Send shard K of N (0 <= K < N): N processes given K = 0..N-1 together send exactly the
    /// single-process run (same prompts, concurrency and rate summed); merge them with
    /// `infermeter merge`.
    #[arg(long, value_name = "K/N", conflicts_with = "shards")]
    pub shard: Option<String>,
    /// Split the run into N shards, this process's index taken from the environment variable
    /// JOB_COMPLETION_INDEX (set by a Kubernetes Indexed Job).
    #[arg(long, value_name = "N")]
    pub shards: Option<u32>,
    /// Start the measured phase at this absolute time, RFC 3339 with a zone (e.g.
    /// 2026-05-01T12:00:00Z): prepare and warm up, then wait for it.
    #[arg(long, value_name = "TIME")]
    pub start_at: Option<String>,
}

/// `k8s render`: where and how the Job runs (not part of the run specification).
#[derive(Debug, Args, Clone, Serialize)]
#[command(next_help_heading = "Kubernetes")]
pub struct K8sFlags {
    /// Container image with the infermeter binary as entry point (built from
    /// deploy/Containerfile).
    #[arg(long, value_name = "IMAGE")]
    pub image: String,
    /// Name of the Job, and prefix of the other objects.
    #[arg(long, value_name = "NAME", default_value = "infermeter")]
    pub name: String,
    /// Namespace of every object [default: the kubectl context's].
    #[arg(long, value_name = "NAMESPACE")]
    pub namespace: Option<String>,
    /// Start the measured phase this long after rendering (unless --start-at is given).
    #[arg(long, value_name = "DURATION", default_value = "2m")]
    pub start_in: String,
    /// Size of the ReadWriteMany results volume.
    #[arg(long, value_name = "QUANTITY", default_value = "1Gi")]
    pub storage: String,
    /// Storage class of the results volume (one offering ReadWriteMany) [default: the
    /// cluster's default class].
    #[arg(long, value_name = "CLASS")]
    pub storage_class: Option<String>,
    /// Access mode of the results volume: ReadWriteMany (shards on several nodes) or
    /// ReadWriteOnce (a single-node cluster such as kind, whose default class offers only it).
    #[arg(long, value_name = "MODE", value_parser = ["ReadWriteMany", "ReadWriteOnce"], default_value = "ReadWriteMany")]
    pub volume_access: String,
    /// CPU request of each shard's pod.
    #[arg(long, value_name = "QUANTITY", default_value = "1")]
    pub cpu: String,
    /// Memory request and limit of each shard's pod.
    #[arg(long, value_name = "QUANTITY", default_value = "1Gi")]
    pub memory: String,
    /// Secret holding the API key, NAME or NAME:KEY (key default api-key), passed to the pods
    /// in the variable named by --api-key-env.
    #[arg(long, value_name = "NAME[:KEY]")]
    pub api_key_secret: Option<String>,
    /// Also deploy infermeter's simulated server (the --sim-* settings) as the target.
    #[arg(long)]
    pub sim_server: bool,
    /// Directory to write the manifests to [default: k8s-NAME].
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

/// The sweep's stages and searches (`[sweep]`).
#[derive(Debug, Args, Clone, Serialize)]
#[command(next_help_heading = "Sweep")]
pub struct SweepFlags {
    /// Open-loop stages at these request rates, e.g. 5,10,20,40.
    #[arg(long, value_name = "LIST")]
    pub rates: Option<String>,
    /// Closed-loop stages at these concurrency levels, e.g. 1,4,16,64.
    #[arg(long, value_name = "LIST")]
    pub concurrencies: Option<String>,
    /// Automatic mode (no --rates/--concurrencies): a closed-loop probe for the maximum
    /// request throughput, then this many rate stages up to 1.2x of it.
    #[arg(long, value_name = "N", default_value_t = d::SWEEP_STAGES)]
    pub stages: usize,
    /// Concurrency of the automatic mode's closed-loop probe.
    #[arg(long, value_name = "N", default_value_t = d::SWEEP_PROBE_CONCURRENCY)]
    pub probe_concurrency: usize,
    /// Recommended operating point as a fraction of the saturation load (0.5-0.7).
    #[arg(long, value_name = "FRACTION", default_value_t = d::SWEEP_OPERATING_FRACTION)]
    pub operating_fraction: f64,
    /// SLO attainment the max-goodput search must reach (needs --slo).
    #[arg(long, value_name = "FRACTION", default_value_t = d::SWEEP_ATTAINMENT_TARGET)]
    pub attainment_target: f64,
    /// Repeated trials per load in the max-goodput search.
    #[arg(long, value_name = "N", default_value_t = d::SWEEP_TRIALS)]
    pub trials: usize,
    /// Bisection steps of the max-goodput search (0 = only the stages).
    #[arg(long, value_name = "N", default_value_t = d::SWEEP_SEARCH_STEPS)]
    pub search_steps: usize,
}
