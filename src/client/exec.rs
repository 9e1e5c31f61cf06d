//! The request executor: send one request on a kept-alive connection, read the response as
//! the socket delivers it (each read stamped before parsing), and turn what arrived into a
//! [`RequestRecord`]. Tokenization of the received text happens after the stream ends, never
//! between frames.

use super::errors::{error_chain, error_detail_of, one_line};
use super::h1::H1Error;
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
    let body = openai::request_body_with(&cfg.body, &spec.prompt, spec.messages.as_deref(), spec.max_tokens);
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
        reply: reply.take(),
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
    *reply = st.reply.take();
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
