//! The OpenAI-compatible API surface: request bodies for `/v1/completions` and
//! `/v1/chat/completions`, and decoding of one streamed chunk or one whole response.
//!
//! Decoding is tolerant of what real engines send (vLLM, SGLang, TGI, TensorRT-LLM,
//! llama.cpp): role-only first deltas, usage-only final chunks with `"choices": []`,
//! cumulative usage on every chunk (vLLM `continuous_usage_stats`), `reasoning_content` or
//! `reasoning` deltas, tool-call argument deltas, and error objects sent inside the stream.
//! No I/O here.

use serde::Deserialize;
use serde_json::{json, Value};
use std::borrow::Cow;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Api {
    Completions,
    Chat,
}

impl Api {
    pub fn default_path(self) -> &'static str {
        match self {
            Api::Completions => "/v1/completions",
            Api::Chat => "/v1/chat/completions",
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Api::Completions => "completions",
            Api::Chat => "chat",
        }
    }
}

/// Everything that shapes the JSON body, fixed for a run.
#[derive(Debug, Clone)]
pub struct BodyOptions {
    pub api: Api,
    pub model: String,
    pub stream: bool,
    pub ignore_eos: bool,
    /// Ask for cumulative usage on every chunk (vLLM `continuous_usage_stats`).
    pub continuous_usage: bool,
    pub temperature: Option<f64>,
    /// Extra fields merged into every request body (`--extra-body`).
    pub extra: Option<serde_json::Map<String, Value>>,
}

/// Build the JSON body of one request.
pub fn request_body(opts: &BodyOptions, prompt: &str, max_tokens: u32) -> Vec<u8> {
    let mut body = serde_json::Map::new();
    body.insert("model".into(), json!(opts.model));
    match opts.api {
        Api::Completions => {
            body.insert("prompt".into(), json!(prompt));
        }
        Api::Chat => {
            body.insert("messages".into(), json!([{ "role": "user", "content": prompt }]));
        }
    }
    body.insert("max_tokens".into(), json!(max_tokens));
    body.insert("stream".into(), json!(opts.stream));
    if opts.stream {
        let mut so = serde_json::Map::new();
        so.insert("include_usage".into(), json!(true));
        if opts.continuous_usage {
            so.insert("continuous_usage_stats".into(), json!(true));
        }
        body.insert("stream_options".into(), Value::Object(so));
    }
    if opts.ignore_eos {
        body.insert("ignore_eos".into(), json!(true));
    }
    if let Some(t) = opts.temperature {
        body.insert("temperature".into(), json!(t));
    }
    if let Some(extra) = &opts.extra {
        for (k, v) in extra {
            body.insert(k.clone(), v.clone());
        }
    }
    serde_json::to_vec(&Value::Object(body)).unwrap_or_default()
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct Usage {
    #[serde(default)]
    pub prompt_tokens: Option<u32>,
    #[serde(default)]
    pub completion_tokens: Option<u32>,
    #[serde(default, deserialize_with = "cached_tokens")]
    #[serde(rename = "prompt_tokens_details")]
    pub cached_tokens: Option<u32>,
    #[serde(default, deserialize_with = "reasoning_tokens")]
    #[serde(rename = "completion_tokens_details")]
    pub reasoning_tokens: Option<u32>,
}

fn nested_u32<'de, D: serde::Deserializer<'de>>(d: D, key: &str) -> Result<Option<u32>, D::Error> {
    let v: Option<Value> = Option::deserialize(d)?;
    Ok(v.and_then(|v| v.get(key).and_then(Value::as_u64))
        .and_then(|n| u32::try_from(n).ok()))
}
fn cached_tokens<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    nested_u32(d, "cached_tokens")
}
fn reasoning_tokens<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    nested_u32(d, "reasoning_tokens")
}

#[derive(Deserialize)]
struct RawChunk<'a> {
    #[serde(default, borrow)]
    choices: Option<Vec<RawChoice<'a>>>,
    #[serde(default)]
    usage: Option<Usage>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Deserialize)]
struct RawChoice<'a> {
    #[serde(default, borrow)]
    text: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    delta: Option<RawDelta<'a>>,
    #[serde(default, borrow)]
    message: Option<RawDelta<'a>>,
    #[serde(default, borrow)]
    finish_reason: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct RawDelta<'a> {
    #[serde(default, borrow)]
    content: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    reasoning_content: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    reasoning: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    tool_calls: Option<Vec<RawToolCall<'a>>>,
}

#[derive(Deserialize)]
struct RawToolCall<'a> {
    #[serde(default, borrow)]
    function: Option<RawFunction<'a>>,
}

#[derive(Deserialize)]
struct RawFunction<'a> {
    #[serde(default, borrow)]
    arguments: Option<Cow<'a, str>>,
}

/// What one chunk (or one whole non-streamed response) carried.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Decoded<'a> {
    pub content: Cow<'a, str>,
    pub reasoning: Cow<'a, str>,
    pub tool_args: String,
    pub finish_reason: Option<String>,
    pub usage: Option<Usage>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ChunkOutcome<'a> {
    Done,
    Chunk(Decoded<'a>),
    /// An error object inside the stream (or as the whole body).
    ServerError(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed event: {0}")]
pub struct MalformedEvent(pub String);

/// Decode one SSE `data` payload.
pub fn decode_chunk(data: &[u8]) -> Result<ChunkOutcome<'_>, MalformedEvent> {
    let trimmed = data.trim_ascii();
    if trimmed == b"[DONE]" {
        return Ok(ChunkOutcome::Done);
    }
    let raw: RawChunk<'_> = serde_json::from_slice(trimmed).map_err(|e| MalformedEvent(e.to_string()))?;
    if let Some(err) = raw.error {
        return Ok(ChunkOutcome::ServerError(error_message(&err)));
    }
    let mut out = Decoded {
        usage: raw.usage,
        ..Decoded::default()
    };
    // Only choice 0 is measured (n = 1 requests); other indices are ignored.
    if let Some(choice) = raw.choices.and_then(|c| c.into_iter().next()) {
        if let Some(t) = choice.text {
            out.content = t;
        }
        if let Some(d) = choice.delta.or(choice.message) {
            if let Some(c) = d.content {
                if out.content.is_empty() {
                    out.content = c;
                }
            }
            if let Some(r) = d.reasoning_content.or(d.reasoning) {
                out.reasoning = r;
            }
            for tc in d.tool_calls.unwrap_or_default() {
                if let Some(a) = tc.function.and_then(|f| f.arguments) {
                    out.tool_args.push_str(&a);
                }
            }
        }
        out.finish_reason = choice.finish_reason.map(Cow::into_owned);
    }
    Ok(ChunkOutcome::Chunk(out))
}

fn error_message(err: &Value) -> String {
    let msg = match err {
        Value::String(s) => s.clone(),
        Value::Object(o) => o
            .get("message")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| err.to_string()),
        other => other.to_string(),
    };
    msg.chars().take(300).collect()
}

/// Models listed by `/v1/models`.
pub fn parse_models(body: &[u8]) -> Result<Vec<String>, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let data = v
        .get("data")
        .and_then(Value::as_array)
        .ok_or_else(|| "no `data` array".to_string())?;
    Ok(data
        .iter()
        .filter_map(|m| m.get("id").and_then(Value::as_str).map(str::to_owned))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(s: &str) -> Decoded<'_> {
        match decode_chunk(s.as_bytes()).unwrap() {
            ChunkOutcome::Chunk(d) => d,
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn completions_text_and_finish() {
        let d = chunk(r#"{"choices":[{"index":0,"text":" hi","finish_reason":null}]}"#);
        assert_eq!(d.content, " hi");
        assert_eq!(d.finish_reason, None);
        let d = chunk(r#"{"choices":[{"index":0,"text":"","finish_reason":"length"}]}"#);
        assert_eq!(d.finish_reason.as_deref(), Some("length"));
    }

    #[test]
    fn chat_role_only_reasoning_escapes_and_usage() {
        let d = chunk(r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}"#);
        assert!(d.content.is_empty() && d.reasoning.is_empty());
        let d = chunk(r#"{"choices":[{"delta":{"reasoning_content":"think \"x\"\n"}}]}"#);
        assert_eq!(d.reasoning, "think \"x\"\n");
        let d = chunk(r#"{"choices":[{"delta":{"reasoning":"r"}}]}"#);
        assert_eq!(d.reasoning, "r");
        let d = chunk(
            r#"{"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12,"prompt_tokens_details":{"cached_tokens":3}}}"#,
        );
        let u = d.usage.unwrap();
        assert_eq!(
            (u.prompt_tokens, u.completion_tokens, u.cached_tokens),
            (Some(5), Some(7), Some(3))
        );
        let d = chunk(r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"a\":"}}]}}]}"#);
        assert_eq!(d.tool_args, "{\"a\":");
    }

    #[test]
    fn usage_with_null_details() {
        let d =
            chunk(r#"{"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2,"prompt_tokens_details":null}}"#);
        assert_eq!(d.usage.unwrap().cached_tokens, None);
    }

    #[test]
    fn done_error_and_malformed() {
        assert_eq!(decode_chunk(b"[DONE]").unwrap(), ChunkOutcome::Done);
        assert_eq!(
            decode_chunk(br#"{"error":{"message":"boom","type":"x","code":500}}"#).unwrap(),
            ChunkOutcome::ServerError("boom".into())
        );
        assert!(decode_chunk(b"{not json").is_err());
        assert!(decode_chunk(b"\xff\xfe").is_err());
    }

    #[test]
    fn body_has_stream_options_and_ignore_eos() {
        let o = BodyOptions {
            api: Api::Chat,
            model: "m".into(),
            stream: true,
            ignore_eos: true,
            continuous_usage: true,
            temperature: None,
            extra: None,
        };
        let v: Value = serde_json::from_slice(&request_body(&o, "hello", 9)).unwrap();
        assert_eq!(v["messages"][0]["content"], "hello");
        assert_eq!(v["max_tokens"], 9);
        assert_eq!(v["stream_options"]["include_usage"], true);
        assert_eq!(v["stream_options"]["continuous_usage_stats"], true);
        assert_eq!(v["ignore_eos"], true);
    }
}
