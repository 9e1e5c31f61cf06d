//! Command line: stage one parses raw flags (clap, `flags`); stage two turns them — over a
//! `--config` file when given — into one validated run specification (`overlay`,
//! `spec::validate`) and calls the application layer (`app`). Nothing here runs a job.
//! Errors reach the user as one line and an exit code: 2 for bad input, 1 for a run that
//! failed, 3 for a run stopped by `--max-error-rate` (130 after Ctrl-C; see
//! docs/reliability.md "Exit codes").

pub mod compare_cmd;
pub mod flags;
pub mod overlay;
pub mod plan_cmd;

use crate::app::{self, Ui};
pub use crate::error::Error as CliError;
use crate::spec::{defaults, validate, RunSpec};
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use flags::*;
use serde::Serialize;

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
    /// Without --url, benchmarks the embedded simulated server (--sim-*).
    Bench(Box<BenchArgs>),
    /// The simulated OpenAI-compatible server: served over HTTP, or run offline.
    Sim {
        #[command(subcommand)]
        command: SimCommand,
    },
    /// Rebuild summary.json (and requests.csv, report.html) of a run directory from its
    /// records.jsonl.
    Report(ReportArgs),
    /// Memory, batch capacity, roofline and cost of a model on a GPU (no GPU needed).
    Plan(Box<PlanArgs>),
    /// Stages of benchmarks over request rates or concurrency levels: saturation point,
    /// operating point and the highest rate meeting an SLO.
    Sweep(Box<SweepArgs>),
    /// Compare runs side by side against the first; gate regressions with --fail-if (exit 3).
    Compare(CompareArgs),
    /// Merge the shards of a sharded run (bench --shard K/N) into one run directory: the
    /// records, summary and report a single process would have written.
    Merge(MergeArgs),
    /// Kubernetes: run a sharded benchmark as an Indexed Job.
    K8s {
        #[command(subcommand)]
        command: K8sCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum K8sCommand {
    /// Write the manifests of a sharded run: an Indexed Job (one pod per shard), a ConfigMap
    /// with the run specification, a ReadWriteMany results volume, a merge Job and a pod to
    /// copy the merged run out. Takes bench's flags (or --config) and --shards N.
    Render(Box<K8sRenderArgs>),
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The shards' run directories, or a directory holding them (e.g. a Job's results volume).
    #[arg(required = true, value_name = "DIR")]
    pub dirs: Vec<std::path::PathBuf>,
    /// Directory of the merged run.
    #[arg(long, short = 'o', value_name = "DIR")]
    pub out: std::path::PathBuf,
    /// Merge what exists when shards are missing or did not finish (the summary says so).
    #[arg(long)]
    pub allow_partial: bool,
    /// Do not write report.html.
    #[arg(long)]
    pub no_html: bool,
    /// Print only the summary.json path.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

#[derive(Debug, Args, Serialize)]
pub struct K8sRenderArgs {
    #[command(flatten)]
    #[serde(flatten)]
    pub config: ConfigFlags,
    #[command(flatten)]
    #[serde(flatten)]
    pub k8s: K8sFlags,
    #[command(flatten)]
    #[serde(flatten)]
    pub shard: ShardFlags,
    #[command(flatten)]
    #[serde(flatten)]
    pub target: TargetFlags,
    #[command(flatten)]
    #[serde(flatten)]
    pub shape: LoadShapeFlags,
    #[command(flatten)]
    #[serde(flatten)]
    pub extent: ExtentFlags,
    #[command(flatten)]
    #[serde(flatten)]
    pub workload: WorkloadFlags,
    #[command(flatten)]
    #[serde(flatten)]
    pub sources: SourceFlags,
    #[command(flatten)]
    #[serde(flatten)]
    pub seed: SeedFlags,
    #[command(flatten)]
    #[serde(flatten)]
    pub judge: JudgeFlags,
    #[command(flatten)]
    #[serde(flatten)]
    pub reliability: ReliabilityFlags,
    #[command(flatten)]
    #[serde(flatten)]
    pub telemetry: TelemetryFlags,
    #[command(flatten)]
    #[serde(flatten)]
    pub sim: SimFlags,
}

#[derive(Debug, Subcommand)]
pub enum SimCommand {
    /// Serve the simulated server over HTTP: the same server `bench` starts when no --url is
    /// given (engine mode by default; fixed timing with --sim-mode fixed or --sim-ttft-ms).
    Serve(Box<SimServeArgs>),
    /// Simulate a benchmark of the engine offline (no HTTP, no waiting): bench's load and
    /// length flags and run specification, the same records.jsonl and summary.json.
    Run(Box<SimRunArgs>),
}

#[derive(Debug, Args, Serialize)]
pub struct BenchArgs {
    #[command(flatten)]
    #[serde(flatten)]
    pub config: ConfigFlags,
    #[command(flatten)]
    #[serde(flatten)]
    pub target: TargetFlags,
    #[command(flatten)]
    #[serde(flatten)]
    pub shape: LoadShapeFlags,
    #[command(flatten)]
    #[serde(flatten)]
    pub extent: ExtentFlags,
    #[command(flatten)]
    #[serde(flatten)]
    pub workload: WorkloadFlags,
    #[command(flatten)]
    #[serde(flatten)]
    pub sources: SourceFlags,
    #[command(flatten)]
    #[serde(flatten)]
    pub seed: SeedFlags,
    #[command(flatten)]
    #[serde(flatten)]
    pub judge: JudgeFlags,
    #[command(flatten)]
    #[serde(flatten)]
    pub reliability: ReliabilityFlags,
    #[command(flatten)]
    #[serde(flatten)]
    pub telemetry: TelemetryFlags,
    #[command(flatten)]
    #[serde(flatten)]
    pub output: OutputFlags,
    #[command(flatten)]
    #[serde(flatten)]
    pub ui: UiFlags,
    #[command(flatten)]
    #[serde(flatten)]
    pub shard: ShardFlags,
    #[command(flatten)]
    #[serde(flatten)]
    pub sim: SimFlags,
}

#[derive(Debug, Args, Serialize)]
pub struct SweepArgs {
    #[command(flatten)]
    #[serde(flatten)]
    pub config: ConfigFlags,
    #[command(flatten)]
    #[serde(flatten)]
    pub sweep: SweepFlags,
    #[command(flatten)]
    #[serde(flatten)]
    pub target: TargetFlags,
    #[command(flatten)]
    #[serde(flatten)]
    pub extent: ExtentFlags,
    #[command(flatten)]
    #[serde(flatten)]
    pub workload: WorkloadFlags,
    #[command(flatten)]
    #[serde(flatten)]
    pub sources: SourceFlags,
    #[command(flatten)]
    #[serde(flatten)]
    pub seed: SeedFlags,
    #[command(flatten)]
    #[serde(flatten)]
    pub judge: JudgeFlags,
    #[command(flatten)]
    #[serde(flatten)]
    pub reliability: ReliabilityFlags,
    #[command(flatten)]
    #[serde(flatten)]
    pub telemetry: TelemetryFlags,
    #[command(flatten)]
    #[serde(flatten)]
    pub output: OutputFlags,
    #[command(flatten)]
    #[serde(flatten)]
    pub ui: UiFlags,
    #[command(flatten)]
    #[serde(flatten)]
    pub sim: SimFlags,
}

#[derive(Debug, Args, Serialize)]
pub struct SimServeArgs {
    #[command(flatten)]
    #[serde(flatten)]
    pub config: ConfigFlags,
    /// Address to bind (loopback unless given explicitly).
    #[arg(long, value_name = "IP", default_value = "127.0.0.1")]
    pub host: String,
    /// Port to bind (0: any free port, printed on stderr).
    #[arg(long, value_name = "PORT", default_value_t = defaults::SIM_PORT)]
    pub port: u16,
    #[command(flatten)]
    #[serde(flatten)]
    pub seed: SeedFlags,
    #[command(flatten)]
    #[serde(flatten)]
    pub sim: SimFlags,
    /// Append one JSON line per streamed response to FILE: its X-Request-Id and the time each
    /// body chunk was written (system monotonic clock, ns). Used to measure a client's
    /// timing error (scripts/perf.sh).
    #[arg(long, value_name = "FILE")]
    pub write_log: Option<std::path::PathBuf>,
    /// Print the model and GPU presets and exit.
    #[arg(long)]
    pub list_presets: bool,
}

#[derive(Debug, Args, Serialize)]
pub struct SimRunArgs {
    #[command(flatten)]
    #[serde(flatten)]
    pub config: ConfigFlags,
    #[command(flatten)]
    #[serde(flatten)]
    pub shape: LoadShapeFlags,
    #[command(flatten)]
    #[serde(flatten)]
    pub extent: ExtentFlags,
    #[command(flatten)]
    #[serde(flatten)]
    pub workload: SimWorkloadFlags,
    #[command(flatten)]
    #[serde(flatten)]
    pub sources: SourceFlags,
    #[command(flatten)]
    #[serde(flatten)]
    pub seed: SeedFlags,
    #[command(flatten)]
    #[serde(flatten)]
    pub judge: JudgeFlags,
    #[command(flatten)]
    #[serde(flatten)]
    pub output: OutputFlags,
    /// Print only the summary.json path.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    #[command(flatten)]
    #[serde(flatten)]
    pub sim: SimFlags,
    /// Print the model and GPU presets and exit.
    #[arg(long)]
    pub list_presets: bool,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A run directory containing records.jsonl (and run.json), or only a sweep.json.
    #[arg(value_name = "DIR")]
    pub dir: std::path::PathBuf,
    /// Do not write report.html.
    #[arg(long)]
    pub no_html: bool,
}

/// The run specification of a command: its `--config` file (or the defaults) with the typed
/// flags over it. `m` are the command's own matches.
fn spec_of<T: Serialize>(args: &T, config: &ConfigFlags, m: &ArgMatches) -> Result<RunSpec, CliError> {
    let values = serde_json::to_value(args).map_err(|e| CliError::failed(format!("internal: flags: {e}")))?;
    overlay::spec_from(config.config.as_deref(), &overlay::given(m), &values)
}

/// `--print-config`: the resolved specification as TOML (after validation, so a bad one
/// fails as the run would).
fn print_config(spec: &RunSpec) -> Result<u8, CliError> {
    print!("{}", spec.to_toml().map_err(CliError::failed)?);
    Ok(0)
}

/// The matches of a (nested) subcommand.
fn sub<'a>(m: &'a ArgMatches, path: &[&str]) -> &'a ArgMatches {
    path.iter().fold(m, |m, name| m.subcommand_matches(name).unwrap_or(m))
}

async fn bench(a: &BenchArgs, m: &ArgMatches) -> Result<u8, CliError> {
    let spec = spec_of(a, &a.config, m)?;
    let cfg = validate::bench(&spec)?;
    if a.config.print_config {
        return print_config(&cfg.spec);
    }
    let ui = Ui {
        progress: !a.ui.no_progress,
        quiet: a.ui.quiet,
        silent: false,
    };
    app::bench::run_stage(&cfg, ui).await?.exit()
}

async fn sweep(a: &SweepArgs, m: &ArgMatches) -> Result<u8, CliError> {
    let mut spec = spec_of(a, &a.config, m)?;
    spec.sweep.get_or_insert_with(Default::default);
    let cfg = validate::sweep(&spec)?;
    if a.config.print_config {
        return print_config(&spec);
    }
    let ui = Ui {
        progress: !a.ui.no_progress,
        quiet: a.ui.quiet,
        silent: false,
    };
    app::sweep::run(&cfg, ui).await
}

async fn serve(a: &SimServeArgs, m: &ArgMatches) -> Result<u8, CliError> {
    if a.list_presets {
        print!("{}", crate::sim::timing::presets_text());
        return Ok(0);
    }
    let mut spec = spec_of(a, &a.config, m)?;
    let mut cfg = validate::sim_server(&spec.sim.clone().unwrap_or_default(), spec.seed)?;
    if a.config.print_config {
        spec.sim.get_or_insert_with(Default::default);
        return print_config(&spec);
    }
    if let Some(path) = &a.write_log {
        let log = crate::sim::write_log::WriteLog::create(path)
            .map_err(|e| CliError::usage(format!("cannot create --write-log {}: {e}", path.display())))?;
        cfg.write_log = Some(log);
    }
    let ip: std::net::IpAddr = a
        .host
        .parse()
        .map_err(|_| CliError::usage(format!("invalid --host '{}': expected an IP address", a.host)))?;
    app::serve::run(cfg, std::net::SocketAddr::new(ip, a.port)).await
}

fn merge(a: &MergeArgs) -> Result<u8, CliError> {
    let ui = Ui {
        progress: false,
        quiet: a.quiet,
        silent: false,
    };
    app::merge::run(&a.dirs, &a.out, a.allow_partial, a.no_html, ui)
}

fn k8s_render(a: &K8sRenderArgs, m: &ArgMatches) -> Result<u8, CliError> {
    let spec = spec_of(a, &a.config, m)?;
    if a.config.print_config {
        return print_config(&spec);
    }
    let k = &a.k8s;
    let shards = spec
        .shard
        .count
        .ok_or_else(|| CliError::usage("k8s render needs --shards N (or shard.count): the number of pods"))?;
    let start_at = match &spec.shard.start_at {
        Some(t) => t.clone(),
        None => {
            let d = validate::dur("start-in", &k.start_in)?;
            let now = crate::shard::Anchor::now().unix_us;
            crate::util::utc_strings((now + d.as_micros() as u64).div_ceil(1_000_000)).1
        }
    };
    let api_key_secret = k.api_key_secret.as_ref().map(|s| match s.split_once(':') {
        Some((n, key)) => (n.to_string(), key.to_string()),
        None => (s.clone(), "api-key".to_string()),
    });
    let opts = crate::shard::k8s::K8sOptions {
        name: k.name.clone(),
        namespace: k.namespace.clone(),
        image: k.image.clone(),
        shards,
        start_at,
        storage: k.storage.clone(),
        storage_class: k.storage_class.clone(),
        volume_access: k.volume_access.clone(),
        cpu: k.cpu.clone(),
        memory: k.memory.clone(),
        api_key_secret,
        sim_server: k.sim_server,
    };
    let out_dir = k
        .out_dir
        .clone()
        .unwrap_or_else(|| std::path::PathBuf::from(format!("k8s-{}", k.name)));
    app::k8s::run(&spec, &opts, &out_dir, false)
}

fn sim_run(a: &SimRunArgs, m: &ArgMatches) -> Result<u8, CliError> {
    if a.list_presets {
        print!("{}", crate::sim::timing::presets_text());
        return Ok(0);
    }
    let spec = spec_of(a, &a.config, m)?;
    let cfg = validate::sim_run(&spec)?;
    if a.config.print_config {
        return print_config(&cfg.spec);
    }
    let ui = Ui {
        progress: false,
        quiet: a.quiet,
        silent: false,
    };
    app::simrun::run(&cfg, ui)
}

/// Parse and run; returns the process exit code.
pub fn main_entry() -> u8 {
    let parsed = Cli::command()
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m).map(|c| (c, m)));
    let (cli, matches) = match parsed {
        Ok(x) => x,
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
            Command::Bench(a) => bench(&a, sub(&matches, &["bench"])).await,
            Command::Sim {
                command: SimCommand::Serve(a),
            } => serve(&a, sub(&matches, &["sim", "serve"])).await,
            Command::Sim {
                command: SimCommand::Run(a),
            } => sim_run(&a, sub(&matches, &["sim", "run"])),
            Command::Report(a) => app::rebuild::run(&a.dir, a.no_html),
            Command::Plan(a) => plan_cmd::run(*a),
            Command::Sweep(a) => sweep(&a, sub(&matches, &["sweep"])).await,
            Command::Compare(a) => compare_cmd::run(a),
            Command::Merge(a) => merge(&a),
            Command::K8s {
                command: K8sCommand::Render(a),
            } => k8s_render(&a, sub(&matches, &["k8s", "render"])),
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
    /// Model preset (see --list-presets); this or --model-config is required.
    #[arg(long, value_name = "PRESET")]
    pub model_preset: Option<String>,
    /// Hugging Face config.json of the model.
    #[arg(long, value_name = "FILE")]
    pub model_config: Option<std::path::PathBuf>,
    /// GPU preset [default: h100-sxm unless a custom GPU is described].
    #[arg(long, value_name = "PRESET")]
    pub gpu: Option<String>,
    /// Custom GPU: dense BF16 TFLOP/s.
    #[arg(long, value_name = "TFLOPS")]
    pub gpu_tflops: Option<f64>,
    /// Custom GPU: memory bandwidth in GB/s.
    #[arg(long, value_name = "GB_PER_S")]
    pub gpu_bandwidth: Option<f64>,
    /// Custom GPU: memory in GB.
    #[arg(long, value_name = "GB")]
    pub gpu_memory: Option<f64>,
    /// Weights format: bf16, fp16, fp8, int8, int4.
    #[arg(long, value_name = "DTYPE", default_value = defaults::DTYPE)]
    pub weights_dtype: String,
    /// KV cache format (default: the weights format, 16-bit for integer weights).
    #[arg(long, value_name = "DTYPE")]
    pub kv_dtype: Option<String>,
    /// Tensor-parallel degree.
    #[arg(long, value_name = "N", default_value_t = defaults::SIM_TP)]
    pub tp: u32,
    /// Fraction of GPU memory the engine may use (weights, activations and KV cache), as
    /// vLLM's --gpu-memory-utilization.
    #[arg(long, value_name = "FRACTION", default_value_t = 0.9)]
    pub gpu_memory_utilization: f64,
    /// Tokens per sequence used to size the KV cache.
    #[arg(long, value_name = "TOKENS", default_value_t = 4096)]
    pub context: u32,
    /// Batch sizes of the decode table, e.g. 1,8,32,64.
    #[arg(long, value_name = "LIST")]
    pub batch: Option<String>,
    /// Prompt tokens of the request used for prefill and total time.
    #[arg(long, value_name = "TOKENS", default_value_t = 1024)]
    pub input_tokens: u32,
    /// Output tokens of that request.
    #[arg(long, value_name = "TOKENS", default_value_t = 256)]
    pub output_tokens: u32,
    /// $/hour of one GPU (default: the preset's price).
    #[arg(long, value_name = "USD")]
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
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub resamples: usize,
    /// Seed of the bootstrap resampling.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub seed: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every subcommand's arguments, with the command's path.
    fn all_args() -> Vec<(String, clap::Arg)> {
        fn walk(prefix: &str, c: &clap::Command, out: &mut Vec<(String, clap::Arg)>) {
            let name = format!("{prefix} {}", c.get_name()).trim().to_string();
            for a in c.get_arguments() {
                out.push((name.clone(), a.clone()));
            }
            for s in c.get_subcommands() {
                walk(&name, s, out);
            }
        }
        let mut out = Vec::new();
        walk("", &Cli::command(), &mut out);
        out
    }

    /// No flag of a command that takes a run specification is silently ignored: each maps to
    /// a key, or is declared command-line only.
    #[test]
    fn every_spec_command_flag_maps_to_a_key() {
        for (cmd, a) in all_args() {
            let spec_cmd = [
                "infermeter bench",
                "infermeter sweep",
                "infermeter sim serve",
                "infermeter sim run",
                "infermeter k8s render",
            ]
            .contains(&cmd.as_str());
            if !spec_cmd {
                continue;
            }
            let id = a.get_id().as_str();
            let mapped = overlay::KEYS.iter().any(|(f, _, _)| *f == id);
            assert!(
                mapped || overlay::CLI_ONLY.contains(&id),
                "{cmd} --{id}: neither a specification key nor command-line only"
            );
        }
        // And every key in the table names a real specification key.
        for (_, key, _) in overlay::KEYS {
            let mut tree = crate::spec::file::tree_of(&RunSpec::default());
            crate::spec::file::set(&mut tree, key, serde_json::Value::Null);
            if let Err(e) = crate::spec::file::to_spec(tree, "KEYS") {
                assert!(!e.contains("unknown key"), "{key}: {e}");
            }
        }
    }

    /// Help that helps: every flag has a description, every option a value name.
    #[test]
    fn every_flag_has_help_and_a_value_name() {
        for (cmd, a) in all_args() {
            let id = a.get_id().as_str();
            if id == "help" || id == "version" {
                continue;
            }
            assert!(a.get_help().is_some(), "{cmd} --{id} has no description");
            let takes_value = a.get_num_args().is_some_and(|n| n.takes_values());
            if takes_value && a.get_long().is_some() {
                assert!(
                    a.get_value_names().is_some_and(|v| !v.is_empty()),
                    "{cmd} --{id} has no value name"
                );
            }
        }
    }

    /// The defaults the help shows are the specification's: applying every flag's default
    /// value gives exactly the default specification.
    #[test]
    fn flag_defaults_are_the_specification_defaults() {
        for (path, want) in [
            (vec!["bench"], RunSpec::embedded()),
            (
                vec!["sweep"],
                RunSpec {
                    sweep: Some(Default::default()),
                    ..RunSpec::embedded()
                },
            ),
            (vec!["sim", "serve"], RunSpec::embedded()),
            (vec!["sim", "run"], RunSpec::embedded()),
        ] {
            let mut argv = vec!["infermeter"];
            argv.extend(&path);
            let m = Cli::command().try_get_matches_from(&argv).expect("parse");
            let cli = Cli::from_arg_matches(&m).expect("cli");
            let values = match &cli.command {
                Command::Bench(a) => serde_json::to_value(a),
                Command::Sweep(a) => serde_json::to_value(a),
                Command::Sim {
                    command: SimCommand::Serve(a),
                } => serde_json::to_value(a),
                Command::Sim {
                    command: SimCommand::Run(a),
                } => serde_json::to_value(a),
                _ => unreachable!(),
            }
            .expect("values");
            // Every flag with a value, as if typed (the fixed-timing ones would switch the
            // mode: their defaults are compared on their own).
            let fixed = ["sim_ttft_ms", "sim_itl_ms", "sim_prefill_us_per_token"];
            let all: Vec<String> = overlay::KEYS
                .iter()
                .map(|(id, _, _)| id.to_string())
                .filter(|id| values.get(id).is_some_and(|v| !v.is_null()) && !fixed.contains(&id.as_str()))
                .collect();
            let got = overlay::spec_from(None, &all, &values).expect("spec");
            assert_eq!(got, want, "{path:?}");
            let sim = crate::spec::SimSpec::default();
            assert_eq!(values["sim_ttft_ms"], serde_json::json!(sim.ttft_ms));
            assert_eq!(values["sim_itl_ms"], serde_json::json!(sim.itl_ms));
            assert_eq!(
                values["sim_prefill_us_per_token"],
                serde_json::json!(sim.prefill_us_per_token)
            );
        }
    }

    #[test]
    fn typed_flags_override_a_config_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(
            &p,
            "seed = 5\n[load]\nconcurrency = 3\nrequests = 7\n[sim]\ngpu = \"h100-sxm\"\n",
        )
        .unwrap();
        let m = Cli::command()
            .try_get_matches_from(["infermeter", "bench", "--config", p.to_str().unwrap(), "-n", "9"])
            .unwrap();
        let Command::Bench(a) = Cli::from_arg_matches(&m).unwrap().command else {
            unreachable!()
        };
        let spec = spec_of(&*a, &a.config, sub(&m, &["bench"])).unwrap();
        assert_eq!(spec.seed, 5);
        assert_eq!(spec.load.concurrency, Some(3));
        assert_eq!(spec.load.requests, Some(9));
        assert_eq!(spec.sim.map(|s| s.gpu), Some("h100-sxm".into()));
        // A URL typed on the command line replaces the file's embedded server.
        let m = Cli::command()
            .try_get_matches_from([
                "infermeter",
                "bench",
                "--config",
                p.to_str().unwrap(),
                "--url",
                "http://h:1",
            ])
            .unwrap();
        let Command::Bench(a) = Cli::from_arg_matches(&m).unwrap().command else {
            unreachable!()
        };
        let spec = spec_of(&*a, &a.config, sub(&m, &["bench"])).unwrap();
        assert!(spec.sim.is_none() && spec.target.url.is_some());
    }

    /// docs/config.md documents every key and its flag.
    #[test]
    fn config_docs_list_every_key() {
        let doc =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/config.md")).expect("docs/config.md");
        for (id, key, _) in overlay::KEYS {
            assert!(doc.contains(&format!("| `{key}` |")), "docs/config.md lacks key {key}");
            let flag = match *id {
                "headers" => "--header".to_string(),
                other => format!("--{}", other.replace('_', "-")),
            };
            assert!(doc.contains(&format!("`{flag}`")), "docs/config.md lacks flag {flag}");
        }
    }
}
