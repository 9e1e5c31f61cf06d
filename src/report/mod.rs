//! Outputs of a run: `summary.json` (versioned schema), the console summary, and the
//! per-request CSV. Everything here renders already-computed metrics; nothing is measured.

pub mod compare;
pub mod html;
pub mod labels;
pub mod server;
pub mod svg;
pub mod workload;

use crate::metrics::cost::{cost, Cost};
use crate::metrics::health::{client_health, ClientHealth, RuntimeSamples};
use crate::metrics::slo::{goodput, Goodput};
use crate::metrics::steady::{steady_state, SteadyState, WindowSpec};
use crate::metrics::{self, RunMetrics, Stats};
use crate::record::RequestRecord;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// Bumped on any incompatible change of `summary.json`; documented in `docs/metrics.md`.
pub const SCHEMA_VERSION: u32 = 1;

/// How the run was configured (also written alone to `run.json` before the run starts).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RunInfo {
    pub target: String,
    /// Requests carry `X-Request-Id: {request_id_prefix}-{record id}`.
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub request_id_prefix: String,
    /// True when the target was the embedded simulated server.
    pub embedded_sim: bool,
    pub model: String,
    pub api: String,
    pub stream: bool,
    /// `closed` or `open`.
    pub load_mode: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub concurrency: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub request_rate: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub arrival: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub max_concurrency: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub requests: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub duration_s: Option<f64>,
    pub warmup: u64,
    pub seed: u64,
    pub input_tokens: String,
    pub output_tokens: String,
    pub tokenizer: String,
    pub ignore_eos: bool,
    pub started_at: String,
    pub command: Vec<String>,
    /// Service-level objectives for goodput (`--slo`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub slo: Option<crate::metrics::slo::Slo>,
    /// $/hour of one GPU and the number of GPUs, for cost per token.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub gpu_cost_per_hour: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub gpus: Option<f64>,
    /// Manual steady-state window: seconds skipped at the start, and the cooldown as
    /// seconds (`"5s"`) or completed requests (`"20"`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub steady_skip_start_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub steady_cooldown: Option<String>,
    /// The simulated engine behind the target (deployment and engine limits), when the target
    /// is infermeter's simulator in engine mode or an offline `sim run`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sim_engine: Option<String>,
    /// The simulated engine's time scale (simulated durations × this; 1 = the hardware's pace).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sim_time_scale: Option<f64>,
    /// The SLA profile judged (`--sla`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sla: Option<crate::telemetry::sla::SlaProfile>,
    /// Seconds between two scrapes of the server's metrics (`--server-metrics-interval`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub server_metrics_interval_s: Option<f64>,
    /// The fixed timing of infermeter's simulator behind the target, when in fixed mode.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sim_fixed: Option<String>,
    /// Where the prompts came from (dataset, trace, shared prefix, sessions) and what
    /// reading the file kept; absent for synthetic prompts of earlier runs.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub workload: Option<crate::workload::facts::WorkloadInfo>,
    /// Wall-clock time (UNIX µs) of the run's time origin, from which every record's `*_us`
    /// instant counts: aligns the shards of one run (`merge`) and other wall-clock logs.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub run_start_unix_us: Option<u64>,
    /// A shard of a sharded run: its index, host, clock and start (see `crate::shard`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub shard: Option<crate::shard::facts::ShardInfo>,
}

impl RunInfo {
    pub fn window_spec(&self) -> WindowSpec {
        let skip = self.steady_skip_start_s.unwrap_or(0.0);
        match self.steady_cooldown.as_deref() {
            Some(c) if c.bytes().all(|b| b.is_ascii_digit()) => WindowSpec::Requests {
                skip_start_s: skip,
                cooldown: c.parse().unwrap_or(0),
            },
            Some(c) => WindowSpec::Time {
                skip_start_s: skip,
                skip_end_s: crate::util::parse_duration(c).map(|d| d.as_secs_f64()).unwrap_or(0.0),
            },
            None if skip > 0.0 => WindowSpec::Time {
                skip_start_s: skip,
                skip_end_s: 0.0,
            },
            None => WindowSpec::Auto,
        }
    }
}

/// Latency measured from the *intended* send time (open loop): what a user arriving on
/// schedule experienced, including any client-side delay (coordinated omission).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct FromSchedule {
    pub ttft: Stats,
    pub e2e: Stats,
    /// Fraction of requests that waited for a `--max-concurrency` slot.
    pub queued_fraction: f64,
    /// True when the cap made a meaningful share (> 10 %) of arrivals wait: the open loop
    /// partly behaved as a closed loop, and latency from send understates user latency.
    pub capped_to_closed_loop: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Summary {
    pub schema_version: u32,
    pub tool: String,
    pub run: RunInfo,
    /// The run stopped early (interrupted, or stopped by `--max-error-rate`); metrics cover
    /// what completed.
    pub partial: bool,
    /// Why a partial run stopped, e.g. `interrupted (SIGINT)` or the circuit breaker's line.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub stopped_reason: Option<String>,
    /// Requests in flight abandoned (not recorded) when the drain after a stop was cut short.
    #[serde(skip_serializing_if = "is_zero", default)]
    pub aborted_in_flight: u64,
    /// Wall time of the measured phase, including drain (≥ `duration_s`).
    pub wall_s: f64,
    #[serde(flatten)]
    pub metrics: RunMetrics,
    /// Client self-health: was the load generator itself a bottleneck?
    pub client: ClientHealth,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub goodput: Option<Goodput>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cost: Option<Cost>,
    pub steady_state: SteadyState,
    /// Open loop only: latency from the intended send time.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub latency_from_schedule_ms: Option<FromSchedule>,
    /// What the server's own `/metrics` said during the run (`--server-metrics`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub server: Option<crate::telemetry::server::ServerBlock>,
    /// GPU memory, utilization, power and energy (NVML or a scraped GPU exporter).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub gpu: Option<crate::telemetry::gpu::GpuBlock>,
    /// The SLA profile's verdicts (`--sla`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sla: Option<crate::telemetry::sla::SlaResult>,
    /// The run's scrapes, kept while the report is written (its *Server* charts); not part of
    /// `summary.json` (they are in `server_metrics.jsonl`).
    #[serde(skip)]
    pub scrapes: Option<std::sync::Arc<crate::telemetry::log::ScrapeLog>>,
    /// Prefix-cache hit rate against the workload's built-in reuse; per-turn and per-session
    /// metrics of multi-turn sessions.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub workload: Option<crate::metrics::workload::WorkloadMetrics>,
    /// The convention behind each latency key, so no number is ambiguous.
    pub definitions: BTreeMap<String, String>,
    /// A run merged from shards (`infermeter merge`): which shards, how they were aligned,
    /// and each shard's self-health.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub shards: Option<crate::shard::facts::MergeInfo>,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

pub fn definitions() -> BTreeMap<String, String> {
    [
        ("ttft", "first token-bearing event (any channel: content, reasoning, tool) minus send; role-only/empty events excluded"),
        ("ttfo", "first content-channel token event minus send"),
        ("e2e", "last token-bearing event minus send"),
        ("tpot", "per request (t_last - t_first) / (OSL - tokens in first event); requests with no later tokens excluded"),
        ("itl", "per token, chunk-aware: an event carrying k tokens after a gap g contributes k samples of g/k; pooled over requests"),
        ("icl", "per chunk: gap between consecutive token-bearing events; pooled over requests"),
        ("normalized", "E2E / OSL per request"),
        ("schedule_lag", "client start minus intended send time (open loop: schedule; closed loop: ~0)"),
        ("client_queue", "time waiting for a --max-concurrency slot"),
        ("per_user_output_tokens_per_s", "OSL / E2E per request"),
        ("throughput", "totals over successful requests / duration_s, where duration_s = max(last token time of a successful request) - min(send time); failed requests never extend it (requests.failed_after_window counts those that ended later)"),
        ("osl", "output tokens: server usage.completion_tokens when reported, else the client tokenizer count"),
        ("token_counts", "every throughput, goodput and cost figure counts OSL/ISL (server usage when reported, else the client tokenizer); per-event token counts only place a request's OSL in time, in proportion to them"),
        ("attribution", "rates over a window (whole run or steady state): output tokens count when their events arrived, a request when its last token arrived, input tokens when the request was sent; goodput is the same sums over SLO-meeting requests, so goodput <= throughput; cost uses these rates"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

pub fn build_summary(run: RunInfo, records: &[RequestRecord], runtime: &RuntimeSamples, partial: bool) -> Summary {
    let metrics = metrics::compute(records);
    let client = client_health(records, run.request_rate, metrics.concurrency.peak, runtime);
    let measured: Vec<&RequestRecord> = records.iter().filter(|r| !r.warmup).collect();
    let window = metrics::run_window(&measured);
    let good = run.slo.as_ref().map(|slo| goodput(&measured, |_| true, slo, window));
    let price = run.gpu_cost_per_hour.map(|p| (p, run.gpus.unwrap_or(1.0)));
    let cost_of = |m: &RunMetrics, g: Option<&Goodput>| {
        price.map(|(p, n)| {
            cost(
                p,
                n,
                m.throughput.output_tokens_per_s,
                m.throughput.total_tokens_per_s,
                g.map(|g| g.output_tokens_per_s),
            )
        })
    };
    let run_cost = cost_of(&metrics, good.as_ref());
    let mut steady = steady_state(records, run.window_spec(), run.slo.as_ref());
    if steady.detected {
        steady.cost = cost_of(&steady.metrics, steady.goodput.as_ref());
    }
    let from_schedule = (run.load_mode == "open").then(|| from_schedule(records));
    let workload = workload::compute(records, &run);
    Summary {
        schema_version: SCHEMA_VERSION,
        tool: format!("infermeter {}", env!("CARGO_PKG_VERSION")),
        run,
        partial,
        stopped_reason: None,
        aborted_in_flight: 0,
        wall_s: runtime.wall_s,
        metrics,
        client,
        goodput: good,
        cost: run_cost,
        steady_state: steady,
        latency_from_schedule_ms: from_schedule,
        server: None,
        gpu: None,
        sla: None,
        scrapes: None,
        workload,
        definitions: definitions(),
        shards: None,
    }
}

fn from_schedule(records: &[RequestRecord]) -> FromSchedule {
    let m: Vec<&RequestRecord> = records.iter().filter(|r| !r.warmup).collect();
    let (mut ttft, mut e2e) = (Vec::new(), Vec::new());
    for r in m.iter().filter(|r| r.ok()) {
        let delay = r.send_us.saturating_sub(r.sched_us) as f64 / 1000.0;
        let rm = metrics::request_metrics(r);
        ttft.extend(rm.ttft_ms.map(|t| t + delay));
        e2e.extend(rm.e2e_ms.map(|t| t + delay));
    }
    let queued = m.iter().filter(|r| r.queue_us > 0).count() as f64 / m.len().max(1) as f64;
    FromSchedule {
        ttft: Stats::from_samples(ttft),
        e2e: Stats::from_samples(e2e),
        queued_fraction: queued,
        capped_to_closed_loop: queued > 0.10,
    }
}

pub fn write_json<T: Serialize>(path: &Path, value: &T) -> anyhow::Result<()> {
    let mut s = serde_json::to_string_pretty(value)?;
    s.push('\n');
    std::fs::write(path, s).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))
}

/// Per-request CSV (one row per measured request).
pub fn write_csv(path: &Path, records: &[RequestRecord]) -> anyhow::Result<()> {
    let mut s = String::from("id,ok,error,input_tokens,output_tokens,ttft_ms,ttfo_ms,e2e_ms,tpot_ms,normalized_ms_per_token,output_tokens_per_s,schedule_lag_ms,client_queue_ms\n");
    let f = |x: Option<f64>| x.map(|v| format!("{v:.3}")).unwrap_or_default();
    let u = |x: Option<u32>| x.map(|v| v.to_string()).unwrap_or_default();
    for r in records.iter().filter(|r| !r.warmup) {
        let m = metrics::request_metrics(r);
        let _ = writeln!(
            s,
            "{},{},{},{},{},{},{},{},{},{},{},{:.3},{:.3}",
            m.id,
            m.ok,
            m.error.unwrap_or(""),
            u(m.input_tokens),
            u(m.output_tokens),
            f(m.ttft_ms),
            f(m.ttfo_ms),
            f(m.e2e_ms),
            f(m.tpot_ms),
            f(m.normalized_ms_per_token),
            f(m.output_tokens_per_s),
            m.schedule_lag_ms,
            m.client_queue_ms
        );
    }
    std::fs::write(path, s).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))
}

fn stat_row(out: &mut String, label: &str, s: &Stats) {
    if s.n == 0 {
        let _ = writeln!(out, "  {label:<30} {:>9}", "n/a");
        return;
    }
    let _ = writeln!(
        out,
        "  {label:<30} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>8}",
        s.mean, s.p50, s.p90, s.p95, s.p99, s.p999, s.max, s.n
    );
}

/// The console summary.
pub fn render_console(s: &Summary) -> String {
    let mut out = String::new();
    console_run(&mut out, s);
    console_requests(&mut out, s);
    console_latency(&mut out, s);
    console_steady_goodput_cost(&mut out, s);
    workload::console(s, &mut out);
    console_client(&mut out, s);
    console_tokens(&mut out, s);
    let tele = server::console(s);
    if !tele.is_empty() {
        let _ = writeln!(out);
        out.push_str(&tele);
    }
    out
}

/// What was measured: target, simulated engine, model, API, load and workload.
fn console_run(out: &mut String, s: &Summary) {
    let r = &s.run;
    let target = if r.embedded_sim {
        format!("{} (embedded simulated server)", r.target)
    } else {
        r.target.clone()
    };
    let _ = writeln!(out, "infermeter bench · {target}");
    if let Some(e) = &r.sim_engine {
        let _ = writeln!(out, "simulated engine: {e}");
    }
    if let Some(f) = &r.sim_fixed {
        let _ = writeln!(out, "simulated server, fixed timing: {f}");
    }
    let load = match r.load_mode.as_str() {
        "open" => format!(
            "open loop, {} arrivals at {:.2} req/s{}",
            r.arrival.as_deref().unwrap_or("?"),
            r.request_rate.unwrap_or(0.0),
            r.max_concurrency
                .map(|c| format!(", max concurrency {c}"))
                .unwrap_or_default()
        ),
        _ => format!("closed loop, concurrency {}", r.concurrency.unwrap_or(0)),
    };
    let _ = writeln!(
        out,
        "model {} · {} API · {} · {load}",
        r.model,
        r.api,
        if r.stream { "streaming" } else { "non-streaming" }
    );
    let _ = writeln!(
        out,
        "workload: {}, {} ({}), tokenizer {}",
        workload::source_line(r),
        workload::output_phrase(r),
        if r.ignore_eos { "ignore_eos" } else { "natural stop" },
        r.tokenizer
    );
    if s.partial {
        let _ = writeln!(
            out,
            "PARTIAL: {}; metrics cover completed requests only",
            s.stopped_reason.as_deref().unwrap_or("the run was interrupted")
        );
    }
    let _ = writeln!(out);
}

/// Request counts, errors, throughput and concurrency.
fn console_requests(out: &mut String, s: &Summary) {
    let m = &s.metrics;
    let mut notes = String::new();
    if m.requests.warmup_excluded > 0 {
        let _ = write!(notes, " · {} warmup excluded", m.requests.warmup_excluded);
    }
    if m.requests.retried > 0 {
        let _ = write!(notes, " · {} retried", m.requests.retried);
    }
    if m.requests.failed_after_window > 0 {
        let _ = write!(
            notes,
            " · {} failed after the window (not in duration)",
            m.requests.failed_after_window
        );
    }
    let _ = writeln!(
        out,
        "requests   {} total · {} ok · {} failed{}   duration {:.2} s (wall {:.2} s)",
        m.requests.total, m.requests.succeeded, m.requests.failed, notes, m.duration_s, s.wall_s
    );
    if !m.errors.is_empty() {
        let errs: Vec<String> = m.errors.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let _ = writeln!(out, "errors     {}", errs.join(" · "));
    }
    let t = &m.throughput;
    let _ = writeln!(
        out,
        "throughput {:.2} req/s · output {:.1} tok/s · input {:.1} tok/s · total {:.1} tok/s",
        t.requests_per_s, t.output_tokens_per_s, t.input_tokens_per_s, t.total_tokens_per_s
    );
    let _ = writeln!(
        out,
        "concurrency mean {:.2} · peak {}",
        m.concurrency.mean, m.concurrency.peak
    );
}

/// The latency table, every distribution under its label (`labels`).
fn console_latency(out: &mut String, s: &Summary) {
    let m = &s.metrics;
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "  {:<30} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>8}",
        "latency (ms)", "mean", "p50", "p90", "p95", "p99", "p99.9", "max", "n"
    );
    let l = &m.latency_ms;
    for (key, label) in labels::LATENCY {
        let Some(stats) = l.get(key) else { continue };
        if key != "client_queue" || stats.max > 0.0 {
            stat_row(out, label, stats);
        }
    }
    stat_row(out, labels::PER_USER_TPS, &m.per_user_output_tokens_per_s);
    stat_row(out, labels::TOKENS_PER_CHUNK, &m.tokens_per_chunk);
    if let Some(fs) = &s.latency_from_schedule_ms {
        stat_row(out, "TTFT from intended send", &fs.ttft);
        stat_row(out, "E2E from intended send", &fs.e2e);
        if fs.capped_to_closed_loop {
            let _ = writeln!(
                out,
                "  note: {:.0}% of arrivals waited for --max-concurrency: the open loop partly became a closed loop",
                fs.queued_fraction * 100.0
            );
        }
    }
    let _ = writeln!(out);
}

/// The steady-state line, goodput and cost.
fn console_steady_goodput_cost(out: &mut String, s: &Summary) {
    let m = &s.metrics;
    let ss = &s.steady_state;
    if ss.detected {
        let _ = writeln!(
            out,
            "steady state ({}) {:.2}–{:.2} s: {} requests · output {:.1} tok/s · TTFT p50 {:.2} ms p99 {:.2} ms · TPOT p50 {:.2} ms",
            ss.method,
            ss.window_start_s,
            ss.window_end_s,
            ss.metrics.requests.total,
            ss.metrics.throughput.output_tokens_per_s,
            ss.metrics.latency_ms.ttft.p50,
            ss.metrics.latency_ms.ttft.p99,
            ss.metrics.latency_ms.tpot.p50
        );
    } else {
        let _ = writeln!(
            out,
            "steady state: none ({})",
            ss.reason.as_deref().unwrap_or("not found")
        );
    }
    if let Some(g) = &s.goodput {
        let v: Vec<String> = g.violations.iter().map(|(k, n)| format!("{k} {n}")).collect();
        let _ = writeln!(
            out,
            "goodput    {:.2} req/s · {:.1} output tok/s · SLO attainment {:.1}% ({} of {}){}{}",
            g.requests_per_s,
            g.output_tokens_per_s,
            g.attainment * 100.0,
            g.good,
            m.requests.total,
            if v.is_empty() {
                String::new()
            } else {
                format!(" · violations: {}", v.join(", "))
            },
            if g.tpot_not_applicable > 0 {
                format!(
                    " · TPOT objective n/a for {} requests with one token event",
                    g.tpot_not_applicable
                )
            } else {
                String::new()
            }
        );
    }
    if let Some(c) = &s.cost {
        let f = |x: Option<f64>| x.map(|v| format!("${v:.4}")).unwrap_or_else(|| "n/a".into());
        let _ = writeln!(
            out,
            "cost       {} per 1M output tokens · {} per 1M total tokens · {:.0} output tokens/$ (at ${:.2}/h × {} GPU){}",
            f(c.per_million_output_tokens),
            f(c.per_million_total_tokens),
            c.output_tokens_per_dollar.unwrap_or(0.0),
            c.gpu_cost_per_hour,
            c.gpus,
            c.per_million_good_output_tokens.map(|v| format!(" · ${v:.4} per 1M good tokens")).unwrap_or_default()
        );
    }
}

/// Client self-health and its verdict.
fn console_client(out: &mut String, s: &Summary) {
    let c = &s.client;
    let rates = match (c.offered_rate, c.achieved_rate) {
        (Some(o), Some(a)) => format!("offered {o:.1} req/s, achieved {a:.1} req/s · "),
        (None, Some(a)) => format!("achieved {a:.1} req/s · "),
        _ => String::new(),
    };
    let cpu = c
        .cpu_utilization
        .map(|u| {
            format!(
                "CPU {:.2} s ({:.0}% of {} cores{}) · ",
                c.cpu_s.unwrap_or(0.0),
                u * 100.0,
                c.cores,
                if c.includes_embedded_server {
                    ", incl. embedded server"
                } else {
                    ""
                }
            )
        })
        .unwrap_or_default();
    let probe = if c.runtime_probe_lateness_ms.n > 0 {
        format!("runtime probe p99 {:.2} ms · ", c.runtime_probe_lateness_ms.p99)
    } else {
        String::new()
    };
    let reads = match &c.read_lag_ms {
        Some(l) => format!("socket read lag p99 {:.2} ms · ", l.p99),
        None => String::new(),
    };
    let _ = writeln!(
        out,
        "client     {rates}{cpu}{probe}{reads}{}",
        if c.saturated { "SATURATED" } else { "not saturated" }
    );
    if let Some(why) = &c.saturated_reason {
        let _ = writeln!(out, "WARNING: the client may have distorted this measurement: {why}");
    }
}

/// Token accounting and its provenance.
fn console_tokens(out: &mut String, s: &Summary) {
    let m = &s.metrics;
    let tk = &m.tokens;
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "tokens     input {} ({} of {} requests server-reported) · output {} ({} server-reported){}",
        tk.input,
        tk.input_from_server,
        m.requests.succeeded,
        tk.output,
        tk.output_from_server,
        if tk.cached > 0 {
            format!(" · cached {}", tk.cached)
        } else {
            String::new()
        }
    );
    if tk.output_compared > 0 {
        let _ = writeln!(
            out,
            "           output count server vs client tokenizer: {} of {} requests differ (Σ server − client = {})",
            tk.output_mismatched, tk.output_compared, tk.output_server_minus_client
        );
    }
}
