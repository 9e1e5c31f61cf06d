//! An audit of every figure of `summary.json` against `docs/metrics.md`: each one recomputed
//! here, independently, straight from the documented formula (naive loops, a fresh
//! percentile, brute-force windows and peaks), over generated record sets — failures with
//! and without tokens, timeouts, retries, warmup requests, multi-token and zero-token events,
//! server/client count disagreements, open and closed loops, manual steady-state windows —
//! and compared with what `build_summary` reports.

use infermeter::metrics::health::RuntimeSamples;
use infermeter::metrics::slo::Slo;
use infermeter::record::{ErrorClass, EventTokenSource, RequestRecord, TokenCount, TokenEvent};
use infermeter::report::{build_summary, RunInfo};
use proptest::prelude::*;
use serde_json::Value;
use std::collections::BTreeMap;

// ---- independent implementations of the documented formulas ----

/// NumPy `linear` percentile: rank = p/100 · (n − 1), interpolated.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = p / 100.0 * (sorted.len() - 1) as f64;
    let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo as f64)
}

/// `{n, mean, std, min, p50, p90, p95, p99, p999, max}` as documented (std: ddof = 0).
fn stats(mut v: Vec<f64>) -> BTreeMap<&'static str, f64> {
    let mut m = BTreeMap::new();
    m.insert("n", v.len() as f64);
    if v.is_empty() {
        return m;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    m.insert("mean", mean);
    m.insert("std", (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt());
    m.insert("min", v[0]);
    m.insert("max", v[v.len() - 1]);
    for (k, p) in [
        ("p50", 50.0),
        ("p90", 90.0),
        ("p95", 95.0),
        ("p99", 99.0),
        ("p999", 99.9),
    ] {
        m.insert(k, percentile(&v, p));
    }
    m
}

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * a.abs().max(b.abs()).max(1e-9) + 1e-12
}

fn check_stats(s: &Value, ptr: &str, samples: Vec<f64>, rel: f64) -> Result<(), TestCaseError> {
    let want = stats(samples);
    let got = s.pointer(ptr).unwrap_or(&Value::Null);
    let n = got["n"].as_u64().unwrap_or(u64::MAX);
    prop_assert_eq!(n as f64, want["n"], "{}.n", ptr);
    for (k, w) in &want {
        let g = got[*k].as_f64().unwrap_or(f64::NAN);
        prop_assert!(close(g, *w, rel), "{}.{}: reported {} vs {}", ptr, k, g, w);
    }
    Ok(())
}

fn num(s: &Value, ptr: &str) -> f64 {
    s.pointer(ptr).and_then(Value::as_f64).unwrap_or(f64::NAN)
}

/// The documented per-request figures of one successful record.
struct PerRequest {
    ttft: Option<f64>,
    ttfo: Option<f64>,
    e2e: Option<f64>,
    tpot: Option<f64>,
    normalized: Option<f64>,
    per_user: Option<f64>,
}

fn osl(r: &RequestRecord) -> Option<u32> {
    r.output_tokens.server.or(r.output_tokens.client)
}

/// ISL: the server's count when reported, else the client's (0 when neither).
fn isl(r: &RequestRecord) -> u32 {
    r.input_tokens.server.or(r.input_tokens.client).unwrap_or(0)
}

fn per_request(r: &RequestRecord) -> PerRequest {
    let t: Vec<f64> = r.events.iter().map(|e| f64::from(e.t_us()) / 1000.0).collect();
    let (ttft, e2e) = (t.first().copied(), t.last().copied());
    let ttfo = r
        .events
        .iter()
        .find(|e| e.kind() & 1 != 0)
        .map(|e| f64::from(e.t_us()) / 1000.0);
    let osl = osl(r).filter(|&n| n > 0 && !t.is_empty());
    let k0 = r.events.first().map_or(0, |e| e.tokens());
    PerRequest {
        ttft,
        ttfo,
        e2e,
        tpot: match (osl, ttft, e2e) {
            (Some(o), Some(a), Some(b)) if o > k0 && t.len() > 1 => Some((b - a) / f64::from(o - k0)),
            _ => None,
        },
        normalized: osl.zip(e2e).map(|(o, e)| e / f64::from(o)),
        per_user: osl
            .zip(e2e)
            .filter(|(_, e)| *e > 0.0)
            .map(|(o, e)| f64::from(o) / (e / 1000.0)),
    }
}

/// Gaps between consecutive events, ms (out-of-order times count as 0).
fn gaps(r: &RequestRecord) -> Vec<(f64, u32)> {
    r.events
        .windows(2)
        .map(|w| {
            (
                f64::from(w[1].t_us().saturating_sub(w[0].t_us())) / 1000.0,
                w[1].tokens(),
            )
        })
        .collect()
}

/// ITL per token: an event with k ≥ 1 tokens gives min(k, 1024) samples of gap/k; an event
/// with k = 0 (a usage delta of 0) gives one sample of the whole gap.
fn itl(r: &RequestRecord) -> Vec<f64> {
    gaps(r)
        .into_iter()
        .flat_map(|(g, k)| {
            if k == 0 {
                vec![g]
            } else {
                vec![g / f64::from(k); k.min(1024) as usize]
            }
        })
        .collect()
}

fn last_token(r: &RequestRecord) -> Option<u64> {
    match r.events.last() {
        Some(e) => Some(r.send_us + u64::from(e.t_us())),
        None => r.end_us.map(|e| r.send_us + u64::from(e)),
    }
}

fn end(r: &RequestRecord) -> u64 {
    (r.send_us + u64::from(r.end_us.unwrap_or(0))).max(r.send_us)
}

/// Output tokens of `r` arrived in `[ws, we]`: OSL × (Σ k inside / Σ k), events weighted
/// equally when every k is 0; OSL at the end for a record without events.
fn attributed(r: &RequestRecord, ws: u64, we: u64) -> f64 {
    let o = f64::from(osl(r).unwrap_or(0));
    let inside = |e: &TokenEvent| (ws..=we).contains(&(r.send_us + u64::from(e.t_us())));
    if r.events.is_empty() {
        return if last_token(r).is_some_and(|t| (ws..=we).contains(&t)) {
            o
        } else {
            0.0
        };
    }
    let total: u32 = r.events.iter().map(|e| e.tokens()).sum();
    let (num, den) = if total == 0 {
        (
            r.events.iter().filter(|e| inside(e)).count() as f64,
            r.events.len() as f64,
        )
    } else {
        (
            f64::from(r.events.iter().filter(|e| inside(e)).map(|e| e.tokens()).sum::<u32>()),
            f64::from(total),
        )
    };
    o * num / den
}

/// One scope of the summary: `records` are all measured records, `population` the ones the
/// scope describes (whole run: all; steady state: sent in the window), `[ws, we]` its window.
struct Scope<'a> {
    s: &'a Value,
    prefix: &'a str,
    records: &'a [&'a RequestRecord],
    population: &'a [&'a RequestRecord],
    ok: Vec<&'a RequestRecord>,
    ws: u64,
    we: u64,
}

impl Scope<'_> {
    fn p(&self, k: &str) -> String {
        format!("{}{k}", self.prefix)
    }
    fn secs(&self) -> f64 {
        (self.we - self.ws) as f64 / 1e6
    }
    fn rate(&self, x: f64) -> f64 {
        if self.secs() > 0.0 {
            x / self.secs()
        } else {
            0.0
        }
    }
}

/// Every figure of one scope against its documented formula.
fn check_scope(
    s: &Value,
    scope: &str,
    records: &[&RequestRecord],
    population: &[&RequestRecord],
    (ws, we): (u64, u64),
    slo: &Slo,
    price: f64,
) -> Result<(), TestCaseError> {
    let sc = Scope {
        s,
        prefix: scope,
        records,
        population,
        ok: population.iter().copied().filter(|r| r.error.is_none()).collect(),
        ws,
        we,
    };
    check_counts(&sc)?;
    check_distributions(&sc)?;
    check_tokens(&sc)?;
    let (out_tok, in_tok) = check_throughput(&sc)?;
    let good_tok = check_goodput(&sc, slo)?;
    check_cost(&sc, price, out_tok, in_tok, good_tok)
}

/// Requests, errors and the window length.
fn check_counts(sc: &Scope) -> Result<(), TestCaseError> {
    let s = sc.s;
    let population = sc.population;
    let ok = &sc.ok;
    let we = sc.we;
    let p = |k: &str| sc.p(k);
    prop_assert_eq!(num(s, &p("/requests/total")), population.len() as f64);
    prop_assert_eq!(num(s, &p("/requests/succeeded")), ok.len() as f64);
    prop_assert_eq!(
        num(s, &p("/requests/retried")),
        population.iter().filter(|r| r.retries > 0).count() as f64
    );
    prop_assert_eq!(
        num(s, &p("/requests/failed_after_window")),
        population.iter().filter(|r| r.error.is_some() && end(r) > we).count() as f64
    );
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    for r in population.iter().filter_map(|r| r.error) {
        *errors.entry(r.as_str().to_string()).or_default() += 1;
    }
    prop_assert_eq!(
        serde_json::to_value(&errors).unwrap_or_default(),
        s.pointer(&p("/errors")).cloned().unwrap_or_default()
    );
    let secs = sc.secs();
    prop_assert!(close(num(s, &p("/duration_s")), secs, 1e-12), "duration");
    Ok(())
}

/// Latency distributions: per-request ones exact in f64; pooled per-event ones in f32.
fn check_distributions(sc: &Scope) -> Result<(), TestCaseError> {
    let s = sc.s;
    let population = sc.population;
    let ok = &sc.ok;
    let p = |k: &str| sc.p(k);
    let per: Vec<PerRequest> = ok.iter().map(|r| per_request(r)).collect();
    let col = |f: &dyn Fn(&PerRequest) -> Option<f64>| per.iter().filter_map(f).collect::<Vec<f64>>();
    check_stats(s, &p("/latency_ms/ttft"), col(&|m| m.ttft), 1e-12)?;
    check_stats(s, &p("/latency_ms/ttfo"), col(&|m| m.ttfo), 1e-12)?;
    check_stats(s, &p("/latency_ms/e2e"), col(&|m| m.e2e), 1e-12)?;
    check_stats(s, &p("/latency_ms/tpot"), col(&|m| m.tpot), 1e-12)?;
    check_stats(s, &p("/latency_ms/normalized"), col(&|m| m.normalized), 1e-12)?;
    check_stats(s, &p("/per_user_output_tokens_per_s"), col(&|m| m.per_user), 1e-12)?;
    check_stats(s, &p("/latency_ms/itl"), ok.iter().flat_map(|r| itl(r)).collect(), 1e-5)?;
    check_stats(
        s,
        &p("/latency_ms/icl"),
        ok.iter().flat_map(|r| gaps(r).into_iter().map(|g| g.0)).collect(),
        1e-5,
    )?;
    check_stats(
        s,
        &p("/tokens_per_chunk"),
        ok.iter()
            .flat_map(|r| r.events.iter().map(|e| f64::from(e.tokens())))
            .collect(),
        1e-6,
    )?;
    let lag: Vec<f64> = population
        .iter()
        .map(|r| r.start_us.saturating_sub(r.sched_us) as f64 / 1000.0)
        .collect();
    check_stats(s, &p("/latency_ms/schedule_lag"), lag, 1e-12)?;
    let queue: Vec<f64> = population.iter().map(|r| r.queue_us as f64 / 1000.0).collect();
    check_stats(s, &p("/latency_ms/client_queue"), queue, 1e-12)?;
    Ok(())
}

/// Token totals over the population's successful requests.
fn check_tokens(sc: &Scope) -> Result<(), TestCaseError> {
    let s = sc.s;
    let ok = &sc.ok;
    let p = |k: &str| sc.p(k);
    let sum = |f: &dyn Fn(&RequestRecord) -> i64| ok.iter().map(|r| f(r)).sum::<i64>() as f64;
    let osl_of = |r: &RequestRecord| i64::from(osl(r).unwrap_or(0));
    let isl_of = |r: &RequestRecord| i64::from(isl(r));
    prop_assert_eq!(num(s, &p("/tokens/output")), sum(&osl_of));
    prop_assert_eq!(num(s, &p("/tokens/input")), sum(&isl_of));
    prop_assert_eq!(
        num(s, &p("/tokens/output_from_server")),
        sum(&|r| i64::from(r.output_tokens.server.is_some()))
    );
    let both = |r: &RequestRecord| r.output_tokens.server.zip(r.output_tokens.client);
    prop_assert_eq!(
        num(s, &p("/tokens/output_compared")),
        sum(&|r| i64::from(both(r).is_some()))
    );
    prop_assert_eq!(
        num(s, &p("/tokens/output_mismatched")),
        sum(&|r| i64::from(both(r).is_some_and(|(a, b)| a != b)))
    );
    prop_assert_eq!(
        num(s, &p("/tokens/output_server_minus_client")),
        sum(&|r| both(r).map_or(0, |(a, b)| i64::from(a) - i64::from(b)))
    );
    prop_assert_eq!(
        num(s, &p("/tokens/event_sum_minus_osl")),
        sum(&|r| r.events.iter().map(|e| i64::from(e.tokens())).sum::<i64>() - osl_of(r))
    );
    Ok(())
}

/// Throughput and concurrency: the attribution rule over every measured request. Returns the attributed output and input tokens.
fn check_throughput(sc: &Scope) -> Result<(f64, f64), TestCaseError> {
    let s = sc.s;
    let ws = sc.ws;
    let we = sc.we;
    let p = |k: &str| sc.p(k);
    let all_ok: Vec<&RequestRecord> = sc.records.iter().copied().filter(|r| r.error.is_none()).collect();
    let done = |r: &&&RequestRecord| last_token(r).is_some_and(|t| (ws..=we).contains(&t));
    let out_tok: f64 = all_ok.iter().map(|r| attributed(r, ws, we)).sum();
    let in_tok: f64 = all_ok
        .iter()
        .filter(|r| (ws..=we).contains(&r.send_us))
        .map(|r| isl(r) as f64)
        .sum();
    let completed = all_ok.iter().filter(done).count() as f64;
    let rate = |x: f64| sc.rate(x);
    prop_assert!(close(
        num(s, &p("/throughput/output_tokens_per_s")),
        rate(out_tok),
        1e-9
    ));
    prop_assert!(close(num(s, &p("/throughput/input_tokens_per_s")), rate(in_tok), 1e-9));
    prop_assert!(close(
        num(s, &p("/throughput/total_tokens_per_s")),
        rate(in_tok + out_tok),
        1e-9
    ));
    prop_assert!(close(num(s, &p("/throughput/requests_per_s")), rate(completed), 1e-9));
    let busy: f64 = sc
        .records
        .iter()
        .map(|r| end(r).min(we).saturating_sub(r.send_us.max(ws)) as f64 / 1e6)
        .sum();
    prop_assert!(
        close(num(s, &p("/concurrency/mean")), rate(busy), 1e-9),
        "concurrency mean"
    );
    Ok((out_tok, in_tok))
}

/// Goodput: verdicts from the documented objectives, strictly below each limit. Returns the attributed good output tokens.
fn check_goodput(sc: &Scope, slo: &Slo) -> Result<f64, TestCaseError> {
    let s = sc.s;
    let population = sc.population;
    let ws = sc.ws;
    let we = sc.we;
    let p = |k: &str| sc.p(k);
    let rate = |x: f64| sc.rate(x);
    let all_ok: Vec<&RequestRecord> = sc.records.iter().copied().filter(|r| r.error.is_none()).collect();
    let done = |r: &&&RequestRecord| last_token(r).is_some_and(|t| (ws..=we).contains(&t));
    let verdict = |r: &RequestRecord| -> (Vec<&'static str>, bool) {
        if r.error.is_some() {
            return (vec!["error"], false);
        }
        let m = per_request(r);
        let over = |x: Option<f64>, l: Option<f64>| matches!((x, l), (Some(x), Some(l)) if x >= l);
        let mut v = Vec::new();
        for (name, x, l) in [
            ("ttft", m.ttft, slo.ttft_ms),
            ("ttfo", m.ttfo, slo.ttfo_ms),
            ("e2e", m.e2e, slo.e2e_ms),
        ] {
            if over(x, l) {
                v.push(name);
            }
        }
        let na = slo.tpot_ms.is_some() && m.tpot.is_none();
        if over(m.tpot, slo.tpot_ms) {
            v.push("tpot");
        }
        (v, na)
    };
    let mut violations: BTreeMap<String, u64> = BTreeMap::new();
    let (mut good, mut na) = (0u64, 0u64);
    for r in population {
        let (v, n) = verdict(r);
        good += u64::from(v.is_empty());
        na += u64::from(n);
        for name in v {
            *violations.entry(name.to_string()).or_default() += 1;
        }
    }
    prop_assert_eq!(num(s, &p("/goodput/good")), good as f64);
    prop_assert_eq!(num(s, &p("/goodput/tpot_not_applicable")), na as f64);
    prop_assert_eq!(
        serde_json::to_value(&violations).unwrap_or_default(),
        s.pointer(&p("/goodput/violations")).cloned().unwrap_or_default()
    );
    let att = if population.is_empty() {
        0.0
    } else {
        good as f64 / population.len() as f64
    };
    prop_assert!(close(num(s, &p("/goodput/attainment")), att, 1e-12));
    let good_ok: Vec<&&RequestRecord> = all_ok.iter().filter(|r| verdict(r).0.is_empty()).collect();
    let good_tok: f64 = good_ok.iter().map(|r| attributed(r, ws, we)).sum();
    let good_done = good_ok.iter().filter(|r| done(r)).count() as f64;
    prop_assert!(close(num(s, &p("/goodput/output_tokens_per_s")), rate(good_tok), 1e-9));
    prop_assert!(close(num(s, &p("/goodput/requests_per_s")), rate(good_done), 1e-9));
    Ok(good_tok)
}

/// Cost: $ per token = $/h / (TPS · 3600), with $/h = P · G (G = 1 here).
fn check_cost(sc: &Scope, price: f64, out_tok: f64, in_tok: f64, good_tok: f64) -> Result<(), TestCaseError> {
    let s = sc.s;
    let p = |k: &str| sc.p(k);
    let rate = |x: f64| sc.rate(x);
    let per_m = |tps: f64| (tps > 0.0).then(|| price / (tps * 3600.0) * 1e6);
    for (key, tps) in [
        ("per_million_output_tokens", rate(out_tok)),
        ("per_million_total_tokens", rate(in_tok + out_tok)),
        ("per_million_good_output_tokens", rate(good_tok)),
    ] {
        let got = s.pointer(&p(&format!("/cost/{key}"))).and_then(Value::as_f64);
        match per_m(tps) {
            Some(w) => prop_assert!(got.is_some_and(|g| close(g, w, 1e-9)), "{} {:?} vs {}", key, got, w),
            None => prop_assert!(got.is_none(), "{} {:?}", key, got),
        }
    }
    let per_dollar = s.pointer(&p("/cost/output_tokens_per_dollar")).and_then(Value::as_f64);
    if rate(out_tok) > 0.0 {
        prop_assert!(per_dollar.is_some_and(|g| close(g, rate(out_tok) * 3600.0 / price, 1e-9)));
    }
    Ok(())
}

// ---- generated record sets ----

fn record() -> impl Strategy<Value = RequestRecord> {
    (
        (0u64..4_000_000, 0u64..3_000, 0u64..2_000, 0u32..300_000),
        prop::collection::vec(
            (
                0u32..120_000,
                prop_oneof![4 => 1u32..4, 1 => Just(0u32), 1 => Just(2000u32)],
                1u8..4,
            ),
            0..7,
        ),
        (
            prop::option::of(0u32..60),
            prop::option::of(0u32..60),
            prop::option::of(0u32..500),
        ),
        (0u8..12, 0u32..3, 0u8..10, any::<bool>()),
    )
        .prop_map(
            |((send, lag, queue, ttft), evs, (server, client, isl), (fail, retries, warm, shuffled))| {
                let mut t = ttft;
                let mut events: Vec<TokenEvent> = evs
                    .iter()
                    .map(|&(gap, k, kind)| {
                        let e = TokenEvent::new(t, k, kind);
                        t += gap;
                        e
                    })
                    .collect();
                if shuffled && events.len() > 2 {
                    // Out-of-order event times (a hand-edited records file): gaps count as 0.
                    events.swap(1, 2);
                }
                let last = events.iter().map(|e| e.t_us()).max().unwrap_or(ttft);
                let error = match fail {
                    0 => Some(ErrorClass::TotalTimeout),
                    1 => Some(ErrorClass::ResetMidStream),
                    2 => Some(ErrorClass::Http429),
                    _ => None,
                };
                RequestRecord {
                    warmup: warm == 0,
                    sched_us: send,
                    start_us: send + lag,
                    queue_us: queue,
                    send_us: send + lag + queue,
                    retries,
                    end_us: Some(match fail {
                        0 => last + 1_500_000,
                        2 => 800,
                        _ => last + 250,
                    }),
                    events: if fail == 2 { Vec::new() } else { events },
                    input_tokens: TokenCount {
                        server: isl,
                        client: Some(isl.unwrap_or(7) + 1),
                    },
                    output_tokens: TokenCount { server, client },
                    cached_tokens: isl.map(|n| n / 4),
                    event_token_source: EventTokenSource::Tokenizer,
                    error,
                    status: if error.is_some() { 500 } else { 200 },
                    ..Default::default()
                }
            },
        )
}

fn records() -> impl Strategy<Value = Vec<RequestRecord>> {
    prop::collection::vec(record(), 1..50).prop_map(|mut v| {
        for (i, r) in v.iter_mut().enumerate() {
            r.id = i as u64;
        }
        v
    })
}

proptest! {
    #[test]
    fn every_figure_matches_its_documented_formula(
        recs in records(),
        slo in prop_oneof![Just("ttft=100ms"), Just("tpot=25ms,e2e=250ms"), Just("ttfo=150ms,tpot=40ms")],
        open in any::<bool>(),
        (skip_ms, cooldown_ms) in (0u32..2000, 0u32..2000),
    ) {
        let slo = Slo::parse(slo).expect("slo");
        let run = RunInfo {
            slo: Some(slo.clone()),
            gpu_cost_per_hour: Some(4.5),
            load_mode: if open { "open".into() } else { "closed".into() },
            request_rate: open.then_some(10.0),
            steady_skip_start_s: Some(f64::from(skip_ms) / 1000.0),
            steady_cooldown: Some(format!("{cooldown_ms}ms")),
            ..Default::default()
        };
        let summary = build_summary(run, &recs, &RuntimeSamples::default(), false);
        let s = serde_json::to_value(&summary).expect("json");
        let measured: Vec<&RequestRecord> = recs.iter().filter(|r| !r.warmup).collect();
        prop_assert_eq!(num(&s, "/requests/warmup_excluded"), (recs.len() - measured.len()) as f64);
        if measured.is_empty() {
            return Ok(());
        }
        // The whole run: first send to the last token of a successful request.
        let (t0, t1) = run_window(&measured).unwrap_or((0, 0));
        check_scope(&s, "", &measured, &measured, (t0, t1), &slo, 4.5)?;

        // Peak concurrency: the most requests in flight ([send, end)) at any send instant.
        let peak = measured
            .iter()
            .map(|a| measured.iter().filter(|b| b.send_us <= a.send_us && a.send_us < end(b)).count())
            .max()
            .unwrap_or(0);
        prop_assert_eq!(num(&s, "/concurrency/peak"), peak as f64);

        // Latency from the intended send time (open loop only).
        if open {
            let delay = |r: &RequestRecord| r.send_us.saturating_sub(r.sched_us) as f64 / 1000.0;
            let ok: Vec<&&RequestRecord> = measured.iter().filter(|r| r.error.is_none()).collect();
            let ttft = ok.iter().filter_map(|r| per_request(r).ttft.map(|t| t + delay(r))).collect();
            let e2e = ok.iter().filter_map(|r| per_request(r).e2e.map(|t| t + delay(r))).collect();
            check_stats(&s, "/latency_from_schedule_ms/ttft", ttft, 1e-12)?;
            check_stats(&s, "/latency_from_schedule_ms/e2e", e2e, 1e-12)?;
            let q = measured.iter().filter(|r| r.queue_us > 0).count() as f64 / measured.len() as f64;
            prop_assert!(close(num(&s, "/latency_from_schedule_ms/queued_fraction"), q, 1e-12));
            prop_assert_eq!(&s["latency_from_schedule_ms"]["capped_to_closed_loop"], &Value::Bool(q > 0.10));
            let sched: Vec<u64> = measured.iter().map(|r| r.sched_us).collect();
            let span = (sched.iter().max().unwrap_or(&0) - sched.iter().min().unwrap_or(&0)) as f64 / 1e6;
            if measured.len() > 1 && span > 0.0 {
                prop_assert!(close(num(&s, "/client/scheduled_rate"), (measured.len() - 1) as f64 / span, 1e-12));
            }
        } else {
            prop_assert!(s.get("latency_from_schedule_ms").is_none());
        }
        let starts: Vec<u64> = measured.iter().map(|r| r.start_us).collect();
        let span = (starts.iter().max().unwrap_or(&0) - starts.iter().min().unwrap_or(&0)) as f64 / 1e6;
        if measured.len() > 1 && span > 0.0 {
            prop_assert!(close(num(&s, "/client/achieved_rate"), (measured.len() - 1) as f64 / span, 1e-12));
        }

        // The manual steady-state window: --warmup Xs skips X s after the first send,
        // --cooldown Ys ends Y s before the run window's end.
        let (ws, we) = (t0 + u64::from(skip_ms) * 1000, t1.saturating_sub(u64::from(cooldown_ms) * 1000));
        prop_assert_eq!(&s["steady_state"]["detected"], &Value::Bool(we > ws));
        if we > ws {
            let population: Vec<&RequestRecord> =
                measured.iter().copied().filter(|r| (ws..=we).contains(&r.send_us)).collect();
            prop_assert!(close(num(&s, "/steady_state/window_start_s"), (ws - t0) as f64 / 1e6, 1e-12));
            prop_assert!(close(num(&s, "/steady_state/window_end_s"), (we - t0) as f64 / 1e6, 1e-12));
            check_scope(&s, "/steady_state", &measured, &population, (ws, we), &slo, 4.5)?;
        }
    }
}

// ---- the steady-state detection, step by step as documented ----

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// The documented whole-run window: the first send to the last token of a successful
/// request (never before the first send); `None` without measured requests.
fn run_window(measured: &[&RequestRecord]) -> Option<(u64, u64)> {
    let t0 = measured.iter().map(|r| r.send_us).min()?;
    let t1 = measured
        .iter()
        .filter(|r| r.error.is_none())
        .filter_map(|r| last_token(r))
        .max()
        .unwrap_or(t0)
        .max(t0);
    Some((t0, t1))
}

/// docs/metrics.md "Steady state": in-flight requests sampled at 200 points, a centred moving
/// average over ±5 samples, level = median over the middle half, window = first to last
/// sample ≥ 0.9·level (the whole run when level < 1), rejected when < 20 % of the run, < 20
/// successful requests sent inside, or the median TTFT of the window's last third above
/// twice that of its first third.
fn detect_as_documented(records: &[RequestRecord]) -> Result<(u64, u64), ()> {
    let m: Vec<&RequestRecord> = records.iter().filter(|r| !r.warmup).collect();
    let (t0, t1) = run_window(&m).ok_or(())?;
    if t1 <= t0 {
        return Err(());
    }
    let span = (t1 - t0) as f64;
    let at = |i: usize| t0 + (span * (i as f64 + 0.5) / 200.0) as u64;
    let raw: Vec<f64> = (0..200)
        .map(|i| m.iter().filter(|r| r.send_us <= at(i) && at(i) < end(r)).count() as f64)
        .collect();
    let smooth: Vec<f64> = (0..200usize)
        .map(|i| {
            let w = &raw[i.saturating_sub(5)..(i + 6).min(200)];
            w.iter().sum::<f64>() / w.len() as f64
        })
        .collect();
    let level = median(&mut smooth[50..150].to_vec());
    let (ws, we) = if level < 1.0 {
        (t0, t1)
    } else {
        let first = smooth.iter().position(|&x| x >= 0.9 * level).ok_or(())?;
        let last = smooth.iter().rposition(|&x| x >= 0.9 * level).ok_or(())?;
        (at(first), at(last))
    };
    if ((we - ws) as f64) < 0.2 * span {
        return Err(());
    }
    let mut inside: Vec<(u64, f64)> = m
        .iter()
        .filter(|r| r.error.is_none() && (ws..=we).contains(&r.send_us))
        .filter_map(|r| per_request(r).ttft.map(|t| (r.send_us, t)))
        .collect();
    if inside.len() < 20 {
        return Err(());
    }
    inside.sort_by_key(|p| p.0);
    let third = inside.len() / 3;
    let mut first: Vec<f64> = inside[..third].iter().map(|p| p.1).collect();
    let mut last: Vec<f64> = inside[inside.len() - third..].iter().map(|p| p.1).collect();
    if median(&mut last) > 2.0 * median(&mut first) {
        return Err(());
    }
    Ok((ws, we))
}

/// Closed loops of `workers` workers with staggered starts and request lengths drawn from
/// the strategy, TTFT optionally growing over the run (a queue building up), some failures.
fn closed_loops() -> impl Strategy<Value = Vec<RequestRecord>> {
    (
        1u64..24,
        2usize..14,
        0u64..3_000_000,
        prop::collection::vec((20_000u32..400_000, 1u32..30, 0u8..20), 8..40),
        0u32..3,
    )
        .prop_map(|(workers, per, ramp, shapes, growth)| {
            let mut v = Vec::new();
            for w in 0..workers {
                let mut t = w * ramp / workers;
                for i in 0..per {
                    let (dur, n, fail) = shapes[(w as usize * 7 + i) % shapes.len()];
                    let ttft = dur / 4 + growth * (t / 1000) as u32;
                    let events: Vec<TokenEvent> = (0..n)
                        .map(|k| TokenEvent::new(ttft + k * (dur / n.max(1)), 1, 1))
                        .collect();
                    let r = RequestRecord {
                        id: v.len() as u64,
                        sched_us: t,
                        start_us: t,
                        send_us: t,
                        end_us: Some(events.last().map_or(dur, |e| e.t_us()) + 100),
                        events,
                        output_tokens: TokenCount {
                            server: Some(n),
                            client: None,
                        },
                        error: (fail == 0).then_some(ErrorClass::IdleTimeout),
                        ..Default::default()
                    };
                    t = r.send_us + u64::from(r.end_us.unwrap_or(0));
                    v.push(r);
                }
            }
            v
        })
}

proptest! {
    #[test]
    fn steady_state_detection_follows_its_documented_steps(recs in closed_loops()) {
        let got = infermeter::metrics::steady::detect(&recs).map_err(|_| ());
        prop_assert_eq!(got, detect_as_documented(&recs));
    }
}
