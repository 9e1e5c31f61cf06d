//! Server-side and GPU telemetry next to the client's measurements: what the inference server
//! and its GPUs said while infermeter loaded them, on the same clock as `records.jsonl`.
//!
//! The data flows one way, like the rest of the crate:
//!
//! ```text
//! /metrics text --expo--> samples --concepts--> frames --window--> server/gpu blocks --sla--> verdicts
//!  (scraper thread, written raw to server_metrics.jsonl)              (pure functions of the log)
//! NVML (nvml, loaded at run time) ---------------> GPU readings -----^
//! records + rounds --> exporter (live /metrics for Prometheus and Grafana)
//! ```
//!
//! Everything below the scraper and the exporter is pure and tested without sockets; the
//! names each engine uses are in one table ([`concepts::MAPPINGS`]), printed in
//! `docs/metrics.md`. Telemetry never depends on the report: the summary's blocks are filled
//! in, printed and drawn by `report::server` and `report::html`'s server section.

pub mod concepts;
pub mod expo;
pub mod exporter;
pub mod gpu;
pub mod log;
pub mod nvml;
pub mod scraper;
pub mod server;
pub mod session;
pub mod sla;
pub mod window;
