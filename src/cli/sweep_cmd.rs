//! `infermeter sweep`: a series of full benchmarks (stages) over request rates (open loop)
//! or concurrency levels (closed loop), each with its own records and summary, then the
//! saturation point (`metrics::saturation`), the operating point, and — with `--slo` — the
//! highest load whose SLO attainment reaches the target, found by bisection with repeated
//! trials and reported with its uncertainty. Writes `OUT/sweep.json` and a console table.

use super::bench::{self, StageOutcome};
use super::{BenchArgs, CliError, SweepArgs};
use crate::metrics::saturation::{operating_point, saturation, StagePoint};
use crate::report::Summary;
use crate::util::{unix_now_s, utc_strings};
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Rate,
    Concurrency,
}

impl Mode {
    fn key(self) -> &'static str {
        match self {
            Mode::Rate => "rate",
            Mode::Concurrency => "concurrency",
        }
    }
}

fn parse_list(flag: &str, s: &str) -> Result<Vec<f64>, CliError> {
    let v: Result<Vec<f64>, _> = s.split(',').map(|x| x.trim().parse::<f64>()).collect();
    match v {
        Ok(v) if !v.is_empty() && v.iter().all(|x| x.is_finite() && *x > 0.0) => Ok(v),
        _ => Err(CliError::usage(format!(
            "invalid --{flag} '{s}': expected positive numbers like 1,2,4"
        ))),
    }
}

struct Stage {
    load: f64,
    dir: PathBuf,
    summary: Summary,
}

async fn run_at(base: &BenchArgs, mode: Mode, load: f64, dir: &Path, seed: u64) -> Result<Stage, CliError> {
    let mut a = base.clone();
    match mode {
        Mode::Rate => {
            a.load.rate = Some(load);
            a.load.concurrency = None;
        }
        Mode::Concurrency => {
            a.load.concurrency = Some(load.round().max(1.0) as usize);
            a.load.rate = None;
        }
    }
    a.out = Some(dir.to_path_buf());
    a.silent = true;
    a.no_progress = true;
    a.seed = seed;
    let st = bench::run_stage(a).await?;
    // A stage stopped early (Ctrl-C, circuit breaker) ends the sweep with that stage's code.
    if let Some(mut e) = st.stop_error() {
        let what = st.stopped.as_ref().map(|s| s.reason()).unwrap_or_default();
        e.message = format!("stage at {} {load} stopped: {what}", mode.key());
        return Err(e);
    }
    let StageOutcome { summary, out, .. } = st;
    Ok(Stage {
        load,
        dir: out,
        summary,
    })
}

fn point(s: &Stage) -> StagePoint {
    let m = &s.summary.metrics;
    let total = m.requests.total.max(1) as f64;
    let rising = !s.summary.steady_state.detected
        && s.summary
            .steady_state
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("overloaded"));
    StagePoint {
        load: s.load,
        output_tps: m.throughput.output_tokens_per_s,
        ttft_p50_ms: m.latency_ms.ttft.p50,
        error_rate: m.requests.failed as f64 / total,
        latency_rising: rising,
    }
}

fn attainment(s: &Summary) -> Option<f64> {
    s.goodput.as_ref().map(|g| g.attainment)
}

fn table(mode: Mode, stages: &[Stage]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>11} {:>9} {:>10} {:>9} {:>9} {:>9} {:>9} {:>10} {:>8} {:>9}",
        mode.key(),
        "req/s",
        "out tok/s",
        "TTFT p50",
        "TTFT p99",
        "TPOT p50",
        "TPOT p99",
        "goodput/s",
        "SLO ok",
        "$/1M out"
    );
    for s in stages {
        let m = &s.summary.metrics;
        let l = &m.latency_ms;
        let g = s.summary.goodput.as_ref();
        let _ = writeln!(
            out,
            "{:>11.2} {:>9.2} {:>10.1} {:>9.1} {:>9.1} {:>9.2} {:>9.2} {:>10} {:>8} {:>9}",
            s.load,
            m.throughput.requests_per_s,
            m.throughput.output_tokens_per_s,
            l.ttft.p50,
            l.ttft.p99,
            l.tpot.p50,
            l.tpot.p99,
            g.map(|g| format!("{:.2}", g.requests_per_s))
                .unwrap_or_else(|| "-".into()),
            g.map(|g| format!("{:.1}%", g.attainment * 100.0))
                .unwrap_or_else(|| "-".into()),
            s.summary
                .cost
                .as_ref()
                .and_then(|c| c.per_million_output_tokens)
                .map(|c| format!("{c:.4}"))
                .unwrap_or_else(|| "-".into()),
        );
    }
    out
}

pub async fn run(a: SweepArgs) -> Result<u8, CliError> {
    if a.bench.load.rate.is_some() || a.bench.load.concurrency.is_some() {
        return Err(CliError::usage(
            "sweep sets the load per stage: use --rates or --concurrencies instead of --rate/--concurrency",
        ));
    }
    if !(0.0..=1.0).contains(&a.operating_fraction) || a.operating_fraction == 0.0 {
        return Err(CliError::usage("--operating-fraction must be in (0, 1]"));
    }
    if !(0.0..=1.0).contains(&a.attainment_target) {
        return Err(CliError::usage("--attainment-target must be in [0, 1]"));
    }
    if a.trials == 0 || a.stages == 0 {
        return Err(CliError::usage("--trials and --stages must be at least 1"));
    }
    // Validate the shared bench flags once, up front, with a stage load filled in.
    let mut probe_args = a.bench.clone();
    probe_args.load.concurrency = Some(1);
    bench::validate(&probe_args)?;

    let root = a.bench.out.clone().unwrap_or_else(|| {
        let (stamp, _) = utc_strings(unix_now_s());
        PathBuf::from("results").join(format!("sweep-{stamp}"))
    });
    std::fs::create_dir_all(&root).map_err(|e| CliError::failed(format!("cannot create {}: {e}", root.display())))?;
    let seed = a.bench.seed;

    let (mode, loads, probe) = match (&a.rates, &a.concurrencies) {
        (Some(_), Some(_)) => return Err(CliError::usage("give either --rates or --concurrencies, not both")),
        (Some(r), None) => (Mode::Rate, parse_list("rates", r)?, None),
        (None, Some(c)) => (Mode::Concurrency, parse_list("concurrencies", c)?, None),
        (None, None) => {
            eprintln!(
                "sweep: closed-loop probe at concurrency {} for the maximum throughput",
                a.probe_concurrency
            );
            let p = run_at(
                &a.bench,
                Mode::Concurrency,
                a.probe_concurrency as f64,
                &root.join("probe"),
                seed,
            )
            .await?;
            let max_rps = p.summary.metrics.throughput.requests_per_s;
            if max_rps <= 0.0 {
                return Err(CliError::failed("the probe completed no request; cannot choose rates"));
            }
            let n = a.stages;
            let loads = (1..=n).map(|i| 1.2 * max_rps * i as f64 / n as f64).collect();
            (Mode::Rate, loads, Some((a.probe_concurrency, max_rps)))
        }
    };

    let mut stages = Vec::new();
    for (i, load) in loads.iter().enumerate() {
        let dir = root.join(format!("stage-{:02}-{}-{load}", i + 1, mode.key()));
        let st = run_at(&a.bench, mode, *load, &dir, seed).await?;
        let m = &st.summary.metrics;
        eprintln!(
            "sweep: stage {}/{} {} {load:.2}: output {:.1} tok/s, TTFT p50 {:.1} ms p99 {:.1} ms, {} failed{}",
            i + 1,
            loads.len(),
            mode.key(),
            m.throughput.output_tokens_per_s,
            m.latency_ms.ttft.p50,
            m.latency_ms.ttft.p99,
            m.requests.failed,
            attainment(&st.summary)
                .map(|x| format!(", SLO attainment {:.1}%", x * 100.0))
                .unwrap_or_default()
        );
        stages.push(st);
    }

    let points: Vec<StagePoint> = stages.iter().map(point).collect();
    let sat = saturation(&points);
    let op = sat.as_ref().map(|s| operating_point(s, a.operating_fraction));

    // Highest load meeting the attainment target: bracket from the stages, then bisect with
    // repeated trials (each a full benchmark with its own seed).
    let mut search = Value::Null;
    if a.bench.slo.is_some() {
        let mut sorted: Vec<(f64, f64)> = stages
            .iter()
            .filter_map(|s| attainment(&s.summary).map(|x| (s.load, x)))
            .collect();
        sorted.sort_by(|x, y| x.0.total_cmp(&y.0));
        let ok = |x: f64| x >= a.attainment_target;
        let lo = sorted.iter().take_while(|(_, x)| ok(*x)).last().map(|p| p.0);
        let hi = sorted.iter().find(|(_, x)| !ok(*x)).map(|p| p.0);
        let mut trials_log = Vec::new();
        match (lo, hi) {
            (None, _) => {
                search = json!({"found": false, "reason": "no stage met the attainment target", "target": a.attainment_target});
            }
            (Some(l), None) => {
                search = json!({"found": true, "load": l, mode.key(): l, "lower_bound_only": true, "uncertainty": Value::Null,
                    "reason": "every stage met the target: the maximum is at least the highest load tested", "target": a.attainment_target});
            }
            (Some(mut l), Some(mut h)) => {
                for step in 0..a.search_steps {
                    let mid = if mode == Mode::Concurrency {
                        ((l + h) / 2.0).round()
                    } else {
                        (l + h) / 2.0
                    };
                    if mid <= l || mid >= h {
                        break;
                    }
                    let mut atts = Vec::new();
                    for t in 0..a.trials {
                        let dir = root.join(format!("search-{:02}-{}-{mid:.3}-trial{}", step + 1, mode.key(), t + 1));
                        let st = run_at(&a.bench, mode, mid, &dir, seed.wrapping_add(1 + t as u64)).await?;
                        atts.push(attainment(&st.summary).unwrap_or(0.0));
                    }
                    let mean = atts.iter().sum::<f64>() / atts.len() as f64;
                    eprintln!(
                        "sweep: search {} {mid:.2}: attainment {:?} (mean {:.1}%)",
                        mode.key(),
                        atts,
                        mean * 100.0
                    );
                    trials_log.push(json!({"load": mid, "attainments": atts, "mean": mean}));
                    if ok(mean) {
                        l = mid;
                    } else {
                        h = mid;
                    }
                }
                search = json!({"found": true, "load": l, mode.key(): l, "lower_bound_only": false,
                    "uncertainty": (h - l) / 2.0, "bracket": [l, h], "target": a.attainment_target, "trials": trials_log});
            }
        }
    }

    let load_obj = |load: f64, extra: Value| {
        let mut v = json!({"load": load, mode.key(): load});
        if let (Value::Object(m), Value::Object(e)) = (&mut v, extra) {
            m.extend(e);
        }
        v
    };
    let sweep = json!({
        "schema_version": 1,
        "mode": mode.key(),
        "probe": probe.map(|(c, r)| json!({"concurrency": c, "max_requests_per_s": r})),
        "stages": stages.iter().map(|s| json!({
            mode.key(): s.load, "load": s.load, "dir": s.dir.display().to_string(), "summary": s.summary,
        })).collect::<Vec<_>>(),
        "saturation": sat.as_ref().map(|s| load_obj(s.load, json!({
            "output_tokens_per_s": s.output_tokens_per_s, "first_saturated_load": s.first_saturated_load,
            "peak_output_tokens_per_s": s.peak_output_tokens_per_s, "reason": s.reason,
        }))),
        "operating_point": op.as_ref().map(|o| load_obj(o.load, json!({"fraction": o.fraction}))),
        "max_goodput": search,
    });
    let path = root.join("sweep.json");
    crate::report::write_json(&path, &sweep)?;

    print!("{}", table(mode, &stages));
    match &sat {
        Some(s) => {
            println!(
                "\nsaturation: {} {:.2} ({:.1} output tok/s; peak {:.1}) — {}",
                mode.key(),
                s.load,
                s.output_tokens_per_s,
                s.peak_output_tokens_per_s,
                s.reason
            );
            if let Some(o) = &op {
                println!(
                    "operating point: {} {:.2} ({:.0}% of saturation)",
                    mode.key(),
                    o.load,
                    o.fraction * 100.0
                );
            }
        }
        None => println!(
            "\nsaturation: not reached — throughput kept growing without queueing or errors up to the highest load"
        ),
    }
    if let Some(f) = search.get("found").and_then(Value::as_bool) {
        if f {
            println!(
                "max load meeting {:.0}% SLO attainment: {} {:.2}{}",
                a.attainment_target * 100.0,
                mode.key(),
                search["load"].as_f64().unwrap_or(0.0),
                search["uncertainty"]
                    .as_f64()
                    .map(|u| format!(" ± {u:.2}"))
                    .unwrap_or_else(|| " (lower bound)".into())
            );
        } else {
            println!("max goodput: {}", search["reason"].as_str().unwrap_or(""));
        }
    }
    println!("\nsweep: {}", path.display());
    Ok(0)
}
