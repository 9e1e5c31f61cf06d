//! Real workloads end to end against the embedded simulated server (and `sim run`): each
//! test checks the workload was honoured, not merely that the run finished — prompts sent
//! verbatim with the server's `usage` counting exactly their words, trace requests sent at
//! their recorded offsets within the measured schedule lag, the prefix-cache hit rate the
//! simulated engine reports equal to the sharing built into the workload, and every session
//! turn carrying the whole history including the reply received.
//!
//! The simulated server counts one token per whitespace-separated word and hashes words for
//! its prefix cache, so these expectations are exact.

use crate::util::{bench, bin, f, read_json, serial, Run};
use infermeter::workload::Tokenizer;
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/traces")
        .join(name)
}

fn words(s: &str) -> u64 {
    s.split_whitespace().count() as u64
}

fn measured(run: &Run) -> Vec<Value> {
    run.records().into_iter().filter(|r| r["warmup"] != true).collect()
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// `infermeter sim run ARGS --out TMP/run`.
fn sim_run(args: &[&str]) -> Run {
    let _guard = serial();
    let dir = tempfile::tempdir().expect("tempdir");
    let t = std::time::Instant::now();
    let out = bin()
        .args(["sim", "run"])
        .args(args)
        .arg("--out")
        .arg(dir.path().join("run"))
        .output()
        .expect("run infermeter");
    Run {
        out,
        dir,
        elapsed: t.elapsed(),
    }
}

fn write(dir: &Path, name: &str, body: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, body).expect("write fixture");
    p.display().to_string()
}

fn one_line_error(run: &Run, needle: &str) {
    let err = run.stderr();
    assert_eq!(run.out.status.code(), Some(2), "stderr: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one line, got: {err}");
    assert!(err.contains(needle), "'{needle}' not in: {err}");
    // Nothing was sent: no records.
    assert!(
        !run.path().join("records.jsonl").exists(),
        "records written despite bad input"
    );
}

const PROMPTS: [(&str, u64); 4] = [
    ("Hello, world! How are you today?", 7),
    ("Translate 'good morning' into German, please.", 12),
    ("  Leading and trailing spaces stay as they are.  ", 3),
    ("Ünïcödé tèxt — with dashes, quotes \"like this\" and\ttabs.", 9),
];

/// JSONL prompts (and messages) go out verbatim: the server counts exactly their words, the
/// output length is the file's, and the client token count is the tokenizer's.
#[test]
fn dataset_prompts_are_sent_verbatim_with_exact_counts() {
    let dir = tempfile::tempdir().unwrap();
    let mut body = String::new();
    for (p, out) in PROMPTS {
        body.push_str(&serde_json::json!({"prompt": p, "output_tokens": out}).to_string());
        body.push('\n');
    }
    body.push_str(
        "{\"messages\": [{\"role\": \"system\", \"content\": \"Answer in one word.\"}, {\"role\": \"user\", \"content\": \"Opposite of hot?\"}], \"max_tokens\": 4}\n",
    );
    let path = write(dir.path(), "d.jsonl", &body);
    let tok = Tokenizer::load("cl100k_base").unwrap();
    for api in ["completions", "chat"] {
        let run = bench(&[
            "--dataset",
            &path,
            "--dataset-order",
            "sequential",
            "--api",
            api,
            "-n",
            "10",
            "-c",
            "2",
        ]);
        run.ok();
        let recs = measured(&run);
        assert_eq!(recs.len(), 10);
        for r in &recs {
            assert!(r["error"].is_null(), "{r}");
            let line = u(&r["source_line"]) as usize;
            let (text, out) = match PROMPTS.get(line - 1) {
                Some((p, o)) => (p.to_string(), *o),
                // The messages line: contents flattened for completions, sent as chat messages.
                None => ("Answer in one word.\n\nOpposite of hot?".to_string(), 4),
            };
            assert_eq!(u(&r["input_tokens"]["server"]), words(&text), "{api} line {line}: {r}");
            let client = if api == "chat" && line == 5 {
                tok.count("Answer in one word.") + tok.count("Opposite of hot?")
            } else {
                tok.count(&text)
            };
            assert_eq!(u(&r["input_tokens"]["client"]), u64::from(client), "{api} line {line}");
            assert_eq!(u(&r["max_tokens"]), out);
            assert_eq!(u(&r["output_tokens"]["server"]), out);
        }
        // Sequential order: request i sends line i mod 5 + 1 (ids count from 0).
        let mut by_id: Vec<(u64, u64)> = recs.iter().map(|r| (u(&r["id"]), u(&r["source_line"]))).collect();
        by_id.sort();
        assert!(by_id.iter().all(|(id, line)| *line == id % 5 + 1), "{by_id:?}");
        let w = &run.summary()["run"]["workload"];
        assert_eq!((w["source"].as_str(), u(&w["input"]["used"])), (Some("dataset"), 5));
    }
}

/// ShareGPT: the first human turn is the prompt, the reply's token count the output length;
/// plain text: one prompt per line. A shuffle covers every entry once per pass, and the
/// order depends on the seed only.
#[test]
fn sharegpt_and_text_datasets_order_by_seed() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/workloads");
    let tok = Tokenizer::load("cl100k_base").unwrap();
    let run = bench(&[
        "--dataset",
        root.join("sharegpt.json").to_str().unwrap(),
        "-n",
        "4",
        "-c",
        "1",
    ]);
    run.ok();
    for r in measured(&run) {
        let (prompt, reply) = match u(&r["source_line"]) {
            5 => ("What is the capital of France?", "The capital of France is Paris."),
            12 => ("Opposite of hot?", "Cold."),
            other => panic!("unexpected entry ending on line {other}"),
        };
        assert_eq!(u(&r["input_tokens"]["server"]), words(prompt));
        assert_eq!(u(&r["output_tokens"]["server"]), u64::from(tok.count(reply)));
    }
    let order = |seed: &str| -> Vec<u64> {
        let run = bench(&[
            "--dataset",
            root.join("prompts.txt").to_str().unwrap(),
            "--seed",
            seed,
            "-n",
            "9",
            "-c",
            "1",
            "--output-tokens",
            "2",
        ]);
        run.ok();
        let mut recs: Vec<(u64, u64)> = measured(&run)
            .iter()
            .map(|r| (u(&r["id"]), u(&r["source_line"])))
            .collect();
        recs.sort();
        recs.into_iter().map(|(_, line)| line).collect()
    };
    let (a, b) = (order("1"), order("1"));
    assert_eq!(a, b, "same seed, same order");
    for pass in a.chunks(3) {
        let mut p = pass.to_vec();
        p.sort();
        assert_eq!(p, vec![1, 2, 3], "each pass visits each line once: {a:?}");
    }
    let others: Vec<Vec<u64>> = ["2", "3", "4"].iter().map(|s| order(s)).collect();
    assert!(
        others.iter().any(|o| *o != a),
        "the order depends on the seed: {a:?} {others:?}"
    );
}

/// Malformed lines, an empty dataset and prompts longer than the model's context stop the
/// run before any request with one line (`FILE:LINE: field …: reason`, exit 2), or are
/// skipped and counted with `--skip-invalid`.
#[test]
fn bad_datasets_and_traces_are_one_line_errors_or_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write(
        dir.path(),
        "bad.jsonl",
        "{\"prompt\": \"fine\"}\n{\"prompt\": 42}\n{\"prompt\": \"also fine\"}\n",
    );
    one_line_error(
        &bench(&["--dataset", &bad, "-n", "2"]),
        "bad.jsonl:2: field prompt: expected a string, got a number",
    );
    let run = bench(&[
        "--dataset",
        &bad,
        "--skip-invalid",
        "-n",
        "4",
        "-c",
        "1",
        "--output-tokens",
        "2",
    ]);
    run.ok();
    let input = &run.summary()["run"]["workload"]["input"];
    assert_eq!(
        (u(&input["read"]), u(&input["used"]), u(&input["skipped_invalid"])),
        (3, 2, 1)
    );
    assert!(run.stdout().contains("1 invalid skipped"), "{}", run.stdout());
    assert!(measured(&run).iter().all(|r| r["source_line"] != 2));

    let empty = write(dir.path(), "empty.txt", "\n  \n");
    one_line_error(&bench(&["--dataset", &empty]), "no usable prompt");

    // Longer than the simulated engine's context (200 tokens).
    let long = write(
        dir.path(),
        "long.jsonl",
        &format!(
            "{{\"prompt\": \"short one\"}}\n{{\"prompt\": \"{}\"}}\n",
            "word ".repeat(300).trim_end()
        ),
    );
    let ctx = ["--sim-max-model-len", "200", "--output-tokens", "8"];
    let mut args = vec!["--dataset", long.as_str(), "-n", "2"];
    args.extend(ctx);
    one_line_error(
        &bench(&args),
        "long.jsonl:2: prompt of 300 tokens exceeds the model's context of 200 tokens",
    );
    args.push("--skip-invalid");
    let run = bench(&args);
    run.ok();
    assert_eq!(u(&run.summary()["run"]["workload"]["input"]["skipped_too_long"]), 1);

    let trace = write(
        dir.path(),
        "t.jsonl",
        "{\"timestamp\": 0, \"input_length\": 10, \"output_length\": 2}\n{\"timestamp\": 5, \"input_length\": 700, \"output_length\": 2, \"hash_ids\": [1]}\n",
    );
    one_line_error(
        &bench(&["--trace", &trace]),
        "t.jsonl:2: field hash_ids: 1 blocks of 512 tokens do not fit input_length 700 (needs 2)",
    );
    let good = write(
        dir.path(),
        "g.jsonl",
        "{\"timestamp\": 0, \"input_length\": 10, \"output_length\": 2}\n",
    );
    one_line_error(
        &bench(&["--trace", &good, "--trace-start", "1h"]),
        "no request in the window [3600s, end) (1 read, 1 outside the window)",
    );
    one_line_error(&bench(&["--trace", &trace, "--rate", "3"]), "--trace-speed");
    one_line_error(&bench(&["--trace-speed", "2"]), "--trace-* options need --trace FILE");
    let late = write(
        dir.path(),
        "late.csv",
        "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:17:03.9,10,2\n2023-11-16 18:17:02.9,10,2\n",
    );
    one_line_error(&bench(&["--trace", &late]), "late.csv:3: field TIMESTAMP: ");
    let run = bench(&["--trace", &late, "--skip-invalid"]);
    run.ok();
    assert_eq!(run.summary()["requests"]["succeeded"], 1);
}

/// A real trace excerpt (Azure LLM inference 2023, code) replayed at 4×: every request is
/// sent at its recorded offset ÷ 4 (the intended send times are exact; the actual ones are
/// late by the measured schedule lag only), with exactly the recorded token counts.
#[test]
fn azure_trace_replays_recorded_arrivals_and_lengths() {
    let path = fixture("azure_code_head300.csv");
    let run = bench(&[
        "--trace",
        path.to_str().unwrap(),
        "--trace-end",
        "40s",
        "--trace-speed",
        "4",
        "--sim-time-scale",
        "0.25",
    ]);
    run.ok();
    // The recorded requests of the window, by line.
    let text = std::fs::read_to_string(&path).unwrap();
    let parse = |t: &str| -> f64 {
        let (_, time) = t.split_once(' ').unwrap();
        let mut p = time.split(':');
        let (h, m, s): (f64, f64, f64) = (
            p.next().unwrap().parse().unwrap(),
            p.next().unwrap().parse().unwrap(),
            p.next().unwrap().parse().unwrap(),
        );
        h * 3600.0 + m * 60.0 + s
    };
    let rows: Vec<(u64, f64, u64, u64)> = text
        .lines()
        .enumerate()
        .skip(1)
        .map(|(i, l)| {
            let c: Vec<&str> = l.split(',').collect();
            (i as u64 + 1, parse(c[0]), c[1].parse().unwrap(), c[2].parse().unwrap())
        })
        .collect();
    let t0 = rows[0].1;
    let window: HashMap<u64, (f64, u64, u64)> = rows
        .iter()
        .filter(|r| r.1 - t0 < 40.0)
        .map(|r| (r.0, (r.1 - t0, r.2, r.3)))
        .collect();
    let recs = measured(&run);
    assert_eq!(recs.len(), window.len(), "every request of the window, once");
    let s = run.summary();
    let lag_p99_ms = f(&s, "/latency_ms/schedule_lag/p99");
    let first_sched = recs.iter().map(|r| u(&r["sched_us"])).min().unwrap() as f64;
    for r in &recs {
        assert!(r["error"].is_null(), "{r}");
        let (offset_s, isl, osl) = window[&u(&r["source_line"])];
        let sched = (u(&r["sched_us"]) as f64 - first_sched) / 1e6;
        assert!(
            (sched - offset_s / 4.0).abs() < 1e-3,
            "intended {sched} s vs recorded {offset_s} s / 4"
        );
        // Sent when recorded, late only by this request's schedule lag.
        let lag_ms = (u(&r["start_us"]) as f64 - u(&r["sched_us"]) as f64) / 1000.0;
        assert!(
            (0.0..100.0).contains(&lag_ms),
            "line {}: lag {lag_ms} ms",
            r["source_line"]
        );
        assert_eq!(u(&r["input_tokens"]["server"]), isl);
        assert_eq!(u(&r["output_tokens"]["server"]), osl);
    }
    // Reported as an open loop at the trace's rate × speed, with its schedule lag.
    assert_eq!(s["run"]["load_mode"], "open");
    assert_eq!(s["run"]["arrival"], "trace");
    let recorded = f(&s, "/run/workload/trace/recorded_rate");
    let want = (window.len() - 1) as f64
        / (window.values().map(|w| w.0).fold(0.0, f64::max) - window.values().map(|w| w.0).fold(f64::MAX, f64::min));
    assert!((recorded - want).abs() < 1e-6 * want, "{recorded} vs {want}");
    assert!((f(&s, "/client/offered_rate") - 4.0 * recorded).abs() < 1e-9);
    assert!(s["latency_from_schedule_ms"]["ttft"]["n"].as_u64().unwrap() > 0);
    assert!(lag_p99_ms < 50.0, "schedule lag p99 {lag_p99_ms} ms");
}

/// Mooncake `hash_ids`: requests sharing a block id share that block's exact prompt words,
/// so the simulated engine's prefix cache hits exactly the trace's reuse (block lengths are
/// multiples of the engine's 16-token blocks; requests are spaced so each is cached before
/// the next arrives).
#[test]
fn mooncake_hash_ids_become_real_prefix_reuse() {
    let dir = tempfile::tempdir().unwrap();
    let lines = [
        (0, 1024, 8, "[10, 11]"),
        (300, 1536, 8, "[10, 11, 12]"),
        (600, 1536, 8, "[10, 11, 13]"),
        (900, 768, 8, "[20, 21]"),
        (1200, 1536, 8, "[20, 21, 22]"),
        (1500, 1636, 8, "[10, 11, 12, 14]"),
    ];
    let body: String = lines
        .iter()
        .map(|(t, i, o, h)| {
            format!("{{\"timestamp\": {t}, \"input_length\": {i}, \"output_length\": {o}, \"hash_ids\": {h}}}\n")
        })
        .collect();
    let path = write(dir.path(), "m.jsonl", &body);
    let run = bench(&["--trace", &path]);
    run.ok();
    let s = run.summary();
    // Reuse by construction: lines 2 and 3 reuse blocks 10, 11 (1024 each); line 5 reuses
    // 20 and the 256 words of 21 that line 4 sent (768); line 6 reuses 10, 11, 12 (1536).
    let reusable = 1024 + 1024 + 768 + 1536;
    let total: u64 = lines.iter().map(|l| l.1).sum();
    let expected = f(&s, "/run/workload/expected_prefix_reuse");
    assert!((expected - reusable as f64 / total as f64).abs() < 1e-12, "{expected}");
    assert_eq!(u(&s["workload"]["prefix_cache"]["cached_tokens"]), reusable);
    assert!((f(&s, "/workload/prefix_cache/hit_rate") - expected).abs() < 1e-12);
    for r in measured(&run) {
        let l = lines[u(&r["source_line"]) as usize - 1];
        assert_eq!(u(&r["input_tokens"]["server"]), l.1);
    }
}

/// The real Mooncake excerpt replayed offline: requests longer than the engine's context
/// are skipped and counted, the rest replayed with their recorded lengths and times, and the
/// engine's prefix-cache hits never exceed the trace's reuse.
#[test]
fn mooncake_excerpt_replays_offline() {
    let path = fixture("mooncake_conversation_head300.jsonl");
    let p = path.to_str().unwrap();
    let err = sim_run(&["--trace", p]);
    assert_eq!(err.out.status.code(), Some(2));
    assert!(
        err.stderr().contains("exceeds the model's context of 40960 tokens"),
        "{}",
        err.stderr()
    );
    let run = sim_run(&[
        "--trace",
        p,
        "--skip-invalid",
        "--sim-gpu",
        "h100-sxm",
        "--trace-speed",
        "0.5",
    ]);
    run.ok();
    let text = std::fs::read_to_string(&path).unwrap();
    let rows: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let fits: Vec<&Value> = rows
        .iter()
        .filter(|r| u(&r["input_length"]) + u(&r["output_length"]) <= 40960)
        .collect();
    let s = run.summary();
    let input = &s["run"]["workload"]["input"];
    assert_eq!(u(&input["skipped_too_long"]), (rows.len() - fits.len()) as u64);
    assert_eq!(u(&input["used"]), fits.len() as u64);
    let recs = measured(&run);
    assert_eq!(recs.len(), fits.len());
    for r in &recs {
        let row = &rows[u(&r["source_line"]) as usize - 1];
        assert_eq!(r["input_tokens"]["server"], row["input_length"]);
        assert_eq!(r["output_tokens"]["server"], row["output_length"]);
        // Offline, the send is the recorded time ÷ 0.5 exactly.
        assert_eq!(u(&r["sched_us"]), u(&row["timestamp"]) * 2000);
    }
    let hit = f(&s, "/workload/prefix_cache/hit_rate");
    let expected = f(&s, "/run/workload/expected_prefix_reuse");
    assert!(hit > 0.0 && hit <= expected, "hit {hit} vs reuse {expected}");
}

/// Shared prefixes: with one request in flight the engine caches every full block of each
/// group's prefix, so the hit rate equals the configured sharing exactly; the same lengths
/// without sharing get no hits, and (offline, where time is exact) a much higher TTFT.
#[test]
fn shared_prefix_hit_rate_and_ttft_follow_the_configured_sharing() {
    let shape = [
        "--prompts-per-group",
        "6",
        "--prefix-tokens",
        "1024",
        "--suffix-tokens",
        "32",
        "--output-tokens",
        "4",
    ];
    let mut args = vec!["--prefix-groups", "4", "-c", "1"];
    args.extend(shape);
    let run = bench(&args);
    run.ok();
    let s = run.summary();
    assert_eq!(s["requests"]["succeeded"], 24, "groups × prompts per group by default");
    // 24 requests, 4 groups: the 20 after each group's first reuse its 1024-token prefix.
    assert_eq!(u(&s["workload"]["prefix_cache"]["cached_tokens"]), 20 * 1024);
    assert_eq!(u(&s["workload"]["prefix_cache"]["input_tokens"]), 24 * (1024 + 32));
    let expected = f(&s, "/run/workload/expected_prefix_reuse");
    assert!((expected - 20.0 * 1024.0 / (24.0 * 1056.0)).abs() < 1e-12);
    assert!((f(&s, "/workload/prefix_cache/hit_rate") - expected).abs() < 1e-12);
    // Each prompt is the group's prefix then its own suffix: same group, same first 1024 words.
    for r in measured(&run) {
        assert_eq!(u(&r["input_tokens"]["server"]), 1056);
    }

    let offline = |groups: &str, per: &str| {
        let run = sim_run(&[
            "--prefix-groups",
            groups,
            "--prompts-per-group",
            per,
            "--prefix-tokens",
            "1024",
            "--suffix-tokens",
            "32",
            "--output-tokens",
            "4",
            "-c",
            "1",
        ]);
        run.ok();
        run.summary()
    };
    let (shared, unshared) = (offline("4", "6"), offline("24", "1"));
    assert_eq!(u(&unshared["workload"]["prefix_cache"]["cached_tokens"]), 0);
    assert!((f(&shared, "/workload/prefix_cache/hit_rate") - expected).abs() < 1e-12);
    let (ts, tu) = (f(&shared, "/latency_ms/ttft/p50"), f(&unshared, "/latency_ms/ttft/p50"));
    // 32 + a partial block of 1056 prompt tokens prefilled instead of all of them.
    assert!(ts < 0.5 * tu, "TTFT p50 with sharing {ts:.2} ms vs without {tu:.2} ms");
}

/// Sessions: each turn sends the whole history — every earlier user message and the reply
/// actually received — so the server counts prompt(k) = prompt(k−1) + reply(k−1) + user(k);
/// the think time is waited from the previous response's end.
#[test]
fn sessions_resend_the_history_with_the_replies_received() {
    for api in ["chat", "completions"] {
        let run = bench(&[
            "--users",
            "3",
            "--turns",
            "4",
            "--input-tokens",
            "20",
            "--output-tokens",
            "10",
            "--think-time-ms",
            "60",
            "--api",
            api,
        ]);
        run.ok();
        let recs = measured(&run);
        assert_eq!(recs.len(), 12, "users × turns by default");
        let mut sessions: HashMap<u64, Vec<&Value>> = HashMap::new();
        for r in &recs {
            sessions.entry(u(&r["session"])).or_default().push(r);
        }
        assert_eq!(sessions.len(), 3);
        for turns in sessions.values_mut() {
            turns.sort_by_key(|r| u(&r["turn"]));
            assert_eq!(
                turns.iter().map(|r| u(&r["turn"])).collect::<Vec<_>>(),
                vec![0, 1, 2, 3]
            );
            for k in 1..turns.len() {
                let (prev, cur) = (turns[k - 1], turns[k]);
                let want = u(&prev["input_tokens"]["server"]) + u(&prev["output_tokens"]["server"]) + 20;
                assert_eq!(u(&cur["input_tokens"]["server"]), want, "{api} turn {k}");
                // Due 60 ms after the previous response ended (the record's end, a little
                // before the client saw it complete).
                let prev_end = u(&prev["send_us"]) + u(&prev["end_us"]);
                let due = u(&cur["sched_us"]);
                assert!(
                    due >= prev_end + 60_000 && due < prev_end + 60_000 + 20_000,
                    "{api}: due {due} vs end {prev_end}"
                );
            }
        }
        let s = run.summary();
        let turns = s["workload"]["per_turn"].as_array().unwrap();
        for (k, t) in turns.iter().enumerate() {
            assert_eq!(u(&t["requests"]), 3);
            assert_eq!(f(t, "/input_tokens/mean"), (20 * (k + 1) + 10 * k) as f64, "{api}");
        }
        assert_eq!(u(&s["workload"]["sessions"]["completed"]), 3);
        // run.json reruns the same conversations.
        let again = bench(&["--config", run.path().join("run.json").to_str().unwrap()]);
        again.ok();
        assert_eq!(again.summary()["tokens"]["input"], s["tokens"]["input"], "{api}");
        // The history a prefix cache could reuse, and what the engine did reuse.
        assert!(f(&s, "/workload/prefix_cache/expected_reuse") > 0.5);
        assert!(f(&s, "/workload/prefix_cache/hit_rate") > 0.3);
    }
}

/// The same workload keys in `sim run` and `sweep`: sessions offline (the history grows as in
/// `bench`), and a trace swept at two rates by scaling its speed.
#[test]
fn workload_keys_work_in_sim_run_and_sweep() {
    let run = sim_run(&[
        "--users",
        "2",
        "--turns",
        "3",
        "--input-tokens",
        "100",
        "--output-tokens",
        "50",
    ]);
    run.ok();
    let s = run.summary();
    let turns = s["workload"]["per_turn"].as_array().unwrap();
    let means: Vec<f64> = turns.iter().map(|t| f(t, "/input_tokens/mean")).collect();
    assert_eq!(means, vec![100.0, 250.0, 400.0]);
    // TTFT grows with the history on the simulated GPU.
    assert!(f(&turns[2], "/ttft_ms/p50") > f(&turns[0], "/ttft_ms/p50"));

    let _guard = serial();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sweep");
    let o = bin()
        .args(["sweep", "--trace"])
        .arg(fixture("azure_code_head300.csv"))
        .args([
            "--trace-end",
            "20s",
            "--rates",
            "2,4",
            "--search-steps",
            "0",
            "--sim-time-scale",
            "0.25",
            "--out",
        ])
        .arg(&out)
        .output()
        .expect("sweep");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let sweep = read_json(&out.join("sweep.json"));
    for st in sweep["stages"].as_array().unwrap() {
        let rate = f(st, "/rate");
        let offered = f(st, "/summary/client/offered_rate");
        assert!((offered - rate).abs() < 1e-6 * rate, "stage {rate}: offered {offered}");
        assert_eq!(st["summary"]["run"]["arrival"], "trace");
    }
}
