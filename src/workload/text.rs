//! The building blocks every workload source shares: chat messages and their flattening for
//! the completions API, deterministic synthetic words keyed by content (so equal keys give
//! equal text, which is how shared prefixes and trace `hash_ids` become real shared
//! prompt prefixes), a 64-bit mixer, and a seeded bijection of `[0, n)` that orders dataset
//! entries without holding a permutation in memory.

use serde::{Deserialize, Serialize};

/// One chat message (OpenAI `{"role", "content"}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub role: String,
    pub content: String,
}

impl Message {
    pub fn new(role: &str, content: impl Into<String>) -> Self {
        Message {
            role: role.to_string(),
            content: content.into(),
        }
    }
}

/// Separator between message contents when messages are sent as one completions prompt.
pub const FLATTEN_SEPARATOR: &str = "\n\n";

/// The messages as one text prompt (for `--api completions`): contents joined by a blank line.
pub fn flatten(messages: &[Message]) -> String {
    let mut out = String::with_capacity(messages.iter().map(|m| m.content.len() + 2).sum());
    for (i, m) in messages.iter().enumerate() {
        if i > 0 {
            out.push_str(FLATTEN_SEPARATOR);
        }
        out.push_str(&m.content);
    }
    out
}

/// SplitMix64's finalizer over two words: a fast, well-mixed key for (a, b).
pub fn mix(a: u64, b: u64) -> u64 {
    let mut z = a ^ b.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(31);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Words that are each exactly one token (with their leading space) in the client
/// tokenizer; text made of them has a known token count and is keyed by content.
#[derive(Debug, Clone)]
pub struct Words {
    words: Vec<String>,
}

impl Words {
    pub fn new(words: Vec<String>) -> Self {
        Words { words }
    }

    pub fn len(&self) -> usize {
        self.words.len()
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// The word at `key` (any u64; reduced onto the list).
    pub fn at(&self, key: u64) -> &str {
        let n = self.words.len().max(1) as u64;
        self.words
            .get(((key as u128 * n as u128) >> 64) as usize)
            .map(String::as_str)
            .unwrap_or(" the")
    }

    /// Append `n` words of the block `block` (a content key) starting at word `from`: the
    /// same block always yields the same words, so a shorter use of a block is a prefix of a
    /// longer one.
    pub fn push_block(&self, out: &mut String, block: u64, from: u32, n: u32) {
        for k in from..from + n {
            out.push_str(self.at(mix(block, u64::from(k))));
        }
    }

    /// The index of the word at `key` (a token id standing for it, for the offline engine).
    pub fn index_at(&self, key: u64) -> u32 {
        let n = self.words.len().max(1) as u64;
        ((key as u128 * n as u128) >> 64) as u32
    }

    /// [`Words::push_block`] as word indices.
    pub fn push_block_ids(&self, out: &mut Vec<u32>, block: u64, from: u32, n: u32) {
        out.extend((from..from + n).map(|k| self.index_at(mix(block, u64::from(k)))));
    }
}

/// A seeded bijection of `[0, n)` (a balanced Feistel network with cycle walking): the
/// order of `n` items under `key` in O(1) memory per lookup.
pub fn permute(i: u64, n: u64, key: u64) -> u64 {
    if n <= 1 {
        return 0;
    }
    let bits = 64 - (n - 1).leading_zeros();
    let half = bits.div_ceil(2);
    let mask = (1u64 << half) - 1;
    let mut x = i % n;
    loop {
        let (mut l, mut r) = (x >> half, x & mask);
        for round in 0..4u64 {
            let f = mix(key ^ round, r) & mask;
            (l, r) = (r, l ^ f);
        }
        x = (l << half) | r;
        if x < n {
            return x;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permute_is_a_bijection_and_depends_on_the_key() {
        for n in [1u64, 2, 3, 7, 64, 1000, 4097] {
            let mut seen = vec![false; n as usize];
            for i in 0..n {
                let j = permute(i, n, 42);
                assert!(j < n);
                assert!(!seen[j as usize], "n {n}: {j} twice");
                seen[j as usize] = true;
            }
        }
        let a: Vec<u64> = (0..100).map(|i| permute(i, 100, 1)).collect();
        let b: Vec<u64> = (0..100).map(|i| permute(i, 100, 2)).collect();
        assert_ne!(a, b);
        assert_ne!(a, (0..100).collect::<Vec<_>>());
    }

    #[test]
    fn blocks_are_prefix_consistent() {
        let w = Words::new(vec![" a".into(), " b".into(), " c".into(), " d".into()]);
        let (mut long, mut short) = (String::new(), String::new());
        w.push_block(&mut long, 9, 0, 20);
        w.push_block(&mut short, 9, 0, 7);
        assert!(long.starts_with(&short));
        let mut other = String::new();
        w.push_block(&mut other, 10, 0, 20);
        assert_ne!(long, other);
    }

    #[test]
    fn flatten_joins_contents() {
        let m = [Message::new("system", "be brief"), Message::new("user", "hi")];
        assert_eq!(flatten(&m), "be brief\n\nhi");
    }
}
