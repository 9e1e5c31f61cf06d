//! The run's description for `run.json` and `summary.json` (`RunInfo`): the validated
//! settings in the flat form reports print, plus the facts only known once the run starts
//! (resolved model and URL, start time, command line, what was simulated).

use crate::report::RunInfo;
use crate::schedule::{Arrival, Load};
use crate::spec::file::for_run_json;
use crate::spec::validate::LoadConfig;
use crate::spec::RunSpec;
use crate::util::{unix_now_s, utc_strings};
use std::path::Path;

/// The load fields of a `RunInfo`.
pub fn with_load(mut info: RunInfo, l: &LoadConfig) -> RunInfo {
    info.load_mode = match l.load {
        Load::Closed { .. } => "closed".into(),
        // A trace replay is an open loop whose schedule was recorded.
        Load::Open { .. } | Load::Trace { .. } => "open".into(),
    };
    match l.load {
        Load::Trace { max_concurrency } => {
            info.max_concurrency = max_concurrency;
            info.arrival = Some("trace".into());
        }
        Load::Closed { concurrency } => info.concurrency = Some(concurrency),
        Load::Open {
            rate,
            arrival,
            max_concurrency,
        } => {
            info.request_rate = Some(rate);
            info.max_concurrency = max_concurrency;
            info.arrival = Some(match arrival {
                Arrival::Poisson => "poisson".into(),
                Arrival::Constant => "constant".into(),
                Arrival::Gamma(k) => format!("gamma(burstiness={k})"),
            });
        }
    }
    info.requests = l.requests;
    info.duration_s = l.duration.map(|d| d.as_secs_f64());
    info.warmup = l.warmup;
    info.steady_skip_start_s = l.steady_skip_start_s;
    info
}

/// The fields every command shares: workload, judging, start time and command line.
pub fn common(spec: &RunSpec, slo: Option<crate::metrics::slo::Slo>, price: Option<(f64, f64)>) -> RunInfo {
    let (_, started_at) = utc_strings(unix_now_s());
    RunInfo {
        seed: spec.seed,
        input_tokens: spec.workload.input_tokens.clone(),
        output_tokens: spec.workload.output_tokens.clone(),
        ignore_eos: spec.workload.ignore_eos,
        started_at,
        command: redacted_command(std::env::args()),
        slo,
        gpu_cost_per_hour: price.map(|p| p.0),
        gpus: price.map(|p| p.1),
        steady_cooldown: spec.load.cooldown.clone(),
        ..RunInfo::default()
    }
}

/// Write `run.json`: the specification (header values redacted) with the run's facts under
/// `run`, so `--config run.json` reruns it.
pub fn write_run_json(dir: &Path, spec: &RunSpec, info: &RunInfo) -> anyhow::Result<()> {
    let mut s = for_run_json(spec);
    s.run = Some(info.clone());
    crate::report::write_json(&dir.join("run.json"), &s)
}

/// The run's description from a `run.json`: the `run` facts of a specification, or a
/// `run.json` of an earlier version (the description alone).
pub fn read_run_json(path: &Path) -> Option<RunInfo> {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    match v.get("run") {
        Some(run) => serde_json::from_value(run.clone()).ok(),
        None => serde_json::from_value(v).ok(),
    }
}

/// The command line for `run.json`, with `--header` values replaced: headers often carry
/// credentials, and nothing secret may reach an output file.
pub fn redacted_command(args: impl Iterator<Item = String>) -> Vec<String> {
    let mut out = Vec::new();
    let mut redact_next = false;
    for a in args {
        if redact_next {
            let name = a.split_once(':').map(|(k, _)| k.trim()).unwrap_or("header");
            out.push(format!("{name}: <redacted>"));
            redact_next = false;
        } else if a == "--header" || a == "-H" {
            redact_next = true;
            out.push(a);
        } else if let Some(v) = a.strip_prefix("--header=") {
            let name = v.split_once(':').map(|(k, _)| k.trim()).unwrap_or("header");
            out.push(format!("--header={name}: <redacted>"));
        } else {
            out.push(a);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_values_are_redacted() {
        let args = [
            "infermeter",
            "bench",
            "-H",
            "Authorization: Bearer sk-1",
            "--header=X-Key: abc",
            "--model",
            "m",
        ];
        let r = redacted_command(args.iter().map(|s| s.to_string()));
        let joined = r.join(" ");
        assert!(!joined.contains("sk-1") && !joined.contains("abc"), "{joined}");
        assert!(joined.contains("Authorization: <redacted>") && joined.contains("--model m"));
    }
}
