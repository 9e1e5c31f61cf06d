//! Runs the simulated engine over the validation corpus and compares the
//! results with the published numbers. Shared by `examples/validate.rs` (which
//! prints and rewrites the table) and `tests/validation.rs` (which checks the
//! held-out statistics); it needs `infermeter-engine`, a dev-dependency of this
//! crate, which is why it is not part of the library.

#![allow(dead_code)]

use std::collections::HashMap;

use infermeter_engine::{Engine, EngineConfig, Request, StepShape as EngineShape, StepTimer};
use infermeter_perfmodel::validation::{Corpus, ErrorStats, HeldOut, Load, Metric, Point, Split, Stat};
use infermeter_perfmodel::{Deployment, EngineProfile, ServingPlan, ServingSettings, StepShape};

/// Prices engine steps with a deployment.
struct Timer<'a>(&'a Deployment);

impl StepTimer for Timer<'_> {
    fn step_time_s(&self, s: &EngineShape) -> f64 {
        self.0.step_time_s(&StepShape {
            prefill: s.prefill,
            decode: s.decode,
        })
    }
}

/// The outcome of one corpus point.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Point id.
    pub id: String,
    /// Fit or held-out.
    pub split: Split,
    /// `(metric, published, simulated)`; simulated is NaN when the point could not be simulated.
    pub metrics: Vec<(Metric, f64, f64)>,
    /// Why the point could not be simulated.
    pub failure: Option<String>,
}

impl Outcome {
    /// Signed errors `(metric, simulated/published − 1)`; a point that could not
    /// be simulated counts as a 100 % error on each of its metrics.
    pub fn errors(&self) -> Vec<(Metric, f64)> {
        self.metrics
            .iter()
            .map(|&(m, p, s)| (m, if s.is_finite() { s / p - 1.0 } else { 1.0 }))
            .collect()
    }
}

/// Simulated metrics of a point.
#[derive(Debug, Clone, Copy)]
pub struct Simulated {
    /// Output tokens per second.
    pub throughput: f64,
    /// TTFT statistic, ms.
    pub ttft_ms: f64,
    /// TPOT statistic, ms.
    pub tpot_ms: f64,
}

/// Parameter values to try instead of the shipped ones (used by the fitting
/// example): `gpu.<preset>.{memory,compute,attention,allreduce}`,
/// `profile.<name>.{step_s,per_seq_s,per_prefill_seq_s,frontend_s,frontend_per_token_s}`,
/// `moe_layer_overhead_s`, `moe_compute`, `fp8_compute`.
pub type Overrides = HashMap<String, f64>;

/// Builds the deployment and engine configuration of a point with the
/// shipped parameters.
pub fn build(p: &Point) -> Result<(Deployment, EngineConfig), String> {
    build_with(p, &Overrides::new())
}

/// [`build`] with parameter overrides.
pub fn build_with(p: &Point, ov: &Overrides) -> Result<(Deployment, EngineConfig), String> {
    let profile: EngineProfile = p.profile.parse().map_err(|e| format!("{e}"))?;
    let mut d = Deployment::from_presets(&p.model, &p.gpu).map_err(|e| e.to_string())?;
    let g = |k: &str| ov.get(&format!("gpu.{}.{k}", p.gpu)).copied();
    if let Some(v) = g("memory") {
        d.gpu.memory_efficiency = v;
        d.efficiency.memory = v;
    }
    if let Some(v) = g("compute") {
        d.gpu.compute_efficiency = v;
        d.efficiency.compute = v;
    }
    if let Some(v) = g("attention") {
        d.gpu.attention_efficiency = v;
        d.efficiency.attention = v;
    }
    if let Some(v) = g("allreduce") {
        d.gpu.allreduce_latency_s = v;
        d.efficiency.allreduce_latency_s = v;
    }
    for (k, f) in [
        ("moe_layer_overhead_s", &mut d.efficiency.moe_layer_overhead_s),
        ("moe_compute", &mut d.efficiency.moe_compute),
        ("fp8_compute", &mut d.efficiency.fp8_compute),
    ] {
        if let Some(v) = ov.get(k) {
            *f = *v;
        }
    }
    d = d
        .with_weights_dtype(p.weights.parse().map_err(|e| format!("{e}"))?)
        .with_kv_dtype(p.kv.parse().map_err(|e| format!("{e}"))?)
        .with_tp(p.tp)
        .map_err(|e| e.to_string())?;
    let settings = ServingSettings {
        profile,
        max_num_seqs: p.args.max_num_seqs,
        max_num_batched_tokens: p.args.max_num_batched_tokens,
        max_model_len: p.args.max_model_len,
        chunked_prefill: true,
        scheduler_steps: p.args.scheduler_steps.unwrap_or(1),
        gpu_memory_utilization: p.args.gpu_memory_utilization,
        num_gpu_blocks: p.args.num_gpu_blocks,
        block_size: 16,
    };
    let mut plan = ServingPlan::resolve(&mut d, &settings).map_err(|e| e.to_string())?;
    let h = |k: &str| ov.get(&format!("profile.{}.{k}", profile.name())).copied();
    let kk = f64::from(settings.scheduler_steps);
    if let Some(v) = h("step_s") {
        d.efficiency.fixed_overhead_s = v / kk;
    }
    if let Some(v) = h("per_seq_s") {
        d.efficiency.per_seq_overhead_s = v / kk;
    }
    if let Some(v) = h("per_prefill_seq_s") {
        d.efficiency.per_prefill_seq_overhead_s = v;
    }
    if let Some(v) = h("frontend_s") {
        plan.frontend_s = v;
    }
    if let Some(v) = h("frontend_per_token_s") {
        plan.frontend_per_token_s = v;
    }
    let cfg = engine_config(&plan);
    cfg.validate().map_err(|e| e.to_string())?;
    Ok((d, cfg))
}

/// The engine configuration of a resolved plan (the same field copy as the
/// product's `EngineSpec::build`).
pub fn engine_config(plan: &ServingPlan) -> EngineConfig {
    EngineConfig {
        max_num_batched_tokens: plan.max_num_batched_tokens,
        max_num_seqs: plan.max_num_seqs,
        block_size: plan.block_size,
        num_gpu_blocks: plan.num_gpu_blocks,
        enable_chunked_prefill: plan.chunked_prefill,
        max_model_len: plan.max_model_len,
        prefill_first: plan.prefill_first,
        scheduler_steps: plan.scheduler_steps,
        frontend_s: plan.frontend_s,
        frontend_per_token_s: plan.frontend_per_token_s,
        ..EngineConfig::default()
    }
}

/// Per-request timings from a run.
struct Run {
    arrival: Vec<f64>,
    first: Vec<f64>,
    finish: Vec<f64>,
    rejected: usize,
}

/// Drives the engine through the point's load.
fn drive(p: &Point, d: &Deployment, cfg: EngineConfig, reqs: &[(u32, u32)]) -> Result<Run, String> {
    let max_len = cfg.max_model_len;
    let timer = Timer(d);
    let mut eng = Engine::try_new(cfg, timer).map_err(|e| e.to_string())?;
    let n = reqs.len();
    let mut run = Run {
        arrival: vec![f64::NAN; n],
        first: vec![f64::NAN; n],
        finish: vec![f64::NAN; n],
        rejected: 0,
    };
    // A request the client counted with 0 output tokens still made the engine
    // produce one (end-of-sequence) token.
    let make = |i: usize, t: f64| {
        let (input, out) = reqs[i];
        let input = input.clamp(1, max_len.saturating_sub(2).max(1));
        let mut r = Request::new(i as u64, t, input, out.max(1));
        r.ends_with_eos = true;
        r
    };
    let closed = match p.load {
        Load::Concurrency { value } => Some(value.max(1) as usize),
        _ => None,
    };
    let mut next = 0usize;
    let mut live = 0usize;
    let submit = |eng: &mut Engine<Timer>, i: usize, t: f64, run: &mut Run| {
        run.arrival[i] = t;
        match eng.add_request(make(i, t)) {
            Ok(()) => true,
            Err(_) => {
                run.rejected += 1;
                false
            }
        }
    };
    match closed {
        Some(c) => {
            while next < n.min(c) {
                if submit(&mut eng, next, 0.0, &mut run) {
                    live += 1;
                }
                next += 1;
            }
        }
        None => {
            let arr = p.arrivals(n).ok_or("no arrivals")?;
            for (i, &t) in arr.iter().enumerate() {
                submit(&mut eng, i, t, &mut run);
            }
            next = n;
        }
    }
    let mut guard = 0u64;
    loop {
        guard += 1;
        if guard > 50_000_000 {
            return Err("simulation did not finish".into());
        }
        match eng.step() {
            Some(rep) => {
                for t in &rep.tokens {
                    let i = t.id as usize;
                    if t.index == 0 {
                        run.first[i] = t.time_s;
                    }
                }
                for f in &rep.finished {
                    let i = f.id as usize;
                    run.finish[i] = f.time_s;
                    if closed.is_some() {
                        live -= 1;
                        while next < n && live < closed.unwrap_or(1) {
                            if submit(&mut eng, next, f.time_s, &mut run) {
                                live += 1;
                            }
                            next += 1;
                        }
                    }
                }
            }
            None => match eng.next_arrival() {
                Some(t) => eng.advance_to(t),
                None => {
                    if !eng.has_work() {
                        break;
                    }
                    return Err("engine stalled".into());
                }
            },
        }
    }
    Ok(run)
}

/// Simulates one point with the shipped parameters.
pub fn simulate(p: &Point) -> Result<Simulated, String> {
    simulate_with(p, &Overrides::new())
}

/// Simulates one point with parameter overrides.
pub fn simulate_with(p: &Point, ov: &Overrides) -> Result<Simulated, String> {
    let (d, cfg) = build_with(p, ov)?;
    let reqs = p.requests();
    let run = drive(p, &d, cfg, &reqs)?;
    if run.rejected * 10 > reqs.len() {
        return Err(format!("{} of {} requests refused", run.rejected, reqs.len()));
    }
    let zero_empty = p.empty_output_ttft_zero();
    let mut ttft = Vec::new();
    let mut tpot = Vec::new();
    let mut tokens = 0.0;
    let mut start = f64::INFINITY;
    let mut end: f64 = 0.0;
    for (i, &(_, out)) in reqs.iter().enumerate() {
        if !run.finish[i].is_finite() {
            continue;
        }
        start = start.min(run.arrival[i]);
        end = end.max(run.finish[i]);
        tokens += f64::from(out);
        let t = (run.first[i] - run.arrival[i]) * 1e3;
        ttft.push(if zero_empty && out == 0 { 0.0 } else { t });
        if out >= 2 {
            tpot.push((run.finish[i] - run.first[i]) * 1e3 / f64::from(out - 1));
        }
    }
    let stat = |s: Option<Stat>| s.unwrap_or(Stat::Mean);
    Ok(Simulated {
        throughput: tokens / (end - start).max(1e-9),
        ttft_ms: stat(p.published.ttft_ms.map(|s| s.stat)).of(&ttft),
        tpot_ms: stat(p.published.tpot_ms.map(|s| s.stat)).of(&tpot),
    })
}

/// Simulates every point.
pub fn run_corpus(c: &Corpus) -> Vec<Outcome> {
    run_points(&c.points, &Overrides::new())
}

/// Simulates the given points with parameter overrides.
pub fn run_points(points: &[Point], ov: &Overrides) -> Vec<Outcome> {
    points
        .iter()
        .map(|p| {
            let sim = simulate_with(p, ov);
            let mut metrics = Vec::new();
            for m in Metric::ALL {
                if let Some(v) = p.published(m) {
                    let s = match &sim {
                        Ok(s) => match m {
                            Metric::Throughput => s.throughput,
                            Metric::Ttft => s.ttft_ms,
                            Metric::Tpot => s.tpot_ms,
                        },
                        Err(_) => f64::NAN,
                    };
                    metrics.push((m, v, s));
                }
            }
            Outcome {
                id: p.id.clone(),
                split: p.split(),
                metrics,
                failure: sim.err(),
            }
        })
        .collect()
}

/// Error statistics per metric over the outcomes of one split.
pub fn stats(outcomes: &[Outcome], split: Split) -> HashMap<Metric, ErrorStats> {
    let mut e: HashMap<Metric, Vec<f64>> = HashMap::new();
    for o in outcomes.iter().filter(|o| o.split == split) {
        for (m, x) in o.errors() {
            e.entry(m).or_default().push(x);
        }
    }
    e.into_iter().map(|(m, v)| (m, ErrorStats::of(&v))).collect()
}

/// The held-out statistics file contents.
pub fn heldout(outcomes: &[Outcome]) -> HeldOut {
    let s = stats(outcomes, Split::HeldOut);
    let get = |m| {
        s.get(&m).copied().unwrap_or(ErrorStats {
            n: 0,
            median_abs: f64::NAN,
            p90_abs: f64::NAN,
            q10: 0.0,
            q90: 0.0,
        })
    };
    HeldOut {
        points: outcomes.iter().filter(|o| o.split == Split::HeldOut).count(),
        throughput: get(Metric::Throughput),
        ttft: get(Metric::Ttft),
        tpot: get(Metric::Tpot),
    }
}

fn fmt_v(m: Metric, v: f64) -> String {
    if !v.is_finite() {
        return "n/a".into();
    }
    match m {
        Metric::Throughput => format!("{v:.1} tok/s"),
        _ if v >= 100.0 => format!("{v:.0} ms"),
        _ => format!("{v:.2} ms"),
    }
}

/// The Markdown validation table (every point, then the statistics).
pub fn table(c: &Corpus, outcomes: &[Outcome]) -> String {
    let mut s = String::new();
    s.push_str("| # | point | engine | setup | split | metric | published | simulated | error |\n");
    s.push_str("|---|---|---|---|---|---|---|---|---|\n");
    for (k, (p, o)) in c.points.iter().zip(outcomes).enumerate() {
        let setup = format!(
            "{} {}×{} {}/{}",
            p.model,
            p.tp,
            p.gpu,
            p.weights,
            if p.kv == "bf16" {
                "bf16 KV".to_string()
            } else {
                format!("{} KV", p.kv)
            }
        );
        for (j, ((m, pubv, simv), (_, e))) in o.metrics.iter().zip(o.errors()).enumerate() {
            let stat = match m {
                Metric::Throughput => String::new(),
                Metric::Ttft => p
                    .published
                    .ttft_ms
                    .map(|s| format!(" ({:?})", s.stat).to_lowercase())
                    .unwrap_or_default(),
                Metric::Tpot => p
                    .published
                    .tpot_ms
                    .map(|s| format!(" ({:?})", s.stat).to_lowercase())
                    .unwrap_or_default(),
            };
            let err = if simv.is_finite() {
                format!("{:+.0} %", e * 100.0)
            } else {
                "fails (counted as +100 %)".into()
            };
            if j == 0 {
                s.push_str(&format!(
                    "| {} | `{}` | {} {} ({}) | {} | {} | {}{} | {} | {} | {} |\n",
                    k + 1,
                    p.id,
                    p.engine,
                    p.version,
                    p.profile,
                    setup,
                    o.split.name(),
                    m,
                    stat,
                    fmt_v(*m, *pubv),
                    fmt_v(*m, *simv),
                    err
                ));
            } else {
                s.push_str(&format!(
                    "| | | | | | {}{} | {} | {} | {} |\n",
                    m,
                    stat,
                    fmt_v(*m, *pubv),
                    fmt_v(*m, *simv),
                    err
                ));
            }
        }
    }
    s.push('\n');
    s.push_str(&summary(outcomes));
    s
}

/// The statistics table: median and p90 |error| per metric and split.
pub fn summary(outcomes: &[Outcome]) -> String {
    let mut s = String::from("| split | metric | points | median abs. error | p90 abs. error | signed error 10th / 90th pct |\n|---|---|---|---|---|---|\n");
    for split in [Split::HeldOut, Split::Fit] {
        let st = stats(outcomes, split);
        for m in Metric::ALL {
            if let Some(e) = st.get(&m) {
                s.push_str(&format!(
                    "| {} | {} | {} | {:.0} % | {:.0} % | {:+.0} % / {:+.0} % |\n",
                    split.name(),
                    m,
                    e.n,
                    e.median_abs * 100.0,
                    e.p90_abs * 100.0,
                    e.q10 * 100.0,
                    e.q90 * 100.0
                ));
            }
        }
    }
    s
}
