//! When did the bytes arrive? The kernel knows better than the client.
//!
//! A socket read returns when the client gets around to it: under load (hundreds of streams
//! on a few cores, all written in the same engine step) that can be milliseconds after the
//! bytes reached the machine, and stamping `Instant::now()` after the read charges that delay
//! to the server's TTFT and inter-token times. On Linux the kernel stamps every received
//! segment as it is queued on the socket (`SO_TIMESTAMPNS`); [`TcpIo`] reads with `recvmsg`,
//! takes that stamp (of the newest segment the read returned) and converts it to an
//! [`Instant`]. The difference between the read's return and the kernel's stamp is the
//! client's *read lag*, kept in a [`LagHistogram`] for the self-health block: with kernel
//! stamps it no longer distorts the measurement, but it shows how far behind the client ran.
//!
//! Elsewhere (other systems, or a read the kernel did not stamp) and with
//! `--rx-timestamp user`, the read's return time is used.

pub use crate::arrival::{ReadLag, RxTimestamp};
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// A stream that can say when the bytes it returns arrived.
pub trait RxTime {
    /// The kernel arrival time of the newest segment read from the socket so far, if the
    /// kernel stamped it: the arrival of everything a read has returned (a TLS layer may
    /// return data from an earlier socket read, which arrived no later than that).
    fn rx_time(&self) -> Option<Instant> {
        None
    }

    /// When the latest read returned, if the stream took that time itself (saving the
    /// caller a clock read); `None` means "now".
    fn read_time(&self) -> Option<Instant> {
        None
    }
}

impl RxTime for tokio::io::DuplexStream {}

/// Log-linear histogram of read lag in nanoseconds: 8 sub-buckets per power of two, so a
/// reported percentile is within 12.5 % of the true value.
/// Pure and per connection; merged into a shared [`SharedLag`] when a request ends.
#[derive(Debug, Clone, Default)]
pub struct LagHistogram {
    counts: Vec<u32>,
    max_ns: u64,
    stamped: u64,
    unstamped: u64,
    /// Events stamped by a late read they shared with an earlier event of their stream.
    late_shared: u64,
}

/// A read this late (return − kernel arrival) is *late*: events it delivered together may
/// have arrived up to that much apart, yet carry one stamp.
pub const LATE_READ: Duration = Duration::from_millis(1);

const SUB: u32 = 8;
/// Buckets up to 2^40 ns (about 18 minutes).
const BUCKETS: usize = (40 * SUB) as usize;

fn bucket(ns: u64) -> usize {
    // Below 8 ns everything shares the first bucket: resolution there is noise anyway.
    let v = ns.max(8);
    let exp = 63 - v.leading_zeros();
    let sub = ((v >> (exp - 3)) & (SUB as u64 - 1)) as u32;
    ((exp * SUB + sub) as usize).min(BUCKETS - 1)
}

/// Lower bound of a bucket, ns (buckets below 8 ns are never used).
fn bucket_floor(b: usize) -> u64 {
    let exp = (b as u32 / SUB).max(3);
    let sub = b as u64 % SUB as u64;
    (1u64 << exp) + (sub << (exp - 3))
}

impl LagHistogram {
    pub fn record(&mut self, lag: Duration) {
        let ns = u64::try_from(lag.as_nanos()).unwrap_or(u64::MAX);
        if self.counts.is_empty() {
            self.counts = vec![0; BUCKETS];
        }
        let b = bucket(ns);
        self.counts[b] = self.counts[b].saturating_add(1);
        self.max_ns = self.max_ns.max(ns);
        self.stamped += 1;
    }

    /// `n` events shared the stamp of a read whose lag was `lag` with an earlier event.
    pub fn note_shared(&mut self, n: u64, lag: Duration) {
        if lag > LATE_READ {
            self.late_shared += n;
        }
    }

    /// A read the kernel did not stamp (its own return time was used).
    pub fn record_unstamped(&mut self) {
        self.unstamped += 1;
    }

    pub fn is_empty(&self) -> bool {
        self.stamped == 0 && self.unstamped == 0 && self.late_shared == 0
    }
}

/// The run's read-lag histogram, shared by all request tasks (merged once per request).
#[derive(Debug)]
pub struct SharedLag {
    counts: Vec<AtomicU64>,
    max_ns: AtomicU64,
    stamped: AtomicU64,
    unstamped: AtomicU64,
    late_shared: AtomicU64,
}

impl Default for SharedLag {
    fn default() -> Self {
        SharedLag {
            counts: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            max_ns: AtomicU64::new(0),
            stamped: AtomicU64::new(0),
            unstamped: AtomicU64::new(0),
            late_shared: AtomicU64::new(0),
        }
    }
}

impl SharedLag {
    /// Add a connection's histogram and clear it.
    pub fn absorb(&self, h: &mut LagHistogram) {
        if h.is_empty() {
            return;
        }
        for (i, &c) in h.counts.iter().enumerate() {
            if c > 0 {
                self.counts[i].fetch_add(c as u64, Ordering::Relaxed);
            }
        }
        self.max_ns.fetch_max(h.max_ns, Ordering::Relaxed);
        self.stamped.fetch_add(h.stamped, Ordering::Relaxed);
        self.unstamped.fetch_add(h.unstamped, Ordering::Relaxed);
        self.late_shared.fetch_add(h.late_shared, Ordering::Relaxed);
        h.counts.iter_mut().for_each(|c| *c = 0);
        h.max_ns = 0;
        h.stamped = 0;
        h.unstamped = 0;
        h.late_shared = 0;
    }

    /// Forget everything absorbed so far (the warm-up's connections).
    pub fn reset(&self) {
        for c in &self.counts {
            c.store(0, Ordering::Relaxed);
        }
        self.max_ns.store(0, Ordering::Relaxed);
        self.stamped.store(0, Ordering::Relaxed);
        self.unstamped.store(0, Ordering::Relaxed);
        self.late_shared.store(0, Ordering::Relaxed);
    }

    /// Percentiles of the absorbed reads (a bucket's midpoint, capped at the maximum).
    pub fn summary(&self) -> ReadLag {
        let counts: Vec<u64> = self.counts.iter().map(|c| c.load(Ordering::Relaxed)).collect();
        let max_ns = self.max_ns.load(Ordering::Relaxed);
        let total: u64 = counts.iter().sum();
        // A bucket's representative value is its midpoint, capped at the observed maximum.
        let quantile = |q: f64| -> f64 {
            if total == 0 {
                return 0.0;
            }
            let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
            let mut seen = 0;
            for (b, &c) in counts.iter().enumerate() {
                seen += c;
                if seen >= rank {
                    let lo = bucket_floor(b);
                    let hi = if b + 1 < BUCKETS { bucket_floor(b + 1) } else { lo };
                    return ((lo + hi) / 2).min(max_ns) as f64 / 1e6;
                }
            }
            max_ns as f64 / 1e6
        };
        ReadLag {
            stamped_reads: self.stamped.load(Ordering::Relaxed),
            unstamped_reads: self.unstamped.load(Ordering::Relaxed),
            late_shared_stamps: self.late_shared.load(Ordering::Relaxed),
            p50: quantile(0.50),
            p99: quantile(0.99),
            max: max_ns as f64 / 1e6,
        }
    }
}

/// A TCP connection whose reads carry the kernel's receive timestamp (Linux).
///
/// The socket is driven through [`AsyncFd`] rather than tokio's `TcpStream` so that a read
/// which returns fewer bytes than asked for clears the socket's readiness: the receive queue
/// was drained, and the next read waits for the next epoll edge instead of costing one more
/// `recvmsg` that would only say `EAGAIN` (one system call per token event at real-world
/// rates, where every event is its own segment).
#[derive(Debug)]
pub struct TcpIo {
    fd: AsyncFd<std::net::TcpStream>,
    kernel: bool,
    rx: Option<Instant>,
    read_at: Option<Instant>,
}

impl TcpIo {
    /// Wrap a connected stream and ask the kernel to stamp received segments (where it
    /// cannot, reads simply carry no stamp). The stamps measure the read lag in either
    /// `--rx-timestamp` mode; the mode decides which time the records get.
    pub fn new(tcp: TcpStream) -> io::Result<TcpIo> {
        // `into_std` keeps the socket non-blocking; AsyncFd registers it with the reactor.
        let tcp = tcp.into_std()?;
        let kernel = enable_kernel_stamps(&tcp);
        // SAFETY: the TcpStream owns its descriptor, and the AsyncFd owns the stream: the
        // descriptor is neither closed nor replaced while it is registered.
        let fd = unsafe { AsyncFd::register(tcp)? };
        Ok(TcpIo {
            fd,
            kernel,
            rx: None,
            read_at: None,
        })
    }

    /// One non-blocking read into `dst`: the byte count, the kernel's stamp (if any) and
    /// when the read returned.
    fn read_once(&self, dst: &mut [u8]) -> io::Result<(usize, Option<Instant>, Instant)> {
        #[cfg(target_os = "linux")]
        if self.kernel {
            use std::os::fd::AsRawFd;
            let (n, stamp) = recv_stamped(self.fd.get_ref().as_raw_fd(), dst)?;
            let now = Instant::now();
            return Ok((n, stamp.and_then(|s| stamp_to_instant(s, now)), now));
        }
        let n = std::io::Read::read(&mut self.fd.get_ref(), dst)?;
        Ok((n, None, Instant::now()))
    }
}

impl RxTime for TcpIo {
    fn rx_time(&self) -> Option<Instant> {
        self.rx
    }

    fn read_time(&self) -> Option<Instant> {
        self.read_at
    }
}

/// Ask the kernel to stamp the segments `tcp` receives (`SO_TIMESTAMPNS`); false where it
/// cannot. Public, like [`recv_stamped`], for `examples/runtime_floor.rs`.
#[cfg(target_os = "linux")]
pub fn enable_kernel_stamps(tcp: &std::net::TcpStream) -> bool {
    use std::os::fd::AsRawFd;
    let on: libc::c_int = 1;
    // SAFETY: a valid socket fd and a correctly sized c_int option value.
    let rc = unsafe {
        libc::setsockopt(
            tcp.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    rc == 0
}

#[cfg(not(target_os = "linux"))]
pub fn enable_kernel_stamps(_: &std::net::TcpStream) -> bool {
    false
}

/// `recvmsg` into `buf`; the byte count and the kernel's `SCM_TIMESTAMPNS` stamp, if any.
/// Public for `examples/runtime_floor.rs`, which reads exactly as the client does.
#[cfg(target_os = "linux")]
pub fn recv_stamped(fd: std::os::fd::RawFd, buf: &mut [u8]) -> io::Result<(usize, Option<libc::timespec>)> {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // Room for one timespec control message, 8-byte aligned.
    let mut control = [0u64; 8];
    // SAFETY: msghdr is plain data; every pointer set below outlives the call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    // SAFETY: fd is an open socket, msg points at live buffers of the stated sizes.
    let n = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_DONTWAIT) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut stamp = None;
    // SAFETY: the CMSG_* macros walk the control buffer the kernel filled, bounded by
    // msg_controllen; the payload is read unaligned.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_TIMESTAMPNS {
                stamp = Some(std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<libc::timespec>()));
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Ok((n as usize, stamp))
}

/// The kernel's stamp (CLOCK_REALTIME) as an `Instant`, given `now` (monotonic, taken just
/// after the read): the stamp's distance from a recent pair of clock readings (monotonic,
/// realtime) of this thread, added to that pair's monotonic reading. `None` for a stamp in
/// the future or over a minute old (a clock step), or when no clean pair could be taken.
#[cfg(target_os = "linux")]
fn stamp_to_instant(stamp: libc::timespec, now: Instant) -> Option<Instant> {
    let pair = CLOCKS.with(|c| {
        let mut c = c.borrow_mut();
        match *c {
            Some(p) if now.saturating_duration_since(p.mono) < ClockPair::FRESH => Some(p),
            _ => {
                *c = ClockPair::take();
                *c
            }
        }
    })?;
    let stamp_ns = stamp.tv_sec as i128 * 1_000_000_000 + stamp.tv_nsec as i128;
    convert_stamp(stamp_ns, pair, now)
}

/// A realtime stamp (ns) on the monotonic clock through `pair`, checked against `now` (the
/// read's return): its distance from the pair's realtime reading, added to the pair's
/// monotonic reading — signed, since the pair may be newer than the stamp, and newer than
/// `now` when it was taken just for this read.
#[cfg(target_os = "linux")]
fn convert_stamp(stamp_ns: i128, pair: ClockPair, now: Instant) -> Option<Instant> {
    let offset_ns = stamp_ns - pair.rt_ns;
    let at = if offset_ns >= 0 {
        pair.mono
            .checked_add(Duration::from_nanos(u64::try_from(offset_ns).ok()?))
    } else {
        pair.mono
            .checked_sub(Duration::from_nanos(u64::try_from(-offset_ns).ok()?))
    }?;
    // How long before the read's return the segment arrived.
    let age_ns = if at <= now {
        now.duration_since(at).as_nanos() as i128
    } else {
        -(at.duration_since(now).as_nanos() as i128)
    };
    if !(0..60_000_000_000).contains(&age_ns) {
        // A hair in the future is rounding; more is a clock step.
        return (age_ns < 0 && age_ns > -1_000_000).then_some(now);
    }
    Some(at)
}

/// One simultaneous reading of the monotonic and realtime clocks. Converting a kernel stamp
/// needs the offset between the two; reading it once per read cost three clock reads per
/// socket read, so each thread keeps a pair for [`ClockPair::FRESH`]: the offset moves only
/// by NTP slewing in between (at most 500 ppm, 0.5 µs per millisecond) or a clock step,
/// which the age check above rejects.
#[cfg(target_os = "linux")]
#[derive(Debug, Clone, Copy)]
struct ClockPair {
    mono: Instant,
    rt_ns: i128,
}

#[cfg(target_os = "linux")]
impl ClockPair {
    const FRESH: Duration = Duration::from_millis(1);

    /// The realtime read is bracketed by two monotonic reads; a bracket wider than 20 µs (the
    /// thread was preempted in between) is retried, so a preemption cannot shift the pair.
    fn take() -> Option<ClockPair> {
        const BRACKET: Duration = Duration::from_micros(20);
        for _ in 0..3 {
            let before = Instant::now();
            let mut rt = libc::timespec { tv_sec: 0, tv_nsec: 0 };
            // SAFETY: a valid clock id and a live timespec.
            if unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut rt) } != 0 {
                return None;
            }
            let after = Instant::now();
            let width = after.duration_since(before);
            if width > BRACKET {
                continue;
            }
            return Some(ClockPair {
                mono: before + width / 2,
                rt_ns: rt.tv_sec as i128 * 1_000_000_000 + rt.tv_nsec as i128,
            });
        }
        None
    }
}

#[cfg(target_os = "linux")]
thread_local! {
    static CLOCKS: std::cell::RefCell<Option<ClockPair>> = const { std::cell::RefCell::new(None) };
}

impl AsyncRead for TcpIo {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let me = self.get_mut();
        loop {
            let mut ready = ready!(me.fd.poll_read_ready(cx))?;
            let dst = buf.initialize_unfilled();
            let want = dst.len();
            match me.read_once(dst) {
                Ok((n, stamp, at)) => {
                    // A short read drained the receive queue: wait for the next edge. (The
                    // guard only clears readiness no newer event has set since, and never
                    // the peer-closed bit.) A full read may have left bytes behind.
                    if n > 0 && n < want {
                        ready.clear_ready();
                    }
                    buf.advance(n);
                    me.rx = stamp;
                    me.read_at = Some(at);
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => ready.clear_ready(),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl AsyncWrite for TcpIo {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let me = self.get_mut();
        loop {
            let mut ready = ready!(me.fd.poll_write_ready(cx))?;
            match ready.try_io(|fd| std::io::Write::write(&mut fd.get_ref(), buf)) {
                Ok(r) => return Poll::Ready(r),
                Err(_would_block) => continue,
            }
        }
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.get_mut().fd.get_ref().shutdown(std::net::Shutdown::Write))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn stamps_convert_through_a_pair_newer_or_older_than_the_read() {
        let base = Instant::now();
        let us = |n: u64| Duration::from_micros(n);
        let r: i128 = 1_800_000_000_000_000_000; // realtime of the pair, ns
                                                 // A pair taken just for this read, after its return: the stamp keeps its exact
                                                 // distance from the pair (5 µs before it), not its distance from the read.
        let pair = ClockPair {
            mono: base + us(10),
            rt_ns: r,
        };
        assert_eq!(convert_stamp(r - 5_000, pair, base + us(8)), Some(base + us(5)));
        // An older pair (cached): the same rule.
        let pair = ClockPair { mono: base, rt_ns: r };
        assert_eq!(convert_stamp(r + 700_000, pair, base + us(900)), Some(base + us(700)));
        // A stamp a hair after the read's return is rounding: the read's time; far after it
        // or a minute before it is a clock step: no stamp.
        assert_eq!(convert_stamp(r + 1_000, pair, base), Some(base));
        assert_eq!(convert_stamp(r + 5_000_000, pair, base), None);
        assert_eq!(convert_stamp(r - 61_000_000_000, pair, base + us(10)), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_fresh_stamp_converts_to_about_now() {
        // The realtime clock read 300 µs ago as a kernel stamp: it converts to about 300 µs
        // before now, whether the thread's pair is taken for it or reused.
        for _ in 0..3 {
            let mut rt = libc::timespec { tv_sec: 0, tv_nsec: 0 };
            // SAFETY: a valid clock id and a live timespec.
            assert_eq!(unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut rt) }, 0);
            let then = Instant::now();
            let mut stamp = rt;
            stamp.tv_nsec -= 300_000;
            if stamp.tv_nsec < 0 {
                stamp.tv_nsec += 1_000_000_000;
                stamp.tv_sec -= 1;
            }
            let now = Instant::now();
            let at = stamp_to_instant(stamp, now).expect("a stamp");
            let want = then - Duration::from_micros(300);
            let err = if at > want { at - want } else { want - at };
            assert!(err < Duration::from_micros(100), "off by {err:?}");
        }
    }

    #[test]
    fn buckets_are_monotonic_and_tight() {
        let mut last = 0;
        for ns in [8u64, 9, 15, 16, 17, 1000, 1024, 1500, 1_000_000, 123_456_789] {
            let b = bucket(ns);
            assert!(b >= last, "{ns}");
            last = b;
            let lo = bucket_floor(b);
            let hi = bucket_floor(b + 1);
            assert!(lo <= ns && ns < hi, "{ns} not in [{lo}, {hi})");
            assert!((hi - lo) as f64 <= ns as f64 / 8.0 + 1.0, "{ns}: width {}", hi - lo);
        }
    }

    #[test]
    fn summary_percentiles_within_bucket_error() {
        let shared = SharedLag::default();
        let mut h = LagHistogram::default();
        // 1..=1000 µs, one each: p50 ≈ 500 µs, p99 ≈ 990 µs.
        for us in 1..=1000u64 {
            h.record(Duration::from_micros(us));
        }
        h.record_unstamped();
        h.note_shared(3, Duration::from_micros(500));
        h.note_shared(2, Duration::from_millis(2));
        shared.absorb(&mut h);
        assert_eq!(shared.summary().late_shared_stamps, 2, "only the late read counts");
        assert!(h.is_empty());
        let s = shared.summary();
        assert_eq!((s.stamped_reads, s.unstamped_reads), (1000, 1));
        assert!((s.p50 - 0.5).abs() / 0.5 < 0.125, "{s:?}");
        assert!((s.p99 - 0.99).abs() / 0.99 < 0.125, "{s:?}");
        assert!((s.max - 1.0).abs() < 1e-9, "{s:?}");
        shared.reset();
        assert_eq!(shared.summary(), ReadLag::default());
    }

    /// Over loopback the kernel stamps the segment when the sender's write queues it, so a
    /// read made 30 ms later reports the earlier arrival, not its own return time.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn kernel_stamp_is_the_arrival_not_the_read() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let client = TcpStream::connect(addr).await.expect("connect");
        let (mut server, _) = listener.accept().await.expect("accept");
        let mut io = TcpIo::new(client).expect("register");
        // The kernel turns stamping on asynchronously: wait until a segment carries one.
        let mut got = None;
        for _ in 0..50 {
            let sent = Instant::now();
            server.write_all(b"data: x\n\n").await.expect("write");
            tokio::time::sleep(Duration::from_millis(30)).await;
            let mut b = [0u8; 64];
            let n = io.read(&mut b).await.expect("read");
            assert_eq!(n, 9);
            if let Some(t) = io.rx_time() {
                got = Some((sent, t, Instant::now()));
                break;
            }
        }
        let (sent, t, read_done) = got.expect("the kernel never stamped a segment");
        assert!(
            t >= sent.checked_sub(Duration::from_millis(1)).expect("sub"),
            "stamp before the write"
        );
        assert!(
            read_done.duration_since(t) >= Duration::from_millis(25),
            "stamp is the read time"
        );
        assert_eq!(io.rx_time(), Some(t), "kept until the next read");
    }
}
