//! Benchmarks a real inference server that no one here wrote: llama.cpp's native
//! `llama-server` (via the PyPI package `xllamacpp`) serving Gemma 3 270M on CPU, managed by
//! `scripts/real-server.sh` (which installs into a cache outside the repo on first use).
//! It asserts what must hold for any real engine: prefill is real work (TTFT grows with the
//! prompt), `ignore_eos` forces the length and our count agrees with the server's `usage`,
//! TTFT and the per-token ITL agree with the server's own timings (its log's prompt-eval and
//! eval times of the same requests), batching raises system TPS while lowering per-user TPS.
//!
//! Set `INFERMETER_SKIP_REAL_SERVER=1` to skip on a machine that cannot install the server
//! (not under CI: with `CI` set, a skip is a failure).

use crate::util::{bench, f, Run};
use std::path::PathBuf;
use std::process::Command;

const MODEL: &str = "gemma-3-270m";

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/real-server.sh")
}

/// Stops the server when dropped, also when an assertion fails.
struct Server {
    port: u16,
    url: String,
}

impl Server {
    fn start() -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let out = Command::new("bash")
            .arg(script())
            .args(["start", &port.to_string(), MODEL])
            .output()
            .expect("run real-server.sh");
        assert!(
            out.status.success(),
            "real-server.sh start failed (set INFERMETER_SKIP_REAL_SERVER=1 to skip):\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Server {
            port,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Server {
    /// `(prompt eval ms, eval ms)` of every request the server has finished, in order, from
    /// its log (`real-server.sh` truncates it on every start). The log lines are llama.cpp's
    /// `print_timing`: `prompt eval time = X ms / N tokens (...)` then `eval time = Y ms / M
    /// tokens (...)`.
    fn timings(&self) -> Vec<(f64, f64)> {
        let cache = std::env::var_os("INFERMETER_CACHE")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/infermeter"));
        let log = cache.join(format!("real-server/logs/server-{}.log", self.port));
        let text = std::fs::read_to_string(&log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
        let ms =
            |line: &str, key: &str| -> Option<f64> { line.split(key).nth(1)?.split_whitespace().next()?.parse().ok() };
        let mut out = Vec::new();
        let mut prompt = None;
        for line in text.lines().filter(|l| l.contains("print_timing")) {
            if let Some(p) = ms(line, "prompt eval time =") {
                prompt = Some(p);
            } else if let (Some(p), Some(e)) = (prompt, ms(line, "eval time =")) {
                out.push((p, e));
                prompt = None;
            }
        }
        out
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(script())
            .args(["stop", &self.port.to_string()])
            .output();
    }
}

fn run(s: &Server, extra: &[&str]) -> Run {
    let mut args = vec!["--url", &s.url, "--model", MODEL, "--request-timeout", "120s"];
    args.extend_from_slice(extra);
    let r = bench(&args);
    r.ok();
    r
}

fn assert_exact_and_clean(r: &Run, osl: u64, label: &str) {
    let s = r.summary();
    assert_eq!(s["requests"]["failed"], 0, "{label}: errors {}", s["errors"]);
    for rec in r.records().iter().filter(|x| x["warmup"] != true) {
        assert_eq!(
            rec["output_tokens"]["server"], osl,
            "{label}: ignore_eos must force the length"
        );
        assert!(rec["input_tokens"]["server"].as_u64().unwrap() > 0, "{label}");
        assert_eq!(rec["finish_reason"], "length", "{label}");
    }
    let ttft = f(&s, "/latency_ms/ttft/min");
    assert!(ttft > 0.0, "{label}: ttft {ttft}");
}

#[test]
fn llama_server_end_to_end() {
    if std::env::var("INFERMETER_SKIP_REAL_SERVER").is_ok_and(|v| v == "1") {
        crate::util::skip_missing("llama_server_end_to_end", "INFERMETER_SKIP_REAL_SERVER=1");
        return;
    }
    let _cpu = crate::util::serial();
    let server = Server::start();

    // Completions and chat, streaming and not: exact lengths, server usage, zero errors.
    let base = [
        "--requests",
        "3",
        "--concurrency",
        "1",
        "--input-tokens",
        "24",
        "--output-tokens",
        "16",
        "--warmup",
        "1",
    ];
    let comp = run(&server, &base);
    assert_exact_and_clean(&comp, 16, "completions stream");
    let s = comp.summary();
    // One token per event on llama.cpp: 16 events; ITL per token is positive and plausible for
    // a 270M model on 2 CPU cores (milliseconds to a few hundred ms).
    assert!(comp
        .records()
        .iter()
        .filter(|r| r["warmup"] != true)
        .all(|r| r["events"].as_array().unwrap().len() == 16));
    let itl = f(&s, "/latency_ms/itl/p50");
    assert!((1.0..500.0).contains(&itl), "itl p50 {itl} ms");
    // Against the server's own clock: for each request (warmup first, then the 3 measured ones,
    // one at a time), llama-server logs its prompt-eval time (prompt → first token) and its
    // eval time (first → last token). The first token cannot reach the client before the
    // prompt was evaluated; the client's first-to-last-token span, the sum of the request's
    // ITL samples, is the server's eval time up to the delivery jitter of two tokens.
    let timings = server.timings();
    assert_eq!(timings.len(), 4, "warmup + 3 requests in the server log: {timings:?}");
    let mut measured: Vec<serde_json::Value> = comp.records().into_iter().filter(|r| r["warmup"] != true).collect();
    measured.sort_by_key(|r| r["send_us"].as_u64());
    let mut server_eval = 0.0;
    for (r, &(prompt_ms, eval_ms)) in measured.iter().zip(&timings[1..]) {
        let ev = r["events"].as_array().expect("events");
        let t = |i: usize| ev[i][0].as_f64().expect("t_us") / 1000.0;
        let (ttft, span) = (t(0), t(ev.len() - 1) - t(0));
        assert!(
            ttft >= prompt_ms - 0.5,
            "TTFT {ttft} ms < the server's prompt eval {prompt_ms} ms"
        );
        assert!(
            (span - eval_ms).abs() <= 0.05 * eval_ms + 25.0,
            "first-to-last token {span} ms vs the server's eval time {eval_ms} ms"
        );
        server_eval += eval_ms;
    }
    let itl_total = f(&s, "/latency_ms/itl/mean") * f(&s, "/latency_ms/itl/n");
    assert!(
        (itl_total - server_eval).abs() <= 0.05 * server_eval + 75.0,
        "Σ ITL {itl_total} ms vs Σ server eval {server_eval} ms"
    );
    // And the wall clock measured here bounds every latency of the run.
    assert!(f(&s, "/latency_ms/e2e/max") < comp.elapsed.as_secs_f64() * 1000.0);
    let mut chat_args = base.to_vec();
    chat_args.extend_from_slice(&["--api", "chat"]);
    assert_exact_and_clean(&run(&server, &chat_args), 16, "chat stream");
    let mut ns = base.to_vec();
    ns.push("--no-stream");
    assert_exact_and_clean(&run(&server, &ns), 16, "completions non-stream");
    ns.extend_from_slice(&["--api", "chat"]);
    assert_exact_and_clean(&run(&server, &ns), 16, "chat non-stream");

    // Prefill is real work: a much longer prompt takes longer to its first token.
    let short = run(
        &server,
        &[
            "--requests",
            "3",
            "--concurrency",
            "1",
            "--input-tokens",
            "16",
            "--output-tokens",
            "4",
            "--warmup",
            "1",
        ],
    );
    let long = run(
        &server,
        &[
            "--requests",
            "3",
            "--concurrency",
            "1",
            "--input-tokens",
            "600",
            "--output-tokens",
            "4",
            "--warmup",
            "1",
        ],
    );
    let (ts, tl) = (
        f(&short.summary(), "/latency_ms/ttft/p50"),
        f(&long.summary(), "/latency_ms/ttft/p50"),
    );
    assert!(
        tl > 2.0 * ts,
        "TTFT must grow with the prompt: 16 tok {ts:.1} ms vs 600 tok {tl:.1} ms"
    );
    let isl_long = f(&long.summary(), "/tokens/input") / 3.0;
    assert!(isl_long > 400.0, "server counted {isl_long} prompt tokens");

    // Batching: 4 parallel slots give more system TPS and less per-user TPS than 1.
    let load = |c: &str| {
        run(
            &server,
            &[
                "--requests",
                "8",
                "--concurrency",
                c,
                "--input-tokens",
                "24",
                "--output-tokens",
                "24",
            ],
        )
    };
    let (c1, c4) = (load("1").summary(), load("4").summary());
    let (sys1, sys4) = (
        f(&c1, "/throughput/output_tokens_per_s"),
        f(&c4, "/throughput/output_tokens_per_s"),
    );
    let (pu1, pu4) = (
        f(&c1, "/per_user_output_tokens_per_s/p50"),
        f(&c4, "/per_user_output_tokens_per_s/p50"),
    );
    assert!(sys4 > sys1, "system TPS c4 {sys4:.1} must exceed c1 {sys1:.1}");
    assert!(pu4 < pu1, "per-user TPS c4 {pu4:.1} must be below c1 {pu1:.1}");
    eprintln!(
        "llama-server gemma-3-270m: TTFT p50 {ts:.1} ms (16 tok) vs {tl:.1} ms (600 tok); ITL p50 {itl:.1} ms; \
         system TPS {sys1:.1} (c1) vs {sys4:.1} (c4); per-user TPS {pu1:.1} vs {pu4:.1}"
    );
}
