//! `infermeter sweep`: a series of full benchmarks (stages) over request rates (open loop)
//! or concurrency levels (closed loop), each with its own records and summary, then the
//! saturation point (`metrics::saturation`), the operating point, and — with an SLO — the
//! highest load whose SLO attainment reaches the target, found by bisection with repeated
//! trials and reported with its uncertainty. Writes `OUT/sweep.json` and a console table.

use super::bench::{self, StageOutcome};
use super::output::Ui;
use crate::error::Error;
use crate::metrics::saturation::{operating_point, saturation, StagePoint};
use crate::report::server::saturation_signals;
use crate::report::Summary;
use crate::sim::timing::prediction_band;
use crate::spec::validate::{self, SweepConfig, SweepMode as Mode};
use crate::spec::{RunSpec, SweepSpec};
use crate::telemetry::exporter::LiveSender;
use crate::telemetry::session::TelemetryConfig;
use infermeter_perfmodel::Metric;
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

struct Stage {
    load: f64,
    dir: PathBuf,
    summary: Summary,
}

/// The specification of one stage: the sweep's template at this load, seed and directory.
/// A trace's rate stages replay it at the speed that offers `load` requests/s (its recorded
/// rate being `trace_rate`); sessions' concurrency stages set the number of users.
pub fn stage_spec(base: &RunSpec, mode: Mode, load: f64, dir: &Path, seed: u64, trace_rate: Option<f64>) -> RunSpec {
    let mut s = base.clone();
    let sessions = s.workload.sessions.users.is_some();
    match mode {
        Mode::Rate if s.workload.trace.path.is_some() => {
            s.workload.trace.speed = load / trace_rate.unwrap_or(load).max(f64::MIN_POSITIVE);
            s.load.rate = None;
            s.load.concurrency = None;
        }
        Mode::Rate => {
            s.load.rate = Some(load);
            s.load.concurrency = None;
        }
        Mode::Concurrency if sessions => {
            s.workload.sessions.users = Some(load.round().max(1.0) as u32);
            s.load.concurrency = None;
            s.load.rate = None;
        }
        Mode::Concurrency => {
            s.load.concurrency = Some(load.round().max(1.0) as usize);
            s.load.rate = None;
        }
    }
    s.output.dir = Some(dir.to_path_buf());
    s.seed = seed;
    s
}

async fn run_at(
    base: &RunSpec,
    ui: Ui,
    (mode, load, trace_rate): (Mode, f64, Option<f64>),
    dir: &Path,
    seed: u64,
    live: Option<&LiveSender>,
) -> Result<Stage, Error> {
    let cfg = validate::bench(&stage_spec(base, mode, load, dir, seed, trace_rate))?;
    let st = bench::run_stage_with(&cfg, ui, live.cloned()).await?;
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

/// What every stage of one sweep shares.
struct Ctx<'a> {
    base: &'a RunSpec,
    ui: Ui,
    root: PathBuf,
    seed: u64,
    /// The live exporter all stages feed (`--prometheus-listen`).
    live: Option<LiveSender>,
    /// The recorded request rate of the trace being swept, if any.
    trace_rate: Option<f64>,
}

impl Ctx<'_> {
    async fn at(&self, mode: Mode, load: f64, dir: &str, seed: u64) -> Result<Stage, Error> {
        run_at(
            self.base,
            self.ui,
            (mode, load, self.trace_rate),
            &self.root.join(dir),
            seed,
            self.live.as_ref(),
        )
        .await
    }

    /// The loads to run: the given list, or (automatic mode) a closed-loop probe for the
    /// maximum request rate, then `stages` rates up to 1.2× of it.
    async fn loads(&self, c: &SweepConfig) -> Result<(Mode, Vec<f64>, Option<(usize, f64)>), Error> {
        if let Some((mode, loads)) = &c.loads {
            return Ok((*mode, loads.clone(), None));
        }
        let conc = c.sweep.probe_concurrency;
        eprintln!("sweep: closed-loop probe at concurrency {conc} for the maximum throughput");
        let p = self.at(Mode::Concurrency, conc as f64, "probe", self.seed).await?;
        let max_rps = p.summary.metrics.throughput.requests_per_s;
        if max_rps <= 0.0 {
            return Err(Error::failed("the probe completed no request; cannot choose rates"));
        }
        let n = c.sweep.stages;
        let loads = (1..=n).map(|i| 1.2 * max_rps * i as f64 / n as f64).collect();
        Ok((Mode::Rate, loads, Some((conc, max_rps))))
    }

    async fn stages(&self, mode: Mode, loads: &[f64]) -> Result<Vec<Stage>, Error> {
        let mut stages = Vec::new();
        for (i, load) in loads.iter().enumerate() {
            let st = self
                .at(
                    mode,
                    *load,
                    &format!("stage-{:02}-{}-{load}", i + 1, mode.key()),
                    self.seed,
                )
                .await?;
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
        Ok(stages)
    }

    /// Highest load meeting the attainment target: bracket from the stages, then bisect with
    /// repeated trials (each a full benchmark with its own seed).
    async fn max_goodput(&self, sw: &SweepSpec, mode: Mode, stages: &[Stage]) -> Result<Value, Error> {
        let mut sorted: Vec<(f64, f64)> = stages
            .iter()
            .filter_map(|s| attainment(&s.summary).map(|x| (s.load, x)))
            .collect();
        sorted.sort_by(|x, y| x.0.total_cmp(&y.0));
        let target = sw.attainment_target;
        let ok = |x: f64| x >= target;
        let lo = sorted.iter().take_while(|(_, x)| ok(*x)).last().map(|p| p.0);
        let hi = sorted.iter().find(|(_, x)| !ok(*x)).map(|p| p.0);
        let (mut l, mut h) = match (lo, hi) {
            (None, _) => {
                return Ok(json!({"found": false, "reason": "no stage met the attainment target", "target": target}))
            }
            (Some(l), None) => {
                return Ok(
                    json!({"found": true, "load": l, mode.key(): l, "lower_bound_only": true, "uncertainty": Value::Null,
                    "reason": "every stage met the target: the maximum is at least the highest load tested", "target": target}),
                )
            }
            (Some(l), Some(h)) => (l, h),
        };
        let mut trials_log = Vec::new();
        for step in 0..sw.search_steps {
            let mid = if mode == Mode::Concurrency {
                ((l + h) / 2.0).round()
            } else {
                (l + h) / 2.0
            };
            if mid <= l || mid >= h {
                break;
            }
            let mut atts = Vec::new();
            for t in 0..sw.trials {
                let dir = format!("search-{:02}-{}-{mid:.3}-trial{}", step + 1, mode.key(), t + 1);
                let st = self.at(mode, mid, &dir, self.seed.wrapping_add(1 + t as u64)).await?;
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
        Ok(
            json!({"found": true, "load": l, mode.key(): l, "lower_bound_only": false,
            "uncertainty": (h - l) / 2.0, "bracket": [l, h], "target": target, "trials": trials_log}),
        )
    }
}

/// The recorded rate of the sweep's trace window (read once, before any stage).
fn trace_rate(base: &RunSpec) -> Result<Option<f64>, Error> {
    if base.workload.trace.path.is_none() {
        return Ok(None);
    }
    let mut probe = base.clone();
    probe.load.concurrency = Some(1);
    let cfg = validate::bench(&probe)?;
    let tok = crate::workload::Tokenizer::load(&cfg.workload.tokenizer).map_err(Error::usage)?;
    let w = super::workload::build(&cfg.workload, cfg.seed, tok, false, &cfg.load)?;
    let facts = super::workload::facts(&w, &cfg.load);
    Ok(facts.trace.and_then(|t| t.recorded_rate))
}

/// Run a sweep: the stages, the saturation and operating points, the max-goodput search;
/// writes `sweep.json` and prints the table. Returns the exit code.
pub async fn run(c: &SweepConfig, ui: Ui) -> Result<u8, Error> {
    let root = c.out.clone();
    std::fs::create_dir_all(&root).map_err(|e| Error::failed(format!("cannot create {}: {e}", root.display())))?;
    // The sweep's own specification, so `sweep --config OUT/run.json` reruns it.
    let mut whole = c.stage_spec.clone();
    whole.sweep = Some(c.sweep.clone());
    crate::report::write_json(&root.join("run.json"), &crate::spec::file::for_run_json(&whole))?;
    // One live exporter for the whole sweep (its counters run across the stages).
    let tele = TelemetryConfig::from_spec(&c.stage_spec).map_err(Error::usage)?;
    let exporter = bench::start_exporter(&tele, ui)?;
    let ctx = Ctx {
        live: exporter.as_ref().map(|e| e.sender()),
        base: &c.stage_spec,
        // Stages print nothing; each may show its progress bar.
        ui: Ui {
            progress: ui.progress && !ui.quiet,
            ..Ui::SILENT
        },
        root: root.clone(),
        seed: c.stage_spec.seed,
        trace_rate: trace_rate(&c.stage_spec)?,
    };
    let result = sweep(c, ui, &ctx, &root).await;
    if let Some(e) = exporter {
        bench::finish_exporter(e, &tele, ui).await;
    }
    result
}

async fn sweep(c: &SweepConfig, ui: Ui, ctx: &Ctx<'_>, root: &Path) -> Result<u8, Error> {
    let (mode, loads, probe) = ctx.loads(c).await?;
    if mode == Mode::Rate && c.stage_spec.workload.trace.path.is_some() && ctx.trace_rate.is_none() {
        return Err(Error::usage(
            "the trace window has no recorded rate (fewer than two request times): sweep it with --concurrencies",
        ));
    }
    let stages = ctx.stages(mode, &loads).await?;
    let points: Vec<StagePoint> = stages.iter().map(point).collect();
    let sat = saturation(&points);
    // What the server said at the first saturated stage: queue growth, preemptions, KV full.
    let server_at_knee = sat.as_ref().and_then(|s| {
        stages
            .iter()
            .find(|st| st.load == s.first_saturated_load)
            .and_then(|st| saturation_signals(&st.summary))
    });
    let server_reasons = server_at_knee.as_ref().map(|g| g.explain()).unwrap_or_default();
    let op = sat.as_ref().map(|s| operating_point(s, c.sweep.operating_fraction));
    let search = if c.has_slo {
        ctx.max_goodput(&c.sweep, mode, &stages).await?
    } else {
        Value::Null
    };
    let prediction = sat
        .as_ref()
        .and_then(|s| predicted_band(&stages, s.output_tokens_per_s, s.peak_output_tokens_per_s));
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
            "server_signals": saturation_signals(&s.summary),
        })).collect::<Vec<_>>(),
        "saturation": sat.as_ref().map(|s| load_obj(s.load, json!({
            "output_tokens_per_s": s.output_tokens_per_s, "first_saturated_load": s.first_saturated_load,
            "peak_output_tokens_per_s": s.peak_output_tokens_per_s, "reason": s.reason,
            "server_signals": server_at_knee, "server_reasons": server_reasons,
            "prediction_band": prediction,
        }))),
        "operating_point": op.as_ref().map(|o| load_obj(o.load, json!({"fraction": o.fraction}))),
        "max_goodput": search,
    });
    let path = root.join("sweep.json");
    crate::report::write_json(&path, &sweep)?;
    if ui.quiet {
        println!("{}", path.display());
    } else {
        print!("{}", console(mode, &stages, &sweep, c.sweep.attainment_target));
        println!("\nsweep: {}", path.display());
    }
    Ok(0)
}

/// When the stages ran against the embedded simulated engine, the sweep's throughput figures
/// are predictions of a real deployment: at the hardware's pace (the measured figure × the
/// engine's time scale, since a time scale multiplies every simulated duration), with their
/// uncertainty bands from the simulator's held-out validation (`sim::timing::prediction_band`).
/// `None` against a real server or the fixed-timing simulator (which models no hardware).
fn predicted_band(stages: &[Stage], saturation_tps: f64, peak_tps: f64) -> Option<Value> {
    let run = &stages.first()?.summary.run;
    if !(run.embedded_sim && run.sim_engine.is_some()) {
        return None;
    }
    let scale = run.sim_time_scale.unwrap_or(1.0);
    let band = |measured: f64| {
        let v = measured * scale;
        let b = prediction_band(Metric::Throughput, v);
        json!({"value": v, "low": b.low, "high": b.high})
    };
    Some(json!({
        "coverage": infermeter_perfmodel::BAND_COVERAGE,
        "time_scale": scale,
        "output_tokens_per_s": band(saturation_tps),
        "peak_output_tokens_per_s": band(peak_tps),
    }))
}

/// The console summary: the stage table, saturation, operating point, max goodput.
fn console(mode: Mode, stages: &[Stage], sweep: &Value, attainment_target: f64) -> String {
    let mut out = table(mode, stages);
    let sat = &sweep["saturation"];
    if sat.is_object() {
        let f = |k: &str| sat[k].as_f64().unwrap_or(0.0);
        let _ = writeln!(
            out,
            "\nsaturation: {} {:.2} ({:.1} output tok/s; peak {:.1}) — {}",
            mode.key(),
            f("load"),
            f("output_tokens_per_s"),
            f("peak_output_tokens_per_s"),
            sat["reason"].as_str().unwrap_or("")
        );
        let band = &sat["prediction_band"];
        if band.is_object() {
            let b = |k: &str, e: &str| band[k][e].as_f64().unwrap_or(0.0);
            let scale = band["time_scale"].as_f64().unwrap_or(1.0);
            let pace = if scale == 1.0 {
                String::new()
            } else {
                format!(" at the hardware's pace (time scale {scale}: the figures above × {scale})")
            };
            let _ = writeln!(
                out,
                "simulated engine: a prediction{pace}; saturation throughput {:.1} tok/s ({:.0}% band {:.1}–{:.1}), peak {:.1} ({:.1}–{:.1}) (held-out errors, docs/simulator.md)",
                b("output_tokens_per_s", "value"),
                band["coverage"].as_f64().unwrap_or(0.0) * 100.0,
                b("output_tokens_per_s", "low"),
                b("output_tokens_per_s", "high"),
                b("peak_output_tokens_per_s", "value"),
                b("peak_output_tokens_per_s", "low"),
                b("peak_output_tokens_per_s", "high"),
            );
        }
        let why: Vec<&str> = sat["server_reasons"]
            .as_array()
            .map(|v| v.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if !why.is_empty() {
            let _ = writeln!(
                out,
                "server at {} {:.2}: {}",
                mode.key(),
                f("first_saturated_load"),
                why.join(", ")
            );
        }
        let op = &sweep["operating_point"];
        if op.is_object() {
            let _ = writeln!(
                out,
                "operating point: {} {:.2} ({:.0}% of saturation)",
                mode.key(),
                op["load"].as_f64().unwrap_or(0.0),
                op["fraction"].as_f64().unwrap_or(0.0) * 100.0
            );
        }
    } else {
        let _ = writeln!(
            out,
            "\nsaturation: not reached — throughput kept growing without queueing or errors up to the highest load"
        );
    }
    let search = &sweep["max_goodput"];
    match search.get("found").and_then(Value::as_bool) {
        Some(true) => {
            let _ = writeln!(
                out,
                "max load meeting {:.0}% SLO attainment: {} {:.2}{}",
                attainment_target * 100.0,
                mode.key(),
                search["load"].as_f64().unwrap_or(0.0),
                search["uncertainty"]
                    .as_f64()
                    .map(|u| format!(" ± {u:.2}"))
                    .unwrap_or_else(|| " (lower bound)".into())
            );
        }
        Some(false) => {
            let _ = writeln!(out, "max goodput: {}", search["reason"].as_str().unwrap_or(""));
        }
        None => {}
    }
    out
}
