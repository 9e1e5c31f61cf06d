//! Command line: stage one parses raw flags (clap, this file); stage two validates them into
//! typed configurations (`bench::validate`, `sim_cmd::config`) and runs. Errors reach the user
//! as one line and an exit code: 2 for bad input, 1 for a run that failed, 3 for a run stopped
//! by `--max-error-rate` (130 after Ctrl-C; see docs/reliability.md "Exit codes").

pub mod bench;
pub mod compare_cmd;
pub mod plan_cmd;
pub mod report_cmd;
pub mod sim_cmd;
pub mod sweep_cmd;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "infermeter",
    version,
    about = "Measure how well an LLM inference server serves."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Load a server and measure TTFT, inter-token latency, throughput and tails.
    /// Without --url, benchmarks the embedded simulated server.
    Bench(Box<BenchArgs>),
    /// The simulated OpenAI-compatible server.
    Sim {
        #[command(subcommand)]
        command: SimCommand,
    },
    /// Rebuild summary.json (and requests.csv) of a run directory from its records.jsonl.
    Report(ReportArgs),
    /// Memory, batch capacity, roofline and cost of a model on a GPU (no GPU needed).
    Plan(Box<PlanArgs>),
    /// Stages of benchmarks over request rates or concurrency levels: saturation point,
    /// operating point and the highest rate meeting an SLO.
    Sweep(Box<SweepArgs>),
    /// Compare runs side by side against the first; gate regressions with --fail-if (exit 3).
    Compare(CompareArgs),
}

#[derive(Debug, Subcommand)]
pub enum SimCommand {
    /// Serve the simulated engine over HTTP (engine mode with --model-preset/--model-config,
    /// fixed timing otherwise).
    Serve(Box<SimServeArgs>),
    /// Simulate a benchmark run offline (no HTTP, no waiting): same workload and load flags as
    /// `bench`, same records.jsonl and summary.json.
    Run(Box<SimRunArgs>),
}

/// An error with the exit code it deserves.
#[derive(Debug)]
pub struct CliError {
    pub code: u8,
    pub message: String,
}

impl CliError {
    pub fn usage(message: impl Into<String>) -> Self {
        CliError {
            code: 2,
            message: message.into(),
        }
    }
    pub fn failed(message: impl Into<String>) -> Self {
        CliError {
            code: 1,
            message: message.into(),
        }
    }
}

impl From<anyhow::Error> for CliError {
    fn from(e: anyhow::Error) -> Self {
        CliError::failed(format!("{e:#}"))
    }
}

#[derive(Debug, Args, Clone)]
pub struct SimFlags {
    /// Served model name.
    #[arg(long = "sim-model", default_value = "infermeter-sim")]
    pub sim_model: String,
    /// Embedded server mode: `engine` (simulated vLLM-like engine, the default) or `fixed`
    /// (configured TTFT/ITL). Any --sim-ttft-ms/--sim-itl-ms/--sim-prefill-us-per-token
    /// selects `fixed`.
    #[arg(long = "sim-mode", value_parser = ["engine", "fixed"])]
    pub sim_mode: Option<String>,
    /// Fixed mode: time to first token once a slot is free, ms (N, uniform:LO,HI, normal:MEAN,STD, lognormal:MEAN,STD, exp:MEAN) [default: normal:30,3].
    #[arg(long = "sim-ttft-ms")]
    pub sim_ttft_ms: Option<String>,
    /// Fixed mode: gap between tokens, ms (same forms as --sim-ttft-ms) [default: normal:10,1].
    #[arg(long = "sim-itl-ms")]
    pub sim_itl_ms: Option<String>,
    /// Fixed mode: extra prefill time per prompt token, µs [default: 40].
    #[arg(long = "sim-prefill-us-per-token")]
    pub sim_prefill_us_per_token: Option<f64>,
    /// Sequences served concurrently; more requests queue [default: 256 in fixed mode, 16 in engine mode].
    #[arg(long = "sim-max-num-seqs")]
    pub sim_max_num_seqs: Option<u32>,
    /// Tokens per streamed chunk.
    #[arg(long = "sim-tokens-per-chunk", default_value_t = 1)]
    pub sim_tokens_per_chunk: u32,
    /// Engine mode: model preset (see `infermeter sim serve --list-presets`).
    #[arg(long = "sim-model-preset", default_value = DEFAULT_BENCH_PRESET)]
    pub sim_model_preset: String,
    /// Engine mode: GPU preset.
    #[arg(long = "sim-gpu", default_value = DEFAULT_BENCH_GPU)]
    pub sim_gpu: String,
    /// Engine mode: real seconds per simulated second (< 1 runs faster than real time).
    #[arg(long = "sim-time-scale", default_value_t = DEFAULT_BENCH_TIME_SCALE)]
    pub sim_time_scale: f64,
    #[command(flatten)]
    pub faults: FaultFlags,
}

/// Fault injection in the simulated server (`sim serve`, and `bench` without `--url`).
#[derive(Debug, Args, Clone, Default)]
pub struct FaultFlags {
    /// Inject a fault into this share of requests, KIND=PROB (repeatable; probabilities add up
    /// to at most 1). Kinds: http_429, http_500_json, http_503_html, reset_before_headers,
    /// reset_mid_stream, truncated, error_event, stall, slow_first_byte, malformed_json,
    /// invalid_utf8, huge_line, slow_headers, not_sse. In `bench`: the embedded server only
    /// (no --url). See docs/reliability.md.
    #[arg(long = "fault", value_name = "KIND=PROB")]
    pub fault: Vec<String>,
    /// How long a `stall` fault keeps the stream silent, ms.
    #[arg(long = "fault-stall-ms", value_name = "MS", default_value_t = crate::sim::faults::DEFAULT_FAULT_MS)]
    pub fault_stall_ms: u64,
    /// How late a `slow_first_byte` response head is, and how long a `slow_headers` head takes
    /// to trickle out, ms.
    #[arg(long = "fault-delay-ms", value_name = "MS", default_value_t = crate::sim::faults::DEFAULT_FAULT_MS)]
    pub fault_delay_ms: u64,
}

impl FaultFlags {
    /// Stage two: the validated fault plan.
    pub fn plan(&self) -> Result<crate::sim::FaultPlan, CliError> {
        crate::sim::FaultPlan::parse(&self.fault, self.fault_stall_ms, self.fault_delay_ms).map_err(CliError::usage)
    }
}

/// The embedded bench target's engine: a small model on a modest GPU, sped up, so the default
/// `bench` finishes in seconds and still shows batching and queueing.
pub const DEFAULT_BENCH_PRESET: &str = "qwen3-0.6b";
pub const DEFAULT_BENCH_GPU: &str = "l4";
pub const DEFAULT_BENCH_TIME_SCALE: f64 = 0.75;
pub const DEFAULT_BENCH_MAX_NUM_SEQS: u32 = 16;

/// Flags of the simulated vLLM-like engine (`sim serve`, `sim run`).
#[derive(Debug, Args, Clone)]
pub struct EngineFlags {
    /// Model preset, e.g. llama-3.1-8b, qwen3-0.6b (see --list-presets). `sim serve` runs the
    /// engine only when this or --model-config is given; `sim run` defaults to llama-3.1-8b.
    #[arg(long)]
    pub model_preset: Option<String>,
    /// Hugging Face config.json describing the model (engine mode; overrides --model-preset).
    #[arg(long)]
    pub model_config: Option<std::path::PathBuf>,
    /// GPU preset (engine mode), e.g. h100-sxm, a100-80gb, l4.
    #[arg(long, default_value = "h100-sxm")]
    pub gpu: String,
    /// Tensor-parallel degree.
    #[arg(long, default_value_t = 1)]
    pub tp: u32,
    /// Weight dtype: bf16, fp16, fp8, int8, int4.
    #[arg(long, default_value = "bf16")]
    pub weights_dtype: String,
    /// KV-cache dtype: bf16, fp16, fp8.
    #[arg(long, default_value = "bf16")]
    pub kv_dtype: String,
    /// Most sequences running at once [default: vLLM's for the GPU; 256 in fixed mode].
    #[arg(long)]
    pub max_num_seqs: Option<u32>,
    /// Token budget per engine step [default: vLLM's for the GPU].
    #[arg(long)]
    pub max_num_batched_tokens: Option<u32>,
    /// Longest prompt + output [default: the model's context, capped by the KV cache].
    #[arg(long)]
    pub max_model_len: Option<u32>,
    /// Prefill each prompt in one step instead of chunks.
    #[arg(long)]
    pub no_chunked_prefill: bool,
    /// Disable automatic prefix caching.
    #[arg(long)]
    pub no_prefix_caching: bool,
    /// Batching: continuous (vLLM) or static (HF-style baseline).
    #[arg(long, value_parser = ["continuous", "static"], default_value = "continuous")]
    pub scheduler: String,
    /// Print the model and GPU presets and exit.
    #[arg(long)]
    pub list_presets: bool,
}

#[derive(Debug, Args, Clone)]
pub struct BenchArgs {
    /// Base URL of an OpenAI-compatible server (e.g. http://127.0.0.1:8000). Without it, an
    /// embedded simulated server is started on 127.0.0.1.
    #[arg(long)]
    pub url: Option<String>,
    /// Model name to request (default: the first model the server lists).
    #[arg(long)]
    pub model: Option<String>,
    /// API to call.
    #[arg(long, value_parser = ["completions", "chat"], default_value = "completions")]
    pub api: String,
    /// Endpoint path overriding the API's default (e.g. /v1/completions).
    #[arg(long)]
    pub endpoint: Option<String>,
    /// Ask for a single non-streamed response instead of a stream (TTFT then equals E2E).
    #[arg(long)]
    pub no_stream: bool,

    #[command(flatten)]
    pub load: LoadFlags,
    /// Warmup: a number of requests sent first and excluded from all metrics, or a duration
    /// (e.g. 10s) excluded from the steady-state window only.
    #[arg(long, default_value = "0")]
    pub warmup: String,
    /// Excluded from the end of the steady-state window: a duration (5s) or a number of
    /// last-completed requests. Without --warmup/--cooldown durations the window is detected.
    #[arg(long)]
    pub cooldown: Option<String>,
    /// Service-level objectives for goodput, e.g. ttft=200ms,tpot=50ms,e2e=10s,itl_p99=100ms,
    /// or a preset: chat (TTFT < 200 ms), batch (TTFT < 1 s), realtime (TTFT < 50 ms).
    #[arg(long)]
    pub slo: Option<String>,
    /// $/hour of one GPU, for cost per token.
    #[arg(long)]
    pub gpu_cost_per_hour: Option<f64>,
    /// Price the run with this GPU preset's default $/hour (see `infermeter plan --list-presets`).
    #[arg(long)]
    pub price_gpu: Option<String>,
    /// Number of GPUs serving the target.
    #[arg(long, default_value_t = 1.0)]
    pub gpus: f64,

    /// Input length distribution in tokens: N, uniform:LO,HI, normal:MEAN,STD, lognormal:MEAN,STD (each with optional ,MIN,MAX).
    #[arg(long, default_value = "512")]
    pub input_tokens: String,
    /// Output length distribution in tokens (sent as max_tokens).
    #[arg(long, default_value = "64")]
    pub output_tokens: String,
    /// Tokenizer: cl100k_base, o200k_base or a path to a tokenizer.json.
    #[arg(long, default_value = "cl100k_base")]
    pub tokenizer: String,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Do not send ignore_eos (let the model stop naturally).
    #[arg(long)]
    pub no_ignore_eos: bool,
    /// Do not ask for cumulative usage on every chunk (stream_options.continuous_usage_stats).
    #[arg(long)]
    pub no_continuous_usage: bool,
    #[arg(long)]
    pub temperature: Option<f64>,
    /// JSON object merged into every request body, e.g. '{"top_p":0.9}'.
    #[arg(long)]
    pub extra_body: Option<String>,

    /// Environment variable holding the API key (sent as a Bearer token; never printed).
    #[arg(long, default_value = "OPENAI_API_KEY")]
    pub api_key_env: String,
    /// File holding the API key (surrounding whitespace trimmed; never printed), instead of
    /// the environment variable.
    #[arg(long, value_name = "PATH", conflicts_with = "api_key_env")]
    pub api_key_file: Option<std::path::PathBuf>,
    /// Add the certificates of this PEM file to the trusted roots (for https:// targets).
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Option<std::path::PathBuf>,
    /// Do not verify the server's TLS certificate (https:// only; prints a warning).
    #[arg(long)]
    pub insecure: bool,
    /// Arrival time of streamed bytes: the kernel's receive timestamp of the socket segment
    /// (Linux; immune to the client's own scheduling delay), or when the client's read
    /// returned.
    #[arg(long, value_parser = ["kernel", "user"], default_value = "kernel", value_name = "CLOCK")]
    pub rx_timestamp: String,
    /// Extra header 'Name: value' (repeatable).
    #[arg(long = "header", short = 'H')]
    pub headers: Vec<String>,
    #[arg(long, default_value = "10s")]
    pub connect_timeout: String,
    /// Until response headers arrive.
    #[arg(long, default_value = "300s")]
    pub first_byte_timeout: String,
    /// Longest silence between two chunks of a stream.
    #[arg(long, default_value = "120s")]
    pub idle_timeout: String,
    /// Whole-request limit.
    #[arg(long, default_value = "30m")]
    pub request_timeout: String,
    /// Circuit breaker: stop the run (exit code 3) when more than this fraction of the last
    /// --error-window completed requests failed. Off by default.
    #[arg(long, value_name = "FRACTION")]
    pub max_error_rate: Option<f64>,
    /// Completed requests the --max-error-rate window covers; the breaker can trip once
    /// min(N, 10) requests have completed.
    #[arg(long, value_name = "N", default_value_t = 50, requires = "max_error_rate")]
    pub error_window: usize,
    /// Retry a failed request up to N times on http_429, http_5xx, connect errors and resets
    /// before the response headers (never once a response body has started). 0 = off.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub retry: u32,
    /// Wait before the first retry, doubled for each further one (at most 10s).
    #[arg(long, value_name = "DURATION", default_value = "100ms")]
    pub retry_backoff: String,
    /// After Ctrl-C or a --max-error-rate stop, wait at most this long for the requests in
    /// flight (a second Ctrl-C abandons them at once).
    #[arg(long, value_name = "DURATION", default_value = "30s")]
    pub drain_timeout: String,

    /// Output directory (default results/bench-<UTC time>).
    #[arg(long, short = 'o')]
    pub out: Option<std::path::PathBuf>,
    /// Also write requests.csv (one row per request).
    #[arg(long)]
    pub csv: bool,
    /// No progress bar.
    #[arg(long)]
    pub no_progress: bool,
    /// Print only the summary.json path.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Print nothing (used for the stages of a sweep).
    #[arg(long, hide = true)]
    pub silent: bool,
    /// Do not write report.html.
    #[arg(long)]
    pub no_html: bool,

    #[command(flatten)]
    pub sim: SimFlags,
}

#[derive(Debug, Args)]
pub struct SimServeArgs {
    /// Address to bind (loopback unless given explicitly).
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    #[arg(long, default_value_t = 8000)]
    pub port: u16,
    /// Served model name [default: infermeter-sim, or the preset name in engine mode].
    #[arg(long)]
    pub model: Option<String>,
    /// Fixed mode: time to first token, ms.
    #[arg(long, default_value = "normal:30,3")]
    pub ttft_ms: String,
    /// Fixed mode: gap between tokens, ms.
    #[arg(long, default_value = "normal:10,1")]
    pub itl_ms: String,
    /// Fixed mode: extra prefill time per prompt token, µs.
    #[arg(long, default_value_t = 40.0)]
    pub prefill_us_per_token: f64,
    #[arg(long, default_value_t = 1)]
    pub tokens_per_chunk: u32,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Engine mode: real seconds per simulated second (< 1 runs faster than real time).
    #[arg(long, default_value_t = 1.0)]
    pub time_scale: f64,
    #[command(flatten)]
    pub engine: EngineFlags,
    #[command(flatten)]
    pub faults: FaultFlags,
    /// Append one JSON line per streamed response to FILE: its X-Request-Id and the time each
    /// body chunk was written (system monotonic clock, ns). Used to measure a client's
    /// timing error (scripts/perf.sh).
    #[arg(long, value_name = "FILE")]
    pub write_log: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
pub struct SimRunArgs {
    #[command(flatten)]
    pub load: LoadFlags,
    /// Input length distribution in tokens (as for bench).
    #[arg(long, default_value = "512")]
    pub input_tokens: String,
    /// Output length distribution in tokens (as for bench).
    #[arg(long, default_value = "64")]
    pub output_tokens: String,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Let requests stop "naturally" (somewhere in the upper half of max_tokens).
    #[arg(long)]
    pub no_ignore_eos: bool,
    /// Output directory (default results/sim-<UTC time>).
    #[arg(long, short = 'o')]
    pub out: Option<std::path::PathBuf>,
    /// Also write requests.csv.
    #[arg(long)]
    pub csv: bool,
    /// Print only the summary.json path.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Print nothing (used for the stages of a sweep).
    #[arg(long, hide = true)]
    pub silent: bool,
    #[command(flatten)]
    pub engine: EngineFlags,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A run directory containing records.jsonl (and run.json), or only a sweep.json.
    pub dir: std::path::PathBuf,
    /// Do not write report.html.
    #[arg(long)]
    pub no_html: bool,
}

/// Parse and run; returns the process exit code.
pub fn main_entry() -> u8 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return 1;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Bench(args) => bench::run(*args).await,
            Command::Sim {
                command: SimCommand::Serve(args),
            } => sim_cmd::serve(*args).await,
            Command::Sim {
                command: SimCommand::Run(args),
            } => sim_cmd::run_offline(*args),
            Command::Report(args) => report_cmd::run(args),
            Command::Plan(args) => plan_cmd::run(*args),
            Command::Sweep(args) => sweep_cmd::run(*args).await,
            Command::Compare(args) => compare_cmd::run(args),
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", e.message.lines().next().unwrap_or("unknown error"));
            e.code
        }
    }
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Model preset (see --list-presets).
    #[arg(long)]
    pub model_preset: Option<String>,
    /// Hugging Face config.json of the model.
    #[arg(long)]
    pub model_config: Option<std::path::PathBuf>,
    /// GPU preset (default h100-sxm unless a custom GPU is described).
    #[arg(long)]
    pub gpu: Option<String>,
    /// Custom GPU: dense BF16 TFLOP/s.
    #[arg(long)]
    pub gpu_tflops: Option<f64>,
    /// Custom GPU: memory bandwidth in GB/s.
    #[arg(long)]
    pub gpu_bandwidth: Option<f64>,
    /// Custom GPU: memory in GB.
    #[arg(long)]
    pub gpu_memory: Option<f64>,
    /// Weights format: bf16, fp16, fp8, int8, int4.
    #[arg(long, default_value = "bf16")]
    pub weights_dtype: String,
    /// KV cache format (default: the weights format, 16-bit for integer weights).
    #[arg(long)]
    pub kv_dtype: Option<String>,
    /// Tensor-parallel degree.
    #[arg(long, default_value_t = 1)]
    pub tp: u32,
    #[arg(long, default_value_t = 0.9)]
    pub gpu_memory_utilization: f64,
    /// Tokens per sequence used to size the KV cache.
    #[arg(long, default_value_t = 4096)]
    pub context: u32,
    /// Batch sizes of the decode table, e.g. 1,8,32,64.
    #[arg(long)]
    pub batch: Option<String>,
    /// Prompt tokens of the request used for prefill and total time.
    #[arg(long, default_value_t = 1024)]
    pub input_tokens: u32,
    /// Output tokens of that request.
    #[arg(long, default_value_t = 256)]
    pub output_tokens: u32,
    /// $/hour of one GPU (default: the preset's price).
    #[arg(long)]
    pub gpu_cost_per_hour: Option<f64>,
    /// Compare FP16 / INT8 / INT4 weights.
    #[arg(long)]
    pub compare_dtypes: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// List model and GPU presets.
    #[arg(long)]
    pub list_presets: bool,
}

#[derive(Debug, Args)]
pub struct SweepArgs {
    /// Every bench flag applies to each stage (--url, workload, --requests/--duration, --slo...).
    #[command(flatten)]
    pub bench: BenchArgs,
    /// Open-loop stages at these request rates, e.g. 5,10,20,40.
    #[arg(long)]
    pub rates: Option<String>,
    /// Closed-loop stages at these concurrency levels, e.g. 1,4,16,64.
    #[arg(long)]
    pub concurrencies: Option<String>,
    /// Automatic mode (no --rates/--concurrencies): a closed-loop probe for the maximum
    /// request throughput, then this many rate stages up to 1.2x of it.
    #[arg(long, default_value_t = 6)]
    pub stages: usize,
    /// Concurrency of the automatic mode's closed-loop probe.
    #[arg(long, default_value_t = 64)]
    pub probe_concurrency: usize,
    /// Recommended operating point as a fraction of the saturation load (0.5-0.7).
    #[arg(long, default_value_t = 0.6)]
    pub operating_fraction: f64,
    /// SLO attainment the max-goodput search must reach (needs --slo).
    #[arg(long, default_value_t = 0.9)]
    pub attainment_target: f64,
    /// Repeated trials per load in the max-goodput search.
    #[arg(long, default_value_t = 2)]
    pub trials: usize,
    /// Bisection steps of the max-goodput search (0 = only the stages).
    #[arg(long, default_value_t = 3)]
    pub search_steps: usize,
}

#[derive(Debug, Args)]
#[command(after_help = "Exit codes: 0 ok; 2 bad input (e.g. a malformed gate); 3 a --fail-if gate was violated.")]
pub struct CompareArgs {
    /// Run directories (records.jsonl, else summary.json); the first is the baseline.
    #[arg(required = true, num_args = 2.., value_name = "RUN")]
    pub runs: Vec<std::path::PathBuf>,
    /// Also write an HTML overlay report (all runs' CDFs on shared axes) to FILE.
    #[arg(long, value_name = "FILE")]
    pub html: Option<std::path::PathBuf>,
    /// Regression gate 'METRIC >|< CHANGE', e.g. 'ttft.p99 > +10%' or 'output_tps < -5%'
    /// (repeatable): exit 3 when any run after the first crosses it.
    #[arg(long = "fail-if", value_name = "GATE")]
    pub fail_if: Vec<String>,
    /// Print the comparison (and gate results) as JSON.
    #[arg(long)]
    pub json: bool,
    /// Bootstrap resamples for the confidence intervals.
    #[arg(long, default_value_t = 1000)]
    pub resamples: usize,
    /// Seed of the bootstrap resampling.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// How much load and for how long: shared by `bench`, `sim run` and (per stage) `sweep`.
#[derive(Debug, Args, Clone)]
pub struct LoadFlags {
    /// Closed loop: number of concurrent workers (default 32 when --rate is not given).
    #[arg(long, short = 'c')]
    pub concurrency: Option<usize>,
    /// Open loop: request rate in requests/s.
    #[arg(long, short = 'r')]
    pub rate: Option<f64>,
    /// Open-loop arrival process.
    #[arg(long, value_parser = ["poisson", "constant", "gamma"], default_value = "poisson")]
    pub arrival: String,
    /// Gamma shape for --arrival gamma (<1 burstier than Poisson, >1 smoother).
    #[arg(long)]
    pub burstiness: Option<f64>,
    /// Open loop: cap on requests in flight; waiting time is reported as client queue time.
    #[arg(long)]
    pub max_concurrency: Option<usize>,
    /// Number of measured requests (default 320 unless --duration is given).
    #[arg(long, short = 'n')]
    pub requests: Option<u64>,
    /// Stop sending new requests after this long (e.g. 60s, 5m; simulated time for `sim run`).
    #[arg(long, short = 'd')]
    pub duration: Option<String>,
}

impl LoadFlags {
    /// Stage two: the load, the duration and the request count, validated.
    pub fn resolve(&self) -> Result<(crate::schedule::Load, Option<std::time::Duration>, Option<u64>), CliError> {
        let load = bench::load_from(
            self.rate,
            self.concurrency,
            &self.arrival,
            self.burstiness,
            self.max_concurrency,
        )?;
        let duration = self
            .duration
            .as_deref()
            .map(|d| bench::dur("duration", d))
            .transpose()?;
        let requests = bench::requests_from(self.requests, duration)?;
        Ok((load, duration, requests))
    }
}
