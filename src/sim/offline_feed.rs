//! A run's workload as requests for the offline engine (`sim run`): the same prompts `bench`
//! would send, reduced to what the engine needs — prompt length, output length and the
//! content ids of the prompt's full KV blocks, so its prefix cache sees the same reuse:
//!
//! - datasets: the prompt's token ids from the client tokenizer;
//! - shared prefixes and Mooncake traces: the words' indices (equal keys give equal ids, as
//!   equal words give equal text online);
//! - multi-turn sessions: each conversation is one append-only token stream (user messages
//!   and replies), so turn `k` shares every full block of turn `k − 1`'s prompt and reply;
//! - synthetic prompts and Azure/BurstGPT traces: unique (no ids).
//!
//! Trace arrivals are read from the file as the simulation reaches them.

use super::offline::{Feed, Planned};
use crate::schedule::{self, Load};
use crate::util::Rng;
use crate::workload::sessions::user_message;
use crate::workload::text::mix;
use crate::workload::trace::{Replay, TraceEntry};
use crate::workload::{Source, Workload};
use infermeter_engine::block_hashes_from_tokens;
use std::collections::HashMap;
use std::time::Duration;

const STREAM_SALT: u64 = 0x0FF1_5E55_10A5;

/// Arrivals of an open loop.
enum Arrivals {
    None,
    /// Precomputed offsets (Poisson, gamma, constant), requests by index.
    Process(std::vec::IntoIter<f64>),
    Trace(Box<Replay>),
}

pub struct WorkloadFeed<'a> {
    w: &'a Workload,
    block: u32,
    ignore_eos: bool,
    arrivals: Arrivals,
    next: u64,
    /// Closed loop over a trace: its requests in order, timing ignored.
    untimed: Option<Replay>,
    /// Sessions: tokens in each conversation's stream so far.
    streams: HashMap<u64, u32>,
}

impl<'a> WorkloadFeed<'a> {
    /// `block`: the engine's KV block size. `requests` (warmup included) and `duration`
    /// bound the arrivals.
    pub fn new(
        w: &'a Workload,
        load: &Load,
        block: u32,
        ignore_eos: bool,
        requests: Option<u64>,
        duration: Option<Duration>,
    ) -> WorkloadFeed<'a> {
        let replay = || match &w.source {
            Source::Trace(t) => {
                Replay::open(&t.path, &t.opts, t.speed, requests, duration, t.scan.resume.as_ref()).ok()
            }
            _ => None,
        };
        let (arrivals, untimed) = match load {
            Load::Open { rate, arrival, .. } => (
                Arrivals::Process(schedule::arrivals(*rate, *arrival, w.seed, requests, duration).into_iter()),
                None,
            ),
            Load::Trace { .. } => (
                replay().map(|r| Arrivals::Trace(Box::new(r))).unwrap_or(Arrivals::None),
                None,
            ),
            Load::Closed { .. } => (Arrivals::None, replay()),
        };
        WorkloadFeed {
            w,
            block: block.max(1),
            ignore_eos,
            arrivals,
            next: 0,
            untimed,
            streams: HashMap::new(),
        }
    }

    /// Output tokens actually generated: `max_tokens`, or somewhere in its upper half when
    /// EOS is not ignored (the simulated server's rule).
    fn n_out(&self, key: u64, max_tokens: u32) -> u32 {
        if self.ignore_eos {
            return max_tokens;
        }
        let mut r = Rng::stream(self.w.seed ^ 0x5EED_0FF1, key);
        let lo = (max_tokens / 2).max(1).min(max_tokens);
        lo + r.below(u64::from(max_tokens - lo + 1)) as u32
    }

    fn hashes(&self, ids: &[u32], prompt: u32) -> Vec<u64> {
        let mut h = block_hashes_from_tokens(ids, self.block);
        h.truncate((prompt / self.block) as usize);
        h
    }

    fn planned(&self, index: u64, entry: Option<&TraceEntry>) -> Planned {
        let spec = self.w.build(index, entry);
        let prompt = spec.input_tokens.max(1);
        let max_tokens = spec.max_tokens.max(1);
        let ids = match (&self.w.source, entry) {
            (Source::Dataset { .. }, None) => Some(match &spec.messages {
                Some(m) => m.iter().flat_map(|x| self.w.tokenizer.encode(&x.content)).collect(),
                None => self.w.tokenizer.encode(&spec.prompt),
            }),
            _ => self.w.prompt_ids(index, entry),
        };
        Planned {
            prompt,
            max_tokens,
            n_out: self.n_out(index, max_tokens),
            prefix: ids.map(|ids| self.hashes(&ids, prompt)).unwrap_or_default(),
            source_line: spec.source_line,
        }
    }
}

impl Feed for WorkloadFeed<'_> {
    fn by_index(&mut self, index: u64) -> Option<Planned> {
        if let Some(r) = self.untimed.as_mut() {
            let (_, e) = r.next()?;
            return Some(self.planned(index, Some(&e)));
        }
        if matches!(self.w.source, Source::Trace(_)) {
            return None;
        }
        Some(self.planned(index, None))
    }

    fn next_arrival(&mut self) -> Option<(f64, Planned)> {
        let i = self.next;
        let (t, entry) = match &mut self.arrivals {
            Arrivals::None => return None,
            Arrivals::Process(it) => (it.next()?, None),
            Arrivals::Trace(r) => {
                let (t, e) = r.next()?;
                (t, Some(e))
            }
        };
        self.next += 1;
        Some((t, self.planned(i, entry.as_ref())))
    }

    fn turn(&mut self, session: u64, turn: u32, reply: u32) -> Option<(f64, Planned)> {
        let plan = self.w.sessions.as_ref()?;
        if turn >= plan.turns {
            self.streams.remove(&session);
            return None;
        }
        let (_, user, max_tokens, line) = user_message(self.w, session, turn);
        let before = if turn == 0 {
            0
        } else {
            self.streams.get(&session).copied().unwrap_or(0).saturating_add(reply)
        };
        let prompt = before.saturating_add(user).max(1);
        self.streams.insert(session, prompt);
        let key = mix(self.w.seed ^ STREAM_SALT, session);
        let ids: Vec<u32> = (0..prompt).map(|p| mix(key, u64::from(p)) as u32).collect();
        let think = plan.think_s(self.w.seed, session, turn);
        Some((
            think,
            Planned {
                prompt,
                max_tokens,
                n_out: self.n_out(mix(session, u64::from(turn)), max_tokens),
                prefix: self.hashes(&ids, prompt),
                source_line: line,
            },
        ))
    }
}
