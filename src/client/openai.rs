//! The OpenAI-compatible API surface: request bodies for `/v1/completions` and
//! `/v1/chat/completions`, and decoding of one streamed chunk or one whole response.
//!
//! Decoding is tolerant of what real engines send (vLLM, SGLang, TGI, TensorRT-LLM,
//! llama.cpp): role-only first deltas, usage-only final chunks with `"choices": []`,
//! cumulative usage on every chunk (vLLM `continuous_usage_stats`), `reasoning_content` or
//! `reasoning` deltas, tool-call argument deltas, and error objects sent inside the stream.
//! No I/O here.

mod scan;

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
    request_body_with(opts, prompt, None, max_tokens)
}

/// The body of one request whose chat form may be several messages (a dataset's `messages`,
/// a session's history); the completions API always sends `prompt`.
pub fn request_body_with(
    opts: &BodyOptions,
    prompt: &str,
    messages: Option<&[crate::workload::text::Message]>,
    max_tokens: u32,
) -> Vec<u8> {
    let mut body = serde_json::Map::new();
    body.insert("model".into(), json!(opts.model));
    match (opts.api, messages) {
        (Api::Completions, _) => {
            body.insert("prompt".into(), json!(prompt));
        }
        (Api::Chat, Some(m)) => {
            body.insert("messages".into(), json!(m));
        }
        (Api::Chat, None) => {
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
    // JSON whitespace only: `trim_ascii` would also drop form feeds, which JSON does not
    // allow (found by the event_json fuzz target: "\x0c[]" decoded as a chunk).
    let is_ws = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r');
    let start = data.iter().position(|b| !is_ws(b)).unwrap_or(data.len());
    let end = data.iter().rposition(|b| !is_ws(b)).map_or(start, |i| i + 1);
    let trimmed = &data[start..end];
    if trimmed == b"[DONE]" {
        return Ok(ChunkOutcome::Done);
    }
    // JSON text is UTF-8 (RFC 8259). Checked up front because serde_json does not check
    // strings it skips (unknown fields), and an event is either valid UTF-8 or malformed
    // (`invalid_utf8`), wherever the bad bytes are. `from_str` then skips its own check.
    let text = std::str::from_utf8(trimmed).map_err(|e| MalformedEvent(format!("invalid UTF-8: {e}")))?;
    // The common shape is read in one pass; anything else (and every error) is serde's.
    let raw: RawChunk<'_> = match scan::scan(text) {
        Some(raw) => raw,
        None => serde_json::from_str(text).map_err(|e| MalformedEvent(e.to_string()))?,
    };
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

/// The context limit (prompt + output tokens) the listing gives for `model`: vLLM's and
/// SGLang's `max_model_len`; `None` when the server does not say.
pub fn model_context(body: &[u8], model: &str) -> Option<u32> {
    let v: Value = serde_json::from_slice(body).ok()?;
    v.get("data")?
        .as_array()?
        .iter()
        .find(|m| m.get("id").and_then(Value::as_str) == Some(model))?
        .get("max_model_len")?
        .as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .filter(|&n| n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_context_from_the_listing() {
        let body = br#"{"data":[{"id":"a","max_model_len":4096},{"id":"b"}]}"#;
        assert_eq!(model_context(body, "a"), Some(4096));
        assert_eq!(model_context(body, "b"), None);
        assert_eq!(model_context(b"nope", "a"), None);
    }

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

/// Properties of `decode_chunk` on hostile input, checked against a reference model written
/// over `serde_json::Value` (the documented rules, not the serde derive): never a panic, and
/// the same chunk is always classified the same way.
#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;
    use serde_json::Map;

    /// What the reference model expects from one chunk.
    #[derive(Debug, PartialEq)]
    enum Expect {
        Malformed,
        ServerError,
        Chunk {
            content: String,
            reasoning: String,
            tool_args: String,
            finish_reason: Option<String>,
            usage: Option<Usage>,
        },
    }

    /// `Err(None)`: not specified by the model. serde reads a JSON array where a struct is
    /// expected positionally (its sequence form); that leniency is harmless (the result is
    /// that of the equivalent object) and deliberately left out of the model.
    type Model<T> = Result<T, Option<()>>;
    const MALFORMED: Option<()> = Some(());

    fn opt_str(v: Option<&Value>) -> Model<Option<String>> {
        match v {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(MALFORMED),
        }
    }

    fn opt_struct(v: Option<&Value>) -> Model<Option<&Map<String, Value>>> {
        match v {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(o)) => Ok(Some(o)),
            Some(Value::Array(_)) => Err(None),
            Some(_) => Err(MALFORMED),
        }
    }

    fn opt_vec(v: Option<&Value>) -> Model<Option<&Vec<Value>>> {
        match v {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(a)) => Ok(Some(a)),
            Some(_) => Err(MALFORMED),
        }
    }

    /// A struct that must be present (an element of `choices` or `tool_calls`).
    fn req_struct(v: &Value) -> Model<&Map<String, Value>> {
        match v {
            Value::Object(o) => Ok(o),
            Value::Array(_) => Err(None),
            _ => Err(MALFORMED),
        }
    }

    fn opt_u32(v: Option<&Value>) -> Model<Option<u32>> {
        match v {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => match n.as_u64().map(u32::try_from) {
                Some(Ok(x)) => Ok(Some(x)),
                _ => Err(MALFORMED),
            },
            Some(_) => Err(MALFORMED),
        }
    }

    fn nested(v: Option<&Value>, key: &str) -> Option<u32> {
        v.and_then(|d| d.get(key))
            .and_then(Value::as_u64)
            .and_then(|n| u32::try_from(n).ok())
    }

    fn usage(o: &Map<String, Value>) -> Model<Usage> {
        Ok(Usage {
            prompt_tokens: opt_u32(o.get("prompt_tokens"))?,
            completion_tokens: opt_u32(o.get("completion_tokens"))?,
            cached_tokens: nested(o.get("prompt_tokens_details"), "cached_tokens"),
            reasoning_tokens: nested(o.get("completion_tokens_details"), "reasoning_tokens"),
        })
    }

    struct Delta {
        content: Option<String>,
        reasoning: Option<String>,
        tool_args: String,
    }

    fn delta(o: &Map<String, Value>) -> Model<Delta> {
        let content = opt_str(o.get("content"));
        let rc = opt_str(o.get("reasoning_content"));
        let r = opt_str(o.get("reasoning"));
        let mut tool_args = String::new();
        let mut calls = Ok(());
        match opt_vec(o.get("tool_calls")) {
            Ok(list) => {
                for tc in list.into_iter().flatten() {
                    let f = req_struct(tc).and_then(|tc| opt_struct(tc.get("function")));
                    match f.and_then(|f| f.map_or(Ok(None), |f| opt_str(f.get("arguments")))) {
                        Ok(a) => tool_args.push_str(a.as_deref().unwrap_or("")),
                        Err(e) => calls = worst(calls, Err(e)),
                    }
                }
            }
            Err(e) => calls = Err(e),
        }
        let all = worst(
            worst(
                worst(content.clone().map(drop), rc.clone().map(drop)),
                r.clone().map(drop),
            ),
            calls,
        );
        all?;
        let (content, rc, r) = (content?, rc?, r?);
        Ok(Delta {
            content,
            reasoning: rc.or(r),
            tool_args,
        })
    }

    /// Combine two outcomes: any malformed field makes the whole chunk malformed, whatever
    /// else is unspecified.
    fn worst(a: Model<()>, b: Model<()>) -> Model<()> {
        match (a, b) {
            (Err(MALFORMED), _) | (_, Err(MALFORMED)) => Err(MALFORMED),
            (Err(None), _) | (_, Err(None)) => Err(None),
            _ => Ok(()),
        }
    }

    struct Choice {
        text: Option<String>,
        delta: Option<Delta>,
        finish_reason: Option<String>,
    }

    /// The expected outcome for `v`, `None` where the model does not say.
    fn model(v: &Value) -> Option<Expect> {
        let o = match v {
            Value::Object(o) => o,
            Value::Array(_) => return None,
            _ => return Some(Expect::Malformed),
        };
        let choices = opt_vec(o.get("choices"));
        let mut first: Option<Choice> = None;
        let mut status = choices.map(drop);
        for (i, c) in choices.ok().flatten().into_iter().flatten().enumerate() {
            let parsed = req_struct(c).and_then(|c| {
                let text = opt_str(c.get("text"));
                let fr = opt_str(c.get("finish_reason"));
                let d = opt_struct(c.get("delta")).and_then(|d| d.map(delta).transpose());
                let m = opt_struct(c.get("message")).and_then(|m| m.map(delta).transpose());
                let s = worst(
                    worst(text.clone().map(drop), fr.clone().map(drop)),
                    worst(
                        d.as_ref().map(drop).map_err(|e| *e),
                        m.as_ref().map(drop).map_err(|e| *e),
                    ),
                );
                s?;
                let (d, m) = (d?, m?);
                Ok(Choice {
                    text: text?,
                    delta: d.or(m),
                    finish_reason: fr?,
                })
            });
            match parsed {
                Ok(p) if i == 0 => first = Some(p),
                Ok(_) => {}
                Err(e) => status = worst(status, Err(e)),
            }
        }
        let u = opt_struct(o.get("usage")).and_then(|u| u.map(usage).transpose());
        status = worst(status, u.map(drop));
        match status {
            Err(MALFORMED) => return Some(Expect::Malformed),
            Err(None) => return None,
            Ok(()) => {}
        }
        if !matches!(o.get("error"), None | Some(Value::Null)) {
            return Some(Expect::ServerError);
        }
        let usage = opt_struct(o.get("usage")).ok().flatten().and_then(|u| usage(u).ok());
        let (mut content, mut reasoning, mut tool_args, mut finish_reason) =
            (String::new(), String::new(), String::new(), None);
        if let Some(c) = first {
            content = c.text.unwrap_or_default();
            if let Some(d) = c.delta {
                if content.is_empty() {
                    content = d.content.unwrap_or_default();
                }
                reasoning = d.reasoning.unwrap_or_default();
                tool_args = d.tool_args;
            }
            finish_reason = c.finish_reason;
        }
        Some(Expect::Chunk {
            content,
            reasoning,
            tool_args,
            finish_reason,
            usage,
        })
    }

    fn observe(bytes: &[u8]) -> Expect {
        match decode_chunk(bytes) {
            Err(_) => Expect::Malformed,
            Ok(ChunkOutcome::ServerError(m)) => {
                assert!(
                    m.chars().count() <= 300,
                    "unbounded error message: {} chars",
                    m.chars().count()
                );
                Expect::ServerError
            }
            Ok(ChunkOutcome::Done) => panic!("[DONE] from {:?}", String::from_utf8_lossy(bytes)),
            Ok(ChunkOutcome::Chunk(d)) => Expect::Chunk {
                content: d.content.into_owned(),
                reasoning: d.reasoning.into_owned(),
                tool_args: d.tool_args,
                finish_reason: d.finish_reason,
                usage: d.usage,
            },
        }
    }

    /// Numbers that trip integer conversions: negative, past u32/u64, fractional, huge.
    fn number() -> impl Strategy<Value = Value> {
        prop_oneof![
            (0u64..100).prop_map(Value::from),
            any::<u32>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            Just(Value::from(u64::from(u32::MAX) + 1)),
            Just(Value::from(-1)),
            Just(json!(1.5)),
            Just(json!(7.0)),
            Just(json!(1e300)),
            Just(json!(-0.0)),
            any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f).map(Value::Number)),
        ]
    }

    const KEYS: &[&str] = &[
        "choices",
        "text",
        "delta",
        "message",
        "content",
        "reasoning_content",
        "reasoning",
        "tool_calls",
        "function",
        "arguments",
        "finish_reason",
        "usage",
        "prompt_tokens",
        "completion_tokens",
        "prompt_tokens_details",
        "completion_tokens_details",
        "cached_tokens",
        "reasoning_tokens",
        "error",
        "index",
    ];

    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => prop::sample::select(KEYS).prop_map(str::to_owned),
            1 => "\\PC{0,6}",
        ]
    }

    /// Arbitrary JSON, biased towards the keys the decoder looks at.
    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            number(),
            "\\PC{0,12}".prop_map(Value::String),
            Just(Value::String("x\"\\\n\u{e9}\u{1F600}".into())),
        ];
        leaf.prop_recursive(6, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec((key(), inner), 0..6).prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    /// A field that is usually well-typed and sometimes any JSON at all.
    fn field(good: impl Strategy<Value = Value> + 'static) -> BoxedStrategy<Option<Value>> {
        prop_oneof![3 => Just(None), 12 => good.prop_map(Some), 1 => json_value().prop_map(Some)].boxed()
    }

    fn text() -> impl Strategy<Value = Value> {
        prop_oneof![Just(Value::Null), "\\PC{0,8}".prop_map(Value::String)]
    }

    fn obj(fields: Vec<(&'static str, Option<Value>)>) -> Value {
        Value::Object(
            fields
                .into_iter()
                .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v)))
                .collect(),
        )
    }

    /// Chunks shaped like every engine's, with any field possibly of the wrong type.
    fn chunk_value() -> impl Strategy<Value = Value> {
        let call = field(text()).prop_map(|a| json!({"index": 0, "function": obj(vec![("arguments", a)])}));
        let delta = (
            field(text()),
            field(text()),
            field(text()),
            field(prop::collection::vec(call, 0..3).prop_map(Value::Array)),
        )
            .prop_map(|(c, rc, r, tc)| {
                obj(vec![
                    ("content", c),
                    ("reasoning_content", rc),
                    ("reasoning", r),
                    ("tool_calls", tc),
                ])
            });
        let choice = (field(text()), field(delta.clone()), field(delta), field(text())).prop_map(|(t, d, m, f)| {
            obj(vec![
                ("index", Some(json!(0))),
                ("text", t),
                ("delta", d),
                ("message", m),
                ("finish_reason", f),
            ])
        });
        let count = || prop_oneof![6 => (0u32..100_000).prop_map(Value::from), 1 => number()];
        let usage =
            (field(count()), field(count()), field(json_value()), field(json_value())).prop_map(|(p, c, pd, cd)| {
                obj(vec![
                    ("prompt_tokens", p),
                    ("completion_tokens", c),
                    ("prompt_tokens_details", pd),
                    ("completion_tokens_details", cd),
                ])
            });
        let error = prop_oneof![Just(Value::Null), json_value()];
        (
            field(prop::collection::vec(choice, 0..3).prop_map(Value::Array)),
            field(usage),
            prop_oneof![7 => Just(None), 1 => error.prop_map(Some)],
            field(json_value()),
        )
            .prop_map(|(ch, u, e, extra)| {
                obj(vec![
                    ("id", Some(json!("cmpl-1"))),
                    ("choices", ch),
                    ("usage", u),
                    ("error", e),
                    ("x_extra", extra),
                ])
            })
    }

    /// Nesting openers and their closers.
    const OPENERS: &[(&str, &str)] = &[
        ("[", "]"),
        ("{\"a\":", "}"),
        ("{\"choices\":", "}"),
        ("{\"error\":", "}"),
    ];
    /// Where the nesting goes: top level, a skipped field, a text field, a lenient field.
    const PLACES: &[(&str, &str)] = &[
        ("", ""),
        ("{\"x\":", "}"),
        ("{\"choices\":[{\"delta\":{\"content\":", "}}]}"),
        ("{\"usage\":{\"prompt_tokens_details\":", "}}"),
        ("{\"error\":", "}"),
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Arbitrary bytes: no panic; only valid JSON is ever accepted, and what is accepted
        /// is no larger than the input.
        #[test]
        fn arbitrary_bytes(bytes in prop::collection::vec(
            prop_oneof![any::<u8>(), prop::sample::select(b"{}[]\":,0123456789-.eE \\nultrfase".to_vec())], 0..256)) {
            match decode_chunk(&bytes) {
                Ok(ChunkOutcome::Done) => prop_assert_eq!(bytes.trim_ascii(), b"[DONE]"),
                Ok(ChunkOutcome::ServerError(m)) => prop_assert!(m.chars().count() <= 300),
                Ok(ChunkOutcome::Chunk(d)) => {
                    prop_assert!(std::str::from_utf8(&bytes).is_ok());
                    // Valid JSON (`Value` also rejects numbers past f64 range, which the
                    // decoder may skip in unknown fields: found by the event_json target).
                    let v = serde_json::from_slice::<Value>(&bytes).map_err(|e| e.to_string());
                    prop_assert!(v.as_ref().map_or_else(|e| e.starts_with("number out of range"), |_| true), "{:?}", v);
                    prop_assert!(d.content.len() + d.reasoning.len() + d.tool_args.len() <= bytes.len());
                }
                Err(_) => {}
            }
        }

        /// Arbitrary JSON values: the decoder agrees with the reference model, and the
        /// outcome does not depend on formatting (compact, pretty, padded).
        #[test]
        fn arbitrary_json_matches_model(v in json_value()) {
            let compact = serde_json::to_vec(&v).unwrap();
            let got = observe(&compact);
            prop_assert_eq!(&observe(&serde_json::to_vec_pretty(&v).unwrap()), &got);
            let mut padded = b" \r\n\t".to_vec();
            padded.extend_from_slice(&compact);
            padded.extend_from_slice(b"\n ");
            prop_assert_eq!(&observe(&padded), &got);
            if let Some(want) = model(&v) {
                prop_assert_eq!(got, want, "{}", v);
            }
        }

        /// Chunk-shaped values with wrong-typed fields (`choices` as a string, negative or
        /// huge usage counts, objects where text is expected, ...): the model decides.
        #[test]
        fn wrong_typed_chunks_match_model(v in chunk_value()) {
            let got = observe(&serde_json::to_vec(&v).unwrap());
            prop_assert_eq!(&observe(&serde_json::to_vec_pretty(&v).unwrap()), &got);
            if let Some(want) = model(&v) {
                prop_assert_eq!(got, want, "{}", v);
            }
        }

        /// A torn chunk (any strict prefix of a JSON object) is malformed, never a chunk.
        #[test]
        fn torn_chunks_are_malformed(v in chunk_value(), cut in any::<prop::sample::Index>()) {
            let bytes = serde_json::to_vec(&v).unwrap();
            let cut = cut.index(bytes.len());
            prop_assert_eq!(observe(&bytes[..cut]), Expect::Malformed);
        }

        /// A byte that breaks UTF-8 anywhere in a chunk (inside a skipped field too) makes
        /// it malformed, so the client classifies it `invalid_utf8`.
        #[test]
        fn invalid_utf8_is_malformed(v in chunk_value(), at in any::<prop::sample::Index>(), b in 0x80u8..=0xff) {
            let mut bytes = serde_json::to_vec(&v).unwrap();
            bytes.insert(at.index(bytes.len() + 1), b);
            if std::str::from_utf8(&bytes).is_err() {
                prop_assert_eq!(observe(&bytes), Expect::Malformed);
            }
        }

        /// Deep nesting in any position is an error or ignored, never a stack overflow.
        #[test]
        fn deep_nesting(depth in 0usize..4000,
                        open in prop::sample::select(OPENERS),
                        at in prop::sample::select(PLACES)) {
            let mut s = at.0.to_string();
            s.push_str(&open.0.repeat(depth));
            let _ = decode_chunk(s.as_bytes()); // unterminated
            s.push_str("null");
            s.push_str(&open.1.repeat(depth));
            s.push_str(at.1);
            let _ = decode_chunk(s.as_bytes());
        }
    }

    /// The model is not vacuous: chunk-shaped values reach every outcome, and values the
    /// model leaves unspecified are a minority.
    #[test]
    fn model_covers_every_outcome() {
        use proptest::strategy::ValueTree;
        use proptest::test_runner::TestRunner;
        let mut runner = TestRunner::deterministic();
        let (mut malformed, mut server, mut chunk, mut unspecified) = (0, 0, 0, 0);
        for _ in 0..1000 {
            let v = chunk_value().new_tree(&mut runner).unwrap().current();
            match model(&v) {
                Some(Expect::Malformed) => malformed += 1,
                Some(Expect::ServerError) => server += 1,
                Some(Expect::Chunk { .. }) => chunk += 1,
                None => unspecified += 1,
            }
        }
        assert!(
            malformed > 150 && server > 15 && chunk > 300 && unspecified < 100,
            "{malformed} {server} {chunk} {unspecified}"
        );
    }

    /// Regression: serde_json skips unknown fields without checking their UTF-8, so an
    /// event with bad bytes in, say, `id` or `logprobs` used to decode as a normal chunk
    /// instead of being classified `invalid_utf8`.
    #[test]
    fn invalid_utf8_anywhere_is_malformed() {
        for s in [
            &b"{\"id\":\"\xff\",\"choices\":[]}"[..],
            b"{\"choices\":[{\"text\":\"a\xc3\"}]}",
            b"{\"choices\":[{\"index\":0,\"logprobs\":{\"t\":\"\xed\xa0\x80\"}}]}",
            b"{\"\xff\":1}",
        ] {
            let r = decode_chunk(s);
            assert!(r.is_err(), "{:?} -> {r:?}", String::from_utf8_lossy(s));
        }
    }

    /// Found by the `event_json` fuzz target: only JSON whitespace is trimmed.
    #[test]
    fn form_feed_is_not_json_whitespace() {
        assert!(decode_chunk(b"\x0c[]").is_err());
        assert!(decode_chunk(b"\x0c{}\r\n").is_err());
        assert!(matches!(decode_chunk(b" \t\r\n{}\n"), Ok(ChunkOutcome::Chunk(_))));
    }

    /// Found by the `event_json` fuzz target: a number past f64 range is valid JSON grammar;
    /// in a skipped field it is accepted (serde skips it unconverted), in a count it is not.
    #[test]
    fn out_of_range_numbers() {
        assert!(matches!(
            decode_chunk(br#"{"iatgd":179e44068}"#),
            Ok(ChunkOutcome::Chunk(_))
        ));
        assert!(decode_chunk(br#"{"usage":{"completion_tokens":179e44068}}"#).is_err());
    }

    #[test]
    fn done_is_whitespace_tolerant_and_exact() {
        for s in ["[DONE]", " [DONE]\n", "\r\n[DONE]\t"] {
            assert_eq!(decode_chunk(s.as_bytes()), Ok(ChunkOutcome::Done), "{s:?}");
        }
        for s in ["[done]", "[DONE", "\"[DONE]\"", "[DONE]x"] {
            assert!(!matches!(decode_chunk(s.as_bytes()), Ok(ChunkOutcome::Done)), "{s:?}");
        }
    }

    #[test]
    fn wrong_types_are_malformed_examples() {
        for s in [
            r#"{"choices":"abc"}"#,
            r#"{"choices":[{"text":5}]}"#,
            r#"{"choices":[{"delta":"x"}]}"#,
            r#"{"choices":[{"delta":{"content":["a"]}}]}"#,
            r#"{"usage":{"completion_tokens":-1}}"#,
            r#"{"usage":{"completion_tokens":4294967296}}"#,
            r#"{"usage":{"completion_tokens":1.5}}"#,
            r#"{"usage":{"completion_tokens":1e400}}"#,
            r#"{"choices":[],"choices":[]}"#,
            "42",
            r#""text""#,
        ] {
            assert!(decode_chunk(s.as_bytes()).is_err(), "{s}");
        }
        // Lenient where it costs nothing: unparseable details are dropped, not fatal.
        let d = decode_chunk(br#"{"usage":{"completion_tokens":3,"prompt_tokens_details":{"cached_tokens":-4}}}"#);
        assert!(matches!(
            d,
            Ok(ChunkOutcome::Chunk(Decoded {
                usage: Some(Usage {
                    completion_tokens: Some(3),
                    cached_tokens: None,
                    ..
                }),
                ..
            }))
        ));
    }
}
