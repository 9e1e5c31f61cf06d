//! The application layer: what each command does, as library functions over validated
//! configurations (`spec::validate`), callable from tests without the command line. `cli`
//! only turns flags or a file into a specification and calls one of these.
//!
//! - [`bench::run_stage`]: one benchmark (also each stage of a sweep);
//! - [`sweep::run`]: stages over rates or concurrencies, saturation, max goodput;
//! - [`simrun::run`]: the simulated engine offline;
//! - [`serve::run`]: the simulated server standalone;
//! - [`rebuild::run`]: a run directory's summary and report rebuilt from its records;
//! - [`merge::run`]: the shards of a sharded run merged into one run directory;
//! - [`k8s::run`]: Kubernetes manifests of a sharded run;
//! - [`compare::run`]: runs compared against a baseline, with regression gates;
//! - [`plan::run`]: memory, capacity, roofline and cost of a deployment;
//! - [`workload::build`]: a run's dataset or trace read and validated before it starts.

pub mod bench;
pub mod compare;
pub mod info;
pub mod k8s;
pub mod merge;
pub mod output;
pub mod plan;
pub mod rebuild;
pub mod serve;
pub mod shard;
pub mod simrun;
pub mod sweep;
pub mod target;
pub mod workload;

pub use output::Ui;
