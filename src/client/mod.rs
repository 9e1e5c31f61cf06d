//! How requests travel: one HTTP/1.1 keep-alive connection per in-flight stream (hyper's
//! connection API, no pool racing), the OpenAI request body, and the response read frame by
//! frame. Each body frame is stamped with `Instant::now()` the moment it arrives, before
//! any parsing, and every SSE event parsed from it carries that stamp.

pub mod openai;
pub mod retry;
pub mod sse;
pub mod tls;

use crate::record::{kind, ErrorClass, EventTokenSource, RequestRecord, TokenCount, TokenEvent};
use crate::workload::{RequestSpec, Tokenizer};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use openai::{BodyOptions, ChunkOutcome};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::time::timeout_at;

/// Where requests go, resolved once before the run.
#[derive(Debug, Clone)]
pub struct Target {
    /// As given by the user (for display).
    pub url: String,
    pub addr: SocketAddr,
    /// `host[:port]` for the Host header.
    pub authority: String,
    /// Path of the generation endpoint, e.g. `/v1/completions`.
    pub path: String,
    /// Path of the models listing, e.g. `/v1/models`.
    pub models_path: String,
    /// Set for `https://` targets.
    pub tls: Option<tls::Tls>,
}

#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub connect: Duration,
    /// Until the response headers arrive.
    pub first_byte: Duration,
    /// Longest silence allowed between two body frames.
    pub idle: Duration,
    /// Whole request.
    pub total: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(10),
            first_byte: Duration::from_secs(300),
            idle: Duration::from_secs(120),
            total: Duration::from_secs(1800),
        }
    }
}

/// Everything a worker needs to issue requests; shared read-only by all workers.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub target: Target,
    pub timeouts: Timeouts,
    /// Extra headers, including `authorization` when an API key is set.
    pub headers: HeaderMap,
    pub body: BodyOptions,
    pub tokenizer: Tokenizer,
    pub max_event_bytes: usize,
    /// Largest non-streamed (or error) body read into memory.
    pub max_body_bytes: usize,
}

pub type Conn = http1::SendRequest<Full<Bytes>>;

type Failure = (ErrorClass, String);

/// Open one HTTP/1.1 connection to the target (TCP, then TLS for `https://`; both within the
/// connect timeout).
pub async fn connect(cfg: &ClientConfig) -> Result<Conn, Failure> {
    let addr = cfg.target.addr;
    let deadline = tokio::time::Instant::now() + cfg.timeouts.connect;
    let stream = match timeout_at(deadline, TcpStream::connect(addr)).await {
        Err(_) => return Err((ErrorClass::ConnectTimeout, format!("connect to {addr} timed out"))),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            return Err((ErrorClass::ConnectRefused, format!("connection to {addr} refused")))
        }
        Ok(Err(e)) => return Err((ErrorClass::ConnectError, format!("connect to {addr}: {e}"))),
        Ok(Ok(s)) => s,
    };
    let _ = stream.set_nodelay(true);
    match &cfg.target.tls {
        None => http_handshake(TokioIo::new(stream)).await,
        Some(tls) => match timeout_at(deadline, tls.handshake(stream)).await {
            Err(_) => Err((
                ErrorClass::ConnectTimeout,
                format!("TLS handshake with {addr} timed out"),
            )),
            Ok(Err(f)) => Err(f),
            Ok(Ok(s)) => http_handshake(TokioIo::new(s)).await,
        },
    }
}

async fn http_handshake<T>(io: T) -> Result<Conn, Failure>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (sender, conn) = http1::handshake(io)
        .await
        .map_err(|e| (ErrorClass::ConnectError, format!("HTTP handshake: {e}")))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

fn micros_between(a: Instant, b: Instant) -> u64 {
    b.saturating_duration_since(a).as_micros() as u64
}

fn us32(a: Instant, b: Instant) -> u32 {
    micros_between(a, b).min(u32::MAX as u64) as u32
}

/// Text received in token-bearing events, kept until the stream ends so tokenization
/// happens after the timestamps are taken, never between frames.
#[derive(Default)]
struct StreamState {
    text: String,
    /// End offset of each token event's text in `text`.
    ends: Vec<usize>,
    /// Cumulative `usage.completion_tokens` seen on each token event (continuous usage).
    cum_usage: Vec<Option<u32>>,
    usage: Option<openai::Usage>,
    finish_reason: Option<String>,
    done: bool,
    error: Option<Failure>,
}

impl StreamState {
    fn on_data(&mut self, data: &[u8], t_us: u32, events: &mut Vec<TokenEvent>) {
        if self.error.is_some() || self.done {
            return;
        }
        match openai::decode_chunk(data) {
            Err(e) => {
                let class = if std::str::from_utf8(data).is_err() {
                    ErrorClass::InvalidUtf8
                } else {
                    ErrorClass::MalformedEvent
                };
                self.error = Some((class, e.0.chars().take(200).collect()));
            }
            Ok(ChunkOutcome::Done) => self.done = true,
            Ok(ChunkOutcome::ServerError(msg)) => self.error = Some((ErrorClass::StreamErrorEvent, msg)),
            Ok(ChunkOutcome::Chunk(d)) => {
                let mut k = 0u8;
                if !d.content.is_empty() {
                    k |= kind::CONTENT;
                    self.text.push_str(&d.content);
                }
                if !d.reasoning.is_empty() {
                    k |= kind::REASONING;
                    self.text.push_str(&d.reasoning);
                }
                if !d.tool_args.is_empty() {
                    k |= kind::TOOL;
                    self.text.push_str(&d.tool_args);
                }
                if k != 0 {
                    self.ends.push(self.text.len());
                    self.cum_usage.push(d.usage.and_then(|u| u.completion_tokens));
                    events.push(TokenEvent(t_us, 0, k));
                }
                if let Some(u) = d.usage {
                    self.usage = Some(u);
                }
                if d.finish_reason.is_some() {
                    self.finish_reason = d.finish_reason;
                }
            }
        }
    }
}

/// Issue one request and fill `rec` with what happened. `conn` is reused when it is still
/// usable and replaced when it is not; it is left `None` after a failure that broke it.
pub async fn execute(
    cfg: &ClientConfig,
    conn: &mut Option<Conn>,
    run_start: Instant,
    spec: &RequestSpec,
    rec: &mut RequestRecord,
) {
    rec.max_tokens = spec.max_tokens;
    rec.input_tokens = TokenCount {
        server: None,
        client: Some(spec.input_tokens),
    };
    let body = Bytes::from(openai::request_body(&cfg.body, &spec.prompt, spec.max_tokens));

    let build = || -> Result<Request<Full<Bytes>>, http::Error> {
        let mut builder = Request::post(cfg.target.path.as_str())
            .header(http::header::HOST, cfg.target.authority.as_str())
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(
                http::header::USER_AGENT,
                concat!("infermeter/", env!("CARGO_PKG_VERSION")),
            );
        if cfg.body.stream {
            builder = builder.header(http::header::ACCEPT, "text/event-stream");
        }
        let mut req = builder.body(Full::new(body.clone()))?;
        for (k, v) in &cfg.headers {
            req.headers_mut().insert(k.clone(), v.clone());
        }
        Ok(req)
    };

    // A kept-alive connection must be ready; otherwise open a new one. A server may close a
    // kept-alive connection at any moment (llama.cpp's server closes after every stream while
    // still advertising keep-alive); a request that fails on a *reused* connection before any
    // response byte was never processed, so it is sent once more on a fresh connection, and
    // the record keeps the time of the send that counted.
    let mut attempt = 0;
    let (resp, t_send, total_deadline) = loop {
        attempt += 1;
        let mut reused = false;
        if let Some(c) = conn.as_mut() {
            reused = c.ready().await.is_ok();
            if !reused {
                *conn = None;
            }
        }
        if conn.is_none() {
            let t = Instant::now();
            match connect(cfg).await {
                Ok(c) => *conn = Some(c),
                Err((class, msg)) => {
                    rec.connect_us += micros_between(t, Instant::now());
                    rec.send_us = micros_between(run_start, Instant::now());
                    rec.end_us = Some(0);
                    rec.error = Some(class);
                    rec.error_detail = Some(msg);
                    return;
                }
            }
            rec.connect_us += micros_between(t, Instant::now());
        }
        let Some(sender) = conn.as_mut() else { return };
        let req = match build() {
            Ok(r) => r,
            Err(e) => {
                rec.error = Some(ErrorClass::ClientError);
                rec.error_detail = Some(e.to_string());
                return;
            }
        };
        let t_send = Instant::now();
        rec.send_us = micros_between(run_start, t_send);
        let total_deadline = tokio::time::Instant::from_std(t_send + cfg.timeouts.total);
        let hdr_deadline = tokio::time::Instant::from_std(t_send + cfg.timeouts.first_byte).min(total_deadline);
        let fail = |rec: &mut RequestRecord, class: ErrorClass, msg: String| {
            rec.error = Some(class);
            rec.error_detail = Some(msg.chars().take(300).collect());
            rec.end_us = Some(us32(t_send, Instant::now()));
        };
        match timeout_at(hdr_deadline, sender.send_request(req)).await {
            Err(_) => {
                let class = if hdr_deadline >= total_deadline {
                    ErrorClass::TotalTimeout
                } else {
                    ErrorClass::FirstByteTimeout
                };
                *conn = None;
                return fail(rec, class, "no response headers before the timeout".into());
            }
            Ok(Err(e)) => {
                *conn = None;
                if reused && attempt == 1 && (e.is_canceled() || e.is_incomplete_message()) {
                    rec.stale_connection_retries += 1;
                    continue;
                }
                return fail(
                    rec,
                    ErrorClass::ResetBeforeHeaders,
                    format!("connection failed before headers: {e}"),
                );
            }
            Ok(Ok(r)) => break (r, t_send, total_deadline),
        }
    };
    let fail = |rec: &mut RequestRecord, class: ErrorClass, msg: String, at: Instant| {
        rec.error = Some(class);
        rec.error_detail = Some(msg.chars().take(300).collect());
        rec.end_us = Some(us32(t_send, at));
    };
    let t_hdr = Instant::now();
    rec.hdr_us = Some(us32(t_send, t_hdr));
    rec.status = resp.status().as_u16();
    let is_sse = resp
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("text/event-stream"));
    let mut body = resp.into_body();

    if rec.status != 200 {
        let (bytes, _) = read_bounded(&mut body, 4096, total_deadline, cfg.timeouts.idle).await;
        let class = match rec.status {
            429 => ErrorClass::Http429,
            400..=499 => ErrorClass::Http4xx,
            _ => ErrorClass::Http5xx,
        };
        *conn = None;
        let detail = format!("HTTP {}: {}", rec.status, error_detail_of(&bytes));
        return fail(rec, class, detail, Instant::now());
    }

    let mut events: Vec<TokenEvent> = Vec::new();
    let mut st = StreamState::default();
    let mut frames = 0u32;
    let mut nbytes = 0u64;
    let mut clean_end = false;

    if cfg.body.stream {
        if !is_sse {
            let (bytes, _) = read_bounded(&mut body, 512, total_deadline, cfg.timeouts.idle).await;
            *conn = None;
            let head: String = String::from_utf8_lossy(&bytes).chars().take(120).collect();
            return fail(
                rec,
                ErrorClass::NotSse,
                format!("expected text/event-stream, got: {}", head.trim()),
                Instant::now(),
            );
        }
        let mut parser = sse::SseParser::new(cfg.max_event_bytes);
        loop {
            // After [DONE] only wait briefly for the end of the body (to keep the connection).
            let idle = if st.done {
                Duration::from_secs(1)
            } else {
                cfg.timeouts.idle
            };
            let deadline = (tokio::time::Instant::now() + idle).min(total_deadline);
            let next = timeout_at(deadline, body.frame()).await;
            let t = Instant::now();
            match next {
                Err(_) if st.done => break,
                Err(_) => {
                    let class = if deadline >= total_deadline {
                        ErrorClass::TotalTimeout
                    } else {
                        ErrorClass::IdleTimeout
                    };
                    st.error = Some((class, "stream stalled past the timeout".into()));
                    break;
                }
                Ok(None) => {
                    clean_end = true;
                    if let Err(e) = parser.finish(|ev| st.on_data(ev.data, us32(t_send, t), &mut events)) {
                        st.error = Some((ErrorClass::EventTooLarge, e.to_string()));
                    }
                    break;
                }
                Ok(Some(Err(e))) => {
                    st.error = Some((ErrorClass::ResetMidStream, format!("stream broke: {e}")));
                    break;
                }
                Ok(Some(Ok(frame))) => {
                    let Ok(data) = frame.into_data() else { continue };
                    frames += 1;
                    nbytes += data.len() as u64;
                    let t_us = us32(t_send, t);
                    if let Err(e) = parser.push(&data, |ev| st.on_data(ev.data, t_us, &mut events)) {
                        st.error = Some((ErrorClass::EventTooLarge, e.to_string()));
                    }
                    if st.error.is_some() {
                        break;
                    }
                }
            }
        }
        rec.end_us = Some(us32(t_send, Instant::now()));
        if st.error.is_none() && !st.done && st.finish_reason.is_none() {
            st.error = Some((
                ErrorClass::Truncated,
                "stream ended without [DONE] or a finish reason".into(),
            ));
        }
    } else {
        let (bytes, outcome) = read_bounded(&mut body, cfg.max_body_bytes, total_deadline, cfg.timeouts.idle).await;
        let t_end = Instant::now();
        rec.end_us = Some(us32(t_send, t_end));
        frames = 1;
        nbytes = bytes.len() as u64;
        match outcome {
            ReadOutcome::Complete => {
                clean_end = true;
                st.on_data(&bytes, us32(t_send, t_end), &mut events);
                if st.error.is_none() && st.finish_reason.is_none() && events.is_empty() {
                    st.error = Some((ErrorClass::EmptyOutput, "response carried no output".into()));
                }
            }
            ReadOutcome::TooLarge => st.error = Some((ErrorClass::EventTooLarge, "response body too large".into())),
            ReadOutcome::Timeout(c) => st.error = Some((c, "response body stalled".into())),
            ReadOutcome::Broken(msg) => st.error = Some((ErrorClass::ResetMidStream, msg)),
        }
    }
    if !clean_end || st.error.is_some() {
        *conn = None;
    }
    rec.frames = frames;
    rec.bytes = nbytes;
    finish_record(cfg, rec, st, events);
}

/// Token accounting once the timestamps are all taken.
fn finish_record(cfg: &ClientConfig, rec: &mut RequestRecord, st: StreamState, mut events: Vec<TokenEvent>) {
    // Per-event token counts: server cumulative usage deltas when every token event carried
    // one, else the client tokenizer on each event's text.
    let continuous = !st.cum_usage.is_empty() && st.cum_usage.iter().all(Option::is_some);
    if continuous {
        let mut prev = 0u32;
        for (e, cum) in events.iter_mut().zip(&st.cum_usage) {
            let c = cum.unwrap_or(prev);
            e.1 = c.saturating_sub(prev);
            prev = c.max(prev);
        }
        rec.event_token_source = EventTokenSource::Usage;
    } else {
        let mut start = 0;
        for (e, &end) in events.iter_mut().zip(&st.ends) {
            e.1 = cfg.tokenizer.count(&st.text[start..end]).max(1);
            start = end;
        }
        rec.event_token_source = EventTokenSource::Tokenizer;
    }
    rec.output_tokens = TokenCount {
        server: st.usage.and_then(|u| u.completion_tokens),
        client: Some(cfg.tokenizer.count(&st.text)),
    };
    if let Some(u) = st.usage {
        rec.input_tokens.server = u.prompt_tokens;
        rec.cached_tokens = u.cached_tokens;
        rec.reasoning_tokens = u.reasoning_tokens;
    }
    rec.finish_reason = st.finish_reason;
    if let Some((class, msg)) = st.error {
        rec.error = Some(class);
        rec.error_detail = Some(msg);
    } else if events.is_empty() {
        rec.error = Some(ErrorClass::EmptyOutput);
        rec.error_detail = Some("no token-bearing event".into());
    }
    // Records are kept until the end of the run: drop the growth slack (Vec doubling).
    events.shrink_to_fit();
    rec.events = events;
}

enum ReadOutcome {
    Complete,
    TooLarge,
    Timeout(ErrorClass),
    Broken(String),
}

async fn read_bounded(
    body: &mut hyper::body::Incoming,
    limit: usize,
    total: tokio::time::Instant,
    idle: Duration,
) -> (Vec<u8>, ReadOutcome) {
    let mut out = Vec::new();
    loop {
        let deadline = (tokio::time::Instant::now() + idle).min(total);
        match timeout_at(deadline, body.frame()).await {
            Err(_) => {
                let c = if deadline >= total {
                    ErrorClass::TotalTimeout
                } else {
                    ErrorClass::IdleTimeout
                };
                return (out, ReadOutcome::Timeout(c));
            }
            Ok(None) => return (out, ReadOutcome::Complete),
            Ok(Some(Err(e))) => return (out, ReadOutcome::Broken(e.to_string())),
            Ok(Some(Ok(f))) => {
                if let Ok(d) = f.into_data() {
                    if out.len() + d.len() > limit {
                        let room = limit - out.len();
                        out.extend_from_slice(&d[..room]);
                        return (out, ReadOutcome::TooLarge);
                    }
                    out.extend_from_slice(&d);
                }
            }
        }
    }
}

/// A short, single-line description of an error body (JSON `error.message` or the text).
fn error_detail_of(bytes: &[u8]) -> String {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(bytes) {
        if let Some(m) = v
            .pointer("/error/message")
            .or_else(|| v.get("message"))
            .or_else(|| v.get("error"))
            .and_then(|m| m.as_str())
        {
            return m.chars().take(200).collect();
        }
    }
    let s = String::from_utf8_lossy(bytes);
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(200)
        .collect()
}

/// Simple GET for preflight checks (`/v1/models`), bounded in time and size.
pub async fn get(cfg: &ClientConfig, path: &str) -> Result<(u16, String, Vec<u8>), Failure> {
    let mut sender = connect(cfg).await?;
    let mut req = Request::get(path)
        .header(http::header::HOST, cfg.target.authority.as_str())
        .body(Full::new(Bytes::new()))
        .map_err(|e| (ErrorClass::ClientError, e.to_string()))?;
    for (k, v) in &cfg.headers {
        req.headers_mut().insert(k.clone(), v.clone());
    }
    let deadline = tokio::time::Instant::now() + cfg.timeouts.connect.max(Duration::from_secs(5));
    let resp = match timeout_at(deadline, sender.send_request(req)).await {
        Err(_) => return Err((ErrorClass::FirstByteTimeout, format!("GET {path} timed out"))),
        Ok(Err(e)) => return Err((ErrorClass::ResetBeforeHeaders, format!("GET {path}: {e}"))),
        Ok(Ok(r)) => r,
    };
    let status = resp.status().as_u16();
    let ctype = resp
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let mut body = resp.into_body();
    let (bytes, _) = read_bounded(&mut body, 1 << 20, deadline, Duration::from_secs(5)).await;
    Ok((status, ctype, bytes))
}

/// Build the header map from `--header 'K: V'` strings and an optional API key.
pub fn build_headers(raw: &[String], api_key: Option<&str>) -> Result<HeaderMap, String> {
    let mut h = HeaderMap::new();
    if let Some(k) = api_key {
        let mut v = HeaderValue::from_str(&format!("Bearer {k}"))
            .map_err(|_| "API key contains characters not allowed in a header".to_string())?;
        v.set_sensitive(true);
        h.insert(http::header::AUTHORIZATION, v);
    }
    for line in raw {
        let (k, v) = line
            .split_once(':')
            .ok_or_else(|| format!("invalid --header '{line}': expected 'Name: value'"))?;
        let name = http::header::HeaderName::from_bytes(k.trim().as_bytes())
            .map_err(|_| format!("invalid header name in --header '{line}'"))?;
        let value =
            HeaderValue::from_str(v.trim()).map_err(|_| format!("invalid header value in --header '{k}: …'"))?;
        h.insert(name, value);
    }
    Ok(h)
}
