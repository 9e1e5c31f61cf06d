//! `infermeter-perfmodel`: an analytic performance model of LLM inference.
//!
//! `infermeter` measures inference servers; this crate *predicts* them, so a
//! measurement can be compared with what the hardware should do, a capacity
//! plan can be made before renting GPUs, and a simulated vLLM-like engine can
//! advance its clock. It is pure computation: no network and no I/O except
//! [`ModelSpec::from_hf_config_path`] reading a `config.json`.
//!
//! - [`GpuSpec`], [`ModelSpec`], [`DType`]: presets and parsing
//!   (`GpuSpec::preset("h100-sxm")`, `ModelSpec::preset("llama-3.1-8b")`,
//!   `ModelSpec::from_hf_config_json`).
//! - [`Deployment`]: model + GPU + dtypes + TP + calibration ([`Efficiency`])
//!   + engine limits ([`EngineConfig`]).
//! - [`memory`]: weights, KV cache, activations, fits, max concurrent
//!   sequences, paged KV blocks.
//! - [`roofline`]: [`Deployment::step_time_s`] for one engine iteration
//!   ([`StepShape`]), prefill/decode helpers, arithmetic intensity, [`Bound`].
//! - [`mod@plan`]: the `infermeter plan` report and its text rendering.
//! - [`profile`], [`serving`]: engine profiles (`vllm-0.5|vllm-0.6|vllm-v1`)
//!   and the resolution of serving settings into an engine setup.
//! - [`calibration`]: the fitted per-GPU efficiency table.
//! - [`validation`]: the corpus of published measurements, the fit/held-out
//!   split, error statistics and [`validation::uncertainty`] bands.
//!
//! ```
//! use infermeter_perfmodel::{Deployment, StepShape};
//! let d = Deployment::from_presets("llama-3.1-8b", "h100-sxm").unwrap();
//! assert_eq!(d.kv_bytes_per_token(), 131072.0);
//! let itl = d.step_time_s(&StepShape { prefill: &[], decode: &[1024] });
//! // vLLM publishes 6.48 ms for this step (a held-out corpus point); the
//! // fitted model gives 7.5 ms, inside its uncertainty band.
//! assert!((itl * 1e3 - 7.5).abs() < 0.1);
//! let band = infermeter_perfmodel::uncertainty(infermeter_perfmodel::Metric::Tpot, itl * 1e3);
//! assert!(band.low < 6.48 && 6.48 < band.high);
//! ```

pub mod calibration;
pub mod deployment;
pub mod dtype;
pub mod error;
pub mod gpu;
pub mod memory;
pub mod model;
pub mod plan;
pub mod profile;
pub mod roofline;
pub mod serving;
pub mod validation;

pub use deployment::{Deployment, Efficiency, EngineConfig, ACTIVATION_BYTES};
pub use dtype::DType;
pub use error::{Error, Result};
pub use gpu::GpuSpec;
pub use memory::MemoryBreakdown;
pub use model::{ModelSpec, MoeSpec};
pub use plan::{plan, render_text, PlanConfig, PlanReport};
pub use profile::{EngineProfile, HostCosts, Scheduling};
pub use roofline::{Bound, StepBreakdown, StepShape};
pub use serving::{ServingPlan, ServingSettings};
pub use validation::{uncertainty, Band, Metric, BAND_COVERAGE};
