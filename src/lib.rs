//! infermeter: measure how well an LLM inference server serves.
//!
//! The data flows one way, and the module layout follows it:
//!
//! ```text
//! workload  ->  schedule  ->  client (transport, SSE, API)  ->  record  ->  metrics  ->  report
//! ```
//!
//! `sim` is the embedded OpenAI-compatible simulated server (the default target), and `cli`
//! turns raw flags into validated configurations and runs jobs. The core (`record`,
//! `metrics`, `client::sse`, `client::openai`, `workload`, `schedule::arrivals`) does no I/O
//! so it can be tested with plain unit tests.

pub mod arrival;
pub mod cli;
pub mod client;
pub mod metrics;
pub mod record;
pub mod report;
pub mod runner;
pub mod schedule;
pub mod sim;
pub mod util;
pub mod workload;
