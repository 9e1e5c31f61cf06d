//! Step-time contract between the engine and a performance model.
//!
//! The engine decides *what* runs in an iteration; how long that iteration
//! takes on some GPU is somebody else's problem (the roofline performance
//! model lives in another crate). This module defines the narrow interface
//! between the two: the engine describes one iteration as a [`StepShape`] and
//! asks a [`StepTimer`] for its duration. [`LinearTimer`] is a trivial linear
//! model for tests, examples and quick what-ifs.

use serde::{Deserialize, Serialize};

/// One engine iteration: the sequences and how many tokens each computes.
#[derive(Clone, Copy, Debug)]
pub struct StepShape<'a> {
    /// Prefill work: (new tokens computed this step, tokens already in the KV cache before them).
    pub prefill: &'a [(u32, u32)],
    /// Decode work: context length (tokens already in the KV cache) of each decoding sequence; each computes 1 token.
    pub decode: &'a [u32],
}

impl StepShape<'_> {
    /// Total number of tokens computed in this step (prefill tokens + one per decode).
    pub fn num_tokens(&self) -> u64 {
        self.prefill.iter().map(|&(n, _)| n as u64).sum::<u64>() + self.decode.len() as u64
    }

    /// Number of sequences in this step.
    pub fn num_seqs(&self) -> usize {
        self.prefill.len() + self.decode.len()
    }
}

/// Anything that can price one engine iteration in seconds.
///
/// Implementations must be deterministic (same shape, same answer) and return
/// a finite, non-negative duration; the engine clamps negative or NaN values
/// to zero rather than letting its virtual clock run backwards.
pub trait StepTimer {
    /// Wall-clock duration of one iteration of the given shape, in seconds.
    fn step_time_s(&self, s: &StepShape) -> f64;
}

impl<T: StepTimer + ?Sized> StepTimer for &T {
    fn step_time_s(&self, s: &StepShape) -> f64 {
        (**self).step_time_s(s)
    }
}

impl<T: StepTimer + ?Sized> StepTimer for Box<T> {
    fn step_time_s(&self, s: &StepShape) -> f64 {
        (**self).step_time_s(s)
    }
}

/// A linear step-time model, mainly for tests:
///
/// ```text
/// t = fixed_s
///   + per_prefill_token_s · Σ new prefill tokens
///   + per_decode_seq_s    · #decode sequences
///   + per_ctx_token_s     · (Σ decode context + Σ prefill context-before-chunk)
/// ```
///
/// `per_ctx_token_s` stands for the attention KV read that grows with context.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LinearTimer {
    /// Fixed per-iteration cost (launch overhead, weight streaming, sampling).
    pub fixed_s: f64,
    /// Cost per prefill token computed in this step.
    pub per_prefill_token_s: f64,
    /// Cost per decoding sequence in this step.
    pub per_decode_seq_s: f64,
    /// Cost per token of KV context read (decode contexts and prefill prefixes).
    pub per_ctx_token_s: f64,
}

impl Default for LinearTimer {
    /// Roughly an 8B model on one H100: 6.4 ms fixed, 25 µs per prefill token,
    /// 40 µs per decode sequence, 44 ns per context token.
    fn default() -> Self {
        LinearTimer {
            fixed_s: 6.4e-3,
            per_prefill_token_s: 25e-6,
            per_decode_seq_s: 40e-6,
            per_ctx_token_s: 44e-9,
        }
    }
}

impl StepTimer for LinearTimer {
    fn step_time_s(&self, s: &StepShape) -> f64 {
        let mut new_tokens = 0u64;
        let mut ctx = 0u64;
        for &(n, c) in s.prefill {
            new_tokens += n as u64;
            ctx += c as u64;
        }
        for &c in s.decode {
            ctx += c as u64;
        }
        self.fixed_s
            + self.per_prefill_token_s * new_tokens as f64
            + self.per_decode_seq_s * s.decode.len() as f64
            + self.per_ctx_token_s * ctx as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_timer_sums_terms() {
        let t = LinearTimer {
            fixed_s: 1.0,
            per_prefill_token_s: 0.1,
            per_decode_seq_s: 0.01,
            per_ctx_token_s: 0.001,
        };
        let shape = StepShape {
            prefill: &[(10, 5)],
            decode: &[100, 200],
        };
        let got = t.step_time_s(&shape);
        let want = 1.0 + 0.1 * 10.0 + 0.01 * 2.0 + 0.001 * 305.0;
        assert!((got - want).abs() < 1e-12);
        assert_eq!(shape.num_tokens(), 12);
        assert_eq!(shape.num_seqs(), 3);
    }
}
