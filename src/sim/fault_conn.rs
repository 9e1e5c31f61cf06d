//! The socket-level half of fault injection: a listener whose connections can be reset (TCP
//! RST) or made to write their response head a few bytes at a time, on a handler's request.
//!
//! Why: an axum `Response` cannot express "abort this connection now" or "send the status
//! line slowly"; those faults live below HTTP. Each accepted `TcpStream` is wrapped in a
//! [`FaultIo`] sharing a [`ConnFault`] cell with the handlers (through axum's `ConnectInfo`
//! request extension). A handler flags the cell; the wrapper acts on the next read or write.
//! Used only when a fault plan is configured: without faults the server serves plain
//! `TcpStream`s and pays nothing per byte.

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, Sleep};

/// Bytes per write while a response head is throttled.
const SLOW_HEAD_PIECE: usize = 4;

#[derive(Debug, Default)]
struct Cell {
    reset: AtomicBool,
    /// A pending head throttle: the head's total duration in µs (0 = none).
    slow_head_us: AtomicU64,
}

/// A handler's handle on its connection.
#[derive(Debug, Clone, Default)]
pub struct ConnFault(Arc<Cell>);

impl ConnFault {
    /// Reset the connection: the next read or write fails and the socket closes with an RST
    /// (`SO_LINGER` 0) instead of a FIN.
    pub fn reset(&self) {
        self.0.reset.store(true, Ordering::Release);
    }

    /// Write the next response head in pieces of a few bytes spread evenly over `total`.
    pub fn slow_head(&self, total: Duration) {
        let us = total.as_micros().clamp(1, u64::MAX as u128) as u64;
        self.0.slow_head_us.store(us, Ordering::Release);
    }

    fn is_reset(&self) -> bool {
        self.0.reset.load(Ordering::Acquire)
    }
}

/// Accepts TCP connections (with `TCP_NODELAY`) and wraps each in a [`FaultIo`].
pub struct FaultListener(pub TcpListener);

impl Listener for FaultListener {
    type Io = FaultIo;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (tcp, addr) = Listener::accept(&mut self.0).await;
        // Without TCP_NODELAY, Nagle's algorithm would hold small SSE chunks (see `spawn`).
        let _ = tcp.set_nodelay(true);
        (
            FaultIo {
                tcp,
                conn: ConnFault::default(),
                throttle: None,
            },
            addr,
        )
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

impl Connected<IncomingStream<'_, FaultListener>> for ConnFault {
    fn connect_info(stream: IncomingStream<'_, FaultListener>) -> Self {
        stream.io().conn.clone()
    }
}

/// A response head being written slowly.
struct Throttle {
    /// Head bytes still to write.
    left: usize,
    interval: Duration,
    next: Pin<Box<Sleep>>,
}

/// A `TcpStream` that obeys its [`ConnFault`] cell.
pub struct FaultIo {
    tcp: TcpStream,
    conn: ConnFault,
    throttle: Option<Throttle>,
}

impl FaultIo {
    fn reset_error(&mut self) -> io::Error {
        // Dropping the socket after this (the HTTP connection fails on the error) sends an RST.
        let _ = self.tcp.set_zero_linger();
        io::Error::new(io::ErrorKind::ConnectionReset, "fault injection: connection reset")
    }

    /// Start throttling when a handler asked for it; `buf` begins with the response head.
    fn arm_throttle(&mut self, buf: &[u8]) {
        let us = self.conn.0.slow_head_us.swap(0, Ordering::AcqRel);
        if us == 0 || self.throttle.is_some() {
            return;
        }
        let head = memchr::memmem::find(buf, b"\r\n\r\n")
            .map_or(buf.len(), |i| i + 4)
            .max(1);
        let pieces = head.div_ceil(SLOW_HEAD_PIECE) as u64;
        let interval = Duration::from_micros(us / pieces);
        self.throttle = Some(Throttle {
            left: head,
            interval,
            next: Box::pin(tokio::time::sleep(interval)),
        });
    }
}

impl AsyncRead for FaultIo {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if self.conn.is_reset() {
            return Poll::Ready(Err(self.reset_error()));
        }
        Pin::new(&mut self.tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for FaultIo {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.conn.is_reset() {
            return Poll::Ready(Err(this.reset_error()));
        }
        this.arm_throttle(buf);
        let Some(t) = this.throttle.as_mut() else {
            return Pin::new(&mut this.tcp).poll_write(cx, buf);
        };
        ready!(t.next.as_mut().poll(cx));
        let n = SLOW_HEAD_PIECE.min(t.left).min(buf.len());
        let r = ready!(Pin::new(&mut this.tcp).poll_write(cx, &buf[..n]));
        if let Ok(w) = r {
            t.left = t.left.saturating_sub(w);
            if t.left == 0 {
                this.throttle = None;
            } else {
                let at = Instant::now() + t.interval;
                t.next.as_mut().reset(at);
            }
        }
        Poll::Ready(r)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let faulty =
            this.throttle.is_some() || this.conn.is_reset() || this.conn.0.slow_head_us.load(Ordering::Acquire) != 0;
        if !faulty {
            return Pin::new(&mut this.tcp).poll_write_vectored(cx, bufs);
        }
        let first = bufs.iter().find(|b| !b.is_empty()).map_or(&[][..], |b| &b[..]);
        Pin::new(this).poll_write(cx, first)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.conn.is_reset() {
            return Poll::Ready(Err(self.reset_error()));
        }
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.conn.is_reset() {
            return Poll::Ready(Err(self.reset_error()));
        }
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}
