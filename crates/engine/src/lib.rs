//! `infermeter-engine`: a deterministic, pure-Rust simulation of a vLLM-V1-like
//! LLM serving engine.
//!
//! It exists so `infermeter` can reason about serving behaviour (queueing,
//! batching, KV-cache pressure, preemption, prefix-cache reuse, TTFT/ITL
//! distributions) without a GPU: the engine reproduces vLLM V1's
//! iteration-level scheduler and paged KV cache on a virtual clock, and asks a
//! caller-supplied [`StepTimer`] how long each iteration takes. No I/O, no
//! async, no threads, no randomness: the same inputs give the same outputs.
//!
//! Modules:
//! - [`config`]: [`EngineConfig`] (vLLM engine-argument subset) and validation.
//! - [`timer`]: the [`StepShape`]/[`StepTimer`] contract and [`LinearTimer`].
//! - [`request`]: [`Request`], finish/reject reasons, prefix content hashes.
//! - [`engine`]: [`Engine`] — queues, scheduler, KV accounting, clock.
//! - [`offline`]: [`run_offline`] discrete-event driver and per-request traces.
//!
//! ```
//! use infermeter_engine::*;
//! let cfg = EngineConfig::new(1024, 4096);
//! let reqs = (0..8).map(|i| Request::new(i, 0.0, 300, 50)).collect();
//! let res = run_offline(cfg, LinearTimer::default(), reqs);
//! assert!(res.traces.iter().all(|t| t.num_output_tokens == 50));
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod block_pool;
pub mod config;
pub mod engine;
pub mod offline;
pub mod request;
pub mod timer;

pub use config::{ConfigError, EngineConfig, SchedulerMode};
pub use engine::{Admission, Engine, EngineStats, FinishedRequest, StepReport, TokenEmit};
/// The project's one PRNG (crate `infermeter-rng`), for workloads and tests.
pub use infermeter_rng::Rng;
pub use offline::{run_offline, run_offline_with, OfflineOptions, OfflineResult, RequestTrace};
pub use request::{block_hashes_from_tokens, FinishReason, RejectReason, Request};
pub use timer::{LinearTimer, StepShape, StepTimer};
