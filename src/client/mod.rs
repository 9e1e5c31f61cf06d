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

mod errors;
mod exec;

pub use exec::{execute, execute_keeping_reply};

use crate::record::ErrorClass;
use crate::workload::Tokenizer;
use h1::H1Error;
use http::{HeaderMap, HeaderValue};
use openai::BodyOptions;
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

pub(crate) type Failure = (ErrorClass, String);

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
    let stream = rx::TcpIo::new(stream).map_err(|e| (ErrorClass::ConnectError, format!("connect to {addr}: {e}")))?;
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

    fn read_time(&self) -> Option<Instant> {
        match self {
            Stream::Plain(s) => s.read_time(),
            // TLS may return plaintext from an earlier socket read: "now".
            Stream::Tls(_) => None,
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

pub(crate) enum ReadOutcome {
    Complete,
    TooLarge,
    Timeout(ErrorClass),
    Broken(String),
}

/// Read a whole (non-streamed or error) body, up to `limit` bytes.
pub(crate) async fn read_bounded<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + rx::RxTime + Unpin>(
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
