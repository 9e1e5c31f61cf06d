//! The continuous (vLLM V1-style) scheduler: one token budget per step,
//! running requests first (preempting from the tail when KV runs out), then
//! waiting requests FCFS, with chunked prefill and prefix-cache reuse.
//!
//! It lives apart from the engine's queues and clock so that the scheduling
//! rules (the part that mirrors vLLM's `Scheduler.schedule`) can be read and
//! changed in one place; the static baseline is in [`super::static_batch`].

use super::{Admission, Engine, Sched, Seq, Status, StepReport};
use crate::block_pool::BlockPool;
use crate::timer::StepTimer;

impl<T: StepTimer> Engine<T> {
    /// Offer the request's newly full blocks (up to `upto_tokens`) to the prefix cache.
    fn register_blocks(seq: &mut Seq, pool: &mut BlockPool, bs: u32, upto_tokens: u32) {
        let full = (upto_tokens / bs) as usize;
        while seq.num_registered < full {
            let i = seq.num_registered;
            let h = seq.block_hash(i);
            pool.register(seq.blocks[i], h);
            seq.num_registered += 1;
        }
    }

    fn preempt(&mut self, idx: usize, report: &mut StepReport) {
        let seq = &mut self.seqs[idx];
        // Free in reverse so the tail blocks are evicted first (as vLLM does).
        for &b in seq.blocks.iter().rev() {
            self.pool.release(b);
        }
        seq.blocks.clear();
        seq.num_computed = 0;
        seq.num_registered = 0;
        seq.status = Status::Waiting;
        seq.num_preemptions += 1;
        self.waiting.push_front(idx);
        self.c.num_preemptions += 1;
        report.preempted.push(seq.id);
    }

    /// Try to admit the waiting request `idx` with `budget` tokens left.
    /// Returns (tokens scheduled, tokens served from the prefix cache).
    fn try_admit(&mut self, idx: usize, budget: u32) -> Option<(u32, u32)> {
        let bs = self.cfg.block_size;
        let caching = self.cfg.enable_prefix_caching;
        let seq = &mut self.seqs[idx];
        let num_tokens = seq.num_tokens();
        self.hits.clear();
        if caching {
            // Never hit the last token: its logits must be computed.
            let max_hit_blocks = ((num_tokens - 1) / bs) as usize;
            for i in 0..max_hit_blocks {
                let h = seq.block_hash(i);
                match self.pool.lookup(h) {
                    Some(b) => self.hits.push(b),
                    None => break,
                }
            }
        }
        let hit_tokens = self.hits.len() as u32 * bs;
        let mut num_new = num_tokens - hit_tokens;
        let thr = self.cfg.long_prefill_token_threshold;
        if thr > 0 && num_new > thr {
            num_new = thr;
        }
        if !self.cfg.enable_chunked_prefill && num_new > budget {
            return None;
        }
        num_new = num_new.min(budget);
        let evictable_hits = self.hits.iter().filter(|&&b| self.pool.is_free(b)).count();
        let new_blocks = (hit_tokens + num_new).div_ceil(bs) as usize - self.hits.len();
        let must_fit = if self.cfg.reserve_full_sequence {
            num_tokens.div_ceil(bs) as usize - self.hits.len()
        } else {
            new_blocks
        };
        if must_fit + evictable_hits > self.pool.num_free() as usize {
            return None;
        }
        for &b in &self.hits {
            self.pool.touch(b);
            seq.blocks.push(b);
        }
        seq.num_registered = self.hits.len();
        for _ in 0..new_blocks {
            seq.blocks.push(self.pool.alloc());
        }
        if caching {
            Self::register_blocks(seq, &mut self.pool, bs, hit_tokens + num_new);
        }
        seq.num_computed = hit_tokens;
        Some((num_new, hit_tokens))
    }

    pub(super) fn step_continuous(&mut self) -> Option<StepReport> {
        if self.running.is_empty() && self.waiting.is_empty() {
            return None;
        }
        let start = self.now;
        let mut report = StepReport {
            start_s: start,
            end_s: start,
            ..Default::default()
        };
        let mut budget = self.cfg.max_num_batched_tokens;
        self.sched.clear();
        // Multi-step scheduling: waiting requests are only considered at a
        // scheduling boundary (or when nothing runs).
        let boundary = self.steps_to_boundary == 0 || self.running.is_empty();
        if self.cfg.prefill_first && boundary && !self.waiting.is_empty() {
            // vLLM V0 without chunked prefill: new prompts first, alone.
            self.schedule_waiting(&mut budget, &mut report, start);
            if self.sched.is_empty() {
                self.schedule_running(&mut budget, &mut report);
            }
        } else {
            // vLLM V1: running requests, then (if nobody was preempted) waiting ones.
            let preempted = self.schedule_running(&mut budget, &mut report);
            if !preempted && boundary {
                self.schedule_waiting(&mut budget, &mut report, start);
            }
        }

        if self.sched.is_empty() {
            // Unreachable with a valid config: the head request always fits alone.
            debug_assert!(false, "scheduler made no progress");
            return None;
        }

        self.prefill_buf.clear();
        self.decode_buf.clear();
        for s in &self.sched {
            if s.decode {
                self.decode_buf.push(s.computed_before);
            } else {
                self.prefill_buf.push((s.num_new, s.computed_before));
            }
        }
        let k = self.cfg.scheduler_steps.max(1);
        if k > 1 {
            self.steps_to_boundary = if !self.prefill_buf.is_empty() {
                0
            } else if boundary {
                k - 1
            } else {
                self.steps_to_boundary - 1
            };
        }
        self.run_timer(&mut report);
        let end = report.end_s;

        // Apply: advance computed tokens, sample tokens, finish requests.
        let mut any_finished = false;
        for k in 0..self.sched.len() {
            let Sched { idx, num_new, .. } = self.sched[k];
            let seq = &mut self.seqs[idx];
            seq.num_computed += num_new;
            if seq.num_computed == seq.num_tokens() && self.emit_token(idx, end, &mut report) {
                let reason = self.seqs[idx].reason_at_target;
                let f = self.finish(idx, reason, end, true);
                report.finished.push(f);
                any_finished = true;
            }
        }
        if any_finished {
            let seqs = &self.seqs;
            self.running.retain(|&i| seqs[i].status == Status::Running);
        }
        Some(report)
    }

    /// Phase 1: running requests in admission order, preempting from the
    /// tail when KV blocks run out. Returns whether anything was preempted.
    fn schedule_running(&mut self, budget: &mut u32, report: &mut StepReport) -> bool {
        let bs = self.cfg.block_size;
        let thr = self.cfg.long_prefill_token_threshold;
        let caching = self.cfg.enable_prefix_caching;
        let mut preempted_any = false;
        let mut i = 0;
        while i < self.running.len() && *budget > 0 {
            let idx = self.running[i];
            let (num_tokens, computed, held) = {
                let s = &self.seqs[idx];
                (s.num_tokens(), s.num_computed, s.blocks.len())
            };
            let mut num_new = num_tokens - computed;
            if thr > 0 && num_new > thr {
                num_new = thr;
            }
            num_new = num_new.min(*budget);
            let need = self.blocks_for(computed + num_new).saturating_sub(held);
            let mut preempted_self = false;
            while (self.pool.num_free() as usize) < need {
                let victim = self.running.pop().expect("running queue not empty");
                self.preempt(victim, report);
                preempted_any = true;
                if victim == idx {
                    preempted_self = true;
                    break;
                }
            }
            if preempted_self {
                break;
            }
            let seq = &mut self.seqs[idx];
            for _ in 0..need {
                seq.blocks.push(self.pool.alloc());
            }
            if caching {
                Self::register_blocks(seq, &mut self.pool, bs, computed + num_new);
            }
            let decode = seq.num_output > 0 && num_tokens - computed == 1;
            self.sched.push(Sched {
                idx,
                num_new,
                computed_before: computed,
                decode,
            });
            *budget -= num_new;
            i += 1;
        }

        preempted_any
    }

    /// Phase 2: waiting requests FCFS while budget, `max_num_seqs` and KV
    /// blocks allow; never preempts.
    fn schedule_waiting(&mut self, budget: &mut u32, report: &mut StepReport, start: f64) {
        let caching = self.cfg.enable_prefix_caching;
        while *budget > 0 && self.running.len() < self.cfg.max_num_seqs as usize {
            let Some(&idx) = self.waiting.front() else {
                break;
            };
            let Some((num_new, cached)) = self.try_admit(idx, *budget) else {
                break;
            };
            self.waiting.pop_front();
            self.running.push(idx);
            let seq = &mut self.seqs[idx];
            seq.status = Status::Running;
            let resumed = seq.num_preemptions > 0;
            if caching {
                let q = seq.num_tokens() as u64;
                if resumed {
                    self.c.preempted_prefix_cache_queries += q;
                    self.c.preempted_prefix_cache_hits += cached as u64;
                } else {
                    self.c.prefix_cache_queries += q;
                    self.c.prefix_cache_hits += cached as u64;
                }
            }
            seq.ever_scheduled = true;
            report.admitted.push(Admission {
                id: seq.id,
                resumed,
                cached_tokens: cached,
                time_s: start,
            });
            self.sched.push(Sched {
                idx,
                num_new,
                computed_before: cached,
                decode: false,
            });
            *budget -= num_new;
        }
    }
}
