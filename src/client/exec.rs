//! The request executor: send one request on a kept-alive connection, read the response as
//! the socket delivers it (each read stamped before parsing), and turn what arrived into a
//! [`RequestRecord`]. Tokenization of the received text happens after the stream ends, never
//! between frames.

use super::errors::{error_chain, error_detail_of, one_line};
use super::h1::{H1Error, Head};
use super::openai::{self, ChunkOutcome};
use super::{connect, read_bounded, request_bytes, sse, ClientConfig, Conn, Failure, ReadOutcome};
use crate::record::{kind, ErrorClass, EventTokenSource, RequestRecord, TokenCount, TokenEvent};
use crate::workload::RequestSpec;
use std::time::{Duration, Instant};
use tokio::time::timeout_at;

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
    /// The content channel's text, kept when the caller wants the reply (multi-turn).
    reply: Option<String>,
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
                    if let Some(r) = self.reply.as_mut() {
                        r.push_str(&d.content);
                    }
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
///
/// The phases: send (a connection, the request, the response head), then the body —
/// streamed ([`read_streamed`]) or whole ([`read_whole`]) — and the token accounting once
/// every timestamp is taken ([`finish_record`]).
pub async fn execute(
    cfg: &ClientConfig,
    conn: &mut Option<Conn>,
    run_start: Instant,
    spec: &RequestSpec,
    rec: &mut RequestRecord,
) {
    execute_keeping_reply(cfg, conn, run_start, spec, rec).await;
}

/// [`execute`], returning the content text received when `spec.keep_reply` (else `None`).
pub async fn execute_keeping_reply(
    cfg: &ClientConfig,
    conn: &mut Option<Conn>,
    run_start: Instant,
    spec: &RequestSpec,
    rec: &mut RequestRecord,
) -> Option<String> {
    let mut reply = spec.keep_reply.then(String::new);
    exchange(cfg, conn, run_start, spec, rec, &mut reply).await;
    reply
}

async fn exchange(
    cfg: &ClientConfig,
    conn: &mut Option<Conn>,
    run_start: Instant,
    spec: &RequestSpec,
    rec: &mut RequestRecord,
    reply: &mut Option<String>,
) {
    rec.max_tokens = spec.max_tokens;
    rec.input_tokens = TokenCount {
        server: None,
        client: Some(spec.input_tokens),
    };
    let wire = request_wire(cfg, spec, rec.id);
    let Some(sent) = send(cfg, conn, run_start, &wire, rec).await else {
        return;
    };
    drop(wire);
    let Some(c) = conn.as_mut() else { return };
    rec.hdr_us = Some(us32(sent.t_send, c.last_read()));
    rec.status = sent.head.status;
    if rec.status != 200 {
        http_error(cfg, c, &sent, rec).await;
        *conn = None;
        return;
    }
    // Servers may send a role-only first chunk or split a token; +2 covers the usual extras.
    let mut body = BodyRead {
        st: StreamState {
            expected_events: spec.max_tokens as usize + 2,
            reply: reply.take(),
            ..StreamState::default()
        },
        ..BodyRead::default()
    };
    if cfg.body.stream {
        if !sent.head.content_type.contains("text/event-stream") {
            not_sse(cfg, c, &sent, rec).await;
            *conn = None;
            return;
        }
        read_streamed(cfg, c, &sent, rec, &mut body).await;
    } else {
        read_whole(cfg, c, &sent, rec, &mut body).await;
    }
    if !body.clean_end || body.st.error.is_some() {
        *conn = None;
    }
    rec.frames = body.frames;
    rec.bytes = body.bytes;
    *reply = body.st.reply.take();
    finish_record(cfg, rec, body.st, body.events);
}

/// The request's bytes: the OpenAI body and the head, with `X-Request-Id` for joins.
fn request_wire(cfg: &ClientConfig, spec: &RequestSpec, id: u64) -> Vec<u8> {
    let body = openai::request_body_with(&cfg.body, &spec.prompt, spec.messages.as_deref(), spec.max_tokens);
    let request_id = format!("{}-{}", cfg.request_id_prefix, id);
    request_bytes(cfg, "POST", &cfg.target.path, cfg.body.stream, Some(&request_id), &body)
}

/// A request whose response head arrived.
struct Sent {
    head: Head,
    t_send: Instant,
    /// `--request-timeout` from the send.
    total: tokio::time::Instant,
}

/// What reading the body found: the stream's state, its token events and framing facts.
#[derive(Default)]
struct BodyRead {
    st: StreamState,
    events: Vec<TokenEvent>,
    frames: u32,
    bytes: u64,
    /// The body ended as its framing says (not by a timeout, a reset or an error).
    clean_end: bool,
}

fn fail(rec: &mut RequestRecord, class: ErrorClass, msg: &str, t_send: Instant, at: Instant) {
    rec.error = Some(class);
    rec.error_detail = Some(one_line(msg));
    rec.end_us = Some(us32(t_send, at));
}

/// Send the request and read the response head. A kept-alive connection must still be
/// usable; otherwise a new one is opened. A server may close a kept-alive connection at any
/// moment (llama.cpp's server closes after every stream while still advertising
/// keep-alive); a request that fails on a *reused* connection before any response byte was
/// never processed, so it is sent once more on a fresh connection, and the record keeps the
/// time of the send that counted. `None` when the record is complete (a failure).
async fn send(
    cfg: &ClientConfig,
    conn: &mut Option<Conn>,
    run_start: Instant,
    wire: &[u8],
    rec: &mut RequestRecord,
) -> Option<Sent> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let reused = ready_connection(cfg, conn, run_start, rec).await?;
        let c = conn.as_mut()?;
        let t_send = Instant::now();
        rec.send_us = micros_between(run_start, t_send);
        let total = tokio::time::Instant::from_std(t_send + cfg.timeouts.total);
        let hdr_deadline = tokio::time::Instant::from_std(t_send + cfg.timeouts.first_byte).min(total);
        // Err(true): the request could not be written.
        let exchange = async {
            c.send(wire).await.map_err(|e| (true, H1Error::Io(e)))?;
            c.read_head().await.map_err(|e| (false, e))
        };
        match timeout_at(hdr_deadline, exchange).await {
            Ok(Ok(head)) => return Some(Sent { head, t_send, total }),
            Err(_) => {
                let class = if hdr_deadline >= total {
                    ErrorClass::TotalTimeout
                } else {
                    ErrorClass::FirstByteTimeout
                };
                *conn = None;
                fail(
                    rec,
                    class,
                    "no response headers before the timeout",
                    t_send,
                    Instant::now(),
                );
                return None;
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
                let msg = format!("connection failed before headers: {}", error_chain(&e));
                fail(rec, ErrorClass::ResetBeforeHeaders, &msg, t_send, Instant::now());
                return None;
            }
        }
    }
}

/// Make `conn` a usable connection: keep it when it is still reusable, else connect.
/// `Some(reused)`, or `None` when connecting failed (recorded in `rec`).
async fn ready_connection(
    cfg: &ClientConfig,
    conn: &mut Option<Conn>,
    run_start: Instant,
    rec: &mut RequestRecord,
) -> Option<bool> {
    if let Some(c) = conn.as_mut() {
        if c.reusable().await {
            return Some(true);
        }
        *conn = None;
    }
    let t = Instant::now();
    let result = connect(cfg).await;
    rec.connect_us += micros_between(t, Instant::now());
    match result {
        Ok(c) => {
            *conn = Some(c);
            Some(false)
        }
        Err((class, msg)) => {
            rec.send_us = micros_between(run_start, Instant::now());
            rec.end_us = Some(0);
            rec.error = Some(class);
            rec.error_detail = Some(msg);
            None
        }
    }
}

/// A non-200 response: its class, `Retry-After`, and the start of its body as the detail.
async fn http_error(cfg: &ClientConfig, c: &mut Conn, sent: &Sent, rec: &mut RequestRecord) {
    let (bytes, _) = read_bounded(c, 4096, sent.total, cfg.timeouts.idle).await;
    rec.retry_after_ms = sent
        .head
        .retry_after
        .map(|d| d.as_millis().min(u64::MAX as u128) as u64);
    let class = match rec.status {
        429 => ErrorClass::Http429,
        400..=499 => ErrorClass::Http4xx,
        500..=599 => ErrorClass::Http5xx,
        _ => ErrorClass::HttpOther,
    };
    let detail = format!("HTTP {}: {}", rec.status, error_detail_of(&bytes));
    fail(rec, class, &detail, sent.t_send, Instant::now());
}

/// A streamed request answered with something other than `text/event-stream`.
async fn not_sse(cfg: &ClientConfig, c: &mut Conn, sent: &Sent, rec: &mut RequestRecord) {
    let (bytes, _) = read_bounded(c, 512, sent.total, cfg.timeouts.idle).await;
    let head: String = String::from_utf8_lossy(&bytes).chars().take(120).collect();
    let got = if sent.head.content_type.is_empty() {
        "no content type"
    } else {
        sent.head.content_type.as_str()
    };
    let msg = format!("expected text/event-stream, got {got}: {head}");
    fail(rec, ErrorClass::NotSse, &msg, sent.t_send, Instant::now());
}

/// Read a streamed (SSE) body to its end, each socket read's bytes parsed as they come and
/// every event completed by them stamped with that read's arrival time.
///
/// One timer per stream, not one per read: it is armed for the idle timeout from the start
/// and, when it fires, re-armed from the arrival of the latest read (the idle timeout is
/// measured from the last data), so the timer wheel is touched about once per idle period
/// instead of twice per token event.
async fn read_streamed(cfg: &ClientConfig, c: &mut Conn, sent: &Sent, rec: &mut RequestRecord, body: &mut BodyRead) {
    let t_send = sent.t_send;
    let mut parser = sse::SseParser::new(cfg.max_event_bytes);
    let mut last_data = tokio::time::Instant::now();
    let timer = tokio::time::sleep_until((last_data + cfg.timeouts.idle).min(sent.total));
    tokio::pin!(timer);
    loop {
        let next = tokio::select! {
            biased;
            r = c.next_data() => Some(r),
            () = &mut timer => None,
        };
        match next {
            None => {
                // After [DONE] only wait briefly for the end of the body (to keep the connection).
                let allowed = if body.st.done {
                    Duration::from_secs(1)
                } else {
                    cfg.timeouts.idle
                };
                let due = (last_data + allowed).min(sent.total);
                if due > tokio::time::Instant::now() {
                    timer.as_mut().reset(due);
                    continue;
                }
                if !body.st.done {
                    let class = if due >= sent.total {
                        ErrorClass::TotalTimeout
                    } else {
                        ErrorClass::IdleTimeout
                    };
                    body.st.error = Some((class, "stream stalled past the timeout".into()));
                }
                break;
            }
            Some(Ok(None)) => {
                body.clean_end = true;
                // The body's end arrived with the latest read.
                let t_us = us32(t_send, c.last_read());
                let (st, events) = (&mut body.st, &mut body.events);
                if let Err(e) = parser.finish(|ev| st.on_data(ev.data, t_us, events)) {
                    body.st.error = Some((ErrorClass::EventTooLarge, e.to_string()));
                }
                break;
            }
            Some(Err(e)) => {
                body.st.error = Some((ErrorClass::ResetMidStream, format!("stream broke: {e}")));
                break;
            }
            Some(Ok(Some((t_read, data)))) => {
                let was_done = body.st.done;
                last_data = tokio::time::Instant::from_std(t_read);
                body.frames += 1;
                body.bytes += data.len() as u64;
                // The arrival time of these bytes: when the socket read that brought them
                // returned (taken inside the read, before any parsing).
                let t_us = us32(t_send, t_read);
                let before = body.events.len();
                let (st, events) = (&mut body.st, &mut body.events);
                if let Err(e) = parser.push(data, |ev| st.on_data(ev.data, t_us, events)) {
                    body.st.error = Some((ErrorClass::EventTooLarge, e.to_string()));
                }
                note_shared_stamps(c, &body.events, before);
                if body.st.error.is_some() {
                    break;
                }
                if body.st.done && !was_done {
                    // [DONE]: the end of the body is due within a second, sooner than the
                    // idle timeout the timer is armed for.
                    timer
                        .as_mut()
                        .reset((last_data + Duration::from_secs(1)).min(sent.total));
                }
            }
        }
    }
    // A clean end (or [DONE], even if the body's end then never came) arrived with the
    // latest read; otherwise the end is when the client gave up.
    let t_end = if body.clean_end || body.st.done {
        c.last_read()
    } else {
        Instant::now()
    };
    rec.end_us = Some(us32(t_send, t_end));
    if body.st.error.is_none() && !body.st.done && body.st.finish_reason.is_none() {
        body.st.error = Some((
            ErrorClass::Truncated,
            "stream ended without [DONE] or a finish reason".into(),
        ));
    }
}

/// Events delivered by one read share its stamp (its newest segment's); when the read came
/// late, all but the newest of them arrived earlier than it says (by up to the read lag):
/// counted for the self-health verdict.
fn note_shared_stamps(c: &mut Conn, events: &[TokenEvent], before: usize) {
    let shared = (before.max(1)..events.len())
        .filter(|&i| events[i].t_us() == events[i - 1].t_us())
        .count();
    if shared > 0 {
        c.note_shared_stamps(shared as u64);
    }
}

/// Read a non-streamed body whole and decode it as one response.
async fn read_whole(cfg: &ClientConfig, c: &mut Conn, sent: &Sent, rec: &mut RequestRecord, body: &mut BodyRead) {
    let (bytes, outcome) = read_bounded(c, cfg.max_body_bytes, sent.total, cfg.timeouts.idle).await;
    let t_end = match outcome {
        ReadOutcome::Complete => c.last_read(),
        _ => Instant::now(),
    };
    rec.end_us = Some(us32(sent.t_send, t_end));
    body.frames = 1;
    body.bytes = bytes.len() as u64;
    let st = &mut body.st;
    match outcome {
        ReadOutcome::Complete => {
            body.clean_end = true;
            st.on_data(&bytes, us32(sent.t_send, t_end), &mut body.events);
            if st.error.is_none() && st.finish_reason.is_none() && body.events.is_empty() {
                st.error = Some((ErrorClass::EmptyOutput, "response carried no output".into()));
            }
        }
        ReadOutcome::TooLarge => st.error = Some((ErrorClass::EventTooLarge, "response body too large".into())),
        ReadOutcome::Timeout(class) => st.error = Some((class, "response body stalled".into())),
        ReadOutcome::Broken(msg) => st.error = Some((ErrorClass::ResetMidStream, msg)),
    }
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
