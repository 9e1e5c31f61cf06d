//! Tokenizers used to build prompts of an exact token length and to count output tokens on
//! the client side: the built-in offline BPE encodings `cl100k_base` and `o200k_base`
//! (tiktoken-rs ships their vocabularies), or any Hugging Face `tokenizer.json`.
//!
//! Counting is on the client's hot path (every response's text is counted to cross-check the
//! server's usage, and every event's text when the server gives no per-event usage), so the
//! tiktoken encodings count through a per-thread cache of words: see [`Tokenizer::count`].

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

#[derive(Clone)]
pub enum Tokenizer {
    Tiktoken {
        name: String,
        bpe: Arc<tiktoken_rs::CoreBPE>,
        /// Identity of this loaded encoding (shared by clones), keying the word-count cache.
        id: u64,
    },
    Hf {
        path: String,
        tok: Arc<tokenizers::Tokenizer>,
    },
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tokenizer({})", self.name())
    }
}

impl Tokenizer {
    /// `cl100k_base`, `o200k_base`, or a path to a `tokenizer.json`.
    pub fn load(spec: &str) -> Result<Self, String> {
        match spec {
            "cl100k_base" | "cl100k" => Ok(Tokenizer::Tiktoken {
                name: "cl100k_base".into(),
                bpe: Arc::new(tiktoken_rs::cl100k_base().map_err(|e| e.to_string())?),
                id: next_id(),
            }),
            "o200k_base" | "o200k" => Ok(Tokenizer::Tiktoken {
                name: "o200k_base".into(),
                bpe: Arc::new(tiktoken_rs::o200k_base().map_err(|e| e.to_string())?),
                id: next_id(),
            }),
            path => {
                if !std::path::Path::new(path).is_file() {
                    return Err(format!(
                        "tokenizer '{path}' is neither a built-in encoding (cl100k_base, o200k_base) nor a tokenizer.json file"
                    ));
                }
                let tok = tokenizers::Tokenizer::from_file(path)
                    .map_err(|e| format!("cannot load tokenizer '{path}': {e}"))?;
                Ok(Tokenizer::Hf {
                    path: path.into(),
                    tok: Arc::new(tok),
                })
            }
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Tokenizer::Tiktoken { name, .. } => name,
            Tokenizer::Hf { path, .. } => path,
        }
    }

    /// Token ids of `text` without special tokens.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        match self {
            Tokenizer::Tiktoken { bpe, .. } => bpe.encode_ordinary(text),
            Tokenizer::Hf { tok, .. } => tok
                .encode(text, false)
                .map(|e| e.get_ids().to_vec())
                .unwrap_or_default(),
        }
    }

    /// The number of tokens of `text` (no special tokens): exactly `encode(text).len()`.
    ///
    /// For the tiktoken encodings the text is cut before every single space that has a
    /// non-whitespace character on both sides. Their pre-tokenizer patterns (cl100k_base and
    /// o200k_base alike) only put a space at the start of a piece or inside a whitespace-only
    /// piece, and look ahead but never behind, so no piece crosses such a cut and each part
    /// splits on its own exactly as in place: the count is the sum of the parts' counts
    /// (checked against `encode` on random text in the tests). Parts are mostly single
    /// words, which repeat: their counts are kept in a per-thread cache, so a count costs a
    /// scan and a few lookups instead of the pattern's backtracking matcher per word.
    pub fn count(&self, text: &str) -> u32 {
        if text.is_empty() {
            return 0;
        }
        match self {
            Tokenizer::Tiktoken { bpe, id, .. } => WORDS.with(|w| {
                let mut w = w.borrow_mut();
                if w.id != *id {
                    w.id = *id;
                    w.counts.clear();
                }
                split_at_spaces(text).map(|part| w.count(bpe, part)).sum()
            }),
            Tokenizer::Hf { .. } => self.encode(text).len() as u32,
        }
    }

    pub fn decode(&self, ids: &[u32]) -> Option<String> {
        match self {
            Tokenizer::Tiktoken { bpe, .. } => bpe.decode(ids).ok(),
            Tokenizer::Hf { tok, .. } => tok.decode(ids, true).ok(),
        }
    }

    /// Whether pre-tokenization splits text at spaces so that the token count of
    /// " w1 w2 …" is the sum of the counts of each " wi" (true for the tiktoken encodings).
    pub fn splits_on_spaces(&self) -> bool {
        matches!(self, Tokenizer::Tiktoken { .. })
    }

    /// Size of the id space to scan for single-token words.
    pub fn vocab_size(&self) -> u32 {
        match self {
            Tokenizer::Tiktoken { name, .. } if name == "o200k_base" => 199_998,
            Tokenizer::Tiktoken { .. } => 100_256,
            Tokenizer::Hf { tok, .. } => tok.get_vocab_size(false) as u32,
        }
    }
}

fn next_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Parts longer than this are counted directly, never cached.
const CACHED_PART: usize = 48;
/// The cache is emptied when it holds this many parts (about 4 MiB per thread at most).
const CACHED_PARTS: usize = 1 << 16;

/// Per-thread token counts of the parts [`split_at_spaces`] cuts, for one encoding at a time.
#[derive(Default)]
struct WordCounts {
    id: u64,
    counts: HashMap<Box<str>, u32>,
}

impl WordCounts {
    fn count(&mut self, bpe: &tiktoken_rs::CoreBPE, part: &str) -> u32 {
        if part.len() > CACHED_PART {
            return bpe.encode_ordinary(part).len() as u32;
        }
        if let Some(&n) = self.counts.get(part) {
            return n;
        }
        let n = bpe.encode_ordinary(part).len() as u32;
        if self.counts.len() >= CACHED_PARTS {
            self.counts.clear();
        }
        self.counts.insert(part.into(), n);
        n
    }
}

thread_local! {
    static WORDS: RefCell<WordCounts> = RefCell::default();
}

/// `text` cut before every space (U+0020) whose neighbours are both non-whitespace; the
/// parts concatenate back to `text`.
fn split_at_spaces(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let bytes = rest.as_bytes();
        // A cut at i (i >= 1): rest[i] is a space, the character before it and the one after
        // it are not whitespace.
        let mut from = 1;
        while let Some(off) = memchr::memchr(b' ', &bytes[from.min(bytes.len())..]) {
            let i = from + off;
            let before = rest[..i].chars().next_back().is_some_and(|c| !c.is_whitespace());
            let after = rest[i + 1..].chars().next().is_some_and(|c| !c.is_whitespace());
            if before && after {
                let (part, tail) = rest.split_at(i);
                rest = tail;
                return Some(part);
            }
            from = i + 1;
        }
        let part = rest;
        rest = "";
        Some(part)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn exact(t: &Tokenizer, text: &str) -> u32 {
        t.encode(text).len() as u32
    }

    fn both() -> &'static [Tokenizer; 2] {
        static BOTH: std::sync::OnceLock<[Tokenizer; 2]> = std::sync::OnceLock::new();
        BOTH.get_or_init(|| {
            [
                Tokenizer::load("cl100k_base").unwrap(),
                Tokenizer::load("o200k_base").unwrap(),
            ]
        })
    }

    #[test]
    fn parts_concatenate_back_and_cut_only_at_single_spaces() {
        let text = " The  cat's 123,456 dogs\n\n  ran.  Fast\u{a0}now x";
        let parts: Vec<&str> = split_at_spaces(text).collect();
        assert_eq!(parts.concat(), text);
        assert_eq!(
            parts,
            [" The  cat's", " 123,456", " dogs\n\n  ran.  Fast\u{a0}now", " x"]
        );
        assert_eq!(split_at_spaces("").count(), 0);
        assert_eq!(split_at_spaces("a").collect::<Vec<_>>(), ["a"]);
    }

    #[test]
    fn cached_counts_match_the_encoder_on_typical_and_odd_text() {
        for t in both() {
            let name = t.name();
            for text in [
                " Hello world, this is a test of 12345 numbers and don't stop.",
                "  double  spaces\tand\ttabs \n new lines\r\n end ",
                " émigré naïve 東京 タワー 🙂🙂 done",
                " word word word word word",
                "x",
                " ",
            ] {
                // Twice: the second time from the cache.
                assert_eq!(t.count(text), exact(t, text), "{name}: {text:?}");
                assert_eq!(t.count(text), exact(t, text), "{name}: {text:?} (cached)");
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]
        #[test]
        fn cached_counts_equal_encode_len(pieces in proptest::collection::vec(prop_oneof![
            Just(" "), Just("  "), Just("\n"), Just("\r\n"), Just("\t"), Just("\u{a0}"),
            Just("the"), Just("The"), Just("'s"), Just("'LL"), Just("123"), Just("4567"),
            Just(","), Just("."), Just("!?"), Just("é"), Just("東京"), Just("🙂"), Just("a"),
            Just("-"), Just("/"), Just("\u{301}"), Just("x1"),
        ], 0..40)) {
            let text: String = pieces.concat();
            for t in both() {
                prop_assert_eq!(t.count(&text), exact(t, &text), "{}: {:?}", t.name(), &text);
            }
        }
    }
}
