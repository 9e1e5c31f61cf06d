//! The scraper: reads every `/metrics` endpoint (and NVML) once per interval during a run, on
//! its own OS thread with its own single-threaded runtime, so that scraping, parsing and writing
//! never compete with the request tasks (the hot path) for the benchmark's runtime.
//!
//! Each round reads all sources concurrently over kept-alive HTTP/1.1 connections (infermeter's
//! own client, [`crate::client::h1`]), stamps each scrape with the midpoint of its exchange on
//! the run's clock, appends the raw samples to `server_metrics.jsonl` ([`ScrapeLine`]),
//! normalizes them into the in-memory [`ScrapeLog`], and hands the round to the live exporter.
//! The first round runs at once (the baseline); [`Scraper::scrape_now`] adds one at a phase
//! boundary; [`Scraper::finish`] runs a last one and returns the log.
//!
//! Bad endpoints never stop a run: a failure is recorded and warned about once per endpoint.
//! An endpoint answering 404/501 (metrics not enabled) or with something that is not
//! Prometheus text is no longer scraped; TensorRT-LLM's JSON `/metrics` is retried once at
//! `/prometheus/metrics`, where `trtllm-serve` serves its Prometheus text. An unreachable one
//! is retried every round for three rounds, then every tenth.

use super::concepts::{extract, Frame, GpuReading};
use super::expo;
use super::log::{ScrapeLine, ScrapeLog, NVML_SOURCE};
use super::nvml::Nvml;
use crate::client::h1::{self, Conn};
use crate::client::{rx, tls, Stream};
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// Largest `/metrics` body read (a vLLM body is ~50 KiB; a DCGM exporter on 8 GPUs ~200 KiB).
pub const MAX_BODY: usize = 32 << 20;

/// A `/metrics` URL, split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsUrl {
    pub https: bool,
    pub host: String,
    pub port: u16,
    /// Path and query, e.g. `/metrics`.
    pub path: String,
}

impl MetricsUrl {
    /// `http[s]://host[:port][/path]`, or a bare `host:port` (meaning `http://host:port/metrics`).
    /// An empty path means `/metrics`.
    pub fn parse(s: &str) -> Result<MetricsUrl, String> {
        let s = s.trim();
        let (https, rest) = if let Some(r) = s.strip_prefix("http://") {
            (false, r)
        } else if let Some(r) = s.strip_prefix("https://") {
            (true, r)
        } else if s.contains("://") {
            return Err(format!("metrics URL '{s}': only http:// and https:// are supported"));
        } else {
            (false, s)
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let end = v6.find(']').ok_or_else(|| format!("metrics URL '{s}': unclosed '['"))?;
            let port = &v6[end + 1..];
            (v6[..end].to_string(), port.strip_prefix(':').unwrap_or(""))
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), p),
                None => (authority.to_string(), ""),
            }
        };
        if host.is_empty() {
            return Err(format!("metrics URL '{s}' has no host"));
        }
        let port = if port.is_empty() {
            if https {
                443
            } else {
                80
            }
        } else {
            port.parse::<u16>()
                .map_err(|_| format!("metrics URL '{s}': bad port '{port}'"))?
        };
        let path = if path.is_empty() || path == "/" {
            "/metrics".to_string()
        } else {
            path.to_string()
        };
        Ok(MetricsUrl {
            https,
            host,
            port,
            path,
        })
    }

    pub fn authority(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let default = if self.https { 443 } else { 80 };
        if self.port == default {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

impl std::fmt::Display for MetricsUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.https { "https" } else { "http" };
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        write!(f, "{scheme}://{host}:{}{}", self.port, self.path)
    }
}

/// What the scraper hands the live exporter after each round.
#[derive(Debug, Clone, Default)]
pub struct Round {
    pub tick: u64,
    /// `(source index, frame)` of each successful endpoint scrape.
    pub frames: Vec<(usize, Frame)>,
    /// NVML readings of this round.
    pub nvml: Vec<GpuReading>,
}

/// How to scrape.
pub struct ScraperConfig {
    pub urls: Vec<MetricsUrl>,
    pub interval: Duration,
    /// The run's time origin (`t_us` = 0).
    pub run_start: Instant,
    /// Poll local GPUs too.
    pub nvml: Option<Arc<Nvml>>,
    /// Why NVML is not polled (recorded in the log).
    pub nvml_unavailable: Option<String>,
    /// TLS settings for `https://` endpoints (the target's `--ca-cert`/`--insecure`).
    pub tls: tls::TlsOptions,
    /// Endpoints whose failures are not warned about (the target's own `/metrics` in `auto`
    /// mode: a server without metrics is normal); they are still recorded.
    pub quiet: Vec<MetricsUrl>,
    /// Each round, for the live exporter.
    pub on_round: Option<Box<dyn Fn(Round) + Send>>,
    /// One-line warnings (printed to stderr by the CLI).
    pub warn: Box<dyn Fn(String) + Send>,
}

impl ScraperConfig {
    /// Scrape `urls` every `interval`; warnings go to stderr.
    pub fn new(urls: Vec<MetricsUrl>, interval: Duration, run_start: Instant) -> ScraperConfig {
        ScraperConfig {
            urls,
            interval,
            run_start,
            nvml: None,
            nvml_unavailable: None,
            tls: tls::TlsOptions::default(),
            quiet: Vec::new(),
            on_round: None,
            warn: Box::new(|w| eprintln!("{w}")),
        }
    }
}

enum Cmd {
    Now(oneshot::Sender<()>),
    Stop,
}

/// A running scraper.
pub struct Scraper {
    tx: mpsc::UnboundedSender<Cmd>,
    first: Option<oneshot::Receiver<()>>,
    done: oneshot::Receiver<ScrapeLog>,
    thread: Option<std::thread::JoinHandle<()>>,
}

struct Endpoint {
    url: MetricsUrl,
    /// The URL as recorded (`source` of its lines; stays the same after a path switch).
    name: String,
    conn: Option<Conn<Stream>>,
    tls_options: tls::TlsOptions,
    tls: Option<tls::Tls>,
    /// No longer scraped, and why.
    disabled: bool,
    warned: bool,
    warned_skips: bool,
    failures_in_a_row: u32,
    tried_trtllm_path: bool,
}

enum Fetch {
    Ok {
        status: u16,
        body: Vec<u8>,
    },
    /// Not worth retrying (metrics disabled, not Prometheus).
    Fatal(String),
    /// Worth retrying next round.
    Transient(String),
}

impl Scraper {
    /// Start scraping (the first round runs at once) and write every scrape to `out`.
    pub fn spawn(cfg: ScraperConfig, out: Box<dyn Write + Send>) -> std::io::Result<Scraper> {
        let (tx, rx) = mpsc::unbounded_channel();
        let (done_tx, done) = oneshot::channel();
        let (first_tx, first) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name("infermeter-telemetry".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(rt) => rt,
                    Err(e) => {
                        (cfg.warn)(format!("warning: server metrics: cannot start the scraper: {e}"));
                        let _ = done_tx.send(ScrapeLog::default());
                        return;
                    }
                };
                let log = rt.block_on(run(cfg, out, rx, first_tx));
                let _ = done_tx.send(log);
            })?;
        Ok(Scraper {
            tx,
            first: Some(first),
            done,
            thread: Some(thread),
        })
    }

    /// Wait until the first round (the baseline, started at spawn) is recorded.
    pub async fn ready(&mut self) {
        if let Some(f) = self.first.take() {
            let _ = f.await;
        }
    }

    /// Run a round now (at a phase boundary) and wait until it is recorded.
    pub async fn scrape_now(&self) {
        let (ack, wait) = oneshot::channel();
        if self.tx.send(Cmd::Now(ack)).is_ok() {
            let _ = wait.await;
        }
    }

    /// Run a last round, stop, and return everything scraped.
    pub async fn finish(mut self) -> ScrapeLog {
        let _ = self.tx.send(Cmd::Stop);
        let log = (&mut self.done).await.unwrap_or_default();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        log
    }
}

impl Drop for Scraper {
    fn drop(&mut self) {
        let _ = self.tx.send(Cmd::Stop);
    }
}

fn thread_cpu_s() -> Option<f64> {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: a valid, writable timespec; CLOCK_THREAD_CPUTIME_ID is supported on Linux and macOS.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    (rc == 0).then(|| ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9)
}

async fn run(
    cfg: ScraperConfig,
    out: Box<dyn Write + Send>,
    mut rx: mpsc::UnboundedReceiver<Cmd>,
    first: oneshot::Sender<()>,
) -> ScrapeLog {
    let cpu0 = thread_cpu_s();
    let mut st = State {
        endpoints: cfg
            .urls
            .iter()
            .map(|u| Endpoint {
                name: u.to_string(),
                tls_options: cfg.tls.clone(),
                tls: None,
                url: u.clone(),
                conn: None,
                disabled: false,
                warned: cfg.quiet.contains(u),
                warned_skips: false,
                failures_in_a_row: 0,
                tried_trtllm_path: false,
            })
            .collect(),
        log: ScrapeLog {
            nvml_unavailable: cfg.nvml_unavailable.clone(),
            ..Default::default()
        },
        out: std::io::BufWriter::new(out),
        write_failed: false,
        tick: 0,
        cfg,
    };
    // Sources appear in the log in configuration order, even before their first scrape.
    for e in &st.endpoints {
        st.log.sources.push(super::log::SourceStatus {
            url: e.name.clone(),
            ..Default::default()
        });
    }
    let interval = st.cfg.interval.max(Duration::from_millis(10));
    // The baseline round, before anything else (and before `ready()` returns).
    st.round().await;
    let _ = first.send(());
    let mut next = tokio::time::Instant::now() + interval;
    // One timer for the whole loop: once due it stays ready until reset, so commands arriving
    // back to back cannot starve it.
    let timer = tokio::time::sleep_until(next);
    tokio::pin!(timer);
    loop {
        tokio::select! {
            biased;
            _ = &mut timer => {
                st.round().await;
                next += interval;
                let now = tokio::time::Instant::now();
                if next < now {
                    // A slow round: skip the missed ticks rather than bunching up.
                    next = now + interval;
                }
                timer.as_mut().reset(next);
            }
            cmd = rx.recv() => match cmd {
                Some(Cmd::Now(ack)) => {
                    st.round().await;
                    let _ = ack.send(());
                }
                Some(Cmd::Stop) | None => {
                    st.round().await;
                    break;
                }
            },
        }
    }
    let _ = st.out.flush();
    st.log.sort();
    st.log.scraper_cpu_s = match (cpu0, thread_cpu_s()) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    st.log.rounds = st.tick;
    st.log
}

struct State {
    cfg: ScraperConfig,
    endpoints: Vec<Endpoint>,
    log: ScrapeLog,
    out: std::io::BufWriter<Box<dyn Write + Send>>,
    write_failed: bool,
    tick: u64,
}

impl State {
    async fn round(&mut self) {
        let tick = self.tick;
        self.tick += 1;
        let run_start = self.cfg.run_start;
        let timeout = (self.cfg.interval * 2).clamp(Duration::from_secs(1), Duration::from_secs(10));
        let due: Vec<bool> = self
            .endpoints
            .iter()
            .map(|e| !e.disabled && (e.failures_in_a_row < 3 || tick % 10 == 0))
            .collect();
        let futs = self
            .endpoints
            .iter_mut()
            .zip(&due)
            .filter(|(_, d)| **d)
            .map(|(e, _)| scrape(e, run_start, tick, timeout));
        let lines: Vec<ScrapeLine> = futures_util::future::join_all(futs).await;
        let mut round = Round {
            tick,
            ..Default::default()
        };
        for line in lines {
            self.record(&line);
            if line.error.is_none() {
                if let Some(i) = self.log.sources.iter().position(|s| s.url == line.source) {
                    if let Some(f) = self.log.frames.iter().rev().find(|f| f.source == i && f.tick == tick) {
                        round.frames.push((i, f.frame.clone()));
                    }
                }
            }
        }
        if let Some(nvml) = self.cfg.nvml.clone() {
            let t0 = Instant::now();
            let gpus = nvml.poll();
            let t1 = Instant::now();
            let line = ScrapeLine {
                t_us: micros_since(run_start, t0 + (t1 - t0) / 2),
                tick,
                source: NVML_SOURCE.into(),
                latency_us: Some((t1 - t0).as_micros() as u64),
                gpus: gpus.clone(),
                ..Default::default()
            };
            self.record(&line);
            round.nvml = gpus;
        }
        if !self.write_failed {
            if let Err(e) = self.out.flush() {
                self.write_failed = true;
                (self.cfg.warn)(format!(
                    "warning: server metrics: cannot write server_metrics.jsonl: {e}"
                ));
            }
        }
        if let Some(f) = &self.cfg.on_round {
            f(round);
        }
        // Warnings, once per endpoint.
        for e in &mut self.endpoints {
            let Some(s) = self.log.sources.iter().find(|s| s.url == e.name) else {
                continue;
            };
            if !e.warned && s.scrapes_failed > 0 {
                e.warned = true;
                let why = s.first_error.as_deref().unwrap_or("failed");
                let next = if e.disabled {
                    "not scraping it again"
                } else {
                    "retrying; the run continues"
                };
                (self.cfg.warn)(format!("warning: server metrics: {}: {why} ({next})", e.name));
            }
            if !e.warned_skips && s.skipped_lines > 0 {
                e.warned_skips = true;
                (self.cfg.warn)(format!(
                    "warning: server metrics: {}: {} line(s) did not parse and were skipped ({})",
                    e.name,
                    s.skipped_lines,
                    s.first_skipped.as_deref().unwrap_or("")
                ));
            }
        }
    }

    fn record(&mut self, line: &ScrapeLine) {
        self.log.absorb(line);
        if self.write_failed {
            return;
        }
        let res = serde_json::to_writer(&mut self.out, line)
            .map_err(std::io::Error::from)
            .and_then(|()| self.out.write_all(b"\n"));
        if let Err(e) = res {
            self.write_failed = true;
            (self.cfg.warn)(format!(
                "warning: server metrics: cannot write server_metrics.jsonl: {e}"
            ));
        }
    }
}

fn micros_since(origin: Instant, t: Instant) -> i64 {
    if t >= origin {
        (t - origin).as_micros() as i64
    } else {
        -((origin - t).as_micros() as i64)
    }
}

/// One scrape of one endpoint, as a line of the log.
async fn scrape(e: &mut Endpoint, run_start: Instant, tick: u64, timeout: Duration) -> ScrapeLine {
    let mut line = ScrapeLine {
        tick,
        source: e.name.clone(),
        ..Default::default()
    };
    let t0 = Instant::now();
    let mut outcome = fetch(e, timeout).await;
    // TensorRT-LLM: JSON at /metrics, Prometheus text at /prometheus/metrics.
    if let Fetch::Fatal(why) = &outcome {
        if why.contains("JSON") && !e.tried_trtllm_path && e.url.path == "/metrics" {
            e.tried_trtllm_path = true;
            e.url.path = "/prometheus/metrics".into();
            outcome = match fetch(e, timeout).await {
                Fetch::Ok { status, body } => Fetch::Ok { status, body },
                _ => Fetch::Fatal(format!(
                    "{why}; /prometheus/metrics did not answer with Prometheus text either"
                )),
            };
        }
    }
    let t1 = Instant::now();
    line.t_us = micros_since(run_start, t0 + (t1 - t0) / 2);
    line.latency_us = Some((t1 - t0).as_micros() as u64);
    match outcome {
        Fetch::Ok { status, body } => {
            line.status = Some(status);
            match std::str::from_utf8(&body)
                .map_err(|_| "not Prometheus text: the body is not UTF-8".to_string())
                .and_then(expo::parse)
            {
                Ok(x) => {
                    e.failures_in_a_row = 0;
                    line.types = x.types;
                    line.samples = x.samples;
                    line.skipped_lines = x.skipped_lines;
                    line.first_skipped = x.first_skipped;
                }
                Err(why) => {
                    e.failures_in_a_row += 1;
                    if e.failures_in_a_row >= 3 {
                        e.disabled = true;
                    }
                    line.error = Some(why);
                }
            }
        }
        Fetch::Fatal(why) => {
            e.disabled = true;
            line.error = Some(why);
        }
        Fetch::Transient(why) => {
            e.failures_in_a_row += 1;
            line.error = Some(why);
        }
    }
    line
}

async fn connect(e: &mut Endpoint) -> Result<Conn<Stream>, String> {
    let hostport = format!("{}:{}", e.url.host, e.url.port);
    let addr = tokio::net::lookup_host(&hostport)
        .await
        .map_err(|err| format!("cannot resolve {hostport}: {err}"))?
        .next()
        .ok_or_else(|| format!("cannot resolve {hostport}"))?;
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|err| format!("connect to {addr}: {err}"))?;
    let _ = tcp.set_nodelay(true);
    let io = rx::TcpIo::new(tcp).map_err(|err| format!("connect to {addr}: {err}"))?;
    if !e.url.https {
        return Ok(Conn::new(Stream::Plain(io)));
    }
    if e.tls.is_none() {
        e.tls = Some(tls::Tls::new(&e.url.host, &e.tls_options)?);
    }
    let Some(t) = &e.tls else {
        return Err("TLS setup failed".into());
    };
    let s = t.handshake(io).await.map_err(|(_, m)| m)?;
    Ok(Conn::new(Stream::Tls(Box::new(s))))
}

async fn fetch(e: &mut Endpoint, timeout: Duration) -> Fetch {
    match tokio::time::timeout(timeout, fetch_inner(e)).await {
        Ok(f) => f,
        Err(_) => {
            e.conn = None;
            Fetch::Transient(format!("no complete answer within {:.1}s", timeout.as_secs_f64()))
        }
    }
}

async fn fetch_inner(e: &mut Endpoint) -> Fetch {
    let wire = h1::request_bytes(
        "GET",
        &e.url.path,
        &e.url.authority(),
        &[
            ("Accept", b"text/plain;version=0.0.4;q=1,*/*;q=0.1"),
            ("User-Agent", b"infermeter"),
        ],
        b"",
    );
    // A kept-alive connection may have been closed by the server since the last round: one
    // retry on a fresh connection when it fails before any byte arrived.
    for attempt in 0..2 {
        let reused = e.conn.is_some();
        let kept = match e.conn.take() {
            Some(mut c) => c.reusable().await.then_some(c),
            None => None,
        };
        let mut conn = match kept {
            Some(c) => c,
            None => match connect(e).await {
                Ok(c) => c,
                Err(why) => return Fetch::Transient(why),
            },
        };
        let sent = conn.send(&wire).await;
        let head = match sent {
            Ok(()) => conn.read_head().await,
            Err(err) => Err(h1::H1Error::Io(err)),
        };
        let head = match head {
            Ok(h) => h,
            Err(err) => {
                if reused && attempt == 0 && conn.received() == 0 {
                    continue;
                }
                return Fetch::Transient(format!("GET {}: {err}", e.url.path));
            }
        };
        let mut body = Vec::new();
        loop {
            match conn.next_data().await {
                Ok(Some((_, piece))) => {
                    if body.len() + piece.len() > MAX_BODY {
                        return Fetch::Fatal(format!("body larger than {} MiB", MAX_BODY >> 20));
                    }
                    body.extend_from_slice(piece);
                }
                Ok(None) => break,
                Err(err) => return Fetch::Transient(format!("GET {}: {err}", e.url.path)),
            }
        }
        if head.keep_alive {
            e.conn = Some(conn);
        }
        if head.status != 200 {
            let snippet: String = String::from_utf8_lossy(&body).chars().take(120).collect();
            let snippet = snippet.split_whitespace().collect::<Vec<_>>().join(" ");
            let hint = match head.status {
                404 | 501 => " (is the metrics endpoint enabled? SGLang needs --enable-metrics, llama.cpp --metrics)",
                _ => "",
            };
            let msg = format!("GET {} answered HTTP {}{hint}: {snippet}", e.url.path, head.status);
            return if head.status >= 500 && head.status != 501 {
                Fetch::Transient(msg)
            } else {
                Fetch::Fatal(msg)
            };
        }
        if head.content_type.starts_with("application/json") {
            return Fetch::Fatal(format!(
                "not Prometheus text: GET {} answered JSON (Content-Type {})",
                e.url.path, head.content_type
            ));
        }
        return Fetch::Ok {
            status: head.status,
            body,
        };
    }
    Fetch::Transient("connection closed before an answer".into())
}

/// Normalize a single exposition (for tests and the exporter).
pub fn frame_of(text: &str) -> Result<Frame, String> {
    expo::parse(text).map(|e| extract(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = MetricsUrl::parse("http://127.0.0.1:8000").unwrap();
        assert_eq!(u.path, "/metrics");
        assert_eq!(u.to_string(), "http://127.0.0.1:8000/metrics");
        let u = MetricsUrl::parse("localhost:9400").unwrap();
        assert_eq!((u.host.as_str(), u.port, u.https), ("localhost", 9400, false));
        let u = MetricsUrl::parse("https://h/prometheus/metrics?model=x").unwrap();
        assert_eq!((u.port, u.path.as_str()), (443, "/prometheus/metrics?model=x"));
        assert_eq!(u.authority(), "h");
        let u = MetricsUrl::parse("http://[::1]:9/").unwrap();
        assert_eq!((u.host.as_str(), u.authority().as_str()), ("::1", "[::1]:9"));
        for bad in ["ftp://x/metrics", "http://:80/", "http://h:99999/", "http://[::1:80/"] {
            assert!(MetricsUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
