//! Stage two of every command: a [`RunSpec`] checked value by value and turned into the typed
//! configuration the application layer runs. Nothing here touches the network; files named
//! by the specification (API key, CA certificate, model config) are read so that a bad one
//! is reported before anything starts. Errors are one line and count as bad input (exit 2).

pub use super::sources::{DatasetConfig, SourceConfig, TraceConfig};
use super::{defaults, RunSpec, SimSpec, SweepSpec};
use crate::client::openai::Api;
use crate::client::retry::RetryPolicy;
use crate::client::rx::RxTimestamp;
use crate::client::tls::TlsOptions;
use crate::client::Timeouts;
use crate::error::Error;
use crate::metrics::slo::Slo;
use crate::metrics::steady::WindowSpec;
use crate::schedule::{Arrival, Load};
use crate::sim::timing::{parse_scheduler, EngineSpec};
use crate::sim::{EngineMode, SimConfig, ValueDist};
use crate::util::parse_duration;
use crate::workload::sessions::SessionPlan;
use crate::workload::LengthDist;
use std::path::PathBuf;
use std::time::Duration;

/// A base URL, split.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedUrl {
    /// The URL as given, without a trailing `/`.
    pub url: String,
    pub host: String,
    pub port: u16,
    pub path: String,
    pub https: bool,
}

/// What to send, validated.
#[derive(Debug, Clone)]
pub struct WorkloadConfig {
    pub input: LengthDist,
    pub output: LengthDist,
    pub tokenizer: String,
    pub ignore_eos: bool,
    pub continuous_usage: bool,
    pub temperature: Option<f64>,
    pub extra: Option<serde_json::Map<String, serde_json::Value>>,
    /// Where prompts come from (files are read by the application layer, before the run).
    pub source: SourceConfig,
    /// Multi-turn sessions.
    pub sessions: Option<SessionPlan>,
    pub skip_invalid: bool,
}

/// The load and its extent, validated.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    pub load: Load,
    /// Measured requests (the run stops at whichever of requests/duration comes first).
    pub requests: Option<u64>,
    pub duration: Option<Duration>,
    /// Requests sent first and excluded from every metric.
    pub warmup: u64,
    /// Seconds skipped at the start of the steady-state window (`warmup` as a duration).
    pub steady_skip_start_s: Option<f64>,
}

/// Everything `bench` (and each stage of `sweep`) needs, validated.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// The specification this was validated from (written to `run.json`).
    pub spec: RunSpec,
    /// `None`: the embedded simulated server (`sim`).
    pub url: Option<ParsedUrl>,
    pub model: Option<String>,
    pub api: Api,
    pub endpoint: Option<String>,
    pub stream: bool,
    pub headers: http::HeaderMap,
    pub timeouts: Timeouts,
    pub tls: TlsOptions,
    pub rx_timestamp: RxTimestamp,
    pub load: LoadConfig,
    pub workload: WorkloadConfig,
    pub seed: u64,
    pub slo: Option<Slo>,
    /// $/hour of one GPU, and the number of GPUs.
    pub price: Option<Price>,
    /// `max_error_rate` and `error_window`.
    pub max_error_rate: Option<(f64, usize)>,
    pub retry: RetryPolicy,
    pub drain_timeout: Duration,
    pub out: PathBuf,
    pub csv: bool,
    pub html: bool,
    /// The embedded simulated server (when `url` is `None`).
    pub sim: Option<SimConfig>,
    /// Server/GPU telemetry, the live exporter and the SLA profile (`[telemetry]`, `sla`).
    pub telemetry: crate::telemetry::session::TelemetryConfig,
    /// This process's shard of a sharded run, and a synchronized start (`[shard]`).
    pub sharding: crate::shard::Sharding,
}

/// `sim run`, validated.
#[derive(Debug, Clone)]
pub struct SimRunConfig {
    pub spec: RunSpec,
    pub engine: crate::sim::timing::BuiltEngine,
    pub load: LoadConfig,
    pub workload: WorkloadConfig,
    pub seed: u64,
    pub slo: Option<Slo>,
    pub price: Option<Price>,
    pub out: PathBuf,
    pub csv: bool,
    pub html: bool,
}

/// `sweep`, validated: the stage template (a bench configuration whose load each stage
/// replaces) and the search settings.
#[derive(Debug, Clone)]
pub struct SweepConfig {
    /// The specification of every stage, load left to the stage.
    pub stage_spec: RunSpec,
    pub sweep: SweepSpec,
    /// `Some(true)`: rate stages; `Some(false)`: concurrency stages; `None`: automatic.
    pub loads: Option<(SweepMode, Vec<f64>)>,
    pub has_slo: bool,
    pub out: PathBuf,
}

/// What a sweep varies.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SweepMode {
    Rate,
    Concurrency,
}

impl SweepMode {
    pub fn key(self) -> &'static str {
        match self {
            SweepMode::Rate => "rate",
            SweepMode::Concurrency => "concurrency",
        }
    }
}

fn usage(msg: impl Into<String>) -> Error {
    Error::usage(msg)
}

/// A positive duration (`flag` names it in the error).
pub fn dur(flag: &str, v: &str) -> Result<Duration, Error> {
    let d = parse_duration(v).map_err(|e| usage(format!("--{flag}: {e}")))?;
    if d.is_zero() {
        return Err(usage(format!("--{flag} must be greater than 0")));
    }
    Ok(d)
}

fn is_count(s: &str) -> bool {
    let t = s.trim();
    !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit())
}

/// The load section.
pub fn load(spec: &RunSpec) -> Result<LoadConfig, Error> {
    let l = &spec.load;
    let w = &spec.workload;
    let trace = w.trace.path.is_some();
    if let Some(users) = w.sessions.users {
        if l.rate.is_some() || l.concurrency.is_some() || l.max_concurrency.is_some() {
            return Err(usage(
                "--users sets the load of multi-turn sessions (one conversation per user at a time): drop --rate/--concurrency/--max-concurrency",
            ));
        }
        if l.arrival != defaults::ARRIVAL || l.burstiness.is_some() {
            return Err(usage("--arrival/--burstiness do not apply to sessions (--users)"));
        }
        let duration = l.duration.as_deref().map(|d| dur("duration", d)).transpose()?;
        no_warmup_count(&l.warmup, "--users")?;
        let requests = match (l.requests, duration) {
            (Some(0), _) => return Err(usage("--requests must be at least 1")),
            (Some(n), _) => Some(n),
            (None, Some(_)) => None,
            (None, None) => Some(u64::from(users) * u64::from(w.sessions.turns)),
        };
        return finish_load(
            spec,
            Load::Closed {
                concurrency: users.max(1) as usize,
            },
            requests,
            duration,
        );
    }
    if trace {
        if l.rate.is_some() {
            return Err(usage(
                "--trace replays the trace's own arrival times: drop --rate (scale them with --trace-speed, or give --concurrency to send its requests back to back)",
            ));
        }
        if l.arrival != defaults::ARRIVAL || l.burstiness.is_some() {
            return Err(usage(
                "--arrival/--burstiness do not apply to --trace (its arrivals are recorded)",
            ));
        }
        no_warmup_count(&l.warmup, "--trace")?;
        let duration = l.duration.as_deref().map(|d| dur("duration", d)).transpose()?;
        if l.requests == Some(0) {
            return Err(usage("--requests must be at least 1"));
        }
        let load = match l.concurrency {
            Some(0) => return Err(usage("--concurrency must be at least 1")),
            Some(c) => {
                if l.max_concurrency.is_some() {
                    return Err(usage(
                        "--max-concurrency applies to a timed replay; drop it with --concurrency",
                    ));
                }
                Load::Closed { concurrency: c }
            }
            None => {
                if l.max_concurrency == Some(0) {
                    return Err(usage("--max-concurrency must be at least 1"));
                }
                Load::Trace {
                    max_concurrency: l.max_concurrency,
                }
            }
        };
        // Default: every request of the window.
        return finish_load(spec, load, l.requests, duration);
    }
    let arrival = match l.arrival.as_str() {
        "constant" => Arrival::Constant,
        "gamma" => {
            let k = l.burstiness.unwrap_or(1.0);
            if !(k.is_finite() && k > 0.0) {
                return Err(usage(format!("invalid --burstiness '{k}': must be > 0")));
            }
            Arrival::Gamma(k)
        }
        "poisson" => {
            if l.burstiness.is_some() {
                return Err(usage("--burstiness needs --arrival gamma"));
            }
            Arrival::Poisson
        }
        other => {
            return Err(usage(format!(
                "invalid --arrival '{other}': expected poisson, constant or gamma"
            )))
        }
    };
    let load = match (l.rate, l.concurrency) {
        (Some(_), Some(_)) => {
            return Err(usage("give either --concurrency (closed loop) or --rate (open loop), not both; cap an open loop with --max-concurrency"))
        }
        (Some(r), None) => {
            if !(r.is_finite() && r > 0.0) {
                return Err(usage(format!("invalid --rate '{r}': must be > 0")));
            }
            if l.max_concurrency == Some(0) {
                return Err(usage("--max-concurrency must be at least 1"));
            }
            Load::Open {
                rate: r,
                arrival,
                max_concurrency: l.max_concurrency,
            }
        }
        (None, c) => {
            if l.max_concurrency.is_some() {
                return Err(usage("--max-concurrency applies to open loop (--rate); use --concurrency for closed loop"));
            }
            if l.arrival != defaults::ARRIVAL || l.burstiness.is_some() {
                return Err(usage("--arrival/--burstiness need --rate (open loop)"));
            }
            let c = c.unwrap_or(defaults::CONCURRENCY);
            if c == 0 {
                return Err(usage("--concurrency must be at least 1"));
            }
            Load::Closed { concurrency: c }
        }
    };
    let duration = l.duration.as_deref().map(|d| dur("duration", d)).transpose()?;
    let natural = match w.shared_prefix.groups {
        Some(g) => u64::from(g) * u64::from(w.shared_prefix.prompts_per_group),
        None => defaults::REQUESTS,
    };
    let requests = match (l.requests, duration) {
        (Some(0), _) => return Err(usage("--requests must be at least 1")),
        (Some(n), _) => Some(n),
        (None, Some(_)) => None,
        (None, None) => Some(natural.max(1)),
    };
    finish_load(spec, load, requests, duration)
}

/// A warmup given as a request count, refused where requests have no index to warm up with.
fn no_warmup_count(warmup: &str, what: &str) -> Result<(), Error> {
    if is_count(warmup) && warmup.trim().trim_start_matches('0').is_empty() {
        return Ok(());
    }
    if is_count(warmup) {
        return Err(usage(format!(
            "--warmup N (a request count) does not apply to {what}; give --warmup a duration (e.g. 10s) to exclude the start from the steady-state window"
        )));
    }
    Ok(())
}

/// Warmup and the steady-state window, shared by every load.
fn finish_load(
    spec: &RunSpec,
    load: Load,
    requests: Option<u64>,
    duration: Option<Duration>,
) -> Result<LoadConfig, Error> {
    let l = &spec.load;
    let (warmup, skip_start_s) = if is_count(&l.warmup) {
        let n = l
            .warmup
            .trim()
            .parse::<u64>()
            .map_err(|_| usage(format!("invalid --warmup '{}'", l.warmup)))?;
        (n, None)
    } else {
        (0, Some(dur("warmup", &l.warmup)?.as_secs_f64()))
    };
    // The window itself is derived again from the run's description when a summary is
    // (re)built (`RunInfo::window_spec`); here it is only checked.
    let _window = match l.cooldown.as_deref() {
        Some(c) if c.trim().is_empty() => {
            return Err(usage("--cooldown needs a duration (5s) or a number of requests"))
        }
        Some(c) if is_count(c) => WindowSpec::Requests {
            skip_start_s: skip_start_s.unwrap_or(0.0),
            cooldown: c
                .trim()
                .parse()
                .map_err(|_| usage(format!("invalid --cooldown '{c}'")))?,
        },
        Some(c) => WindowSpec::Time {
            skip_start_s: skip_start_s.unwrap_or(0.0),
            skip_end_s: dur("cooldown", c)?.as_secs_f64(),
        },
        None => match skip_start_s {
            Some(s) => WindowSpec::Time {
                skip_start_s: s,
                skip_end_s: 0.0,
            },
            None => WindowSpec::Auto,
        },
    };
    Ok(LoadConfig {
        load,
        requests,
        duration,
        warmup,
        steady_skip_start_s: skip_start_s,
    })
}

/// The workload section.
pub fn workload(spec: &RunSpec) -> Result<WorkloadConfig, Error> {
    let w = &spec.workload;
    if let Some(t) = w.temperature {
        if !t.is_finite() || t < 0.0 {
            return Err(usage(format!("invalid --temperature '{t}'")));
        }
    }
    let (source, sessions) = super::sources::source(spec)?;
    Ok(WorkloadConfig {
        source,
        sessions,
        skip_invalid: w.skip_invalid,
        input: LengthDist::parse(&w.input_tokens).map_err(|e| usage(format!("--input-tokens: {e}")))?,
        output: LengthDist::parse(&w.output_tokens).map_err(|e| usage(format!("--output-tokens: {e}")))?,
        tokenizer: w.tokenizer.clone(),
        ignore_eos: w.ignore_eos,
        continuous_usage: w.continuous_usage,
        temperature: w.temperature,
        extra: w.extra_body.clone(),
    })
}

/// $/hour of one GPU, and the number of GPUs.
pub type Price = (f64, f64);

/// `slo` and the `cost` section.
fn judging(spec: &RunSpec) -> Result<(Option<Slo>, Option<Price>), Error> {
    let slo = spec.slo.as_deref().map(Slo::parse).transpose().map_err(usage)?;
    let c = &spec.cost;
    let per_hour = match (c.gpu_cost_per_hour, &c.price_gpu) {
        (Some(_), Some(_)) => return Err(usage("give either --gpu-cost-per-hour or --price-gpu, not both")),
        (Some(p), None) if p.is_finite() && p >= 0.0 => Some(p),
        (Some(p), None) => return Err(usage(format!("invalid --gpu-cost-per-hour '{p}'"))),
        (None, Some(g)) => Some(
            infermeter_perfmodel::GpuSpec::preset(g)
                .map_err(|e| usage(format!("--price-gpu: {e}")))?
                .cost_per_hour,
        ),
        (None, None) => None,
    };
    if !(c.gpus.is_finite() && c.gpus > 0.0) {
        return Err(usage(format!("invalid --gpus '{}': must be > 0", c.gpus)));
    }
    Ok((slo, per_hour.map(|p| (p, c.gpus))))
}

/// The output directory: the given one, else `results/<kind>-<UTC time>`.
pub fn out_dir(spec: &RunSpec, kind: &str) -> PathBuf {
    spec.output.dir.clone().unwrap_or_else(|| {
        let (stamp, _) = crate::util::utc_strings(crate::util::unix_now_s());
        PathBuf::from("results").join(format!("{kind}-{stamp}"))
    })
}

/// Split an `http://` or `https://` base URL.
pub fn parse_url(url: &str) -> Result<ParsedUrl, Error> {
    let uri: http::Uri = url.parse().map_err(|_| usage(format!("invalid --url '{url}'")))?;
    let https = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        _ => {
            return Err(usage(format!(
                "invalid --url '{url}': expected http[s]://HOST[:PORT][/PATH]"
            )))
        }
    };
    let host = uri
        .host()
        .ok_or_else(|| usage(format!("invalid --url '{url}': no host")))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    Ok(ParsedUrl {
        url: url.trim_end_matches('/').to_string(),
        host,
        port: uri.port_u16().unwrap_or(if https { 443 } else { 80 }),
        path: uri.path().to_string(),
        https,
    })
}

/// The API key from a file: its content without surrounding whitespace. Errors name the
/// path only, never the content.
fn read_api_key_file(path: &std::path::Path) -> Result<String, Error> {
    let raw =
        std::fs::read(path).map_err(|e| usage(format!("cannot read --api-key-file '{}': {e}", path.display())))?;
    let text =
        String::from_utf8(raw).map_err(|_| usage(format!("--api-key-file '{}' is not UTF-8 text", path.display())))?;
    let key = text.trim();
    if key.is_empty() {
        return Err(usage(format!("--api-key-file '{}' is empty", path.display())));
    }
    if key.contains(['\r', '\n']) {
        return Err(usage(format!(
            "--api-key-file '{}' holds more than one line",
            path.display()
        )));
    }
    Ok(key.to_string())
}

/// The specification with the defaults it was validated with written out (closed-loop
/// concurrency, request count, the embedded server), so `run.json` reruns the same run even
/// if a later version changes a default.
fn resolved(spec: &RunSpec, l: &LoadConfig, embedded: bool) -> RunSpec {
    let mut s = spec.clone();
    // (Sessions take their concurrency from `workload.sessions.users`.)
    if let (Load::Closed { concurrency }, None) = (&l.load, spec.workload.sessions.users) {
        s.load.concurrency = Some(*concurrency);
    }
    s.load.requests = l.requests;
    if embedded && s.sim.is_none() {
        s.sim = Some(SimSpec::default());
    }
    s
}

/// `bench` (and one stage of `sweep`).
pub fn bench(spec: &RunSpec) -> Result<BenchConfig, Error> {
    let t = &spec.target;
    let api = match t.api.as_str() {
        "completions" => Api::Completions,
        "chat" => Api::Chat,
        other => return Err(usage(format!("invalid --api '{other}': expected completions or chat"))),
    };
    let load = load(spec)?;
    let workload = workload(spec)?;
    let (slo, price) = judging(spec)?;
    let telemetry = crate::telemetry::session::TelemetryConfig::from_spec(spec).map_err(usage)?;
    let sharding = crate::shard::validate::sharding(
        &spec.shard,
        (&load.load, load.requests),
        t.url.is_none(),
        std::env::var(crate::shard::INDEX_ENV).ok().as_deref(),
        crate::util::unix_now_s() * 1_000_000,
    )
    .map_err(usage)?;
    let api_key = match &t.api_key_file {
        Some(path) => Some(read_api_key_file(path)?),
        None => std::env::var(&t.api_key_env).ok().filter(|k| !k.is_empty()),
    };
    let headers = crate::client::build_headers(&t.headers, api_key.as_deref()).map_err(usage)?;
    let timeouts = Timeouts {
        connect: dur("connect-timeout", &t.connect_timeout)?,
        first_byte: dur("first-byte-timeout", &t.first_byte_timeout)?,
        idle: dur("idle-timeout", &t.idle_timeout)?,
        total: dur("request-timeout", &t.request_timeout)?,
    };
    let (url, sim) = match &t.url {
        Some(u) => {
            if spec.sim.is_some() {
                return Err(usage(
                    "the simulated server settings (--sim-*, --fault, [sim]) apply to the embedded simulated server: drop --url, or run `infermeter sim serve` with them",
                ));
            }
            (Some(parse_url(u)?), None)
        }
        None => (
            None,
            Some(sim_server(&spec.sim.clone().unwrap_or_default(), spec.seed)?),
        ),
    };
    let https = url.as_ref().is_some_and(|u| u.https);
    if (t.insecure || t.ca_cert.is_some()) && !https {
        return Err(usage(format!(
            "{} applies to https:// URLs only",
            if t.insecure { "--insecure" } else { "--ca-cert" }
        )));
    }
    let tls = TlsOptions {
        extra_roots: match &t.ca_cert {
            Some(p) => crate::client::tls::read_pem_certs(p).map_err(usage)?,
            None => Vec::new(),
        },
        insecure: t.insecure,
    };
    let rx_timestamp = match t.rx_timestamp.as_str() {
        "kernel" => RxTimestamp::Kernel,
        "user" => RxTimestamp::User,
        other => {
            return Err(usage(format!(
                "invalid --rx-timestamp '{other}': expected kernel or user"
            )))
        }
    };
    let r = &spec.reliability;
    let max_error_rate = match r.max_error_rate {
        None => None,
        Some(f) if f.is_finite() && (0.0..1.0).contains(&f) => {
            if r.error_window == 0 {
                return Err(usage("--error-window must be at least 1"));
            }
            Some((f, r.error_window))
        }
        Some(f) => {
            return Err(usage(format!(
                "invalid --max-error-rate '{f}': must be a fraction in [0, 1)"
            )))
        }
    };
    let retry = RetryPolicy {
        max: r.retry,
        backoff: parse_duration(&r.retry_backoff).map_err(|e| usage(format!("--retry-backoff: {e}")))?,
    };
    let mut resolved_spec = resolved(spec, &load, url.is_none());
    let mut out = out_dir(spec, "bench");
    if let Some(shard) = sharding.shard {
        resolved_spec.shard.index = Some(shard.index);
        out = crate::shard::out_dir(spec.output.dir.is_some(), out, shard);
    }
    Ok(BenchConfig {
        spec: resolved_spec,
        url,
        model: t.model.clone(),
        api,
        endpoint: t.endpoint.clone(),
        stream: t.stream,
        headers,
        timeouts,
        tls,
        rx_timestamp,
        load,
        workload,
        seed: spec.seed,
        slo,
        price,
        max_error_rate,
        retry,
        drain_timeout: dur("drain-timeout", &r.drain_timeout)?,
        out,
        csv: spec.output.csv,
        html: spec.output.html,
        sim,
        telemetry,
        sharding,
    })
}

fn positive(x: f64, flag: &str) -> Result<f64, Error> {
    if !(x.is_finite() && x > 0.0) {
        return Err(usage(format!("invalid --{flag} '{x}': must be > 0")));
    }
    Ok(x)
}

/// The engine part of the simulated server.
pub fn engine_spec(s: &SimSpec) -> Result<EngineSpec, Error> {
    Ok(EngineSpec {
        model_preset: s.model_preset.clone(),
        model_config: s.model_config.clone(),
        gpu: s.gpu.clone(),
        tp: s.tp,
        weights_dtype: s.weights_dtype.clone(),
        kv_dtype: s.kv_dtype.clone(),
        max_num_seqs: s.max_num_seqs,
        max_num_batched_tokens: s.max_num_batched_tokens,
        chunked_prefill: s.chunked_prefill,
        prefix_caching: s.prefix_caching,
        scheduler: parse_scheduler(&s.scheduler).map_err(usage)?,
        max_model_len: s.max_model_len,
        engine_profile: s.engine_profile.clone(),
        scheduler_steps: s.num_scheduler_steps,
    })
}

/// True for engine mode (`sim.mode`).
pub fn is_engine(s: &SimSpec) -> Result<bool, Error> {
    match s.mode.as_str() {
        "engine" => Ok(true),
        "fixed" => Ok(false),
        other => Err(usage(format!("invalid --sim-mode '{other}': expected engine or fixed"))),
    }
}

/// The simulated server (embedded `bench` target and `sim serve`), validated and built.
pub fn sim_server(s: &SimSpec, seed: u64) -> Result<SimConfig, Error> {
    let faults = crate::sim::FaultPlan::parse(&s.faults, s.fault_stall_ms, s.fault_delay_ms).map_err(usage)?;
    if s.tokens_per_chunk == 0 {
        return Err(usage("--sim-tokens-per-chunk must be at least 1"));
    }
    if s.max_num_seqs == Some(0) {
        return Err(usage("--sim-max-num-seqs must be at least 1"));
    }
    let engine = if is_engine(s)? {
        let built = engine_spec(s)?.build().map_err(usage)?;
        Some(EngineMode {
            built,
            time_scale: positive(s.time_scale, "sim-time-scale")?,
        })
    } else {
        None
    };
    if !s.prefill_us_per_token.is_finite() || s.prefill_us_per_token < 0.0 {
        return Err(usage(format!(
            "invalid --sim-prefill-us-per-token '{}': must be >= 0",
            s.prefill_us_per_token
        )));
    }
    let model = match (&s.served_model, &engine) {
        (Some(m), _) => m.clone(),
        (None, Some(e)) => e.built.timer.deployment.model.name.clone(),
        (None, None) => defaults::SIM_FIXED_MODEL.to_string(),
    };
    let max_num_seqs = match &engine {
        Some(e) => e.built.config.max_num_seqs,
        None => s.max_num_seqs.unwrap_or(defaults::SIM_FIXED_MAX_NUM_SEQS),
    };
    let (ttft_ms, itl_ms) = match engine {
        Some(_) => (ValueDist::fixed(0.0), ValueDist::fixed(0.0)),
        None => (
            ValueDist::parse(&s.ttft_ms).map_err(|e| usage(format!("--sim-ttft-ms: {e}")))?,
            ValueDist::parse(&s.itl_ms).map_err(|e| usage(format!("--sim-itl-ms: {e}")))?,
        ),
    };
    Ok(SimConfig {
        model,
        ttft_ms,
        itl_ms,
        prefill_us_per_token: if engine.is_some() { 0.0 } else { s.prefill_us_per_token },
        max_num_seqs: max_num_seqs as usize,
        tokens_per_chunk: s.tokens_per_chunk,
        seed,
        engine,
        faults,
        write_log: None,
    })
}

/// `sim run`: the simulated engine offline (the target section is not used).
pub fn sim_run(spec: &RunSpec) -> Result<SimRunConfig, Error> {
    if !spec.shard.is_unset() {
        return Err(usage(
            "sharding and --start-at ([shard]) apply to bench; sim run is offline and needs neither",
        ));
    }
    let sim = spec.sim.clone().unwrap_or_default();
    if !is_engine(&sim)? {
        return Err(usage(
            "sim run simulates the engine; fixed timing (--sim-mode fixed, --sim-ttft-ms ...) applies to a served simulator only",
        ));
    }
    if !sim.faults.is_empty() {
        return Err(usage(
            "--sim-fault applies to a served simulator (bench without --url, sim serve)",
        ));
    }
    let engine = engine_spec(&sim)?.build().map_err(usage)?;
    let (slo, price) = judging(spec)?;
    let mut s = spec.clone();
    s.sim = Some(sim);
    let load_cfg = load(spec)?;
    Ok(SimRunConfig {
        load: load_cfg.clone(),
        workload: workload(spec)?,
        seed: spec.seed,
        slo,
        price,
        out: out_dir(spec, "sim"),
        csv: spec.output.csv,
        html: spec.output.html,
        engine,
        spec: resolved(&s, &load_cfg, true),
    })
}

fn stage_list(name: &str, v: &[f64]) -> Result<Vec<f64>, Error> {
    if v.is_empty() || !v.iter().all(|x| x.is_finite() && *x > 0.0) {
        return Err(usage(format!("invalid --{name}: expected positive numbers like 1,2,4")));
    }
    Ok(v.to_vec())
}

/// `sweep`: the shared stage settings are validated once, with a stage load filled in.
pub fn sweep(spec: &RunSpec) -> Result<SweepConfig, Error> {
    if !spec.shard.is_unset() {
        return Err(usage("sharding and --start-at ([shard]) apply to bench, not to sweep"));
    }
    if spec.load.rate.is_some() || spec.load.concurrency.is_some() {
        return Err(usage(
            "sweep sets the load per stage: use --rates or --concurrencies instead of --rate/--concurrency (load.rate/load.concurrency)",
        ));
    }
    let sw = spec.sweep.clone().unwrap_or_default();
    if !(0.0..=1.0).contains(&sw.operating_fraction) || sw.operating_fraction == 0.0 {
        return Err(usage("--operating-fraction must be in (0, 1]"));
    }
    if !(0.0..=1.0).contains(&sw.attainment_target) {
        return Err(usage("--attainment-target must be in [0, 1]"));
    }
    if sw.trials == 0 || sw.stages == 0 {
        return Err(usage("--trials and --stages must be at least 1"));
    }
    let loads = match (&sw.rates, &sw.concurrencies) {
        (Some(_), Some(_)) => return Err(usage("give either --rates or --concurrencies, not both")),
        (Some(r), None) => Some((SweepMode::Rate, stage_list("rates", r)?)),
        (None, Some(c)) => Some((SweepMode::Concurrency, stage_list("concurrencies", c)?)),
        (None, None) => {
            if sw.probe_concurrency == 0 {
                return Err(usage("--probe-concurrency must be at least 1"));
            }
            None
        }
    };
    let sessions = spec.workload.sessions.users.is_some();
    if sessions && !matches!(loads, Some((SweepMode::Concurrency, _))) {
        return Err(usage(
            "a sweep of sessions (--users) varies the number of users: give --concurrencies",
        ));
    }
    let mut probe = spec.clone();
    if sessions {
        probe.workload.sessions.users = Some(1);
    } else {
        probe.load.concurrency = Some(1);
    }
    let checked = bench(&probe)?;
    let mut stage_spec = spec.clone();
    stage_spec.sweep = None;
    Ok(SweepConfig {
        stage_spec,
        has_slo: checked.slo.is_some(),
        sweep: sw,
        loads,
        out: out_dir(spec, "sweep"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_parsing() {
        let p = |u: &str| parse_url(u).map(|p| (p.host, p.port, p.path, p.https)).ok();
        assert_eq!(
            p("http://127.0.0.1:8000"),
            Some(("127.0.0.1".into(), 8000, "/".into(), false))
        );
        assert_eq!(p("http://[::1]:9/v1"), Some(("::1".into(), 9, "/v1".into(), false)));
        assert_eq!(
            p("https://api.example.com/v1"),
            Some(("api.example.com".into(), 443, "/v1".into(), true))
        );
        assert_eq!(p("https://h:8443"), Some(("h".into(), 8443, "/".into(), true)));
        assert!(parse_url("ftp://x").is_err());
        assert!(parse_url("not a url").is_err());
    }

    #[test]
    fn the_default_specification_is_valid_everywhere() {
        let spec = RunSpec::default();
        let b = bench(&spec).unwrap();
        assert!(b.url.is_none());
        let sim = b.sim.expect("embedded server");
        let e = sim.engine.as_ref().expect("engine mode by default");
        assert_eq!(e.built.timer.deployment.model.name, defaults::SIM_MODEL_PRESET);
        assert_eq!(sim.model, defaults::SIM_MODEL_PRESET);
        assert_eq!(b.load.requests, Some(defaults::REQUESTS));
        assert!(sim_run(&spec).is_ok());
        assert!(sweep(&spec).is_ok());
        // The served server of `sim serve` is the same server as the embedded one.
        let served = sim_server(&SimSpec::default(), 0).unwrap();
        assert_eq!(served.model, sim.model);
        assert_eq!(
            served.engine.as_ref().map(|e| e.built.describe()),
            sim.engine.as_ref().map(|e| e.built.describe())
        );
    }

    #[test]
    fn fixed_mode_defaults() {
        let s = SimSpec {
            mode: "fixed".into(),
            ..SimSpec::default()
        };
        let c = sim_server(&s, 3).unwrap();
        assert!(c.engine.is_none());
        assert_eq!(c.model, defaults::SIM_FIXED_MODEL);
        assert_eq!(c.max_num_seqs, defaults::SIM_FIXED_MAX_NUM_SEQS as usize);
        assert_eq!(c.ttft_ms, ValueDist::parse(defaults::SIM_TTFT_MS).unwrap());
    }

    #[test]
    fn sim_settings_with_a_url_are_refused() {
        let mut spec = RunSpec::embedded();
        spec.target.url = Some("http://127.0.0.1:1".into());
        assert!(bench(&spec).unwrap_err().message.contains("embedded simulated server"));
        spec.sim = None;
        assert!(bench(&spec).is_ok());
    }

    #[test]
    fn load_errors_are_one_line() {
        let mut spec = RunSpec::default();
        spec.load.rate = Some(1.0);
        spec.load.concurrency = Some(2);
        assert!(bench(&spec).unwrap_err().message.contains("not both"));
        let mut spec = RunSpec::default();
        spec.load.arrival = "bursty".into();
        assert!(bench(&spec).unwrap_err().message.contains("--arrival"));
        let mut spec = RunSpec::default();
        spec.load.cooldown = Some("20".into());
        spec.load.warmup = "2s".into();
        let l = load(&spec).unwrap();
        assert_eq!((l.warmup, l.steady_skip_start_s), (0, Some(2.0)));
        spec.load.cooldown = Some(" ".into());
        assert!(load(&spec).is_err());
    }
}
