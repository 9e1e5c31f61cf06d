//! A minimal HTTP/1.1 client connection, owned by the one task that measures the request.
//!
//! Why not hyper's client: hyper runs each connection as its own task and hands body frames
//! to the request task over a channel, so every frame costs two task wake-ups and every
//! connection carries a request channel, a write buffer and a read buffer (~22 KiB in all,
//! measured with heaptrack at 2,000 streams). A benchmark client needs much less: send one
//! request, parse one response head, and hand out body bytes the moment the socket read
//! returns them, stamped with that read's time. Here the request task reads the socket itself
//! (one wake-up per read), body bytes are served straight from the read buffer, and a
//! connection costs one buffer that starts at 4 KiB and grows only while a read fills it.
//!
//! What is supported: `Content-Length`, `Transfer-Encoding: chunked` (extensions and trailers
//! skipped) and close-delimited bodies; `1xx` interim responses are skipped; keep-alive per
//! HTTP/1.1 rules (`Connection: close`, HTTP/1.0). Response heads are bounded (64 KiB, 64
//! headers) and so are chunk-size lines and trailers: hostile input cannot grow memory.
//! The framing logic ([`parse_head`], [`Chunked`]) is pure and tested without sockets.

use super::rx::{LagHistogram, RxTime, RxTimestamp, SharedLag};
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};

/// Largest response head accepted.
pub const MAX_HEAD: usize = 64 * 1024;
/// First size of a connection's read buffer.
const INITIAL_BUF: usize = 4 * 1024;
/// The read buffer doubles while reads fill it, up to this size.
const MAX_BUF: usize = 64 * 1024;
/// Longest chunk-size line (with extensions) accepted.
const MAX_CHUNK_LINE: usize = 4 * 1024;
/// Most trailer bytes skipped after the last chunk.
const MAX_TRAILERS: usize = 16 * 1024;

/// Why a connection could not deliver a response.
#[derive(Debug)]
pub enum H1Error {
    /// The socket failed.
    Io(io::Error),
    /// The peer closed the connection before the head or body was complete.
    Closed,
    /// The response is not valid HTTP/1.x.
    Malformed(String),
}

impl std::fmt::Display for H1Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            H1Error::Io(e) => write!(f, "{e}"),
            H1Error::Closed => f.write_str("connection closed by the server"),
            H1Error::Malformed(m) => write!(f, "invalid HTTP response: {m}"),
        }
    }
}

impl std::error::Error for H1Error {}

/// How the response body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    Length(u64),
    Chunked,
    /// Until the server closes the connection.
    Close,
}

/// The parts of a response head a benchmark needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub status: u16,
    /// `Content-Type`, lower-cased (empty when absent).
    pub content_type: String,
    pub framing: Framing,
    /// Whether the connection may carry another request after this response.
    pub keep_alive: bool,
    /// `Retry-After` (delay-seconds, or an HTTP date converted to a delay from now).
    pub retry_after: Option<std::time::Duration>,
}

/// A `Retry-After` value: delay-seconds or an HTTP date (a date in the past is no delay).
pub fn parse_retry_after(v: &str) -> Option<std::time::Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(std::time::Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(at.duration_since(std::time::SystemTime::now()).unwrap_or_default())
}

/// Parse a response head from the start of `buf`: `Ok(None)` when it is not complete yet,
/// else the head and the number of bytes it took.
pub fn parse_head(buf: &[u8]) -> Result<Option<(Head, usize)>, H1Error> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut headers);
    let n = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(H1Error::Malformed(e.to_string())),
    };
    let status = resp.code.unwrap_or(0);
    let http10 = resp.version == Some(0);
    let mut content_type = String::new();
    let mut length: Option<u64> = None;
    let mut chunked = false;
    let mut close = http10;
    let mut retry_after = None;
    for h in resp.headers.iter() {
        let v = String::from_utf8_lossy(h.value);
        if h.name.eq_ignore_ascii_case("content-type") {
            content_type = v.trim().to_ascii_lowercase();
        } else if h.name.eq_ignore_ascii_case("content-length") {
            let l: u64 = v
                .trim()
                .parse()
                .map_err(|_| H1Error::Malformed(format!("bad Content-Length '{}'", v.trim())))?;
            if length.is_some_and(|prev| prev != l) {
                return Err(H1Error::Malformed("conflicting Content-Length headers".into()));
            }
            length = Some(l);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            // Only the last coding decides whether the body is chunked.
            chunked = v
                .rsplit(',')
                .next()
                .is_some_and(|c| c.trim().eq_ignore_ascii_case("chunked"));
        } else if h.name.eq_ignore_ascii_case("retry-after") {
            retry_after = parse_retry_after(&v);
        } else if h.name.eq_ignore_ascii_case("connection") {
            for t in v.split(',').map(str::trim) {
                if t.eq_ignore_ascii_case("close") {
                    close = true;
                } else if t.eq_ignore_ascii_case("keep-alive") && http10 {
                    close = false;
                }
            }
        }
    }
    let framing = if status == 204 || status == 304 || (100..200).contains(&status) {
        Framing::Length(0)
    } else if chunked {
        Framing::Chunked
    } else if let Some(l) = length {
        Framing::Length(l)
    } else {
        Framing::Close
    };
    let keep_alive = !close && framing != Framing::Close;
    Ok(Some((
        Head {
            status,
            content_type,
            framing,
            keep_alive,
            retry_after,
        },
        n,
    )))
}

/// What the chunked decoder found in its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Piece {
    /// Body data at `input[start..start + len]`.
    Data { start: usize, len: usize },
    /// More input is needed.
    NeedMore,
    /// The last chunk and the trailers are done.
    End,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    Size,
    Data(u64),
    DataEnd,
    Trailers(usize),
    Done,
}

/// Incremental `Transfer-Encoding: chunked` decoder over a caller-owned buffer.
#[derive(Debug, Clone)]
pub struct Chunked {
    state: ChunkState,
}

impl Default for Chunked {
    fn default() -> Self {
        Chunked {
            state: ChunkState::Size,
        }
    }
}

impl Chunked {
    /// Decode from `input`: returns how many bytes of `input` were consumed and what was found.
    /// Unconsumed bytes must be offered again, followed by more input.
    pub fn next(&mut self, input: &[u8]) -> Result<(usize, Piece), H1Error> {
        let mut used = 0;
        loop {
            let rest = &input[used..];
            match self.state {
                ChunkState::Done => return Ok((used, Piece::End)),
                ChunkState::Size => {
                    let Some(nl) = rest.iter().take(MAX_CHUNK_LINE).position(|&b| b == b'\n') else {
                        if rest.len() >= MAX_CHUNK_LINE {
                            return Err(H1Error::Malformed("chunk-size line too long".into()));
                        }
                        return Ok((used, Piece::NeedMore));
                    };
                    let line = &rest[..nl];
                    let line = line.strip_suffix(b"\r").unwrap_or(line);
                    let hex = line.split(|&b| b == b';').next().unwrap_or(&[]);
                    let hex = std::str::from_utf8(hex).map_err(|_| H1Error::Malformed("chunk size".into()))?;
                    let hex = hex.trim();
                    if hex.is_empty() || hex.len() > 15 {
                        return Err(H1Error::Malformed(format!("chunk size '{hex}'")));
                    }
                    let size =
                        u64::from_str_radix(hex, 16).map_err(|_| H1Error::Malformed(format!("chunk size '{hex}'")))?;
                    used += nl + 1;
                    self.state = if size == 0 {
                        ChunkState::Trailers(0)
                    } else {
                        ChunkState::Data(size)
                    };
                }
                ChunkState::Data(rem) => {
                    if rest.is_empty() {
                        return Ok((used, Piece::NeedMore));
                    }
                    let n = (rest.len() as u64).min(rem) as usize;
                    self.state = if rem == n as u64 {
                        ChunkState::DataEnd
                    } else {
                        ChunkState::Data(rem - n as u64)
                    };
                    return Ok((used + n, Piece::Data { start: used, len: n }));
                }
                ChunkState::DataEnd => match rest {
                    [b'\r', b'\n', ..] => {
                        used += 2;
                        self.state = ChunkState::Size;
                    }
                    [b'\n', ..] => {
                        used += 1;
                        self.state = ChunkState::Size;
                    }
                    [] | [b'\r'] => return Ok((used, Piece::NeedMore)),
                    _ => return Err(H1Error::Malformed("missing CRLF after chunk data".into())),
                },
                ChunkState::Trailers(seen) => {
                    let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
                        if seen + rest.len() > MAX_TRAILERS {
                            return Err(H1Error::Malformed("trailers too long".into()));
                        }
                        return Ok((used, Piece::NeedMore));
                    };
                    let line = &rest[..nl];
                    let empty = line.is_empty() || line == b"\r";
                    used += nl + 1;
                    if seen + nl + 1 > MAX_TRAILERS {
                        return Err(H1Error::Malformed("trailers too long".into()));
                    }
                    self.state = if empty {
                        ChunkState::Done
                    } else {
                        ChunkState::Trailers(seen + nl + 1)
                    };
                }
            }
        }
    }
}

#[derive(Debug, Clone)]
enum Body {
    /// No response in progress (before the head, or after a complete body).
    Idle,
    Length(u64),
    Chunked(Chunked),
    Close,
    /// The body ended; the connection is reusable when `keep_alive` says so.
    Done,
}

/// One HTTP/1.1 connection.
pub struct Conn<S> {
    io: S,
    /// Read buffer: bytes `pos..end` are received and not yet consumed.
    buf: Vec<u8>,
    pos: usize,
    end: usize,
    body: Body,
    keep_alive: bool,
    /// A response is expected (a request was sent and its response is not finished).
    busy: bool,
    /// Bytes received since the last request was sent.
    received: u64,
    last_read: Instant,
    /// Read lag of this connection (read return − kernel arrival), handed to `lag_sink`
    /// when the connection is dropped.
    lag: LagHistogram,
    lag_sink: Option<Arc<SharedLag>>,
    /// Stamp data with the kernel's arrival time where the stream has one.
    kernel_time: bool,
    /// Read lag of the latest read (zero when the kernel gave no stamp).
    last_lag: std::time::Duration,
}

impl<S> Drop for Conn<S> {
    fn drop(&mut self) {
        if let Some(sink) = &self.lag_sink {
            sink.absorb(&mut self.lag);
        }
    }
}

impl<S: AsyncRead + AsyncWrite + RxTime + Unpin> Conn<S> {
    /// A connection whose read lag is added to `sink` when it is dropped; `mode` says whether
    /// data carries the kernel's arrival time (where known) or the read's return time.
    pub fn with_lag_sink(io: S, sink: Arc<SharedLag>, mode: RxTimestamp) -> Self {
        let mut c = Conn::new(io);
        c.lag_sink = Some(sink);
        c.kernel_time = mode == RxTimestamp::Kernel;
        c
    }

    pub fn new(io: S) -> Self {
        Conn {
            io,
            buf: Vec::new(),
            pos: 0,
            end: 0,
            body: Body::Idle,
            keep_alive: true,
            busy: false,
            received: 0,
            last_read: Instant::now(),
            lag: LagHistogram::default(),
            lag_sink: None,
            kernel_time: true,
            last_lag: std::time::Duration::ZERO,
        }
    }

    /// The arrival time of the bytes the most recent socket read brought: the kernel's receive
    /// stamp where the stream has one ([`RxTime`]), else when the read returned.
    pub fn last_read(&self) -> Instant {
        self.last_read
    }

    /// `n` events delivered by the latest read shared its stamp with an earlier event of the
    /// same stream; counted as late when that read's lag exceeded [`super::rx::LATE_READ`].
    pub fn note_shared_stamps(&mut self, n: u64) {
        self.lag.note_shared(n, self.last_lag);
    }

    /// Bytes received since the last request was sent (0: the server said nothing at all).
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Whether another request may be sent: the previous response was read to its end, the
    /// server allowed keep-alive, nothing unexpected is buffered, and the peer has not closed
    /// the connection (checked without blocking).
    pub async fn reusable(&mut self) -> bool {
        if self.busy || !self.keep_alive || self.pos != self.end {
            return false;
        }
        let mut probe = [0u8; 1];
        let io = &mut self.io;
        poll_fn(|cx| {
            let mut rb = ReadBuf::new(&mut probe);
            match Pin::new(&mut *io).poll_read(cx, &mut rb) {
                Poll::Pending => Poll::Ready(true),
                // EOF, unexpected bytes or an error: not reusable.
                Poll::Ready(_) => Poll::Ready(false),
            }
        })
        .await
    }

    /// Send one complete request (head and body in `bytes`).
    pub async fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.busy = true;
        self.received = 0;
        self.body = Body::Idle;
        self.io.write_all(bytes).await?;
        self.io.flush().await
    }

    /// Read more bytes into the buffer; `Ok(0)` at end of stream.
    async fn fill(&mut self) -> io::Result<usize> {
        if self.pos == self.end {
            self.pos = 0;
            self.end = 0;
        }
        if self.buf.is_empty() {
            self.buf = vec![0; INITIAL_BUF];
        } else if self.end == self.buf.len() {
            if self.pos > 0 {
                self.buf.copy_within(self.pos..self.end, 0);
                self.end -= self.pos;
                self.pos = 0;
            } else if self.buf.len() < MAX_BUF.max(MAX_HEAD) {
                let n = (self.buf.len() * 2).min(MAX_BUF.max(MAX_HEAD));
                self.buf.resize(n, 0);
            }
        }
        if self.end == self.buf.len() {
            return Err(io::Error::other("read buffer full"));
        }
        let n = tokio::io::AsyncReadExt::read(&mut self.io, &mut self.buf[self.end..]).await?;
        if n > 0 {
            let now = self.io.read_time().unwrap_or_else(Instant::now);
            self.last_read = match self.io.rx_time() {
                Some(t) if t <= now => {
                    self.last_lag = now - t;
                    self.lag.record(self.last_lag);
                    if self.kernel_time {
                        t
                    } else {
                        now
                    }
                }
                _ => {
                    self.last_lag = std::time::Duration::ZERO;
                    self.lag.record_unstamped();
                    now
                }
            };
            self.end += n;
            self.received += n as u64;
            // A read that filled the buffer suggests a fast sender: grow for the next one.
            if self.end == self.buf.len() && self.pos == 0 && self.buf.len() < MAX_BUF {
                let n = (self.buf.len() * 2).min(MAX_BUF);
                self.buf.resize(n, 0);
            }
        }
        Ok(n)
    }

    /// Read the response head (skipping `1xx` interim responses).
    pub async fn read_head(&mut self) -> Result<Head, H1Error> {
        loop {
            match parse_head(&self.buf[self.pos..self.end])? {
                Some((head, n)) => {
                    self.pos += n;
                    if (100..200).contains(&head.status) && head.status != 101 {
                        continue;
                    }
                    self.keep_alive = head.keep_alive;
                    self.body = match head.framing {
                        Framing::Length(0) => Body::Done,
                        Framing::Length(l) => Body::Length(l),
                        Framing::Chunked => Body::Chunked(Chunked::default()),
                        Framing::Close => Body::Close,
                    };
                    if matches!(self.body, Body::Done) {
                        self.busy = false;
                    }
                    return Ok(head);
                }
                None => {
                    if self.end - self.pos >= MAX_HEAD {
                        return Err(H1Error::Malformed("response head over 64 KiB".into()));
                    }
                    match self.fill().await {
                        Ok(0) => return Err(H1Error::Closed),
                        Ok(_) => {}
                        Err(e) => return Err(H1Error::Io(e)),
                    }
                }
            }
        }
    }

    /// The next piece of body data, straight from the read buffer, with the time the socket
    /// read that brought it returned; `None` at the end of the body. Pieces are returned as
    /// soon as a read brings them.
    pub async fn next_data(&mut self) -> Result<Option<(Instant, &[u8])>, H1Error> {
        loop {
            let avail = self.end - self.pos;
            match &mut self.body {
                Body::Idle | Body::Done => return Ok(None),
                Body::Length(rem) => {
                    if avail > 0 {
                        let n = (avail as u64).min(*rem) as usize;
                        *rem -= n as u64;
                        if *rem == 0 {
                            self.body = Body::Done;
                            self.busy = false;
                        }
                        let start = self.pos;
                        self.pos += n;
                        return Ok(Some((self.last_read, &self.buf[start..start + n])));
                    }
                }
                Body::Chunked(dec) => {
                    let (used, piece) = dec.next(&self.buf[self.pos..self.end])?;
                    let base = self.pos;
                    self.pos += used;
                    match piece {
                        Piece::Data { start, len } => {
                            return Ok(Some((self.last_read, &self.buf[base + start..base + start + len])))
                        }
                        Piece::End => {
                            self.body = Body::Done;
                            self.busy = false;
                            return Ok(None);
                        }
                        Piece::NeedMore => {}
                    }
                }
                Body::Close => {
                    if avail > 0 {
                        let start = self.pos;
                        self.pos = self.end;
                        return Ok(Some((self.last_read, &self.buf[start..self.end])));
                    }
                }
            }
            match self.fill().await {
                Ok(0) if matches!(self.body, Body::Close) => {
                    self.body = Body::Done;
                    self.keep_alive = false;
                    self.busy = false;
                    return Ok(None);
                }
                Ok(0) => return Err(H1Error::Closed),
                Ok(_) => {}
                Err(e) => return Err(H1Error::Io(e)),
            }
        }
    }
}

/// Serialize a request: request line, `Host`, the given headers, `Content-Length`, body.
pub fn request_bytes(method: &str, path: &str, host: &str, headers: &[(&str, &[u8])], body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(128 + path.len() + body.len() + headers.len() * 32);
    out.extend_from_slice(method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(path.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\nHost: ");
    out.extend_from_slice(host.as_bytes());
    out.extend_from_slice(b"\r\n");
    for (k, v) in headers {
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(v);
        out.extend_from_slice(b"\r\n");
    }
    if method != "GET" || !body.is_empty() {
        out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn head(s: &str) -> Head {
        match parse_head(s.as_bytes()) {
            Ok(Some((h, n))) => {
                assert_eq!(n, s.len());
                h
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn heads_and_framing() {
        let h = head("HTTP/1.1 200 OK\r\nContent-Type: Text/Event-Stream\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert_eq!((h.status, h.content_type.as_str()), (200, "text/event-stream"));
        assert_eq!(h.framing, Framing::Chunked);
        assert!(h.keep_alive);
        let h = head("HTTP/1.1 200 OK\r\ncontent-length: 12\r\nConnection: close\r\n\r\n");
        assert_eq!(h.framing, Framing::Length(12));
        assert!(!h.keep_alive);
        let h = head("HTTP/1.0 200 OK\r\nContent-Type: text/event-stream\r\n\r\n");
        assert_eq!(h.framing, Framing::Close);
        assert!(!h.keep_alive);
        let h = head("HTTP/1.0 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n");
        assert!(h.keep_alive);
        assert_eq!(head("HTTP/1.1 204 No Content\r\n\r\n").framing, Framing::Length(0));
        assert!(matches!(parse_head(b"HTTP/1.1 200 OK\r\nContent-Le"), Ok(None)));
        assert!(parse_head(b"SSH-2.0-OpenSSH\r\n\r\n").is_err());
        assert!(parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n").is_err());
        assert!(parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n").is_err());
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        use std::time::{Duration, SystemTime};
        let h = head("HTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(h.retry_after, Some(Duration::from_secs(7)));
        assert_eq!(head("HTTP/1.1 503 x\r\nContent-Length: 0\r\n\r\n").retry_after, None);
        assert_eq!(parse_retry_after(" soon "), None);
        assert_eq!(parse_retry_after("-3"), None);
        // A date in the past means no wait; one ~2 minutes ahead, about 2 minutes.
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), Some(Duration::ZERO));
        let ahead = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(120));
        let d = parse_retry_after(&ahead).expect("date");
        assert!(
            (Duration::from_secs(118)..=Duration::from_secs(120)).contains(&d),
            "{d:?}"
        );
    }

    fn decode_all(wire: &[u8], splits: &[usize]) -> Result<Vec<u8>, String> {
        let mut dec = Chunked::default();
        let mut pending: Vec<u8> = Vec::new();
        let mut out = Vec::new();
        let mut cuts: Vec<usize> = splits.iter().map(|&s| s % (wire.len() + 1)).collect();
        cuts.push(wire.len());
        cuts.sort_unstable();
        let mut prev = 0;
        for c in cuts {
            pending.extend_from_slice(&wire[prev..c]);
            prev = c;
            loop {
                let (used, piece) = dec.next(&pending).map_err(|e| e.to_string())?;
                let data = match piece {
                    Piece::Data { start, len } => Some(pending[start..start + len].to_vec()),
                    _ => None,
                };
                pending.drain(..used);
                match (piece, data) {
                    (Piece::End, _) => return Ok(out),
                    (Piece::NeedMore, _) => break,
                    (_, Some(d)) => out.extend_from_slice(&d),
                    _ => {}
                }
            }
        }
        Err(format!("incomplete; got {} bytes", out.len()))
    }

    fn encode(body: &[u8], sizes: &[usize]) -> Vec<u8> {
        let mut wire = Vec::new();
        let mut rest = body;
        let mut i = 0;
        while !rest.is_empty() {
            let n = sizes.get(i).copied().unwrap_or(7).clamp(1, rest.len());
            i += 1;
            wire.extend_from_slice(format!("{n:x}").as_bytes());
            if i % 3 == 0 {
                wire.extend_from_slice(b";ext=1");
            }
            wire.extend_from_slice(b"\r\n");
            wire.extend_from_slice(&rest[..n]);
            wire.extend_from_slice(b"\r\n");
            rest = &rest[n..];
        }
        wire.extend_from_slice(b"0\r\nX-Trailer: yes\r\n\r\n");
        wire
    }

    #[test]
    fn chunked_basic_and_errors() {
        let wire = b"5\r\nhello\r\n6;x=y\r\n world\r\n0\r\n\r\n";
        assert_eq!(decode_all(wire, &[]).as_deref(), Ok(&b"hello world"[..]));
        assert!(decode_all(b"zz\r\nhi\r\n0\r\n\r\n", &[]).is_err());
        assert!(decode_all(b"2\r\nhiXX0\r\n\r\n", &[]).is_err());
        assert!(decode_all(b"2\r\nhi\r\n", &[]).is_err(), "no last chunk: incomplete");
        let long = vec![b'1'; MAX_CHUNK_LINE + 10];
        assert!(decode_all(&long, &[]).is_err());
    }

    proptest! {
        #[test]
        fn chunked_round_trips_under_any_split(
            body in proptest::collection::vec(any::<u8>(), 0..2000),
            sizes in proptest::collection::vec(1usize..300, 0..20),
            splits in proptest::collection::vec(any::<usize>(), 0..30),
        ) {
            let wire = encode(&body, &sizes);
            prop_assert_eq!(decode_all(&wire, &splits), Ok(body));
        }

        #[test]
        fn chunked_never_panics_on_arbitrary_bytes(
            wire in proptest::collection::vec(any::<u8>(), 0..3000),
            splits in proptest::collection::vec(any::<usize>(), 0..10),
        ) {
            let _ = decode_all(&wire, &splits);
        }

        #[test]
        fn head_parser_never_panics(wire in proptest::collection::vec(any::<u8>(), 0..2000)) {
            let _ = parse_head(&wire);
        }
    }

    /// Drive a `Conn` over an in-memory duplex pipe.
    async fn serve_bytes(resp: Vec<u8>, chunk: usize) -> (Head, Vec<Vec<u8>>) {
        let (client, mut server) = tokio::io::duplex(64);
        let writer = tokio::spawn(async move {
            use tokio::io::AsyncReadExt;
            let mut req = [0u8; 256];
            let _ = server.read(&mut req).await;
            for piece in resp.chunks(chunk.max(1)) {
                if server.write_all(piece).await.is_err() {
                    return;
                }
            }
        });
        let mut c = Conn::new(client);
        c.send(&request_bytes("POST", "/v1/completions", "x", &[], b"{}"))
            .await
            .expect("send");
        let h = c.read_head().await.expect("head");
        let mut pieces = Vec::new();
        while let Some((_, d)) = c.next_data().await.expect("data") {
            pieces.push(d.to_vec());
        }
        let _ = writer.await;
        (h, pieces)
    }

    #[tokio::test]
    async fn conn_reads_chunked_length_and_close_bodies() {
        let sse = b"data: {\"a\":1}\n\ndata: [DONE]\n\n";
        let mut wire = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        wire.extend_from_slice(&encode(sse, &[5, 9]));
        let (h, pieces) = serve_bytes(wire, 3).await;
        assert_eq!(h.status, 200);
        assert_eq!(pieces.concat(), sse.to_vec());

        let mut wire = format!("HTTP/1.1 500 Oops\r\nContent-Length: {}\r\n\r\n", 11).into_bytes();
        wire.extend_from_slice(b"hello world");
        let (h, pieces) = serve_bytes(wire, 7).await;
        assert_eq!((h.status, pieces.concat()), (500, b"hello world".to_vec()));

        let wire = b"HTTP/1.0 200 OK\r\n\r\nuntil close".to_vec();
        let (h, pieces) = serve_bytes(wire, 4).await;
        assert!(!h.keep_alive);
        assert_eq!(pieces.concat(), b"until close".to_vec());
    }

    #[test]
    fn request_serialization() {
        let r = request_bytes("POST", "/v1/x", "h:1", &[("Accept", b"text/event-stream")], b"{}");
        assert_eq!(
            String::from_utf8_lossy(&r),
            "POST /v1/x HTTP/1.1\r\nHost: h:1\r\nAccept: text/event-stream\r\nContent-Length: 2\r\n\r\n{}"
        );
    }
}
