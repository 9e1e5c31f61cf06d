//! The single integration-test binary (one link step on 2-core CI). Each module covers one
//! feature end to end through the real `infermeter` binary or the library's public API.

mod util;

mod bad_input;
mod bench_sim;
mod compare;
mod config;
mod faults;
mod goodput;
mod html;
mod measurement;
mod metric_audit;
mod parser_props;
mod plan;
mod real_server;
mod reliability;
mod replay;
mod shards;
mod sim_engine;
mod sweep;
mod telemetry;
mod telemetry_prometheus;
mod workloads;
