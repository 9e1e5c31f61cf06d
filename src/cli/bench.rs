//! `infermeter bench`: validate flags into a `BenchPlan`, start the embedded simulated server
//! when no `--url` is given, check the target, run, and write the outputs.

use super::{sim_cmd, BenchArgs, CliError};
use crate::client::openai::{self, Api, BodyOptions};
use crate::client::retry::RetryPolicy;
use crate::client::tls::{Tls, TlsOptions};
use crate::client::{self, ClientConfig, Target, Timeouts};
use crate::report::{self, RunInfo};
use crate::runner::{self, BenchPlan};
use crate::schedule::{Arrival, Load};
use crate::util::{parse_duration, unix_now_s, utc_strings};
use crate::workload::{LengthDist, Tokenizer, Workload};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// Everything `bench` needs, validated. Built without touching the network.
#[derive(Debug)]
pub struct Validated {
    pub url: Option<String>,
    pub model: Option<String>,
    pub api: Api,
    pub endpoint: Option<String>,
    pub stream: bool,
    pub load: Load,
    pub requests: Option<u64>,
    pub duration: Option<std::time::Duration>,
    pub warmup: u64,
    pub steady_skip_start_s: Option<f64>,
    pub steady_cooldown: Option<String>,
    pub slo: Option<crate::metrics::slo::Slo>,
    pub gpu_cost_per_hour: Option<f64>,
    pub gpus: f64,
    pub input: LengthDist,
    pub output: LengthDist,
    pub tokenizer_spec: String,
    pub seed: u64,
    pub ignore_eos: bool,
    pub continuous_usage: bool,
    pub temperature: Option<f64>,
    pub extra: Option<serde_json::Map<String, serde_json::Value>>,
    pub headers: http::HeaderMap,
    pub timeouts: Timeouts,
    /// `--max-error-rate` and `--error-window`.
    pub max_error_rate: Option<(f64, usize)>,
    pub retry: RetryPolicy,
    pub drain_timeout: std::time::Duration,
    /// `--ca-cert` and `--insecure` (https:// targets).
    pub tls: TlsOptions,
    pub rx_timestamp: client::rx::RxTimestamp,
    pub out: PathBuf,
}

pub fn dur(flag: &str, v: &str) -> Result<std::time::Duration, CliError> {
    let d = parse_duration(v).map_err(|e| CliError::usage(format!("--{flag}: {e}")))?;
    if d.is_zero() {
        return Err(CliError::usage(format!("--{flag} must be greater than 0")));
    }
    Ok(d)
}

/// The load (closed or open loop) from the shared load flags of `bench` and `sim run`.
pub fn load_from(
    rate: Option<f64>,
    concurrency: Option<usize>,
    arrival: &str,
    burstiness: Option<f64>,
    max_concurrency: Option<usize>,
) -> Result<Load, CliError> {
    let arrival_name = arrival;
    let arrival = match arrival_name {
        "constant" => Arrival::Constant,
        "gamma" => {
            let k = burstiness.unwrap_or(1.0);
            if !(k.is_finite() && k > 0.0) {
                return Err(CliError::usage(format!("invalid --burstiness '{k}': must be > 0")));
            }
            Arrival::Gamma(k)
        }
        _ => {
            if burstiness.is_some() {
                return Err(CliError::usage("--burstiness needs --arrival gamma"));
            }
            Arrival::Poisson
        }
    };
    let load = match (rate, concurrency) {
        (Some(_), Some(_)) => {
            return Err(CliError::usage("give either --concurrency (closed loop) or --rate (open loop), not both; cap an open loop with --max-concurrency"))
        }
        (Some(r), None) => {
            if !(r.is_finite() && r > 0.0) {
                return Err(CliError::usage(format!("invalid --rate '{r}': must be > 0")));
            }
            if max_concurrency == Some(0) {
                return Err(CliError::usage("--max-concurrency must be at least 1"));
            }
            Load::Open { rate: r, arrival, max_concurrency }
        }
        (None, c) => {
            if max_concurrency.is_some() {
                return Err(CliError::usage("--max-concurrency applies to open loop (--rate); use --concurrency for closed loop"));
            }
            if arrival_name != "poisson" || burstiness.is_some() {
                return Err(CliError::usage("--arrival/--burstiness need --rate (open loop)"));
            }
            let c = c.unwrap_or(32);
            if c == 0 {
                return Err(CliError::usage("--concurrency must be at least 1"));
            }
            Load::Closed { concurrency: c }
        }
    };
    Ok(load)
}

/// The request count: `--requests`, or 320 when neither it nor `--duration` is given.
pub fn requests_from(requests: Option<u64>, duration: Option<std::time::Duration>) -> Result<Option<u64>, CliError> {
    match (requests, duration) {
        (Some(0), _) => Err(CliError::usage("--requests must be at least 1")),
        (Some(n), _) => Ok(Some(n)),
        (None, Some(_)) => Ok(None),
        (None, None) => Ok(Some(320)),
    }
}

/// Stage two of flag parsing: check every value and derive the typed configuration.
pub fn validate(a: &BenchArgs) -> Result<Validated, CliError> {
    let api = if a.api == "chat" { Api::Chat } else { Api::Completions };
    let (load, duration, requests) = a.load.resolve()?;
    if let Some(t) = a.temperature {
        if !t.is_finite() || t < 0.0 {
            return Err(CliError::usage(format!("invalid --temperature '{t}'")));
        }
    }
    let extra = match &a.extra_body {
        None => None,
        Some(s) => match serde_json::from_str::<serde_json::Value>(s) {
            Ok(serde_json::Value::Object(m)) => Some(m),
            _ => {
                return Err(CliError::usage(
                    "--extra-body must be a JSON object, e.g. '{\"top_p\": 0.9}'",
                ))
            }
        },
    };
    let api_key = match &a.api_key_file {
        Some(path) => Some(read_api_key_file(path)?),
        None => std::env::var(&a.api_key_env).ok().filter(|k| !k.is_empty()),
    };
    let headers = client::build_headers(&a.headers, api_key.as_deref()).map_err(CliError::usage)?;
    let timeouts = Timeouts {
        connect: dur("connect-timeout", &a.connect_timeout)?,
        first_byte: dur("first-byte-timeout", &a.first_byte_timeout)?,
        idle: dur("idle-timeout", &a.idle_timeout)?,
        total: dur("request-timeout", &a.request_timeout)?,
    };
    let https = match &a.url {
        Some(u) => {
            let https = parse_url(u)?.https;
            if !a.sim.faults.fault.is_empty() {
                return Err(CliError::usage(
                    "--fault applies to the embedded simulated server: drop --url, or run `infermeter sim serve --fault ...`",
                ));
            }
            https
        }
        None => {
            a.sim.faults.plan()?;
            false
        }
    };
    if (a.insecure || a.ca_cert.is_some()) && !https {
        return Err(CliError::usage(format!(
            "{} applies to https:// URLs only",
            if a.insecure { "--insecure" } else { "--ca-cert" }
        )));
    }
    let tls = TlsOptions {
        extra_roots: match &a.ca_cert {
            Some(p) => client::tls::read_pem_certs(p).map_err(CliError::usage)?,
            None => Vec::new(),
        },
        insecure: a.insecure,
    };
    let max_error_rate = match a.max_error_rate {
        None => None,
        Some(f) if f.is_finite() && (0.0..1.0).contains(&f) => {
            if a.error_window == 0 {
                return Err(CliError::usage("--error-window must be at least 1"));
            }
            Some((f, a.error_window))
        }
        Some(f) => {
            return Err(CliError::usage(format!(
                "invalid --max-error-rate '{f}': must be a fraction in [0, 1)"
            )))
        }
    };
    let retry = RetryPolicy {
        max: a.retry,
        backoff: parse_duration(&a.retry_backoff).map_err(|e| CliError::usage(format!("--retry-backoff: {e}")))?,
    };
    let drain_timeout = dur("drain-timeout", &a.drain_timeout)?;
    let (warmup, steady_skip_start_s) = if a.warmup.trim().bytes().all(|b| b.is_ascii_digit()) {
        let n = a
            .warmup
            .trim()
            .parse::<u64>()
            .map_err(|_| CliError::usage(format!("invalid --warmup '{}'", a.warmup)))?;
        (n, None)
    } else {
        (0, Some(dur("warmup", &a.warmup)?.as_secs_f64()))
    };
    if let Some(c) = &a.cooldown {
        if !c.trim().bytes().all(|b| b.is_ascii_digit()) {
            dur("cooldown", c)?;
        } else if c.trim().is_empty() {
            return Err(CliError::usage(
                "--cooldown needs a duration (5s) or a number of requests",
            ));
        }
    }
    let slo = a
        .slo
        .as_deref()
        .map(crate::metrics::slo::Slo::parse)
        .transpose()
        .map_err(CliError::usage)?;
    let gpu_cost_per_hour = match (a.gpu_cost_per_hour, &a.price_gpu) {
        (Some(_), Some(_)) => {
            return Err(CliError::usage(
                "give either --gpu-cost-per-hour or --price-gpu, not both",
            ))
        }
        (Some(p), None) if p.is_finite() && p >= 0.0 => Some(p),
        (Some(p), None) => return Err(CliError::usage(format!("invalid --gpu-cost-per-hour '{p}'"))),
        (None, Some(g)) => Some(
            infermeter_perfmodel::GpuSpec::preset(g)
                .map_err(|e| CliError::usage(format!("--price-gpu: {e}")))?
                .cost_per_hour,
        ),
        (None, None) => None,
    };
    if !(a.gpus.is_finite() && a.gpus > 0.0) {
        return Err(CliError::usage(format!("invalid --gpus '{}': must be > 0", a.gpus)));
    }
    let out = a.out.clone().unwrap_or_else(|| {
        let (stamp, _) = utc_strings(unix_now_s());
        PathBuf::from("results").join(format!("bench-{stamp}"))
    });
    Ok(Validated {
        url: a.url.clone(),
        model: a.model.clone(),
        api,
        endpoint: a.endpoint.clone(),
        stream: !a.no_stream,
        load,
        requests,
        duration,
        warmup,
        steady_skip_start_s,
        steady_cooldown: a.cooldown.clone(),
        slo,
        gpu_cost_per_hour,
        gpus: a.gpus,
        input: LengthDist::parse(&a.input_tokens).map_err(|e| CliError::usage(format!("--input-tokens: {e}")))?,
        output: LengthDist::parse(&a.output_tokens).map_err(|e| CliError::usage(format!("--output-tokens: {e}")))?,
        tokenizer_spec: a.tokenizer.clone(),
        seed: a.seed,
        ignore_eos: !a.no_ignore_eos,
        continuous_usage: !a.no_continuous_usage,
        temperature: a.temperature,
        extra,
        headers,
        timeouts,
        max_error_rate,
        retry,
        drain_timeout,
        tls,
        rx_timestamp: if a.rx_timestamp == "user" {
            client::rx::RxTimestamp::User
        } else {
            client::rx::RxTimestamp::Kernel
        },
        out,
    })
}

/// The API key from `--api-key-file`: the file's content without surrounding whitespace.
/// Errors name the path only, never the content.
fn read_api_key_file(path: &std::path::Path) -> Result<String, CliError> {
    let raw = std::fs::read(path)
        .map_err(|e| CliError::usage(format!("cannot read --api-key-file '{}': {e}", path.display())))?;
    let text = String::from_utf8(raw)
        .map_err(|_| CliError::usage(format!("--api-key-file '{}' is not UTF-8 text", path.display())))?;
    let key = text.trim();
    if key.is_empty() {
        return Err(CliError::usage(format!("--api-key-file '{}' is empty", path.display())));
    }
    if key.contains(['\r', '\n']) {
        return Err(CliError::usage(format!(
            "--api-key-file '{}' holds more than one line",
            path.display()
        )));
    }
    Ok(key.to_string())
}

/// A base URL, split.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedUrl {
    pub host: String,
    pub port: u16,
    pub path: String,
    pub https: bool,
}

/// Split an `http://` or `https://` base URL.
pub fn parse_url(url: &str) -> Result<ParsedUrl, CliError> {
    let uri: http::Uri = url
        .parse()
        .map_err(|_| CliError::usage(format!("invalid --url '{url}'")))?;
    let https = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        _ => {
            return Err(CliError::usage(format!(
                "invalid --url '{url}': expected http[s]://HOST[:PORT][/PATH]"
            )))
        }
    };
    let host = uri
        .host()
        .ok_or_else(|| CliError::usage(format!("invalid --url '{url}': no host")))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    Ok(ParsedUrl {
        host,
        port: uri.port_u16().unwrap_or(if https { 443 } else { 80 }),
        path: uri.path().to_string(),
        https,
    })
}

/// Endpoint and models paths from the URL path: `/` → defaults; `/v1` → `/v1/...`;
/// anything else is taken as the full endpoint path.
fn paths(api: Api, url_path: &str, endpoint: Option<&str>) -> (String, String) {
    let base = url_path.trim_end_matches('/');
    let models = match base.find("/v1") {
        Some(i) => format!("{}/v1/models", &base[..i]),
        None => "/v1/models".to_string(),
    };
    let path = match endpoint {
        Some(e) => e.to_string(),
        None if base.is_empty() => api.default_path().to_string(),
        None if base.ends_with("/v1") => format!("{base}{}", &api.default_path()[3..]),
        None => base.to_string(),
    };
    (path, models)
}

async fn resolve(host: &str, port: u16) -> Result<SocketAddr, CliError> {
    let mut addrs = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| CliError::failed(format!("cannot resolve host '{host}': {e}")))?;
    addrs
        .next()
        .ok_or_else(|| CliError::failed(format!("host '{host}' has no address")))
}

/// Check the server answers like an OpenAI-compatible one and settle the model name.
async fn preflight(cfg: &ClientConfig, wanted: Option<&str>) -> Result<String, CliError> {
    let url = &cfg.target.url;
    let (status, ctype, body) = client::get(cfg, &cfg.target.models_path)
        .await
        .map_err(|(class, msg)| CliError::failed(format!("cannot reach {url}: {msg} ({})", class.as_str())))?;
    let looks_json = ctype.contains("json") || body.first() == Some(&b'{');
    if status == 200 && looks_json {
        let models = openai::parse_models(&body).map_err(|e| {
            CliError::failed(format!(
                "{url}{} returned JSON without a model list ({e}): is this an OpenAI-compatible server?",
                cfg.target.models_path
            ))
        })?;
        return match wanted {
            Some(m) if models.iter().any(|x| x == m) || models.is_empty() => Ok(m.to_string()),
            Some(m) => Err(CliError::failed(format!(
                "model '{m}' is not served by {url} (available: {})",
                models.join(", ")
            ))),
            None => models
                .first()
                .cloned()
                .ok_or_else(|| CliError::failed(format!("{url} lists no models; pass --model"))),
        };
    }
    if status == 200 {
        return Err(CliError::failed(format!(
            "{url}{} answered with {} instead of JSON: is this an OpenAI-compatible server?",
            cfg.target.models_path,
            if ctype.is_empty() {
                "an unknown content type".to_string()
            } else {
                ctype
            }
        )));
    }
    match wanted {
        Some(m) => Ok(m.to_string()),
        None => Err(CliError::failed(format!(
            "{url}{} answered HTTP {status}; pass --model explicitly",
            cfg.target.models_path
        ))),
    }
}

/// One finished benchmark: its summary, and the failure message when every request failed.
pub struct StageOutcome {
    pub summary: report::Summary,
    pub out: PathBuf,
    /// Set when the run stopped early (Ctrl-C or the circuit breaker).
    pub stopped: Option<runner::Stopped>,
    pub all_failed: Option<String>,
}

/// Exit code of a run stopped by Ctrl-C (128 + SIGINT, the shell convention).
pub const EXIT_INTERRUPTED: u8 = 130;
/// Exit code of a run stopped by the `--max-error-rate` circuit breaker.
pub const EXIT_ERROR_RATE: u8 = 3;

impl StageOutcome {
    /// The error that ends the process for an early stop: exit 130 after Ctrl-C (the partial
    /// report is already printed, so no line), exit 3 with one line after the breaker tripped.
    pub fn stop_error(&self) -> Option<CliError> {
        let s = self.stopped.as_ref()?;
        Some(match s.cause {
            runner::StopCause::Interrupted => CliError {
                code: EXIT_INTERRUPTED,
                message: String::new(),
            },
            runner::StopCause::ErrorRate(_) => CliError {
                code: EXIT_ERROR_RATE,
                message: format!("stopped: {}", s.reason()),
            },
        })
    }
}

pub async fn run(a: BenchArgs) -> Result<u8, CliError> {
    let st = run_stage(a).await?;
    if let Some(e) = st.stop_error() {
        if e.message.is_empty() {
            return Ok(e.code);
        }
        return Err(e);
    }
    if let Some(msg) = st.all_failed {
        return Err(CliError::failed(msg));
    }
    Ok(0)
}

/// Run one benchmark and write its outputs (the console summary unless `--quiet`).
pub async fn run_stage(a: BenchArgs) -> Result<StageOutcome, CliError> {
    let v = validate(&a)?;
    let tokenizer = Tokenizer::load(&v.tokenizer_spec).map_err(CliError::usage)?;
    let workload =
        Workload::new(v.input.clone(), v.output.clone(), v.seed, tokenizer.clone()).map_err(CliError::usage)?;

    // The target: the user's server, or the embedded simulated one on 127.0.0.1:0.
    let embedded = v.url.is_none();
    let mut sim_engine = None;
    let (url, host, port, url_path, default_model, https) = match &v.url {
        Some(u) => {
            let p = parse_url(u)?;
            (
                u.trim_end_matches('/').to_string(),
                p.host,
                p.port,
                p.path,
                None,
                p.https,
            )
        }
        None => {
            let sim_cfg = sim_cmd::from_bench_flags(&a.sim, v.seed)?;
            let model = sim_cfg.model.clone();
            sim_engine = sim_cfg
                .engine
                .as_ref()
                .map(|e| format!("{}, time scale {}", e.built.describe(), e.time_scale));
            let (addr, _handle) = crate::sim::spawn(sim_cfg, SocketAddr::from(([127, 0, 0, 1], 0)))
                .await
                .map_err(|e| CliError::failed(format!("cannot start the embedded simulated server: {e}")))?;
            (
                format!("http://{addr}"),
                addr.ip().to_string(),
                addr.port(),
                String::new(),
                Some(model),
                false,
            )
        }
    };
    let addr = resolve(&host, port).await?;
    let (path, models_path) = paths(v.api, &url_path, v.endpoint.as_deref());
    let tls = if https {
        if v.tls.insecure && !a.silent {
            eprintln!("warning: --insecure: the server's TLS certificate is not verified");
        }
        Some(Tls::new(&host, &v.tls).map_err(CliError::usage)?)
    } else {
        None
    };
    let authority = if port == if https { 443 } else { 80 } {
        host.clone()
    } else if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let mut client_cfg = ClientConfig {
        target: Target {
            url: url.clone(),
            addr,
            authority,
            path,
            models_path,
            tls,
        },
        timeouts: v.timeouts,
        headers: v.headers.clone(),
        body: BodyOptions {
            api: v.api,
            model: String::new(),
            stream: v.stream,
            ignore_eos: v.ignore_eos,
            continuous_usage: v.continuous_usage,
            temperature: v.temperature,
            extra: v.extra.clone(),
        },
        tokenizer: tokenizer.clone(),
        max_event_bytes: client::sse::DEFAULT_MAX_EVENT_BYTES,
        max_body_bytes: 64 << 20,
        request_id_prefix: request_id_prefix(v.seed),
        rx_timestamp: v.rx_timestamp,
        read_lag: Default::default(),
    };
    let request_id_prefix = client_cfg.request_id_prefix.clone();
    let model = preflight(&client_cfg, v.model.as_deref().or(default_model.as_deref())).await?;
    client_cfg.body.model = model.clone();

    let concurrency_needed = match v.load {
        Load::Closed { concurrency } => concurrency,
        Load::Open {
            max_concurrency, rate, ..
        } => max_concurrency.unwrap_or((rate * 60.0) as usize),
    };
    raise_nofile((concurrency_needed as u64).saturating_mul(2) + 64);

    std::fs::create_dir_all(&v.out).map_err(|e| CliError::failed(format!("cannot create {}: {e}", v.out.display())))?;
    let (_, started_at) = utc_strings(unix_now_s());
    let run_info = RunInfo {
        request_id_prefix,
        target: url,
        embedded_sim: embedded,
        model,
        api: v.api.name().into(),
        stream: v.stream,
        load_mode: match v.load {
            Load::Closed { .. } => "closed".into(),
            Load::Open { .. } => "open".into(),
        },
        concurrency: match v.load {
            Load::Closed { concurrency } => Some(concurrency),
            _ => None,
        },
        request_rate: match v.load {
            Load::Open { rate, .. } => Some(rate),
            _ => None,
        },
        arrival: match v.load {
            Load::Open {
                arrival: Arrival::Poisson,
                ..
            } => Some("poisson".into()),
            Load::Open {
                arrival: Arrival::Constant,
                ..
            } => Some("constant".into()),
            Load::Open {
                arrival: Arrival::Gamma(k),
                ..
            } => Some(format!("gamma(burstiness={k})")),
            _ => None,
        },
        max_concurrency: match v.load {
            Load::Open { max_concurrency, .. } => max_concurrency,
            _ => None,
        },
        requests: v.requests,
        duration_s: v.duration.map(|d| d.as_secs_f64()),
        warmup: v.warmup,
        seed: v.seed,
        input_tokens: v.input.spec.clone(),
        output_tokens: v.output.spec.clone(),
        tokenizer: tokenizer.name().to_string(),
        ignore_eos: v.ignore_eos,
        started_at,
        command: redacted_command(std::env::args()),
        slo: v.slo.clone(),
        gpu_cost_per_hour: v.gpu_cost_per_hour,
        gpus: v.gpu_cost_per_hour.map(|_| v.gpus),
        steady_skip_start_s: v.steady_skip_start_s,
        steady_cooldown: v.steady_cooldown.clone(),
        sim_engine,
    };
    report::write_json(&v.out.join("run.json"), &run_info)?;

    let plan = BenchPlan {
        client: Arc::new(client_cfg),
        workload: Arc::new(workload),
        load: v.load.clone(),
        requests: v.requests,
        duration: v.duration,
        warmup: v.warmup,
        seed: v.seed,
        records_path: v.out.join("records.jsonl"),
        progress: !a.no_progress && !a.quiet,
        max_error_rate: v.max_error_rate,
        retry: v.retry,
        drain_timeout: v.drain_timeout,
        announce: !a.silent,
    };
    let mut outcome = runner::run(&plan).await?;
    outcome.runtime.includes_embedded_server = embedded;
    let mut summary = report::build_summary(run_info, &outcome.records, &outcome.runtime, outcome.stopped.is_some());
    if let Some(s) = &outcome.stopped {
        summary.stopped_reason = Some(s.reason());
        summary.aborted_in_flight = s.aborted_in_flight;
    }
    let summary_path = v.out.join("summary.json");
    report::write_json(&summary_path, &summary)?;
    if a.csv {
        report::write_csv(&v.out.join("requests.csv"), &outcome.records)?;
    }
    let html_path = if a.no_html {
        None
    } else {
        Some(report::html::write_report(&v.out, Some((&summary, &outcome.records)))?)
    };
    if a.silent {
    } else if a.quiet {
        println!("{}", summary_path.display());
    } else {
        print!("{}", report::render_console(&summary));
        println!(
            "\nrecords: {}\nsummary: {}",
            plan.records_path.display(),
            summary_path.display()
        );
        if let Some(p) = &html_path {
            println!("report:  {}", p.display());
        }
    }
    let m = &summary.metrics;
    let mut all_failed = None;
    if m.requests.total > 0 && m.requests.succeeded == 0 {
        let (class, n) = m
            .errors
            .iter()
            .max_by_key(|(_, n)| **n)
            .map(|(k, n)| (k.as_str(), *n))
            .unwrap_or(("unknown", 0));
        let detail = outcome
            .records
            .iter()
            .find_map(|r| r.error_detail.clone())
            .unwrap_or_default();
        all_failed = Some(format!(
            "all {} requests failed ({class}: {n}); first error: {detail}",
            m.requests.total
        ));
    }
    Ok(StageOutcome {
        summary,
        out: v.out.clone(),
        stopped: outcome.stopped,
        all_failed,
    })
}

/// A per-run prefix for `X-Request-Id` (`im-` and 8 hex digits): unique across concurrent
/// runs against one server, which may reject a request id it already has in flight.
fn request_id_prefix(seed: u64) -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut rng = crate::util::Rng::new(seed ^ t ^ u64::from(std::process::id()).rotate_left(32));
    format!("im-{:08x}", rng.next_u64() as u32)
}

/// The command line for `run.json`, with `--header` values replaced: headers often carry
/// credentials, and nothing secret may reach an output file.
pub fn redacted_command(args: impl Iterator<Item = String>) -> Vec<String> {
    let mut out = Vec::new();
    let mut redact_next = false;
    for a in args {
        if redact_next {
            let name = a.split_once(':').map(|(k, _)| k.trim()).unwrap_or("header");
            out.push(format!("{name}: <redacted>"));
            redact_next = false;
        } else if a == "--header" || a == "-H" {
            redact_next = true;
            out.push(a);
        } else if let Some(v) = a.strip_prefix("--header=") {
            let name = v.split_once(':').map(|(k, _)| k.trim()).unwrap_or("header");
            out.push(format!("--header={name}: <redacted>"));
        } else {
            out.push(a);
        }
    }
    out
}

/// Raise the soft open-files limit toward `want` (never above the hard limit).
fn raise_nofile(want: u64) {
    if let Ok((soft, hard)) = rlimit::getrlimit(rlimit::Resource::NOFILE) {
        if soft < want {
            let _ = rlimit::setrlimit(rlimit::Resource::NOFILE, want.min(hard), hard);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_paths() {
        assert_eq!(
            paths(Api::Completions, "", None),
            ("/v1/completions".into(), "/v1/models".into())
        );
        assert_eq!(
            paths(Api::Chat, "/v1/", None),
            ("/v1/chat/completions".into(), "/v1/models".into())
        );
        assert_eq!(
            paths(Api::Chat, "/proxy/v1", None),
            ("/proxy/v1/chat/completions".into(), "/proxy/v1/models".into())
        );
        assert_eq!(paths(Api::Completions, "/generate", None).0, "/generate");
        assert_eq!(paths(Api::Completions, "", Some("/x")).0, "/x");
    }

    #[test]
    fn header_values_are_redacted() {
        let args = [
            "infermeter",
            "bench",
            "-H",
            "Authorization: Bearer sk-1",
            "--header=X-Key: abc",
            "--model",
            "m",
        ];
        let r = redacted_command(args.iter().map(|s| s.to_string()));
        let joined = r.join(" ");
        assert!(!joined.contains("sk-1") && !joined.contains("abc"), "{joined}");
        assert!(joined.contains("Authorization: <redacted>") && joined.contains("--model m"));
    }

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
}
