//! The prompt sources of a run specification (`[workload.dataset]`, `[workload.trace]`,
//! `[workload.shared_prefix]`, `[workload.sessions]`), checked and turned into typed
//! configurations: at most one of a dataset, a trace and shared-prefix groups; sessions with
//! synthetic or dataset user messages; options of an absent source refused. Files are not
//! read here (the application layer reads them before the run, `app::workload`).

use super::RunSpec;
use crate::error::Error;
use crate::util::parse_duration;
use crate::workload::dataset::{DatasetFormat, Order};
use crate::workload::dist::ValueDist;
use crate::workload::sessions::SessionPlan;
use crate::workload::trace::{TraceFormat, TraceOptions};
use crate::workload::{LengthDist, SharedPrefix};
use std::path::PathBuf;

fn usage(msg: impl Into<String>) -> Error {
    Error::usage(msg)
}

/// Where prompts come from, validated.
#[derive(Debug, Clone)]
pub enum SourceConfig {
    Synthetic,
    Dataset(DatasetConfig),
    Trace(TraceConfig),
    SharedPrefix(SharedPrefix),
}

/// `workload.dataset`, validated.
#[derive(Debug, Clone)]
pub struct DatasetConfig {
    pub path: PathBuf,
    /// `None`: detect.
    pub format: Option<DatasetFormat>,
    pub order: Order,
    pub min_input_tokens: Option<u32>,
    pub max_input_tokens: Option<u32>,
    /// `None`: each entry's own output length.
    pub output: Option<LengthDist>,
}

/// `workload.trace`, validated.
#[derive(Debug, Clone)]
pub struct TraceConfig {
    pub path: PathBuf,
    /// Format, block size and window (`max_total_tokens` is set once the model's context is
    /// known).
    pub opts: TraceOptions,
    pub speed: f64,
}

/// The `[workload.*]` sources: at most one of dataset, trace and shared prefix; sessions
/// with synthetic or dataset user messages. Options of an absent source are refused.
pub fn source(spec: &RunSpec) -> Result<(SourceConfig, Option<SessionPlan>), Error> {
    use super::{DatasetSpec, SessionsSpec, SharedPrefixSpec, TraceSpec};
    let w = &spec.workload;
    let given: Vec<&str> = [
        (w.dataset.path.is_some(), "--dataset"),
        (w.trace.path.is_some(), "--trace"),
        (w.shared_prefix.groups.is_some(), "--prefix-groups"),
    ]
    .into_iter()
    .filter_map(|(on, name)| on.then_some(name))
    .collect();
    if given.len() > 1 {
        return Err(usage(format!("give one prompt source, not {}", given.join(" and "))));
    }
    let orphan = |what: &str, needs: &str| usage(format!("{what} options need {needs}"));
    if w.dataset.path.is_none() && w.dataset != DatasetSpec::default() {
        return Err(orphan("--dataset-*", "--dataset FILE"));
    }
    if w.trace.path.is_none() && w.trace != TraceSpec::default() {
        return Err(orphan("--trace-*", "--trace FILE"));
    }
    if w.shared_prefix.groups.is_none() && w.shared_prefix != SharedPrefixSpec::default() {
        return Err(orphan(
            "Shared-prefix (--prompts-per-group, --prefix-tokens, --suffix-tokens)",
            "--prefix-groups N",
        ));
    }
    if w.sessions.users.is_none() && w.sessions != SessionsSpec::default() {
        return Err(orphan("Session (--turns, --think-time-ms)", "--users N"));
    }
    let count = |v: u32, flag: &str| -> Result<u32, Error> {
        if v == 0 {
            return Err(usage(format!("{flag} must be at least 1")));
        }
        Ok(v)
    };
    let sessions = match w.sessions.users {
        None => None,
        Some(u) => {
            if w.trace.path.is_some() || w.shared_prefix.groups.is_some() {
                return Err(usage(
                    "sessions (--users) build their turns from synthetic text or a --dataset, not from --trace or --prefix-groups",
                ));
            }
            Some(SessionPlan {
                users: count(u, "--users")?,
                turns: count(w.sessions.turns, "--turns")?,
                think_ms: ValueDist::parse(&w.sessions.think_time_ms)
                    .map_err(|e| usage(format!("--think-time-ms: {e}")))?,
            })
        }
    };
    let d = &w.dataset;
    if let Some(path) = &d.path {
        if let (Some(lo), Some(hi)) = (d.min_input_tokens, d.max_input_tokens) {
            if lo > hi {
                return Err(usage("--dataset-min-input-tokens is above --dataset-max-input-tokens"));
            }
        }
        let output = match d.output_tokens.as_str() {
            "file" => None,
            other => {
                Some(LengthDist::parse(other).map_err(|e| usage(format!("--dataset-output-tokens: {e} (or 'file')")))?)
            }
        };
        return Ok((
            SourceConfig::Dataset(DatasetConfig {
                path: path.clone(),
                format: DatasetFormat::parse(&d.format).map_err(usage)?,
                order: Order::parse(&d.order).map_err(usage)?,
                min_input_tokens: d.min_input_tokens,
                max_input_tokens: d.max_input_tokens,
                output,
            }),
            sessions,
        ));
    }
    let t = &w.trace;
    if let Some(path) = &t.path {
        if !(t.speed.is_finite() && t.speed > 0.0) {
            return Err(usage(format!("invalid --trace-speed '{}': must be > 0", t.speed)));
        }
        let offset = |flag: &str, v: &Option<String>| -> Result<Option<i64>, Error> {
            v.as_deref()
                .map(|x| {
                    parse_duration(x)
                        .map(|d| d.as_micros().min(i64::MAX as u128) as i64)
                        .map_err(|e| usage(format!("--{flag}: {e}")))
                })
                .transpose()
        };
        let start = offset("trace-start", &t.start)?.unwrap_or(0);
        let end = offset("trace-end", &t.end)?;
        if end.is_some_and(|e| e <= start) {
            return Err(usage("--trace-end must be after --trace-start"));
        }
        return Ok((
            SourceConfig::Trace(TraceConfig {
                path: path.clone(),
                opts: TraceOptions {
                    format: TraceFormat::parse(&t.format).map_err(usage)?,
                    block_size: count(t.block_size, "--trace-block-size")?,
                    skip_invalid: w.skip_invalid,
                    start_us: start,
                    end_us: end,
                    max_total_tokens: None,
                },
                speed: t.speed,
            }),
            sessions,
        ));
    }
    let sp = &w.shared_prefix;
    if let Some(g) = sp.groups {
        return Ok((
            SourceConfig::SharedPrefix(SharedPrefix {
                groups: count(g, "--prefix-groups")?,
                prompts_per_group: count(sp.prompts_per_group, "--prompts-per-group")?,
                prefix_tokens: count(sp.prefix_tokens, "--prefix-tokens")?,
                suffix: LengthDist::parse(&sp.suffix_tokens).map_err(|e| usage(format!("--suffix-tokens: {e}")))?,
            }),
            sessions,
        ));
    }
    Ok((SourceConfig::Synthetic, sessions))
}
