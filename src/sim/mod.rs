//! The embedded OpenAI-compatible simulated server: the default benchmark target when no
//! `--url` is given, and `infermeter sim serve` standalone.
//!
//! It honours `max_tokens`, `ignore_eos`/`min_tokens`, `stream`, `stream_options`
//! (`include_usage`, `continuous_usage_stats`), limits concurrent sequences to
//! `max_num_seqs` (later requests queue, which shows in their TTFT), and emits tokens on
//! absolute deadlines `start + TTFT + Σ ITL` so timer lateness never accumulates. `app()` is
//! an axum `Router` factory, testable without a socket.
//!
//! Two modes. **Fixed timing** (`engine: None`): every request gets its own slot and
//! configured TTFT/ITL. **Engine mode** (`engine: Some`, see [`online`]): a simulated vLLM-like
//! engine (continuous batching, paged KV cache, prefix caching, preemption) priced by the
//! roofline performance model decides when each token leaves, and `/metrics` exposes vLLM's
//! Prometheus metrics. Both modes stream exactly the same chunk format.
//!
//! Fault injection (`faults`, `fault_conn`): with a [`FaultPlan`], chosen requests get an HTTP
//! error, a reset connection, a truncated, stalled or corrupted stream, or a slow response head
//! (see `docs/reliability.md`); the HTTP-level and head faults apply in both modes, the
//! mid-stream faults to every streamed response.
//!
//! Token accounting: a prompt's token count is its number of whitespace-separated words
//! (infermeter's synthetic prompts are one token per word), and every emitted output token is
//! a common word that is exactly one token in the `cl100k_base` and `o200k_base` encodings.
//!
//! Rooms: `config` (what to simulate), `server` (app factory, listener, request handler),
//! `request` (reading a request body), `fixed` and `engine_stream` (the two generators),
//! `online` and `prom` (the engine task and its `/metrics`), `timing` (engine settings to a
//! priced engine), `offline` (`sim run`), `faults`, `fault_stream` and `fault_conn` (fault
//! injection), `wire` (chunk format), `write_log` (server-side write times).

pub mod config;
mod engine_stream;
pub mod fault_conn;
mod fault_stream;
pub mod faults;
mod fixed;
pub mod offline;
pub mod offline_feed;
pub mod online;
pub mod prom;
mod request;
mod server;
pub mod timing;
mod wire;
pub mod write_log;

pub use crate::workload::dist::ValueDist;
pub use config::{is_simulator_listing, Described, EngineMode, SimConfig, DESCRIBE_PATH, OWNER};
pub use faults::{FaultKind, FaultPlan};
pub use request::MAX_TOKENS;
pub use server::{app, spawn};
pub use wire::OUTPUT_WORDS;
