//! infermeter: measure how well an LLM inference server serves.
//!
//! The data flows one way, and the module layout follows it:
//!
//! ```text
//! workload  ->  schedule  ->  client (transport, SSE, API)  ->  record  ->  metrics  ->  report
//! ```
//!
//! `spec` is the run specification every command starts from (flags or a config file,
//! validated once); `app` runs a stage, a sweep, an offline simulation or a report rebuild
//! from it; `cli` only turns flags into a specification. `sim` is the embedded
//! OpenAI-compatible simulated server (the default target). The core (`record`,
//! `metrics`, `client::sse`, `client::openai`, `workload`, `schedule::arrivals`) does no I/O
//! so it can be tested with plain unit tests.

pub mod app;
pub mod arrival;
pub mod cli;
pub mod client;
pub mod error;
pub mod metrics;
pub mod record;
pub mod report;
pub mod runner;
pub mod schedule;
pub mod shard;
pub mod sim;
pub mod spec;
pub mod telemetry;
pub mod util;
pub mod workload;
