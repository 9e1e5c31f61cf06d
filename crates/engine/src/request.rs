//! Request descriptions, finish/reject reasons and the content-hash helpers
//! that let workloads describe shared prompt prefixes cheaply.
//!
//! A simulated request never carries text. Its prompt is a length plus,
//! optionally, one content id per leading full KV block
//! (`prefix_block_hashes`). Two requests whose first `k` content ids are equal
//! share their first `k` blocks of prompt for prefix-caching purposes; every
//! block past the given ids is unique to the request. Workloads that do have
//! token ids can derive the content ids with [`block_hashes_from_tokens`].

use serde::{Deserialize, Serialize};
use std::fmt;

/// One inference request as submitted to the engine.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// Caller-chosen id; must be unique among the engine's live requests.
    pub id: u64,
    /// Arrival time on the engine's virtual clock, in seconds. TTFT and queue
    /// time are measured from here. A request is eligible for scheduling at
    /// the first step starting at or after its arrival.
    pub arrival_s: f64,
    /// Prompt length in tokens (>= 1, < `max_model_len`).
    pub prompt_len: u32,
    /// Content ids of the prompt's leading *full* blocks (block `i` covers
    /// prompt tokens `[i*block_size, (i+1)*block_size)`); at most
    /// `prompt_len / block_size` entries. Blocks are matched by a chained hash
    /// of these ids, exactly like vLLM's block hashes. Empty = no shareable
    /// content (the whole prompt is unique to this request).
    #[serde(default)]
    pub prefix_block_hashes: Vec<u64>,
    /// Number of output tokens to generate (vLLM `max_tokens`, >= 1). The
    /// request ends after exactly this many tokens unless `max_model_len`
    /// cuts it first.
    pub max_output_tokens: u32,
    /// If true the request ends because the model "emits EOS" at its last
    /// token (reported as [`FinishReason::Stop`]); if false it is cut by
    /// `max_tokens` ([`FinishReason::Length`], like `--ignore-eos` benchmarks).
    #[serde(default)]
    pub ends_with_eos: bool,
}

impl Request {
    /// A request with a unique (uncacheable) prompt.
    pub fn new(id: u64, arrival_s: f64, prompt_len: u32, max_output_tokens: u32) -> Self {
        Request {
            id,
            arrival_s,
            prompt_len,
            prefix_block_hashes: Vec::new(),
            max_output_tokens,
            ends_with_eos: false,
        }
    }

    /// Set the content ids of the leading full prompt blocks.
    pub fn with_prefix(mut self, prefix_block_hashes: Vec<u64>) -> Self {
        self.prefix_block_hashes = prefix_block_hashes;
        self
    }
}

/// Why a request left the engine (vLLM's `finished_reason` label values).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FinishReason {
    /// Model stopped on its own (EOS / stop string): `finished_reason="stop"`.
    Stop,
    /// Hit `max_tokens` or `max_model_len`: `finished_reason="length"`.
    Length,
    /// Aborted by the caller: `finished_reason="abort"`.
    Abort,
}

impl FinishReason {
    /// The label value vLLM uses for `vllm:request_success_total{finished_reason=..}`.
    pub fn as_str(&self) -> &'static str {
        match self {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
            FinishReason::Abort => "abort",
        }
    }
}

/// Why [`crate::Engine::add_request`] refused a request (vLLM would answer HTTP 400).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RejectReason {
    /// `prompt_len` is 0.
    EmptyPrompt,
    /// `prompt_len >= max_model_len`: no room for a single output token.
    PromptTooLong,
    /// `max_output_tokens` is 0.
    NoOutputTokens,
    /// More `prefix_block_hashes` than full blocks in the prompt.
    TooManyPrefixBlocks,
    /// `arrival_s` is not finite.
    BadArrivalTime,
    /// Another live request has the same id.
    DuplicateId,
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            RejectReason::EmptyPrompt => "prompt is empty",
            RejectReason::PromptTooLong => "prompt does not leave room for output within max_model_len",
            RejectReason::NoOutputTokens => "max_output_tokens must be >= 1",
            RejectReason::TooManyPrefixBlocks => "more prefix block hashes than full prompt blocks",
            RejectReason::BadArrivalTime => "arrival time is not finite",
            RejectReason::DuplicateId => "a live request already has this id",
        };
        f.write_str(s)
    }
}

impl std::error::Error for RejectReason {}

/// 64-bit finaliser (SplitMix64's output mix).
pub(crate) use infermeter_rng::mix64 as fmix64;

/// Root of every hash chain (the "parent" of block 0), like vLLM's `NONE_HASH`.
pub(crate) const ROOT_HASH: u64 = 0x6A09_E667_F3BC_C908;

/// Chained block hash: hash(parent hash, this block's content).
#[inline]
pub(crate) fn chain_hash(parent: u64, content: u64) -> u64 {
    fmix64(parent.rotate_left(17) ^ fmix64(content ^ 0x9E37_79B9_7F4A_7C15))
}

/// Content id of a block that is unique to one request (no shared content).
#[inline]
pub(crate) fn unique_block_content(request_id: u64, block_index: usize) -> u64 {
    fmix64(
        request_id.wrapping_mul(0xD6E8_FEB8_6659_FD93)
            ^ (block_index as u64).wrapping_mul(0xA076_1D64_78BD_642F)
            ^ 0x5555_0000_AAAA_0001,
    )
}

/// Content ids for the full blocks of a token-id prompt: one id per complete
/// block of `block_size` tokens (the trailing partial block is not cacheable
/// and gets no id). Pass the result as [`Request::prefix_block_hashes`]; the
/// engine chains them, so equal ids at equal positions after an equal prefix
/// mean a cache hit. `block_size` must match the engine's.
pub fn block_hashes_from_tokens(tokens: &[u32], block_size: u32) -> Vec<u64> {
    assert!(block_size > 0, "block_size must be >= 1");
    tokens
        .chunks_exact(block_size as usize)
        .map(|blk| {
            // FNV-1a over the token ids, then avalanche.
            let mut h: u64 = 0xCBF2_9CE4_8422_2325;
            for &t in blk {
                h ^= t as u64;
                h = h.wrapping_mul(0x0000_0100_0000_01B3);
            }
            fmix64(h)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_hashes_only_full_blocks() {
        let toks: Vec<u32> = (0..40).collect();
        let h = block_hashes_from_tokens(&toks, 16);
        assert_eq!(h.len(), 2);
        assert_ne!(h[0], h[1]);
        let h2 = block_hashes_from_tokens(&toks[..32], 16);
        assert_eq!(h, h2);
    }

    #[test]
    fn chain_depends_on_parent() {
        let a = chain_hash(ROOT_HASH, 7);
        let b = chain_hash(chain_hash(ROOT_HASH, 1), 7);
        assert_ne!(a, b);
        assert_ne!(unique_block_content(1, 0), unique_block_content(2, 0));
        assert_ne!(unique_block_content(1, 0), unique_block_content(1, 1));
    }
}
