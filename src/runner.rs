//! Drives a benchmark: a warmup phase, then the measured phase in closed or open loop, with
//! every finished request's record sent (one typed message each) to a single collector task
//! that streams it to `records.jsonl` and keeps it for the metrics. Workers share nothing
//! mutable except an atomic request counter (closed loop) or a pool of idle connections
//! (open loop); no lock is held across an await.
//!
//! A run can stop early: Ctrl-C, or the `--max-error-rate` circuit breaker (fed by each
//! worker as its request completes, see `breaker`). Stopping means no new request and no new retry; requests in
//! flight drain for at most `--drain-timeout`, and a second Ctrl-C (or the end of that grace
//! period) aborts them: they are dropped unrecorded and counted, while every completed
//! record is still written.

pub mod breaker;
pub mod probe;
mod sessions;

use crate::client::retry::RetryPolicy;
use crate::client::{self, ClientConfig, Conn};
use crate::record::{write_jsonl, RequestRecord, TokenEvent};
use crate::schedule::{self, Load};
use crate::shard::{Partition, Shard};
use crate::workload::trace::{Replay, TraceEntry};
use crate::workload::{RequestSpec, Source, Workload};
use anyhow::Context;
use breaker::{ErrorWindow, Trip};
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch, Semaphore};

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
    /// `--max-error-rate` and `--error-window`: stop when the failed fraction of the last
    /// completed requests exceeds the limit.
    pub max_error_rate: Option<(f64, usize)>,
    pub retry: RetryPolicy,
    /// Longest wait for requests in flight once the run stops early.
    pub drain_timeout: Duration,
    /// Print a line on stderr when Ctrl-C starts a drain.
    pub announce: bool,
    /// Told when the run's clock starts, when the warm-up ends, and of every request (the
    /// telemetry scraper and the live exporter).
    pub observer: Option<Arc<dyn RunObserver>>,
    /// This process's shard of a sharded run (`None`: the whole run): the request indices it
    /// sends and its share of the workers or of the concurrency cap (`crate::shard`).
    pub shard: Option<crate::shard::Shard>,
    /// The run's time origin (`None`: when the run starts); every record's `*_us` counts
    /// from it.
    pub run_start: Option<Instant>,
    /// Synchronized start (`--start-at`): the measured phase begins at this instant, after
    /// the warm-up.
    pub measure_from: Option<Instant>,
}

/// A future a [`RunObserver`] hook returns; the run waits for it.
pub type Hook<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>>;

/// Watches a run from outside the request path. The two phase hooks are awaited (nothing is
/// sent until they return); the per-request ones must not block.
pub trait RunObserver: Send + Sync {
    /// The run's clock starts at `run_start` (every record time counts from it); nothing has
    /// been sent yet.
    fn started(&self, run_start: Instant) -> Hook<'_>;
    /// The warm-up is over; the measured phase starts when this returns.
    fn measuring(&self) -> Hook<'_>;
    /// A request is about to be sent.
    fn sent(&self) {}
    /// A request ended with this record, or was abandoned mid-flight (`None`).
    fn done(&self, _record: Option<&RequestRecord>) {}
}

impl std::fmt::Debug for dyn RunObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RunObserver")
    }
}

/// Why a run stopped before its end.
#[derive(Debug, Clone, PartialEq)]
pub enum StopCause {
    /// SIGINT (Ctrl-C).
    Interrupted,
    /// The `--max-error-rate` circuit breaker tripped.
    ErrorRate(Trip),
}

/// Why requests still in flight were abandoned instead of drained.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AbortCause {
    SecondInterrupt,
    DrainTimeout(Duration),
}

/// How an early stop went.
#[derive(Debug, Clone, PartialEq)]
pub struct Stopped {
    pub cause: StopCause,
    /// Set when the drain was cut short.
    pub abort: Option<AbortCause>,
    /// Requests in flight that were abandoned (not recorded).
    pub aborted_in_flight: u64,
}

impl Stopped {
    /// One line for `summary.json` `stopped_reason` and the console.
    pub fn reason(&self) -> String {
        let mut s = match &self.cause {
            StopCause::Interrupted => "interrupted (SIGINT)".to_string(),
            StopCause::ErrorRate(t) => t.message(),
        };
        match self.abort {
            Some(AbortCause::SecondInterrupt) => s.push_str("; a second SIGINT aborted the drain"),
            Some(AbortCause::DrainTimeout(d)) => {
                s.push_str(&format!("; the drain hit --drain-timeout {}s", d.as_secs_f64()))
            }
            None => {}
        }
        if self.aborted_in_flight > 0 {
            s.push_str(&format!(
                " ({} request{} in flight not recorded)",
                self.aborted_in_flight,
                if self.aborted_in_flight == 1 { "" } else { "s" }
            ));
        }
        s
    }
}

pub struct RunOutcome {
    pub records: Vec<RequestRecord>,
    /// Wall time of the measured phase.
    pub wall_s: f64,
    /// Set when the run stopped early (Ctrl-C or the circuit breaker).
    pub stopped: Option<Stopped>,
    /// CPU time and runtime-probe lateness over the measured phase (client self-health).
    pub runtime: crate::metrics::health::RuntimeSamples,
    /// When the measured phase began, µs since the run's time origin.
    pub phase_start_us: u64,
}

/// The stop and abort switches and the circuit breaker, shared by workers and the signal task
/// (no record sender in here, so holding it never keeps the collector alive).
struct Control {
    /// Fast check for workers and the pacer thread.
    stop: AtomicBool,
    cause: Mutex<Option<StopCause>>,
    stop_tx: watch::Sender<bool>,
    abort_tx: watch::Sender<Option<AbortCause>>,
    in_flight: AtomicU64,
    aborted: AtomicU64,
    /// The `--max-error-rate` window, fed by each worker as its request completes (so the
    /// run stops right at the tripping completion); `None` once tripped or when off.
    breaker: Mutex<Option<ErrorWindow>>,
}

impl Control {
    fn new(breaker: Option<ErrorWindow>) -> Self {
        Control {
            breaker: Mutex::new(breaker),
            stop: AtomicBool::new(false),
            cause: Mutex::new(None),
            stop_tx: watch::channel(false).0,
            abort_tx: watch::channel(None).0,
            in_flight: AtomicU64::new(0),
            aborted: AtomicU64::new(0),
        }
    }

    /// Feed one completed request to the circuit breaker; a trip stops the run.
    fn observe(&self, rec: &RequestRecord) {
        let trip = match self.breaker.lock() {
            Ok(mut b) => {
                let trip = b.as_mut().and_then(|w| w.push(rec.error));
                if trip.is_some() {
                    *b = None;
                }
                trip
            }
            Err(_) => None,
        };
        if let Some(t) = trip {
            self.request_stop(StopCause::ErrorRate(t));
        }
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Stop scheduling; the first cause wins.
    fn request_stop(&self, cause: StopCause) {
        if let Ok(mut c) = self.cause.lock() {
            if c.is_none() {
                *c = Some(cause);
            }
        }
        self.stop.store(true, Ordering::Relaxed);
        self.stop_tx.send_replace(true);
    }

    /// Abandon requests in flight; the first cause wins.
    fn abort(&self, cause: AbortCause) {
        self.abort_tx.send_if_modified(|a| {
            if a.is_none() {
                *a = Some(cause);
                true
            } else {
                false
            }
        });
    }

    fn outcome(&self) -> Option<Stopped> {
        let cause = self.cause.lock().ok()?.clone()?;
        Some(Stopped {
            cause,
            abort: *self.abort_tx.borrow(),
            aborted_in_flight: self.aborted.load(Ordering::Relaxed),
        })
    }
}

struct Ctx {
    client: Arc<ClientConfig>,
    workload: Arc<Workload>,
    retry: RetryPolicy,
    run_start: Instant,
    tx: mpsc::UnboundedSender<RequestRecord>,
    control: Arc<Control>,
    observer: Option<Arc<dyn RunObserver>>,
}

fn us(run_start: Instant, t: Instant) -> u64 {
    t.saturating_duration_since(run_start).as_micros() as u64
}

#[allow(clippy::too_many_arguments)]
async fn one_request(
    ctx: &Ctx,
    conn: &mut Option<Conn>,
    index: u64,
    entry: Option<TraceEntry>,
    sched: Instant,
    start: Instant,
    queue: Duration,
    warmup: bool,
) {
    if ctx.control.stopping() {
        return;
    }
    let spec = ctx.workload.build(index, entry.as_ref());
    let rec = RequestRecord {
        id: index,
        warmup,
        sched_us: us(ctx.run_start, sched),
        start_us: us(ctx.run_start, start),
        queue_us: queue.as_micros() as u64,
        source_line: spec.source_line,
        ..Default::default()
    };
    send_recorded(ctx, conn, &spec, rec).await;
}

/// Send one prepared request and hand its record to the collector; returns the reply text
/// when `spec.keep_reply` and the request succeeded (`None` also when it was abandoned by an
/// abort, or not sent because the run is stopping).
async fn send_recorded(ctx: &Ctx, conn: &mut Option<Conn>, spec: &RequestSpec, rec: RequestRecord) -> Option<String> {
    let control = &ctx.control;
    if control.stopping() {
        return None;
    }
    control.in_flight.fetch_add(1, Ordering::Relaxed);
    if let Some(o) = &ctx.observer {
        o.sent();
    }
    let mut abort = control.abort_tx.subscribe();
    let done = tokio::select! {
        biased;
        r = with_retries(ctx, conn, spec, rec) => Some(r),
        _ = abort.wait_for(Option::is_some) => None,
    };
    control.in_flight.fetch_sub(1, Ordering::Relaxed);
    if let Some(o) = &ctx.observer {
        o.done(done.as_ref().map(|(rec, _)| rec));
    }
    match done {
        Some((rec, reply)) => {
            control.observe(&rec);
            let ok = rec.ok();
            let _ = ctx.tx.send(rec);
            reply.filter(|_| ok)
        }
        None => {
            // Abandoned mid-request: the connection is in an unknown state.
            *conn = None;
            control.aborted.fetch_add(1, Ordering::Relaxed);
            None
        }
    }
}

/// One request, re-sent under `--retry` after retryable failures (never once the run is
/// stopping). The returned record is the last attempt's, its times shifted so that latency
/// counts from the first attempt's send: what the user of a retrying client waits.
async fn with_retries(
    ctx: &Ctx,
    conn: &mut Option<Conn>,
    spec: &RequestSpec,
    base: RequestRecord,
) -> (RequestRecord, Option<String>) {
    let mut earlier = Vec::new();
    let mut first_send_us = 0;
    let (mut connect_us, mut stale) = (0u64, 0u32);
    let mut stop_rx = ctx.control.stop_tx.subscribe();
    loop {
        let mut rec = base.clone();
        let reply = client::execute_keeping_reply(&ctx.client, conn, ctx.run_start, spec, &mut rec).await;
        connect_us += rec.connect_us;
        stale += rec.stale_connection_retries;
        if let Some(class) = rec.error.filter(|&c| ctx.retry.should_retry(c, earlier.len() as u32)) {
            let asked = rec.retry_after_ms.map(Duration::from_millis);
            let wait = ctx.retry.delay_after(earlier.len() as u32 + 1, asked);
            // Stopping (before or during the backoff) ends the retries: this attempt is the result.
            let stopped = ctx.control.stopping()
                || tokio::select! {
                    _ = tokio::time::sleep(wait) => false,
                    _ = stop_rx.wait_for(|s| *s) => true,
                };
            if !stopped {
                if earlier.is_empty() {
                    first_send_us = rec.send_us;
                }
                earlier.push(class);
                continue;
            }
        }
        if !earlier.is_empty() {
            shift_to_first_send(&mut rec, first_send_us);
            rec.retries = earlier.len() as u32;
            rec.retry_errors = earlier;
            rec.connect_us = connect_us;
            rec.stale_connection_retries = stale;
        }
        return (rec, reply);
    }
}

/// Re-base a record's per-request times on an earlier send instant (`first_send_us`).
fn shift_to_first_send(rec: &mut RequestRecord, first_send_us: u64) {
    let wait = rec.send_us.saturating_sub(first_send_us);
    let by = wait.min(u32::MAX as u64) as u32;
    rec.send_us = first_send_us;
    rec.retry_wait_us = wait;
    rec.hdr_us = rec.hdr_us.map(|t| t.saturating_add(by));
    rec.end_us = rec.end_us.map(|t| t.saturating_add(by));
    for e in &mut rec.events {
        *e = TokenEvent::new(e.t_us().saturating_add(by), e.tokens(), e.kind());
    }
}

/// Where a closed loop takes its next request: this shard's next index, or this shard's next
/// request of a trace read as the loop goes (the trace's timing is ignored; a trace request's
/// index is its ordinal in the replayed window).
enum Feed {
    Counter {
        next: AtomicU64,
        end: u64,
        first: u64,
        part: Partition,
    },
    Trace {
        /// The replay and the ordinal of its next entry.
        replay: Mutex<Option<(Box<Replay>, u64)>>,
        first: u64,
        part: Partition,
    },
}

impl Feed {
    fn next(&self) -> Option<(u64, Option<TraceEntry>)> {
        match self {
            Feed::Counter { next, end, first, part } => {
                let n = next.fetch_add(1, Ordering::Relaxed);
                (n < *end).then(|| (first + part.nth(n), None))
            }
            Feed::Trace { replay, first, part } => {
                let mut guard = replay.lock().ok()?;
                let (r, j) = guard.as_mut()?;
                loop {
                    let (_, e) = r.next()?;
                    let mine = part.owns(*j);
                    *j += 1;
                    if mine {
                        return Some((first + *j - 1, Some(e)));
                    }
                }
            }
        }
    }
}

/// The trace replay of the workload (its window, speed and the run's limits).
fn trace_replay(w: &Workload, requests: Option<u64>, duration: Option<Duration>) -> Option<Replay> {
    let Source::Trace(t) = &w.source else { return None };
    Replay::open(&t.path, &t.opts, t.speed, requests, duration, t.scan.resume.as_ref()).ok()
}

/// Closed loop over this shard's request indices: `first + j` for the `j < count` that
/// `part` owns (count, the whole run's, may be unbounded), or over this shard's requests of a
/// trace, stopping at `deadline` when given.
async fn closed_loop(
    ctx: Arc<Ctx>,
    concurrency: usize,
    (first, part): (u64, Partition),
    count: Option<u64>,
    deadline: Option<Instant>,
    warmup: bool,
) {
    let feed = match (&ctx.workload.source, warmup) {
        // The run's whole window is read, of which this shard sends its share.
        (Source::Trace(_), false) => Feed::Trace {
            replay: Mutex::new(trace_replay(&ctx.workload, count, None).map(|r| (Box::new(r), 0))),
            first,
            part,
        },
        _ => Feed::Counter {
            next: AtomicU64::new(0),
            end: count.map_or(u64::MAX, |c| part.owned_below(c)),
            first,
            part,
        },
    };
    let feed = Arc::new(feed);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let ctx = ctx.clone();
        let feed = feed.clone();
        tasks.spawn(async move {
            let mut conn: Option<Conn> = None;
            loop {
                let now = Instant::now();
                if ctx.control.stopping() || deadline.is_some_and(|d| now >= d) {
                    break;
                }
                let Some((i, entry)) = feed.next() else { break };
                one_request(&ctx, &mut conn, i, entry, now, now, Duration::ZERO, warmup).await;
            }
        });
    }
    while tasks.join_next().await.is_some() {}
}

/// Arrivals of an open loop: send offsets (s from the phase start), with a trace's request.
type Arrivals = Box<dyn Iterator<Item = (f64, Option<TraceEntry>)> + Send>;

/// Open loop: a dedicated OS thread releases each request at its absolute arrival time
/// (offsets from `phase_start`); a shard releases the arrivals its partition owns. Arrivals
/// are pulled as the schedule goes (a trace is never held in memory), and request tasks are
/// not kept: each holds a clone of a channel sender, and the loop ends when the last one is
/// dropped.
async fn open_loop(
    ctx: Arc<Ctx>,
    arrivals: Arrivals,
    (first, part): (u64, Partition),
    phase_start: Instant,
    max_concurrency: Option<usize>,
) {
    let handle = tokio::runtime::Handle::current();
    let cap = max_concurrency.map(|c| Arc::new(Semaphore::new(c)));
    let pool: Arc<Mutex<Vec<Conn>>> = Arc::new(Mutex::new(Vec::new()));
    let thread_ctx = ctx.clone();
    let control = ctx.control.clone();
    let (alive_tx, mut alive_rx) = mpsc::channel::<()>(1);
    let dispatcher = std::thread::Builder::new()
        .name("infermeter-pacer".into())
        .spawn(move || {
            for (j, (off, entry)) in arrivals.enumerate() {
                if !part.owns(j as u64) {
                    continue;
                }
                let sched = phase_start + Duration::from_secs_f64(off);
                if !pace_unless_stopped(sched, &control.stop) {
                    break;
                }
                let ctx = thread_ctx.clone();
                let cap = cap.clone();
                let pool = pool.clone();
                let alive = alive_tx.clone();
                handle.spawn(async move {
                    let _alive = alive;
                    let start = Instant::now();
                    let _permit = match &cap {
                        Some(s) => s.clone().acquire_owned().await.ok(),
                        None => None,
                    };
                    let queue = start.elapsed();
                    // (one_request sends nothing once the run is stopping, e.g. after a wait
                    // for a slot.)
                    let mut conn = pool.lock().ok().and_then(|mut p| p.pop());
                    one_request(&ctx, &mut conn, first + j as u64, entry, sched, start, queue, false).await;
                    if let (Some(c), Ok(mut p)) = (conn, pool.lock()) {
                        p.push(c);
                    }
                });
            }
        });
    if let Ok(h) = dispatcher {
        let _ = tokio::task::spawn_blocking(move || h.join()).await;
    }
    // Every task holds a sender: `recv` returns `None` once the last one has finished.
    while alive_rx.recv().await.is_some() {}
}

/// The pacer's wait for an arrival, in slices short enough to notice a stop promptly even
/// when arrivals are seconds apart; the last stretch is `schedule::pace`'s precise wait.
/// False when the run is stopping.
fn pace_unless_stopped(deadline: Instant, stop: &AtomicBool) -> bool {
    const SLICE: Duration = Duration::from_millis(20);
    const SPIN: Duration = Duration::from_micros(200);
    loop {
        if stop.load(Ordering::Relaxed) {
            return false;
        }
        if deadline.saturating_duration_since(Instant::now()) <= SLICE * 2 {
            break;
        }
        std::thread::sleep(SLICE);
    }
    schedule::pace(deadline, SPIN);
    !stop.load(Ordering::Relaxed)
}

/// Ctrl-C as a stream (a second press must not be lost between two waits).
struct Interrupts {
    #[cfg(unix)]
    sig: Option<tokio::signal::unix::Signal>,
}

impl Interrupts {
    fn install() -> Self {
        Interrupts {
            #[cfg(unix)]
            sig: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).ok(),
        }
    }

    /// The next Ctrl-C; never returns when none can be received.
    async fn next(&mut self) {
        #[cfg(unix)]
        {
            if let Some(s) = self.sig.as_mut() {
                if s.recv().await.is_some() {
                    return;
                }
            }
        }
        #[cfg(not(unix))]
        {
            if tokio::signal::ctrl_c().await.is_ok() {
                return;
            }
        }
        std::future::pending::<()>().await
    }
}

/// Run the whole benchmark and return every record (warmup ones flagged).
pub async fn run(plan: &BenchPlan) -> anyhow::Result<RunOutcome> {
    let file = std::fs::File::create(&plan.records_path)
        .with_context(|| format!("cannot create {}", plan.records_path.display()))?;
    let (tx, rx) = mpsc::unbounded_channel::<RequestRecord>();
    let breaker = plan.max_error_rate.map(|(limit, n)| ErrorWindow::new(limit, n));
    let control = Arc::new(Control::new(breaker));
    let ctx = Arc::new(Ctx {
        client: plan.client.clone(),
        workload: plan.workload.clone(),
        retry: plan.retry,
        run_start: plan.run_start.unwrap_or_else(Instant::now),
        tx,
        control: control.clone(),
        observer: plan.observer.clone(),
    });
    if let Some(o) = &plan.observer {
        o.started(ctx.run_start).await;
    }

    let run_start_ns = crate::util::monotonic_ns(ctx.run_start);
    let total_hint = plan.requests.map(|n| n + plan.warmup);
    let bar = progress_bar(plan.progress, total_hint, plan.duration);
    let collector = tokio::spawn(collect(rx, file, bar.clone(), total_hint));

    let mut interrupts = Interrupts::install();
    let sigint_control = control.clone();
    let (announce, sigint_bar, drain_timeout) = (plan.announce, bar.clone(), plan.drain_timeout);
    let sigint = tokio::spawn(async move {
        interrupts.next().await;
        sigint_control.request_stop(StopCause::Interrupted);
        if announce {
            let msg = format!(
                "interrupted: draining {} request(s) in flight (at most {}s); Ctrl-C again to abort",
                sigint_control.in_flight.load(Ordering::Relaxed),
                drain_timeout.as_secs_f64()
            );
            match &sigint_bar {
                Some(b) => b.println(msg),
                None => eprintln!("{msg}"),
            }
        }
        interrupts.next().await;
        sigint_control.abort(AbortCause::SecondInterrupt);
    });
    // Once stopped, requests in flight get `drain_timeout` to finish.
    let drain_control = control.clone();
    let drain = tokio::spawn(async move {
        let mut stop_rx = drain_control.stop_tx.subscribe();
        if stop_rx.wait_for(|s| *s).await.is_ok() {
            tokio::time::sleep(drain_timeout).await;
            drain_control.abort(AbortCause::DrainTimeout(drain_timeout));
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

    let shard = plan.shard.unwrap_or(Shard::WHOLE);
    warm_up(plan, &ctx, shard).await;
    // A synchronized start waits for the agreed instant; a shard that got here after it
    // starts at once (its lateness is in the shard's record).
    let on_time = plan.measure_from.filter(|t| *t > Instant::now());
    if let Some(t) = on_time {
        let c = control.clone();
        let _ = tokio::task::spawn_blocking(move || pace_unless_stopped(t, &c.stop)).await;
    }

    if let Some(o) = &plan.observer {
        o.measuring().await;
    }
    let phase_start = on_time.unwrap_or_else(Instant::now);
    let phase_start_us = us(ctx.run_start, phase_start);
    let cpu_start = probe::process_cpu_s();
    // Read lag of the measured phase only (warm-up connections were dropped and counted).
    plan.client.read_lag.reset();
    let probe_stop = Arc::new(AtomicBool::new(false));
    let probe = probe::spawn_lateness_probe(probe_stop.clone());
    let deadline = plan.duration.map(|d| phase_start + d);
    measured_phase(plan, &ctx, shard, phase_start, deadline).await;
    let wall_s = phase_start.elapsed().as_secs_f64();
    let cpu_s = match (cpu_start, probe::process_cpu_s()) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    probe_stop.store(true, Ordering::Relaxed);
    let probe_lateness_ms = probe.await.unwrap_or_default();
    let stopped = control.outcome();
    sigint.abort();
    drain.abort();
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
        peak_rss_bytes: probe::peak_rss_bytes(),
        run_start_monotonic_ns: Some(run_start_ns),
        rx_timestamp: Some(plan.client.rx_timestamp),
        read_lag_ms: Some(plan.client.read_lag.summary()),
    };
    Ok(RunOutcome {
        records,
        wall_s,
        stopped,
        runtime,
        phase_start_us,
    })
}

/// The record collector: appends each record to `records.jsonl` as it arrives (drained and
/// flushed together), keeps them for the metrics, and moves the progress bar.
async fn collect(
    mut rx: mpsc::UnboundedReceiver<RequestRecord>,
    file: std::fs::File,
    bar: Option<indicatif::ProgressBar>,
    total_hint: Option<u64>,
) -> (Vec<RequestRecord>, Option<std::io::Error>) {
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
        if let Some(b) = &bar {
            if total_hint.is_some() {
                b.set_position(ok + failed);
            }
            b.set_message(format!("ok {ok}  failed {failed}"));
        }
    }
    (records, io_error)
}

/// Warm-up: a closed loop at the run's concurrency (or the open loop's cap), excluded from
/// metrics; a shard sends every N-th warm-up request with its share of the workers.
async fn warm_up(plan: &BenchPlan, ctx: &Arc<Ctx>, shard: Shard) {
    let warm = Partition::stride(shard);
    let warmup = warm.owned_below(plan.warmup);
    if warmup > 0 {
        let c = match plan.load {
            Load::Closed { concurrency } => concurrency,
            Load::Open { max_concurrency, .. } | Load::Trace { max_concurrency } => max_concurrency.unwrap_or(8),
        }
        .clamp(1, plan.warmup as usize);
        let c = (shard.share(c as u64) as usize).clamp(1, warmup as usize);
        closed_loop(ctx.clone(), c, (0, warm), Some(plan.warmup), None, true).await;
    }
}

/// The measured phase under the run's load, this shard's part of it.
async fn measured_phase(
    plan: &BenchPlan,
    ctx: &Arc<Ctx>,
    shard: Shard,
    phase_start: Instant,
    deadline: Option<Instant>,
) {
    match plan.load {
        _ if ctx.workload.sessions.is_some() => {
            sessions::run(ctx.clone(), plan.requests, deadline, shard).await;
        }
        Load::Closed { concurrency } => {
            let part = Partition::slots(shard, concurrency as u64);
            let workers = shard.share(concurrency as u64) as usize;
            closed_loop(
                ctx.clone(),
                workers,
                (plan.warmup, part),
                plan.requests,
                deadline,
                false,
            )
            .await;
        }
        Load::Open {
            rate,
            arrival,
            max_concurrency,
        } => {
            // The whole run's schedule, of which this shard sends its arrivals.
            let offsets = schedule::arrivals(rate, arrival, plan.seed, plan.requests, plan.duration);
            let arrivals: Arrivals = Box::new(offsets.into_iter().map(|t| (t, None)));
            let part = (plan.warmup, Partition::stride(shard));
            let cap = max_concurrency.map(|c| shard.share(c as u64) as usize);
            open_loop(ctx.clone(), arrivals, part, phase_start, cap).await;
        }
        Load::Trace { max_concurrency } => {
            // The whole trace window, of which this shard sends its requests.
            let replay = trace_replay(&ctx.workload, plan.requests, plan.duration);
            let arrivals: Arrivals = Box::new(replay.into_iter().flatten().map(|(t, e)| (t, Some(e))));
            let part = (plan.warmup, Partition::stride(shard));
            let cap = max_concurrency.map(|c| shard.share(c as u64) as usize);
            open_loop(ctx.clone(), arrivals, part, phase_start, cap).await;
        }
    }
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
