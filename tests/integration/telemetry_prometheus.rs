//! The live exporter against a real Prometheus server (Debian package `prometheus`, installed
//! by `.ci/run`): Prometheus scrapes `--prometheus-listen` during a simulated run and is then
//! queried through its HTTP API. The counters equal the run's final totals in `summary.json`,
//! `histogram_quantile(0.5, …)` of TTFT lies within one bucket of the summary's exact p50, every
//! query of the shipped Grafana dashboard returns data, and `promtool` accepts the shipped
//! scrape config and alert rules (and their unit tests pass).
//!
//! Without `prometheus`/`promtool` on PATH the test says so and passes, except under CI
//! (`util::skip_missing`), where a missing dependency fails it.

use crate::util::{bench, f};
use serde_json::Value;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Whether `bin` runs; a missing one fails under CI.
fn available(bin: &str) -> bool {
    let ok = Command::new(bin)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        crate::util::skip_missing(bin, "not installed (apt-get install prometheus)");
    }
    ok
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Kills the Prometheus server when dropped, also when an assertion fails.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// GET `path` from 127.0.0.1:`port`; (status, body).
fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").ok()?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|x| x.1.to_string()).unwrap_or_default();
    // Prometheus answers small API responses with Content-Length; large ones chunked.
    let body = if text.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        dechunk(&body)
    } else {
        body
    };
    Some((status, body))
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// An instant query at `time` (unix seconds): the result vector.
fn query(port: u16, q: &str, time: f64) -> Vec<Value> {
    let (status, body) = get(port, &format!("/api/v1/query?query={}&time={time:.3}", encode(q)))
        .unwrap_or_else(|| panic!("Prometheus did not answer the query {q}"));
    let v: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{q}: {e}: {body}"));
    assert_eq!((status, v["status"].as_str()), (200, Some("success")), "{q}: {body}");
    v["data"]["result"].as_array().cloned().unwrap_or_default()
}

/// The single value of a query's result.
fn scalar(port: u16, q: &str, time: f64) -> f64 {
    let r = query(port, q, time);
    assert_eq!(r.len(), 1, "{q}: {r:?}");
    r[0]["value"][1]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{q}: {r:?}"))
}

fn promtool(args: &[&str], cwd: &std::path::Path) {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("promtool");
    assert!(
        out.status.success(),
        "promtool {args:?}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn promtool_accepts_the_shipped_config_rules_and_rule_tests() {
    if !available("promtool") {
        return;
    }
    let dir = root().join("deploy/prometheus");
    promtool(&["check", "config", "prometheus.yml"], &dir);
    promtool(&["check", "rules", "alerts.yml"], &dir);
    promtool(&["test", "rules", "alerts_test.yml"], &dir);
}

#[test]
fn real_prometheus_scrapes_the_live_exporter_of_a_simulated_run() {
    if !available("prometheus") {
        return;
    }
    let _cpu = crate::util::serial();
    let tmp = tempfile::tempdir().unwrap();
    let (exporter, web) = (free_port(), free_port());
    let config = tmp.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: infermeter\n    static_configs:\n      - targets: [\"127.0.0.1:{exporter}\"]\n"
        ),
    )
    .unwrap();
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", tmp.path().join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{web}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start prometheus");
    let _server = Server(child);
    let deadline = Instant::now() + Duration::from_secs(60);
    while get(web, "/-/ready").map(|r| r.0) != Some(200) {
        assert!(Instant::now() < deadline, "Prometheus did not become ready in 60 s");
        std::thread::sleep(Duration::from_millis(200));
    }

    let listen = format!("127.0.0.1:{exporter}");
    let run = bench(&[
        "--prometheus-listen",
        &listen,
        "--prometheus-linger",
        "20s",
        "--sla",
        "chat",
        "--rate",
        "8",
        "--duration",
        "10s",
        "--output-tokens",
        "48",
    ]);
    run.ok();
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let s = run.summary();
    assert!(
        run.stderr().contains(&format!("live metrics: http://{listen}/metrics")),
        "{}",
        run.stderr()
    );
    assert!(
        !run.stderr().contains("no scrape"),
        "Prometheus never read the final values: {}",
        run.stderr()
    );

    // Counters equal the run's final totals. (max_over_time: the exporter is gone by now and
    // Prometheus may already have marked its series stale.)
    let last = |m: &str| scalar(web, &format!("max_over_time({m}[10m])"), t);
    let sum_last = |m: &str| scalar(web, &format!("sum(max_over_time({m}[10m]))"), t);
    assert_eq!(last("llm_tokens_total"), f(&s, "/tokens/output"));
    assert_eq!(last("infermeter_generation_tokens_total"), f(&s, "/tokens/output"));
    assert_eq!(last("infermeter_prompt_tokens_total"), f(&s, "/tokens/input"));
    assert_eq!(sum_last("infermeter_requests_total"), f(&s, "/requests/total"));
    assert_eq!(
        sum_last("infermeter_requests_total{outcome=\"ok\"}"),
        f(&s, "/requests/succeeded")
    );
    assert_eq!(last("llm_ttft_seconds_count"), f(&s, "/latency_ms/ttft/n"));
    let ttft_sum_ms = last("infermeter_time_to_first_token_seconds_sum") * 1000.0;
    let want = f(&s, "/latency_ms/ttft/mean") * f(&s, "/latency_ms/ttft/n");
    assert!(
        (ttft_sum_ms - want).abs() < 1e-6 * want.max(1.0),
        "{ttft_sum_ms} vs {want}"
    );

    // histogram_quantile(0.5, …) of TTFT lies within one bucket of the summary's p50.
    let q50 = scalar(
        web,
        "histogram_quantile(0.5, sum by (le) (max_over_time(llm_ttft_seconds_bucket[10m])))",
        t,
    );
    let p50 = f(&s, "/latency_ms/ttft/p50") / 1000.0;
    let buckets = infermeter::telemetry::exporter::TTFT_BUCKETS;
    let index = |v: f64| buckets.iter().position(|&b| v <= b).unwrap_or(buckets.len());
    assert!(
        index(q50).abs_diff(index(p50)) <= 1,
        "Prometheus TTFT p50 {q50} s vs summary {p50} s"
    );
    eprintln!(
        "TTFT p50: Prometheus histogram_quantile {:.4} s, summary {p50:.4} s",
        q50
    );

    // Every query of the shipped dashboard returns data.
    let dash: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("deploy/grafana/infermeter-dashboard.json")).unwrap(),
    )
    .unwrap();
    let panels = dash["panels"].as_array().expect("panels");
    assert!(panels.len() >= 10);
    for p in panels {
        for target in p["targets"].as_array().expect("targets") {
            let expr = target["expr"].as_str().expect("expr");
            let q = expr.replace("$__rate_interval", "20s").replace("$__interval", "5s");
            // Just before the run ended, while the exporter still answered Prometheus.
            let r = query(web, &q, t - 2.0);
            assert!(!r.is_empty(), "panel '{}': no data for {expr}", p["title"]);
        }
    }
}
