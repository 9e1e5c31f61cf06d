//! Fault injection for the simulated server: which fault (if any) each request gets, and the
//! bytes a faulty response carries.
//!
//! Why: every row of the client's fault matrix (HTTP errors, resets, truncation, stalls,
//! malformed or oversized events...) must be reproducible on demand, so the client's error
//! classification can be tested end to end against a real socket. A plan comes from repeatable
//! `--fault KIND=PROB` flags; the fault of request number `n` is drawn from the sim seed and
//! `n` alone, so the same seed and flags fault the same requests in every run. No I/O here:
//! the socket-level half (resets, a throttled response head) is in [`super::fault_conn`].

use crate::util::Rng;
use std::fmt::Write as _;
use std::sync::OnceLock;
use std::time::Duration;

/// One kind of fault. The names (`as_str`) are part of the command-line contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultKind {
    /// HTTP 429 with a JSON error body and `Retry-After`.
    Http429,
    /// HTTP 500 with a JSON error body.
    Http500Json,
    /// HTTP 503 with an HTML error page.
    Http503Html,
    /// The connection is reset (TCP RST) after the request was read, before any response byte.
    ResetBeforeHeaders,
    /// The connection is reset (TCP RST) after some tokens were streamed.
    ResetMidStream,
    /// The stream ends cleanly after some tokens, without a finish reason and without `[DONE]`.
    Truncated,
    /// An `{"error": {...}}` object is sent as an event after some tokens, then `[DONE]`.
    ErrorEvent,
    /// The stream goes silent for the stall time after some tokens, then continues.
    Stall,
    /// The response head is sent only after the delay.
    SlowFirstByte,
    /// An event whose data is not valid JSON, after some tokens.
    MalformedJson,
    /// An event whose data is not valid UTF-8, after some tokens.
    InvalidUtf8,
    /// A single SSE line of about 10 MB, after some tokens.
    HugeLine,
    /// The response head trickles out a few bytes at a time over the delay.
    SlowHeaders,
    /// A streaming request is answered with HTTP 200 and an HTML page.
    NotSse,
}

impl FaultKind {
    pub const ALL: [FaultKind; 14] = [
        FaultKind::Http429,
        FaultKind::Http500Json,
        FaultKind::Http503Html,
        FaultKind::ResetBeforeHeaders,
        FaultKind::ResetMidStream,
        FaultKind::Truncated,
        FaultKind::ErrorEvent,
        FaultKind::Stall,
        FaultKind::SlowFirstByte,
        FaultKind::MalformedJson,
        FaultKind::InvalidUtf8,
        FaultKind::HugeLine,
        FaultKind::SlowHeaders,
        FaultKind::NotSse,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::Http429 => "http_429",
            FaultKind::Http500Json => "http_500_json",
            FaultKind::Http503Html => "http_503_html",
            FaultKind::ResetBeforeHeaders => "reset_before_headers",
            FaultKind::ResetMidStream => "reset_mid_stream",
            FaultKind::Truncated => "truncated",
            FaultKind::ErrorEvent => "error_event",
            FaultKind::Stall => "stall",
            FaultKind::SlowFirstByte => "slow_first_byte",
            FaultKind::MalformedJson => "malformed_json",
            FaultKind::InvalidUtf8 => "invalid_utf8",
            FaultKind::HugeLine => "huge_line",
            FaultKind::SlowHeaders => "slow_headers",
            FaultKind::NotSse => "not_sse",
        }
    }

    pub fn parse(s: &str) -> Option<FaultKind> {
        FaultKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Faults that strike inside a token stream, after some tokens were sent. A request that
    /// is not streamed is served normally when it draws one of these.
    pub fn is_mid_stream(self) -> bool {
        matches!(
            self,
            FaultKind::ResetMidStream
                | FaultKind::Truncated
                | FaultKind::ErrorEvent
                | FaultKind::Stall
                | FaultKind::MalformedJson
                | FaultKind::InvalidUtf8
                | FaultKind::HugeLine
        )
    }

    fn names() -> String {
        FaultKind::ALL.map(FaultKind::as_str).join(", ")
    }
}

/// Default `--fault-stall-ms` and `--fault-delay-ms`.
pub const DEFAULT_FAULT_MS: u64 = 30_000;

/// Which faults to inject and how often, plus the durations of the timing faults.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultPlan {
    /// Each kind at most once, with its probability per request; the sum is at most 1.
    pub faults: Vec<(FaultKind, f64)>,
    /// How long a `stall` keeps the stream silent.
    pub stall: Duration,
    /// How late a `slow_first_byte` head is, and how long a `slow_headers` head takes.
    pub delay: Duration,
}

impl Default for FaultPlan {
    fn default() -> Self {
        FaultPlan {
            faults: Vec::new(),
            stall: Duration::from_millis(DEFAULT_FAULT_MS),
            delay: Duration::from_millis(DEFAULT_FAULT_MS),
        }
    }
}

/// Salt of the fault draws: independent of the streams that pick lengths and timings.
const FAULT_STREAM_SALT: u64 = 0xFA17_5EED_0BAD_C0DE;

impl FaultPlan {
    /// Parse repeatable `KIND=PROB` specs. Errors are one line.
    pub fn parse(specs: &[String], stall_ms: u64, delay_ms: u64) -> Result<FaultPlan, String> {
        let mut faults: Vec<(FaultKind, f64)> = Vec::new();
        for spec in specs {
            let (name, prob) = spec
                .split_once('=')
                .ok_or_else(|| format!("invalid --fault '{spec}': expected KIND=PROB, e.g. http_429=0.1"))?;
            let kind = FaultKind::parse(name.trim()).ok_or_else(|| {
                format!(
                    "unknown fault kind '{}' in --fault '{spec}' (valid: {})",
                    name.trim(),
                    FaultKind::names()
                )
            })?;
            let p: f64 = prob
                .trim()
                .parse()
                .map_err(|_| format!("invalid probability in --fault '{spec}': expected a number in [0, 1]"))?;
            if !(0.0..=1.0).contains(&p) {
                return Err(format!("invalid probability in --fault '{spec}': must be in [0, 1]"));
            }
            if faults.iter().any(|(k, _)| *k == kind) {
                return Err(format!("--fault {} given more than once", kind.as_str()));
            }
            faults.push((kind, p));
        }
        let sum: f64 = faults.iter().map(|(_, p)| p).sum();
        if sum > 1.0 + 1e-9 {
            return Err(format!(
                "--fault probabilities add up to {sum:.3}: the sum must be at most 1"
            ));
        }
        faults.retain(|(_, p)| *p > 0.0);
        Ok(FaultPlan {
            faults,
            stall: Duration::from_millis(stall_ms),
            delay: Duration::from_millis(delay_ms),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.faults.is_empty()
    }

    /// The fault of generation request number `n` (0-based, in arrival order at the server).
    pub fn pick(&self, seed: u64, n: u64) -> Option<FaultKind> {
        if self.faults.is_empty() {
            return None;
        }
        let u = Rng::stream(seed ^ FAULT_STREAM_SALT, n).f64();
        let mut acc = 0.0;
        for &(kind, p) in &self.faults {
            acc += p;
            if u < acc {
                return Some(kind);
            }
        }
        None
    }

    /// One line for the console, e.g. `http_429 20%, stall 5% (stall 30000 ms)`.
    pub fn describe(&self) -> String {
        if self.faults.is_empty() {
            return "none".into();
        }
        let mut s = self
            .faults
            .iter()
            .map(|(k, p)| {
                let pct = format!("{:.3}", p * 100.0);
                format!("{} {}%", k.as_str(), pct.trim_end_matches('0').trim_end_matches('.'))
            })
            .collect::<Vec<_>>()
            .join(", ");
        let stall = self.faults.iter().any(|(k, _)| *k == FaultKind::Stall);
        let delay = self
            .faults
            .iter()
            .any(|(k, _)| matches!(k, FaultKind::SlowFirstByte | FaultKind::SlowHeaders));
        let mut extra = Vec::new();
        if stall {
            extra.push(format!("stall {} ms", self.stall.as_millis()));
        }
        if delay {
            extra.push(format!("delay {} ms", self.delay.as_millis()));
        }
        if !extra.is_empty() {
            let _ = write!(s, " ({})", extra.join(", "));
        }
        s
    }
}

/// The number of tokens streamed before a mid-stream fault strikes: half of the output
/// (at least one token, so the client has measured its TTFT).
pub fn strike_after(n_out: u32) -> u32 {
    (n_out / 2).max(1)
}

/// Body of the `http_429` response.
pub const HTTP_429_JSON: &str =
    r#"{"error":{"message":"simulated rate limit: too many requests","type":"RateLimitError","code":429}}"#;

/// Body of the `http_500_json` response.
pub const HTTP_500_JSON: &str =
    r#"{"error":{"message":"simulated internal server error","type":"InternalServerError","code":500}}"#;

/// Body of the `http_503_html` response: what a reverse proxy in front of a dead engine sends.
pub const HTTP_503_HTML: &str = "<!DOCTYPE html>\n<html>\n<head><title>503 Service Temporarily Unavailable</title></head>\n<body>\n<center><h1>503 Service Temporarily Unavailable</h1></center>\n<hr><center>infermeter-sim</center>\n</body>\n</html>\n";

/// Body of the `not_sse` response: a login page, as a misrouted request might get.
pub const NOT_SSE_HTML: &str = "<!DOCTYPE html>\n<html>\n<head><title>Sign in</title></head>\n<body><form action=\"/login\"><input name=\"user\"></form></body>\n</html>\n";

/// The `error_event` event (vLLM's shape of an error raised during generation).
pub const ERROR_EVENT: &str = "data: {\"error\":{\"message\":\"simulated engine error during generation\",\"type\":\"InternalServerError\",\"code\":500}}\n\n";

/// The `malformed_json` event: a chunk cut off in the middle of its JSON.
pub const MALFORMED_EVENT: &str =
    "data: {\"id\":\"cmpl-sim\",\"object\":\"text_completion\",\"choices\":[{\"index\":0,\"text\":\" the\n\n";

/// The `invalid_utf8` event: a well-formed chunk whose text holds bytes that are not UTF-8.
pub const INVALID_UTF8_EVENT: &[u8] =
    b"data: {\"id\":\"cmpl-sim\",\"object\":\"text_completion\",\"choices\":[{\"index\":0,\"text\":\" \xff\xfe\xc3\x28\",\"finish_reason\":null}]}\n\n";

/// Size of the `huge_line` event.
pub const HUGE_LINE_BYTES: usize = 10 << 20;

/// The `huge_line` event: one `data:` line of [`HUGE_LINE_BYTES`], built once and shared.
pub fn huge_line() -> bytes::Bytes {
    static LINE: OnceLock<bytes::Bytes> = OnceLock::new();
    LINE.get_or_init(|| {
        let head = b"data: {\"choices\":[{\"index\":0,\"text\":\"";
        let tail = b"\",\"finish_reason\":null}]}\n\n";
        let mut v = Vec::with_capacity(HUGE_LINE_BYTES);
        v.extend_from_slice(head);
        v.resize(HUGE_LINE_BYTES - tail.len(), b'x');
        v.extend_from_slice(tail);
        bytes::Bytes::from(v)
    })
    .clone()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::openai::{decode_chunk, ChunkOutcome};
    use crate::client::sse;

    fn specs(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn parses_kinds_and_rejects_bad_specs() {
        let p = FaultPlan::parse(&specs(&["http_429=0.2", "stall=0.05"]), 100, 200).unwrap();
        assert_eq!(p.faults, vec![(FaultKind::Http429, 0.2), (FaultKind::Stall, 0.05)]);
        assert_eq!(
            (p.stall, p.delay),
            (Duration::from_millis(100), Duration::from_millis(200))
        );
        assert_eq!(p.describe(), "http_429 20%, stall 5% (stall 100 ms)");
        let p = FaultPlan::parse(&specs(&["not_sse=0.07", "slow_headers=0.0125"]), 1, 2).unwrap();
        assert_eq!(p.describe(), "not_sse 7%, slow_headers 1.25% (delay 2 ms)");
        for k in FaultKind::ALL {
            assert_eq!(FaultKind::parse(k.as_str()), Some(k));
        }
        let err = FaultPlan::parse(&specs(&["nope=0.1"]), 1, 1).unwrap_err();
        assert!(err.contains("unknown fault kind 'nope'") && err.contains("http_503_html, reset_before_headers"));
        assert!(!err.contains('\n'));
        assert!(FaultPlan::parse(&specs(&["http_429"]), 1, 1)
            .unwrap_err()
            .contains("KIND=PROB"));
        assert!(FaultPlan::parse(&specs(&["http_429=1.5"]), 1, 1)
            .unwrap_err()
            .contains("[0, 1]"));
        assert!(FaultPlan::parse(&specs(&["http_429=x"]), 1, 1)
            .unwrap_err()
            .contains("[0, 1]"));
        assert!(FaultPlan::parse(&specs(&["http_429=-0.1"]), 1, 1).is_err());
        assert!(FaultPlan::parse(&specs(&["http_429=NaN"]), 1, 1).is_err());
        let err = FaultPlan::parse(&specs(&["http_429=0.6", "truncated=0.5"]), 1, 1).unwrap_err();
        assert!(err.contains("at most 1"), "{err}");
        assert!(FaultPlan::parse(&specs(&["stall=0.1", "stall=0.2"]), 1, 1)
            .unwrap_err()
            .contains("more than once"));
        assert!(FaultPlan::parse(&specs(&["http_429=0.5", "not_sse=0.5"]), 1, 1).is_ok());
        assert!(FaultPlan::parse(&specs(&["http_429=0"]), 1, 1).unwrap().is_empty());
    }

    #[test]
    fn picks_are_deterministic_and_follow_the_probabilities() {
        let p = FaultPlan::parse(&specs(&["http_429=0.25", "truncated=0.5"]), 1, 1).unwrap();
        let draws: Vec<_> = (0..20_000).map(|n| p.pick(7, n)).collect();
        assert_eq!(draws, (0..20_000).map(|n| p.pick(7, n)).collect::<Vec<_>>());
        let share = |k| draws.iter().filter(|d| **d == k).count() as f64 / draws.len() as f64;
        assert!((share(Some(FaultKind::Http429)) - 0.25).abs() < 0.02);
        assert!((share(Some(FaultKind::Truncated)) - 0.5).abs() < 0.02);
        assert!((share(None) - 0.25).abs() < 0.02);
        assert_ne!(draws, (0..20_000).map(|n| p.pick(8, n)).collect::<Vec<_>>());
        let all = FaultPlan::parse(&specs(&["not_sse=1"]), 1, 1).unwrap();
        assert!((0..100).all(|n| all.pick(0, n) == Some(FaultKind::NotSse)));
        assert!((0..100).all(|n| FaultPlan::default().pick(0, n).is_none()));
    }

    #[test]
    fn payloads_are_what_their_names_say() {
        let one = |bytes: &[u8]| {
            let ev = sse::parse_all(bytes).unwrap();
            assert_eq!(ev.len(), 1);
            ev[0].1.clone()
        };
        assert!(matches!(
            decode_chunk(&one(ERROR_EVENT.as_bytes())),
            Ok(ChunkOutcome::ServerError(_))
        ));
        let bad = one(MALFORMED_EVENT.as_bytes());
        assert!(std::str::from_utf8(&bad).is_ok() && decode_chunk(&bad).is_err());
        let bad = one(INVALID_UTF8_EVENT);
        assert!(std::str::from_utf8(&bad).is_err() && decode_chunk(&bad).is_err());
        let huge = huge_line();
        assert_eq!(huge.len(), HUGE_LINE_BYTES);
        assert_eq!(memchr::memchr(b'\n', &huge), Some(HUGE_LINE_BYTES - 2));
        assert!(serde_json::from_str::<serde_json::Value>(HTTP_500_JSON).is_ok());
        assert!(serde_json::from_str::<serde_json::Value>(HTTP_429_JSON).is_ok());
        assert_eq!(strike_after(1), 1);
        assert_eq!(strike_after(7), 3);
    }
}
