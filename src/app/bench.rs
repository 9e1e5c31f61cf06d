//! One benchmark stage (`bench`, and each stage of `sweep`): prepare the target, write
//! `run.json`, run the load, and write the records' summary and reports.

use super::info;
use super::output::{self, Ui};
use super::target;
use crate::error::{Error, EXIT_ERROR_RATE, EXIT_INTERRUPTED};
use crate::report::{self, Summary};
use crate::runner::{self, BenchPlan};
use crate::schedule::Load;
use crate::spec::validate::BenchConfig;
use crate::telemetry::exporter::{Exporter, LiveEvent, LiveSender};
use crate::telemetry::session::{Session, TelemetryConfig};
use crate::workload::Tokenizer;
use std::path::PathBuf;
use std::sync::Arc;

/// One finished benchmark: its summary, and the failure message when every request failed.
pub struct StageOutcome {
    pub summary: Summary,
    pub out: PathBuf,
    /// Set when the run stopped early (Ctrl-C or the circuit breaker).
    pub stopped: Option<runner::Stopped>,
    pub all_failed: Option<String>,
}

impl StageOutcome {
    /// The error that ends the process for an early stop: exit 130 after Ctrl-C (the partial
    /// report is already printed, so no line), exit 3 with one line after the breaker tripped.
    pub fn stop_error(&self) -> Option<Error> {
        let s = self.stopped.as_ref()?;
        Some(match s.cause {
            runner::StopCause::Interrupted => Error {
                code: EXIT_INTERRUPTED,
                message: String::new(),
            },
            runner::StopCause::ErrorRate(_) => Error {
                code: EXIT_ERROR_RATE,
                message: format!("stopped: {}", s.reason()),
            },
        })
    }

    /// The process's end: `Ok(0)`, `Ok(130)` after Ctrl-C, or an error line.
    pub fn exit(self) -> Result<u8, Error> {
        if let Some(e) = self.stop_error() {
            if e.message.is_empty() {
                return Ok(e.code);
            }
            return Err(e);
        }
        match self.all_failed {
            Some(msg) => Err(Error::failed(msg)),
            None => Ok(0),
        }
    }
}

/// Run one benchmark and write its outputs (the console summary unless quiet or silent);
/// with `--prometheus-listen`, its live metrics are served while it runs.
pub async fn run_stage(cfg: &BenchConfig, ui: Ui) -> Result<StageOutcome, Error> {
    let exporter = start_exporter(&cfg.telemetry, ui)?;
    let result = run_stage_with(cfg, ui, exporter.as_ref().map(Exporter::sender)).await;
    if let Some(e) = exporter {
        finish_exporter(e, &cfg.telemetry, ui).await;
    }
    result
}

/// Start the live exporter when `--prometheus-listen` is set.
pub fn start_exporter(t: &TelemetryConfig, ui: Ui) -> Result<Option<Exporter>, Error> {
    let Some(addr) = t.prometheus_listen else {
        return Ok(None);
    };
    let e = Exporter::start(addr)
        .map_err(|err| Error::failed(format!("cannot listen on {addr} (--prometheus-listen): {err}")))?;
    if !ui.silent || ui.progress {
        eprintln!("live metrics: http://{}/metrics", e.addr());
    }
    if let Some(p) = &t.sla {
        e.sender().send(LiveEvent::Sla(p.clone()));
    }
    Ok(Some(e))
}

/// Keep the exporter up until Prometheus has read the final values (`--prometheus-linger`).
pub async fn finish_exporter(e: Exporter, t: &TelemetryConfig, ui: Ui) {
    let addr = e.addr();
    if !e.finish(t.prometheus_linger).await && !ui.quiet {
        eprintln!(
            "note: no scrape of http://{addr}/metrics read the final values within {:.0}s (--prometheus-linger)",
            t.prometheus_linger.as_secs_f64()
        );
    }
}

/// [`run_stage`] feeding an exporter the caller owns (a sweep keeps one for all stages).
pub async fn run_stage_with(cfg: &BenchConfig, ui: Ui, live: Option<LiveSender>) -> Result<StageOutcome, Error> {
    let tokenizer = Tokenizer::load(&cfg.workload.tokenizer).map_err(Error::usage)?;
    // Files are read and validated before the target is contacted.
    let chat = cfg.api == crate::client::openai::Api::Chat;
    let mut workload = super::workload::build(&cfg.workload, cfg.seed, tokenizer.clone(), chat, &cfg.load)?;
    let ready = target::prepare(cfg, tokenizer.clone(), request_id_prefix(cfg.seed), ui.silent).await?;
    super::workload::limit_context(
        &mut workload,
        ready.context,
        cfg.workload.skip_invalid,
        cfg.load.requests,
    )?;
    let facts = super::workload::facts(&workload, &cfg.load);
    raise_nofile((concurrency_needed(cfg, &facts) as u64).saturating_mul(2) + 64);

    std::fs::create_dir_all(&cfg.out)
        .map_err(|e| Error::failed(format!("cannot create {}: {e}", cfg.out.display())))?;
    let requests = super::workload::trace_requests(&workload).or(cfg.load.requests);
    // The run's time origin on both clocks: records count from `anchor.instant`, and its
    // wall-clock time aligns this run with others (the shards of one run, server logs).
    let anchor = crate::shard::Anchor::now();
    let mut run_info = describe_run(cfg, &ready, &tokenizer, facts, requests, anchor.unix_us);
    if let Some(shard) = cfg.sharding.shard {
        if !ui.silent && !ui.quiet {
            eprintln!("{}", super::shard::start_line(shard, &cfg.sharding, &cfg.load));
        }
    }
    info::write_run_json(&cfg.out, &cfg.spec, &run_info)?;
    if let Some(l) = &live {
        l.send(LiveEvent::RunInfo(vec![
            ("model".into(), ready.model.clone()),
            ("target".into(), ready.url.clone()),
        ]));
    }
    let tele = &cfg.telemetry;
    // Scrape the server (and poll local GPUs) on the run's clock, off the request runtime.
    let target_has_metrics = cfg.sim.as_ref().is_none_or(|s| s.engine.is_some());
    let warn: Arc<dyn Fn(String) + Send + Sync> = Arc::new(|w| eprintln!("{w}"));
    let session = Arc::new(Session::new(
        tele,
        &cfg.out,
        &ready.url,
        target_has_metrics,
        cfg.tls.clone(),
        live,
        warn,
    ));

    let plan = BenchPlan {
        client: Arc::new(ready.client),
        workload: Arc::new(workload),
        load: cfg.load.load.clone(),
        requests,
        duration: cfg.load.duration,
        warmup: cfg.load.warmup,
        seed: cfg.seed,
        records_path: cfg.out.join("records.jsonl"),
        progress: ui.progress && !ui.quiet,
        max_error_rate: cfg.max_error_rate,
        retry: cfg.retry,
        drain_timeout: cfg.drain_timeout,
        announce: !ui.silent,
        observer: Some(session.clone()),
        shard: cfg.sharding.shard,
        run_start: Some(anchor.instant),
        measure_from: cfg.sharding.start_at.as_ref().map(|(us, _)| anchor.instant_of(*us)),
    };
    let outcome = runner::run(&plan).await;
    let scraped = session.finish().await;
    let mut outcome = outcome?;
    outcome.runtime.includes_embedded_server = cfg.url.is_none();
    if let Some(s) = run_info.shard.as_mut() {
        s.phase_start_us = Some(outcome.phase_start_us);
        s.start_late_ms = cfg
            .sharding
            .start_at
            .as_ref()
            .map(|(at, _)| (anchor.unix_us + outcome.phase_start_us).saturating_sub(*at) as f64 / 1000.0);
    }
    let mut summary = report::build_summary(run_info, &outcome.records, &outcome.runtime, outcome.stopped.is_some());
    if let Some(s) = &outcome.stopped {
        summary.stopped_reason = Some(s.reason());
        summary.aborted_in_flight = s.aborted_in_flight;
    }
    crate::report::server::attach(
        &mut summary,
        &outcome.records,
        scraped.as_ref(),
        session.no_scrape_reason(),
        tele.interval.as_secs_f64(),
        tele.sla.as_ref(),
    );
    output::write_all(
        &cfg.out,
        &summary,
        &outcome.records,
        output::Files {
            csv: cfg.csv,
            html: cfg.html,
        },
        ui,
        None,
    )?;
    let all_failed = output::all_failed(&summary, &outcome.records, "failed");
    Ok(StageOutcome {
        summary,
        out: cfg.out.clone(),
        stopped: outcome.stopped,
        all_failed,
    })
}

/// How many connections the run may hold at once (file descriptors to ask for).
fn concurrency_needed(cfg: &BenchConfig, facts: &crate::workload::facts::WorkloadInfo) -> usize {
    match cfg.load.load {
        Load::Closed { concurrency } => concurrency,
        Load::Open {
            max_concurrency, rate, ..
        } => max_concurrency.unwrap_or((rate * 60.0) as usize),
        Load::Trace { max_concurrency } => {
            let rate = facts.trace.as_ref().and_then(|t| t.offered_rate).unwrap_or(16.0);
            max_concurrency.unwrap_or((rate * 60.0) as usize)
        }
    }
}

/// The run's facts as `run.json` records them before the first request: the target as found,
/// the simulated engine, the workload read, the telemetry settings and, for a shard, its part.
fn describe_run(
    cfg: &BenchConfig,
    ready: &target::Ready,
    tokenizer: &Tokenizer,
    facts: crate::workload::facts::WorkloadInfo,
    requests: Option<u64>,
    run_start_unix_us: u64,
) -> report::RunInfo {
    let mut run_info = info::with_load(info::common(&cfg.spec, cfg.slo.clone(), cfg.price), &cfg.load);
    run_info.request_id_prefix = ready.client.request_id_prefix.clone();
    run_info.target = ready.url.clone();
    run_info.embedded_sim = cfg.url.is_none();
    run_info.model = ready.model.clone();
    run_info.api = cfg.api.name().into();
    run_info.stream = cfg.stream;
    run_info.tokenizer = tokenizer.name().to_string();
    if let Some(d) = &ready.simulated {
        d.fill(&mut run_info);
    }
    run_info.sla = cfg.telemetry.sla.clone();
    run_info.server_metrics_interval_s = Some(cfg.telemetry.interval.as_secs_f64());
    if let Some(t) = facts.trace.as_ref().filter(|t| !t.untimed) {
        run_info.request_rate = t.offered_rate;
    }
    run_info.requests = requests;
    run_info.workload = Some(facts);
    run_info.run_start_unix_us = Some(run_start_unix_us);
    if let Some(shard) = cfg.sharding.shard {
        super::shard::describe(&mut run_info, shard, &cfg.sharding, &cfg.load);
    }
    run_info
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

/// Raise the soft open-files limit toward `want` (never above the hard limit).
fn raise_nofile(want: u64) {
    if let Ok((soft, hard)) = rlimit::getrlimit(rlimit::Resource::NOFILE) {
        if soft < want {
            let _ = rlimit::setrlimit(rlimit::Resource::NOFILE, want.min(hard), hard);
        }
    }
}
