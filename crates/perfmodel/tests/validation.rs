//! The simulator against published serving measurements: the corpus is
//! well-formed and cited, the fit/held-out split is the fixed one, the
//! shipped held-out statistics (from which every uncertainty band comes) and
//! the table in docs/simulator.md are what the simulator produces today, and
//! the held-out errors stay within their recorded bounds.

#[path = "../validation/harness.rs"]
mod harness;

use infermeter_perfmodel::validation::{band_from, Corpus, HeldOut, Metric, Split};
use infermeter_perfmodel::{EngineProfile, GpuSpec, ModelSpec};

/// The held-out points, as fixed by `Split::of` (FNV-1a of the id, mod 5 < 2).
const HELD_OUT: [&str; 18] = [
    "vllm-blog-fp8kv-c1-bf16-in1k",
    "vllm-blog-fp8kv-c1-bf16-in64k",
    "vllm-blog-fp8kv-c8-bf16",
    "mushfiqrahman-rtx4090-mistral-c48",
    "gpustack-h100-gptoss20b-sharegpt",
    "gpustack-h100-gptoss20b-random-in2k",
    "gpustack-h100-qwen3-14b-sharegpt",
    "gpustack-a100-qwen3-32b-random-in32k",
    "sglang-readme-a100-8b-rps4",
    "sglang-readme-a100-8b-rps8-sglang",
    "sglang-readme-4xh100-70b-offline-sglang",
    "llmservingsim-rtxpro6000-llama8b",
    "lambda-1xh100-mistral7b-p320",
    "lambda-8xh100-llama31-405b-fp8-p320",
    "lambda-4xa100-llama3-70b-p320",
    "lambda-1xh100-mistral7b-len8000-p80",
    "lambda-1xh100-llama31-70b-fp8-p80",
    "oracle-8xmi300x-llama31-405b-fp8-b256",
];

#[test]
fn corpus_is_cited_and_well_formed() {
    let c = Corpus::shipped().unwrap();
    assert!(c.points.len() >= 25, "{} points", c.points.len());
    let vllm = c.points.iter().filter(|p| p.engine == "vllm").count();
    assert!(vllm >= 25, "{vllm} vLLM points");
    let mut ids = std::collections::HashSet::new();
    for p in &c.points {
        assert!(ids.insert(p.id.as_str()), "duplicate id {}", p.id);
        assert!(p.source.starts_with("https://"), "{}: {}", p.id, p.source);
        assert!(!p.location.is_empty() && !p.version.is_empty(), "{}", p.id);
        assert!(ModelSpec::preset(&p.model).is_ok(), "{}: model {}", p.id, p.model);
        assert!(GpuSpec::preset(&p.gpu).is_ok(), "{}: gpu {}", p.id, p.gpu);
        assert!(p.profile.parse::<EngineProfile>().is_ok(), "{}: {}", p.id, p.profile);
        assert!(["vllm", "sglang"].contains(&p.engine.as_str()), "{}", p.id);
        assert!(!p.requests().is_empty(), "{}", p.id);
    }
    // Every profile and several GPUs, models, TP degrees and formats are covered.
    for prof in ["vllm-0.5", "vllm-0.6", "vllm-v1"] {
        assert!(c.points.iter().any(|p| p.profile == prof), "{prof}");
    }
    assert!(c.points.iter().any(|p| p.tp >= 4));
    assert!(c.points.iter().any(|p| p.weights == "fp8"));
    assert!(c.points.iter().any(|p| p.kv == "fp8"));
    assert!(c.points.iter().any(|p| ModelSpec::preset(&p.model).unwrap().is_moe()));
}

#[test]
fn the_split_is_the_fixed_one() {
    let c = Corpus::shipped().unwrap();
    let held: Vec<&str> = c
        .points
        .iter()
        .filter(|p| p.split() == Split::HeldOut)
        .map(|p| p.id.as_str())
        .collect();
    assert_eq!(held, HELD_OUT);
}

/// Runs the corpus once and checks everything that depends on the result.
#[test]
fn held_out_statistics_are_current_and_within_bounds() {
    let c = Corpus::shipped().unwrap();
    let outcomes = harness::run_corpus(&c);

    // 1. The shipped statistics (source of every uncertainty band) are today's.
    let now = harness::heldout(&outcomes);
    let shipped = HeldOut::shipped();
    assert_eq!(now.points, shipped.points);
    for m in Metric::ALL {
        let (a, b) = (now.get(m), shipped.get(m));
        assert_eq!(a.n, b.n, "{m}");
        for (x, y) in [
            (a.median_abs, b.median_abs),
            (a.p90_abs, b.p90_abs),
            (a.q10, b.q10),
            (a.q90, b.q90),
        ] {
            assert!(
                (x - y).abs() < 1e-9,
                "{m}: validation/heldout.json is stale ({y} vs {x}); rerun the validate example with --write"
            );
        }
    }

    // 2. docs/simulator.md shows the table this run produces.
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/simulator.md")).unwrap();
    let table = harness::table(&c, &outcomes);
    assert!(
        doc.contains(&table),
        "docs/simulator.md does not contain the current validation table; paste the output of the validate example"
    );

    // 3. Held-out errors stay within the bounds recorded when the model was
    // fitted (the targets are median ≤ 15 %, p90 ≤ 30 %; see the docs
    // for which are missed). A change that makes the simulator worse fails here.
    let bounds = [
        (Metric::Throughput, 0.15, 0.60),
        (Metric::Ttft, 0.30, 0.70),
        (Metric::Tpot, 0.20, 0.45),
    ];
    for (m, med, p90) in bounds {
        let s = now.get(m);
        assert!(s.n >= 10, "{m}: only {} held-out values", s.n);
        assert!(
            s.median_abs <= med,
            "{m}: held-out median |error| {:.3} > {med}",
            s.median_abs
        );
        assert!(s.p90_abs <= p90, "{m}: held-out p90 |error| {:.3} > {p90}", s.p90_abs);
    }

    // 4. The bands are what they claim: the held-out published values fall in
    // the band of their simulated value about 80 % of the time.
    let (mut inside, mut total) = (0, 0);
    for o in outcomes.iter().filter(|o| o.split == Split::HeldOut) {
        for &(m, published, simulated) in &o.metrics {
            if simulated.is_finite() {
                let b = band_from(now.get(m), simulated);
                total += 1;
                inside += usize::from(b.low <= published * (1.0 + 1e-9) && published <= b.high * (1.0 + 1e-9));
            }
        }
    }
    let share = inside as f64 / total as f64;
    assert!((0.65..=0.95).contains(&share), "{inside}/{total} inside their band");
}
