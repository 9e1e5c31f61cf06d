//! End-to-end runs against the embedded simulated server: the measured values must match
//! what the server was configured to do.

use crate::util::{bench, f, SimServer};
use serde_json::Value;

const FIXED: &[&str] = &[
    "--sim-ttft-ms",
    "50",
    "--sim-itl-ms",
    "10",
    "--sim-prefill-us-per-token",
    "0",
];

#[test]
fn closed_loop_measures_configured_ttft_and_itl() {
    let mut args = vec![
        "--concurrency",
        "100",
        "--requests",
        "300",
        "--input-tokens",
        "128",
        "--output-tokens",
        "20",
    ];
    args.extend_from_slice(FIXED);
    let run = bench(&args);
    run.ok();
    let s = run.summary();
    assert_eq!(s["schema_version"], 1);
    assert_eq!(s["requests"]["total"], 300);
    assert_eq!(s["requests"]["succeeded"], 300);
    assert_eq!(s["requests"]["failed"], 0);
    // TTFT = 50 ms configured; the simulator's timer may add ~1-2 ms, loopback adds µs.
    let ttft50 = f(&s, "/latency_ms/ttft/p50");
    assert!((49.5..56.0).contains(&ttft50), "ttft p50 {ttft50}");
    let itl50 = f(&s, "/latency_ms/itl/p50");
    assert!((8.5..11.5).contains(&itl50), "itl p50 {itl50}");
    let tpot = f(&s, "/latency_ms/tpot/mean");
    assert!((9.5..10.6).contains(&tpot), "tpot mean {tpot}");
    // E2E against the configured times (not against TTFT and TPOT, from which it follows by
    // algebra): the server writes token 20 no earlier than 50 + 19·10 ms after it received the
    // request, and the timer adds at most a few ms over 20 sleeps.
    let (e2e_min, e2e50) = (f(&s, "/latency_ms/e2e/min"), f(&s, "/latency_ms/e2e/p50"));
    assert!(e2e_min >= 239.99, "e2e min {e2e_min} ms < the configured 240 ms");
    assert!(e2e50 < 262.0, "e2e p50 {e2e50} ms");
    for key in ["ttft", "ttfo", "e2e", "tpot", "itl", "icl", "schedule_lag"] {
        for stat in ["n", "mean", "std", "min", "p50", "p90", "p95", "p99", "p999", "max"] {
            assert!(s["latency_ms"][key][stat].is_number(), "latency_ms.{key}.{stat}");
        }
    }
    // Arrival times come from the kernel's receive stamps (Linux), and the read lag is reported.
    if cfg!(target_os = "linux") {
        assert_eq!(s["client"]["rx_timestamp"], "kernel");
        let lag = &s["client"]["read_lag_ms"];
        assert!(lag["stamped_reads"].as_u64().unwrap_or(0) > 300, "{lag}");
        assert!(
            f(lag, "/p50") <= f(lag, "/p99") && f(lag, "/p99") <= f(lag, "/max") * 1.125,
            "{lag}"
        );
    }
    for key in [
        "requests_per_s",
        "output_tokens_per_s",
        "input_tokens_per_s",
        "total_tokens_per_s",
    ] {
        assert!(f(&s, &format!("/throughput/{key}")) > 0.0, "{key}");
    }
    // output TPS = Σ OSL / window, against facts the test knows: 300 × 20 tokens; each of the
    // 100 workers runs 3 requests of at least 240 ms back to back, so the window is at least
    // 0.72 s; and it is at most the wall-clock time of the command, measured here.
    let tps = f(&s, "/throughput/output_tokens_per_s");
    let wall = run.elapsed.as_secs_f64();
    assert!(
        tps <= 6000.0 / 0.72 && tps >= 6000.0 / wall,
        "output {tps} tok/s outside [{}, {}]",
        6000.0 / wall,
        6000.0 / 0.72
    );
    let rps = f(&s, "/throughput/requests_per_s");
    assert!(rps <= 300.0 / 0.72 && rps >= 300.0 / wall, "{rps} req/s");
    assert!((f(&s, "/tokens/output") - 6000.0).abs() < 1e-9);
    assert!(s["per_user_output_tokens_per_s"]["p50"].is_number());
    assert_eq!(s["concurrency"]["peak"], 100);
    assert!(s["errors"].as_object().unwrap().is_empty());
    // one record per request, with both provenances of the output count
    let recs = run.records();
    assert_eq!(recs.len(), 300);
    for r in &recs {
        assert_eq!(r["output_tokens"]["server"], 20);
        assert_eq!(r["output_tokens"]["client"], 20);
        assert_eq!(r["input_tokens"]["client"], 128);
        assert_eq!(r["input_tokens"]["server"], 128);
        assert_eq!(r["event_token_source"], "usage");
        assert_eq!(r["events"].as_array().unwrap().len(), 20);
    }
}

#[test]
fn multi_token_chunks_split_itl_per_token() {
    let mut args = vec![
        "--concurrency",
        "8",
        "--requests",
        "24",
        "--output-tokens",
        "33",
        "--sim-tokens-per-chunk",
        "4",
    ];
    args.extend_from_slice(FIXED);
    for extra in [&[][..], &["--no-continuous-usage"][..]] {
        let mut a = args.clone();
        a.extend_from_slice(extra);
        let run = bench(&a);
        run.ok();
        let s = run.summary();
        // Chunks of 4 tokens arrive 40 ms apart: per-token ITL 10 ms, per-chunk ICL 40 ms.
        let itl = f(&s, "/latency_ms/itl/p50");
        let icl = f(&s, "/latency_ms/icl/p50");
        assert!((9.0..11.5).contains(&itl), "itl {itl} ({extra:?})");
        assert!((38.0..43.0).contains(&icl), "icl {icl}");
        // 33 tokens = 8 chunks of 4 + 1: the first chunk carries 4, so TPOT = (t_last - t_first)/29
        let tpot = f(&s, "/latency_ms/tpot/mean");
        assert!((9.5..10.8).contains(&tpot), "tpot {tpot}");
        assert!((f(&s, "/tokens_per_chunk/mean") - 33.0 / 9.0).abs() < 1e-9);
        let src = if extra.is_empty() { "usage" } else { "tokenizer" };
        assert!(run.records().iter().all(|r| r["event_token_source"] == src));
        assert_eq!(s["tokens"]["event_sum_minus_osl"], 0);
    }
}

#[test]
fn chat_role_only_first_chunk_is_not_ttft() {
    // The simulator sends the role-only chunk immediately, before the first token at 50 ms.
    let mut args = vec![
        "--api",
        "chat",
        "--concurrency",
        "4",
        "--requests",
        "12",
        "--output-tokens",
        "5",
    ];
    args.extend_from_slice(FIXED);
    let run = bench(&args);
    run.ok();
    let s = run.summary();
    let ttft = f(&s, "/latency_ms/ttft/min");
    assert!(ttft >= 49.5, "TTFT {ttft} must ignore the role-only chunk");
    assert_eq!(f(&s, "/latency_ms/ttfo/p50"), f(&s, "/latency_ms/ttft/p50"));
    assert!(run.records().iter().all(|r| r["events"].as_array().unwrap().len() == 5));
}

#[test]
fn non_streaming_ttft_equals_e2e() {
    let mut args = vec![
        "--no-stream",
        "--concurrency",
        "4",
        "--requests",
        "8",
        "--output-tokens",
        "6",
    ];
    args.extend_from_slice(FIXED);
    let run = bench(&args);
    run.ok();
    let s = run.summary();
    assert_eq!(f(&s, "/latency_ms/ttft/mean"), f(&s, "/latency_ms/e2e/mean"));
    let e2e = f(&s, "/latency_ms/e2e/p50");
    assert!((99.0..110.0).contains(&e2e), "e2e {e2e} = 50 + 5·10");
    assert_eq!(s["latency_ms"]["tpot"]["n"], 0, "one event: no TPOT");
    assert_eq!(s["tokens"]["output"], 48);
}

#[test]
fn open_loop_achieves_offered_rate_with_low_lag() {
    let run = bench(&[
        "--rate",
        "200",
        "--requests",
        "400",
        "--output-tokens",
        "4",
        "--input-tokens",
        "32",
        "--sim-ttft-ms",
        "5",
        "--sim-itl-ms",
        "1",
        "--seed",
        "3",
    ]);
    run.ok();
    let s = run.summary();
    assert_eq!(s["requests"]["succeeded"], 400);
    assert_eq!(s["run"]["load_mode"], "open");
    // Poisson(200/s) for 400 arrivals spans ~2 s; the achieved rate is requests / window.
    let rps = f(&s, "/throughput/requests_per_s");
    assert!((150.0..260.0).contains(&rps), "rps {rps}");
    let lag99 = f(&s, "/latency_ms/schedule_lag/p99");
    assert!(lag99 < 20.0, "schedule lag p99 {lag99} ms");
    // intended send times follow the precomputed schedule: same seed, same schedule
    let recs = run.records();
    let again = bench(&[
        "--rate",
        "200",
        "--requests",
        "400",
        "--output-tokens",
        "4",
        "--input-tokens",
        "32",
        "--sim-ttft-ms",
        "5",
        "--sim-itl-ms",
        "1",
        "--seed",
        "3",
    ]);
    again.ok();
    let sched = |rs: &[Value]| {
        let mut v: Vec<(u64, u64)> = rs
            .iter()
            .map(|r| (r["id"].as_u64().unwrap(), r["sched_us"].as_u64().unwrap()))
            .collect();
        v.sort();
        v.windows(2)
            .map(|w| w[1].1 as i64 - w[0].1 as i64)
            .collect::<Vec<i64>>()
    };
    let (a, b) = (sched(&recs), sched(&again.records()));
    let close = a.iter().zip(&b).filter(|(x, y)| (**x - **y).abs() < 2_000).count();
    assert!(
        close as f64 > 0.95 * a.len() as f64,
        "schedules differ: {close}/{}",
        a.len()
    );
}

#[test]
fn max_concurrency_cap_records_client_queue_time() {
    let run = bench(&[
        "--rate",
        "400",
        "--requests",
        "60",
        "--max-concurrency",
        "2",
        "--output-tokens",
        "3",
        "--sim-ttft-ms",
        "20",
        "--sim-itl-ms",
        "5",
        "--sim-prefill-us-per-token",
        "0",
    ]);
    run.ok();
    let s = run.summary();
    assert_eq!(s["concurrency"]["peak"], 2);
    assert!(
        f(&s, "/latency_ms/client_queue/p90") > 50.0,
        "requests must queue behind the cap"
    );
}

#[test]
fn warmup_requests_are_recorded_but_excluded() {
    let mut args = vec![
        "--concurrency",
        "4",
        "--requests",
        "10",
        "--warmup",
        "4",
        "--output-tokens",
        "2",
    ];
    args.extend_from_slice(FIXED);
    let run = bench(&args);
    run.ok();
    let s = run.summary();
    assert_eq!(s["requests"]["total"], 10);
    assert_eq!(s["requests"]["warmup_excluded"], 4);
    let recs = run.records();
    assert_eq!(recs.len(), 14);
    assert_eq!(recs.iter().filter(|r| r["warmup"] == true).count(), 4);
}

#[test]
fn duration_stop_and_report_rebuild() {
    let run = bench(&[
        "--concurrency",
        "4",
        "--duration",
        "1s",
        "--output-tokens",
        "5",
        "--sim-ttft-ms",
        "10",
        "--sim-itl-ms",
        "5",
        "--csv",
    ]);
    run.ok();
    let s = run.summary();
    let n = s["requests"]["total"].as_u64().unwrap();
    // each request takes ~30 ms: 4 workers for 1 s ≈ 130 requests
    assert!((60..200).contains(&n), "{n} requests in 1 s");
    let csv = std::fs::read_to_string(run.path().join("requests.csv")).unwrap();
    assert_eq!(csv.lines().count() as u64, n + 1);
    // `infermeter report DIR` recomputes the same metrics from records.jsonl
    std::fs::remove_file(run.path().join("summary.json")).unwrap();
    let out = crate::util::bin().arg("report").arg(run.path()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rebuilt = run.summary();
    assert_eq!(rebuilt["latency_ms"], s["latency_ms"]);
    assert_eq!(rebuilt["throughput"], s["throughput"]);
    assert_eq!(rebuilt["run"], s["run"]);
    assert!(rebuilt["client"]["cpu_s"].is_null(), "no live summary to keep it from");
    // Rebuilding next to the live run's own summary keeps what only the live run measured.
    std::fs::write(run.path().join("summary.json"), serde_json::to_vec(&s).unwrap()).unwrap();
    let out = crate::util::bin().arg("report").arg(run.path()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let again = run.summary();
    assert_eq!(again["client"], s["client"]);
    assert!(again["client"]["cpu_s"].is_number());
    assert_eq!(again["latency_ms"], s["latency_ms"]);
}

/// `--rx-timestamp user` stamps reads when they return; the lag is still measured, and a bad
/// value is a usage error.
#[test]
fn rx_timestamp_user_mode_and_bad_value() {
    let mut args = vec![
        "--concurrency",
        "4",
        "--requests",
        "8",
        "--output-tokens",
        "5",
        "--rx-timestamp",
        "user",
    ];
    args.extend_from_slice(FIXED);
    let run = bench(&args);
    run.ok();
    let s = run.summary();
    assert_eq!(s["client"]["rx_timestamp"], "user");
    if cfg!(target_os = "linux") {
        assert!(
            s["client"]["read_lag_ms"]["stamped_reads"].as_u64().unwrap_or(0) > 0,
            "{}",
            s["client"]
        );
    }
    // Read-return stamps are never earlier than the kernel's: TTFT is at least the configured 50 ms.
    assert!(f(&s, "/latency_ms/ttft/min") >= 49.5);
    let bad = crate::util::bin()
        .args(["bench", "--rx-timestamp", "nic", "--requests", "1"])
        .output()
        .expect("run");
    assert_eq!(bad.status.code(), Some(2));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("--rx-timestamp"), "{err}");
}

/// Every latency against the server's own clock: `sim serve --write-log` records when each
/// token chunk of each response was handed to the HTTP layer (system monotonic clock, the
/// same clock as the client's stamps, joined on `X-Request-Id`). A token can only arrive
/// after it was written, and on loopback shortly after; the server's own times obey the
/// configured 50 ms TTFT and 10 ms per token; the summary's TTFT, E2E and TPOT agree with the
/// server-side values computed here from the log.
#[test]
fn latencies_match_the_servers_write_times() {
    let _serial = crate::util::serial();
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("writes.jsonl");
    let log_arg = log.to_string_lossy().into_owned();
    let mut server_args = FIXED.to_vec();
    server_args.extend_from_slice(&["--write-log", &log_arg]);
    let server = SimServer::start(&server_args);
    let run = bench(&[
        "--url",
        &server.url,
        "--api",
        "completions",
        "--concurrency",
        "8",
        "--requests",
        "40",
        "--output-tokens",
        "20",
        "--input-tokens",
        "32",
    ]);
    drop(server);
    run.ok();
    let s = run.summary();
    let prefix = s["run"]["request_id_prefix"]
        .as_str()
        .expect("request_id_prefix")
        .to_string();
    let t0 = s["client"]["run_start_monotonic_ns"]
        .as_u64()
        .expect("run_start_monotonic_ns");
    let mut writes = std::collections::HashMap::new();
    for line in std::fs::read_to_string(&log).expect("write log").lines() {
        let v: Value = serde_json::from_str(line).expect("write log line");
        let id = v["id"].as_str().unwrap_or_default();
        if let Some(n) = id
            .strip_prefix(&format!("{prefix}-"))
            .and_then(|n| n.parse::<u64>().ok())
        {
            let t: Vec<u64> = serde_json::from_value(v["t_ns"].clone()).expect("t_ns");
            writes.insert(n, t);
        }
    }
    let (mut server_ttft, mut server_e2e, mut server_tpot, mut delay) = (vec![], vec![], vec![], vec![]);
    for r in run.records() {
        let w = &writes[&r["id"].as_u64().expect("id")];
        let send_ns = t0 + r["send_us"].as_u64().expect("send_us") * 1000;
        let events = r["events"].as_array().expect("events");
        assert_eq!(events.len(), 20);
        assert!(w.len() >= 20, "{} writes", w.len());
        for (i, e) in events.iter().enumerate() {
            let client_ns = send_ns + e[0].as_u64().expect("t_us") * 1000;
            // Both stamps are truncated to µs against the run start: 2 µs of slack.
            let d_ms = (client_ns as f64 - w[i] as f64) / 1e6;
            assert!(d_ms > -0.002, "event {i} stamped {d_ms} ms before the server wrote it");
            delay.push(d_ms);
        }
        let ms = |ns: u64| ns.saturating_sub(send_ns) as f64 / 1e6;
        server_ttft.push(ms(w[0]));
        server_e2e.push(ms(w[19]));
        server_tpot.push((w[19] - w[0]) as f64 / 1e6 / 19.0);
    }
    // NumPy's linear percentile, as the summary defines p50.
    let med = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        let rank = 0.5 * (v.len() - 1) as f64;
        let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
        v[lo] + (v[hi] - v[lo]) * (rank - lo as f64)
    };
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    assert!(
        server_ttft.iter().all(|&t| t >= 50.0),
        "the server honours its 50 ms TTFT"
    );
    // Tokens are scheduled at fixed offsets from the request's arrival: the 20th at 240 ms.
    assert!(
        server_e2e.iter().all(|&t| t >= 240.0),
        "and its 50 + 19 × 10 ms schedule: {server_e2e:?}"
    );
    assert!(med(&mut delay) < 2.0, "loopback delivery p50 {} ms", med(&mut delay));
    let tpot_mean = mean(&server_tpot);
    for (key, server_side) in [("ttft", med(&mut server_ttft)), ("e2e", med(&mut server_e2e))] {
        let client = f(&s, &format!("/latency_ms/{key}/p50"));
        assert!(
            client >= server_side - 0.002 && client - server_side < 2.0,
            "{key} p50: summary {client} ms vs server-side {server_side} ms"
        );
    }
    let tpot = f(&s, "/latency_ms/tpot/mean");
    assert!(
        (tpot - tpot_mean).abs() < 0.5,
        "TPOT mean {tpot} vs server-side {tpot_mean}"
    );
}
