//! The simulated serving engine: request queues, the per-iteration scheduler
//! (vLLM V1 rules or a static-batching baseline), KV block accounting and the
//! virtual clock.
//!
//! # Model
//!
//! Every request has `num_tokens = prompt_len + outputs so far` and
//! `num_computed` tokens whose KV is in the cache. Each step the scheduler
//! hands out one token budget; a request is given
//! `num_tokens - num_computed` tokens (capped by budget and
//! `long_prefill_token_threshold`). When a request's computed tokens catch
//! up with its known tokens at the end of a step it samples one new output
//! token, emitted at the step's end time. That single rule covers prefill,
//! chunked prefill, decode and recompute after preemption, as in vLLM V1.
//!
//! Scheduling order per step (continuous mode):
//! 1. RUNNING requests in admission order. If one cannot get the KV blocks
//!    for its tokens, the most recently admitted running request is preempted
//!    (blocks freed, progress reset, put at the front of WAITING) until it
//!    fits; if it has to preempt itself, the running phase stops.
//! 2. Only if nothing was preempted: WAITING requests FCFS while budget,
//!    `max_num_seqs` and free blocks allow. Admission first reuses the longest
//!    run of cached full blocks (never the last token). Without chunked
//!    prefill, a request whose remaining prompt exceeds the remaining budget
//!    stops admission. Admission never preempts.
//!
//! The step's [`StepShape`] is priced by the caller's [`StepTimer`] and the
//! clock advances by that amount.

use crate::block_pool::{BlockPool, IdMap};
use crate::config::{ConfigError, EngineConfig, SchedulerMode};
use crate::request::{chain_hash, unique_block_content, FinishReason, RejectReason, Request, ROOT_HASH};
use crate::timer::{StepShape, StepTimer};

mod continuous;
mod static_batch;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};

/// One output token leaving the engine.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TokenEmit {
    /// Request id.
    pub id: u64,
    /// Emission time (end of the step that sampled it), seconds.
    pub time_s: f64,
    /// Output token index, 0 = first token.
    pub index: u32,
}

/// A request that finished (or was aborted).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct FinishedRequest {
    /// Request id.
    pub id: u64,
    /// Why it finished.
    pub reason: FinishReason,
    /// Output tokens it generated.
    pub num_output_tokens: u32,
    /// Time it finished, seconds.
    pub time_s: f64,
}

/// A request scheduled out of the waiting queue this step.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Admission {
    /// Request id.
    pub id: u64,
    /// True when this is a preempted request being resumed (recomputed).
    pub resumed: bool,
    /// Tokens served from the prefix cache at this admission.
    pub cached_tokens: u32,
    /// Scheduling time (start of the step), seconds.
    pub time_s: f64,
}

/// What happened in one engine iteration.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StepReport {
    /// Step start time, seconds.
    pub start_s: f64,
    /// Step end time, seconds (all tokens of the step are emitted here).
    pub end_s: f64,
    /// Output tokens sampled in this step.
    pub tokens: Vec<TokenEmit>,
    /// Requests that finished in this step.
    pub finished: Vec<FinishedRequest>,
    /// Requests moved from waiting to running in this step.
    pub admitted: Vec<Admission>,
    /// Ids of requests preempted in this step (they are back in waiting).
    pub preempted: Vec<u64>,
    /// Prefill tokens computed (static mode: including padding).
    pub num_prefill_tokens: u32,
    /// Sequences doing prefill work.
    pub num_prefill_seqs: u32,
    /// Sequences doing one decode token each.
    pub num_decode_seqs: u32,
}

impl StepReport {
    /// Tokens computed in this step (vLLM's `iteration_tokens`).
    pub fn num_scheduled_tokens(&self) -> u32 {
        self.num_prefill_tokens + self.num_decode_seqs
    }
    /// Sequences in this step's batch.
    pub fn num_scheduled_seqs(&self) -> u32 {
        self.num_prefill_seqs + self.num_decode_seqs
    }
    /// Step duration, seconds.
    pub fn duration_s(&self) -> f64 {
        self.end_s - self.start_s
    }
}

/// Engine counters and gauges, named after vLLM's `/metrics`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EngineStats {
    /// Virtual clock, seconds.
    pub now_s: f64,
    /// `vllm:num_requests_running` (static mode: occupied batch slots).
    pub num_running: u32,
    /// `vllm:num_requests_waiting` (arrived, not running; includes preempted).
    pub num_waiting: u32,
    /// Requests added whose arrival time is still in the future.
    pub num_pending: u32,
    /// `vllm:kv_cache_usage_perc`: `1 - free/usable` (cached-but-free blocks count as free).
    pub kv_cache_usage: f64,
    /// Usable KV blocks (`num_gpu_blocks - 1`).
    pub num_usable_blocks: u32,
    /// Blocks not referenced by any request.
    pub num_free_blocks: u32,
    /// Blocks registered in the prefix cache (referenced or not).
    pub num_cached_blocks: u32,
    /// `vllm:num_preemptions`.
    pub num_preemptions: u64,
    /// `vllm:prefix_cache_queries` (tokens, first admissions only).
    pub prefix_cache_queries: u64,
    /// `vllm:prefix_cache_hits` (tokens, first admissions only).
    pub prefix_cache_hits: u64,
    /// Prefix-cache queries made when resuming preempted requests (tokens).
    pub preempted_prefix_cache_queries: u64,
    /// Prefix-cache hits when resuming preempted requests (tokens).
    pub preempted_prefix_cache_hits: u64,
    /// `vllm:prompt_tokens`: prompt tokens of requests that produced a first token.
    pub prompt_tokens: u64,
    /// `vllm:generation_tokens`: output tokens emitted.
    pub generation_tokens: u64,
    /// Prefill tokens actually computed (excludes cache hits, includes recompute and static padding).
    pub computed_prefill_tokens: u64,
    /// Finished with `finished_reason="stop"`.
    pub finished_stop: u64,
    /// Finished with `finished_reason="length"`.
    pub finished_length: u64,
    /// Finished with `finished_reason="abort"`.
    pub finished_abort: u64,
    /// Requests refused by `add_request`.
    pub num_rejected: u64,
    /// Iterations executed.
    pub num_steps: u64,
    /// Sum of step durations (time the engine was busy), seconds.
    pub busy_time_s: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    /// Added, arrival time not reached yet.
    Pending,
    /// In the waiting queue.
    Waiting,
    /// Running (continuous) or holding a batch slot (static).
    Running,
    /// Finished or aborted (static mode: may still hold its slot until the batch ends).
    Done,
    /// Slot is unused.
    Free,
}

struct Seq {
    id: u64,
    /// Unique insertion number, guards stale heap entries after slot reuse.
    order: u64,
    prompt_len: u32,
    /// Output tokens this request will produce (max_output_tokens capped by max_model_len).
    target_output: u32,
    reason_at_target: FinishReason,
    /// Content ids of leading prompt blocks (shared-prefix description).
    content: Vec<u64>,
    /// Chained block hashes computed so far (lazily extended).
    chain: Vec<u64>,
    /// KV blocks held, in token order.
    blocks: Vec<u32>,
    /// Leading blocks already offered to the prefix cache.
    num_registered: usize,
    num_computed: u32,
    num_output: u32,
    status: Status,
    num_preemptions: u32,
    ever_scheduled: bool,
}

impl Seq {
    #[inline]
    fn num_tokens(&self) -> u32 {
        self.prompt_len + self.num_output
    }

    /// Chained hash of block `i` (parent hash + this block's content).
    fn block_hash(&mut self, i: usize) -> u64 {
        while self.chain.len() <= i {
            let j = self.chain.len();
            let parent = if j == 0 { ROOT_HASH } else { self.chain[j - 1] };
            let content = match self.content.get(j) {
                Some(&c) => c,
                None => unique_block_content(self.id, j),
            };
            self.chain.push(chain_hash(parent, content));
        }
        self.chain[i]
    }

    fn empty() -> Self {
        Seq {
            id: 0,
            order: 0,
            prompt_len: 0,
            target_output: 0,
            reason_at_target: FinishReason::Length,
            content: Vec::new(),
            chain: Vec::new(),
            blocks: Vec::new(),
            num_registered: 0,
            num_computed: 0,
            num_output: 0,
            status: Status::Free,
            num_preemptions: 0,
            ever_scheduled: false,
        }
    }
}

/// Min-heap entry for requests whose arrival time is in the future.
struct Arrival {
    t: f64,
    order: u64,
    idx: usize,
}

impl PartialEq for Arrival {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Arrival {}
impl PartialOrd for Arrival {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Arrival {
    // Reversed: BinaryHeap is a max-heap, we want earliest (then first added) on top.
    fn cmp(&self, other: &Self) -> Ordering {
        other.t.total_cmp(&self.t).then_with(|| other.order.cmp(&self.order))
    }
}

#[derive(Clone, Copy)]
struct Sched {
    idx: usize,
    num_new: u32,
    computed_before: u32,
    decode: bool,
}

#[derive(Default)]
struct Counters {
    num_preemptions: u64,
    prefix_cache_queries: u64,
    prefix_cache_hits: u64,
    preempted_prefix_cache_queries: u64,
    preempted_prefix_cache_hits: u64,
    prompt_tokens: u64,
    generation_tokens: u64,
    computed_prefill_tokens: u64,
    finished_stop: u64,
    finished_length: u64,
    finished_abort: u64,
    num_rejected: u64,
    num_steps: u64,
    busy_time_s: f64,
}

/// State of the static-batching baseline.
#[derive(Default)]
struct StaticBatch {
    /// Slots of the current batch (seq indices); empty = no batch.
    slots: Vec<usize>,
    /// Longest prompt in the batch; every prompt is padded to it.
    padded_len: u32,
    /// Whether the batch's prefill step has run.
    prefilled: bool,
    /// Decode steps run so far.
    decode_steps: u32,
    /// Members that have not finished yet.
    live: u32,
}

/// A deterministic, discrete-time simulation of one serving engine instance.
///
/// Drive it with [`add_request`](Self::add_request), [`step`](Self::step) and,
/// when idle, [`advance_to`](Self::advance_to) /
/// [`next_arrival`](Self::next_arrival). See [`crate::run_offline`] for a
/// complete loop.
pub struct Engine<T: StepTimer> {
    cfg: EngineConfig,
    timer: T,
    now: f64,
    pool: BlockPool,
    seqs: Vec<Seq>,
    free_slots: Vec<usize>,
    live: IdMap<usize>,
    pending: BinaryHeap<Arrival>,
    /// Arrived requests still in the front end, keyed by the time they leave it.
    frontend: BinaryHeap<Arrival>,
    /// When the front end finishes the requests handed to it so far.
    frontend_free_s: f64,
    num_pending: u32,
    next_order: u64,
    /// Multi-step scheduling: decode steps left before the next scheduling decision.
    steps_to_boundary: u32,
    waiting: VecDeque<usize>,
    running: Vec<usize>,
    sbatch: StaticBatch,
    c: Counters,
    // Scratch buffers reused across steps.
    sched: Vec<Sched>,
    prefill_buf: Vec<(u32, u32)>,
    decode_buf: Vec<u32>,
    hits: Vec<u32>,
}

impl<T: StepTimer> Engine<T> {
    /// Create an engine at virtual time 0.
    ///
    /// # Panics
    /// If the configuration is invalid (see [`EngineConfig::validate`]);
    /// use [`try_new`](Self::try_new) to get the error instead.
    pub fn new(cfg: EngineConfig, timer: T) -> Self {
        match Self::try_new(cfg, timer) {
            Ok(e) => e,
            Err(e) => panic!("{e}"),
        }
    }

    /// Create an engine at virtual time 0, or explain why the config is invalid.
    pub fn try_new(cfg: EngineConfig, timer: T) -> Result<Self, ConfigError> {
        cfg.validate()?;
        let pool = BlockPool::new(cfg.usable_blocks());
        Ok(Engine {
            cfg,
            timer,
            now: 0.0,
            pool,
            seqs: Vec::new(),
            free_slots: Vec::new(),
            live: IdMap::default(),
            pending: BinaryHeap::new(),
            frontend: BinaryHeap::new(),
            frontend_free_s: f64::NEG_INFINITY,
            num_pending: 0,
            steps_to_boundary: 0,
            next_order: 0,
            waiting: VecDeque::new(),
            running: Vec::new(),
            sbatch: StaticBatch::default(),
            c: Counters::default(),
            sched: Vec::new(),
            prefill_buf: Vec::new(),
            decode_buf: Vec::new(),
            hits: Vec::new(),
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &EngineConfig {
        &self.cfg
    }

    /// The step timer in use.
    pub fn timer(&self) -> &T {
        &self.timer
    }

    /// Current virtual time, seconds.
    pub fn now(&self) -> f64 {
        self.now
    }

    /// Submit a request. It becomes schedulable at the first step starting at
    /// or after `r.arrival_s`; an arrival time in the past is allowed (the
    /// request arrived while the previous step was running, and its TTFT
    /// counts from `arrival_s`). Requests are served FCFS by arrival time,
    /// ties in submission order.
    pub fn add_request(&mut self, r: Request) -> Result<(), RejectReason> {
        let reject = |c: &mut Counters, why| {
            c.num_rejected += 1;
            Err(why)
        };
        if !r.arrival_s.is_finite() {
            return reject(&mut self.c, RejectReason::BadArrivalTime);
        }
        if r.prompt_len == 0 {
            return reject(&mut self.c, RejectReason::EmptyPrompt);
        }
        if r.prompt_len >= self.cfg.max_model_len {
            return reject(&mut self.c, RejectReason::PromptTooLong);
        }
        if r.max_output_tokens == 0 {
            return reject(&mut self.c, RejectReason::NoOutputTokens);
        }
        if r.prefix_block_hashes.len() > (r.prompt_len / self.cfg.block_size) as usize {
            return reject(&mut self.c, RejectReason::TooManyPrefixBlocks);
        }
        if self.live.contains_key(&r.id) {
            return reject(&mut self.c, RejectReason::DuplicateId);
        }
        let room = self.cfg.max_model_len - r.prompt_len;
        let (target_output, reason_at_target) = if r.max_output_tokens <= room {
            let why = if r.ends_with_eos {
                FinishReason::Stop
            } else {
                FinishReason::Length
            };
            (r.max_output_tokens, why)
        } else {
            (room, FinishReason::Length)
        };
        let order = self.next_order;
        self.next_order += 1;
        let seq = Seq {
            id: r.id,
            order,
            prompt_len: r.prompt_len,
            target_output,
            reason_at_target,
            content: r.prefix_block_hashes,
            status: Status::Pending,
            ..Seq::empty()
        };
        let idx = match self.free_slots.pop() {
            Some(i) => {
                self.seqs[i] = seq;
                i
            }
            None => {
                self.seqs.push(seq);
                self.seqs.len() - 1
            }
        };
        self.live.insert(r.id, idx);
        self.num_pending += 1;
        self.pending.push(Arrival {
            t: r.arrival_s,
            order,
            idx,
        });
        Ok(())
    }

    /// Whether any submitted request has not finished yet (including requests
    /// whose arrival time is still in the future).
    pub fn has_work(&self) -> bool {
        !self.live.is_empty()
    }

    /// Whether a step run now would have something to do (arrived, unfinished work).
    pub fn has_runnable_work(&mut self) -> bool {
        self.admit_arrivals();
        !self.running.is_empty() || !self.waiting.is_empty() || !self.sbatch.slots.is_empty()
    }

    /// Earliest time a request not yet schedulable becomes schedulable (its
    /// arrival, or its exit from the front end), if any.
    pub fn next_arrival(&mut self) -> Option<f64> {
        self.purge_stale_arrivals();
        match (self.pending.peek().map(|a| a.t), self.frontend.peek().map(|a| a.t)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Move the clock forward to `t` without doing work (the engine idles).
    /// Times in the past are ignored: the clock never goes backwards.
    pub fn advance_to(&mut self, t: f64) {
        if t > self.now {
            self.now = t;
        }
        self.admit_arrivals();
    }

    /// Abort a live request (client disconnect). Returns its record, or
    /// `None` if no live request has this id. In static mode an aborted batch
    /// member keeps its slot until the batch ends.
    pub fn abort(&mut self, id: u64) -> Option<FinishedRequest> {
        let &idx = self.live.get(&id)?;
        match self.seqs[idx].status {
            Status::Pending => self.num_pending -= 1,
            Status::Waiting => {
                if let Some(p) = self.waiting.iter().position(|&i| i == idx) {
                    self.waiting.remove(p);
                }
            }
            Status::Running => {
                if self.cfg.mode == SchedulerMode::Continuous {
                    if let Some(p) = self.running.iter().position(|&i| i == idx) {
                        self.running.remove(p);
                    }
                } else {
                    self.sbatch.live -= 1;
                }
            }
            Status::Done | Status::Free => return None,
        }
        let in_static_batch = self.cfg.mode == SchedulerMode::Static && self.seqs[idx].status == Status::Running;
        let now = self.now;
        let f = self.finish(idx, FinishReason::Abort, now, !in_static_batch);
        if in_static_batch && self.sbatch.live == 0 {
            self.end_static_batch();
        }
        Some(f)
    }

    /// Run one iteration: schedule, price it with the timer, advance the
    /// clock, emit tokens. Returns `None` (clock unchanged) when no arrived
    /// request needs work; use [`next_arrival`](Self::next_arrival) and
    /// [`advance_to`](Self::advance_to) to skip idle time.
    pub fn step(&mut self) -> Option<StepReport> {
        self.admit_arrivals();
        match self.cfg.mode {
            SchedulerMode::Continuous => self.step_continuous(),
            SchedulerMode::Static => self.step_static(),
        }
    }

    /// Snapshot of counters and gauges.
    pub fn stats(&self) -> EngineStats {
        let usable = self.pool.capacity();
        let free = self.pool.num_free();
        let (num_running, num_waiting) = match self.cfg.mode {
            SchedulerMode::Continuous => (self.running.len() as u32, self.waiting.len() as u32),
            SchedulerMode::Static => (self.sbatch.slots.len() as u32, self.waiting.len() as u32),
        };
        EngineStats {
            now_s: self.now,
            num_running,
            num_waiting,
            num_pending: self.num_pending,
            kv_cache_usage: if usable == 0 {
                0.0
            } else {
                1.0 - free as f64 / usable as f64
            },
            num_usable_blocks: usable,
            num_free_blocks: free,
            num_cached_blocks: self.pool.num_cached(),
            num_preemptions: self.c.num_preemptions,
            prefix_cache_queries: self.c.prefix_cache_queries,
            prefix_cache_hits: self.c.prefix_cache_hits,
            preempted_prefix_cache_queries: self.c.preempted_prefix_cache_queries,
            preempted_prefix_cache_hits: self.c.preempted_prefix_cache_hits,
            prompt_tokens: self.c.prompt_tokens,
            generation_tokens: self.c.generation_tokens,
            computed_prefill_tokens: self.c.computed_prefill_tokens,
            finished_stop: self.c.finished_stop,
            finished_length: self.c.finished_length,
            finished_abort: self.c.finished_abort,
            num_rejected: self.c.num_rejected,
            num_steps: self.c.num_steps,
            busy_time_s: self.c.busy_time_s,
        }
    }

    /// Blocks currently referenced by requests (never above the usable capacity).
    pub fn num_used_blocks(&self) -> u32 {
        self.pool.capacity() - self.pool.num_free()
    }

    /// Exhaustive consistency check of queues and KV accounting, O(blocks +
    /// requests). Meant for tests; returns a description of the first
    /// violation found.
    pub fn check_invariants(&self) -> Result<(), String> {
        let cap = self.pool.capacity();
        if self.pool.num_free() > cap {
            return Err("free blocks above capacity".into());
        }
        let mut holders = vec![0u32; cap as usize];
        let mut pending = 0u32;
        for (i, s) in self.seqs.iter().enumerate() {
            pending += (s.status == Status::Pending) as u32;
            for &b in &s.blocks {
                if b >= cap {
                    return Err(format!("request {} holds out-of-range block {b}", s.id));
                }
                holders[b as usize] += 1;
            }
            let bs = self.cfg.block_size;
            let idle = matches!(s.status, Status::Pending | Status::Waiting | Status::Free);
            if idle && (!s.blocks.is_empty() || s.num_computed != 0) {
                return Err(format!("non-running request {} holds KV", s.id));
            }
            match s.status {
                Status::Running if self.cfg.mode == SchedulerMode::Continuous => {
                    let want = s.num_computed.div_ceil(bs) as usize;
                    if s.blocks.len() != want {
                        return Err(format!(
                            "request {}: {} blocks for {} computed tokens",
                            s.id,
                            s.blocks.len(),
                            s.num_computed
                        ));
                    }
                    if s.num_computed >= s.num_tokens() {
                        return Err(format!("request {} computed beyond its tokens", s.id));
                    }
                    if !self.running.contains(&i) {
                        return Err(format!("running request {} not in running queue", s.id));
                    }
                }
                Status::Done if self.cfg.mode == SchedulerMode::Continuous => {
                    return Err(format!("finished request {} still holds its slot", s.id));
                }
                _ => {}
            }
            if s.status != Status::Free && s.num_output > s.target_output {
                return Err(format!("request {} overshot its output length", s.id));
            }
        }
        if pending != self.num_pending {
            return Err(format!("pending counter {} but {pending} pending", self.num_pending));
        }
        if self.running.len() > self.cfg.max_num_seqs as usize
            || self.sbatch.slots.len() > self.cfg.max_num_seqs as usize
        {
            return Err("more running requests than max_num_seqs".into());
        }
        for &i in &self.waiting {
            if self.seqs[i].status != Status::Waiting {
                return Err("waiting queue holds a non-waiting request".into());
            }
        }
        self.pool.check(&holders)
    }

    // ----------------------------------------------------------------------
    // Internals
    // ----------------------------------------------------------------------

    fn blocks_for(&self, tokens: u32) -> usize {
        tokens.div_ceil(self.cfg.block_size) as usize
    }

    fn purge_stale_arrivals(&mut self) {
        for heap in [&mut self.pending, &mut self.frontend] {
            while let Some(a) = heap.peek() {
                let s = &self.seqs[a.idx];
                if s.order == a.order && s.status == Status::Pending {
                    break;
                }
                heap.pop();
            }
        }
    }

    /// Moves arrived requests through the front end (in arrival order, one at
    /// a time) and into WAITING once they leave it.
    fn admit_arrivals(&mut self) {
        let has_frontend = self.cfg.frontend_s > 0.0 || self.cfg.frontend_per_token_s > 0.0;
        loop {
            self.purge_stale_arrivals();
            match self.pending.peek() {
                Some(a) if a.t <= self.now => {
                    let (idx, t, order) = (a.idx, a.t, a.order);
                    self.pending.pop();
                    if has_frontend {
                        let cost =
                            self.cfg.frontend_s + self.cfg.frontend_per_token_s * f64::from(self.seqs[idx].prompt_len);
                        let ready = t.max(self.frontend_free_s) + cost;
                        self.frontend_free_s = ready;
                        self.frontend.push(Arrival { t: ready, order, idx });
                    } else {
                        self.enter_waiting(idx);
                    }
                }
                _ => break,
            }
        }
        loop {
            self.purge_stale_arrivals();
            match self.frontend.peek() {
                Some(a) if a.t <= self.now => {
                    let idx = a.idx;
                    self.frontend.pop();
                    self.enter_waiting(idx);
                }
                _ => break,
            }
        }
    }

    fn enter_waiting(&mut self, idx: usize) {
        self.seqs[idx].status = Status::Waiting;
        self.waiting.push_back(idx);
        self.num_pending -= 1;
    }

    /// Record a finished request. `release` frees its KV blocks and slot now
    /// (static-mode batch members release at batch end instead).
    fn finish(&mut self, idx: usize, reason: FinishReason, t: f64, release: bool) -> FinishedRequest {
        let seq = &mut self.seqs[idx];
        seq.status = Status::Done;
        match reason {
            FinishReason::Stop => self.c.finished_stop += 1,
            FinishReason::Length => self.c.finished_length += 1,
            FinishReason::Abort => self.c.finished_abort += 1,
        }
        self.live.remove(&seq.id);
        let f = FinishedRequest {
            id: seq.id,
            reason,
            num_output_tokens: seq.num_output,
            time_s: t,
        };
        if release {
            self.release_slot(idx);
        }
        f
    }

    fn release_slot(&mut self, idx: usize) {
        let seq = &mut self.seqs[idx];
        for &b in seq.blocks.iter().rev() {
            self.pool.release(b);
        }
        seq.blocks = Vec::new();
        seq.chain = Vec::new();
        seq.content = Vec::new();
        seq.num_computed = 0;
        seq.num_registered = 0;
        seq.status = Status::Free;
        self.free_slots.push(idx);
    }

    /// Emit the next output token of `idx` at time `t`; returns true if the
    /// request reached its target length.
    fn emit_token(&mut self, idx: usize, t: f64, report: &mut StepReport) -> bool {
        let seq = &mut self.seqs[idx];
        let index = seq.num_output;
        seq.num_output += 1;
        report.tokens.push(TokenEmit {
            id: seq.id,
            time_s: t,
            index,
        });
        self.c.generation_tokens += 1;
        if index == 0 {
            self.c.prompt_tokens += seq.prompt_len as u64;
        }
        seq.num_output >= seq.target_output
    }

    fn run_timer(&mut self, report: &mut StepReport) {
        let shape = StepShape {
            prefill: &self.prefill_buf,
            decode: &self.decode_buf,
        };
        let dt = self.timer.step_time_s(&shape);
        let dt = if dt.is_finite() && dt > 0.0 { dt } else { 0.0 };
        report.start_s = self.now;
        self.now += dt;
        report.end_s = self.now;
        report.num_prefill_seqs = self.prefill_buf.len() as u32;
        report.num_prefill_tokens = self.prefill_buf.iter().map(|&(n, _)| n).sum();
        report.num_decode_seqs = self.decode_buf.len() as u32;
        self.c.computed_prefill_tokens += report.num_prefill_tokens as u64;
        self.c.num_steps += 1;
        self.c.busy_time_s += dt;
    }
}
