//! The self-contained HTML report: written by `bench` and `report`, every chart present,
//! hostile text from servers and records escaped, and sweep.json rendered.

use crate::util::{bench, bin};
use std::io::Write as _;
use std::path::Path;

const HOSTILE: &str = "<script>alert(1)</script>";

const RUN_CHARTS: [&str; 9] = [
    "cdf-ttft",
    "cdf-tpot",
    "cdf-e2e",
    "hist-itl",
    "hist-tpc",
    "ts-inflight",
    "ts-tps",
    "ts-ttft",
    "ts-errors",
];
const SWEEP_CHARTS: [&str; 3] = ["sweep-latency-vs-tps", "sweep-goodput", "sweep-attainment"];

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn assert_self_contained(html: &str) {
    assert!(html.starts_with("<!DOCTYPE html>"));
    for bad in ["<script", "<link", "http://cdn", "https://", "src=\"http"] {
        assert!(!html.contains(bad), "report contains {bad}");
    }
}

fn report(dir: &Path) -> std::process::Output {
    bin().arg("report").arg(dir).output().expect("run infermeter report")
}

#[test]
fn bench_report_has_every_chart_and_escapes_hostile_text() {
    let _cpu = crate::util::serial();
    let run = bench(&[
        "--requests",
        "40",
        "--concurrency",
        "8",
        "--output-tokens",
        "12",
        "--input-tokens",
        "32",
        "--sim-tokens-per-chunk",
        "2",
        "--sim-model",
        HOSTILE,
    ]);
    run.ok();
    let html = read(&run.path().join("report.html"));
    assert_self_contained(&html);
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "model name shown escaped"
    );
    for id in RUN_CHARTS {
        assert!(html.contains(&format!("<svg id=\"{id}\"")), "missing chart {id}");
    }
    assert_eq!(html.matches("<svg ").count(), RUN_CHARTS.len());
    assert!(html.matches("class=\"pt\"").count() >= 40, "TTFT dots and tooltips");
    for section in [
        "id=\"headline\"",
        "id=\"client\"",
        "id=\"tokens\"",
        "id=\"config\"",
        "id=\"glossary\"",
        "id=\"def-ttft\"",
    ] {
        assert!(html.contains(section), "{section}");
    }
    assert!(
        html.contains("<abbr title=\"first token-bearing event"),
        "definitions on hover"
    );

    // A failed request whose server error text and finish reason are hostile, then rebuild.
    let records = run.path().join("records.jsonl");
    let mut f = std::fs::OpenOptions::new().append(true).open(&records).unwrap();
    let send = 1_000u64;
    let rec = serde_json::json!({
        "id": 999, "sched_us": send, "start_us": send, "send_us": send, "end_us": 2000,
        "input_tokens": {}, "output_tokens": {}, "max_tokens": 12, "status": 500,
        "error": "http_5xx", "error_detail": format!("HTTP 500: {HOSTILE} \"x\" & 'y'"),
    });
    writeln!(f, "{rec}").unwrap();
    let ok = serde_json::json!({
        "id": 1000, "sched_us": send, "start_us": send, "send_us": send, "end_us": 9000,
        "events": [[5000, 1, 1], [9000, 1, 1]],
        "input_tokens": {"server": 3}, "output_tokens": {"server": 2}, "max_tokens": 2, "status": 200,
        "finish_reason": HOSTILE,
    });
    writeln!(f, "{ok}").unwrap();
    drop(f);
    let out = report(&run.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("report.html"));
    let html = read(&run.path().join("report.html"));
    assert_self_contained(&html);
    assert!(!html.contains(HOSTILE));
    assert!(html.contains("HTTP 500: &lt;script&gt;alert(1)&lt;/script&gt; &quot;x&quot; &amp; &#39;y&#39;"));
    assert!(html.contains("finish_reason &lt;script&gt;"));
    assert!(html.contains("http_5xx"));
    let errors = html
        .split("<svg id=\"ts-errors\"")
        .nth(1)
        .unwrap()
        .split("</svg>")
        .next()
        .unwrap();
    assert!(errors.contains("1 failed (http_5xx 1)"), "error bar with tooltip");

    // --no-html leaves no report
    std::fs::remove_file(run.path().join("report.html")).unwrap();
    let out = bin().arg("report").arg(run.path()).arg("--no-html").output().unwrap();
    assert!(out.status.success());
    assert!(!run.path().join("report.html").exists());
}

fn stage(rate: f64, tps: f64, ttft50: f64, ttft99: f64, tpot50: f64, good: f64, att: f64) -> serde_json::Value {
    serde_json::json!({
        "rate": rate,
        "summary": {
            "throughput": {"output_tokens_per_s": tps, "requests_per_s": rate * 0.98},
            "latency_ms": {"ttft": {"p50": ttft50, "p99": ttft99}, "tpot": {"p50": tpot50}},
            "requests": {"total": 100, "failed": 0},
            "goodput": {"requests_per_s": good, "attainment": att}
        }
    })
}

#[test]
fn sweep_json_is_rendered_with_marked_points() {
    let dir = tempfile::tempdir().unwrap();
    let sweep = serde_json::json!({
        "stages": [
            stage(2.0, 500.0, 40.0, 60.0, 10.0, 2.0, 1.0),
            stage(4.0, 1000.0, 45.0, 80.0, 11.0, 3.9, 0.98),
            stage(8.0, 1900.0, 70.0, 200.0, 14.0, 6.5, 0.85),
            stage(16.0, 2100.0, 900.0, 3000.0, 30.0, 2.0, 0.2),
        ],
        "saturation": {"rate": 16.0, "output_tokens_per_s": 2100.0},
        "operating_point": {"rate": 8.0, "output_tokens_per_s": 1900.0},
        "note": HOSTILE
    });
    std::fs::write(dir.path().join("sweep.json"), sweep.to_string()).unwrap();
    let out = report(dir.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let html = read(&dir.path().join("report.html"));
    assert_self_contained(&html);
    for id in SWEEP_CHARTS {
        let chart = html
            .split(&format!("<svg id=\"{id}\""))
            .nth(1)
            .unwrap_or_else(|| panic!("missing {id}"))
            .split("</svg>")
            .next()
            .unwrap();
        assert_eq!(
            chart.matches("class=\"marker\"").count(),
            2,
            "{id}: saturation + operating point"
        );
        assert!(chart.contains("saturation") && chart.contains("operating point"));
        assert!(chart.contains("class=\"line\""), "{id}");
    }
    assert!(html.contains("upper-left is better"));
    assert!(html.contains("id=\"sweep-stages\""));
    assert_eq!(html.matches("<svg ").count(), SWEEP_CHARTS.len());

    // A malformed sweep.json is a one-line error.
    std::fs::write(dir.path().join("sweep.json"), "{not json").unwrap();
    let out = report(dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(String::from_utf8_lossy(&out.stderr).lines().count(), 1);
}

/// Headless Chromium renders the report with every data point and no console error.
/// Skipped (with a message) when /usr/bin/chromium is absent, except under CI (`CI` set),
/// where a missing browser fails the test.
#[test]
fn chromium_renders_report() {
    if !Path::new("/usr/bin/chromium").exists() {
        crate::util::skip_missing(
            "chromium_renders_report",
            "/usr/bin/chromium is absent (apt-get install -y chromium)",
        );
        return;
    }
    let _cpu = crate::util::serial();
    let run = bench(&["--requests", "30", "--concurrency", "4", "--output-tokens", "8"]);
    run.ok();
    let report = run.path().join("report.html");
    let png = run.path().join("report.png");
    let dom = run.path().join("dom.html");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/render-report.sh");
    let out = std::process::Command::new("bash")
        .arg(&script)
        .arg(&report)
        .arg(&png)
        .env("RENDER_DUMP_DOM", &dom)
        .output()
        .expect("run render-report.sh");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        std::fs::metadata(&png).map(|m| m.len() > 10_000).unwrap_or(false),
        "screenshot written"
    );
    // Keep the screenshot as a test artifact (target/tmp/report-screenshot.png).
    let artifact = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-screenshot.png");
    std::fs::copy(&png, &artifact).expect("copy screenshot artifact");
    eprintln!("screenshot: {}", artifact.display());
    let dom = read(&dom);
    for id in RUN_CHARTS {
        assert!(dom.contains(&format!("id=\"{id}\"")), "{id} in rendered DOM");
    }
    assert!(dom.matches("class=\"pt\"").count() >= 30);
    // The page has no scripts: any console message is an error (e.g. an invalid SVG
    // attribute, which Chromium logs as `INFO:CONSOLE ... "Error: <path> attribute d: ..."`).
    let console_errors: Vec<&str> = stderr.lines().filter(|l| l.contains(":CONSOLE")).collect();
    assert!(console_errors.is_empty(), "{console_errors:?}");
}
