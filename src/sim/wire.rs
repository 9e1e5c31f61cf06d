//! The simulated server's wire format: OpenAI-compatible streamed chunks, full responses and
//! errors, the output words (each exactly one token in the built-in encodings), and the
//! `text/event-stream` body fed by a generator task.

use super::write_log;
use axum::body::Body;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use serde_json::json;
use tokio::sync::mpsc;

/// Words emitted as output tokens: each is a single token in cl100k_base and o200k_base.
pub const OUTPUT_WORDS: [&str; 24] = [
    " the", " of", " and", " to", " in", " is", " that", " for", " it", " as", " with", " was", " on", " be", " at",
    " by", " this", " not", " are", " but", " from", " or", " have", " one",
];

pub fn output_text(from: u32, to: u32) -> String {
    (from..to)
        .map(|j| OUTPUT_WORDS[j as usize % OUTPUT_WORDS.len()])
        .collect()
}

pub fn error(status: StatusCode, msg: &str) -> Response {
    let body = json!({"error": {"message": msg, "type": "BadRequestError", "code": status.as_u16()}});
    (status, Json(body)).into_response()
}

/// Formats the chunks of one response (plain `format!`: the words need no JSON escaping).
pub struct Gen {
    pub id: String,
    pub model_json: String,
    pub chat: bool,
    pub prompt_tokens: u32,
    pub finish: &'static str,
    pub include_usage: bool,
    pub continuous_usage: bool,
    pub k: u32,
    /// Engine mode: prompt tokens served from the prefix cache (vLLM's
    /// `usage.prompt_tokens_details.cached_tokens`), once the request is admitted.
    pub cached_tokens: Option<u32>,
}

impl Gen {
    fn usage(&self, completion: u32) -> String {
        let details = self
            .cached_tokens
            .map(|c| format!(r#","prompt_tokens_details":{{"cached_tokens":{c}}}"#))
            .unwrap_or_default();
        format!(
            r#"{{"prompt_tokens":{},"total_tokens":{},"completion_tokens":{}{details}}}"#,
            self.prompt_tokens,
            self.prompt_tokens + completion,
            completion
        )
    }

    fn object(&self, stream: bool) -> &'static str {
        match (self.chat, stream) {
            (true, true) => "chat.completion.chunk",
            (true, false) => "chat.completion",
            (false, _) => "text_completion",
        }
    }

    pub fn role_chunk(&self) -> String {
        format!(
            "data: {{\"id\":\"{}\",\"object\":\"{}\",\"created\":0,\"model\":{},\"choices\":[{{\"index\":0,\"delta\":{{\"role\":\"assistant\",\"content\":\"\"}},\"logprobs\":null,\"finish_reason\":null}}]}}\n\n",
            self.id,
            self.object(true),
            self.model_json
        )
    }

    pub fn token_chunk(&self, text: &str, emitted: u32, last: bool) -> String {
        // Built in one buffer: in zero-cost mode this is the simulator's hottest path.
        use std::fmt::Write as _;
        let mut out = String::with_capacity(160 + self.id.len() + self.model_json.len() + text.len());
        let _ = write!(
            out,
            "data: {{\"id\":\"{}\",\"object\":\"{}\",\"created\":0,\"model\":{},\"choices\":[",
            self.id,
            self.object(true),
            self.model_json
        );
        if self.chat {
            out.push_str("{\"index\":0,\"delta\":{\"content\":\"");
            out.push_str(text);
            out.push_str("\"},\"logprobs\":null,\"finish_reason\":");
        } else {
            out.push_str("{\"index\":0,\"text\":\"");
            out.push_str(text);
            out.push_str("\",\"logprobs\":null,\"finish_reason\":");
        }
        if last {
            let _ = write!(out, "\"{}\"", self.finish);
        } else {
            out.push_str("null");
        }
        out.push_str("}]");
        if self.include_usage && self.continuous_usage {
            let _ = write!(out, ",\"usage\":{}", self.usage(emitted));
        }
        out.push_str("}\n\n");
        out
    }

    pub fn usage_chunk(&self, completion: u32) -> String {
        format!(
            "data: {{\"id\":\"{}\",\"object\":\"{}\",\"created\":0,\"model\":{},\"choices\":[],\"usage\":{}}}\n\n",
            self.id,
            self.object(true),
            self.model_json,
            self.usage(completion)
        )
    }

    pub fn full_response(&self, text: &str, completion: u32) -> String {
        let choice = if self.chat {
            format!("{{\"index\":0,\"message\":{{\"role\":\"assistant\",\"content\":\"{text}\"}},\"finish_reason\":\"{}\"}}", self.finish)
        } else {
            format!(
                "{{\"index\":0,\"text\":\"{text}\",\"finish_reason\":\"{}\"}}",
                self.finish
            )
        };
        format!(
            "{{\"id\":\"{}\",\"object\":\"{}\",\"created\":0,\"model\":{},\"choices\":[{choice}],\"usage\":{}}}",
            self.id,
            self.object(false),
            self.model_json,
            self.usage(completion)
        )
    }
}

/// A `text/event-stream` response whose body is whatever the generator task sends. With a
/// write-log recorder, each chunk is stamped as the HTTP layer polls it, right before it is
/// written to the socket.
pub fn sse_response(rx: mpsc::Receiver<Bytes>, rec: Option<write_log::Recorder>) -> Response {
    let stream = futures_util::stream::unfold((rx, rec), |(mut rx, mut rec)| async move {
        let b = rx.recv().await?;
        if let Some(r) = rec.as_mut() {
            r.stamp();
        }
        Some((Ok::<Bytes, std::convert::Infallible>(b), (rx, rec)))
    });
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| error(StatusCode::INTERNAL_SERVER_ERROR, "response build failed"))
}
