//! Telemetry for one benchmark run: the validated settings (`[telemetry]` and `sla` of the
//! run specification), the observer the runner calls (start of the run's clock, end of the
//! warm-up, each request sent and finished), and, after the run, the scrapes from which
//! `report::server::attach` fills the summary's `server`, `gpu` and `sla` blocks — so the
//! application layer needs three calls: [`Session::new`], pass it to the runner,
//! [`Session::finish`].

use super::exporter::LiveSender;
use super::log::ScrapeLog;
use super::nvml::Nvml;
use super::scraper::{MetricsUrl, Round, Scraper, ScraperConfig};
use super::sla::SlaProfile;
use crate::record::RequestRecord;
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
