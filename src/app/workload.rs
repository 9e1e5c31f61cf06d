//! A run's workload, ready before anything is sent: the dataset read (or the trace window
//! scanned) and validated, then checked against the model's context once the target has
//! said what it is. Every problem is a one-line error with exit code 2; `--skip-invalid`
//! turns bad lines and too-long prompts into counts instead.

use crate::error::Error;
use crate::schedule::Load;
use crate::spec::validate::{LoadConfig, SourceConfig, WorkloadConfig};
use crate::util::Rng;
use crate::workload::dataset::{Dataset, DatasetOptions};
use crate::workload::facts::{SessionFacts, SharedPrefixFacts, TraceFacts, WorkloadInfo};
use crate::workload::trace;
use crate::workload::{Source, Tokenizer, TraceSource, Workload};
use std::sync::Arc;

/// Build the workload: read the dataset, or scan the trace's window (at most `requests` of
/// it), validating every line.
pub fn build(
    cfg: &WorkloadConfig,
    seed: u64,
    tokenizer: Tokenizer,
    chat: bool,
    load: &LoadConfig,
) -> Result<Workload, Error> {
    let w = Workload::new(cfg.input.clone(), cfg.output.clone(), seed, tokenizer.clone())
        .map_err(Error::usage)?
        .with_chat(chat)
        .with_sessions(cfg.sessions.clone());
    let source = match &cfg.source {
        SourceConfig::Synthetic => Source::Synthetic,
        SourceConfig::SharedPrefix(sp) => Source::SharedPrefix(sp.clone()),
        SourceConfig::Dataset(d) => {
            let opts = DatasetOptions {
                format: d.format,
                chat,
                min_input_tokens: d.min_input_tokens,
                max_input_tokens: d.max_input_tokens,
                skip_invalid: cfg.skip_invalid,
                order: d.order,
                seed,
            };
            let data = Dataset::load(&d.path, &tokenizer, &opts).map_err(Error::usage)?;
            Source::Dataset {
                data: Arc::new(data),
                output: d.output.clone(),
            }
        }
        SourceConfig::Trace(t) => {
            let scan = trace::scan(&t.path, &t.opts, load.requests).map_err(Error::usage)?;
            if scan.requests == 0 {
                return Err(Error::usage(no_requests(&t.path, &t.opts, &scan)));
            }
            Source::Trace(TraceSource {
                path: t.path.clone(),
                opts: t.opts.clone(),
                speed: t.speed,
                scan,
            })
        }
    };
    Ok(w.with_source(source))
}

fn no_requests(path: &std::path::Path, o: &trace::TraceOptions, s: &trace::TraceScan) -> String {
    let window = match o.end_us {
        Some(e) => format!("[{}s, {}s)", o.start_us as f64 / 1e6, e as f64 / 1e6),
        None => format!("[{}s, end)", o.start_us as f64 / 1e6),
    };
    let c = &s.counts;
    let mut parts = vec![format!("{} read", c.read)];
    for (n, what) in [
        (c.filtered_out, "outside the window"),
        (c.skipped_invalid, "invalid"),
        (c.skipped_too_long, "longer than the model's context"),
        (c.unusable, "recorded with 0 output tokens"),
    ] {
        if n > 0 {
            parts.push(format!("{n} {what}"));
        }
    }
    format!(
        "--trace {}: no request in the window {window} ({})",
        path.display(),
        parts.join(", ")
    )
}

/// Apply the model's context (prompt + output tokens, when the target lists it): a longer
/// dataset prompt, trace request or shared prefix is an error naming its line, or is skipped
/// and counted under `--skip-invalid`.
pub fn limit_context(
    w: &mut Workload,
    context: Option<u32>,
    skip_invalid: bool,
    requests: Option<u64>,
) -> Result<(), Error> {
    let Some(ctx) = context else { return Ok(()) };
    match &mut w.source {
        Source::Synthetic => {}
        Source::SharedPrefix(sp) => {
            if sp.prefix_tokens >= ctx {
                return Err(Error::usage(format!(
                    "--prefix-tokens {} is not shorter than the model's context of {ctx} tokens",
                    sp.prefix_tokens
                )));
            }
        }
        Source::Dataset { data, .. } => {
            let mut d = (**data).clone();
            d.limit_context(ctx, skip_invalid).map_err(Error::usage)?;
            *data = Arc::new(d);
        }
        Source::Trace(t) => {
            if t.scan.max_total <= ctx {
                return Ok(());
            }
            if !skip_invalid {
                return Err(Error::usage(format!(
                    "{}:{}: input + output of {} tokens exceeds the model's context of {ctx} tokens (--skip-invalid skips such requests)",
                    t.path.display(),
                    t.scan.max_total_line,
                    t.scan.max_total
                )));
            }
            t.opts.max_total_tokens = Some(ctx);
            t.scan = trace::scan(&t.path, &t.opts, requests).map_err(Error::usage)?;
            if t.scan.requests == 0 {
                return Err(Error::usage(no_requests(&t.path, &t.opts, &t.scan)));
            }
        }
    }
    Ok(())
}

/// The number of measured requests a trace replay sends (its window, within `--requests`).
pub fn trace_requests(w: &Workload) -> Option<u64> {
    match &w.source {
        Source::Trace(t) => Some(t.scan.requests),
        _ => None,
    }
}

/// The workload's facts for `run.json` and the summary.
pub fn facts(w: &Workload, load: &LoadConfig) -> WorkloadInfo {
    let mut info = WorkloadInfo {
        source: w.source.kind().to_string(),
        ..Default::default()
    };
    match &w.source {
        Source::Synthetic => {}
        Source::Dataset { data, output } => {
            info.file = Some(data.path.display().to_string());
            info.format = Some(data.format.name().to_string());
            info.input = Some(data.counts.clone());
            info.dataset_output_tokens = output.as_ref().map(|d| d.spec.clone());
        }
        Source::SharedPrefix(sp) => {
            info.shared_prefix = Some(SharedPrefixFacts {
                groups: sp.groups,
                prompts_per_group: sp.prompts_per_group,
                prefix_tokens: sp.prefix_tokens,
                suffix_tokens: sp.suffix.spec.clone(),
            });
            info.expected_prefix_reuse = shared_prefix_reuse(w, load);
        }
        Source::Trace(t) => {
            let s = &t.scan;
            info.file = Some(t.path.display().to_string());
            info.format = s.format.map(|f| f.name().to_string());
            info.input = Some(s.counts.clone());
            let recorded = s.recorded_rate();
            info.trace = Some(TraceFacts {
                requests: s.requests,
                window_start_s: t.opts.start_us as f64 / 1e6,
                window_end_s: t.opts.end_us.map(|e| e as f64 / 1e6),
                first_s: s.first_us as f64 / 1e6,
                last_s: s.last_us as f64 / 1e6,
                recorded_rate: recorded,
                speed: t.speed,
                offered_rate: recorded.map(|r| r * t.speed),
                input_tokens: s.input_tokens,
                output_tokens: s.output_tokens,
                untimed: matches!(load.load, Load::Closed { .. }),
            });
            info.expected_prefix_reuse = s.reusable_fraction();
        }
    }
    if let Some(p) = &w.sessions {
        info.sessions = Some(SessionFacts {
            users: p.users,
            turns: p.turns,
            think_time_ms: p.think_ms.to_string(),
            messages: if matches!(w.source, Source::Dataset { .. }) {
                "dataset".into()
            } else {
                "synthetic".into()
            },
        });
    }
    info
}

/// Σ prefix tokens of measured requests whose group already had a request / Σ their input
/// tokens: the sharing built into a shared-prefix workload (suffix lengths drawn as the
/// workload draws them).
fn shared_prefix_reuse(w: &Workload, load: &LoadConfig) -> Option<f64> {
    let Source::SharedPrefix(sp) = &w.source else {
        return None;
    };
    let n = load.requests?;
    if n > 1_000_000 {
        return None;
    }
    let (mut reused, mut total) = (0u64, 0u64);
    let groups = u64::from(sp.groups);
    for i in load.warmup..load.warmup + n {
        let mut rng = Rng::stream(w.seed, i.wrapping_add(1));
        let suffix = u64::from(sp.suffix.sample(&mut rng));
        let prefix = u64::from(sp.prefix_tokens);
        total += prefix + suffix;
        if i >= groups {
            reused += prefix;
        }
    }
    (total > 0).then(|| reused as f64 / total as f64)
}
