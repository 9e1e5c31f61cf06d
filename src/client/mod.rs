//! How requests travel: one HTTP/1.1 keep-alive connection per in-flight stream, owned by
//! the task that measures the request (infermeter's own minimal HTTP/1.1 client, [`h1`]: no
//! connection task, no pool racing), the OpenAI request body, and the response read as the
//! socket delivers it. The bytes of each socket read are stamped with their arrival time
//! before any parsing — the kernel's receive timestamp ([`rx`]) or, without one, the moment
//! the read returned — and every SSE event completed by those bytes carries that stamp.

pub mod h1;
pub mod openai;
pub mod retry;
pub mod rx;
pub mod sse;
pub mod tls;

use crate::record::{kind, ErrorClass, EventTokenSource, RequestRecord, TokenCount, TokenEvent};
use crate::workload::{RequestSpec, Tokenizer};
use h1::H1Error;
use http::{HeaderMap, HeaderValue};
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
    /// Each request carries `X-Request-Id: {prefix}-{record id}`, so server logs (vLLM uses
    /// it as its request id) and the simulator's write log can be joined with the records.
    pub request_id_prefix: String,
    /// Where arrival times come from (`--rx-timestamp`).
    pub rx_timestamp: rx::RxTimestamp,
    /// The run's socket read lag (read return − kernel arrival), for the self-health block.
    pub read_lag: std::sync::Arc<rx::SharedLag>,
}

/// A kept-alive connection to the target.
pub type Conn = h1::Conn<Stream>;

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
    let stream = rx::TcpIo::new(stream);
    let conn = |s| h1::Conn::with_lag_sink(s, cfg.read_lag.clone(), cfg.rx_timestamp);
    match &cfg.target.tls {
        None => Ok(conn(Stream::Plain(stream))),
        Some(tls) => match timeout_at(deadline, tls.handshake(stream)).await {
            Err(_) => Err((
                ErrorClass::ConnectTimeout,
                format!("TLS handshake with {addr} timed out"),
            )),
            Ok(Err(f)) => Err(f),
            Ok(Ok(s)) => Ok(conn(Stream::Tls(Box::new(s)))),
        },
    }
}

/// A connection's byte stream: plain TCP, or TLS over TCP for `https://` targets.
pub enum Stream {
    Plain(rx::TcpIo),
    Tls(Box<tokio_rustls::client::TlsStream<rx::TcpIo>>),
}

impl rx::RxTime for Stream {
    fn rx_time(&self) -> Option<Instant> {
        match self {
            Stream::Plain(s) => s.rx_time(),
            // The newest segment the TLS layer read from the socket (plaintext it returns from
            // its buffer arrived no later).
            Stream::Tls(s) => s.get_ref().0.rx_time(),
        }
    }
}

impl tokio::io::AsyncRead for Stream {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => std::pin::Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl tokio::io::AsyncWrite for Stream {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => std::pin::Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => std::pin::Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => std::pin::Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => std::pin::Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// The request's head and body, serialized once per request.
fn request_bytes(
    cfg: &ClientConfig,
    method: &str,
    path: &str,
    stream: bool,
    request_id: Option<&str>,
    body: &[u8],
) -> Vec<u8> {
    let mut headers: Vec<(&str, &[u8])> = Vec::with_capacity(cfg.headers.len() + 4);
    if let Some(id) = request_id {
        headers.push(("X-Request-Id", id.as_bytes()));
    }
    if method == "POST" {
        headers.push(("Content-Type", b"application/json"));
    }
    headers.push((
        "User-Agent",
        concat!("infermeter/", env!("CARGO_PKG_VERSION")).as_bytes(),
    ));
    if stream {
        headers.push(("Accept", b"text/event-stream"));
    }
    for (k, v) in &cfg.headers {
        headers.push((k.as_str(), v.as_bytes()));
    }
    h1::request_bytes(method, path, &cfg.target.authority, &headers, body)
}

#[cfg(test)]
mod grow_tests {
    #[test]
    fn grows_to_the_expected_bound_exactly_then_doubles() {
        let mut v: Vec<u32> = Vec::new();
        let mut caps = Vec::new();
        for i in 0..10_000u32 {
            super::grow_toward(&mut v, 1000);
            v.push(i);
            if caps.last() != Some(&v.capacity()) {
                caps.push(v.capacity());
            }
        }
        assert_eq!(caps[..8], [8, 16, 32, 64, 128, 256, 512, 1000]);
        assert_eq!(caps[8..], [2000, 4000, 8000, 16000]);
    }
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
    /// End offset of each token event's text in `text` (bodies are bounded far below 4 GiB).
    ends: Vec<u32>,
    /// Cumulative `usage.completion_tokens` seen on each token event (continuous usage), as
    /// long as every token event so far carried one; cleared at the first that did not.
    cum_usage: Vec<u32>,
    usage_on_every_event: bool,
    /// Expected number of token events (the request's `max_tokens` plus slack): vectors grow
    /// up to it exactly instead of doubling past it.
    expected_events: usize,
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
                self.error = Some(match std::str::from_utf8(data) {
                    Err(u) => (ErrorClass::InvalidUtf8, format!("event data is not valid UTF-8: {u}")),
                    Ok(_) => (ErrorClass::MalformedEvent, format!("malformed event: {}", e.0)),
                });
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
                    let first = events.is_empty();
                    grow_toward(events, self.expected_events);
                    events.push(TokenEvent::new(t_us, 0, k));
                    grow_toward(&mut self.ends, self.expected_events);
                    self.ends.push(u32::try_from(self.text.len()).unwrap_or(u32::MAX));
                    match d.usage.and_then(|u| u.completion_tokens) {
                        Some(c) if first || self.usage_on_every_event => {
                            self.usage_on_every_event = true;
                            grow_toward(&mut self.cum_usage, self.expected_events);
                            self.cum_usage.push(c);
                        }
                        _ => {
                            self.usage_on_every_event = false;
                            self.cum_usage = Vec::new();
                        }
                    }
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

/// Make room for one more element: double as usual, but never past `expected` (the known
/// upper bound of elements) so a stream of exactly `max_tokens` events ends with no slack.
/// Past `expected` (a server sending more than asked) it doubles again: never quadratic.
fn grow_toward<T>(v: &mut Vec<T>, expected: usize) {
    let cap = v.capacity();
    if v.len() == cap {
        let doubled = (cap * 2).max(8);
        let want = if cap < expected { doubled.min(expected) } else { doubled };
        v.reserve_exact(want.max(v.len() + 1) - v.len());
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
    let body = openai::request_body(&cfg.body, &spec.prompt, spec.max_tokens);
    let request_id = format!("{}-{}", cfg.request_id_prefix, rec.id);
    let wire = request_bytes(cfg, "POST", &cfg.target.path, cfg.body.stream, Some(&request_id), &body);
    drop(body);

    // A kept-alive connection must still be usable; otherwise open a new one. A server may
    // close a kept-alive connection at any moment (llama.cpp's server closes after every
    // stream while still advertising keep-alive); a request that fails on a *reused*
    // connection before any response byte was never processed, so it is sent once more on a
    // fresh connection, and the record keeps the time of the send that counted.
    let mut attempt = 0;
    let (head, t_send, total_deadline) = loop {
        attempt += 1;
        let mut reused = false;
        if let Some(c) = conn.as_mut() {
            reused = c.reusable().await;
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
        let Some(c) = conn.as_mut() else { return };
        let t_send = Instant::now();
        rec.send_us = micros_between(run_start, t_send);
        let total_deadline = tokio::time::Instant::from_std(t_send + cfg.timeouts.total);
        let hdr_deadline = tokio::time::Instant::from_std(t_send + cfg.timeouts.first_byte).min(total_deadline);
        let fail = |rec: &mut RequestRecord, class: ErrorClass, msg: String| {
            rec.error = Some(class);
            rec.error_detail = Some(one_line(&msg));
            rec.end_us = Some(us32(t_send, Instant::now()));
        };
        // Err(true): the request could not be written.
        let exchange = async {
            c.send(&wire).await.map_err(|e| (true, H1Error::Io(e)))?;
            c.read_head().await.map_err(|e| (false, e))
        };
        match timeout_at(hdr_deadline, exchange).await {
            Err(_) => {
                let class = if hdr_deadline >= total_deadline {
                    ErrorClass::TotalTimeout
                } else {
                    ErrorClass::FirstByteTimeout
                };
                *conn = None;
                return fail(rec, class, "no response headers before the timeout".into());
            }
            Ok(Err((in_send, e))) => {
                // A kept-alive connection the server had already closed: the write fails, or
                // the read finds the close (EOF) before any response byte. A reset (RST)
                // after the request went out may mean the server processed it: not re-sent.
                let silent = in_send || (c.received() == 0 && matches!(e, H1Error::Closed));
                *conn = None;
                if reused && attempt == 1 && silent {
                    rec.stale_connection_retries += 1;
                    continue;
                }
                return fail(
                    rec,
                    ErrorClass::ResetBeforeHeaders,
                    format!("connection failed before headers: {}", error_chain(&e)),
                );
            }
            Ok(Ok(h)) => break (h, t_send, total_deadline),
        }
    };
    let fail = |rec: &mut RequestRecord, class: ErrorClass, msg: String, at: Instant| {
        rec.error = Some(class);
        rec.error_detail = Some(one_line(&msg));
        rec.end_us = Some(us32(t_send, at));
    };
    let Some(c) = conn.as_mut() else { return };
    let t_hdr = c.last_read();
    rec.hdr_us = Some(us32(t_send, t_hdr));
    rec.status = head.status;
    let ctype = (!head.content_type.is_empty()).then(|| head.content_type.clone());
    let is_sse = head.content_type.contains("text/event-stream");

    if rec.status != 200 {
        let (bytes, _) = read_bounded(c, 4096, total_deadline, cfg.timeouts.idle).await;
        rec.retry_after_ms = head.retry_after.map(|d| d.as_millis().min(u64::MAX as u128) as u64);
        let class = match rec.status {
            429 => ErrorClass::Http429,
            400..=499 => ErrorClass::Http4xx,
            500..=599 => ErrorClass::Http5xx,
            _ => ErrorClass::HttpOther,
        };
        *conn = None;
        let detail = format!("HTTP {}: {}", rec.status, error_detail_of(&bytes));
        return fail(rec, class, detail, Instant::now());
    }

    let mut events: Vec<TokenEvent> = Vec::new();
    // Servers may send a role-only first chunk or split a token; +2 covers the usual extras.
    let mut st = StreamState {
        expected_events: spec.max_tokens as usize + 2,
        ..StreamState::default()
    };
    let mut frames = 0u32;
    let mut nbytes = 0u64;
    let mut clean_end = false;

    if cfg.body.stream {
        if !is_sse {
            let (bytes, _) = read_bounded(c, 512, total_deadline, cfg.timeouts.idle).await;
            *conn = None;
            let head: String = String::from_utf8_lossy(&bytes).chars().take(120).collect();
            let got = ctype.as_deref().unwrap_or("no content type");
            return fail(
                rec,
                ErrorClass::NotSse,
                format!("expected text/event-stream, got {got}: {head}"),
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
            let next = timeout_at(deadline, c.next_data()).await;
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
                Ok(Ok(None)) => {
                    clean_end = true;
                    // The body's end arrived with the latest read.
                    let t_us = us32(t_send, c.last_read());
                    if let Err(e) = parser.finish(|ev| st.on_data(ev.data, t_us, &mut events)) {
                        st.error = Some((ErrorClass::EventTooLarge, e.to_string()));
                    }
                    break;
                }
                Ok(Err(e)) => {
                    st.error = Some((ErrorClass::ResetMidStream, format!("stream broke: {e}")));
                    break;
                }
                Ok(Ok(Some((t_read, data)))) => {
                    frames += 1;
                    nbytes += data.len() as u64;
                    // The arrival time of these bytes: when the socket read that brought them
                    // returned (taken inside the read, before any parsing).
                    let t_us = us32(t_send, t_read);
                    let before = events.len();
                    if let Err(e) = parser.push(data, |ev| st.on_data(ev.data, t_us, &mut events)) {
                        st.error = Some((ErrorClass::EventTooLarge, e.to_string()));
                    }
                    // Events delivered by one read share its stamp (its newest segment's); when
                    // the read came late, all but the newest of them arrived earlier than it
                    // says (by up to the read lag): counted for the self-health verdict.
                    let shared = (before.max(1)..events.len())
                        .filter(|&i| events[i].t_us() == events[i - 1].t_us())
                        .count();
                    if shared > 0 {
                        c.note_shared_stamps(shared as u64);
                    }
                    if st.error.is_some() {
                        break;
                    }
                }
            }
        }
        // A clean end (or [DONE], even if the body's end then never came) arrived with the
        // latest read; otherwise the end is when the client gave up.
        let t_end = if clean_end || st.done {
            c.last_read()
        } else {
            Instant::now()
        };
        rec.end_us = Some(us32(t_send, t_end));
        if st.error.is_none() && !st.done && st.finish_reason.is_none() {
            st.error = Some((
                ErrorClass::Truncated,
                "stream ended without [DONE] or a finish reason".into(),
            ));
        }
    } else {
        let (bytes, outcome) = read_bounded(c, cfg.max_body_bytes, total_deadline, cfg.timeouts.idle).await;
        let t_end = match outcome {
            ReadOutcome::Complete => c.last_read(),
            _ => Instant::now(),
        };
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
    let continuous = st.usage_on_every_event && st.cum_usage.len() == events.len();
    if continuous {
        let mut prev = 0u32;
        for (e, &c) in events.iter_mut().zip(&st.cum_usage) {
            e.set_tokens(c.saturating_sub(prev));
            prev = c.max(prev);
        }
        rec.event_token_source = EventTokenSource::Usage;
    } else {
        let mut start = 0;
        for (e, &end) in events.iter_mut().zip(&st.ends) {
            let end = (end as usize).min(st.text.len());
            e.set_tokens(cfg.tokenizer.count(st.text.get(start..end).unwrap_or("")).max(1));
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
        rec.error_detail = Some(one_line(&msg));
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

/// Read a whole (non-streamed or error) body, up to `limit` bytes.
async fn read_bounded<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + rx::RxTime + Unpin>(
    c: &mut h1::Conn<S>,
    limit: usize,
    total: tokio::time::Instant,
    idle: Duration,
) -> (Vec<u8>, ReadOutcome) {
    let mut out = Vec::new();
    loop {
        let deadline = (tokio::time::Instant::now() + idle).min(total);
        match timeout_at(deadline, c.next_data()).await {
            Err(_) => {
                let c = if deadline >= total {
                    ErrorClass::TotalTimeout
                } else {
                    ErrorClass::IdleTimeout
                };
                return (out, ReadOutcome::Timeout(c));
            }
            Ok(Ok(None)) => return (out, ReadOutcome::Complete),
            Ok(Err(e)) => return (out, ReadOutcome::Broken(e.to_string())),
            Ok(Ok(Some((_, d)))) => {
                if out.len() + d.len() > limit {
                    let room = limit - out.len();
                    out.extend_from_slice(&d[..room]);
                    return (out, ReadOutcome::TooLarge);
                }
                out.extend_from_slice(d);
            }
        }
    }
}

/// `error_detail` is one line of at most 300 characters, whatever the server sent.
fn one_line(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len().min(300));
    for (i, w) in msg.split_whitespace().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(w);
        if out.len() >= 300 {
            break;
        }
    }
    let cut: String = out.chars().take(300).collect();
    cut.trim_end().to_string()
}

/// An error and its causes on one line: hyper's "connection error" alone does not say whether
/// the peer reset the connection or closed it.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        cause = c.source();
    }
    s
}

/// The readable text of an HTML error page: its `<title>`, else the text between the tags.
fn html_text(s: &str) -> Option<String> {
    let lower = s.trim_start().chars().take(16).collect::<String>().to_ascii_lowercase();
    if !(lower.starts_with("<!doctype html") || lower.starts_with("<html") || lower.starts_with("<head")) {
        return None;
    }
    let lower_all = s.to_ascii_lowercase();
    if let (Some(a), Some(b)) = (lower_all.find("<title>"), lower_all.find("</title>")) {
        if let Some(t) = s.get(a + 7..b).filter(|t| !t.trim().is_empty()) {
            return Some(t.to_string());
        }
    }
    let mut out = String::new();
    let mut in_tag = false;
    for ch in s.chars() {
        match ch {
            '<' => {
                in_tag = true;
                out.push(' ');
            }
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    Some(out)
}

/// A short, single-line description of an error body (JSON `error.message`, an HTML page's
/// title, or the text).
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
    let s = html_text(&s).map_or(s, std::borrow::Cow::Owned);
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(200)
        .collect()
}

/// Simple GET for preflight checks (`/v1/models`), bounded in time and size.
pub async fn get(cfg: &ClientConfig, path: &str) -> Result<(u16, String, Vec<u8>), Failure> {
    let mut c = connect(cfg).await?;
    let wire = request_bytes(cfg, "GET", path, false, None, b"");
    let deadline = tokio::time::Instant::now() + cfg.timeouts.connect.max(Duration::from_secs(5));
    let exchange = async {
        c.send(&wire).await.map_err(H1Error::Io)?;
        c.read_head().await
    };
    let head = match timeout_at(deadline, exchange).await {
        Err(_) => return Err((ErrorClass::FirstByteTimeout, format!("GET {path} timed out"))),
        Ok(Err(e)) => return Err((ErrorClass::ResetBeforeHeaders, format!("GET {path}: {e}"))),
        Ok(Ok(h)) => h,
    };
    let (bytes, _) = read_bounded(&mut c, 1 << 20, deadline, Duration::from_secs(5)).await;
    Ok((head.status, head.content_type, bytes))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_become_one_short_line() {
        assert_eq!(
            error_detail_of(br#"{"error":{"message":"too many requests","code":429}}"#),
            "too many requests"
        );
        let page = b"<!DOCTYPE html>\n<html><head><title>503 Service Unavailable</title></head>\n<body><h1>down</h1></body></html>";
        assert_eq!(error_detail_of(page), "503 Service Unavailable");
        assert_eq!(
            error_detail_of(b"<html><body><h1>Bad\n gateway</h1><p>nginx</p></body></html>"),
            "Bad gateway nginx"
        );
        assert_eq!(error_detail_of(b"plain\n  text"), "plain text");
        assert_eq!(error_detail_of("<html><title>é</title>".as_bytes()), "é");
    }

    #[test]
    fn details_are_one_line() {
        assert_eq!(one_line("a\n  b\r\n\tc "), "a b c");
        assert_eq!(one_line(&"x ".repeat(1000)).len(), 299);
        assert_eq!(one_line(&"é".repeat(1000)).chars().count(), 300);
    }

    #[test]
    fn error_chain_names_the_cause() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "connection reset by peer");
        #[derive(Debug)]
        struct Outer(std::io::Error);
        impl std::fmt::Display for Outer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("connection error")
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        assert_eq!(error_chain(&Outer(io)), "connection error: connection reset by peer");
    }
}
