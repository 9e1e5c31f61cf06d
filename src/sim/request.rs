//! What a request asks for, read from its OpenAI-style JSON body: prompt length (one token
//! per whitespace-separated word), output budget, streaming options, and the prompt's token
//! ids for prefix caching.

use serde_json::Value;

fn words(s: &str) -> u32 {
    s.split_whitespace().count() as u32
}

/// What one request asks for, read from its JSON body.
pub struct Ask {
    pub prompt_tokens: u32,
    pub max_tokens: u32,
    pub min_tokens: u32,
    pub ignore_eos: bool,
    pub stream: bool,
    pub include_usage: bool,
    pub continuous_usage: bool,
}

/// The largest `max_tokens` the simulator serves (a 400 above, like a real server's context limit).
pub const MAX_TOKENS: u32 = 1 << 20;

pub fn parse_ask(v: &Value, chat: bool) -> Result<Ask, String> {
    let prompt_tokens = if chat {
        let msgs = v
            .get("messages")
            .and_then(Value::as_array)
            .ok_or("`messages` must be an array")?;
        msgs.iter()
            .map(|m| match m.get("content") {
                Some(Value::String(s)) => words(s),
                Some(Value::Array(parts)) => parts
                    .iter()
                    .filter_map(|p| p.get("text").and_then(Value::as_str))
                    .map(words)
                    .sum(),
                _ => 0,
            })
            .sum()
    } else {
        match v.get("prompt") {
            Some(Value::String(s)) => words(s),
            Some(Value::Array(a)) if a.iter().all(Value::is_number) => a.len() as u32,
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(words).sum(),
            _ => return Err("`prompt` must be a string or an array".into()),
        }
    };
    let get_u32 = |k: &str| v.get(k).and_then(Value::as_u64).map(|x| x.min(u32::MAX as u64) as u32);
    let max_tokens = get_u32("max_tokens")
        .or_else(|| get_u32("max_completion_tokens"))
        .unwrap_or(if chat { 64 } else { 16 });
    if max_tokens > MAX_TOKENS {
        // Per-token state is allocated up front: an untrusted count must not size it.
        return Err(format!("max_tokens {max_tokens} is over the limit of {MAX_TOKENS}"));
    }
    let so = v.get("stream_options");
    Ok(Ask {
        prompt_tokens,
        max_tokens: max_tokens.max(1),
        min_tokens: get_u32("min_tokens").unwrap_or(0),
        ignore_eos: v.get("ignore_eos").and_then(Value::as_bool).unwrap_or(false),
        stream: v.get("stream").and_then(Value::as_bool).unwrap_or(false),
        include_usage: so
            .and_then(|s| s.get("include_usage"))
            .and_then(Value::as_bool)
            .unwrap_or(false),
        continuous_usage: so
            .and_then(|s| s.get("continuous_usage_stats"))
            .and_then(Value::as_bool)
            .unwrap_or(false),
    })
}

/// A token id per prompt word (FNV-1a of the word), so identical prompt prefixes give
/// identical KV block hashes; a token-id array prompt is used as is.
pub fn prompt_token_ids(v: &Value, chat: bool) -> Vec<u32> {
    fn word_id(w: &str) -> u32 {
        w.bytes()
            .fold(0x811C_9DC5u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193))
    }
    let mut ids = Vec::new();
    let mut push_text = |s: &str| ids.extend(s.split_whitespace().map(word_id));
    if chat {
        for m in v.get("messages").and_then(Value::as_array).into_iter().flatten() {
            match m.get("content") {
                Some(Value::String(s)) => push_text(s),
                Some(Value::Array(parts)) => parts
                    .iter()
                    .filter_map(|p| p.get("text").and_then(Value::as_str))
                    .for_each(&mut push_text),
                _ => {}
            }
        }
    } else {
        match v.get("prompt") {
            Some(Value::String(s)) => push_text(s),
            Some(Value::Array(a)) if a.iter().all(Value::is_number) => {
                ids.extend(a.iter().map(|x| x.as_u64().unwrap_or(0) as u32));
            }
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).for_each(&mut push_text),
            _ => {}
        }
    }
    ids
}
