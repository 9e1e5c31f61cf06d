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
//!
//! What is sent comes from a [`Feed`]: the synthetic lengths of `OfflinePlan` by default,
//! or a workload source (`sim::offline_feed`: a dataset, a shared-prefix workload, a trace
//! replayed at its recorded times, multi-turn sessions whose next turn arrives a think time
//! after the previous one ended). Arrivals are pulled from the feed as the virtual clock
//! reaches them (at most one submitted ahead), so a trace is never held in memory.

use super::timing::{BuiltEngine, PerfTimer};
use crate::record::{kind, ErrorClass, EventTokenSource, RequestRecord, TokenCount, TokenEvent};
use crate::schedule::{self, Load};
use crate::util::Rng;
use crate::workload::LengthDist;
use infermeter_engine::{Engine, EngineStats, FinishReason, Request};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
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

/// One request for the engine: lengths and the content ids of its prompt's full KV blocks.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Planned {
    pub prompt: u32,
    /// The request's `max_tokens`.
    pub max_tokens: u32,
    /// Tokens the request generates (`max_tokens`, or fewer when EOS is not ignored).
    pub n_out: u32,
    /// Content ids of the prompt's leading full blocks (see `Request::prefix_block_hashes`).
    pub prefix: Vec<u64>,
    pub source_line: Option<u64>,
}

/// Where an offline run's requests come from.
pub trait Feed {
    /// Closed loop: the request of index `index`; `None` when the source has no more.
    fn by_index(&mut self, index: u64) -> Option<Planned>;
    /// Open loop: the next arrival `(time s, request)`, in time order; `None` at the end.
    fn next_arrival(&mut self) -> Option<(f64, Planned)>;
    /// Sessions: turn `turn` of `session` after the previous turn generated `reply` tokens
    /// (`turn` 0: a new conversation), with the think time before it (s); `None`: the
    /// conversation is over.
    fn turn(&mut self, _session: u64, _turn: u32, _reply: u32) -> Option<(f64, Planned)> {
        None
    }
}

/// The synthetic feed of an [`OfflinePlan`]: lengths by index, Poisson/gamma/constant
/// arrivals precomputed from the seed.
struct Synthetic<'a> {
    plan: &'a OfflinePlan,
    arrivals: std::vec::IntoIter<f64>,
    next: u64,
}

impl Synthetic<'_> {
    fn planned(&self, index: u64) -> Planned {
        let p = self.plan;
        let (prompt, max_tokens, n_out) = request_lengths(&p.input, &p.output, p.seed, index, p.ignore_eos);
        Planned {
            prompt,
            max_tokens,
            n_out,
            ..Default::default()
        }
    }
}

impl Feed for Synthetic<'_> {
    fn by_index(&mut self, index: u64) -> Option<Planned> {
        Some(self.planned(index))
    }
    fn next_arrival(&mut self) -> Option<(f64, Planned)> {
        let t = self.arrivals.next()?;
        let i = self.next;
        self.next += 1;
        Some((t, self.planned(i)))
    }
}

struct Live {
    sched_s: f64,
    send_s: f64,
    p: Planned,
    tokens: Vec<f64>,
    cached: u32,
    session: Option<(u64, u32)>,
}

fn us(s: f64) -> u64 {
    (s.max(0.0) * 1e6).round() as u64
}

/// `t − from` in µs, computed on the rounded absolute times so that `send_us + rel` is
/// exactly `us(t)` (back-to-back closed-loop requests then do not overlap by rounding).
fn rel_us(t: f64, from: f64) -> u32 {
    us(t).saturating_sub(us(from)).min(u64::from(u32::MAX)) as u32
}

/// How requests are released.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    /// `cap` clients, each sending its next request when the previous one ends.
    Closed,
    /// Arrival times from the feed, at most `cap` in flight.
    Open,
    /// `cap` users in conversations.
    Sessions,
}

/// A session turn waiting for its time.
struct Waiting {
    at: f64,
    session: u64,
    turn: u32,
    p: Planned,
}

struct Driver<'a> {
    plan: &'a OfflinePlan,
    feed: &'a mut dyn Feed,
    mode: Mode,
    cap: usize,
    /// Requests to send in all (warmup included); ids are 0..limit.
    limit: u64,
    sent: u64,
    horizon: f64,
    /// Open loop: the next arrival, read ahead; `held` when it waited for a slot.
    ahead: Option<(f64, Planned)>,
    held: bool,
    /// The latest send time submitted (a request in the engine's future when > now).
    latest_send: f64,
    exhausted: bool,
    /// Sessions: turns due later, by time.
    waiting: BinaryHeap<Reverse<(u64, u64)>>,
    turns: HashMap<u64, Waiting>,
    next_session: u64,
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

    /// Submit one request; a refusal (e.g. a prompt longer than max_model_len) is recorded
    /// as the HTTP 400 the server would answer.
    fn submit(
        &mut self,
        engine: &mut Engine<&PerfTimer>,
        sched_s: f64,
        send_s: f64,
        p: Planned,
        session: Option<(u64, u32)>,
    ) {
        let id = self.sent;
        self.sent += 1;
        self.latest_send = self.latest_send.max(send_s);
        let mut req = Request::new(id, send_s, p.prompt, p.n_out).with_prefix(p.prefix.clone());
        req.ends_with_eos = p.n_out < p.max_tokens;
        match engine.add_request(req) {
            Ok(()) => {
                let n = p.n_out as usize;
                self.live.insert(
                    id,
                    Live {
                        sched_s,
                        send_s,
                        p,
                        tokens: Vec::with_capacity(n),
                        cached: 0,
                        session,
                    },
                );
            }
            Err(why) => {
                self.emit(RequestRecord {
                    id,
                    sched_us: us(sched_s),
                    start_us: us(send_s),
                    queue_us: us(send_s - sched_s),
                    send_us: us(send_s),
                    hdr_us: Some(0),
                    end_us: Some(0),
                    input_tokens: TokenCount {
                        server: None,
                        client: Some(p.prompt),
                    },
                    max_tokens: p.max_tokens,
                    status: 400,
                    error: Some(ErrorClass::Http4xx),
                    error_detail: Some(format!("HTTP 400: {why}")),
                    source_line: p.source_line,
                    session: session.map(|s| s.0),
                    turn: session.map(|s| s.1),
                    ..Default::default()
                });
                if session.is_some() {
                    // A refused turn ends its conversation; the user starts another.
                    self.start_session(send_s);
                }
            }
        }
    }

    fn budget_left(&self) -> bool {
        self.sent < self.limit
    }

    /// A user starts a new conversation at `at`.
    fn start_session(&mut self, at: f64) {
        if at >= self.horizon {
            return;
        }
        let s = self.next_session;
        self.next_session += 1;
        if let Some((think, p)) = self.feed.turn(s, 0, 0) {
            self.wait(at + think, s, 0, p);
        }
    }

    fn wait(&mut self, at: f64, session: u64, turn: u32, p: Planned) {
        let key = session;
        self.turns.insert(key, Waiting { at, session, turn, p });
        self.waiting.push(Reverse((at.max(0.0).to_bits(), key)));
    }

    /// Submit what is due at `now` (virtual time): closed-loop clients with a free slot,
    /// arrivals up to `now` plus the first later one (so the engine knows when to wake), and
    /// due session turns. Returns whether anything was submitted.
    fn top_up(&mut self, engine: &mut Engine<&PerfTimer>, now: f64) -> bool {
        let mut any = false;
        match self.mode {
            Mode::Closed => {
                while self.live.len() < self.cap && self.budget_left() && now < self.horizon && !self.exhausted {
                    match self.feed.by_index(self.sent) {
                        Some(p) => {
                            self.submit(engine, now, now, p, None);
                            any = true;
                        }
                        None => self.exhausted = true,
                    }
                }
            }
            Mode::Open => loop {
                if !self.budget_left() {
                    break;
                }
                if self.ahead.is_none() && !self.exhausted {
                    self.ahead = self.feed.next_arrival();
                    self.held = false;
                    if self.ahead.as_ref().is_none_or(|(t, _)| *t > self.horizon) {
                        self.ahead = None;
                        self.exhausted = true;
                    }
                }
                let Some((t, _)) = &self.ahead else { break };
                let t = *t;
                if self.live.len() >= self.cap {
                    self.held = true;
                    break;
                }
                // At most one submitted request may lie in the engine's future.
                if t > now && self.latest_send > now {
                    break;
                }
                let Some((t, p)) = self.ahead.take() else { break };
                // A request that waited for a slot is sent when the slot frees.
                let send = if self.held { t.max(now) } else { t };
                self.submit(engine, t, send, p, None);
                any = true;
            },
            Mode::Sessions => {
                while self.live.len() < self.cap && self.budget_left() {
                    let Some(Reverse((bits, key))) = self.waiting.peek().copied() else {
                        break;
                    };
                    let at = f64::from_bits(bits);
                    if at > now && self.latest_send > now {
                        break;
                    }
                    self.waiting.pop();
                    let Some(w) = self.turns.remove(&key) else { continue };
                    if w.at >= self.horizon {
                        continue;
                    }
                    self.submit(engine, w.at, w.at, w.p, Some((w.session, w.turn)));
                    any = true;
                }
            }
        }
        any
    }

    fn finished(&mut self, id: u64, reason: FinishReason, time_s: f64, l: Live) {
        let session = l.session;
        let n = l.tokens.len() as u32;
        self.emit(finished_record(id, reason, time_s, l));
        if let Some((s, turn)) = session {
            match self.feed.turn(s, turn + 1, n) {
                Some((think, p)) if reason != FinishReason::Abort => self.wait(time_s + think, s, turn + 1, p),
                _ => self.start_session(time_s),
            }
        }
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
            server: Some(l.p.prompt),
            client: Some(l.p.prompt),
        },
        output_tokens: TokenCount {
            server: Some(n),
            client: Some(n),
        },
        cached_tokens: Some(l.cached),
        event_token_source: EventTokenSource::Usage,
        max_tokens: l.p.max_tokens,
        status: 200,
        finish_reason: Some(reason.as_str().to_string()),
        source_line: l.p.source_line,
        session: l.session.map(|s| s.0),
        turn: l.session.map(|s| s.1),
        ..Default::default()
    }
}

/// Run the plan to completion with its synthetic lengths. `on_record` sees each record as it
/// completes (e.g. to stream it to `records.jsonl`).
pub fn run(built: &BuiltEngine, plan: &OfflinePlan, on_record: impl FnMut(&RequestRecord)) -> OfflineOutcome {
    let total = plan.requests.map(|n| n.saturating_add(plan.warmup));
    let arrivals = match &plan.load {
        Load::Open { rate, arrival, .. } => schedule::arrivals(*rate, *arrival, plan.seed, total, plan.duration),
        _ => Vec::new(),
    };
    let mut feed = Synthetic {
        plan,
        arrivals: arrivals.into_iter(),
        next: 0,
    };
    run_with(built, plan, &mut feed, None, on_record)
}

/// Run the plan with requests from `feed`; `sessions`: the number of users holding
/// conversations (the plan's load is then ignored).
pub fn run_with(
    built: &BuiltEngine,
    plan: &OfflinePlan,
    feed: &mut dyn Feed,
    sessions: Option<usize>,
    mut on_record: impl FnMut(&RequestRecord),
) -> OfflineOutcome {
    let mut engine = Engine::new(built.config.clone(), &built.timer);
    let total = plan.requests.map(|n| n.saturating_add(plan.warmup));
    let (mode, cap) = match (&plan.load, sessions) {
        (_, Some(users)) => (Mode::Sessions, users),
        (Load::Closed { concurrency }, None) => (Mode::Closed, *concurrency),
        (Load::Open { max_concurrency, .. }, None) | (Load::Trace { max_concurrency }, None) => {
            (Mode::Open, max_concurrency.unwrap_or(usize::MAX))
        }
    };
    let mut d = Driver {
        plan,
        feed,
        mode,
        cap: cap.max(1),
        limit: total.unwrap_or(u64::MAX),
        sent: 0,
        horizon: plan.duration.map(|d| d.as_secs_f64()).unwrap_or(f64::INFINITY),
        ahead: None,
        held: false,
        latest_send: 0.0,
        exhausted: false,
        waiting: BinaryHeap::new(),
        turns: HashMap::new(),
        next_session: 0,
        live: HashMap::new(),
        records: Vec::new(),
        on_record: &mut on_record,
    };
    if mode == Mode::Sessions {
        for _ in 0..d.cap {
            d.start_session(0.0);
        }
    }
    let mut last_token_s = 0.0f64;
    d.top_up(&mut engine, 0.0);
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
                d.finished(f.id, f.reason, f.time_s, l);
            }
            d.top_up(&mut engine, rep.end_s);
        } else if let Some(t) = engine.next_arrival() {
            engine.advance_to(t);
            d.top_up(&mut engine, t);
        } else {
            let now = engine.now();
            if !d.top_up(&mut engine, now) {
                // Nothing in flight and nothing due: jump to the next session turn, if any.
                match d.waiting.peek() {
                    Some(Reverse((bits, _))) if d.budget_left() => {
                        let at = f64::from_bits(*bits).max(now);
                        engine.advance_to(at);
                        d.top_up(&mut engine, at);
                    }
                    _ => break,
                }
                if d.live.is_empty() && d.waiting.is_empty() {
                    break;
                }
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
