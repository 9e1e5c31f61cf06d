//! Drives a benchmark: a warmup phase, then the measured phase in closed or open loop, with
//! every finished request's record sent (one typed message each) to a single collector task
//! that streams it to `records.jsonl` and keeps it for the metrics. Workers share nothing
//! mutable except an atomic request counter (closed loop) or a pool of idle connections
//! (open loop); no lock is held across an await.

use crate::client::{self, ClientConfig, Conn};
use crate::record::{write_jsonl, RequestRecord};
use crate::schedule::{self, Load};
use crate::workload::Workload;
use anyhow::Context;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, Semaphore};

#[derive(Debug, Clone)]
pub struct BenchPlan {
    pub client: Arc<ClientConfig>,
    pub workload: Arc<Workload>,
    pub load: Load,
    /// Measured requests (the run stops at whichever of `requests`/`duration` comes first).
    pub requests: Option<u64>,
    pub duration: Option<Duration>,
    pub warmup: u64,
    pub seed: u64,
    pub records_path: PathBuf,
    pub progress: bool,
}

pub struct RunOutcome {
    pub records: Vec<RequestRecord>,
    /// Wall time of the measured phase.
    pub wall_s: f64,
    /// Stopped early by Ctrl-C.
    pub interrupted: bool,
    /// CPU time and runtime-probe lateness over the measured phase (client self-health).
    pub runtime: crate::metrics::health::RuntimeSamples,
}

struct Ctx {
    client: Arc<ClientConfig>,
    workload: Arc<Workload>,
    run_start: Instant,
    tx: mpsc::UnboundedSender<RequestRecord>,
    stop: Arc<AtomicBool>,
    in_flight: AtomicU64,
}

fn us(run_start: Instant, t: Instant) -> u64 {
    t.saturating_duration_since(run_start).as_micros() as u64
}

async fn one_request(
    ctx: &Ctx,
    conn: &mut Option<Conn>,
    index: u64,
    sched: Instant,
    start: Instant,
    queue: Duration,
    warmup: bool,
) {
    ctx.in_flight.fetch_add(1, Ordering::Relaxed);
    let spec = ctx.workload.request(index);
    let mut rec = RequestRecord {
        id: index,
        warmup,
        sched_us: us(ctx.run_start, sched),
        start_us: us(ctx.run_start, start),
        queue_us: queue.as_micros() as u64,
        ..Default::default()
    };
    client::execute(&ctx.client, conn, ctx.run_start, &spec, &mut rec).await;
    ctx.in_flight.fetch_sub(1, Ordering::Relaxed);
    let _ = ctx.tx.send(rec);
}

/// Closed loop over request indices `[first, first + count)` (count may be unbounded),
/// stopping at `deadline` when given.
async fn closed_loop(
    ctx: Arc<Ctx>,
    concurrency: usize,
    first: u64,
    count: Option<u64>,
    deadline: Option<Instant>,
    warmup: bool,
) {
    let next = Arc::new(AtomicU64::new(first));
    let end = count.map(|c| first + c).unwrap_or(u64::MAX);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let ctx = ctx.clone();
        let next = next.clone();
        tasks.spawn(async move {
            let mut conn: Option<Conn> = None;
            loop {
                let now = Instant::now();
                if ctx.stop.load(Ordering::Relaxed) || deadline.is_some_and(|d| now >= d) {
                    break;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= end {
                    break;
                }
                one_request(&ctx, &mut conn, i, now, now, Duration::ZERO, warmup).await;
            }
        });
    }
    while tasks.join_next().await.is_some() {}
}

/// Open loop: a dedicated OS thread releases each request at its absolute arrival time.
async fn open_loop(ctx: Arc<Ctx>, offsets: Vec<f64>, first: u64, max_concurrency: Option<usize>) {
    let handle = tokio::runtime::Handle::current();
    let cap = max_concurrency.map(|c| Arc::new(Semaphore::new(c)));
    let pool: Arc<Mutex<Vec<Conn>>> = Arc::new(Mutex::new(Vec::new()));
    let phase_start = Instant::now();
    let thread_ctx = ctx.clone();
    let dispatcher = std::thread::Builder::new()
        .name("infermeter-pacer".into())
        .spawn(move || {
            let mut tasks = Vec::with_capacity(offsets.len());
            for (j, off) in offsets.into_iter().enumerate() {
                let sched = phase_start + Duration::from_secs_f64(off);
                schedule::pace(sched, Duration::from_micros(200));
                if thread_ctx.stop.load(Ordering::Relaxed) {
                    break;
                }
                let ctx = thread_ctx.clone();
                let cap = cap.clone();
                let pool = pool.clone();
                tasks.push(handle.spawn(async move {
                    let start = Instant::now();
                    let _permit = match &cap {
                        Some(s) => s.clone().acquire_owned().await.ok(),
                        None => None,
                    };
                    let queue = start.elapsed();
                    let mut conn = pool.lock().ok().and_then(|mut p| p.pop());
                    one_request(&ctx, &mut conn, first + j as u64, sched, start, queue, false).await;
                    if let (Some(c), Ok(mut p)) = (conn, pool.lock()) {
                        p.push(c);
                    }
                }));
            }
            tasks
        });
    let tasks = match dispatcher {
        Ok(h) => tokio::task::spawn_blocking(move || h.join().unwrap_or_default())
            .await
            .unwrap_or_default(),
        Err(_) => Vec::new(),
    };
    for t in tasks {
        let _ = t.await;
    }
}

/// Run the whole benchmark and return every record (warmup ones flagged).
pub async fn run(plan: &BenchPlan) -> anyhow::Result<RunOutcome> {
    let file = std::fs::File::create(&plan.records_path)
        .with_context(|| format!("cannot create {}", plan.records_path.display()))?;
    let (tx, mut rx) = mpsc::unbounded_channel::<RequestRecord>();
    let stop = Arc::new(AtomicBool::new(false));
    let ctx = Arc::new(Ctx {
        client: plan.client.clone(),
        workload: plan.workload.clone(),
        run_start: Instant::now(),
        tx,
        stop: stop.clone(),
        in_flight: AtomicU64::new(0),
    });

    let run_start_ns = crate::util::monotonic_ns(ctx.run_start);
    let total_hint = plan.requests.map(|n| n + plan.warmup);
    let bar = progress_bar(plan.progress, total_hint, plan.duration);
    let collector_bar = bar.clone();
    let collector = tokio::spawn(async move {
        let mut w = BufWriter::new(file);
        let mut records = Vec::new();
        let mut io_error = None;
        let (mut ok, mut failed) = (0u64, 0u64);
        while let Some(first) = rx.recv().await {
            let mut next = Some(first);
            // Drain what is ready, then flush once: records reach the OS promptly.
            while let Some(r) = next {
                if r.ok() {
                    ok += 1
                } else {
                    failed += 1
                }
                if io_error.is_none() {
                    if let Err(e) = write_jsonl(&mut w, &r) {
                        io_error = Some(e);
                    }
                }
                records.push(r);
                next = rx.try_recv().ok();
            }
            if io_error.is_none() {
                if let Err(e) = w.flush() {
                    io_error = Some(e);
                }
            }
            if let Some(b) = &collector_bar {
                if total_hint.is_some() {
                    b.set_position(ok + failed);
                }
                b.set_message(format!("ok {ok}  failed {failed}"));
            }
        }
        (records, io_error)
    });

    let sigint_stop = stop.clone();
    let sigint = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            sigint_stop.store(true, Ordering::Relaxed);
        }
    });
    let ticker = bar.clone().filter(|_| total_hint.is_none()).map(|b| {
        let start = Instant::now();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                b.set_position(start.elapsed().as_secs());
            }
        })
    });

    // Warmup: closed loop at the run's concurrency (or the open loop's cap), excluded from metrics.
    if plan.warmup > 0 {
        let c = match plan.load {
            Load::Closed { concurrency } => concurrency,
            Load::Open { max_concurrency, .. } => max_concurrency.unwrap_or(8),
        }
        .clamp(1, plan.warmup as usize);
        closed_loop(ctx.clone(), c, 0, Some(plan.warmup), None, true).await;
    }

    let phase_start = Instant::now();
    let cpu_start = crate::metrics::health::process_cpu_s();
    let probe_stop = Arc::new(AtomicBool::new(false));
    let probe_flag = probe_stop.clone();
    let probe = tokio::spawn(async move {
        // Wakes every 10 ms on the request runtime; lateness shows runtime starvation.
        let mut late = Vec::new();
        let period = Duration::from_millis(10);
        let mut next = tokio::time::Instant::now() + period;
        loop {
            tokio::time::sleep_until(next).await;
            let now = tokio::time::Instant::now();
            late.push(now.saturating_duration_since(next).as_secs_f64() * 1000.0);
            next = now + period;
            if probe_flag.load(Ordering::Relaxed) || late.len() >= 360_000 {
                return late;
            }
        }
    });
    let deadline = plan.duration.map(|d| phase_start + d);
    match plan.load {
        Load::Closed { concurrency } => {
            closed_loop(ctx.clone(), concurrency, plan.warmup, plan.requests, deadline, false).await;
        }
        Load::Open {
            rate,
            arrival,
            max_concurrency,
        } => {
            let offsets = schedule::arrivals(rate, arrival, plan.seed, plan.requests, plan.duration);
            open_loop(ctx.clone(), offsets, plan.warmup, max_concurrency).await;
        }
    }
    let wall_s = phase_start.elapsed().as_secs_f64();
    let cpu_s = match (cpu_start, crate::metrics::health::process_cpu_s()) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    probe_stop.store(true, Ordering::Relaxed);
    let probe_lateness_ms = probe.await.unwrap_or_default();
    let interrupted = stop.load(Ordering::Relaxed);
    sigint.abort();
    if let Some(t) = ticker {
        t.abort();
    }
    drop(ctx);
    let (records, io_error) = collector.await.context("record collector failed")?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    if let Some(e) = io_error {
        anyhow::bail!("writing {} failed: {e}", plan.records_path.display());
    }
    let runtime = crate::metrics::health::RuntimeSamples {
        cpu_s,
        wall_s,
        cores: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        probe_lateness_ms,
        includes_embedded_server: false,
        peak_rss_bytes: crate::metrics::health::peak_rss_bytes(),
        run_start_monotonic_ns: Some(run_start_ns),
    };
    Ok(RunOutcome {
        records,
        wall_s,
        interrupted,
        runtime,
    })
}

fn progress_bar(enabled: bool, total: Option<u64>, duration: Option<Duration>) -> Option<indicatif::ProgressBar> {
    if !enabled {
        return None;
    }
    let (len, unit) = match (total, duration) {
        (Some(n), _) => (n, "req"),
        (None, Some(d)) => (d.as_secs().max(1), "s"),
        (None, None) => (0, "req"),
    };
    let bar = indicatif::ProgressBar::new(len);
    let template = format!("{{spinner}} {{elapsed_precise}} [{{bar:30}}] {{pos}}/{{len}} {unit}  {{msg}}");
    if let Ok(style) = indicatif::ProgressStyle::with_template(&template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.enable_steady_tick(Duration::from_millis(100));
    Some(bar)
}
