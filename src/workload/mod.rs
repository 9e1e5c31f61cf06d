//! What to send: prompts of an exact input token count and the requested output lengths.
//!
//! A request's content is a deterministic function of `(seed, request index)`, so the same
//! seed gives the same prompts, and prompts can be built lazily (a run of 10⁶ requests does
//! not hold 10⁶ prompts in memory). Prompts are sequences of words that are each exactly one
//! token with a leading space; for tokenizers that split on spaces (the built-in encodings)
//! a prompt of N such words is exactly N tokens. For other tokenizers the prompt is checked
//! with the tokenizer and adjusted word by word until the count matches.

pub mod dist;
pub mod tokenizer;

use crate::util::Rng;
pub use dist::LengthDist;
pub use tokenizer::Tokenizer;

/// One request's content.
#[derive(Debug, Clone)]
pub struct RequestSpec {
    pub prompt: String,
    /// Client-side token count of the prompt (the exact target unless a tokenizer refused).
    pub input_tokens: u32,
    pub max_tokens: u32,
}

#[derive(Debug, Clone)]
pub struct Workload {
    pub input: LengthDist,
    pub output: LengthDist,
    pub seed: u64,
    pub tokenizer: Tokenizer,
    words: Vec<String>,
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
            words,
        })
    }

    /// The content of request `index` (deterministic).
    pub fn request(&self, index: u64) -> RequestSpec {
        let mut rng = Rng::stream(self.seed, index.wrapping_add(1));
        let target = self.input.sample(&mut rng);
        let max_tokens = self.output.sample(&mut rng);
        let mut prompt = String::with_capacity(target as usize * 8);
        for _ in 0..target {
            let w = &self.words[rng.below(self.words.len() as u64) as usize];
            prompt.push_str(w);
        }
        let mut input_tokens = target;
        if !self.tokenizer.splits_on_spaces() {
            let (p, n) = adjust_to_count(&self.tokenizer, prompt, target, &self.words, &mut rng);
            prompt = p;
            input_tokens = n;
        }
        RequestSpec {
            prompt,
            input_tokens,
            max_tokens,
        }
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
fn adjust_to_count(tok: &Tokenizer, mut prompt: String, target: u32, words: &[String], rng: &mut Rng) -> (String, u32) {
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
                prompt.push_str(&words[rng.below(words.len() as u64) as usize]);
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
