//! `infermeter sim run`: the simulated engine as a discrete-event run, with no HTTP and no
//! waiting.
//!
//! The same workload (input/output length distributions, seed) and load (closed loop of C
//! clients, or an open-loop arrival schedule with an optional in-flight cap) that `bench`
//! would send are fed straight into an [`Engine`] on its virtual clock. A closed-loop client
//! submits its next request at the instant its previous one finished; an open-loop request
//! held back by `--max-concurrency` is submitted when a slot frees. Each finished request
//! becomes the same [`RequestRecord`] a real bench run writes (send = arrival, one content
//! token event per output token at its emission time, token counts as server usage), so
//! `summary.json`, `report` and every derived metric work unchanged.

use super::timing::{BuiltEngine, PerfTimer};
use crate::record::{kind, ErrorClass, EventTokenSource, RequestRecord, TokenCount, TokenEvent};
use crate::schedule::{self, Load};
use crate::util::Rng;
use crate::workload::LengthDist;
use infermeter_engine::{Engine, EngineStats, FinishReason, Request};
use std::collections::{HashMap, VecDeque};
use std::time::Duration;

/// What to simulate.
#[derive(Debug, Clone)]
pub struct OfflinePlan {
    pub input: LengthDist,
    pub output: LengthDist,
    pub seed: u64,
    pub load: Load,
    /// Stop after this many requests (the first of `requests`/`duration` wins).
    pub requests: Option<u64>,
    /// No request is sent after this much simulated time.
    pub duration: Option<Duration>,
    /// `true`: every request generates exactly `max_tokens` (finish reason `length`).
    pub ignore_eos: bool,
    /// The first `warmup` requests are sent before the `requests` and excluded from every
    /// metric (their records carry `warmup: true`), as in `bench --warmup N`.
    pub warmup: u64,
}

/// The outcome of an offline run.
#[derive(Debug, Clone)]
pub struct OfflineOutcome {
    /// One record per request, in completion order.
    pub records: Vec<RequestRecord>,
    /// Simulated time from the first send to the last token, seconds.
    pub sim_s: f64,
    /// Engine counters at the end.
    pub stats: EngineStats,
}

/// The lengths of request `index`: identical to what `Workload::request` samples for the
/// same seed (the prompt text itself is never built), plus the output length the simulated
/// server would pick when EOS is not ignored.
pub fn request_lengths(
    input: &LengthDist,
    output: &LengthDist,
    seed: u64,
    index: u64,
    ignore_eos: bool,
) -> (u32, u32, u32) {
    let mut rng = Rng::stream(seed, index.wrapping_add(1));
    let prompt = input.sample(&mut rng).max(1);
    let max_tokens = output.sample(&mut rng).max(1);
    let n_out = if ignore_eos {
        max_tokens
    } else {
        let mut r = Rng::stream(seed ^ 0x5EED_0FF1, index);
        let lo = (max_tokens / 2).max(1).min(max_tokens);
        lo + r.below(u64::from(max_tokens - lo + 1)) as u32
    };
    (prompt, max_tokens, n_out)
}

struct Live {
    sched_s: f64,
    send_s: f64,
    prompt: u32,
    max_tokens: u32,
    tokens: Vec<f64>,
    cached: u32,
}

fn us(s: f64) -> u64 {
    (s.max(0.0) * 1e6).round() as u64
}

/// `t − from` in µs, computed on the rounded absolute times so that `send_us + rel` is
/// exactly `us(t)` (back-to-back closed-loop requests then do not overlap by rounding).
fn rel_us(t: f64, from: f64) -> u32 {
    us(t).saturating_sub(us(from)).min(u64::from(u32::MAX)) as u32
}

struct Driver<'a> {
    plan: &'a OfflinePlan,
    /// Open loop: requests not yet submitted, `(index, intended send time)`.
    queue: VecDeque<(u64, f64)>,
    cap: usize,
    closed: bool,
    next_closed: u64,
    limit: u64,
    horizon: f64,
    live: HashMap<u64, Live>,
    records: Vec<RequestRecord>,
    on_record: &'a mut dyn FnMut(&RequestRecord),
}

impl Driver<'_> {
    fn emit(&mut self, mut rec: RequestRecord) {
        rec.warmup = rec.id < self.plan.warmup;
        (self.on_record)(&rec);
        self.records.push(rec);
    }

    /// Submit requests while a slot is free; `free_at` is when the slots became free.
    /// Returns whether anything was submitted.
    fn fill(&mut self, engine: &mut Engine<&PerfTimer>, free_at: f64) -> bool {
        let mut any = false;
        while self.live.len() < self.cap {
            let (index, sched_s) = if self.closed {
                if self.next_closed >= self.limit || free_at >= self.horizon {
                    break;
                }
                self.next_closed += 1;
                (self.next_closed - 1, free_at)
            } else {
                match self.queue.pop_front() {
                    Some(x) => x,
                    None => break,
                }
            };
            any = true;
            let p = self.plan;
            let send_s = sched_s.max(free_at);
            let (prompt, max_tokens, n_out) = request_lengths(&p.input, &p.output, p.seed, index, p.ignore_eos);
            let mut req = Request::new(index, send_s, prompt, n_out);
            req.ends_with_eos = n_out < max_tokens;
            match engine.add_request(req) {
                Ok(()) => {
                    self.live.insert(
                        index,
                        Live {
                            sched_s,
                            send_s,
                            prompt,
                            max_tokens,
                            tokens: Vec::with_capacity(n_out as usize),
                            cached: 0,
                        },
                    );
                }
                Err(why) => {
                    // Refused (e.g. a prompt longer than max_model_len): a 400, like the server.
                    self.emit(RequestRecord {
                        id: index,
                        sched_us: us(sched_s),
                        start_us: us(send_s),
                        queue_us: us(send_s - sched_s),
                        send_us: us(send_s),
                        hdr_us: Some(0),
                        end_us: Some(0),
                        input_tokens: TokenCount {
                            server: None,
                            client: Some(prompt),
                        },
                        max_tokens,
                        status: 400,
                        error: Some(ErrorClass::Http4xx),
                        error_detail: Some(format!("HTTP 400: {why}")),
                        ..Default::default()
                    });
                }
            }
        }
        any
    }
}

fn finished_record(id: u64, reason: FinishReason, time_s: f64, l: Live) -> RequestRecord {
    let n = l.tokens.len() as u32;
    RequestRecord {
        id,
        sched_us: us(l.sched_s),
        start_us: us(l.send_s),
        queue_us: us(l.send_s - l.sched_s),
        send_us: us(l.send_s),
        hdr_us: Some(0),
        end_us: Some(rel_us(time_s, l.send_s)),
        events: l
            .tokens
            .iter()
            .map(|&t| TokenEvent::new(rel_us(t, l.send_s), 1, kind::CONTENT))
            .collect(),
        frames: n,
        bytes: 0,
        input_tokens: TokenCount {
            server: Some(l.prompt),
            client: Some(l.prompt),
        },
        output_tokens: TokenCount {
            server: Some(n),
            client: Some(n),
        },
        cached_tokens: (l.cached > 0).then_some(l.cached),
        event_token_source: EventTokenSource::Usage,
        max_tokens: l.max_tokens,
        status: 200,
        finish_reason: Some(reason.as_str().to_string()),
        ..Default::default()
    }
}

/// Run the plan to completion. `on_record` sees each record as it completes (e.g. to stream
/// it to `records.jsonl`).
pub fn run(built: &BuiltEngine, plan: &OfflinePlan, mut on_record: impl FnMut(&RequestRecord)) -> OfflineOutcome {
    let mut engine = Engine::new(built.config.clone(), &built.timer);
    let total = plan.requests.map(|n| n.saturating_add(plan.warmup));
    let (queue, cap, closed) = match &plan.load {
        Load::Closed { concurrency } => (VecDeque::new(), *concurrency, true),
        Load::Open {
            rate,
            arrival,
            max_concurrency,
        } => {
            let times = schedule::arrivals(*rate, *arrival, plan.seed, total, plan.duration);
            (
                times.into_iter().enumerate().map(|(i, t)| (i as u64, t)).collect(),
                max_concurrency.unwrap_or(usize::MAX),
                false,
            )
        }
        Load::Trace { max_concurrency } => (VecDeque::new(), max_concurrency.unwrap_or(usize::MAX), false),
    };
    let mut d = Driver {
        plan,
        queue,
        cap: cap.max(1),
        closed,
        next_closed: 0,
        limit: total.unwrap_or(u64::MAX),
        horizon: plan.duration.map(|d| d.as_secs_f64()).unwrap_or(f64::INFINITY),
        live: HashMap::new(),
        records: Vec::new(),
        on_record: &mut on_record,
    };
    let mut last_token_s = 0.0f64;
    d.fill(&mut engine, 0.0);
    loop {
        if let Some(rep) = engine.step() {
            for a in &rep.admitted {
                if let Some(l) = d.live.get_mut(&a.id) {
                    if !a.resumed && l.tokens.is_empty() {
                        l.cached = a.cached_tokens;
                    }
                }
            }
            for t in &rep.tokens {
                if let Some(l) = d.live.get_mut(&t.id) {
                    l.tokens.push(t.time_s);
                }
            }
            for f in &rep.finished {
                let Some(l) = d.live.remove(&f.id) else { continue };
                if let Some(&t) = l.tokens.last() {
                    last_token_s = last_token_s.max(t);
                }
                d.emit(finished_record(f.id, f.reason, f.time_s, l));
            }
            if !rep.finished.is_empty() {
                d.fill(&mut engine, rep.end_s);
            }
        } else if let Some(t) = engine.next_arrival() {
            engine.advance_to(t);
        } else {
            let now = engine.now();
            if !d.fill(&mut engine, now) {
                break;
            }
        }
    }
    let first_send = d.records.iter().map(|r| r.send_us).min().unwrap_or(0) as f64 / 1e6;
    OfflineOutcome {
        sim_s: (last_token_s - first_send).max(0.0),
        stats: engine.stats(),
        records: d.records,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::timing::EngineSpec;

    fn plan(load: Load, n: u64) -> OfflinePlan {
        OfflinePlan {
            input: LengthDist::parse("256").unwrap(),
            output: LengthDist::parse("32").unwrap(),
            seed: 1,
            load,
            requests: Some(n),
            duration: None,
            ignore_eos: true,
            warmup: 0,
        }
    }

    #[test]
    fn closed_loop_keeps_c_in_flight_and_records_every_token() {
        let built = EngineSpec::reference().build().unwrap();
        let out = run(&built, &plan(Load::Closed { concurrency: 4 }, 20), |_| {});
        assert_eq!(out.records.len(), 20);
        for r in &out.records {
            assert_eq!(r.events.len(), 32);
            assert_eq!(r.output_tokens.server, Some(32));
            assert_eq!(r.finish_reason.as_deref(), Some("length"));
            assert!(r.events.windows(2).all(|w| w[0].t_us() < w[1].t_us()));
        }
        // Closed loop: request i ≥ 4 is sent exactly when an earlier one finished.
        let ends: Vec<u64> = out.records.iter().map(|r| r.end_abs_us()).collect();
        for r in out.records.iter().filter(|r| r.id >= 4) {
            assert!(ends.contains(&r.send_us), "request {} sent at {}", r.id, r.send_us);
        }
        let m = crate::metrics::compute(&out.records);
        assert_eq!(m.requests.succeeded, 20);
    }

    #[test]
    fn open_loop_cap_records_client_queue_time() {
        let built = EngineSpec::reference().build().unwrap();
        let load = Load::Open {
            rate: 1000.0,
            arrival: schedule::Arrival::Constant,
            max_concurrency: Some(2),
        };
        let out = run(&built, &plan(load, 10), |_| {});
        assert_eq!(out.records.len(), 10);
        assert!(out.records.iter().any(|r| r.queue_us > 0));
        assert!(out.records.iter().all(|r| r.send_us >= r.sched_us));
    }
}
