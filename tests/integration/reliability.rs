//! Reliability and security through the binary: no secret in any output, nothing lost on
//! `kill -9`, a partial report on SIGINT (and a prompt exit on a second one), the
//! `--max-error-rate` circuit breaker, `--retry`, and (in `tls`) https targets.

mod tls;

use crate::util::{bench, bin, read_json};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The embedded simulator (fixed timing: 5 ms TTFT, 1 ms ITL) behind a layer that answers the
/// n-th generation request (from 0) with the HTTP status `reject(headers, n)` returns, if any;
/// the model listing always works. Keep the runtime alive while the server is used.
fn sim_behind<F>(reject: F) -> (tokio::runtime::Runtime, String)
where
    F: Fn(&axum::http::HeaderMap, u64) -> Option<u16> + Clone + Send + Sync + 'static,
{
    let rt = tokio::runtime::Runtime::new().unwrap();
    let url = rt.block_on(async move {
        let cfg = infermeter::sim::SimConfig::fixed_timing(5.0, 1.0);
        let n = Arc::new(AtomicU64::new(0));
        let app = infermeter::sim::app(cfg).layer(axum::middleware::from_fn(
            move |req: axum::extract::Request, next: axum::middleware::Next| {
                let (n, reject) = (n.clone(), reject.clone());
                async move {
                    use axum::response::IntoResponse;
                    if req.method() == axum::http::Method::POST {
                        if let Some(status) = reject(req.headers(), n.fetch_add(1, Ordering::Relaxed)) {
                            let code = axum::http::StatusCode::from_u16(status).unwrap();
                            return (code, "{\"error\":{\"message\":\"injected\"}}").into_response();
                        }
                    }
                    next.run(req).await
                }
            },
        ));
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(l, app).await.ok() });
        format!("http://{addr}")
    });
    (rt, url)
}

/// `sim_behind` failing the n-th generation request with `status` when `fail(n)`.
fn flaky_sim(status: u16, fail: fn(u64) -> bool) -> (tokio::runtime::Runtime, String) {
    sim_behind(move |_, n| fail(n).then_some(status))
}

/// One worker sending `requests` 3-token requests to `url`, plus `extra` flags.
fn one_worker(url: &str, requests: &str, extra: &[&str]) -> crate::util::Run {
    let base = [
        "--url",
        url,
        "--requests",
        requests,
        "--concurrency",
        "1",
        "--output-tokens",
        "3",
    ];
    bench(&[&base[..], extra].concat())
}

#[test]
fn api_key_and_header_secrets_never_reach_outputs() {
    let key = "sk-infermeter-TEST-7f3a9c1e5b";
    let dir = tempfile::tempdir().unwrap();
    let out = {
        let _g = crate::util::serial();
        bin()
            .args([
                "bench",
                "--requests",
                "6",
                "--concurrency",
                "2",
                "--output-tokens",
                "3",
                "--csv",
                "--no-progress",
            ])
            .args([
                "--sim-ttft-ms",
                "5",
                "--sim-itl-ms",
                "1",
                "--header",
                "X-Secret-Token: hdr-SECRET-42",
            ])
            .arg("--out")
            .arg(dir.path())
            .env("OPENAI_API_KEY", key)
            .output()
            .unwrap()
    };
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut blobs = vec![out.stdout.clone(), out.stderr.clone()];
    for e in std::fs::read_dir(dir.path()).unwrap() {
        blobs.push(std::fs::read(e.unwrap().path()).unwrap());
    }
    assert!(
        blobs.len() >= 6,
        "stdout, stderr, run.json, records.jsonl, summary.json, requests.csv"
    );
    for b in &blobs {
        let text = String::from_utf8_lossy(b);
        assert!(!text.contains(key), "API key leaked: {text}");
        assert!(!text.contains("hdr-SECRET-42"), "header secret leaked: {text}");
    }

    // The same with the key read from a file (whitespace around it trimmed), against a server
    // that rejects any request without exactly that key: the run succeeding proves it was sent.
    let file_key = "sk-infermeter-FILE-91d2e4";
    let key_dir = tempfile::tempdir().unwrap();
    let key_path = key_dir.path().join("key.txt");
    std::fs::write(&key_path, format!("  {file_key}\n\n")).unwrap();
    let expected = format!("Bearer {file_key}");
    let (_rt, url) = sim_behind(move |h, _| {
        let ok = h
            .get("authorization")
            .is_some_and(|v| v.as_bytes() == expected.as_bytes());
        (!ok).then_some(401)
    });
    let dir = tempfile::tempdir().unwrap();
    let out = {
        let _g = crate::util::serial();
        bin()
            .args(["bench", "--url", &url, "--requests", "4", "--concurrency", "2"])
            .args(["--output-tokens", "3", "--csv", "--no-progress", "--api-key-file"])
            .arg(&key_path)
            .arg("--out")
            .arg(dir.path())
            .env_remove("OPENAI_API_KEY")
            .output()
            .unwrap()
    };
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut blobs = vec![out.stdout.clone(), out.stderr.clone()];
    for e in std::fs::read_dir(dir.path()).unwrap() {
        blobs.push(std::fs::read(e.unwrap().path()).unwrap());
    }
    assert!(blobs.len() >= 6);
    for b in &blobs {
        let text = String::from_utf8_lossy(b);
        assert!(!text.contains(file_key), "API key from the file leaked: {text}");
    }
}

#[test]
fn api_key_file_errors_are_one_line_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing-key");
    let empty = dir.path().join("empty-key");
    std::fs::write(&empty, " \n").unwrap();
    for (path, needle) in [(&missing, "cannot read --api-key-file"), (&empty, "is empty")] {
        let out = bin()
            .args(["bench", "--requests", "1", "--api-key-file"])
            .arg(path)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains(needle) && err.contains(&*path.to_string_lossy()), "{err}");
    }
}

fn wait_for_lines(path: &std::path::Path, n: usize, limit: Duration) {
    let t = Instant::now();
    while t.elapsed() < limit {
        if std::fs::read_to_string(path).map(|s| s.lines().count()).unwrap_or(0) >= n {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{} never reached {n} lines", path.display());
}

/// A 60-second closed-loop run against the embedded server, to be interrupted.
fn long_bench(out: &std::path::Path, io: fn() -> std::process::Stdio) -> std::process::Child {
    bin()
        .args([
            "bench",
            "--duration",
            "60s",
            "--concurrency",
            "4",
            "--output-tokens",
            "4",
            "--no-progress",
        ])
        .args(["--sim-ttft-ms", "5", "--sim-itl-ms", "2", "--out"])
        .arg(out)
        .stdout(io())
        .stderr(io())
        .spawn()
        .expect("spawn infermeter")
}

#[test]
fn kill_9_loses_no_completed_request_and_report_rebuilds() {
    let dir = tempfile::tempdir().unwrap();
    let _g = crate::util::serial();
    let mut child = long_bench(dir.path(), std::process::Stdio::null);
    let records = dir.path().join("records.jsonl");
    wait_for_lines(&records, 40, Duration::from_secs(30));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let text = std::fs::read_to_string(&records).unwrap();
    let complete = text
        .lines()
        .filter(|l| serde_json::from_str::<serde_json::Value>(l).is_ok())
        .count();
    assert!(complete >= 40);
    let out = bin().arg("report").arg(dir.path()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let s = read_json(&dir.path().join("summary.json"));
    assert_eq!(s["requests"]["total"].as_u64().unwrap() as usize, complete);
    assert_eq!(s["requests"]["failed"], 0);
}

#[test]
fn sigint_stops_scheduling_and_writes_a_partial_report() {
    let dir = tempfile::tempdir().unwrap();
    let _g = crate::util::serial();
    let child = long_bench(dir.path(), std::process::Stdio::piped);
    wait_for_lines(&dir.path().join("records.jsonl"), 20, Duration::from_secs(30));
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let t = Instant::now();
    let out = child.wait_with_output().unwrap();
    assert!(t.elapsed() < Duration::from_secs(20), "drain must be bounded");
    assert_eq!(out.status.code(), Some(130), "{}", String::from_utf8_lossy(&out.stderr));
    let s = read_json(&dir.path().join("summary.json"));
    assert_eq!(s["partial"], true);
    let lines = std::fs::read_to_string(dir.path().join("records.jsonl"))
        .unwrap()
        .lines()
        .count() as u64;
    assert_eq!(
        s["requests"]["total"].as_u64().unwrap(),
        lines,
        "every record is in the summary"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("PARTIAL"));
}

#[test]
fn every_request_failing_exits_nonzero_with_one_line() {
    // A server that answers every generation request with HTTP 500 (after a valid model list).
    let rt = tokio::runtime::Runtime::new().unwrap();
    let url = rt.block_on(async {
        use axum::routing::{get, post};
        let app = axum::Router::new()
            .route(
                "/v1/models",
                get(|| async { axum::Json(serde_json::json!({"data":[{"id":"m"}]})) }),
            )
            .route(
                "/v1/completions",
                post(|| async {
                    (
                        axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                        "<html>upstream exploded</html>",
                    )
                }),
            );
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(l, app).await.ok() });
        format!("http://{addr}")
    });
    let run = bench(&["--url", &url, "--requests", "5", "--concurrency", "2"]);
    assert_eq!(run.out.status.code(), Some(1));
    let err = run.stderr();
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("all 5 requests failed (http_5xx: 5)"), "{err}");
    assert_eq!(run.summary()["errors"]["http_5xx"], 5);
}

#[test]
fn error_rate_breaker_stops_the_run_with_exit_3() {
    let (_rt, url) = flaky_sim(500, |_| true);
    let args = [
        "--url",
        &url,
        "--requests",
        "400",
        "--concurrency",
        "2",
        "--output-tokens",
        "4",
    ];
    let run = bench(&[&args[..], &["--max-error-rate", "0.5", "--error-window", "20"]].concat());
    assert_eq!(run.out.status.code(), Some(3), "{}", run.stderr());
    let err = run.stderr();
    let line = "stopped: error rate 1.00 over the last 10 requests exceeded --max-error-rate 0.5 (dominant: http_5xx)";
    assert_eq!(err.trim(), format!("error: {line}"), "one line on stderr");
    let s = run.summary();
    assert_eq!(s["partial"], true);
    assert_eq!(format!("stopped: {}", s["stopped_reason"].as_str().unwrap()), line);
    let total = s["requests"]["total"].as_u64().unwrap();
    // Stopped at the 10th failure; the other worker's request in flight may still complete.
    assert!(
        (10..=11).contains(&total),
        "stopped right after the 10th failure: {total}"
    );
    assert_eq!(run.records().len() as u64, total, "every completed request is recorded");
    assert_eq!(s["errors"]["http_5xx"].as_u64(), Some(total));
    // `report DIR` next to this summary keeps why the run stopped.
    let out = bin().arg("report").arg(run.path()).arg("--no-html").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rebuilt = run.summary();
    assert_eq!(rebuilt["stopped_reason"], s["stopped_reason"]);
    assert_eq!(rebuilt["partial"], true);
    assert!(run.stdout().contains("PARTIAL: error rate 1.00"), "{}", run.stdout());
}

#[test]
fn error_rate_at_or_below_the_limit_does_not_stop() {
    // Every 4th request fails: 0.25 of any 8 consecutive completions (concurrency 1).
    let (_rt, url) = flaky_sim(503, |n| n % 4 == 3);
    let run = bench(&[
        "--url",
        &url,
        "--requests",
        "40",
        "--concurrency",
        "1",
        "--output-tokens",
        "3",
        "--max-error-rate",
        "0.25",
        "--error-window",
        "8",
    ]);
    run.ok();
    let s = run.summary();
    assert_eq!(s["partial"], false);
    assert!(s.get("stopped_reason").is_none());
    assert_eq!(s["requests"]["failed"], 10);
}

#[test]
fn retry_resends_5xx_and_latency_counts_from_the_first_send() {
    // Every other generation request fails: with one worker, each request's first attempt.
    let (_rt, url) = flaky_sim(503, |n| n % 2 == 0);
    let run = one_worker(&url, "6", &["--retry", "2", "--retry-backoff", "40ms"]);
    run.ok();
    let s = run.summary();
    assert_eq!(s["requests"]["failed"], 0);
    assert_eq!(s["requests"]["retried"], 6);
    for r in run.records() {
        assert_eq!(r["retries"], 1, "{r}");
        assert_eq!(r["retry_errors"], serde_json::json!(["http_5xx"]), "{r}");
        let wait = r["retry_wait_us"].as_u64().unwrap();
        assert!(wait >= 40_000, "backoff included: {r}");
        let ttft_us = r["events"][0][0].as_u64().unwrap();
        assert!(ttft_us > wait, "TTFT counts from the first attempt's send: {r}");
    }
    assert!(crate::util::f(&s, "/latency_ms/ttft/p50") >= 40.0);
}

/// The simulator's `http_429` fault answers with `Retry-After: 1`: a retry waits that second
/// even though the backoff is 10 ms.
#[test]
fn retry_honours_retry_after() {
    let run = bench(&[
        "--requests",
        "6",
        "--concurrency",
        "6",
        "--output-tokens",
        "3",
        "--sim-ttft-ms",
        "5",
        "--sim-itl-ms",
        "1",
        "--fault",
        "http_429=0.5",
        "--retry",
        "4",
        "--retry-backoff",
        "10ms",
    ]);
    run.ok();
    let s = run.summary();
    assert!(
        s["requests"]["retried"].as_u64().unwrap_or(0) >= 1,
        "no request was retried: {s}"
    );
    for r in run.records() {
        let retries = r.get("retries").and_then(|v| v.as_u64()).unwrap_or(0);
        let wait = r.get("retry_wait_us").and_then(|v| v.as_u64()).unwrap_or(0);
        assert!(wait >= retries * 1_000_000, "Retry-After ignored: {r}");
        if r.get("error").is_some() {
            assert_eq!(r["retry_after_ms"], 1000, "{r}");
        } else {
            assert!(r.get("retry_after_ms").is_none(), "{r}");
        }
    }
}

/// A redirect is neither a server error nor followed: its own class, not retried.
#[test]
fn a_redirect_is_http_other_and_not_retried() {
    let (_rt, url) = flaky_sim(302, |n| n % 2 == 0);
    let run = one_worker(&url, "4", &["--retry", "2"]);
    run.ok();
    let s = run.summary();
    assert_eq!(s["errors"]["http_other"], 2, "{}", s["errors"]);
    assert!(s["errors"].get("http_5xx").is_none(), "{}", s["errors"]);
    assert_eq!(s["requests"]["retried"], 0);
    let failed: Vec<_> = run.records().into_iter().filter(|r| r.get("error").is_some()).collect();
    assert_eq!(failed.len(), 2);
    assert!(
        failed.iter().all(|r| r["status"] == 302 && r["error"] == "http_other"),
        "{failed:?}"
    );
}

#[test]
fn without_retry_a_429_is_recorded_not_retried() {
    let (_rt, url) = flaky_sim(429, |n| n % 2 == 0);
    let run = one_worker(&url, "6", &[]);
    run.ok();
    let s = run.summary();
    assert_eq!(s["errors"]["http_429"], 3);
    assert_eq!(s["requests"]["retried"], 0);
    assert!(run.records().iter().all(|r| r.get("retries").is_none()));
}

/// A closed-loop run whose requests stream for up to ~30 s (100 ms between tokens), so a
/// drain after Ctrl-C would take long; short requests complete along the way (the shortest of
/// the first 16 within ~2 s).
fn slow_bench(out: &std::path::Path, extra: &[&str]) -> std::process::Child {
    bin()
        .args(["bench", "--duration", "120s", "--concurrency", "16", "--no-progress"])
        .args([
            "--output-tokens",
            "uniform:1,300",
            "--sim-ttft-ms",
            "5",
            "--sim-itl-ms",
            "100",
        ])
        .args(extra)
        .arg("--out")
        .arg(out)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn infermeter")
}

fn sigint(child: &std::process::Child) {
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
}

/// Every line of records.jsonl is a whole record, and the summary counts them all.
fn records_complete_and_summarised(dir: &std::path::Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("records.jsonl")).unwrap();
    for l in text.lines() {
        serde_json::from_str::<serde_json::Value>(l).unwrap_or_else(|e| panic!("torn record {l:?}: {e}"));
    }
    let s = read_json(&dir.join("summary.json"));
    assert_eq!(s["partial"], true);
    assert_eq!(s["requests"]["total"].as_u64().unwrap() as usize, text.lines().count());
    s
}

#[test]
fn second_sigint_aborts_the_drain() {
    let dir = tempfile::tempdir().unwrap();
    let _g = crate::util::serial();
    let mut child = slow_bench(dir.path(), &[]);
    wait_for_lines(&dir.path().join("records.jsonl"), 1, Duration::from_secs(30));
    sigint(&child);
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "still draining after the first SIGINT"
    );
    let t = Instant::now();
    sigint(&child);
    let out = child.wait_with_output().unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "the second SIGINT exits at once: {:?}",
        t.elapsed()
    );
    assert_eq!(out.status.code(), Some(130), "{}", String::from_utf8_lossy(&out.stderr));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Ctrl-C again to abort"), "{err}");
    let s = records_complete_and_summarised(dir.path());
    assert!(
        s["aborted_in_flight"].as_u64().unwrap() >= 1,
        "{}",
        s["aborted_in_flight"]
    );
    let reason = s["stopped_reason"].as_str().unwrap();
    assert!(
        reason.starts_with("interrupted (SIGINT); a second SIGINT aborted the drain ("),
        "{reason}"
    );
}

#[test]
fn drain_timeout_bounds_the_wait_after_sigint() {
    let dir = tempfile::tempdir().unwrap();
    let _g = crate::util::serial();
    let child = slow_bench(dir.path(), &["--drain-timeout", "1s"]);
    wait_for_lines(&dir.path().join("records.jsonl"), 1, Duration::from_secs(30));
    sigint(&child);
    let t = Instant::now();
    let out = child.wait_with_output().unwrap();
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "{took:?}"
    );
    assert_eq!(out.status.code(), Some(130), "{}", String::from_utf8_lossy(&out.stderr));
    let s = records_complete_and_summarised(dir.path());
    assert!(s["aborted_in_flight"].as_u64().unwrap() >= 1);
    assert!(s["stopped_reason"]
        .as_str()
        .unwrap()
        .contains("the drain hit --drain-timeout 1s"));
}
