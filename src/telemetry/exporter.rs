//! The live exporter (`--prometheus-listen ADDR`): the run's own metrics in the Prometheus
//! text format while it runs, so a Prometheus server and the shipped Grafana dashboard can
//! watch a benchmark next to the engine it loads.
//!
//! Names: seed 004's three exactly — `llm_ttft_seconds` (histogram), `llm_tokens_total`
//! (counter of generated tokens), `llm_gpu_memory_gb` (gauge, 10⁹ bytes, per GPU) — and the
//! conventional ones (base units, `_total` counters, `infermeter_` prefix):
//! `infermeter_time_to_first_token_seconds`, `infermeter_inter_token_latency_seconds`
//! (per token, chunk-aware: the summary's definition), `infermeter_e2e_request_latency_seconds`
//! (histograms); `infermeter_requests_total{outcome}` (`ok` or the error class),
//! `infermeter_prompt_tokens_total`, `infermeter_generation_tokens_total`,
//! `infermeter_server_preemptions_total` (counters); `infermeter_requests_in_flight`,
//! `infermeter_gpu_memory_used_bytes{gpu}`, `infermeter_gpu_memory_total_bytes{gpu}`,
//! `infermeter_gpu_utilization_ratio{gpu}`, `infermeter_gpu_power_watts{gpu}`,
//! `infermeter_server_requests_running`, `infermeter_server_requests_waiting`,
//! `infermeter_server_kv_cache_usage_ratio` (gauges); the SLA targets
//! `infermeter_sla_ttft_seconds`, `infermeter_sla_min_output_tokens_per_second`,
//! `infermeter_sla_min_memory_utilization_ratio` (gauges the alert rules compare against);
//! `infermeter_run_info{...}` = 1.
//!
//! Counting follows the summary exactly: warm-up requests are left out, tokens are those of
//! successful requests (server `usage` when reported), so at the end of a run the counters
//! equal `summary.json`'s totals. A value never measured is absent, never 0.
//!
//! The exporter runs on its own thread and runtime (off the hot path); it is fed typed
//! [`LiveEvent`]s through a channel and serves what it has when scraped. [`router`] is the
//! axum app, usable on its own (tests drive it without a socket).

use super::concepts::{Concept, GpuReading};
use super::scraper::Round;
use super::sla::SlaProfile;
use crate::record::RequestRecord;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// TTFT buckets: vLLM's, so server and client histograms line up in one query.
pub const TTFT_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0,
    160.0, 640.0, 2560.0,
];
/// Per-token ITL buckets: vLLM's, with finer ones below 10 ms (fast decoders).
pub const ITL_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75,
    1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0,
];
/// End-to-end latency buckets.
pub const E2E_BUCKETS: &[f64] = &[
    0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0,
    960.0, 1920.0, 7680.0,
];

/// What a finished request contributes, derived from its record with the summary's own
/// definitions (so the live counters and the summary agree).
#[derive(Debug, Clone, PartialEq)]
pub struct Finished {
    pub warmup: bool,
    /// `ok` or the error class.
    pub outcome: String,
    pub ttft_s: Option<f64>,
    pub e2e_s: Option<f64>,
    /// Per-token ITL samples, seconds.
    pub itl_s: Vec<f32>,
    pub input_tokens: u64,
    pub output_tokens: u64,
}

impl Finished {
    pub fn from_record(r: &RequestRecord) -> Finished {
        let m = crate::metrics::request_metrics(r);
        let ok = r.ok();
        Finished {
            warmup: r.warmup,
            outcome: match r.error {
                None if ok => "ok".into(),
                Some(e) => e.as_str().into(),
                None => "error".into(),
            },
            ttft_s: m.ttft_ms.map(|v| v / 1000.0),
            e2e_s: m.e2e_ms.map(|v| v / 1000.0),
            itl_s: if ok {
                crate::metrics::itl_samples(r).map(|v| v / 1000.0).collect()
            } else {
                Vec::new()
            },
            input_tokens: if ok {
                u64::from(r.input_tokens.primary().unwrap_or(0))
            } else {
                0
            },
            output_tokens: if ok {
                u64::from(r.output_tokens.primary().unwrap_or(0))
            } else {
                0
            },
        }
    }
}

/// A message to the exporter.
#[derive(Debug)]
pub enum LiveEvent {
    /// A request was sent (in flight until its `Finished`).
    Started,
    Finished(Box<Finished>),
    /// A request was abandoned in flight (no record).
    Abandoned,
    /// A scrape round (server concepts, GPU readings).
    Round(Box<Round>),
    /// The SLA profile the alert rules compare against.
    Sla(SlaProfile),
    /// Labels of `infermeter_run_info`.
    RunInfo(Vec<(String, String)>),
    /// Acknowledged once every earlier event is applied.
    Flush(oneshot::Sender<()>),
}

/// A cloneable handle to send events (never blocks; events after the exporter stopped are
/// dropped).
#[derive(Debug, Clone)]
pub struct LiveSender(mpsc::UnboundedSender<LiveEvent>);

impl LiveSender {
    pub fn send(&self, e: LiveEvent) {
        let _ = self.0.send(e);
    }
    pub fn started(&self) {
        self.send(LiveEvent::Started);
    }
    pub fn finished(&self, r: &RequestRecord) {
        self.send(LiveEvent::Finished(Box::new(Finished::from_record(r))));
    }
    pub fn round(&self, r: Round) {
        self.send(LiveEvent::Round(Box::new(r)));
    }
}

#[derive(Debug, Clone)]
struct Hist {
    bounds: &'static [f64],
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Hist {
    fn new(bounds: &'static [f64]) -> Hist {
        Hist {
            bounds,
            counts: vec![0; bounds.len()],
            sum: 0.0,
            count: 0,
        }
    }
    fn observe(&mut self, v: f64) {
        if !v.is_finite() {
            return;
        }
        let v = v.max(0.0);
        if let Some(i) = self.bounds.iter().position(|&b| v <= b) {
            self.counts[i] += 1;
        }
        self.sum += v;
        self.count += 1;
    }
}

/// Everything the exporter serves.
#[derive(Debug)]
pub struct LiveState {
    ttft: Hist,
    itl: Hist,
    e2e: Hist,
    requests: BTreeMap<String, u64>,
    in_flight: i64,
    prompt_tokens: u64,
    generation_tokens: u64,
    running: Option<f64>,
    waiting: Option<f64>,
    kv_usage: Option<f64>,
    /// Σ of positive steps of each source's preemption counter.
    preemptions: Option<f64>,
    last_preemptions: BTreeMap<usize, f64>,
    gpus: BTreeMap<String, GpuReading>,
    /// Whether GPU readings come from NVML (then scraped GPU metrics are ignored).
    nvml: bool,
    sla: Option<SlaProfile>,
    run_info: Vec<(String, String)>,
    /// Events applied so far, and the count the latest scrape saw.
    applied: u64,
    scraped: u64,
}

impl Default for LiveState {
    fn default() -> Self {
        LiveState {
            ttft: Hist::new(TTFT_BUCKETS),
            itl: Hist::new(ITL_BUCKETS),
            e2e: Hist::new(E2E_BUCKETS),
            requests: BTreeMap::new(),
            in_flight: 0,
            prompt_tokens: 0,
            generation_tokens: 0,
            running: None,
            waiting: None,
            kv_usage: None,
            preemptions: None,
            last_preemptions: BTreeMap::new(),
            gpus: BTreeMap::new(),
            nvml: false,
            sla: None,
            run_info: Vec::new(),
            applied: 0,
            scraped: 0,
        }
    }
}

impl LiveState {
    /// Apply one event.
    pub fn apply(&mut self, e: LiveEvent) {
        match e {
            LiveEvent::Started => self.in_flight += 1,
            LiveEvent::Abandoned => self.in_flight = (self.in_flight - 1).max(0),
            LiveEvent::Finished(f) => {
                self.in_flight = (self.in_flight - 1).max(0);
                if !f.warmup {
                    *self.requests.entry(f.outcome.clone()).or_default() += 1;
                    if let Some(t) = f.ttft_s {
                        self.ttft.observe(t);
                    }
                    if let Some(t) = f.e2e_s {
                        self.e2e.observe(t);
                    }
                    for v in &f.itl_s {
                        self.itl.observe(f64::from(*v));
                    }
                    self.prompt_tokens += f.input_tokens;
                    self.generation_tokens += f.output_tokens;
                }
            }
            LiveEvent::Round(r) => self.round(&r),
            LiveEvent::Sla(p) => self.sla = Some(p),
            LiveEvent::RunInfo(l) => self.run_info = l,
            LiveEvent::Flush(ack) => {
                let _ = ack.send(());
            }
        }
        self.applied += 1;
    }

    fn round(&mut self, r: &Round) {
        let combine = |c: Concept, mean: bool| -> Option<f64> {
            let v: Vec<f64> = r.frames.iter().filter_map(|(_, f)| f.value(c)).collect();
            (!v.is_empty()).then(|| {
                let s: f64 = v.iter().sum();
                if mean {
                    s / v.len() as f64
                } else {
                    s
                }
            })
        };
        if let Some(v) = combine(Concept::Running, false) {
            self.running = Some(v);
        }
        if let Some(v) = combine(Concept::Waiting, false) {
            self.waiting = Some(v);
        }
        if let Some(v) = combine(Concept::KvCacheUsage, true) {
            self.kv_usage = Some(v);
        }
        for (src, f) in &r.frames {
            if let Some(v) = f.value(Concept::Preemptions) {
                let step = match self.last_preemptions.get(src) {
                    Some(&prev) if v >= prev => v - prev,
                    Some(_) => v, // reset
                    None => 0.0,  // the first reading is the baseline
                };
                self.last_preemptions.insert(*src, v);
                *self.preemptions.get_or_insert(0.0) += step;
            }
        }
        if !r.nvml.is_empty() {
            self.nvml = true;
            for g in &r.nvml {
                self.gpus.insert(g.id.clone(), g.clone());
            }
        } else if !self.nvml {
            for (_, f) in &r.frames {
                for g in &f.gpus {
                    self.gpus.insert(g.id.clone(), g.clone());
                }
            }
        }
    }

    /// The text exposition (format 0.0.4).
    pub fn render(&self) -> String {
        let mut s = String::with_capacity(8 * 1024);
        let head = |s: &mut String, name: &str, ty: &str, help: &str| {
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} {ty}");
        };
        let hist = |s: &mut String, name: &str, help: &str, h: &Hist| {
            head(s, name, "histogram", help);
            let mut cum = 0;
            for (b, c) in h.bounds.iter().zip(&h.counts) {
                cum += c;
                let _ = writeln!(s, "{name}_bucket{{le=\"{}\"}} {cum}", fmt_f(*b));
            }
            let _ = writeln!(s, "{name}_bucket{{le=\"+Inf\"}} {}", h.count);
            let _ = writeln!(s, "{name}_sum {}", fmt_f(h.sum));
            let _ = writeln!(s, "{name}_count {}", h.count);
        };
        let value = |s: &mut String, name: &str, ty: &str, help: &str, v: Option<f64>| {
            head(s, name, ty, help);
            if let Some(v) = v {
                let _ = writeln!(s, "{name} {}", fmt_f(v));
            }
        };
        hist(
            &mut s,
            "llm_ttft_seconds",
            "Time to first token, seconds (seed 004's name; the same data as infermeter_time_to_first_token_seconds).",
            &self.ttft,
        );
        value(
            &mut s,
            "llm_tokens_total",
            "counter",
            "Total generated tokens (seed 004's name; the same as infermeter_generation_tokens_total).",
            Some(self.generation_tokens as f64),
        );
        head(
            &mut s,
            "llm_gpu_memory_gb",
            "gauge",
            "GPU memory used, GB of 10^9 bytes (seed 004's name), per GPU.",
        );
        for (id, g) in &self.gpus {
            if let Some(u) = g.memory_used_bytes {
                let _ = writeln!(s, "llm_gpu_memory_gb{{gpu=\"{}\"}} {}", esc(id), fmt_f(u / 1e9));
            }
        }
        hist(
            &mut s,
            "infermeter_time_to_first_token_seconds",
            "Time to first token-bearing event since send, seconds (client side).",
            &self.ttft,
        );
        hist(
            &mut s,
            "infermeter_inter_token_latency_seconds",
            "Inter-token latency per token, chunk-aware (an event of k tokens after a gap g adds k samples of g/k), seconds.",
            &self.itl,
        );
        hist(
            &mut s,
            "infermeter_e2e_request_latency_seconds",
            "Send to last token-bearing event, seconds.",
            &self.e2e,
        );
        head(
            &mut s,
            "infermeter_requests_total",
            "counter",
            "Measured requests finished, by outcome (ok or the error class).",
        );
        for (k, v) in &self.requests {
            let _ = writeln!(s, "infermeter_requests_total{{outcome=\"{}\"}} {v}", esc(k));
        }
        value(
            &mut s,
            "infermeter_requests_in_flight",
            "gauge",
            "Requests sent and not finished.",
            Some(self.in_flight as f64),
        );
        value(
            &mut s,
            "infermeter_prompt_tokens_total",
            "counter",
            "Input tokens of successful measured requests.",
            Some(self.prompt_tokens as f64),
        );
        value(
            &mut s,
            "infermeter_generation_tokens_total",
            "counter",
            "Output tokens of successful measured requests.",
            Some(self.generation_tokens as f64),
        );
        type Field = fn(&GpuReading) -> Option<f64>;
        let per_gpu: [(&str, &str, Field); 4] = [
            ("infermeter_gpu_memory_used_bytes", "GPU memory used, bytes.", |g| {
                g.memory_used_bytes
            }),
            ("infermeter_gpu_memory_total_bytes", "GPU memory total, bytes.", |g| {
                g.memory_total_bytes
            }),
            (
                "infermeter_gpu_utilization_ratio",
                "Fraction of time a kernel ran on the GPU (NVML/DCGM GPU utilization), 0-1.",
                |g| g.utilization,
            ),
            ("infermeter_gpu_power_watts", "GPU power draw, watts.", |g| g.power_w),
        ];
        for (name, help, f) in per_gpu {
            head(&mut s, name, "gauge", help);
            for (id, g) in &self.gpus {
                if let Some(v) = f(g) {
                    let _ = writeln!(s, "{name}{{gpu=\"{}\"}} {}", esc(id), fmt_f(v));
                }
            }
        }
        value(
            &mut s,
            "infermeter_server_requests_running",
            "gauge",
            "Requests running in the server (scraped from its /metrics).",
            self.running,
        );
        value(
            &mut s,
            "infermeter_server_requests_waiting",
            "gauge",
            "Requests waiting in the server's queue (scraped).",
            self.waiting,
        );
        value(
            &mut s,
            "infermeter_server_kv_cache_usage_ratio",
            "gauge",
            "Fraction of the server's KV cache in use (scraped), 0-1. Not GPU memory.",
            self.kv_usage,
        );
        value(
            &mut s,
            "infermeter_server_preemptions_total",
            "counter",
            "Preemptions the server reported during the run (scraped).",
            self.preemptions,
        );
        let (sla_ttft, sla_tps, sla_mem) = match &self.sla {
            Some(p) => (
                p.ttft_ms.map(|v| v / 1000.0),
                p.min_output_tokens_per_s,
                p.min_memory_utilization,
            ),
            None => (None, None, None),
        };
        let prof = self.sla.as_ref().map(|p| esc(&p.name)).unwrap_or_default();
        for (name, help, v) in [
            (
                "infermeter_sla_ttft_seconds",
                "SLA profile: TTFT (at its percentile) must stay below this, seconds.",
                sla_ttft,
            ),
            (
                "infermeter_sla_min_output_tokens_per_second",
                "SLA profile: output tokens/s must stay above this.",
                sla_tps,
            ),
            (
                "infermeter_sla_min_memory_utilization_ratio",
                "SLA profile: GPU memory utilization must stay above this, 0-1.",
                sla_mem,
            ),
        ] {
            head(&mut s, name, "gauge", help);
            if let Some(v) = v {
                let _ = writeln!(s, "{name}{{profile=\"{prof}\"}} {}", fmt_f(v));
            }
        }
        head(
            &mut s,
            "infermeter_run_info",
            "gauge",
            "The run being measured (labels), value 1.",
        );
        let mut labels: Vec<String> = vec![format!("version=\"{}\"", env!("CARGO_PKG_VERSION"))];
        for (k, v) in &self.run_info {
            labels.push(format!("{k}=\"{}\"", esc(v)));
        }
        let _ = writeln!(s, "infermeter_run_info{{{}}} 1", labels.join(","));
        s
    }
}

fn esc(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn fmt_f(v: f64) -> String {
    super::expo::fmt_value(v)
}

/// The exporter's HTTP app: `GET /metrics` (and `/` for humans).
pub fn router(state: Arc<Mutex<LiveState>>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route(
            "/",
            get(|| async { "infermeter live metrics: GET /metrics (Prometheus text format)\n" }),
        )
        .with_state(state)
}

async fn metrics(State(st): State<Arc<Mutex<LiveState>>>) -> axum::response::Response {
    let body = match st.lock() {
        Ok(mut s) => {
            s.scraped = s.applied;
            s.render()
        }
        Err(_) => String::new(),
    };
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        body,
    )
        .into_response()
}

/// A running exporter.
pub struct Exporter {
    tx: mpsc::UnboundedSender<LiveEvent>,
    addr: SocketAddr,
    state: Arc<Mutex<LiveState>>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Exporter {
    /// Bind `addr` (port 0 = any free port) and serve on a thread of its own.
    pub fn start(addr: SocketAddr) -> std::io::Result<Exporter> {
        let std_listener = std::net::TcpListener::bind(addr)?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let state = Arc::new(Mutex::new(LiveState::default()));
        let (tx, mut rx) = mpsc::unbounded_channel::<LiveEvent>();
        let (shutdown, stop) = oneshot::channel::<()>();
        let st = state.clone();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let thread = std::thread::Builder::new()
            .name("infermeter-exporter".into())
            .spawn(move || {
                rt.block_on(async move {
                    let Ok(listener) = tokio::net::TcpListener::from_std(std_listener) else {
                        return;
                    };
                    let apply_state = st.clone();
                    let consumer = tokio::spawn(async move {
                        while let Some(e) = rx.recv().await {
                            if let Ok(mut s) = apply_state.lock() {
                                s.apply(e);
                            }
                        }
                    });
                    let _ = axum::serve(listener, router(st))
                        .with_graceful_shutdown(async {
                            let _ = stop.await;
                        })
                        .await;
                    consumer.abort();
                });
            })?;
        Ok(Exporter {
            tx,
            addr,
            state,
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn sender(&self) -> LiveSender {
        LiveSender(self.tx.clone())
    }

    /// Keep serving until a scrape has seen every event sent so far (so Prometheus gets the
    /// run's final values) or `linger` has passed, then stop. Returns whether the final state
    /// was scraped.
    pub async fn finish(mut self, linger: Duration) -> bool {
        let (ack, wait) = oneshot::channel();
        let _ = self.tx.send(LiveEvent::Flush(ack));
        let _ = tokio::time::timeout(linger, wait).await;
        let target = self.state.lock().map(|s| s.applied).unwrap_or(0);
        let deadline = tokio::time::Instant::now() + linger;
        let mut seen = false;
        while tokio::time::Instant::now() < deadline {
            if self.state.lock().map(|s| s.scraped >= target).unwrap_or(true) {
                seen = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        self.stop();
        seen
    }

    fn stop(&mut self) {
        if let Some(s) = self.shutdown.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        if let Some(s) = self.shutdown.take() {
            let _ = s.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{ErrorClass, TokenCount, TokenEvent};
    use crate::telemetry::expo::parse;
    use crate::telemetry::scraper::frame_of;

    fn rec(id: u64, ttft_us: u32, ok: bool, warmup: bool) -> RequestRecord {
        RequestRecord {
            id,
            hdr_us: Some(1000),
            end_us: Some(ttft_us + 30_000),
            events: if ok {
                vec![
                    TokenEvent::new(ttft_us, 1, 1),
                    TokenEvent::new(ttft_us + 10_000, 1, 1),
                    TokenEvent::new(ttft_us + 30_000, 2, 1),
                ]
            } else {
                vec![]
            },
            input_tokens: TokenCount {
                server: Some(12),
                client: Some(12),
            },
            output_tokens: TokenCount {
                server: Some(4),
                client: Some(4),
            },
            error: (!ok).then_some(ErrorClass::Http5xx),
            status: if ok { 200 } else { 503 },
            warmup,
            max_tokens: 4,
            ..Default::default()
        }
    }

    fn value(text: &str, name: &str) -> Option<f64> {
        parse(text)
            .unwrap()
            .samples
            .into_iter()
            .find(|s| {
                let series = if s.labels.is_empty() {
                    s.name.clone()
                } else {
                    format!(
                        "{}{{{}}}",
                        s.name,
                        s.labels
                            .iter()
                            .map(|(k, v)| format!("{k}=\"{v}\""))
                            .collect::<Vec<_>>()
                            .join(",")
                    )
                };
                series == name
            })
            .map(|s| s.value)
    }

    #[test]
    fn counts_follow_the_summary_rules() {
        let mut st = LiveState::default();
        for r in [
            rec(0, 20_000, true, true),
            rec(1, 50_000, true, false),
            rec(2, 0, false, false),
        ] {
            st.apply(LiveEvent::Started);
            st.apply(LiveEvent::Finished(Box::new(Finished::from_record(&r))));
        }
        st.apply(LiveEvent::Started);
        let text = st.render();
        // Warm-up excluded; tokens only from the successful request.
        assert_eq!(value(&text, "llm_tokens_total"), Some(4.0));
        assert_eq!(value(&text, "infermeter_generation_tokens_total"), Some(4.0));
        assert_eq!(value(&text, "infermeter_prompt_tokens_total"), Some(12.0));
        assert_eq!(value(&text, "infermeter_requests_total{outcome=\"ok\"}"), Some(1.0));
        assert_eq!(
            value(&text, "infermeter_requests_total{outcome=\"http_5xx\"}"),
            Some(1.0)
        );
        assert_eq!(value(&text, "infermeter_requests_in_flight"), Some(1.0));
        assert_eq!(value(&text, "llm_ttft_seconds_count"), Some(1.0));
        assert_eq!(value(&text, "llm_ttft_seconds_bucket{le=\"0.06\"}"), Some(1.0));
        assert_eq!(value(&text, "llm_ttft_seconds_bucket{le=\"0.04\"}"), Some(0.0));
        assert_eq!(value(&text, "infermeter_time_to_first_token_seconds_sum"), Some(0.05));
        // ITL: 10 ms, then 2 tokens after 20 ms → 10, 10, 10 ms per token.
        assert_eq!(value(&text, "infermeter_inter_token_latency_seconds_count"), Some(3.0));
        assert_eq!(
            value(&text, "infermeter_inter_token_latency_seconds_bucket{le=\"0.01\"}"),
            Some(3.0)
        );
        // No GPU, no server readings, no SLA: declared, absent (never 0).
        assert!(text.contains("# TYPE llm_gpu_memory_gb gauge\n"));
        assert!(!text.contains("llm_gpu_memory_gb{"));
        assert_eq!(value(&text, "infermeter_server_kv_cache_usage_ratio"), None);
        assert_eq!(value(&text, "infermeter_sla_ttft_seconds{profile=\"\"}"), None);
        // The whole exposition parses, and every family is typed.
        let e = parse(&text).unwrap();
        assert_eq!(e.skipped_lines, 0);
        for s in &e.samples {
            assert_ne!(
                e.type_of(&s.name),
                crate::telemetry::expo::MetricType::Unknown,
                "{}",
                s.name
            );
        }
    }

    #[test]
    fn rounds_feed_server_gauges_preemption_steps_and_gpu_memory() {
        let mut st = LiveState::default();
        let f = |pre: f64| {
            frame_of(&format!(
                "vllm:num_requests_running 3\nvllm:num_requests_waiting 2\nvllm:kv_cache_usage_perc 0.5\n\
vllm:num_preemptions_total {pre}\nDCGM_FI_DEV_FB_USED{{gpu=\"0\",UUID=\"GPU-x\"}} 1000\n\
DCGM_FI_DEV_FB_FREE{{gpu=\"0\",UUID=\"GPU-x\"}} 3000\n"
            ))
            .unwrap()
        };
        for (tick, pre) in [(0, 5.0), (1, 7.0), (2, 1.0)] {
            st.apply(LiveEvent::Round(Box::new(Round {
                tick,
                frames: vec![(0, f(pre))],
                nvml: vec![],
            })));
        }
        st.apply(LiveEvent::Sla(SlaProfile::preset("chat").unwrap()));
        let text = st.render();
        assert_eq!(value(&text, "infermeter_server_requests_running"), Some(3.0));
        assert_eq!(value(&text, "infermeter_server_kv_cache_usage_ratio"), Some(0.5));
        // baseline 5, +2, then a reset to 1 counts 1
        assert_eq!(value(&text, "infermeter_server_preemptions_total"), Some(3.0));
        let mib = 1024.0 * 1024.0;
        assert_eq!(
            value(&text, "infermeter_gpu_memory_used_bytes{gpu=\"GPU-x\"}"),
            Some(1000.0 * mib)
        );
        assert_eq!(
            value(&text, "llm_gpu_memory_gb{gpu=\"GPU-x\"}"),
            Some(1000.0 * mib / 1e9)
        );
        assert_eq!(value(&text, "infermeter_sla_ttft_seconds{profile=\"chat\"}"), Some(0.2));
        assert_eq!(
            value(&text, "infermeter_sla_min_memory_utilization_ratio{profile=\"chat\"}"),
            Some(0.7)
        );
    }

    #[tokio::test]
    async fn serves_over_loopback_and_lingers_until_scraped() {
        let ex = Exporter::start("127.0.0.1:0".parse().unwrap()).unwrap();
        let tx = ex.sender();
        tx.started();
        tx.finished(&rec(1, 50_000, true, false));
        let addr = ex.addr();
        let scrape = tokio::spawn(async move {
            // Scrape after a pause, as Prometheus would at its next interval.
            tokio::time::sleep(Duration::from_millis(200)).await;
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .await
                .unwrap();
            let mut body = String::new();
            s.read_to_string(&mut body).await.unwrap();
            body
        });
        let seen = ex.finish(Duration::from_secs(10)).await;
        let body = scrape.await.unwrap();
        assert!(seen, "the final state was not scraped");
        assert!(
            body.contains("\r\n\r\n") && body.contains("llm_tokens_total 4\n"),
            "{body}"
        );
    }
}
