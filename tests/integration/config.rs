//! The run specification end to end: config files (TOML, YAML, JSON), `run.json` reruns,
//! unknown keys, the shipped examples, and one simulated server for `bench` and `sim serve`.

use crate::util::{bin, read_json};
use serde_json::Value;
use std::io::BufRead;
use std::process::Stdio;

fn input_token_total(records: &[Value]) -> u64 {
    records
        .iter()
        .map(|r| {
            r["input_tokens"]["server"]
                .as_u64()
                .expect("server-reported input tokens")
        })
        .sum()
}

/// `bench --config <run.json>` reruns a run: the same request count and the same input
/// token total (the same prompts for the same seed), counted by the server.
#[test]
fn run_json_reruns_the_same_requests() {
    let first = crate::util::bench(&[
        "-n",
        "24",
        "-c",
        "4",
        "--input-tokens",
        "uniform:20,400",
        "--output-tokens",
        "4",
        "--seed",
        "11",
        "--sim-time-scale",
        "0.1",
    ]);
    first.ok();
    let run_json = first.path().join("run.json");
    let again = crate::util::bench(&["--config", run_json.to_str().expect("path")]);
    again.ok();
    let (a, b) = (first.records(), again.records());
    assert_eq!(a.len(), 24);
    assert_eq!(b.len(), a.len());
    let total = input_token_total(&a);
    // Not a constant the workload could produce by accident: 24 draws from [20, 400].
    assert!(total > 24 * 20 && total < 24 * 400, "{total}");
    assert_eq!(input_token_total(&b), total);
    // The rerun wrote the same specification (its facts aside).
    let strip = |mut v: Value| {
        v.as_object_mut().expect("object").remove("run");
        v
    };
    assert_eq!(
        strip(read_json(&again.path().join("run.json"))),
        strip(read_json(&run_json))
    );
    // A flag typed after --config wins over the file.
    let fewer = crate::util::bench(&["--config", run_json.to_str().expect("path"), "-n", "6"]);
    fewer.ok();
    assert_eq!(fewer.records().len(), 6);
}

/// A misspelled key: exit 2 and one line naming the file, the key and the nearest valid key.
#[test]
fn unknown_keys_are_one_line_with_the_nearest_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, text, key, near) in [
        (
            "a.toml",
            "[load]\nconcurency = 4\n",
            "load.concurency",
            "load.concurrency",
        ),
        (
            "b.yaml",
            "workload:\n  input_token: \"5\"\n",
            "workload.input_token",
            "workload.input_tokens",
        ),
        ("c.json", "{\"sim\": {\"gpuu\": \"l4\"}}", "sim.gpuu", "sim.gpu"),
        ("d.toml", "sed = 3\n", "sed", "seed"),
    ] {
        let p = dir.path().join(name);
        std::fs::write(&p, text).expect("write");
        for cmd in [&["bench"][..], &["sweep"], &["sim", "run"], &["sim", "serve"]] {
            let out = bin()
                .args(cmd)
                .arg("--config")
                .arg(&p)
                .stdin(Stdio::null())
                .output()
                .expect("run");
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{cmd:?} {name}: {err}");
            assert_eq!(err.trim().lines().count(), 1, "{err}");
            assert!(
                err.contains(p.to_str().expect("path"))
                    && err.contains(&format!("'{key}'"))
                    && err.contains(&format!("'{near}'")),
                "{err}"
            );
        }
    }
    // Bad values in a file are one line too, naming the key.
    let p = dir.path().join("e.toml");
    std::fs::write(&p, "[load]\nconcurrency = \"many\"\n").expect("write");
    let out = bin().args(["bench", "--config"]).arg(&p).output().expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("load.concurrency") && err.trim().lines().count() == 1,
        "{err}"
    );
    let out = bin()
        .args(["bench", "--config", "/no/such/file.toml"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
}

/// The example specifications in examples/ load and validate with their command, so they
/// cannot rot.
#[test]
fn shipped_examples_are_valid() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("examples/") {
        let p = entry.expect("entry").path();
        let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
        if !["toml", "yaml", "yml", "json"].contains(&ext) {
            continue;
        }
        let stem = p.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        let cmd: &[&str] = if stem.starts_with("sweep") {
            &["sweep"]
        } else if stem.starts_with("sim-run") {
            &["sim", "run"]
        } else {
            &["bench"]
        };
        let out = bin()
            .args(cmd)
            .arg("--config")
            .arg(&p)
            .arg("--print-config")
            .output()
            .expect("run");
        assert!(
            out.status.success(),
            "{}: {}",
            p.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        // The printed specification is itself a valid config file.
        let printed = tempfile::Builder::new().suffix(".toml").tempfile().expect("tmp");
        std::fs::write(printed.path(), &out.stdout).expect("write");
        let back = bin()
            .args(cmd)
            .arg("--config")
            .arg(printed.path())
            .arg("--print-config")
            .output()
            .expect("run");
        assert_eq!(back.stdout, out.stdout, "{}", p.display());
        seen += 1;
    }
    assert!(seen >= 3, "examples/ holds {seen} specifications");
}

/// A simulated server started by `sim serve` with no flags answers on this address.
struct Served {
    child: std::process::Child,
    url: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(args: &[&str]) -> Served {
    let mut child = bin()
        .args(["sim", "serve", "--port", "0"])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sim serve");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = std::io::BufReader::new(stderr).lines();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::time::Instant::now() < deadline {
        let Some(Ok(line)) = lines.next() else { break };
        if let Some(rest) = line.split("on http://").nth(1) {
            let addr = rest.split_whitespace().next().expect("address");
            return Served {
                child,
                url: format!("http://{addr}"),
            };
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("sim serve printed no address");
}

/// `infermeter bench` and `infermeter sim serve` + `infermeter bench --url …`, with no other
/// flags, measure the same server: the same model, the same simulated deployment and engine
/// limits, and latencies that agree.
#[test]
fn bench_and_sim_serve_default_to_the_same_server() {
    let embedded = crate::util::bench(&[]);
    embedded.ok();
    let server = serve(&[]);
    let remote = crate::util::bench(&["--url", &server.url]);
    remote.ok();
    let (a, b) = (embedded.summary(), remote.summary());
    assert_eq!(a["run"]["model"], b["run"]["model"]);
    let engine = a["run"]["sim_engine"].as_str().expect("embedded: sim_engine");
    assert_eq!(Some(engine), b["run"]["sim_engine"].as_str(), "the URL's simulator");
    assert_eq!(
        (&a["run"]["embedded_sim"], &b["run"]["embedded_sim"]),
        (&Value::Bool(true), &Value::Bool(false))
    );
    // Same server, same load: the medians agree (TPOT is set by the simulated GPU).
    for key in ["tpot", "e2e"] {
        let (x, y) = (
            a["latency_ms"][key]["p50"].as_f64(),
            b["latency_ms"][key]["p50"].as_f64(),
        );
        let (x, y) = (x.expect("p50"), y.expect("p50"));
        assert!((x - y).abs() <= 0.1 * x, "{key} p50: embedded {x} vs served {y}");
    }
    assert_eq!(a["requests"]["total"], b["requests"]["total"]);
    assert_eq!(a["tokens"]["input"], b["tokens"]["input"]);
}
