//! The static-batching baseline ("HuggingFace-style"): form a batch FCFS,
//! reserve one padded KV tensor for it, prefill every prompt padded to the
//! longest, decode every slot until the longest member ends, then form the
//! next batch.
//!
//! Kept apart from the continuous scheduler ([`super::continuous`]) because it
//! shares only the queues, the clock and the token bookkeeping with it.

use super::{Admission, Engine, StaticBatch, Status, StepReport};
use crate::timer::StepTimer;

impl<T: StepTimer> Engine<T> {
    pub(super) fn end_static_batch(&mut self) {
        let slots = std::mem::take(&mut self.sbatch.slots);
        for idx in slots {
            self.release_slot(idx);
        }
        self.sbatch = StaticBatch::default();
    }

    pub(super) fn step_static(&mut self) -> Option<StepReport> {
        let start = self.now;
        let mut report = StepReport {
            start_s: start,
            end_s: start,
            ..Default::default()
        };
        if self.sbatch.slots.is_empty() {
            // Form a batch FCFS, up to max_num_seqs. The KV cache is one padded
            // tensor, as in HF `generate`: every slot holds the longest prompt
            // plus the longest output of the batch, reserved up front (no
            // paging, no preemption). Output lengths are taken as known, which
            // flatters the baseline.
            let bs = self.cfg.block_size;
            let free = self.pool.num_free() as usize;
            let (mut padded, mut max_out) = (0u32, 0u32);
            let mut n = 0usize;
            for &idx in &self.waiting {
                if n == self.cfg.max_num_seqs as usize {
                    break;
                }
                let s = &self.seqs[idx];
                let (p, o) = (padded.max(s.prompt_len), max_out.max(s.target_output));
                if (n + 1) * (p + o).div_ceil(bs) as usize > free {
                    break;
                }
                (padded, max_out, n) = (p, o, n + 1);
            }
            if n == 0 {
                return None;
            }
            let per_slot = (padded + max_out).div_ceil(bs) as usize;
            for _ in 0..n {
                let idx = self.waiting.pop_front().expect("counted above");
                let seq = &mut self.seqs[idx];
                for _ in 0..per_slot {
                    seq.blocks.push(self.pool.alloc());
                }
                seq.status = Status::Running;
                seq.ever_scheduled = true;
                report.admitted.push(Admission {
                    id: seq.id,
                    resumed: false,
                    cached_tokens: 0,
                    time_s: start,
                });
                self.sbatch.slots.push(idx);
            }
            self.sbatch.padded_len = padded;
            self.sbatch.live = n as u32;
        }

        self.prefill_buf.clear();
        self.decode_buf.clear();
        let b = self.sbatch.slots.len();
        let padded = self.sbatch.padded_len;
        if !self.sbatch.prefilled {
            self.prefill_buf.resize(b, (padded, 0));
        } else {
            // Every slot decodes, finished members included (padding).
            self.decode_buf.resize(b, padded + self.sbatch.decode_steps);
        }
        self.run_timer(&mut report);
        let end = report.end_s;

        for k in 0..b {
            let idx = self.sbatch.slots[k];
            if self.seqs[idx].status != Status::Running {
                continue;
            }
            let seq = &mut self.seqs[idx];
            seq.num_computed = seq.num_tokens();
            if self.emit_token(idx, end, &mut report) {
                let reason = self.seqs[idx].reason_at_target;
                let f = self.finish(idx, reason, end, false);
                report.finished.push(f);
                self.sbatch.live -= 1;
            }
        }
        if self.sbatch.prefilled {
            self.sbatch.decode_steps += 1;
        } else {
            self.sbatch.prefilled = true;
        }
        if self.sbatch.live == 0 {
            self.end_static_batch();
        }
        Some(report)
    }
}
