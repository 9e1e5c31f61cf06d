//! Measurement correctness of the run-level figures (issue 16), through the library's public
//! `build_summary` on record sets whose true values the tests know from how they built them:
//! goodput never exceeds throughput over the same window (one attribution rule, also for
//! cost), a failed request never moves the throughput window, and every throughput figure
//! counts tokens with one provenance rule. The property test generates record sets with
//! failures, retries, warmup requests, token-count disagreements and manual windows that cut
//! requests. Checks read `summary.json`'s JSON shape, as a user of the file would.

use infermeter::metrics::health::RuntimeSamples;
use infermeter::metrics::slo::Slo;
use infermeter::record::{ErrorClass, EventTokenSource, RequestRecord, TokenCount, TokenEvent};
use infermeter::report::{build_summary, RunInfo};
use proptest::prelude::*;
use serde_json::Value;

fn f(v: &Value, ptr: &str) -> f64 {
    v.pointer(ptr)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("missing {ptr} in {v}"))
}

fn summary(run: RunInfo, records: &[RequestRecord]) -> Value {
    serde_json::to_value(build_summary(run, records, &RuntimeSamples::default(), false)).expect("summary")
}

/// A successful request sent at `send` (µs since run start): first token after `ttft`, then
/// one token every `itl` (µs), `n` tokens, the server's count `n`.
fn ok(id: u64, send: u64, ttft: u32, itl: u32, n: u32) -> RequestRecord {
    let events: Vec<TokenEvent> = (0..n).map(|i| TokenEvent::new(ttft + i * itl, 1, 1)).collect();
    RequestRecord {
        id,
        sched_us: send,
        start_us: send,
        send_us: send,
        hdr_us: Some(ttft / 2),
        end_us: events.last().map(|e| e.t_us() + 200),
        events,
        input_tokens: TokenCount {
            server: Some(100),
            client: Some(100),
        },
        output_tokens: TokenCount {
            server: Some(n),
            client: Some(n),
        },
        event_token_source: EventTokenSource::Usage,
        max_tokens: n,
        status: 200,
        finish_reason: Some("length".into()),
        ..Default::default()
    }
}

/// A closed loop: `workers` back-to-back workers, `per_worker` requests each, starting
/// staggered by `stagger` µs; every request takes `ttft + (n − 1)·itl + 200` µs.
fn closed_loop(workers: u64, per_worker: u64, stagger: u64, ttft: u32, itl: u32, n: u32) -> Vec<RequestRecord> {
    let mut v = Vec::new();
    for w in 0..workers {
        let mut t = w * stagger;
        for i in 0..per_worker {
            let r = ok(w * per_worker + i, t, ttft, itl, n);
            t = r.end_abs_us();
            v.push(r);
        }
    }
    v
}

/// Finding 1: over a window that cuts requests (here `--cooldown 2s`), goodput counted the
/// whole output of the good requests *sent* in the window while throughput counted the
/// tokens *emitted* in it, so with every request good, goodput came out above throughput
/// (and the cost per good token below the cost per token). With one attribution rule, an
/// all-good run has goodput equal to throughput, in the window as over the whole run.
#[test]
fn steady_state_goodput_equals_throughput_when_every_request_is_good() {
    // 16 workers, 1 s requests (100 ms TTFT, 45 × 20 ms), 10 each: a 10 s run.
    let records = closed_loop(16, 10, 50_000, 100_000, 20_000, 46);
    let run = RunInfo {
        slo: Some(Slo::parse("ttft=10s").expect("slo")),
        steady_cooldown: Some("2s".into()),
        gpu_cost_per_hour: Some(3.0),
        gpus: Some(1.0),
        ..Default::default()
    };
    let s = summary(run, &records);
    assert_eq!(f(&s, "/goodput/attainment"), 1.0);
    for scope in ["", "/steady_state"] {
        let (t, g) = (
            f(&s, &format!("{scope}/throughput/output_tokens_per_s")),
            f(&s, &format!("{scope}/goodput/output_tokens_per_s")),
        );
        let (tr, gr) = (
            f(&s, &format!("{scope}/throughput/requests_per_s")),
            f(&s, &format!("{scope}/goodput/requests_per_s")),
        );
        assert_eq!(g, t, "{scope}: goodput {g} tok/s vs throughput {t} tok/s");
        assert_eq!(gr, tr, "{scope}: goodput {gr} req/s vs throughput {tr} req/s");
        assert_eq!(
            f(&s, &format!("{scope}/cost/per_million_good_output_tokens")),
            f(&s, &format!("{scope}/cost/per_million_output_tokens")),
            "{scope}"
        );
    }
    // The window is 2 s shorter than the run; the throughput in it is the emitted tokens.
    let (ws, we) = (
        f(&s, "/steady_state/window_start_s"),
        f(&s, "/steady_state/window_end_s"),
    );
    assert_eq!(ws, 0.0);
    assert!((we - (f(&s, "/duration_s") - 2.0)).abs() < 1e-9, "{we}");
    let emitted = records
        .iter()
        .flat_map(|r| r.events.iter().map(move |e| r.send_us + u64::from(e.t_us())))
        .filter(|&t| t as f64 / 1e6 <= we)
        .count() as f64;
    let t = f(&s, "/steady_state/throughput/output_tokens_per_s");
    assert!((t - emitted / we).abs() < 1e-9, "{t} vs {}", emitted / we);
}

/// Finding 2: one failed request that ends long after the last token (a timeout) stretched
/// the system-throughput window. The window ends at the last token of a successful request,
/// and the failed request is reported beside it.
#[test]
fn a_failed_request_does_not_move_the_throughput_window() {
    // 4 workers × 10 requests of 20 tokens, 50 ms TTFT, 10 ms ITL: each takes 240.2 ms.
    let mut records = closed_loop(4, 10, 0, 50_000, 10_000, 20);
    let last_token = records
        .iter()
        .filter_map(RequestRecord::last_token_abs_us)
        .max()
        .expect("tokens");
    // The 41st request is sent near the end and times out 2 s later, with no token.
    let mut timeout = ok(40, last_token - 100_000, 0, 0, 0);
    timeout.events.clear();
    timeout.output_tokens = TokenCount::default();
    timeout.input_tokens = TokenCount::default();
    timeout.end_us = Some(2_000_000);
    timeout.status = 0;
    timeout.error = Some(ErrorClass::TotalTimeout);
    records.push(timeout);
    let s = summary(RunInfo::default(), &records);
    let window = last_token as f64 / 1e6;
    assert!((f(&s, "/duration_s") - window).abs() < 1e-9, "{}", s["duration_s"]);
    let tps = f(&s, "/throughput/output_tokens_per_s");
    assert!((tps - 800.0 / window).abs() < 1e-9, "{tps} vs {}", 800.0 / window);
    assert!((f(&s, "/throughput/requests_per_s") - 40.0 / window).abs() < 1e-9);
    assert_eq!(s["requests"]["failed"], 1);
    assert_eq!(s["requests"]["failed_after_window"], 1, "{}", s["requests"]);
    // In flight: the failed request's time after the window is not in the mean either.
    let busy: f64 = records
        .iter()
        .map(|r| r.end_abs_us().min(last_token).saturating_sub(r.send_us) as f64 / 1e6)
        .sum();
    assert!(
        (f(&s, "/concurrency/mean") - busy / window).abs() < 1e-9,
        "{}",
        s["concurrency"]
    );
    // A failed request that streamed tokens before it broke does not move the window either.
    let mut broken = ok(41, last_token - 50_000, 10_000, 500_000, 3);
    broken.error = Some(ErrorClass::ResetMidStream);
    records.push(broken);
    let s = summary(RunInfo::default(), &records);
    assert!((f(&s, "/duration_s") - window).abs() < 1e-9, "{}", s["duration_s"]);
    assert_eq!(s["requests"]["failed_after_window"], 2);
}

/// Finding 3: with per-event counts from the client tokenizer disagreeing with the server's
/// `usage`, the steady-state window counted event tokens and the whole run server totals.
/// Every throughput figure counts OSL (server usage when reported, else the client count),
/// placed in time by the events: a manual window over the whole run gives the whole run's
/// throughput exactly. The summary states the rule.
#[test]
fn one_token_provenance_for_every_throughput_figure() {
    let mut records = closed_loop(8, 6, 30_000, 40_000, 10_000, 20);
    for r in &mut records {
        // The client tokenizer split the text into 25 tokens; the server says 20.
        for (i, e) in r.events.iter_mut().enumerate() {
            e.set_tokens(if i % 4 == 0 { 2 } else { 1 });
        }
        r.event_token_source = EventTokenSource::Tokenizer;
        r.output_tokens.client = Some(25);
    }
    let run = RunInfo {
        steady_cooldown: Some("0s".into()),
        ..Default::default()
    };
    let s = summary(run, &records);
    assert_eq!(s["steady_state"]["method"], "manual");
    let whole = f(&s, "/throughput/output_tokens_per_s");
    assert!((whole - 48.0 * 20.0 / f(&s, "/duration_s")).abs() < 1e-9);
    assert_eq!(f(&s, "/steady_state/throughput/output_tokens_per_s"), whole);
    assert_eq!(
        f(&s, "/steady_state/throughput/total_tokens_per_s"),
        f(&s, "/throughput/total_tokens_per_s")
    );
    let rule = s["definitions"]["token_counts"].as_str().unwrap_or_default();
    assert!(
        rule.contains("server usage") && rule.contains("every throughput"),
        "{rule}"
    );
}

// ---- the property: goodput ≤ throughput over any record set and window ----

fn record_strategy() -> impl Strategy<Value = RequestRecord> {
    (
        (0u64..6_000_000, 0u32..400_000, 0usize..8, 1u32..200_000, 0u32..4),
        (prop::option::of(0u32..40), prop::option::of(0u32..40), 0u32..100),
        (0u8..10, 0u32..3, 0u64..3_000_000, 0u8..10, any::<bool>()),
    )
        .prop_map(
            |((send, ttft, n_ev, gap, k), (server, client, isl), (fail, retries, wait, warm, tokenizer))| {
                let events: Vec<TokenEvent> = (0..n_ev)
                    .map(|i| TokenEvent::new(ttft + i as u32 * gap, k + (i as u32 % 2), 1))
                    .collect();
                let last = events.last().map_or(ttft, |e| e.t_us());
                let error = match fail {
                    0 => Some(ErrorClass::TotalTimeout),
                    1 => Some(ErrorClass::ResetMidStream),
                    2 => Some(ErrorClass::Http5xx),
                    _ => None,
                };
                RequestRecord {
                    warmup: warm == 0,
                    sched_us: send,
                    start_us: send,
                    send_us: send,
                    retries,
                    retry_wait_us: if retries > 0 { wait } else { 0 },
                    // A timeout ends long after its last token; others shortly after.
                    end_us: Some(if fail == 0 { last + 2_000_000 } else { last + 300 }),
                    events: if fail == 2 { Vec::new() } else { events },
                    input_tokens: TokenCount {
                        server: Some(isl),
                        client: Some(isl),
                    },
                    output_tokens: TokenCount { server, client },
                    event_token_source: if tokenizer {
                        EventTokenSource::Tokenizer
                    } else {
                        EventTokenSource::Usage
                    },
                    error,
                    status: if error.is_some() { 500 } else { 200 },
                    ..Default::default()
                }
            },
        )
}

fn records_strategy() -> impl Strategy<Value = Vec<RequestRecord>> {
    prop::collection::vec(record_strategy(), 1..70).prop_map(|mut v| {
        for (i, r) in v.iter_mut().enumerate() {
            r.id = i as u64;
        }
        v
    })
}

/// `--warmup Xs` / `--cooldown Ys|N`, or automatic detection.
fn window_strategy() -> impl Strategy<Value = (Option<f64>, Option<String>)> {
    prop_oneof![
        Just((None, None)),
        (0.0f64..4.0, 0.0f64..4.0).prop_map(|(a, b)| (Some(a), Some(format!("{b}s")))),
        (0.0f64..3.0, 0u64..30).prop_map(|(a, n)| (Some(a), Some(n.to_string()))),
    ]
}

fn slo_strategy() -> impl Strategy<Value = Slo> {
    prop_oneof![
        Just("ttft=1h"),
        Just("ttft=150ms"),
        Just("tpot=60ms"),
        Just("e2e=900ms,itl_p99=120ms"),
        Just("ttfo=300ms,tpot=100ms"),
    ]
    .prop_map(|s| Slo::parse(s).expect("slo"))
}

/// The rates of one scope (`""` or `"/steady_state"`) obey goodput ≤ throughput, and the
/// cost per good token is never below the cost per token.
fn check_scope(s: &Value, scope: &str) -> Result<(), TestCaseError> {
    let get = |p: &str| s.pointer(&format!("{scope}{p}")).and_then(Value::as_f64);
    let (Some(t), Some(g)) = (
        get("/throughput/output_tokens_per_s"),
        get("/goodput/output_tokens_per_s"),
    ) else {
        return Ok(());
    };
    prop_assert!(g <= t, "{scope}: goodput {g} tok/s > throughput {t} tok/s");
    let (tr, gr) = (
        get("/throughput/requests_per_s").unwrap_or(f64::NAN),
        get("/goodput/requests_per_s").unwrap_or(f64::NAN),
    );
    prop_assert!(gr <= tr, "{scope}: goodput {gr} req/s > throughput {tr} req/s");
    if let (Some(c), Some(cg)) = (
        get("/cost/per_million_output_tokens"),
        get("/cost/per_million_good_output_tokens"),
    ) {
        prop_assert!(cg >= c, "{scope}: cost per good token {cg} < cost per token {c}");
    }
    Ok(())
}

proptest! {
    #[test]
    fn goodput_never_exceeds_throughput(
        records in records_strategy(),
        slo in slo_strategy(),
        (skip, cooldown) in window_strategy(),
    ) {
        let run = RunInfo {
            slo: Some(slo),
            gpu_cost_per_hour: Some(2.5),
            gpus: Some(2.0),
            steady_skip_start_s: skip,
            steady_cooldown: cooldown,
            ..Default::default()
        };
        let s = summary(run, &records);
        check_scope(&s, "")?;
        check_scope(&s, "/steady_state")?;
    }
}
