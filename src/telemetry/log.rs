//! `server_metrics.jsonl`: every scrape, raw, on the run's clock — and the in-memory
//! [`ScrapeLog`] rebuilt from those lines, which is all the summary's `server` and `gpu` blocks
//! are computed from (so `infermeter report DIR` recomputes them from the file).
//!
//! One JSON object per line ([`ScrapeLine`]): `t_us` (µs since the run's start, the clock of
//! `records.jsonl`; the midpoint of the HTTP exchange, negative for a baseline taken before the
//! start), `tick` (scrape round; all sources of a round share it), `source` (the URL, or
//! `nvml`), then either `samples` (every sample as `[name, {labels}, value]`, exactly as
//! exposed, plus the `types` declared) or `error`; NVML polls carry `gpus`. Counters are kept
//! as exposed (cumulative), so resets and `_total` spellings are resolved when reading, not lost
//! when writing.

use super::concepts::{extract, Engine, Frame, GpuReading};
use super::expo::{Exposition, MetricType, Sample};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::BufRead;

/// One line of `server_metrics.jsonl`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScrapeLine {
    pub t_us: i64,
    pub tick: u64,
    pub source: String,
    /// Duration of the HTTP exchange (or the NVML poll), µs.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub latency_us: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub status: Option<u16>,
    /// Why this scrape produced no samples (one line).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub types: BTreeMap<String, MetricType>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub samples: Vec<Sample>,
    /// Exposition lines that did not parse (and the first of them).
    #[serde(skip_serializing_if = "is_zero", default)]
    pub skipped_lines: u64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub first_skipped: Option<String>,
    /// NVML: one reading per GPU.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub gpus: Vec<GpuReading>,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// The source name of NVML polls.
pub const NVML_SOURCE: &str = "nvml";

/// One successful scrape, normalized.
#[derive(Debug, Clone, PartialEq)]
pub struct TimedFrame {
    pub t_us: i64,
    pub tick: u64,
    /// Index into [`ScrapeLog::sources`].
    pub source: usize,
    pub frame: Frame,
}

/// What happened with one source over the run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SourceStatus {
    pub url: String,
    /// Engines recognized in its metric names (`[]`: none).
    pub engines: Vec<Engine>,
    pub scrapes_ok: u64,
    pub scrapes_failed: u64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub first_error: Option<String>,
    /// Exposition lines skipped over all scrapes.
    #[serde(skip_serializing_if = "is_zero", default)]
    pub skipped_lines: u64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub first_skipped: Option<String>,
    /// Mean and max duration of a scrape, ms.
    pub latency_ms_mean: f64,
    pub latency_ms_max: f64,
    #[serde(skip)]
    pub(crate) latency_sum_us: u64,
}

/// Everything scraped during a run, normalized (raw samples are not kept in memory).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScrapeLog {
    pub sources: Vec<SourceStatus>,
    /// Successful endpoint scrapes, in time order per source.
    pub frames: Vec<TimedFrame>,
    /// NVML polls: time and one reading per GPU.
    pub nvml: Vec<(i64, Vec<GpuReading>)>,
    /// Why NVML was not used (`--gpu-telemetry auto` found no library or no GPU), if tried.
    pub nvml_unavailable: Option<String>,
    /// Lines of the file that did not parse (a run killed mid-write leaves one).
    pub bad_lines: u64,
    /// CPU time the scraper's thread used (live runs only), and its number of rounds.
    pub scraper_cpu_s: Option<f64>,
    pub rounds: u64,
}

impl ScrapeLog {
    /// Add one line: normalize its samples into a frame (or count its failure).
    pub fn absorb(&mut self, line: &ScrapeLine) {
        let idx = match self.sources.iter().position(|s| s.url == line.source) {
            Some(i) => i,
            None => {
                self.sources.push(SourceStatus {
                    url: line.source.clone(),
                    ..Default::default()
                });
                self.sources.len() - 1
            }
        };
        let st = &mut self.sources[idx];
        let lat = line.latency_us.unwrap_or(0);
        st.latency_sum_us += lat;
        st.latency_ms_max = st.latency_ms_max.max(lat as f64 / 1000.0);
        if let Some(e) = &line.error {
            st.scrapes_failed += 1;
            st.first_error.get_or_insert_with(|| e.clone());
        } else {
            st.scrapes_ok += 1;
            st.skipped_lines += line.skipped_lines;
            if st.first_skipped.is_none() {
                st.first_skipped.clone_from(&line.first_skipped);
            }
            if line.source == NVML_SOURCE {
                self.nvml.push((line.t_us, line.gpus.clone()));
            } else {
                let expo = Exposition {
                    samples: line.samples.clone(),
                    types: line.types.clone(),
                    skipped_lines: 0,
                    first_skipped: None,
                };
                let frame = extract(&expo);
                for e in &frame.engines {
                    if !st.engines.contains(e) {
                        st.engines.push(*e);
                    }
                }
                self.frames.push(TimedFrame {
                    t_us: line.t_us,
                    tick: line.tick,
                    source: idx,
                    frame,
                });
            }
        }
        let n = st.scrapes_ok + st.scrapes_failed;
        st.latency_ms_mean = st.latency_sum_us as f64 / n.max(1) as f64 / 1000.0;
    }

    /// Rebuild from `server_metrics.jsonl` (a torn or foreign line is skipped and counted).
    pub fn read(path: &std::path::Path) -> std::io::Result<ScrapeLog> {
        let f = std::fs::File::open(path)?;
        let mut log = ScrapeLog::default();
        for line in std::io::BufReader::new(f).lines() {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<ScrapeLine>(&line) {
                Ok(l) => log.absorb(&l),
                Err(_) => log.bad_lines += 1,
            }
        }
        log.sort();
        Ok(log)
    }

    /// Frames in time order (the scraper appends them in order already).
    pub fn sort(&mut self) {
        self.frames.sort_by_key(|f| (f.t_us, f.source));
        self.nvml.sort_by_key(|p| p.0);
    }

    /// Endpoint sources (everything but NVML).
    pub fn endpoints(&self) -> impl Iterator<Item = (usize, &SourceStatus)> {
        self.sources.iter().enumerate().filter(|(_, s)| s.url != NVML_SOURCE)
    }

    /// The serving engine: the first recognized non-DCGM engine over all sources.
    pub fn engine(&self) -> Option<Engine> {
        self.sources
            .iter()
            .flat_map(|s| s.engines.iter().copied())
            .find(|e| *e != Engine::Dcgm)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::concepts::Concept;
    use crate::telemetry::expo::parse;

    #[test]
    fn lines_round_trip_and_rebuild_the_same_log() {
        let e = parse("# TYPE vllm:num_preemptions_total counter\nvllm:num_preemptions_total{engine=\"0\"} 4.0\nvllm:num_requests_running{engine=\"0\"} NaN\n").unwrap();
        let ok = ScrapeLine {
            t_us: -1500,
            tick: 0,
            source: "http://h/metrics".into(),
            latency_us: Some(800),
            status: Some(200),
            types: e.types.clone(),
            samples: e.samples.clone(),
            ..Default::default()
        };
        let bad = ScrapeLine {
            t_us: 500_000,
            tick: 1,
            source: "http://h/metrics".into(),
            latency_us: Some(1200),
            error: Some("connection refused".into()),
            ..Default::default()
        };
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("server_metrics.jsonl");
        let text = format!(
            "{}\n{}\n{{\"t_us\": torn",
            serde_json::to_string(&ok).unwrap(),
            serde_json::to_string(&bad).unwrap()
        );
        std::fs::write(&p, text).unwrap();
        let log = ScrapeLog::read(&p).unwrap();
        assert_eq!(log.bad_lines, 1);
        assert_eq!(log.sources.len(), 1);
        let s = &log.sources[0];
        assert_eq!((s.scrapes_ok, s.scrapes_failed), (1, 1));
        assert_eq!(s.first_error.as_deref(), Some("connection refused"));
        assert_eq!(s.engines, vec![Engine::Vllm]);
        assert_eq!(s.latency_ms_mean, 1.0);
        assert_eq!(log.frames.len(), 1);
        assert_eq!(log.frames[0].t_us, -1500);
        assert_eq!(log.frames[0].frame.value(Concept::Preemptions), Some(4.0));
        assert_eq!(log.engine(), Some(Engine::Vllm));
    }
}
