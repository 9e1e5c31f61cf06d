//! What to send: prompts of an exact input token count and the requested output lengths.
//!
//! A request's content is a deterministic function of `(seed, request index)`, so the same
//! seed gives the same prompts, and prompts can be built lazily (a run of 10⁶ requests does
//! not hold 10⁶ prompts in memory). Synthetic prompts are sequences of words that are each
//! exactly one token with a leading space; for tokenizers that split on spaces (the built-in
//! encodings) a prompt of N such words is exactly N tokens. For other tokenizers the prompt
//! is checked with the tokenizer and adjusted word by word until the count matches.
//!
//! Besides synthetic text a workload draws its prompts from a [`Source`]: a dataset file
//! (`dataset`), groups sharing a prefix (`SharedPrefix`), or a trace (`trace`, whose
//! requests are handed to [`Workload::build`] one by one as the replay reads them).
//! Multi-turn sessions (`sessions`) build each turn from the conversation so far.

pub mod dataset;
pub mod dist;
pub mod facts;
pub mod input;
pub mod sessions;
pub mod text;
pub mod tokenizer;
pub mod trace;

use crate::util::Rng;
pub use dist::LengthDist;
use std::path::PathBuf;
use std::sync::Arc;
use text::{mix, Message, Words};
pub use tokenizer::Tokenizer;

/// One request's content.
#[derive(Debug, Clone, Default)]
pub struct RequestSpec {
    /// The prompt text (for `--api completions`; chat sends `messages`, or this text as the
    /// one user message).
    pub prompt: String,
    /// The chat messages, when the request has more than one user message.
    pub messages: Option<Vec<Message>>,
    /// Client-side token count of what is sent (chat: the message contents).
    pub input_tokens: u32,
    pub max_tokens: u32,
    /// The dataset or trace line the request came from.
    pub source_line: Option<u64>,
    /// Keep the assistant's text (multi-turn sessions send it back).
    pub keep_reply: bool,
}

/// Groups of prompts sharing a prefix: request `i` belongs to group `(i mod G·P) mod G`
/// (groups interleaved), its prompt is the group's prefix then a suffix unique to `i`.
#[derive(Debug, Clone, PartialEq)]
pub struct SharedPrefix {
    pub groups: u32,
    pub prompts_per_group: u32,
    pub prefix_tokens: u32,
    pub suffix: LengthDist,
}

impl SharedPrefix {
    /// The group of request `index`.
    pub fn group(&self, index: u64) -> u64 {
        let n = u64::from(self.groups) * u64::from(self.prompts_per_group);
        (index % n.max(1)) % u64::from(self.groups.max(1))
    }
}

/// A trace to replay: its window (already scanned) and speed.
#[derive(Debug, Clone)]
pub struct TraceSource {
    pub path: PathBuf,
    pub opts: trace::TraceOptions,
    pub speed: f64,
    pub scan: trace::TraceScan,
}

/// Where prompts come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// Synthetic text of `input` tokens.
    Synthetic,
    /// Dataset entries; `output` overrides their output lengths.
    Dataset {
        data: Arc<dataset::Dataset>,
        output: Option<LengthDist>,
    },
    SharedPrefix(SharedPrefix),
    Trace(TraceSource),
}

impl Source {
    /// A short name for reports: `synthetic`, `dataset`, `shared_prefix`, `trace`.
    pub fn kind(&self) -> &'static str {
        match self {
            Source::Synthetic => "synthetic",
            Source::Dataset { .. } => "dataset",
            Source::SharedPrefix(_) => "shared_prefix",
            Source::Trace(_) => "trace",
        }
    }
}

/// Key salts, so different uses of the same seed give unrelated text.
const PREFIX_SALT: u64 = 0x5AFE_0F1C_5EED;
const TRACE_SALT: u64 = 0x7EAC_E0B1_0C55;
const UNIQUE_SALT: u64 = 0x0111_9E00_7EA1;

#[derive(Debug, Clone)]
pub struct Workload {
    pub input: LengthDist,
    pub output: LengthDist,
    pub seed: u64,
    pub tokenizer: Tokenizer,
    words: Words,
    pub source: Source,
    /// Multi-turn sessions (each turn built by [`sessions::SessionPlan`]).
    pub sessions: Option<sessions::SessionPlan>,
    /// Requests go to the chat API: messages are sent as such, and counted by content.
    pub chat: bool,
}

impl Workload {
    pub fn new(input: LengthDist, output: LengthDist, seed: u64, tokenizer: Tokenizer) -> Result<Self, String> {
        let words = single_token_words(&tokenizer);
        if words.len() < 64 {
            return Err(format!(
                "tokenizer {} has too few single-token words ({}) to build synthetic prompts",
                tokenizer.name(),
                words.len()
            ));
        }
        Ok(Workload {
            input,
            output,
            seed,
            tokenizer,
            words: Words::new(words),
            source: Source::Synthetic,
            sessions: None,
            chat: false,
        })
    }

    /// The same workload drawing its prompts from `source`.
    pub fn with_source(mut self, source: Source) -> Self {
        self.source = source;
        self
    }

    /// Requests for the chat API (`true`) or the completions API.
    pub fn with_chat(mut self, chat: bool) -> Self {
        self.chat = chat;
        self
    }

    pub fn with_sessions(mut self, sessions: Option<sessions::SessionPlan>) -> Self {
        self.sessions = sessions;
        self
    }

    /// The content of request `index` (deterministic).
    pub fn request(&self, index: u64) -> RequestSpec {
        self.build(index, None)
    }

    /// The content of request `index`, or of a trace request when one is given.
    pub fn build(&self, index: u64, entry: Option<&trace::TraceEntry>) -> RequestSpec {
        if let Some(e) = entry {
            return self.trace_request(e);
        }
        match &self.source {
            Source::Synthetic | Source::Trace(_) => self.synthetic(index),
            Source::Dataset { data, output } => {
                let e = data.entry(index);
                let mut rng = Rng::stream(self.seed, index.wrapping_add(1));
                let max_tokens = match (output, e.output_tokens) {
                    (Some(d), _) => d.sample(&mut rng),
                    (None, Some(n)) => n,
                    (None, None) => self.output.sample(&mut rng),
                };
                RequestSpec {
                    prompt: e.text.clone(),
                    messages: if self.chat { e.messages.clone() } else { None },
                    input_tokens: e.input_tokens,
                    max_tokens,
                    source_line: Some(e.line),
                    keep_reply: false,
                }
            }
            Source::SharedPrefix(sp) => self.shared_prefix(sp, index),
        }
    }

    fn synthetic(&self, index: u64) -> RequestSpec {
        let mut rng = Rng::stream(self.seed, index.wrapping_add(1));
        let target = self.input.sample(&mut rng);
        let max_tokens = self.output.sample(&mut rng);
        let (prompt, input_tokens) = self.words_of(target, &mut rng);
        RequestSpec {
            prompt,
            input_tokens,
            max_tokens,
            ..Default::default()
        }
    }

    /// `n` random words from `rng`, adjusted to exactly `n` tokens for tokenizers that do
    /// not split on spaces; with the count.
    pub fn words_of(&self, n: u32, rng: &mut Rng) -> (String, u32) {
        let mut prompt = String::with_capacity(n as usize * 8);
        for _ in 0..n {
            prompt.push_str(self.words.at(rng.next_u64()));
        }
        if self.tokenizer.splits_on_spaces() {
            return (prompt, n);
        }
        adjust_to_count(&self.tokenizer, prompt, n, &self.words, rng)
    }

    fn shared_prefix(&self, sp: &SharedPrefix, index: u64) -> RequestSpec {
        let g = sp.group(index);
        let mut prefix = String::with_capacity(sp.prefix_tokens as usize * 8);
        self.words
            .push_block(&mut prefix, mix(self.seed ^ PREFIX_SALT, g), 0, sp.prefix_tokens);
        let mut rng = Rng::stream(self.seed, index.wrapping_add(1));
        let suffix_len = sp.suffix.sample(&mut rng);
        let max_tokens = self.output.sample(&mut rng);
        let (suffix, _) = self.words_of(suffix_len, &mut rng);
        let exact = self.tokenizer.splits_on_spaces();
        if self.chat {
            let input_tokens = if exact {
                sp.prefix_tokens + suffix_len
            } else {
                self.tokenizer.count(&prefix) + self.tokenizer.count(&suffix)
            };
            let prompt = format!("{prefix}{suffix}");
            return RequestSpec {
                messages: Some(vec![Message::new("system", prefix), Message::new("user", suffix)]),
                prompt,
                input_tokens,
                max_tokens,
                ..Default::default()
            };
        }
        let prompt = prefix + &suffix;
        let input_tokens = if exact {
            sp.prefix_tokens + suffix_len
        } else {
            self.tokenizer.count(&prompt)
        };
        RequestSpec {
            prompt,
            input_tokens,
            max_tokens,
            ..Default::default()
        }
    }

    /// A trace request: one block of words per hash id (the last block cut to the input
    /// length), or unique words when the trace has no hash ids.
    pub fn trace_request(&self, e: &trace::TraceEntry) -> RequestSpec {
        let mut prompt = String::with_capacity(e.input as usize * 8);
        if e.hash_ids.is_empty() {
            self.words
                .push_block(&mut prompt, mix(self.seed ^ UNIQUE_SALT, e.line), 0, e.input);
        } else {
            let bs = self.block_size();
            let mut left = e.input;
            for h in &e.hash_ids {
                let n = left.min(bs);
                self.words
                    .push_block(&mut prompt, mix(self.seed ^ TRACE_SALT, *h), 0, n);
                left -= n;
            }
        }
        let input_tokens = if self.tokenizer.splits_on_spaces() {
            e.input
        } else {
            self.tokenizer.count(&prompt)
        };
        RequestSpec {
            prompt,
            input_tokens,
            max_tokens: e.output.max(1),
            source_line: Some(e.line),
            ..Default::default()
        }
    }

    /// The prompt of a shared-prefix or trace request as token ids (the words' indices):
    /// equal prompt prefixes give equal ids, for the offline engine's prefix cache. `None`
    /// for sources whose text has no structure to share (synthetic) or needs the tokenizer
    /// (datasets).
    pub fn prompt_ids(&self, index: u64, entry: Option<&trace::TraceEntry>) -> Option<Vec<u32>> {
        if let Some(e) = entry {
            let mut ids = Vec::with_capacity(e.input as usize);
            if e.hash_ids.is_empty() {
                return None;
            }
            let bs = self.block_size();
            let mut left = e.input;
            for h in &e.hash_ids {
                let n = left.min(bs);
                self.words
                    .push_block_ids(&mut ids, mix(self.seed ^ TRACE_SALT, *h), 0, n);
                left -= n;
            }
            return Some(ids);
        }
        match &self.source {
            Source::SharedPrefix(sp) => {
                let mut ids = Vec::with_capacity(sp.prefix_tokens as usize);
                self.words.push_block_ids(
                    &mut ids,
                    mix(self.seed ^ PREFIX_SALT, sp.group(index)),
                    0,
                    sp.prefix_tokens,
                );
                Some(ids)
            }
            _ => None,
        }
    }

    /// Tokens per trace hash block.
    fn block_size(&self) -> u32 {
        match &self.source {
            Source::Trace(t) => t.opts.block_size.max(1),
            _ => crate::spec::defaults::TRACE_BLOCK_SIZE,
        }
    }

    /// The single-token words (for building text of a known length).
    pub fn words(&self) -> &Words {
        &self.words
    }
}

/// Words ` w` (leading space, lowercase ASCII letters, 3–10 long) that are one token.
fn single_token_words(tok: &Tokenizer) -> Vec<String> {
    let mut out = Vec::new();
    let n = tok.vocab_size().min(120_000);
    for id in 0..n {
        let Some(text) = tok.decode(&[id]) else { continue };
        let w = text.trim_start_matches([' ', '\u{2581}', '\u{120}']);
        if !(3..=10).contains(&w.len()) || !w.bytes().all(|b| b.is_ascii_lowercase()) {
            continue;
        }
        let candidate = format!(" {w}");
        if tok.encode(&candidate).len() == 1 {
            out.push(candidate);
        }
        if out.len() >= 4096 {
            break;
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Add or remove words until the tokenizer counts exactly `target` tokens (bounded tries).
fn adjust_to_count(tok: &Tokenizer, mut prompt: String, target: u32, words: &Words, rng: &mut Rng) -> (String, u32) {
    for _ in 0..32 {
        let n = tok.count(&prompt);
        if n == target {
            return (prompt, n);
        }
        if n > target {
            for _ in 0..(n - target) {
                match prompt.rfind(' ') {
                    Some(i) if i > 0 => prompt.truncate(i),
                    _ => break,
                }
            }
        } else {
            for _ in 0..(target - n) {
                prompt.push_str(words.at(rng.next_u64()));
            }
        }
    }
    let ids = tok.encode(&prompt);
    let cut: Vec<u32> = ids.iter().copied().take(target as usize).collect();
    if let Some(text) = tok.decode(&cut) {
        let n = tok.count(&text);
        return (text, n);
    }
    let n = tok.count(&prompt);
    (prompt, n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_input_token_counts_and_determinism() {
        let tok = Tokenizer::load("cl100k_base").unwrap();
        let w = Workload::new(
            LengthDist::parse("uniform:1,700").unwrap(),
            LengthDist::parse("64").unwrap(),
            42,
            tok.clone(),
        )
        .unwrap();
        for i in 0..40 {
            let r = w.request(i);
            assert_eq!(tok.count(&r.prompt), r.input_tokens, "request {i}");
            assert_eq!(r.max_tokens, 64);
        }
        assert_eq!(w.request(5).prompt, w.request(5).prompt);
        assert_ne!(w.request(5).prompt, w.request(6).prompt);
    }

    #[test]
    fn o200k_also_exact() {
        let tok = Tokenizer::load("o200k_base").unwrap();
        let w = Workload::new(
            LengthDist::parse("300").unwrap(),
            LengthDist::parse("8").unwrap(),
            1,
            tok.clone(),
        )
        .unwrap();
        let r = w.request(0);
        assert_eq!(tok.count(&r.prompt), 300);
    }
}
