//! The paced floor with a runtime: what a client built like infermeter's (tokio's multi-thread
//! runtime, one task per connection, the socket in tokio's reactor through `AsyncFd`, one
//! `recvmsg` with the kernel's `SO_TIMESTAMPNS` stamp per readiness, readiness cleared after a
//! short read) spends consuming the paced traffic when it does nothing else: no HTTP framing,
//! no SSE, no JSON, no records. It sits between `scripts/floor-reader.c` (the kernel's share)
//! and infermeter (everything), so `scripts/perf.sh paced` can tell the runtime's share from
//! the per-event processing's.
//!
//! Usage: `cargo run --release --example runtime_floor -- PORT PATH CONC REQUESTS BODY_FILE`
//! (the arguments of floor-reader). Prints one JSON line: CPU (user + sys) and wall time from
//! the first connect to the last response's end (getrusage deltas), reads, responses.

use infermeter::client::rx::{enable_kernel_stamps, recv_stamped};
use infermeter::runner::probe::process_cpu_s;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// The end of a chunked body.
const END: &[u8] = b"\r\n0\r\n\r\n";

/// Take one request from the shared budget; false when none is left.
fn take(left: &AtomicU64) -> bool {
    left.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| v.checked_sub(1))
        .is_ok()
}

/// One connection: send, read until the body's end, send the next, until the budget is spent.
async fn connection(port: u16, req: Arc<Vec<u8>>, left: Arc<AtomicU64>) -> std::io::Result<(u64, u64)> {
    let (mut reads, mut responses) = (0u64, 0u64);
    if !take(&left) {
        return Ok((0, 0));
    }
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
    s.set_nodelay(true)?;
    enable_kernel_stamps(&s);
    s.write_all(&req)?;
    s.set_nonblocking(true)?;
    // SAFETY: the AsyncFd owns the stream, which owns the descriptor: it is neither closed
    // nor replaced while registered.
    let fd = unsafe { AsyncFd::register_with_interest(s, Interest::READABLE)? };
    let mut buf = vec![0u8; 16 * 1024];
    let mut tail: Vec<u8> = Vec::with_capacity(2 * END.len());
    loop {
        let mut ready = fd.readable().await?;
        // The client's own read: `recvmsg` with the kernel's stamp (its value is not needed).
        let n = match recv_stamped(fd.get_ref().as_raw_fd(), &mut buf) {
            Ok((n, _stamp)) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                ready.clear_ready();
                continue;
            }
            Err(e) => return Err(e),
        };
        if n == 0 {
            return Err(std::io::Error::other("the server closed a connection mid-response"));
        }
        if n < buf.len() {
            ready.clear_ready();
        }
        reads += 1;
        tail.extend_from_slice(&buf[..n]);
        if tail.len() > END.len() {
            tail.drain(..tail.len() - END.len());
        }
        if tail != END {
            continue;
        }
        tail.clear();
        responses += 1;
        if !take(&left) {
            return Ok((reads, responses));
        }
        // A request is a few hundred bytes: the socket's send buffer takes it whole.
        fd.get_ref().write_all(&req)?;
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let parsed = (|| {
        let port: u16 = args.get(1)?.parse().ok()?;
        let conc: usize = args.get(3)?.parse().ok()?;
        let requests: u64 = args.get(4)?.parse().ok()?;
        Some((port, args.get(2)?.clone(), conc, requests, args.get(5)?.clone()))
    })();
    let Some((port, path, conc, requests, body_file)) = parsed else {
        eprintln!("usage: runtime_floor PORT PATH CONC REQUESTS BODY_FILE");
        std::process::exit(2);
    };
    let body = match std::fs::read(&body_file) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("runtime_floor: cannot read {body_file}: {e}");
            std::process::exit(2);
        }
    };
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n\
         Accept: text/event-stream\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(&body);
    let req = Arc::new(req);
    let left = Arc::new(AtomicU64::new(requests));
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("runtime_floor: cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    let cpu0 = process_cpu_s();
    let t0 = std::time::Instant::now();
    let result = runtime.block_on(async {
        let tasks: Vec<_> = (0..conc.min(requests as usize))
            .map(|_| tokio::spawn(connection(port, req.clone(), left.clone())))
            .collect();
        let (mut reads, mut responses) = (0, 0);
        for t in tasks {
            let (r, n) = t.await.map_err(std::io::Error::other)??;
            reads += r;
            responses += n;
        }
        Ok::<_, std::io::Error>((reads, responses))
    });
    let wall = t0.elapsed().as_secs_f64();
    let cpu = match (cpu0, process_cpu_s()) {
        (Some(a), Some(b)) => b - a,
        _ => {
            eprintln!("runtime_floor: cannot read the process's CPU time");
            std::process::exit(1);
        }
    };
    match result {
        Ok((reads, responses)) => {
            println!("{{\"cpu_s\": {cpu:.6}, \"wall_s\": {wall:.6}, \"reads\": {reads}, \"responses\": {responses}}}")
        }
        Err(e) => {
            eprintln!("runtime_floor: {e}");
            std::process::exit(1);
        }
    }
}
