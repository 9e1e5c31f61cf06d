//! The raw per-request record: what was measured, nothing derived.
//!
//! Workers fill one `RequestRecord` per request with raw monotonic timestamps; every metric
//! is computed later from these records by pure functions (`metrics`). Records are streamed
//! to `OUT/records.jsonl` as each request completes, so a crash loses nothing already done,
//! and `infermeter report` can rebuild every summary from them.
//!
//! Times are integer microseconds: run-level instants are measured from the run's start
//! (`*_us` fields), per-event times from the request's own send instant (`TokenEvent::t_us`).
//! A token event is written as a 3-element array `[t_us, tokens, kind]` to keep records
//! compact (~15 bytes of JSON) and held in 8 bytes of memory (a run of 10^6 events keeps
//! every one of them until the metrics are computed).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{BufRead, Write};

/// Which channel(s) an event carried tokens in (bit flags).
pub mod kind {
    pub const CONTENT: u8 = 1;
    pub const REASONING: u8 = 2;
    pub const TOOL: u8 = 4;
}

/// One token-bearing event: µs since send, tokens in it, channel bits. Packed into 8 bytes:
/// the token count takes 24 bits (saturating at [`TokenEvent::MAX_TOKENS`], far above any
/// real response) and the channel bits 8. Serialized as `[t_us, tokens, kind]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenEvent {
    t_us: u32,
    /// `tokens << 8 | kind`.
    packed: u32,
}

impl TokenEvent {
    /// Largest token count one event can hold (2^24 − 1); larger counts saturate.
    pub const MAX_TOKENS: u32 = (1 << 24) - 1;

    pub const fn new(t_us: u32, tokens: u32, kind: u8) -> TokenEvent {
        let tokens = if tokens > Self::MAX_TOKENS {
            Self::MAX_TOKENS
        } else {
            tokens
        };
        TokenEvent {
            t_us,
            packed: tokens << 8 | kind as u32,
        }
    }
    pub fn t_us(&self) -> u32 {
        self.t_us
    }
    pub fn tokens(&self) -> u32 {
        self.packed >> 8
    }
    pub fn kind(&self) -> u8 {
        (self.packed & 0xFF) as u8
    }
    pub fn set_tokens(&mut self, tokens: u32) {
        *self = TokenEvent::new(self.t_us, tokens, self.kind());
    }
}

impl Serialize for TokenEvent {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (self.t_us(), self.tokens(), self.kind()).serialize(s)
    }
}

impl<'de> Deserialize<'de> for TokenEvent {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (t, k, c) = <(u32, u32, u8)>::deserialize(d)?;
        Ok(TokenEvent::new(t, k, c))
    }
}

/// A token count with its provenance: what the server reported in `usage` and what the
/// client counted with its tokenizer. Both are kept when both exist.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenCount {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<u32>,
}

impl TokenCount {
    /// The primary value: the server's `usage` when present, else the client's count.
    pub fn primary(&self) -> Option<u32> {
        self.server.or(self.client)
    }
}

/// Where the per-event token counts (`TokenEvent::tokens`) came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum EventTokenSource {
    /// Deltas of the server's cumulative `usage.completion_tokens` streamed on every chunk.
    Usage,
    /// The client tokenizer applied to each event's text.
    #[default]
    Tokenizer,
}

/// Every way a request can fail, as a bounded set of classes (`summary.json` `errors`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    ConnectRefused,
    ConnectTimeout,
    ConnectError,
    /// The connection broke before response headers arrived.
    ResetBeforeHeaders,
    /// The connection broke while the body was streaming.
    ResetMidStream,
    FirstByteTimeout,
    IdleTimeout,
    TotalTimeout,
    // Explicit names: snake_case alone would give `http4xx`, not the `http_4xx` of
    // `as_str` and `summary.json`. The aliases read records written before the fix.
    #[serde(rename = "http_4xx", alias = "http4xx")]
    Http4xx,
    #[serde(rename = "http_429", alias = "http429")]
    Http429,
    #[serde(rename = "http_5xx", alias = "http5xx")]
    Http5xx,
    /// Any other status than 200, 4xx or 5xx: a redirect (not followed), 1xx, or a 2xx other
    /// than 200.
    #[serde(rename = "http_other")]
    HttpOther,
    /// An error object was sent as an event inside the stream.
    StreamErrorEvent,
    /// The stream ended with neither `[DONE]` nor a finish reason.
    Truncated,
    MalformedEvent,
    InvalidUtf8,
    /// One SSE line/event over the size bound.
    EventTooLarge,
    /// A streaming request was answered with something that is not `text/event-stream`.
    NotSse,
    /// A successful-looking response that carried no output token.
    EmptyOutput,
    /// A request that could not be built or sent (client-side problem).
    ClientError,
    /// The TLS handshake failed (e.g. the certificate did not verify); the reason is in
    /// `error_detail`.
    TlsError,
}

impl ErrorClass {
    /// Every class, in declaration order.
    pub const ALL: [ErrorClass; 21] = [
        ErrorClass::ConnectRefused,
        ErrorClass::ConnectTimeout,
        ErrorClass::ConnectError,
        ErrorClass::ResetBeforeHeaders,
        ErrorClass::ResetMidStream,
        ErrorClass::FirstByteTimeout,
        ErrorClass::IdleTimeout,
        ErrorClass::TotalTimeout,
        ErrorClass::Http4xx,
        ErrorClass::Http429,
        ErrorClass::Http5xx,
        ErrorClass::HttpOther,
        ErrorClass::StreamErrorEvent,
        ErrorClass::Truncated,
        ErrorClass::MalformedEvent,
        ErrorClass::InvalidUtf8,
        ErrorClass::EventTooLarge,
        ErrorClass::NotSse,
        ErrorClass::EmptyOutput,
        ErrorClass::ClientError,
        ErrorClass::TlsError,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::ConnectRefused => "connect_refused",
            ErrorClass::ConnectTimeout => "connect_timeout",
            ErrorClass::ConnectError => "connect_error",
            ErrorClass::ResetBeforeHeaders => "reset_before_headers",
            ErrorClass::ResetMidStream => "reset_mid_stream",
            ErrorClass::FirstByteTimeout => "first_byte_timeout",
            ErrorClass::IdleTimeout => "idle_timeout",
            ErrorClass::TotalTimeout => "total_timeout",
            ErrorClass::Http4xx => "http_4xx",
            ErrorClass::Http429 => "http_429",
            ErrorClass::Http5xx => "http_5xx",
            ErrorClass::HttpOther => "http_other",
            ErrorClass::StreamErrorEvent => "stream_error_event",
            ErrorClass::Truncated => "truncated",
            ErrorClass::MalformedEvent => "malformed_event",
            ErrorClass::InvalidUtf8 => "invalid_utf8",
            ErrorClass::EventTooLarge => "event_too_large",
            ErrorClass::NotSse => "not_sse",
            ErrorClass::EmptyOutput => "empty_output",
            ErrorClass::ClientError => "client_error",
            ErrorClass::TlsError => "tls_error",
        }
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}
fn is_zero_u32(v: &u32) -> bool {
    *v == 0
}
fn is_zero(v: &u64) -> bool {
    *v == 0
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RequestRecord {
    pub id: u64,
    #[serde(default, skip_serializing_if = "is_false")]
    pub warmup: bool,
    /// Intended send time (open loop: from the precomputed schedule; closed loop: when the
    /// worker became free), µs since run start.
    pub sched_us: u64,
    /// When the client task started handling the request, µs since run start.
    pub start_us: u64,
    /// Time spent waiting for a `--max-concurrency` slot (client queue time), µs.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub queue_us: u64,
    /// Time spent opening a new connection (0 when a kept-alive one was reused), µs.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub connect_us: u64,
    /// Times the request was re-sent because a kept-alive connection turned out to be closed
    /// by the server before it answered (the request was not processed; `send_us` is the
    /// send that counted).
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub stale_connection_retries: u32,
    /// Attempts re-sent under `--retry` after a retryable failure; the record describes the
    /// last attempt, with its times shifted so that `send_us` is the *first* attempt's send.
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub retries: u32,
    /// Error class of each earlier attempt, in order (`retries` entries).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retry_errors: Vec<ErrorClass>,
    /// First attempt's send to the last attempt's send (failed attempts and backoff), µs. It is
    /// part of the record's TTFT and E2E; subtract it for the last attempt alone.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub retry_wait_us: u64,
    /// The server's `Retry-After` on an error response (429 or 5xx), ms: `--retry` waits at
    /// least this long (up to 60 s) before the next attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
    /// Immediately before the request was written, µs since run start.
    pub send_us: u64,
    /// Response headers arrived, µs since send.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hdr_us: Option<u32>,
    /// The response ended (last byte or failure), µs since send.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_us: Option<u32>,
    /// Token-bearing events in arrival order.
    #[serde(default)]
    pub events: Vec<TokenEvent>,
    /// Number of body frames and bytes received.
    #[serde(default)]
    pub frames: u32,
    #[serde(default)]
    pub bytes: u64,
    pub input_tokens: TokenCount,
    pub output_tokens: TokenCount,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_tokens: Option<u32>,
    #[serde(default)]
    pub event_token_source: EventTokenSource,
    /// The requested `max_tokens`.
    pub max_tokens: u32,
    #[serde(default)]
    pub status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorClass>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_detail: Option<String>,
    /// The dataset or trace line the request came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_line: Option<u64>,
    /// Multi-turn sessions: the conversation and the turn (0-based) this request was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turn: Option<u32>,
}

impl RequestRecord {
    pub fn ok(&self) -> bool {
        self.error.is_none()
    }
    /// Absolute time (µs since run start) of the last token event, else of the end.
    pub fn last_token_abs_us(&self) -> Option<u64> {
        self.events
            .last()
            .map(|e| self.send_us + e.t_us() as u64)
            .or_else(|| self.end_us.map(|e| self.send_us + e as u64))
    }
    pub fn end_abs_us(&self) -> u64 {
        self.send_us + self.end_us.unwrap_or(0) as u64
    }
}

/// Append one record as a JSON line.
pub fn write_jsonl<W: Write>(w: &mut W, r: &RequestRecord) -> std::io::Result<()> {
    serde_json::to_writer(&mut *w, r)?;
    w.write_all(b"\n")
}

/// Read records from JSONL. A torn last line (a run killed mid-write) is tolerated and
/// counted; a malformed line elsewhere is an error naming its line number.
///
/// Lines are read as bytes, not `String`s: a write cut by `kill -9` can stop inside a
/// multi-byte UTF-8 character (an `error_detail` quoting a server message), and that torn
/// tail must be tolerated like any other, not fail the whole file as invalid UTF-8.
pub fn read_jsonl<R: BufRead>(mut r: R) -> Result<(Vec<RequestRecord>, usize), String> {
    let mut out = Vec::new();
    let mut torn = 0;
    let mut line = Vec::new();
    let mut next = Vec::new();
    let mut n = 0usize;
    let mut have = read_line(&mut r, &mut line, n + 1)?;
    while have {
        n += 1;
        let has_next = read_line(&mut r, &mut next, n + 1)?;
        if !line.trim_ascii().is_empty() {
            match serde_json::from_slice::<RequestRecord>(&line) {
                Ok(rec) => out.push(rec),
                Err(_) if !has_next => torn += 1,
                Err(e) => return Err(format!("line {n}: invalid record: {e}")),
            }
        }
        std::mem::swap(&mut line, &mut next);
        have = has_next;
    }
    Ok((out, torn))
}

/// Read one line (without its `\n`) into `buf`; `false` at end of input.
fn read_line<R: BufRead>(r: &mut R, buf: &mut Vec<u8>, n: usize) -> Result<bool, String> {
    buf.clear();
    let got = r.read_until(b'\n', buf).map_err(|e| format!("line {n}: {e}"))?;
    if buf.last() == Some(&b'\n') {
        buf.pop();
    }
    Ok(got > 0)
}

/// Error counts by class name.
pub fn error_counts<'a>(records: impl IntoIterator<Item = &'a RequestRecord>) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for r in records {
        if let Some(e) = r.error {
            *m.entry(e.as_str().to_string()).or_insert(0) += 1;
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_torn_tail() {
        let r = RequestRecord {
            id: 3,
            sched_us: 10,
            start_us: 11,
            send_us: 12,
            hdr_us: Some(100),
            end_us: Some(900),
            events: vec![
                TokenEvent::new(500, 1, kind::CONTENT),
                TokenEvent::new(800, 2, kind::CONTENT),
            ],
            output_tokens: TokenCount {
                server: Some(3),
                client: Some(3),
            },
            max_tokens: 3,
            status: 200,
            ..Default::default()
        };
        let mut buf = Vec::new();
        write_jsonl(&mut buf, &r).unwrap();
        write_jsonl(&mut buf, &r).unwrap();
        let s = String::from_utf8(buf.clone()).unwrap();
        assert!(s.contains("\"events\":[[500,1,1],[800,2,1]]"), "{s}");
        buf.extend_from_slice(b"{\"id\":4,\"sched"); // torn last line
        let (recs, torn) = read_jsonl(&buf[..]).unwrap();
        assert_eq!((recs.len(), torn), (2, 1));
        assert_eq!(recs[0], r);
        let mut bad = b"{oops}\n".to_vec();
        write_jsonl(&mut bad, &r).unwrap();
        assert!(read_jsonl(&bad[..]).unwrap_err().starts_with("line 1"));
    }

    #[test]
    fn record_error_names_match_summary_names() {
        let all = ErrorClass::ALL;
        for c in all {
            let json = serde_json::to_string(&c).unwrap();
            assert_eq!(json, format!("\"{}\"", c.as_str()));
            assert_eq!(serde_json::from_str::<ErrorClass>(&json).unwrap(), c);
        }
        let old: ErrorClass = serde_json::from_str("\"http5xx\"").unwrap();
        assert_eq!(old, ErrorClass::Http5xx);
    }

    #[test]
    fn token_event_is_compact() {
        assert_eq!(std::mem::size_of::<TokenEvent>(), 8);
        let e = TokenEvent::new(123_456, 70_000, kind::REASONING | kind::TOOL);
        assert_eq!((e.t_us(), e.tokens(), e.kind()), (123_456, 70_000, 6));
        assert_eq!(serde_json::to_string(&e).ok().as_deref(), Some("[123456,70000,6]"));
        let back: TokenEvent = serde_json::from_str("[123456,70000,6]").expect("event");
        assert_eq!(back, e);
        let big = TokenEvent::new(1, u32::MAX, kind::CONTENT);
        assert_eq!((big.tokens(), big.kind()), (TokenEvent::MAX_TOKENS, kind::CONTENT));
    }

    /// Regression (found in review; `torn_tail_at_any_byte` fails on the old reader): `kill -9`
    /// can cut a line inside a multi-byte character; that torn tail used to fail the whole
    /// file as invalid UTF-8.
    #[test]
    fn torn_tail_inside_a_utf8_character_is_tolerated() {
        let r = RequestRecord {
            error: Some(ErrorClass::Http5xx),
            error_detail: Some("HTTP 503: surchargé — réessayez".into()),
            ..Default::default()
        };
        let mut buf = Vec::new();
        write_jsonl(&mut buf, &r).unwrap();
        let mut line = Vec::new();
        write_jsonl(&mut line, &r).unwrap();
        let cut = line.iter().position(|&b| b >= 0x80).unwrap() + 1; // inside 'é'
        buf.extend_from_slice(&line[..cut]);
        assert_eq!(read_jsonl(&buf[..]).unwrap(), (vec![r], 1));
        // Invalid UTF-8 on a line that is not the last is still an error naming it.
        let mut bad = line[..cut].to_vec();
        bad.push(b'\n');
        bad.extend_from_slice(&line);
        assert!(read_jsonl(&bad[..]).unwrap_err().starts_with("line 1: "));
    }

    mod props {
        use super::super::*;
        use proptest::prelude::*;

        fn error_class() -> impl Strategy<Value = ErrorClass> {
            prop::sample::select(ErrorClass::ALL.to_vec())
        }

        fn token_count() -> impl Strategy<Value = TokenCount> {
            (any::<Option<u32>>(), any::<Option<u32>>()).prop_map(|(server, client)| TokenCount { server, client })
        }

        /// Any record the writer can produce, text fields with arbitrary Unicode.
        pub(crate) fn record() -> impl Strategy<Value = RequestRecord> {
            let times = (
                any::<u64>(),
                any::<bool>(),
                any::<u64>(),
                any::<u64>(),
                any::<u64>(),
                any::<u64>(),
                any::<u32>(),
                any::<u64>(),
                any::<Option<u32>>(),
                any::<Option<u32>>(),
            );
            let body = (
                prop::collection::vec(any::<(u32, u32, u8)>(), 0..6),
                any::<u32>(),
                any::<u64>(),
                token_count(),
                token_count(),
                any::<Option<u32>>(),
                any::<Option<u32>>(),
                any::<bool>(),
                any::<u32>(),
                any::<u16>(),
            );
            let outcome = (
                prop::option::of("\\PC{0,12}"),
                prop::option::of(error_class()),
                prop::option::of("\\PC{0,40}"),
            );
            (times, body, outcome).prop_map(|(t, b, o)| RequestRecord {
                id: t.0,
                warmup: t.1,
                sched_us: t.2,
                start_us: t.3,
                queue_us: t.4,
                connect_us: t.5,
                stale_connection_retries: t.6,
                send_us: t.7,
                hdr_us: t.8,
                end_us: t.9,
                events: b.0.into_iter().map(|(a, n, k)| TokenEvent::new(a, n, k)).collect(),
                frames: b.1,
                bytes: b.2,
                input_tokens: b.3,
                output_tokens: b.4,
                cached_tokens: b.5,
                reasoning_tokens: b.6,
                event_token_source: if b.7 {
                    EventTokenSource::Usage
                } else {
                    EventTokenSource::Tokenizer
                },
                max_tokens: b.8,
                status: b.9,
                finish_reason: o.0,
                error: o.1,
                error_detail: o.2,
                ..Default::default()
            })
        }

        fn to_jsonl(records: &[RequestRecord]) -> Vec<u8> {
            let mut buf = Vec::new();
            for r in records {
                write_jsonl(&mut buf, r).unwrap();
            }
            buf
        }

        /// The fields a record cannot do without.
        const MIN: &str =
            r#""id":1,"sched_us":0,"start_us":0,"send_us":0,"input_tokens":{},"output_tokens":{},"max_tokens":1"#;

        #[test]
        fn minimal_record_parses() {
            assert!(serde_json::from_str::<RequestRecord>(&format!("{{{MIN}}}")).is_ok());
        }

        /// One line (no newline) that is not a record: random bytes, a torn record, a record
        /// with a wrong-typed field, or JSON that is not a record.
        fn junk_line() -> impl Strategy<Value = Vec<u8>> {
            let torn = (record(), any::<prop::sample::Index>()).prop_map(|(r, cut)| {
                let line = serde_json::to_vec(&r).unwrap();
                line[..1 + cut.index(line.len() - 1)].to_vec()
            });
            prop_oneof![
                prop::collection::vec(any::<u8>(), 0..40).prop_map(|mut j| {
                    j.retain(|&b| b != b'\n');
                    j.insert(0, b'#');
                    j
                }),
                torn,
                Just(b"{}".to_vec()),
                Just(b"[]".to_vec()),
                Just(format!("{{{MIN}}}").replace("\"id\":1", "\"id\":-1").into_bytes()),
                Just(format!("{{{MIN},\"error\":\"nope\"}}").into_bytes()),
                Just(format!("{{{MIN},\"events\":[[1,2]]}}").into_bytes()),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            /// Whatever was written is read back exactly, nothing counted as torn.
            #[test]
            fn roundtrip(records in prop::collection::vec(record(), 0..8)) {
                let (back, torn) = read_jsonl(&to_jsonl(&records)[..]).unwrap();
                prop_assert_eq!(back, records);
                prop_assert_eq!(torn, 0);
            }

            /// A write cut at any byte (even inside a UTF-8 character) loses only that line.
            #[test]
            fn torn_tail_at_any_byte(records in prop::collection::vec(record(), 0..5), last in record(),
                                     cut in any::<prop::sample::Index>()) {
                let mut buf = to_jsonl(&records);
                let line = to_jsonl(std::slice::from_ref(&last));
                let cut = cut.index(line.len() - 1); // strictly before the closing brace's newline
                buf.extend_from_slice(&line[..cut]);
                let (back, torn) = read_jsonl(&buf[..]).unwrap();
                prop_assert_eq!(back, records);
                prop_assert_eq!(torn, usize::from(cut > 0));
            }

            /// A bad line that is not the last is an error naming its line number.
            #[test]
            fn bad_middle_line_is_named(records in prop::collection::vec(record(), 1..5),
                                        at in any::<prop::sample::Index>(),
                                        junk in junk_line()) {
                let at = at.index(records.len());
                let mut buf = to_jsonl(&records[..at]);
                buf.extend_from_slice(&junk);
                buf.push(b'\n');
                buf.extend_from_slice(&to_jsonl(&records[at..]));
                let err = read_jsonl(&buf[..]).unwrap_err();
                prop_assert!(err.starts_with(&format!("line {}: ", at + 1)), "{}", err);
                prop_assert!(!err.contains('\n'), "{}", err);
            }

            /// Arbitrary bytes never panic; what is read is exactly the lines that parse, and
            /// only the last line may be skipped as torn.
            #[test]
            fn arbitrary_bytes(bytes in prop::collection::vec(
                prop_oneof![any::<u8>(), Just(b'\n'), Just(b'{'), Just(b'}'), Just(b'"')], 0..512)) {
                let expected: Vec<Result<RequestRecord, ()>> = bytes
                    .split(|&b| b == b'\n')
                    .filter(|l| !l.trim_ascii().is_empty())
                    .map(|l| serde_json::from_slice(l).map_err(|_| ()))
                    .collect();
                match read_jsonl(&bytes[..]) {
                    Ok((back, torn)) => {
                        let ok: Vec<RequestRecord> = expected.iter().filter_map(|r| r.clone().ok()).collect();
                        prop_assert_eq!(back, ok);
                        prop_assert_eq!(torn, expected.len() - expected.iter().filter(|r| r.is_ok()).count());
                        prop_assert!(torn <= 1);
                    }
                    Err(e) => {
                        prop_assert!(e.starts_with("line ") && !e.contains('\n'), "{}", e);
                        prop_assert!(expected.iter().filter(|r| r.is_err()).count() >= 1);
                    }
                }
            }
        }
    }
}
