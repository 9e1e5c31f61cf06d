//! Sharded runs (issue #19), end to end through the binary: the local proof (N processes
//! launched exactly as the rendered Kubernetes Job would launch them, against one simulated
//! server, merged, and compared with a single-process run of the same specification), the
//! merge's refusals, the rendered manifests validated against the Kubernetes schemas
//! (`kubernetes-validate`, installed by `.ci/run`), and bad shard input.

use crate::util::{bin, read_json, serial};
use infermeter::record::{read_jsonl, RequestRecord};
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const REQUESTS: u64 = 200;
const WARMUP: u64 = 8;
/// Longest a shard, the single run or a merge may take.
const LIMIT: Duration = Duration::from_secs(120);

/// `infermeter sim serve` on 127.0.0.1, any free port, killed on drop.
struct SimServer {
    child: Child,
    url: String,
}

impl Drop for SimServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fixed-timing simulated server (TTFT 20 ms, 4 ms per token): little CPU, so the shards'
/// timing is the client's, not the server's.
fn sim_server() -> SimServer {
    sim_server_with(&[
        "--sim-ttft-ms",
        "20",
        "--sim-itl-ms",
        "4",
        "--sim-prefill-us-per-token",
        "0",
    ])
}

/// `infermeter sim serve --port 0 ARGS`.
fn sim_server_with(args: &[&str]) -> SimServer {
    let mut child = bin()
        .args(["sim", "serve", "--port", "0"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sim serve");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(i) = line.find("on http://") {
                let url = line[i + 3..].split_whitespace().next().unwrap_or("").to_string();
                let _ = tx.send(url);
            }
        }
    });
    let url = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("sim serve announced its URL");
    SimServer { child, url }
}

fn write_spec(dir: &Path, url: &str) -> PathBuf {
    let p = dir.join("spec.toml");
    std::fs::write(
        &p,
        format!(
            "seed = 11\n[target]\nurl = \"{url}\"\n[load]\nrate = 50.0\nrequests = {REQUESTS}\nwarmup = \"{WARMUP}\"\n[workload]\ninput_tokens = \"uniform:32,128\"\noutput_tokens = \"uniform:8,32\"\n"
        ),
    )
    .expect("spec");
    p
}

/// Run `cmd` to completion (output to files in `log_dir`), failing past `LIMIT`.
fn run_to_end(mut cmd: Command, log: &Path) -> std::process::ExitStatus {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(log.with_extension("out")).expect("log"))
        .stderr(std::fs::File::create(log.with_extension("err")).expect("log"))
        .spawn()
        .expect("spawn");
    wait_bounded(&mut child, log)
}

fn wait_bounded(child: &mut Child, log: &Path) -> std::process::ExitStatus {
    let t = Instant::now();
    loop {
        if let Some(s) = child.try_wait().expect("wait") {
            return s;
        }
        if t.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{} still running after {LIMIT:?}\n{}",
                log.display(),
                std::fs::read_to_string(log.with_extension("err")).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn stderr_of(log: &Path) -> String {
    std::fs::read_to_string(log.with_extension("err")).unwrap_or_default()
}

fn yaml_docs(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).expect("manifest");
    text.split("\n---\n")
        .skip(1)
        .map(|d| serde_norway::from_str(d).expect("YAML document"))
        .collect()
}

/// A container of a rendered manifest, as the kubelet would start it here: its args with the
/// ConfigMap's and the results volume's mount paths replaced by local directories, and its
/// environment (literal values; the node name from the downward API faked).
fn as_local(container: &Value, cm: &Path, results: &Path, node: &str) -> Command {
    let local = |a: &str| {
        a.replace("/etc/infermeter", &cm.display().to_string())
            .replace("/results", &results.display().to_string())
    };
    let mut cmd = bin();
    for a in container["args"].as_array().expect("args") {
        cmd.arg(local(a.as_str().expect("arg")));
    }
    cmd.env_remove("OPENAI_API_KEY")
        .env_remove(infermeter::shard::INDEX_ENV);
    for e in container["env"].as_array().into_iter().flatten() {
        let name = e["name"].as_str().expect("env name");
        if let Some(v) = e["value"].as_str() {
            cmd.env(name, v);
        } else if e["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName" {
            cmd.env(name, node);
        }
    }
    cmd
}

/// `infermeter report DIR --no-html`, then the summary it rewrote.
fn rebuilt_summary(dir: &Path) -> Value {
    let out = bin().arg("report").arg(dir).arg("--no-html").output().expect("report");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    read_json(&dir.join("summary.json"))
}

fn records_of(dir: &Path) -> Vec<RequestRecord> {
    let f = std::fs::File::open(dir.join("records.jsonl")).expect("records.jsonl");
    let (recs, torn) = read_jsonl(BufReader::new(f)).expect("records");
    assert_eq!(torn, 0);
    recs
}

fn f(v: &Value, ptr: &str) -> f64 {
    crate::util::f(v, ptr)
}

/// Render for `n` shards, launch them as the Job would, and merge them as the merge Job would.
/// Returns (the results directory, the merged directory).
fn sharded_run(work: &Path, spec: &Path, n: u32) -> (PathBuf, PathBuf) {
    let render = work.join(format!("k8s-{n}"));
    let start =
        infermeter::shard::format_utc(infermeter::shard::Anchor::now().unix_us + 4_000_000 + 1_000_000 * u64::from(n));
    let out = bin()
        .args(["k8s", "render", "--config"])
        .arg(spec)
        .args(["--shards", &n.to_string(), "--start-at", &start])
        .args(["--image", "infermeter:test", "--name", "proof", "--out-dir"])
        .arg(&render)
        .output()
        .expect("k8s render");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // The ConfigMap's files, where the pods would see them.
    let cm = work.join(format!("configmap-{n}"));
    std::fs::create_dir_all(&cm).unwrap();
    let configmap = &yaml_docs(&render.join("configmap.yaml"))[0];
    // (Paths inside the specification point at the mount, here the local directory.)
    for (k, v) in configmap["data"].as_object().expect("data") {
        let text = v
            .as_str()
            .expect("text")
            .replace("/etc/infermeter", &cm.display().to_string());
        std::fs::write(cm.join(k), text).unwrap();
    }
    let results = work.join(format!("results-{n}"));
    std::fs::create_dir_all(&results).unwrap();
    let job = &yaml_docs(&render.join("job.yaml"))[0];
    assert_eq!(job["spec"]["completionMode"], "Indexed");
    assert_eq!(job["spec"]["completions"], n);
    assert_eq!(job["spec"]["parallelism"], n);
    let container = &job["spec"]["template"]["spec"]["containers"][0];
    // Every pod at once, each with its completion index.
    let mut pods: Vec<(Child, PathBuf)> = (0..n)
        .map(|k| {
            let log = work.join(format!("pod-{n}-{k}"));
            let mut cmd = as_local(container, &cm, &results, &format!("node-{k}"));
            cmd.env(infermeter::shard::INDEX_ENV, k.to_string());
            let child = cmd
                .stdin(Stdio::null())
                .stdout(std::fs::File::create(log.with_extension("out")).unwrap())
                .stderr(std::fs::File::create(log.with_extension("err")).unwrap())
                .spawn()
                .expect("spawn shard");
            (child, log)
        })
        .collect();
    for (child, log) in &mut pods {
        let status = wait_bounded(child, log);
        assert!(status.success(), "{}: {}", log.display(), stderr_of(log));
    }
    let merge = &yaml_docs(&render.join("merge-job.yaml"))[0];
    let log = work.join(format!("merge-{n}"));
    let status = run_to_end(
        as_local(
            &merge["spec"]["template"]["spec"]["containers"][0],
            &cm,
            &results,
            "node-m",
        ),
        &log,
    );
    assert!(status.success(), "merge: {}", stderr_of(&log));
    (results.join("proof"), results.join("proof/merged"))
}

/// Issue #19's local proof, for N = 1, 2 and 4: same requests and token totals as one
/// process, rate within 1 %, merged percentiles equal to those recomputed from the shards'
/// concatenated records, and a merged report that renders.
#[test]
fn n_shards_send_and_merge_exactly_the_single_process_run() {
    let _cpu = serial();
    let work = tempfile::tempdir().expect("tempdir");
    let server = sim_server();
    let spec = write_spec(work.path(), &server.url);

    let single = work.path().join("single");
    let mut cmd = bin();
    cmd.args(["bench", "--config"])
        .arg(&spec)
        .arg("--out")
        .arg(&single)
        .args(["--no-progress", "-q"])
        .env_remove("OPENAI_API_KEY");
    let status = run_to_end(cmd, &work.path().join("single-log"));
    assert!(status.success(), "{}", stderr_of(&work.path().join("single-log")));
    let one = read_json(&single.join("summary.json"));
    let one_ids: BTreeSet<(u64, bool)> = records_of(&single).iter().map(|r| (r.id, r.warmup)).collect();
    assert_eq!(one_ids.len() as u64, REQUESTS + WARMUP);

    for n in [1u32, 2, 4] {
        let (shards, merged) = sharded_run(work.path(), &spec, n);
        let m = read_json(&merged.join("summary.json"));
        let ctx = format!("N = {n}");
        let merged_records = records_of(&merged);
        same_workload(&ctx, &m, &one, &merged_records, &one_ids);
        percentiles_from_concatenated(&ctx, &m, &shards, n);
        // The merged run says what it is made of; the shards started together.
        assert_eq!(m["shards"]["merged"], serde_json::json!((0..n).collect::<Vec<_>>()));
        assert_eq!(m["partial"], false);
        for h in m["shards"]["shards"].as_array().unwrap() {
            let late = h["start_late_ms"].as_f64().expect("start_late_ms");
            assert!(late < 1000.0, "{ctx}: shard {} started {late} ms late", h["index"]);
            assert!(h["client"]["schedule_lag_ms"]["n"].as_u64().unwrap() > 0);
        }
        let rerun = read_json(&merged.join("run.json"));
        assert!(
            rerun.get("shard").is_none(),
            "the merged run.json is the single-process specification"
        );
        assert_eq!(rerun["load"]["rate"], 50.0);
        merged_report_renders(&ctx, &merged, n);
        if n == 1 {
            // Merging the results volume again skips the merged run inside it.
            let out = bin()
                .arg("merge")
                .arg(&shards)
                .arg("-o")
                .arg(&merged)
                .arg("-q")
                .output()
                .expect("merge again");
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            assert_eq!(records_of(&merged).len(), merged_records.len());
        }
        if n == 2 {
            // `report` rebuilds the merged summary from its records, keeping the shards.
            let rebuilt = rebuilt_summary(&merged);
            for key in ["latency_ms", "throughput", "duration_s", "shards", "client"] {
                assert_eq!(rebuilt[key], m[key], "{ctx}: {key} after report");
            }
        }
        if n == 4 {
            render_in_chromium(&merged.join("report.html"), work.path());
            refusals(&shards, work.path());
        }
    }
}

/// Same requests (warm-up included), nothing twice, the same token totals and arrival
/// schedule as the single process, and the rates within 1 %.
fn same_workload(ctx: &str, m: &Value, one: &Value, merged: &[RequestRecord], one_ids: &BTreeSet<(u64, bool)>) {
    let ids: BTreeSet<(u64, bool)> = merged.iter().map(|r| (r.id, r.warmup)).collect();
    assert_eq!(merged.len(), ids.len(), "{ctx}: a request twice");
    assert_eq!(&ids, one_ids, "{ctx}");
    for key in [
        "/requests/total",
        "/requests/succeeded",
        "/tokens/input",
        "/tokens/output",
    ] {
        assert_eq!(m.pointer(key), one.pointer(key), "{ctx}: {key}");
    }
    assert_eq!(f(m, "/requests/total"), REQUESTS as f64);
    // The same arrival schedule (equal up to the µs rounding of each run's first and last
    // intended send), and the rates within 1 %.
    let (sm, so) = (f(m, "/client/scheduled_rate"), f(one, "/client/scheduled_rate"));
    assert!((sm / so - 1.0).abs() < 1e-6, "{ctx}: scheduled rate {sm} vs {so}");
    for key in ["/throughput/requests_per_s", "/throughput/output_tokens_per_s"] {
        let (a, b) = (f(m, key), f(one, key));
        eprintln!(
            "{ctx}: {key} merged {a:.3} single {b:.3} ({:+.3} %)",
            (a / b - 1.0) * 100.0
        );
        assert!((a / b - 1.0).abs() < 0.01, "{ctx}: {key} merged {a} single {b}");
    }
}

/// The merged percentiles are those of the shards' records concatenated as they are, and
/// each shard recorded its index and where it came from.
fn percentiles_from_concatenated(ctx: &str, m: &Value, shards: &Path, n: u32) {
    let mut concatenated = Vec::new();
    for k in 0..n {
        let dir = shards.join(format!("shard-{k}"));
        let run = read_json(&dir.join("run.json"));
        assert_eq!(run["shard"]["index"], k, "{ctx}");
        assert_eq!(run["run"]["shard"]["index_source"], "JOB_COMPLETION_INDEX");
        assert_eq!(run["run"]["shard"]["node"], format!("node-{k}"));
        concatenated.extend(records_of(&dir));
    }
    // Through the same JSON text as summary.json (serde_json's default float parsing is not
    // exact: the two sides must take the same path to compare bit for bit).
    let text = serde_json::to_string(&infermeter::metrics::compute(&concatenated)).unwrap();
    let recomputed: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(m["latency_ms"], recomputed["latency_ms"], "{ctx}");
    assert_eq!(m["tokens_per_chunk"], recomputed["tokens_per_chunk"], "{ctx}");
}

/// The merged report: self-contained, every chart, and a row per shard.
fn merged_report_renders(ctx: &str, merged: &Path, n: u32) {
    let html = std::fs::read_to_string(merged.join("report.html")).expect("report.html");
    assert!(html.starts_with("<!DOCTYPE html>") && !html.contains("<script"));
    for id in [
        "cdf-ttft",
        "cdf-tpot",
        "cdf-e2e",
        "hist-itl",
        "ts-inflight",
        "ts-tps",
        "id=\"shards\"",
    ] {
        assert!(html.contains(id), "{ctx}: {id}");
    }
    assert!(html.matches("<tr><td>").count() >= n as usize, "{ctx}: a row per shard");
}

/// With Chromium present (`.ci/run` installs it), the merged report renders without console
/// errors; without it, the HTML checks above stand alone.
fn render_in_chromium(report: &Path, work: &Path) {
    if !Path::new("/usr/bin/chromium").exists() {
        eprintln!("note: /usr/bin/chromium is absent: the merged report was checked as HTML only");
        return;
    }
    let dom = work.join("dom.html");
    let out = Command::new("bash")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/render-report.sh"))
        .arg(report)
        .arg(work.join("merged.png"))
        .env("RENDER_DUMP_DOM", &dom)
        .output()
        .expect("render-report.sh");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let dom = std::fs::read_to_string(&dom).expect("dom");
    assert!(dom.contains("id=\"shards\"") && dom.contains("id=\"cdf-ttft\""));
    let console: Vec<&str> = stderr.lines().filter(|l| l.contains(":CONSOLE")).collect();
    assert!(console.is_empty(), "{console:?}");
}

/// `merge` refuses, in one line with exit 2, a missing shard (unless `--allow-partial`, which
/// the summary states), a duplicate, and shards of another specification.
fn refusals(shards: &Path, work: &Path) {
    let merge = |dirs: &[PathBuf], extra: &[&str], out: &str| {
        bin()
            .arg("merge")
            .args(dirs)
            .args(extra)
            .arg("-o")
            .arg(work.join(out))
            .arg("-q")
            .output()
            .expect("merge")
    };
    let refused = |o: std::process::Output, want: &str| {
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(want), "{err}");
    };
    let s = |k: u32| shards.join(format!("shard-{k}"));
    refused(merge(&[s(0), s(1), s(3)], &[], "m1"), "shard 2 of 4 is missing");
    refused(
        merge(&[s(0), s(1), s(2), s(3), s(1)], &[], "m2"),
        "shard 1 appears twice",
    );
    let two = shards
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("results-2/proof/shard-1");
    refused(
        merge(&[s(0), two], &[], "m3"),
        "not shards of one specification: shard.count",
    );
    let o = merge(&[s(0), s(1), s(3)], &["--allow-partial"], "m4");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let p = read_json(&work.join("m4/summary.json"));
    assert_eq!(p["partial"], true);
    assert_eq!(p["shards"]["missing"], serde_json::json!([2]));
    assert!(p["stopped_reason"]
        .as_str()
        .unwrap()
        .contains("merged 3 of 4 shards (--allow-partial)"));
    assert_eq!(f(&p, "/requests/total"), 150.0);
}

/// A closed loop splits its workers and requests: two shards given `--shard K/2` send the
/// single run's requests between them, with the same token totals.
#[test]
fn closed_loop_shards_split_workers_and_requests() {
    let _cpu = serial();
    let work = tempfile::tempdir().expect("tempdir");
    let server = sim_server();
    let common = [
        "--url",
        server.url.as_str(),
        "--concurrency",
        "5",
        "--requests",
        "40",
        "--input-tokens",
        "64",
        "--output-tokens",
        "8",
        "--seed",
        "4",
        "--no-progress",
        "-q",
    ];
    let run = |extra: &[&str], out: &Path, log: &str| {
        let mut cmd = bin();
        cmd.arg("bench").args(common).args(extra).arg("--out").arg(out);
        let status = run_to_end(cmd, &work.path().join(log));
        assert!(status.success(), "{}", stderr_of(&work.path().join(log)));
    };
    let single = work.path().join("single");
    run(&[], &single, "single");
    for k in 0..2 {
        let out = work.path().join(format!("shard-{k}"));
        run(&["--shard", &format!("{k}/2")], &out, &format!("shard-{k}"));
        let s = read_json(&out.join("summary.json"));
        // 5 workers dealt 3 + 2, and the requests in proportion.
        assert_eq!(s["run"]["concurrency"], [3, 2][k]);
        assert_eq!(s["requests"]["total"], [24, 16][k]);
    }
    let merged = work.path().join("merged");
    let out = bin()
        .arg("merge")
        .arg(work.path().join("shard-0"))
        .arg(work.path().join("shard-1"))
        .arg("-o")
        .arg(&merged)
        .arg("-q")
        .output()
        .expect("merge");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (m, one) = (
        read_json(&merged.join("summary.json")),
        read_json(&single.join("summary.json")),
    );
    for key in [
        "/requests/total",
        "/requests/succeeded",
        "/tokens/input",
        "/tokens/output",
        "/run/concurrency",
    ] {
        assert_eq!(m.pointer(key), one.pointer(key), "{key}");
    }
    let ids = |d: &Path| records_of(d).iter().map(|r| r.id).collect::<BTreeSet<_>>();
    assert_eq!(ids(&merged), ids(&single));
}

/// Run `bench COMMON EXTRA` as a single process and as shards 0/2 and 1/2, merge the shards;
/// returns (single, merged) run directories.
fn single_and_two_shards(work: &Path, common: &[&str], tag: &str) -> (PathBuf, PathBuf) {
    let run = |extra: &[&str], out: &Path, log: &str| {
        let mut cmd = bin();
        cmd.arg("bench").args(common).args(extra).arg("--out").arg(out);
        let status = run_to_end(cmd, &work.join(log));
        assert!(status.success(), "{tag}: {}", stderr_of(&work.join(log)));
    };
    let single = work.join(format!("{tag}-single"));
    run(&[], &single, &format!("{tag}-single"));
    let mut dirs = Vec::new();
    for k in 0..2 {
        let out = work.join(format!("{tag}-shard-{k}"));
        run(&["--shard", &format!("{k}/2")], &out, &format!("{tag}-shard-{k}"));
        dirs.push(out);
    }
    let merged = work.join(format!("{tag}-merged"));
    let out = bin()
        .arg("merge")
        .args(&dirs)
        .arg("-o")
        .arg(&merged)
        .arg("-q")
        .output()
        .expect("merge");
    assert!(out.status.success(), "{tag}: {}", String::from_utf8_lossy(&out.stderr));
    (single, merged)
}

/// A trace's requests and a sessions workload's conversations are partitioned too: the shards
/// together send the single process's trace requests (same ids, same lengths), and hold
/// disjoint conversations whose turns are numbered without collisions.
#[test]
fn trace_and_session_shards_partition_the_workload() {
    let _cpu = serial();
    let work = tempfile::tempdir().expect("tempdir");
    let server = sim_server();
    // A Mooncake trace: 30 requests 10 ms apart, lengths varying with the line.
    let trace = work.path().join("t.jsonl");
    let lines: String = (0..30)
        .map(|i| {
            format!(
                "{{\"timestamp\": {}, \"input_length\": {}, \"output_length\": {}, \"hash_ids\": [{}]}}\n",
                i * 10,
                40 + 7 * i,
                4 + i % 5,
                i % 4
            )
        })
        .collect();
    std::fs::write(&trace, lines).expect("trace");
    // Launched as the rendered Job would: the trace travels in the ConfigMap.
    let spec = work.path().join("trace.toml");
    std::fs::write(
        &spec,
        format!(
            "seed = 5\n[target]\nurl = \"{}\"\n[workload.trace]\npath = \"{}\"\n",
            server.url,
            trace.display()
        ),
    )
    .expect("spec");
    let (_, merged) = sharded_run(work.path(), &spec, 2);
    let single = work.path().join("trace-single");
    let mut cmd = bin();
    cmd.args(["bench", "--config"])
        .arg(&spec)
        .args(["-q", "--no-progress", "--no-html", "--out"])
        .arg(&single);
    let status = run_to_end(cmd, &work.path().join("trace-single"));
    assert!(status.success(), "{}", stderr_of(&work.path().join("trace-single")));
    let key = |d: &Path| {
        records_of(d)
            .iter()
            .map(|r| (r.id, r.input_tokens.client, r.max_tokens))
            .collect::<BTreeSet<_>>()
    };
    assert_eq!(key(&merged).len(), 30);
    assert_eq!(key(&merged), key(&single));
    let (m, one) = (
        read_json(&merged.join("summary.json")),
        read_json(&single.join("summary.json")),
    );
    for k in ["/requests/succeeded", "/tokens/input", "/tokens/output"] {
        assert_eq!(m.pointer(k), one.pointer(k), "trace {k}");
    }

    // Sessions: 3 users (2 + 1), 12 turns of 4-turn conversations.
    let common = [
        "--url",
        server.url.as_str(),
        "--users",
        "3",
        "--turns",
        "4",
        "--output-tokens",
        "6",
        "--input-tokens",
        "24",
        "--seed",
        "5",
        "--no-progress",
        "-q",
        "--no-html",
    ];
    let (single, merged) = single_and_two_shards(work.path(), &common, "sessions");
    let recs = records_of(&merged);
    let ids: BTreeSet<u64> = recs.iter().map(|r| r.id).collect();
    assert_eq!(ids, records_of(&single).iter().map(|r| r.id).collect::<BTreeSet<_>>());
    assert_eq!(ids.len(), 12);
    // Each conversation is held by one shard (even ids by shard 0, odd by shard 1) and its
    // turns are 0, 1, 2, … with nothing twice.
    for k in 0..2u64 {
        for r in records_of(&work.path().join(format!("sessions-shard-{k}"))) {
            assert_eq!(r.session.expect("a session") % 2, k, "{r:?}");
        }
    }
    let mut turns: std::collections::BTreeMap<u64, Vec<u32>> = Default::default();
    for r in &recs {
        turns
            .entry(r.session.expect("a session"))
            .or_default()
            .push(r.turn.expect("a turn"));
    }
    for (session, mut t) in turns {
        t.sort_unstable();
        assert_eq!(t, (0..t.len() as u32).collect::<Vec<_>>(), "session {session}");
    }
    // A conversation's first prompt depends only on the seed and its id: the same in both.
    let first = |d: &Path| {
        records_of(d)
            .into_iter()
            .filter(|r| r.turn == Some(0))
            .map(|r| (r.session, r.input_tokens.client))
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    let (a, b) = (first(&merged), first(&single));
    for (session, isl) in &a {
        if let Some(other) = b.get(session) {
            assert_eq!(isl, other, "session {session:?}");
        }
    }
}

/// Shards run together against a simulated engine that exposes `/metrics`: the merged run has
/// the server's side too (one shard's scrapes, moved onto the merged timeline), and the
/// server's token counter agrees with the merged client count; `report DIR` recomputes it.
#[test]
fn merged_run_keeps_the_servers_side() {
    let _cpu = serial();
    let work = tempfile::tempdir().expect("tempdir");
    let server = sim_server_with(&["--sim-time-scale", "0.25"]);
    let mut shards: Vec<(Child, PathBuf)> = (0..2)
        .map(|k| {
            let log = work.path().join(format!("s{k}"));
            let child = bin()
                .args([
                    "bench",
                    "--url",
                    server.url.as_str(),
                    "--concurrency",
                    "4",
                    "--requests",
                    "40",
                ])
                .args([
                    "--output-tokens",
                    "8",
                    "--input-tokens",
                    "64",
                    "--seed",
                    "4",
                    "--no-progress",
                    "-q",
                ])
                .args(["--shard", &format!("{k}/2"), "--out"])
                .arg(work.path().join(format!("shard-{k}")))
                .stdin(Stdio::null())
                .stdout(std::fs::File::create(log.with_extension("out")).expect("log"))
                .stderr(std::fs::File::create(log.with_extension("err")).expect("log"))
                .spawn()
                .expect("spawn shard");
            (child, log)
        })
        .collect();
    for (child, log) in &mut shards {
        let status = wait_bounded(child, log);
        assert!(status.success(), "{}", stderr_of(log));
    }
    let merged = work.path().join("merged");
    let out = bin()
        .arg("merge")
        .arg(work.path().join("shard-0"))
        .arg(work.path().join("shard-1"))
        .args(["-o"])
        .arg(&merged)
        .args(["-q", "--no-html"])
        .output()
        .expect("merge");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let m = read_json(&merged.join("summary.json"));
    let srv = &m["server"];
    assert_eq!(srv["available"], true, "{srv}");
    assert_eq!(srv["engine"], "vllm");
    // 40 requests of 8 tokens, all counted by the server within the merged window.
    let g = &srv["cross_checks"]["generation_tokens"];
    assert_eq!(m["tokens"]["output"], 320);
    assert_eq!((f(g, "/client"), f(g, "/server")), (320.0, 320.0), "{g}");
    // Both shards' scrapes are in the merged log.
    let scrapes = |d: &Path| f(&read_json(&d.join("summary.json")), "/server/scrapes/ok");
    assert_eq!(
        f(srv, "/scrapes/ok"),
        scrapes(&work.path().join("shard-0")) + scrapes(&work.path().join("shard-1"))
    );
    assert!(merged.join("server_metrics.jsonl").is_file());
    // The rebuilt summary has the same server block.
    let again = rebuilt_summary(&merged);
    assert_eq!(again["server"]["cross_checks"], srv["cross_checks"]);
}

/// The manifests `k8s render` writes pass the Kubernetes API schemas (offline, strict: no
/// unknown field) of two Kubernetes versions. Skipped, saying so, when `kubernetes-validate`
/// is not installed, except under CI (env CI), where that is a failure: `.ci/run` installs it.
#[test]
fn rendered_manifests_pass_the_kubernetes_schemas() {
    let Some(validator) = which("kubernetes-validate") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "kubernetes-validate is not installed (pip install kubernetes-validate; .ci/run does)"
        );
        eprintln!("SKIPPED rendered_manifests_pass_the_kubernetes_schemas: kubernetes-validate is not installed (pip install kubernetes-validate)");
        return;
    };
    let work = tempfile::tempdir().expect("tempdir");
    let tok = work.path().join("tokenizer.json");
    std::fs::write(&tok, "{}").unwrap();
    let cases: [(&str, Vec<&str>); 2] = [
        (
            "real",
            vec![
                "--url",
                "http://vllm.llm.svc:8000",
                "--rate",
                "200",
                "--duration",
                "5m",
                "--shards",
                "8",
                "--namespace",
                "load",
                "--api-key-secret",
                "vllm-key:token",
                "--storage-class",
                "nfs-client",
                "--storage",
                "5Gi",
                "--cpu",
                "1500m",
                "--memory",
                "2Gi",
            ],
        ),
        (
            "sim",
            vec![
                "--sim-server",
                "--concurrency",
                "16",
                "--shards",
                "2",
                "--sim-gpu",
                "h100-sxm",
                "--volume-access",
                "ReadWriteOnce",
                "--tokenizer",
                tok.to_str().expect("path"),
            ],
        ),
    ];
    let mut files = Vec::new();
    for (name, args) in cases {
        let dir = work.path().join(name);
        let out = bin()
            .args([
                "k8s",
                "render",
                "--image",
                "ghcr.io/example/infermeter:0.1",
                "--name",
                name,
            ])
            .args(&args)
            .arg("--out-dir")
            .arg(&dir)
            .output()
            .expect("render");
        assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "yaml") {
                files.push(p);
            }
        }
    }
    assert_eq!(files.len(), 11, "{files:?}");
    for version in ["1.30", "1.33"] {
        let out = Command::new(&validator)
            .args(["--strict", "-k", version])
            .args(&files)
            .output()
            .expect("kubernetes-validate");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "Kubernetes {version}:\n{text}");
        assert_eq!(text.matches(" passed for resource ").count(), 12, "{text}");
    }
    // The check has teeth: a misspelled field fails it.
    let bad = work.path().join("bad.yaml");
    let job = std::fs::read_to_string(work.path().join("real/job.yaml")).unwrap();
    std::fs::write(&bad, job.replace("completionMode:", "completionModes:")).unwrap();
    let out = Command::new(&validator)
        .args(["--strict", "-k", "1.30"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Bad shard input: one line, exit 2, nothing run.
#[test]
fn bad_shard_input_is_one_line() {
    let cases: [(&[&str], &str); 6] = [
        (
            &["--url", "http://127.0.0.1:9", "--shard", "4/4"],
            "invalid --shard '4/4'",
        ),
        (
            &["--url", "http://127.0.0.1:9", "--shards", "2"],
            "JOB_COMPLETION_INDEX",
        ),
        (&["--shard", "0/2"], "needs --url"),
        (
            &["--url", "http://127.0.0.1:9", "--shard", "0/8", "-c", "4"],
            "every shard needs a worker",
        ),
        (
            &["--url", "http://127.0.0.1:9", "--start-at", "noon"],
            "invalid --start-at 'noon'",
        ),
        (
            &["--url", "http://127.0.0.1:9", "--shard", "0/2", "--shards", "2"],
            "cannot be used with",
        ),
    ];
    for (args, want) in cases {
        let out = bin()
            .arg("bench")
            .args(args)
            .env_remove(infermeter::shard::INDEX_ENV)
            .output()
            .expect("bench");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
        if !want.contains("cannot be used") {
            assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        }
    }
    let out = bin().args(["sweep", "--shard", "0/2"]).output().expect("sweep");
    assert_eq!(out.status.code(), Some(2), "sweep takes no --shard flag");
    let out = bin()
        .args(["k8s", "render", "--image", "x", "--url", "http://h:1"])
        .output()
        .expect("render");
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs --shards N"));
    assert_eq!(out.status.code(), Some(2));
}
