//! Reliability and security through the binary: no secret in any output, nothing lost on
//! `kill -9`, a partial report on SIGINT.

use crate::util::{bench, bin, read_json};
use std::time::{Duration, Instant};

#[test]
fn api_key_and_header_secrets_never_reach_outputs() {
    let key = "sk-infermeter-TEST-7f3a9c1e5b";
    let dir = tempfile::tempdir().unwrap();
    let out = {
        let _g = crate::util::lock();
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
    let _g = crate::util::lock();
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
    let _g = crate::util::lock();
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
