//! From flags to a run specification: start from a config file (or the defaults), write
//! each flag the user typed at its specification key, and check the result once.
//!
//! [`KEYS`] is the one table from flag to key; `docs/config.md` lists it for users, and a
//! test checks that every flag of every command is either in it or declared command-line
//! only ([`CLI_ONLY`]), so no flag is silently ignored.

use crate::error::Error;
use crate::spec::{file, RunSpec};
use clap::parser::ValueSource;
use clap::ArgMatches;
use serde_json::Value;
use std::path::Path;

/// How a flag's value becomes the key's value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum How {
    /// As is.
    Set,
    /// A `--no-X` switch: the key is `false` when the flag is given.
    Negate,
    /// A JSON object given as text.
    JsonObject,
    /// A comma-separated list of positive numbers.
    NumList,
    /// `K/N`: the key (`shard.index`) gets K and its sibling `count` gets N.
    IndexOfCount,
}

/// Flag id (the field name in `flags`) → specification key.
pub const KEYS: &[(&str, &str, How)] = &[
    ("url", "target.url", How::Set),
    ("model", "target.model", How::Set),
    ("api", "target.api", How::Set),
    ("endpoint", "target.endpoint", How::Set),
    ("no_stream", "target.stream", How::Negate),
    ("headers", "target.headers", How::Set),
    ("api_key_env", "target.api_key_env", How::Set),
    ("api_key_file", "target.api_key_file", How::Set),
    ("ca_cert", "target.ca_cert", How::Set),
    ("insecure", "target.insecure", How::Set),
    ("rx_timestamp", "target.rx_timestamp", How::Set),
    ("connect_timeout", "target.connect_timeout", How::Set),
    ("first_byte_timeout", "target.first_byte_timeout", How::Set),
    ("idle_timeout", "target.idle_timeout", How::Set),
    ("request_timeout", "target.request_timeout", How::Set),
    ("concurrency", "load.concurrency", How::Set),
    ("rate", "load.rate", How::Set),
    ("arrival", "load.arrival", How::Set),
    ("burstiness", "load.burstiness", How::Set),
    ("max_concurrency", "load.max_concurrency", How::Set),
    ("requests", "load.requests", How::Set),
    ("duration", "load.duration", How::Set),
    ("warmup", "load.warmup", How::Set),
    ("cooldown", "load.cooldown", How::Set),
    ("input_tokens", "workload.input_tokens", How::Set),
    ("output_tokens", "workload.output_tokens", How::Set),
    ("tokenizer", "workload.tokenizer", How::Set),
    ("seed", "seed", How::Set),
    ("no_ignore_eos", "workload.ignore_eos", How::Negate),
    ("no_continuous_usage", "workload.continuous_usage", How::Negate),
    ("temperature", "workload.temperature", How::Set),
    ("extra_body", "workload.extra_body", How::JsonObject),
    ("skip_invalid", "workload.skip_invalid", How::Set),
    ("dataset", "workload.dataset.path", How::Set),
    ("dataset_format", "workload.dataset.format", How::Set),
    ("dataset_order", "workload.dataset.order", How::Set),
    (
        "dataset_min_input_tokens",
        "workload.dataset.min_input_tokens",
        How::Set,
    ),
    (
        "dataset_max_input_tokens",
        "workload.dataset.max_input_tokens",
        How::Set,
    ),
    ("dataset_output_tokens", "workload.dataset.output_tokens", How::Set),
    ("trace", "workload.trace.path", How::Set),
    ("trace_format", "workload.trace.format", How::Set),
    ("trace_speed", "workload.trace.speed", How::Set),
    ("trace_start", "workload.trace.start", How::Set),
    ("trace_end", "workload.trace.end", How::Set),
    ("trace_block_size", "workload.trace.block_size", How::Set),
    ("prefix_groups", "workload.shared_prefix.groups", How::Set),
    (
        "prompts_per_group",
        "workload.shared_prefix.prompts_per_group",
        How::Set,
    ),
    ("prefix_tokens", "workload.shared_prefix.prefix_tokens", How::Set),
    ("suffix_tokens", "workload.shared_prefix.suffix_tokens", How::Set),
    ("users", "workload.sessions.users", How::Set),
    ("turns", "workload.sessions.turns", How::Set),
    ("think_time_ms", "workload.sessions.think_time_ms", How::Set),
    ("slo", "slo", How::Set),
    ("sla", "sla", How::Set),
    ("server_metrics", "telemetry.server_metrics", How::Set),
    ("server_metrics_interval", "telemetry.server_metrics_interval", How::Set),
    ("gpu_telemetry", "telemetry.gpu_telemetry", How::Set),
    ("prometheus_listen", "telemetry.prometheus_listen", How::Set),
    ("prometheus_linger", "telemetry.prometheus_linger", How::Set),
    ("gpu_cost_per_hour", "cost.gpu_cost_per_hour", How::Set),
    ("price_gpu", "cost.price_gpu", How::Set),
    ("gpus", "cost.gpus", How::Set),
    ("max_error_rate", "reliability.max_error_rate", How::Set),
    ("error_window", "reliability.error_window", How::Set),
    ("retry", "reliability.retry", How::Set),
    ("retry_backoff", "reliability.retry_backoff", How::Set),
    ("drain_timeout", "reliability.drain_timeout", How::Set),
    ("out", "output.dir", How::Set),
    ("csv", "output.csv", How::Set),
    ("no_html", "output.html", How::Negate),
    ("sim_mode", "sim.mode", How::Set),
    ("sim_model", "sim.served_model", How::Set),
    ("sim_model_preset", "sim.model_preset", How::Set),
    ("sim_model_config", "sim.model_config", How::Set),
    ("sim_gpu", "sim.gpu", How::Set),
    ("sim_tp", "sim.tp", How::Set),
    ("sim_weights_dtype", "sim.weights_dtype", How::Set),
    ("sim_kv_dtype", "sim.kv_dtype", How::Set),
    ("sim_max_num_seqs", "sim.max_num_seqs", How::Set),
    ("sim_max_num_batched_tokens", "sim.max_num_batched_tokens", How::Set),
    ("sim_max_model_len", "sim.max_model_len", How::Set),
    ("sim_no_chunked_prefill", "sim.chunked_prefill", How::Negate),
    ("sim_no_prefix_caching", "sim.prefix_caching", How::Negate),
    ("sim_scheduler", "sim.scheduler", How::Set),
    ("sim_engine_profile", "sim.engine_profile", How::Set),
    ("sim_num_scheduler_steps", "sim.num_scheduler_steps", How::Set),
    ("sim_time_scale", "sim.time_scale", How::Set),
    ("sim_ttft_ms", "sim.ttft_ms", How::Set),
    ("sim_itl_ms", "sim.itl_ms", How::Set),
    ("sim_prefill_us_per_token", "sim.prefill_us_per_token", How::Set),
    ("sim_tokens_per_chunk", "sim.tokens_per_chunk", How::Set),
    ("fault", "sim.faults", How::Set),
    ("fault_stall_ms", "sim.fault_stall_ms", How::Set),
    ("fault_delay_ms", "sim.fault_delay_ms", How::Set),
    ("rates", "sweep.rates", How::NumList),
    ("concurrencies", "sweep.concurrencies", How::NumList),
    ("stages", "sweep.stages", How::Set),
    ("probe_concurrency", "sweep.probe_concurrency", How::Set),
    ("operating_fraction", "sweep.operating_fraction", How::Set),
    ("attainment_target", "sweep.attainment_target", How::Set),
    ("trials", "sweep.trials", How::Set),
    ("search_steps", "sweep.search_steps", How::Set),
    ("shard", "shard.index", How::IndexOfCount),
    ("shards", "shard.count", How::Set),
    ("start_at", "shard.start_at", How::Set),
];

/// Flags that steer the command line itself and are not part of a run specification.
pub const CLI_ONLY: &[&str] = &[
    "config",
    "print_config",
    "no_progress",
    "quiet",
    "list_presets",
    "host",
    "port",
    "write_log",
    "image",
    "name",
    "namespace",
    "start_in",
    "storage",
    "storage_class",
    "volume_access",
    "cpu",
    "memory",
    "api_key_secret",
    "sim_server",
    "out_dir",
    "help",
    "version",
];

/// The flags that fix a fixed-timing server.
const FIXED_TIMING: &[&str] = &["sim_ttft_ms", "sim_itl_ms", "sim_prefill_us_per_token"];

/// Ids of the flags typed on the command line (not defaulted).
pub fn given(m: &ArgMatches) -> Vec<String> {
    m.ids()
        .map(|id| id.as_str().to_string())
        .filter(|id| m.value_source(id) == Some(ValueSource::CommandLine))
        .collect()
}

/// The specification: `config` (or the defaults), with every flag in `typed` written over
/// it. `values` holds every flag's value by id (the flag structs, serialized).
pub fn spec_from(config: Option<&Path>, typed: &[String], values: &Value) -> Result<RunSpec, Error> {
    let (mut tree, source) = match config {
        Some(p) => (file::read_tree(p).map_err(Error::usage)?, p.display().to_string()),
        None => (file::tree_of(&RunSpec::default()), "the command line".to_string()),
    };
    let is = |id: &str| typed.iter().any(|t| t == id);
    // A URL typed on the command line replaces a file's embedded server.
    if is("url") && !typed.iter().any(|t| t.starts_with("sim_") || t.starts_with("fault")) {
        if let Value::Object(m) = &mut tree {
            m.remove("sim");
        }
    }
    for id in typed {
        let Some((_, key, how)) = KEYS.iter().find(|(f, _, _)| f == id) else {
            continue;
        };
        let v = values.get(id.as_str()).cloned().unwrap_or(Value::Null);
        if *how == How::IndexOfCount {
            let shard = crate::shard::Shard::parse(v.as_str().unwrap_or_default()).map_err(Error::usage)?;
            let count_key = format!("{}.count", key.rsplit_once('.').map_or("", |(p, _)| p));
            file::set(&mut tree, key, Value::from(shard.index));
            file::set(&mut tree, &count_key, Value::from(shard.count));
            continue;
        }
        let v = convert(id, *how, v)?;
        file::set(&mut tree, key, v);
    }
    if FIXED_TIMING.iter().any(|f| is(f)) {
        if is("sim_mode") && file::get(&tree, "sim.mode") != Some(&Value::from("fixed")) {
            return Err(Error::usage(
                "--sim-ttft-ms/--sim-itl-ms/--sim-prefill-us-per-token need --sim-mode fixed",
            ));
        }
        file::set(&mut tree, "sim.mode", Value::from("fixed"));
    }
    file::to_spec(tree, &source).map_err(Error::usage)
}

fn convert(id: &str, how: How, v: Value) -> Result<Value, Error> {
    let flag = format!("--{}", id.replace('_', "-"));
    Ok(match how {
        How::Set | How::IndexOfCount => v,
        How::Negate => Value::Bool(!v.as_bool().unwrap_or(false)),
        How::JsonObject => {
            let text = v.as_str().unwrap_or_default();
            match serde_json::from_str::<Value>(text) {
                Ok(o @ Value::Object(_)) => o,
                _ => {
                    return Err(Error::usage(format!(
                        "{flag} must be a JSON object, e.g. '{{\"top_p\": 0.9}}'"
                    )))
                }
            }
        }
        How::NumList => {
            let text = v.as_str().unwrap_or_default();
            let nums: Result<Vec<f64>, _> = text.split(',').map(|x| x.trim().parse::<f64>()).collect();
            match nums {
                Ok(n) if !n.is_empty() && n.iter().all(|x| x.is_finite() && *x > 0.0) => Value::from(n),
                _ => {
                    return Err(Error::usage(format!(
                        "invalid {flag} '{text}': expected positive numbers like 1,2,4"
                    )))
                }
            }
        }
    })
}
