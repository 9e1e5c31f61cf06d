//! Command line: stage one parses raw flags (clap, this file); stage two validates them into
//! typed configurations (`bench::validate`, `sim_cmd::config`) and runs. Errors reach the user
//! as one line and an exit code: 2 for bad input, 1 for a run that failed.

pub mod bench;
pub mod compare_cmd;
pub mod plan_cmd;
pub mod report_cmd;
pub mod sim_cmd;

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
    Plan(PlanArgs),
    /// Compare runs side by side against the first; gate regressions with --fail-if (exit 3).
    Compare(CompareArgs),
}

#[derive(Debug, Subcommand)]
pub enum SimCommand {
    /// Serve the simulated engine over HTTP.
    Serve(SimServeArgs),
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
    /// Time to first token once a slot is free, ms (N, uniform:LO,HI, normal:MEAN,STD, lognormal:MEAN,STD, exp:MEAN).
    #[arg(long = "sim-ttft-ms", default_value = "normal:30,3")]
    pub sim_ttft_ms: String,
    /// Gap between tokens, ms (same forms as --sim-ttft-ms).
    #[arg(long = "sim-itl-ms", default_value = "normal:10,1")]
    pub sim_itl_ms: String,
    /// Extra prefill time per prompt token, µs.
    #[arg(long = "sim-prefill-us-per-token", default_value_t = 40.0)]
    pub sim_prefill_us_per_token: f64,
    /// Sequences served concurrently; more requests queue.
    #[arg(long = "sim-max-num-seqs", default_value_t = 256)]
    pub sim_max_num_seqs: usize,
    /// Tokens per streamed chunk.
    #[arg(long = "sim-tokens-per-chunk", default_value_t = 1)]
    pub sim_tokens_per_chunk: u32,
}

#[derive(Debug, Args)]
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
    /// Stop sending new requests after this long (e.g. 60s, 5m).
    #[arg(long, short = 'd')]
    pub duration: Option<String>,
    /// Requests sent before the measurement and excluded from metrics.
    #[arg(long, default_value_t = 0)]
    pub warmup: u64,

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
    #[arg(long, default_value = "infermeter-sim")]
    pub model: String,
    #[arg(long, default_value = "normal:30,3")]
    pub ttft_ms: String,
    #[arg(long, default_value = "normal:10,1")]
    pub itl_ms: String,
    #[arg(long, default_value_t = 40.0)]
    pub prefill_us_per_token: f64,
    #[arg(long, default_value_t = 256)]
    pub max_num_seqs: usize,
    #[arg(long, default_value_t = 1)]
    pub tokens_per_chunk: u32,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
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
            } => sim_cmd::serve(args).await,
            Command::Report(args) => report_cmd::run(args),
            Command::Plan(args) => plan_cmd::run(args),
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
