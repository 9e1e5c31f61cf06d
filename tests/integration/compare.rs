//! `infermeter compare`: deltas, significance, ratio line, JSON, HTML overlay, and the exit
//! codes of `--fail-if` gates on two real runs with different inter-token latency.

use crate::util::{bench, bin, Run};
use serde_json::Value;

fn run_with_itl(itl: &str) -> Run {
    let run = bench(&[
        "--requests",
        "48",
        "--concurrency",
        "8",
        "--output-tokens",
        "16",
        "--input-tokens",
        "32",
        "--sim-ttft-ms",
        "20",
        "--sim-itl-ms",
        itl,
    ]);
    run.ok();
    run
}

fn compare(args: &[&std::ffi::OsStr]) -> std::process::Output {
    bin()
        .arg("compare")
        .args(args)
        .output()
        .expect("run infermeter compare")
}

#[test]
fn compare_fast_and_slow_runs() {
    let _cpu = crate::util::serial();
    let fast = run_with_itl("5");
    let slow = run_with_itl("20");
    let (f, s) = (fast.path(), slow.path());
    let gate = "itl.p50 > +10%";

    // slow vs fast baseline: ITL grew 4× → the gate fails with exit 3, naming the gate.
    let out = compare(&[f.as_os_str(), s.as_os_str(), "--fail-if".as_ref(), gate.as_ref()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stdout}\n{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("gate 'itl.p50 > +10%' violated"), "{stderr}");
    let itl_row = stdout
        .lines()
        .find(|l| l.starts_with("ITL (per token, chunk-aware) p50 (ms)"))
        .expect("itl row");
    // Never a bare, unlabelled ITL (or any other distribution) row.
    assert!(
        !stdout.lines().any(|l| ["itl.", "icl.", "tpot.", "ttft.", "e2e."]
            .iter()
            .any(|d| l.starts_with(d))),
        "{stdout}"
    );
    assert!(itl_row.trim_end().ends_with('*'), "significant: {itl_row}");
    assert!(stdout.contains("output throughput is"), "{stdout}");

    // The other way round ITL shrank: the gate passes; throughput rose so 'output_tps < -5%' passes too.
    let out = compare(&[
        s.as_os_str(),
        f.as_os_str(),
        "--fail-if".as_ref(),
        gate.as_ref(),
        "--fail-if".as_ref(),
        "output_tps < -5%".as_ref(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));

    // Two gates violated → two lines.
    let out = compare(&[
        f.as_os_str(),
        s.as_os_str(),
        "--fail-if".as_ref(),
        "tpot.p50 > +2ms".as_ref(),
        "--fail-if".as_ref(),
        "output_tps < -5%".as_ref(),
    ]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(String::from_utf8_lossy(&out.stderr).lines().count(), 2);

    // JSON and the HTML overlay.
    let html = fast.dir.path().join("cmp.html");
    let out = compare(&[
        f.as_os_str(),
        s.as_os_str(),
        "--json".as_ref(),
        "--html".as_ref(),
        html.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    let rows = v["comparison"]["rows"].as_array().unwrap();
    let itl = rows.iter().find(|r| r["metric"] == "itl.p50").unwrap();
    assert_eq!(itl["label"], "ITL (per token, chunk-aware) p50");
    let (a, b) = (
        itl["cells"][0]["value"].as_f64().unwrap(),
        itl["cells"][1]["value"].as_f64().unwrap(),
    );
    assert!(a < 7.0 && b > 17.0, "{a} {b}");
    assert!((itl["cells"][1]["delta"].as_f64().unwrap() - (b - a)).abs() < 1e-9);
    assert!(itl["cells"][1]["delta_pct"].as_f64().unwrap() > 100.0);
    assert_eq!(itl["cells"][1]["significant"], true);
    assert!(itl["cells"][0]["ci"].as_array().is_some());
    let ttft = rows.iter().find(|r| r["metric"] == "ttft.p50").unwrap();
    assert!(ttft["cells"][1]["delta_pct"].as_f64().unwrap().abs() < 50.0);
    let page = std::fs::read_to_string(&html).unwrap();
    assert_eq!(page.matches("<svg ").count(), 4);
    let itl_chart = page
        .split("<svg id=\"cdf-itl\"")
        .nth(1)
        .unwrap()
        .split("</svg>")
        .next()
        .unwrap();
    assert_eq!(
        itl_chart.matches("class=\"series\"").count(),
        2,
        "one CDF per run on shared axes"
    );
    assert!(!page.contains("<script"));
}

#[test]
fn compare_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    for (args, code) in [
        (vec![p.as_os_str()], 2),
        (vec![p.as_os_str(), p.as_os_str()], 2),
        (
            vec![
                p.as_os_str(),
                p.as_os_str(),
                "--fail-if".as_ref(),
                "ttft.p42 > 10%".as_ref(),
            ],
            2,
        ),
        (
            vec![
                p.as_os_str(),
                p.as_os_str(),
                "--fail-if".as_ref(),
                "ttft.p99 >> 10%".as_ref(),
            ],
            2,
        ),
    ] {
        let out = compare(&args);
        assert_eq!(out.status.code(), Some(code), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.is_empty());
    }
    let out = compare(&[
        p.as_os_str(),
        p.as_os_str(),
        "--fail-if".as_ref(),
        "ttft.p42 > 10%".as_ref(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("invalid --fail-if 'ttft.p42 > 10%'"), "{err}");
}
