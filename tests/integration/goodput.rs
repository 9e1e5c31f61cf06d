//! Goodput, SLO attainment, cost and steady state through a real run (issue 6 keys).

use crate::util::{bench, f};

#[test]
fn slo_cost_and_steady_state_keys() {
    // TTFT is fixed at 50 ms: an SLO of 40 ms fails every request, 60 ms passes every one.
    let common = [
        "--concurrency",
        "8",
        "--requests",
        "160",
        "--output-tokens",
        "4",
        "--sim-ttft-ms",
        "50",
        "--sim-itl-ms",
        "5",
        "--sim-prefill-us-per-token",
        "0",
        "--gpu-cost-per-hour",
        "3.6",
        "--gpus",
        "2",
    ];
    let mut pass = common.to_vec();
    pass.extend_from_slice(&["--slo", "ttft=60ms,e2e=10s"]);
    let run = bench(&pass);
    run.ok();
    let s = run.summary();
    assert_eq!(f(&s, "/goodput/attainment"), 1.0);
    assert!((f(&s, "/goodput/requests_per_s") - f(&s, "/throughput/requests_per_s")).abs() < 1e-9);
    assert!((f(&s, "/goodput/output_tokens_per_s") - f(&s, "/throughput/output_tokens_per_s")).abs() < 1e-9);
    assert!(s["goodput"]["violations"].as_object().unwrap().is_empty());
    // cost = $/h · GPUs / (TPS · 3600) per token
    let tps = f(&s, "/throughput/output_tokens_per_s");
    let per_m = f(&s, "/cost/per_million_output_tokens");
    assert!((per_m - 7.2 / (tps * 3600.0) * 1e6).abs() < 1e-9, "{per_m}");
    assert!((f(&s, "/cost/output_tokens_per_dollar") - tps * 3600.0 / 7.2).abs() < 1e-6);
    assert!(f(&s, "/cost/per_million_total_tokens") < per_m);
    // steady state: detected for a steady closed loop, same shape as the whole run
    assert_eq!(s["steady_state"]["detected"], true, "{}", s["steady_state"]);
    for key in ["throughput", "latency_ms", "requests", "concurrency"] {
        assert!(s["steady_state"][key].is_object(), "steady_state.{key}");
    }
    assert!(s["steady_state"]["cost"]["per_million_output_tokens"].is_number());
    assert!(s["steady_state"]["goodput"]["attainment"].is_number());

    let mut fail = common.to_vec();
    fail.extend_from_slice(&["--slo", "realtime,ttft=40ms"]);
    let run = bench(&fail);
    run.ok();
    let s = run.summary();
    assert_eq!(f(&s, "/goodput/attainment"), 0.0);
    assert_eq!(s["goodput"]["violations"]["ttft"], 160);
    assert_eq!(f(&s, "/goodput/requests_per_s"), 0.0);
}

#[test]
fn open_loop_reports_latency_from_intended_send_and_cap_conversion() {
    let run = bench(&[
        "--rate",
        "300",
        "--requests",
        "90",
        "--max-concurrency",
        "2",
        "--output-tokens",
        "2",
        "--sim-ttft-ms",
        "20",
        "--sim-itl-ms",
        "2",
        "--sim-prefill-us-per-token",
        "0",
    ]);
    run.ok();
    let s = run.summary();
    let fs = &s["latency_from_schedule_ms"];
    assert_eq!(fs["capped_to_closed_loop"], true);
    // users arriving on schedule waited far longer than the server-side TTFT shows
    assert!(f(fs, "/ttft/p90") > 3.0 * f(&s, "/latency_ms/ttft/p90"), "{fs}");
}

#[test]
fn bad_slo_and_cost_flags() {
    for args in [
        &["--slo", "fast"][..],
        &["--slo", "ttft=soon"],
        &["--price-gpu", "tpu9"],
        &["--gpus", "0"],
        &["--cooldown", "x"],
    ] {
        let run = bench(args);
        assert_eq!(run.out.status.code(), Some(2), "{args:?}: {}", run.stderr());
    }
}
