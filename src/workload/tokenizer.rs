//! Tokenizers used to build prompts of an exact token length and to count output tokens on
//! the client side: the built-in offline BPE encodings `cl100k_base` and `o200k_base`
//! (tiktoken-rs ships their vocabularies), or any Hugging Face `tokenizer.json`.

use std::sync::Arc;

#[derive(Clone)]
pub enum Tokenizer {
    Tiktoken {
        name: String,
        bpe: Arc<tiktoken_rs::CoreBPE>,
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
            }),
            "o200k_base" | "o200k" => Ok(Tokenizer::Tiktoken {
                name: "o200k_base".into(),
                bpe: Arc::new(tiktoken_rs::o200k_base().map_err(|e| e.to_string())?),
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

    pub fn count(&self, text: &str) -> u32 {
        if text.is_empty() {
            return 0;
        }
        self.encode(text).len() as u32
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
