//! How much CPU time does this machine take away from a thread that never sleeps?
//!
//! One thread per core, pinned to it, reads the monotonic clock in a tight loop for a few
//! seconds and records every gap between two reads longer than 100 µs: time the thread was not
//! running (hypervisor steal, interrupts, other threads). Run it on an otherwise idle machine.
//! (Normal priority on purpose: a real-time spinner is throttled by the kernel for 50 ms of
//! every second, `sched_rt_runtime_us`, which would be measured as gaps.) No client can pace or stamp more precisely than these gaps allow, so
//! `scripts/perf.sh` prints them next to its pacing and timing-error figures.
//!
//! Run with: `cargo run --release --example hiccup [SECONDS]`

use std::time::{Duration, Instant};

fn main() {
    let secs: f64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(5.0);
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let threads: Vec<_> = (0..cores)
        .map(|core| std::thread::spawn(move || (core, spin(core, Duration::from_secs_f64(secs)))))
        .collect();
    for t in threads {
        let Ok((core, gaps)) = t.join() else { continue };
        let lost: f64 = gaps.iter().sum();
        let over = |ms: f64| gaps.iter().filter(|&&g| g > ms).count();
        let max = gaps.iter().copied().fold(0.0, f64::max);
        println!(
            "core {core}: gaps > 0.1 ms: {} ({:.1}/s), > 1 ms: {}, > 5 ms: {}; longest {max:.2} ms; time lost {:.2} % of {secs} s",
            gaps.len(),
            gaps.len() as f64 / secs,
            over(1.0),
            over(5.0),
            lost / (secs * 1e3) * 100.0,
        );
    }
}

/// Spin on `core` for `dur`; the gaps (ms).
fn spin(core: usize, dur: Duration) -> Vec<f64> {
    pin(core);
    let threshold = Duration::from_micros(100);
    let start = Instant::now();
    let mut last = start;
    let mut gaps = Vec::new();
    while last.duration_since(start) < dur {
        let now = Instant::now();
        let gap = now.duration_since(last);
        if gap > threshold {
            gaps.push(gap.as_secs_f64() * 1e3);
        }
        last = now;
    }
    gaps
}

#[cfg(target_os = "linux")]
fn pin(core: usize) {
    // SAFETY: cpu_set_t is plain data; the call only reads the set passed and acts on the
    // calling thread (pid 0).
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(core, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

#[cfg(not(target_os = "linux"))]
fn pin(_: usize) {}
