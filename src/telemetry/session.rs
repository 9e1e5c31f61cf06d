//! Telemetry for one benchmark run: the validated settings (`[telemetry]` and `sla` of the
//! run specification), the observer the runner calls (start of the run's clock, end of the
//! warm-up, each request sent and finished), and, after the run, the summary's `server`,
//! `gpu` and `sla` blocks — so the application layer needs three calls: [`Session::new`],
//! pass it to the runner, [`Session::finish`].

use super::exporter::LiveSender;
use super::gpu::GpuBlock;
use super::log::ScrapeLog;
use super::nvml::Nvml;
use super::scraper::{MetricsUrl, Round, Scraper, ScraperConfig};
use super::server::{ClientView, ConceptStats, ServerBlock, ServerSignals};
use super::sla::{evaluate, SlaInputs, SlaProfile};
use crate::record::RequestRecord;
use crate::report::Summary;
use crate::runner::{Hook, RunObserver};
use crate::spec::RunSpec;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The file every scrape is written to, in the run directory.
pub const FILE: &str = "server_metrics.jsonl";

/// Which endpoints to scrape.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerMetrics {
    pub off: bool,
    /// Include the target's own `/metrics`.
    pub auto: bool,
    pub urls: Vec<MetricsUrl>,
}

/// `[telemetry]` and `sla`, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct TelemetryConfig {
    pub server_metrics: ServerMetrics,
    pub interval: Duration,
    pub gpu: bool,
    pub prometheus_listen: Option<SocketAddr>,
    pub prometheus_linger: Duration,
    pub sla: Option<SlaProfile>,
}

/// `PORT` (on 127.0.0.1), `HOST:PORT`, `[V6]:PORT` or `localhost:PORT`.
pub fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    let t = s.trim();
    if let Ok(port) = t.parse::<u16>() {
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    if let Some(port) = t.strip_prefix("localhost:") {
        if let Ok(port) = port.parse::<u16>() {
            return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
        }
    }
    t.parse::<SocketAddr>()
        .map_err(|_| format!("invalid --prometheus-listen '{s}': expected PORT or HOST:PORT (e.g. 9464, 0.0.0.0:9464)"))
}

impl TelemetryConfig {
    /// Check the specification's `[telemetry]` and `sla` (one-line errors).
    pub fn from_spec(spec: &RunSpec) -> Result<TelemetryConfig, String> {
        let t = &spec.telemetry;
        let mut sm = ServerMetrics {
            off: false,
            auto: false,
            urls: Vec::new(),
        };
        for v in t.server_metrics.iter().flat_map(|v| v.split(',')).map(str::trim) {
            match v {
                "" => {}
                "off" => sm.off = true,
                "auto" => sm.auto = true,
                url => sm
                    .urls
                    .push(MetricsUrl::parse(url).map_err(|e| format!("--server-metrics: {e}"))?),
            }
        }
        if sm.off && (sm.auto || !sm.urls.is_empty()) {
            return Err("--server-metrics off cannot be combined with auto or URLs".into());
        }
        if !sm.off && !sm.auto && sm.urls.is_empty() {
            return Err("--server-metrics needs auto, off or at least one URL".into());
        }
        let interval = crate::util::parse_duration(&t.server_metrics_interval)
            .map_err(|e| format!("--server-metrics-interval: {e}"))?;
        if interval < Duration::from_millis(10) {
            return Err(format!(
                "--server-metrics-interval '{}' is below 10ms",
                t.server_metrics_interval
            ));
        }
        let gpu = match t.gpu_telemetry.as_str() {
            "auto" => true,
            "off" => false,
            other => return Err(format!("invalid --gpu-telemetry '{other}': expected auto or off")),
        };
        let prometheus_listen = t.prometheus_listen.as_deref().map(parse_listen).transpose()?;
        let prometheus_linger =
            crate::util::parse_duration(&t.prometheus_linger).map_err(|e| format!("--prometheus-linger: {e}"))?;
        let sla = spec.sla.as_deref().map(SlaProfile::parse).transpose()?;
        Ok(TelemetryConfig {
            server_metrics: sm,
            interval,
            gpu,
            prometheus_listen,
            prometheus_linger,
            sla,
        })
    }

    /// The endpoints to scrape for a target at `base` (`http[s]://host:port`), and why the
    /// target's own was left out (`auto` with the embedded fixed-timing server, which has no
    /// `/metrics`).
    pub fn urls(&self, base: &str, target_has_metrics: bool) -> (Vec<MetricsUrl>, Option<String>) {
        if self.server_metrics.off {
            return (Vec::new(), None);
        }
        let mut v = Vec::new();
        let mut note = None;
        if self.server_metrics.auto {
            if target_has_metrics {
                if let Ok(mut u) = MetricsUrl::parse(base) {
                    u.path = "/metrics".into();
                    v.push(u);
                }
            } else {
                note = Some("the embedded fixed-timing simulated server has no /metrics".to_string());
            }
        }
        for u in &self.server_metrics.urls {
            if !v.contains(u) {
                v.push(u.clone());
            }
        }
        (v, note)
    }
}

/// One run's telemetry: the scraper (started with the run's clock) and the live exporter feed.
pub struct Session {
    cfg: TelemetryConfig,
    urls: Vec<MetricsUrl>,
    /// The target's own `/metrics` in `auto` mode: not answering is normal, so no warning.
    quiet: Vec<MetricsUrl>,
    no_scrape_reason: Option<String>,
    tls: crate::client::tls::TlsOptions,
    path: PathBuf,
    live: Option<LiveSender>,
    /// Prints one-line warnings (stderr) unless silenced.
    warn: Arc<dyn Fn(String) + Send + Sync>,
    scraper: Mutex<Option<Scraper>>,
}

impl Session {
    /// Telemetry for a run writing into `dir`, of a target at `base`.
    pub fn new(
        cfg: &TelemetryConfig,
        dir: &Path,
        base: &str,
        target_has_metrics: bool,
        tls: crate::client::tls::TlsOptions,
        live: Option<LiveSender>,
        warn: Arc<dyn Fn(String) + Send + Sync>,
    ) -> Session {
        let (urls, note) = cfg.urls(base, target_has_metrics);
        let quiet = match (cfg.server_metrics.auto, urls.first()) {
            (true, Some(u)) if target_has_metrics && !cfg.server_metrics.urls.contains(u) => vec![u.clone()],
            _ => Vec::new(),
        };
        let no_scrape_reason = if cfg.server_metrics.off {
            Some("disabled (--server-metrics off)".to_string())
        } else {
            note.filter(|_| urls.is_empty())
        };
        Session {
            cfg: cfg.clone(),
            urls,
            quiet,
            no_scrape_reason,
            tls,
            path: dir.join(FILE),
            live,
            warn,
            scraper: Mutex::new(None),
        }
    }

    fn start_scraper(&self, run_start: Instant) -> Option<Scraper> {
        let (nvml, nvml_unavailable) = if self.cfg.gpu {
            match Nvml::load() {
                Ok(n) => (Some(Arc::new(n)), None),
                Err(e) => (None, Some(e)),
            }
        } else {
            (None, Some("disabled (--gpu-telemetry off)".to_string()))
        };
        if self.urls.is_empty() && nvml.is_none() {
            return None;
        }
        let file = match std::fs::File::create(&self.path) {
            Ok(f) => f,
            Err(e) => {
                (self.warn)(format!(
                    "warning: server metrics: cannot create {}: {e}",
                    self.path.display()
                ));
                return None;
            }
        };
        let mut sc = ScraperConfig::new(self.urls.clone(), self.cfg.interval, run_start);
        sc.quiet = self.quiet.clone();
        sc.nvml = nvml;
        sc.nvml_unavailable = nvml_unavailable;
        sc.tls = self.tls.clone();
        let warn = self.warn.clone();
        sc.warn = Box::new(move |s| warn(s));
        if let Some(live) = self.live.clone() {
            sc.on_round = Some(Box::new(move |r: Round| live.round(r)));
        }
        match Scraper::spawn(sc, Box::new(file)) {
            Ok(s) => Some(s),
            Err(e) => {
                (self.warn)(format!("warning: server metrics: cannot start the scraper: {e}"));
                None
            }
        }
    }

    /// Stop scraping and return what was scraped (`None` when nothing was).
    pub async fn finish(&self) -> Option<ScrapeLog> {
        let s = self.scraper.lock().ok()?.take()?;
        Some(s.finish().await)
    }

    /// Why nothing was scraped, when the configuration says so.
    pub fn no_scrape_reason(&self) -> Option<&str> {
        self.no_scrape_reason.as_deref()
    }

    pub fn config(&self) -> &TelemetryConfig {
        &self.cfg
    }
}

impl RunObserver for Session {
    fn started(&self, run_start: Instant) -> Hook<'_> {
        Box::pin(async move {
            let mut scraper = self.start_scraper(run_start);
            if let Some(s) = &mut scraper {
                // The baseline: the first round is done before anything is sent.
                s.ready().await;
            }
            if let Ok(mut g) = self.scraper.lock() {
                *g = scraper;
            }
        })
    }

    fn measuring(&self) -> Hook<'_> {
        Box::pin(async move {
            // A round at the end of the warm-up, so the measured window's counters start
            // from a scrape taken after the warm-up requests.
            let s = self.scraper.lock().ok().and_then(|mut g| g.take());
            if let Some(s) = s {
                s.scrape_now().await;
                if let Ok(mut g) = self.scraper.lock() {
                    *g = Some(s);
                }
            }
        })
    }

    fn sent(&self) {
        if let Some(l) = &self.live {
            l.started();
        }
    }

    fn done(&self, r: Option<&RequestRecord>) {
        if let Some(l) = &self.live {
            match r {
                Some(r) => l.finished(r),
                None => l.send(super::exporter::LiveEvent::Abandoned),
            }
        }
    }
}

/// Fill the summary's `server`, `gpu` and `sla` blocks from a run's scrapes (`log`, `None`
/// when nothing was scraped, `why_none` saying why) and records.
pub fn attach(
    summary: &mut Summary,
    records: &[RequestRecord],
    log: Option<&ScrapeLog>,
    why_none: Option<&str>,
    interval_s: f64,
    sla: Option<&SlaProfile>,
) {
    let client = ClientView::new(records, &summary.metrics, &summary.steady_state);
    match log {
        Some(log) => {
            let mut server = ServerBlock::compute(log, &client, interval_s);
            if let (Some(cpu), true) = (log.scraper_cpu_s, log.rounds > 0) {
                server.scrapes.cpu_ms_per_round = Some(cpu * 1000.0 / log.rounds as f64);
            }
            if log.endpoints().next().is_none() {
                server = ServerBlock::unavailable(why_none.unwrap_or("no metrics endpoint to scrape"));
            }
            summary.gpu = Some(GpuBlock::compute(log, &client));
            summary.server = Some(server);
            summary.scrapes = Some(Arc::new(log.clone()));
        }
        None => {
            let why = why_none.unwrap_or("no metrics endpoint to scrape").to_string();
            summary.server = Some(ServerBlock::unavailable(why.clone()));
            summary.gpu = Some(GpuBlock::unavailable(format!(
                "no GPU telemetry ({why}; NVML not used)"
            )));
        }
    }
    summary.sla = sla.map(|p| evaluate(p, &sla_inputs(summary)));
}

/// What the SLA is judged on: the steady-state window when detected, else the whole run.
pub fn sla_inputs(s: &Summary) -> SlaInputs {
    let steady = s.steady_state.detected;
    let (ttft, tps) = if steady {
        (
            s.steady_state.metrics.latency_ms.ttft,
            s.steady_state.metrics.throughput.output_tokens_per_s,
        )
    } else {
        (s.metrics.latency_ms.ttft, s.metrics.throughput.output_tokens_per_s)
    };
    let gpu_window = s.gpu.as_ref().filter(|g| g.available).and_then(|g| {
        let w = if steady {
            g.steady_state.as_ref()
        } else {
            g.total.as_ref()
        };
        w.and_then(|w| w.memory_utilization.as_ref())
            .and_then(ConceptStats::mean)
            .map(|m| (m, g.source.clone().unwrap_or_default()))
    });
    let server_window = s.server.as_ref().and_then(|b| {
        if steady {
            b.steady_state.as_ref()
        } else {
            b.total.as_ref()
        }
    });
    let kv = server_window.and_then(|w| {
        let c = w.get(super::concepts::Concept::KvCacheUsage)?;
        Some((c.mean()?, c.source().to_string()))
    });
    SlaInputs {
        window: if steady { "steady_state" } else { "total" }.into(),
        ttft,
        output_tokens_per_s: tps,
        memory_utilization: gpu_window,
        kv_cache_usage: kv,
    }
}

/// The console lines for the server, GPU and SLA blocks (empty when there is nothing to say).
pub fn console(s: &Summary) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    if let Some(b) = &s.server {
        if !b.available {
            let _ = writeln!(
                out,
                "server metrics: none ({})",
                b.reason.as_deref().unwrap_or("unknown")
            );
        } else if let Some(t) = &b.total {
            let _ = writeln!(
                out,
                "server ({}, {} scrapes{}):",
                b.engine.map(|e| e.as_str()).unwrap_or("unknown engine"),
                b.scrapes.ok,
                if b.scrapes.failed > 0 {
                    format!(", {} failed", b.scrapes.failed)
                } else {
                    String::new()
                }
            );
            let g = |c: super::concepts::Concept| t.get(c);
            let mut parts = Vec::new();
            for (label, c, scale, unit) in [
                ("running", super::concepts::Concept::Running, 1.0, ""),
                ("waiting", super::concepts::Concept::Waiting, 1.0, ""),
                ("KV cache", super::concepts::Concept::KvCacheUsage, 100.0, " %"),
            ] {
                if let Some(ConceptStats::Gauge { mean, max, .. }) = g(c) {
                    parts.push(format!(
                        "{label} mean {:.1}{unit} max {:.1}{unit}",
                        mean * scale,
                        max * scale
                    ));
                }
            }
            if let Some(p) = g(super::concepts::Concept::Preemptions).and_then(ConceptStats::increase) {
                parts.push(format!("preemptions {p:.0}"));
            }
            if let Some(ConceptStats::Ratio { value, .. }) = t.concepts.get("prefix_cache_hit_rate") {
                parts.push(format!("prefix-cache hits {:.1} %", value * 100.0));
            }
            if !parts.is_empty() {
                let _ = writeln!(out, "  {}", parts.join(", "));
            }
            if let Some(ConceptStats::Histogram { p50, p99, .. }) = g(super::concepts::Concept::Ttft) {
                let _ = writeln!(
                    out,
                    "  server TTFT p50 {} ms, p99 {} ms (bucket estimates)",
                    p50.map(|v| format!("{v:.1}")).unwrap_or_else(|| "n/a".into()),
                    p99.map(|v| format!("{v:.1}")).unwrap_or_else(|| "n/a".into())
                );
            }
            if let Some(cc) = &b.cross_checks {
                if let Some(tc) = &cc.ttft {
                    if let Some(d) = tc.network_http_client_mean_ms {
                        let _ = writeln!(out, "  client − server TTFT (network + HTTP + client): {d:.1} ms mean");
                    }
                }
                if let Some(g) = &cc.generation_tokens {
                    let _ = writeln!(
                        out,
                        "  generated tokens: server {:.0}, client {:.0} (difference {:+.0})",
                        g.server, g.client, g.server_minus_client
                    );
                }
            }
            for (k, why) in &b.unavailable {
                if k == "kv_cache_usage" || k == "engine" {
                    let _ = writeln!(out, "  {k}: {why}");
                }
            }
        }
    }
    if let Some(g) = &s.gpu {
        if let (true, Some(t)) = (g.available, &g.total) {
            let mut parts = Vec::new();
            if let Some(m) = t.memory_utilization.as_ref().and_then(ConceptStats::mean) {
                parts.push(format!("memory utilization {:.1} %", m * 100.0));
            }
            if let Some(p) = t.power_w.as_ref().and_then(ConceptStats::mean) {
                parts.push(format!("power {p:.0} W"));
            }
            if let Some(e) = t.energy_j {
                parts.push(format!("energy {e:.0} J"));
            }
            if let Some(tpj) = t.output_tokens_per_joule {
                parts.push(format!("{tpj:.2} output tokens/J"));
            }
            let _ = writeln!(
                out,
                "GPU ({}{}, {} GPU(s)): {}",
                g.source.as_deref().unwrap_or("?"),
                if g.simulated { ", simulated" } else { "" },
                g.gpus.len(),
                parts.join(", ")
            );
        }
    }
    if let Some(r) = &s.sla {
        for l in super::sla::console_lines(r) {
            let _ = writeln!(out, "{l}");
        }
    }
    out
}

/// Server-side reasons for a sweep stage's saturation, in words.
pub fn saturation_signals(s: &Summary) -> Option<ServerSignals> {
    s.server.as_ref().filter(|b| b.available).map(ServerSignals::from_block)
}
