//! The fault matrix (issue #5): every fault the simulated server injects (`--fault KIND=PROB`)
//! must land in its own error class, in the records and in `summary.json` `errors`, be counted
//! exactly, and neither stop the run, crash the tool nor hang it; the other requests are still
//! measured. Plus connection refused, which needs no fault flag: a server that goes away.

use crate::util::bin;
use infermeter::sim::{FaultKind, FaultPlan};
use serde_json::Value;
use std::process::Stdio;
use std::time::{Duration, Instant};

const REQUESTS: u64 = 20;

/// Fast fixed-timing requests: 6 tokens 1 ms apart, so a mid-stream fault strikes after 3.
const BASE: &[&str] = &[
    "--sim-ttft-ms",
    "5",
    "--sim-itl-ms",
    "1",
    "--sim-prefill-us-per-token",
    "0",
    "--input-tokens",
    "16",
    "--output-tokens",
    "6",
    "--requests",
    "20",
    "--concurrency",
    "4",
    "--request-timeout",
    "20s",
];

/// One row of the matrix.
struct Row {
    fault: &'static str,
    class: &'static str,
    /// HTTP status in the failed records (0: no response head).
    status: u64,
    /// Words the failed records' `error_detail` contains.
    detail: &'static str,
    /// Extra flags (timeouts, fault durations).
    flags: &'static [&'static str],
}

/// Short timeouts with much longer fault durations: each timed fault costs the client 0.5 s.
const TIMING: &[&str] = &[
    "--idle-timeout",
    "500ms",
    "--first-byte-timeout",
    "500ms",
    "--fault-stall-ms",
    "5000",
    "--fault-delay-ms",
    "5000",
];

const MATRIX: &[Row] = &[
    Row {
        fault: "http_429",
        class: "http_429",
        status: 429,
        detail: "simulated rate limit",
        flags: &[],
    },
    Row {
        fault: "http_500_json",
        class: "http_5xx",
        status: 500,
        detail: "HTTP 500: simulated internal server error",
        flags: &[],
    },
    Row {
        fault: "http_503_html",
        class: "http_5xx",
        status: 503,
        detail: "HTTP 503: 503 Service Temporarily Unavailable",
        flags: &[],
    },
    Row {
        fault: "reset_before_headers",
        class: "reset_before_headers",
        status: 0,
        detail: "reset",
        flags: &[],
    },
    Row {
        fault: "reset_mid_stream",
        class: "reset_mid_stream",
        status: 200,
        detail: "reset",
        flags: &[],
    },
    Row {
        fault: "truncated",
        class: "truncated",
        status: 200,
        detail: "without [DONE]",
        flags: &[],
    },
    Row {
        fault: "error_event",
        class: "stream_error_event",
        status: 200,
        detail: "simulated engine error",
        flags: &[],
    },
    Row {
        fault: "stall",
        class: "idle_timeout",
        status: 200,
        detail: "stalled",
        flags: TIMING,
    },
    Row {
        fault: "slow_first_byte",
        class: "first_byte_timeout",
        status: 0,
        detail: "no response headers",
        flags: TIMING,
    },
    Row {
        fault: "malformed_json",
        class: "malformed_event",
        status: 200,
        detail: "malformed event: EOF while parsing",
        flags: &[],
    },
    Row {
        fault: "invalid_utf8",
        class: "invalid_utf8",
        status: 200,
        detail: "event data is not valid UTF-8",
        flags: &[],
    },
    Row {
        fault: "huge_line",
        class: "event_too_large",
        status: 200,
        detail: "larger than",
        flags: &[],
    },
    Row {
        fault: "slow_headers",
        class: "first_byte_timeout",
        status: 0,
        detail: "no response headers",
        flags: TIMING,
    },
    Row {
        fault: "not_sse",
        class: "not_sse",
        status: 200,
        detail: "expected text/event-stream, got text/html; charset=utf-8: <!DOCTYPE html> <html> <head><title>Sign in",
        flags: &[],
    },
];

/// How many of the run's requests the server faults: request `n` draws from the seed (0) and
/// `n`, so the count is known in advance.
fn expected_faults(spec: &str) -> usize {
    let plan = FaultPlan::parse(&[spec.to_string()], 0, 0).expect("plan");
    (0..REQUESTS).filter(|&n| plan.pick(0, n).is_some()).count()
}

fn errors_of(v: &Value) -> Vec<(String, u64)> {
    v["errors"]
        .as_object()
        .map(|m| m.iter().map(|(k, n)| (k.clone(), n.as_u64().unwrap_or(0))).collect())
        .unwrap_or_default()
}

/// Run one row and assert everything the issue asks for; panics name the row.
fn check(row: &Row) {
    let spec = format!("{}={}", row.fault, 0.5);
    let mut args: Vec<&str> = BASE.to_vec();
    args.extend(["--fault", spec.as_str()]);
    args.extend(row.flags);
    let t = Instant::now();
    let run = crate::util::bench_within(&args, Duration::from_secs(60));
    let took = t.elapsed();
    let name = row.fault;
    assert_eq!(
        run.out.status.code(),
        Some(0),
        "[{name}] exit code\nstderr:\n{}",
        run.stderr()
    );
    let s = run.summary();
    let recs = run.records();
    let want = expected_faults(&spec);
    assert!(
        want > 0 && (want as u64) < REQUESTS,
        "[{name}] the draw must mix faults and successes: {want}"
    );
    assert_eq!(recs.len() as u64, REQUESTS, "[{name}] one record per request");
    assert_eq!(
        errors_of(&s),
        vec![(row.class.to_string(), want as u64)],
        "[{name}] summary errors must be exactly {{{}: {want}}}",
        row.class
    );
    let failed: Vec<&Value> = recs.iter().filter(|r| r.get("error").is_some()).collect();
    assert_eq!(failed.len(), want, "[{name}] records with an error");
    for r in &failed {
        assert_eq!(r["error"], row.class, "[{name}] record class: {r}");
        assert_eq!(r["status"].as_u64(), Some(row.status), "[{name}] record status: {r}");
        let detail = r["error_detail"].as_str().unwrap_or_default();
        assert!(
            detail.contains(row.detail) && !detail.contains('\n'),
            "[{name}] error_detail {detail:?} should say {:?}",
            row.detail
        );
        let tokens = r["events"].as_array().map_or(0, Vec::len);
        if FaultKind::parse(row.fault).is_some_and(FaultKind::is_mid_stream) {
            // The fault strikes after 3 of 6 tokens: the first token (TTFT) was measured.
            assert!(
                (1..6).contains(&tokens),
                "[{name}] a mid-stream fault after some tokens: {r}"
            );
        } else {
            assert_eq!(tokens, 0, "[{name}] no token before the fault: {r}");
        }
    }
    // The other requests are measured as usual.
    let ok = REQUESTS - want as u64;
    assert_eq!(s["requests"]["succeeded"].as_u64(), Some(ok), "[{name}] succeeded");
    assert_eq!(s["requests"]["failed"].as_u64(), Some(want as u64), "[{name}] failed");
    assert_eq!(
        s["latency_ms"]["ttft"]["n"].as_u64(),
        Some(ok),
        "[{name}] TTFT of every success"
    );
    assert!(
        s["latency_ms"]["ttft"]["mean"].as_f64().unwrap_or(0.0) > 0.0,
        "[{name}] TTFT measured"
    );
    for r in recs.iter().filter(|r| r.get("error").is_none()) {
        assert_eq!(r["status"], 200, "[{name}] {r}");
        assert_eq!(
            r["events"].as_array().map_or(0, Vec::len),
            6,
            "[{name}] all tokens of a success: {r}"
        );
        assert_eq!(r["finish_reason"], "length", "[{name}] {r}");
    }
    assert!(took < Duration::from_secs(30), "[{name}] took {took:?}");
}

macro_rules! matrix_test {
    ($($test:ident: $fault:literal,)*) => {$(
        #[test]
        fn $test() {
            let row = MATRIX.iter().find(|r| r.fault == $fault).expect("row in MATRIX");
            check(row);
        }
    )*};
}

matrix_test! {
    faults_http_429: "http_429",
    faults_http_500_json: "http_500_json",
    faults_http_503_html: "http_503_html",
    faults_reset_before_headers: "reset_before_headers",
    faults_reset_mid_stream: "reset_mid_stream",
    faults_truncated: "truncated",
    faults_error_event: "error_event",
    faults_stall_past_the_idle_timeout: "stall",
    faults_slow_first_byte_past_its_timeout: "slow_first_byte",
    faults_malformed_json: "malformed_json",
    faults_invalid_utf8: "invalid_utf8",
    faults_huge_line: "huge_line",
    faults_slow_headers_past_the_first_byte_timeout: "slow_headers",
    faults_not_sse: "not_sse",
}

#[test]
fn faults_matrix_covers_every_kind() {
    for k in FaultKind::ALL {
        assert!(
            MATRIX.iter().any(|r| r.fault == k.as_str()),
            "fault kind {} has no row in the matrix",
            k.as_str()
        );
    }
}

/// Slow headers that complete within the first-byte timeout are not an error; the slow head
/// shows in the response-header time of exactly the faulted requests.
#[test]
fn faults_slow_headers_within_the_timeout_succeed() {
    let spec = "slow_headers=0.5";
    let mut args: Vec<&str> = BASE.to_vec();
    args.extend(["--fault", spec, "--fault-delay-ms", "300", "--first-byte-timeout", "5s"]);
    let run = crate::util::bench_within(&args, Duration::from_secs(60));
    run.ok();
    let s = run.summary();
    assert_eq!(s["requests"]["succeeded"].as_u64(), Some(REQUESTS), "{s}");
    let slow = run
        .records()
        .iter()
        .filter(|r| r["hdr_us"].as_u64().unwrap_or(0) >= 290_000)
        .count();
    assert_eq!(slow, expected_faults(spec));
}

/// Faults mix, and apply to engine mode and the chat API too.
#[test]
fn faults_mixed_in_engine_mode_with_chat() {
    let args = [
        "--api",
        "chat",
        "--input-tokens",
        "16",
        "--output-tokens",
        "6",
        "--requests",
        "30",
        "--concurrency",
        "4",
        "--fault",
        "http_503_html=0.2",
        "--fault",
        "truncated=0.2",
        "--fault",
        "reset_mid_stream=0.2",
        "--request-timeout",
        "20s",
    ];
    let run = crate::util::bench_within(&args, Duration::from_secs(60));
    run.ok();
    let s = run.summary();
    let recs = run.records();
    let errors = errors_of(&s);
    for class in ["http_5xx", "truncated", "reset_mid_stream"] {
        let n = recs.iter().filter(|r| r["error"] == class).count() as u64;
        assert!(n > 0, "no {class} in {errors:?}");
        assert!(
            errors.contains(&(class.to_string(), n)),
            "{class}: {n} records, summary {errors:?}"
        );
    }
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert!(s["requests"]["succeeded"].as_u64().unwrap_or(0) > 0);
}

/// Connection refused. Before the run (nothing listening): one line and exit 1, no panic.
/// During the run (the server goes away after 5 requests): the rest are classified
/// `connect_refused`, counted, and the run completes with the 5 successes measured.
#[test]
fn faults_connect_refused() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dead = format!("http://127.0.0.1:{port}");
    let run = crate::util::bench_within(&["--url", &dead, "--requests", "3"], Duration::from_secs(30));
    assert_eq!(run.out.status.code(), Some(1), "{}", run.stderr());
    let err = run.stderr();
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("refused") && !err.contains("panick"), "{err}");

    let rt = tokio::runtime::Runtime::new().unwrap();
    let url = rt.block_on(async {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Arc;
        let cfg = infermeter::sim::SimConfig::fixed_timing(5.0, 1.0);
        let served = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(tokio::sync::Notify::new());
        let (served2, stop2) = (served.clone(), stop.clone());
        let app = infermeter::sim::app(cfg).layer(axum::middleware::from_fn(
            move |req: axum::extract::Request, next: axum::middleware::Next| {
                if req.uri().path() == "/v1/completions" && served2.fetch_add(1, Ordering::SeqCst) + 1 == 5 {
                    stop2.notify_one(); // stop listening; this response still completes
                }
                next.run(req)
            },
        ));
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(l, app)
                .with_graceful_shutdown(async move { stop.notified().await })
                .await
                .ok()
        });
        format!("http://{addr}")
    });
    let run = crate::util::bench_within(
        &[
            "--url",
            &url,
            "--requests",
            "12",
            "--concurrency",
            "1",
            "--output-tokens",
            "4",
        ],
        Duration::from_secs(60),
    );
    assert_eq!(run.out.status.code(), Some(0), "{}", run.stderr());
    let s = run.summary();
    let refused = run.records().iter().filter(|r| r["error"] == "connect_refused").count() as u64;
    assert_eq!(refused, 7, "{s}");
    assert_eq!(errors_of(&s), vec![("connect_refused".to_string(), 7)]);
    assert_eq!(s["requests"]["succeeded"].as_u64(), Some(5));
    assert_eq!(s["latency_ms"]["ttft"]["n"].as_u64(), Some(5));
}

/// Bad fault flags are one line and exit code 2, in `bench` and `sim serve`.
#[test]
fn faults_bad_flags_exit_2() {
    let cases: &[(&[&str], &str)] = &[
        (&["bench", "--fault", "nope=0.1"], "unknown fault kind 'nope'"),
        (&["bench", "--fault", "http_429"], "expected KIND=PROB"),
        (
            &["bench", "--fault", "http_429=0.6", "--fault", "stall=0.6"],
            "at most 1",
        ),
        (
            &["bench", "--url", "http://127.0.0.1:1", "--fault", "stall=0.1"],
            "embedded simulated server",
        ),
        (&["sim", "serve", "--port", "0", "--fault", "truncated=1.5"], "[0, 1]"),
    ];
    for (args, want) in cases {
        let out = bin().args(*args).stdin(Stdio::null()).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
}

/// `sim serve --fault` standalone: it prints its plan, and a bench against its URL sees the faults.
#[test]
fn faults_sim_serve_standalone() {
    use std::io::BufRead;
    /// The server dies with the test, even when an assertion fails first.
    struct KillOnDrop(std::process::Child);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut server = bin()
        .args(["sim", "serve", "--port", "0", "--ttft-ms", "5", "--itl-ms", "1"])
        .args(["--fault", "reset_before_headers=0.25", "--fault", "truncated=0.25"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sim serve");
    let stderr = server.stderr.take().expect("stderr");
    let server = KillOnDrop(server);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    let url = loop {
        let Ok(line) = rx.recv_timeout(Duration::from_secs(20)) else {
            panic!("sim serve printed no address: {lines:?}");
        };
        if let Some(rest) = line.split("http://").nth(1) {
            break format!("http://{}", rest.split_whitespace().next().unwrap_or_default());
        }
        lines.push(line);
    };
    let plan_line = lines
        .iter()
        .any(|l| l.contains("injecting faults: reset_before_headers 25%, truncated 25%"));
    let run = crate::util::bench_within(
        &[
            "--url",
            &url,
            "--requests",
            "20",
            "--concurrency",
            "2",
            "--output-tokens",
            "4",
        ],
        Duration::from_secs(60),
    );
    drop(server);
    assert!(plan_line, "{lines:?}");
    run.ok();
    let s = run.summary();
    let recs = run.records();
    let errors = errors_of(&s);
    for class in ["reset_before_headers", "truncated"] {
        let n = recs.iter().filter(|r| r["error"] == class).count() as u64;
        assert!(
            n > 0 && errors.contains(&(class.to_string(), n)),
            "{class}: {n}, {errors:?}"
        );
    }
    assert_eq!(errors.len(), 2, "{errors:?}");
}
