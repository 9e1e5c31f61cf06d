//! Readings the runner takes of its own process while a run is measured — CPU time and peak
//! memory (`getrusage`), and the runtime responsiveness probe — for the client self-health
//! block. They are I/O (system calls, a timer task), so they live with the runner;
//! `metrics::health` only judges the numbers.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Peak resident set size of this process, bytes (`ru_maxrss` is in KiB on Linux).
pub fn peak_rss_bytes() -> Option<u64> {
    // SAFETY: getrusage only writes into the struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    (rc == 0 && ru.ru_maxrss > 0).then(|| ru.ru_maxrss as u64 * 1024)
}

/// Process CPU time (user + system), seconds.
pub fn process_cpu_s() -> Option<f64> {
    // SAFETY: getrusage only writes into the struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    (rc == 0).then(|| {
        let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        tv(ru.ru_utime) + tv(ru.ru_stime)
    })
}

/// Spawn the runtime probe on the current (request) runtime: a task that sleeps 10 ms at a
/// time and records how late each wake-up was, ms, until `stop` is set (or 360,000 samples,
/// an hour). If request handling starves the runtime, the probe wakes late.
pub fn spawn_lateness_probe(stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<Vec<f64>> {
    tokio::spawn(async move {
        let mut late = Vec::new();
        let period = Duration::from_millis(10);
        let mut next = tokio::time::Instant::now() + period;
        loop {
            tokio::time::sleep_until(next).await;
            let now = tokio::time::Instant::now();
            late.push(now.saturating_duration_since(next).as_secs_f64() * 1000.0);
            next = now + period;
            if stop.load(Ordering::Relaxed) || late.len() >= 360_000 {
                return late;
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_is_readable_and_grows() {
        let a = process_cpu_s().unwrap();
        let mut x = 0u64;
        // black_box inside the loop: without it the sum has a closed form, the optimiser
        // removes the loop, and no CPU time passes.
        for i in 0..20_000_000u64 {
            x = x.wrapping_add(std::hint::black_box(i) * i);
        }
        std::hint::black_box(x);
        assert!(process_cpu_s().unwrap() > a);
    }
}
