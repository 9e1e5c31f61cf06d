//! Fits the simulator's free parameters (the GPU efficiency table, the engine
//! profiles' host costs, the MoE and FP8 factors) on the **fit split** of the
//! validation corpus, and prints the values that `src/calibration.rs`,
//! `src/profile.rs` and `Efficiency::default` ship with.
//!
//! ```text
//! cargo run --release -p infermeter-perfmodel --example fit
//! ```
//!
//! Held-out points are never simulated here. The loss is the mean absolute
//! log ratio simulated/published over every (fit point, metric) pair, which
//! is robust to the few points no parameter setting explains. The search is a
//! bounded multiplicative coordinate descent from the seed values; each
//! parameter only re-simulates the points it can affect.

#[path = "../validation/harness.rs"]
mod harness;

use infermeter_perfmodel::validation::{Corpus, Point, Split};

/// A free parameter: key (see `harness::Overrides`), value, bounds, and the
/// seed value it starts from, which is also the centre of a weak log-normal
/// prior (keeps parameters the fit split cannot separate near plausible
/// values instead of letting them trade off freely).
struct Param {
    key: &'static str,
    value: f64,
    lo: f64,
    hi: f64,
    prior: f64,
    sigma: f64,
}

/// Width (in ln units) of the prior of a parameter.
fn sigma(key: &str) -> f64 {
    if key.ends_with(".allreduce") {
        0.7
    } else if key.starts_with("gpu.") {
        0.3
    } else if key.starts_with("profile.") {
        1.0
    } else {
        0.5
    }
}

/// Prior penalty per fit term.
fn penalty(params: &[Param], terms: usize) -> f64 {
    params
        .iter()
        .map(|p| 0.5 * ((p.value / p.prior).ln() / p.sigma).powi(2))
        .sum::<f64>()
        / terms as f64
}

const PARAMS: &[(&str, f64, f64, f64)] = &[
    // GPU table: η_m, η_c, η_a, all-reduce latency (s), for GPUs with fit points.
    ("gpu.h100-sxm.memory", 0.895, 0.5, 0.95),
    ("gpu.h100-sxm.compute", 0.6, 0.2, 0.9),
    ("gpu.h100-sxm.attention", 0.5, 0.15, 0.9),
    ("gpu.h100-sxm.allreduce", 10e-6, 2e-6, 200e-6),
    ("gpu.a100-80gb.memory", 0.86, 0.5, 0.95),
    ("gpu.a100-80gb.compute", 0.6, 0.2, 0.9),
    ("gpu.a100-80gb.attention", 0.5, 0.15, 0.9),
    ("gpu.a100-40gb.memory", 0.86, 0.5, 0.95),
    ("gpu.a100-40gb.compute", 0.6, 0.2, 0.9),
    ("gpu.rtx-4090.memory", 0.87, 0.5, 0.95),
    ("gpu.rtx-4090.compute", 0.6, 0.2, 0.9),
    ("gpu.rtx-pro-6000.memory", 0.85, 0.5, 0.95),
    ("gpu.rtx-pro-6000.compute", 0.6, 0.2, 0.9),
    ("gpu.rtx-pro-6000.allreduce", 30e-6, 2e-6, 500e-6),
    ("gpu.mi300x.memory", 0.8, 0.3, 0.95),
    ("gpu.mi300x.allreduce", 20e-6, 2e-6, 500e-6),
    // Engine profiles' host costs (s).
    ("profile.vllm-v1.step_s", 1.43e-3, 0.2e-3, 20e-3),
    ("profile.vllm-v1.per_seq_s", 5e-6, 0.1e-6, 500e-6),
    ("profile.vllm-v1.frontend_s", 2e-3, 0.1e-3, 100e-3),
    ("profile.vllm-v1.frontend_per_token_s", 2e-6, 0.01e-6, 100e-6),
    ("profile.vllm-0.6.step_s", 3e-3, 0.2e-3, 50e-3),
    ("profile.vllm-0.6.per_seq_s", 20e-6, 0.1e-6, 1e-3),
    ("profile.vllm-0.6.per_prefill_seq_s", 50e-6, 0.1e-6, 5e-3),
    ("profile.vllm-0.6.frontend_s", 2e-3, 0.1e-3, 100e-3),
    ("profile.vllm-0.5.step_s", 5e-3, 0.2e-3, 50e-3),
    // Global factors.
    ("moe_layer_overhead_s", 20e-6, 1e-6, 500e-6),
    ("moe_compute", 0.5, 0.05, 1.0),
    ("fp8_compute", 0.8, 0.2, 1.0),
];

/// Keys tied to another fitted key (not identifiable on their own from the fit split).
const TIED: &[(&str, &str)] = &[
    ("profile.vllm-0.5.per_seq_s", "profile.vllm-0.6.per_seq_s"),
    (
        "profile.vllm-0.5.per_prefill_seq_s",
        "profile.vllm-0.6.per_prefill_seq_s",
    ),
    ("profile.vllm-0.5.frontend_s", "profile.vllm-0.6.frontend_s"),
];

/// A candidate value, the per-point losses it gives, and its total loss.
type Trial = (f64, Vec<(f64, usize)>, f64);

fn affects(key: &str, p: &Point) -> bool {
    let moe = matches!(p.model.as_str(), "mixtral-8x7b" | "gpt-oss-20b");
    if let Some(rest) = key.strip_prefix("gpu.") {
        return rest.split('.').next() == Some(p.gpu.as_str());
    }
    if let Some(rest) = key.strip_prefix("profile.") {
        // Profile names contain dots ("vllm-0.6"): the field is after the last one.
        let prof = rest.rsplit_once('.').map_or("", |(a, _)| a);
        return prof == p.profile || (prof == "vllm-0.6" && p.profile == "vllm-0.5");
    }
    match key {
        "moe_layer_overhead_s" | "moe_compute" => moe,
        "fp8_compute" => p.weights == "fp8",
        _ => true,
    }
}

fn overrides(params: &[Param]) -> harness::Overrides {
    let mut ov: harness::Overrides = params.iter().map(|p| (p.key.to_string(), p.value)).collect();
    for (tied, to) in TIED {
        if let Some(v) = ov.get(*to).copied() {
            ov.insert(tied.to_string(), v);
        }
    }
    ov
}

/// Sum of |ln(sim/pub)| and the number of terms, for one point.
fn point_loss(p: &Point, ov: &harness::Overrides) -> (f64, usize) {
    let o = harness::run_points(std::slice::from_ref(p), ov).remove(0);
    let mut s = 0.0;
    for &(_, pubv, simv) in &o.metrics {
        s += if simv.is_finite() && simv > 0.0 {
            (simv / pubv).ln().abs()
        } else {
            3.0
        };
    }
    (s, o.metrics.len())
}

fn main() {
    let corpus = Corpus::shipped().expect("corpus");
    // SGLang points are simulated with the V1 profile but are another engine: they
    // stay out of the fit (their table rows are cross-engine checks).
    let fit: Vec<Point> = corpus
        .points
        .into_iter()
        .filter(|p| p.split() == Split::Fit && p.engine == "vllm")
        .collect();
    let mut params: Vec<Param> = PARAMS
        .iter()
        .map(|&(key, value, lo, hi)| Param {
            key,
            value,
            lo,
            hi,
            prior: value,
            sigma: sigma(key),
        })
        .collect();
    let mut losses: Vec<(f64, usize)> = fit.iter().map(|p| point_loss(p, &overrides(&params))).collect();
    let data = |l: &[(f64, usize)]| {
        let (s, n) = l.iter().fold((0.0, 0usize), |a, b| (a.0 + b.0, a.1 + b.1));
        (s / n as f64, n)
    };
    let total = |l: &[(f64, usize)], ps: &[Param]| {
        let (d, n) = data(l);
        d + penalty(ps, n)
    };
    eprintln!(
        "start: mean |ln(sim/pub)| = {:.4} over {} fit points",
        data(&losses).0,
        fit.len()
    );
    for round in 0..6 {
        let step: f64 = [2.0, 1.5, 1.25, 1.12, 1.06, 1.03][round];
        for i in 0..params.len() {
            let idx: Vec<usize> = (0..fit.len()).filter(|&j| affects(params[i].key, &fit[j])).collect();
            if idx.is_empty() {
                continue;
            }
            loop {
                let base = params[i].value;
                let total_now = total(&losses, &params);
                let mut best: Option<Trial> = None;
                for f in [step, 1.0 / step] {
                    let v = (base * f).clamp(params[i].lo, params[i].hi);
                    if v == base {
                        continue;
                    }
                    params[i].value = v;
                    let ov = overrides(&params);
                    let mut trial = losses.clone();
                    for &j in &idx {
                        trial[j] = point_loss(&fit[j], &ov);
                    }
                    let t = total(&trial, &params);
                    if t < total_now - 1e-9 && best.as_ref().is_none_or(|b| t < b.2) {
                        best = Some((v, trial, t));
                    }
                    params[i].value = base;
                }
                match best {
                    Some((v, trial, _)) => {
                        params[i].value = v;
                        losses = trial;
                    }
                    None => break,
                }
            }
        }
        eprintln!(
            "round {round} (step x{step}): data {:.4}, with prior {:.4}",
            data(&losses).0,
            total(&losses, &params)
        );
    }
    println!(
        "# fitted on {} fit points; mean |ln(sim/pub)| = {:.4} (prior penalty {:.4})",
        fit.len(),
        data(&losses).0,
        penalty(&params, data(&losses).1)
    );
    for p in &params {
        println!("{} = {:.6e}", p.key, p.value);
    }
    if std::env::args().any(|a| a == "--table") {
        let ov = overrides(&params);
        let outs = harness::run_points(&fit, &ov);
        let c = Corpus {
            schema: 1,
            about: String::new(),
            points: fit.clone(),
        };
        print!("{}", harness::table(&c, &outs));
    }
}
