//! Offline (batch) driver: replay a list of requests through an engine as a
//! discrete-event simulation and collect per-request traces.
//!
//! The engine only moves its clock when it works; this driver jumps the clock
//! over idle gaps to the next arrival, so sparse workloads cost nothing to
//! simulate. Per-request traces carry everything the latency metrics need
//! (TTFT, TPOT, ITL, E2E, queue time, preemptions, cached prompt tokens).

use crate::block_pool::IdMap;
use crate::config::{ConfigError, EngineConfig};
use crate::engine::{Engine, EngineStats};
use crate::request::{FinishReason, RejectReason, Request};
use crate::timer::StepTimer;
use serde::{Deserialize, Serialize};

/// The life of one request in an offline run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RequestTrace {
    /// Request id.
    pub id: u64,
    /// Arrival time, seconds.
    pub arrival_s: f64,
    /// Prompt length, tokens.
    pub prompt_len: u32,
    /// Requested output tokens (`max_tokens`).
    pub max_output_tokens: u32,
    /// Start of the step that first scheduled it.
    pub first_scheduled_s: Option<f64>,
    /// Time of the first output token (end of prefill).
    pub first_token_s: Option<f64>,
    /// Emission time of every output token (empty if not recorded).
    pub token_times_s: Vec<f64>,
    /// Output tokens generated.
    pub num_output_tokens: u32,
    /// Finish time.
    pub finish_s: Option<f64>,
    /// Finish reason.
    pub finish_reason: Option<FinishReason>,
    /// Times it was preempted.
    pub num_preemptions: u32,
    /// Prompt tokens served from the prefix cache at first admission.
    pub cached_prompt_tokens: u32,
}

impl RequestTrace {
    /// Queue time: first scheduling minus arrival (`vllm:request_queue_time_seconds`).
    pub fn queue_time_s(&self) -> Option<f64> {
        self.first_scheduled_s.map(|t| t - self.arrival_s)
    }
    /// Time to first token, from arrival.
    pub fn ttft_s(&self) -> Option<f64> {
        self.first_token_s.map(|t| t - self.arrival_s)
    }
    /// End-to-end latency, from arrival.
    pub fn e2e_s(&self) -> Option<f64> {
        self.finish_s.map(|t| t - self.arrival_s)
    }
    /// Mean time per output token after the first: `(E2E - TTFT)/(out - 1)`.
    pub fn tpot_s(&self) -> Option<f64> {
        match (self.first_token_s, self.finish_s) {
            (Some(a), Some(b)) if self.num_output_tokens > 1 => Some((b - a) / (self.num_output_tokens - 1) as f64),
            _ => None,
        }
    }
    /// Inter-token latencies (gaps between consecutive recorded tokens).
    pub fn itls_s(&self) -> impl Iterator<Item = f64> + '_ {
        self.token_times_s.windows(2).map(|w| w[1] - w[0])
    }
}

/// Options for [`run_offline_with`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfflineOptions {
    /// Keep every token's emission time (8 bytes per output token).
    pub record_token_times: bool,
}

impl Default for OfflineOptions {
    fn default() -> Self {
        OfflineOptions {
            record_token_times: true,
        }
    }
}

/// Result of an offline run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OfflineResult {
    /// Traces of accepted requests, in input order.
    pub traces: Vec<RequestTrace>,
    /// Requests refused by the engine, with the reason.
    pub rejected: Vec<(u64, RejectReason)>,
    /// Engine counters at the end of the run.
    pub stats: EngineStats,
    /// Earliest arrival among accepted requests (0 if none).
    pub first_arrival_s: f64,
    /// Clock at the end of the last step.
    pub end_s: f64,
}

impl OfflineResult {
    /// Time from the first arrival to the end of the last step.
    pub fn makespan_s(&self) -> f64 {
        (self.end_s - self.first_arrival_s).max(0.0)
    }
    /// Output tokens per second of makespan.
    pub fn output_throughput_tok_s(&self) -> f64 {
        let m = self.makespan_s();
        if m > 0.0 {
            self.stats.generation_tokens as f64 / m
        } else {
            0.0
        }
    }
    /// Finished requests per second of makespan.
    pub fn request_throughput_s(&self) -> f64 {
        let m = self.makespan_s();
        let n = self.traces.iter().filter(|t| t.finish_s.is_some()).count();
        if m > 0.0 {
            n as f64 / m
        } else {
            0.0
        }
    }
}

/// Run `requests` to completion (see [`run_offline_with`]), recording token times.
///
/// # Panics
/// If `cfg` is invalid.
pub fn run_offline<T: StepTimer>(cfg: EngineConfig, timer: T, requests: Vec<Request>) -> OfflineResult {
    match run_offline_with(cfg, timer, requests, OfflineOptions::default()) {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    }
}

/// Run `requests` to completion on a fresh engine starting at time 0.
///
/// Requests are submitted in arrival order (stable for ties). The loop steps
/// the engine while it has runnable work and otherwise jumps the clock to the
/// next arrival.
pub fn run_offline_with<T: StepTimer>(
    cfg: EngineConfig,
    timer: T,
    mut requests: Vec<Request>,
    opts: OfflineOptions,
) -> Result<OfflineResult, ConfigError> {
    let mut engine = Engine::try_new(cfg, timer)?;
    // Stable sort keeps submission order for equal arrival times; traces are
    // reported in the caller's order via `slot`.
    let mut order: Vec<usize> = (0..requests.len()).collect();
    order.sort_by(|&a, &b| requests[a].arrival_s.total_cmp(&requests[b].arrival_s));

    let mut traces: Vec<Option<RequestTrace>> = vec![None; requests.len()];
    let mut by_id: IdMap<usize> = IdMap::default();
    by_id.reserve(requests.len());
    let mut rejected = Vec::new();
    let mut first_arrival = f64::INFINITY;
    for &i in &order {
        let r = std::mem::replace(&mut requests[i], Request::new(0, 0.0, 0, 0));
        let trace = RequestTrace {
            id: r.id,
            arrival_s: r.arrival_s,
            prompt_len: r.prompt_len,
            max_output_tokens: r.max_output_tokens,
            first_scheduled_s: None,
            first_token_s: None,
            token_times_s: Vec::new(),
            num_output_tokens: 0,
            finish_s: None,
            finish_reason: None,
            num_preemptions: 0,
            cached_prompt_tokens: 0,
        };
        let (id, arrival) = (r.id, r.arrival_s);
        match engine.add_request(r) {
            Ok(()) => {
                first_arrival = first_arrival.min(arrival);
                traces[i] = Some(trace);
                by_id.insert(id, i);
            }
            Err(why) => rejected.push((id, why)),
        }
    }

    loop {
        if let Some(rep) = engine.step() {
            for a in &rep.admitted {
                let t = traces[by_id[&a.id]].as_mut().expect("trace");
                if !a.resumed && t.first_scheduled_s.is_none() {
                    t.first_scheduled_s = Some(a.time_s);
                    t.cached_prompt_tokens = a.cached_tokens;
                }
            }
            for &id in &rep.preempted {
                traces[by_id[&id]].as_mut().expect("trace").num_preemptions += 1;
            }
            for tok in &rep.tokens {
                let t = traces[by_id[&tok.id]].as_mut().expect("trace");
                if tok.index == 0 {
                    t.first_token_s = Some(tok.time_s);
                }
                t.num_output_tokens = tok.index + 1;
                if opts.record_token_times {
                    t.token_times_s.push(tok.time_s);
                }
            }
            for f in &rep.finished {
                let t = traces[by_id[&f.id]].as_mut().expect("trace");
                t.finish_s = Some(f.time_s);
                t.finish_reason = Some(f.reason);
            }
        } else if let Some(t) = engine.next_arrival() {
            engine.advance_to(t);
        } else {
            break;
        }
    }

    Ok(OfflineResult {
        traces: traces.into_iter().flatten().collect(),
        rejected,
        stats: engine.stats(),
        first_arrival_s: if first_arrival.is_finite() { first_arrival } else { 0.0 },
        end_s: engine.now(),
    })
}
