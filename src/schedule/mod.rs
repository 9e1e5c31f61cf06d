//! When to send: closed loop (C workers, each sends its next request when the previous one
//! ends), open loop (an absolute arrival schedule precomputed from the seed), or a trace's
//! recorded arrivals (read as the replay goes, `workload::trace::Replay`).
//!
//! Open-loop arrivals are *absolute* offsets from the run start, so lateness never
//! accumulates, and they are dispatched by a dedicated OS thread that sleeps until shortly
//! before each arrival and then spins (`pace`): tokio's timer is ~1–2 ms late on this class of
//! machine, which would quantize and delay a 2000 req/s schedule.

use crate::util::Rng;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Arrival {
    Poisson,
    Constant,
    /// Gamma-distributed gaps with this shape (`--burstiness`); 1.0 equals Poisson.
    Gamma(f64),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Load {
    Closed {
        concurrency: usize,
    },
    Open {
        rate: f64,
        arrival: Arrival,
        max_concurrency: Option<usize>,
    },
    /// Open loop at a trace's recorded arrival times (divided by its speed).
    Trace {
        max_concurrency: Option<usize>,
    },
}

/// Arrival offsets (seconds from start) for an open-loop run: at most `max_requests`
/// arrivals, none later than `duration` (when given). Mean gap is `1/rate` for every shape;
/// gamma uses shape k = burstiness and scale 1/(rate·k).
pub fn arrivals(
    rate: f64,
    arrival: Arrival,
    seed: u64,
    max_requests: Option<u64>,
    duration: Option<Duration>,
) -> Vec<f64> {
    let mut rng = Rng::stream(seed, 0xA77_1BA1);
    let limit = max_requests.unwrap_or(u64::MAX);
    let horizon = duration.map(|d| d.as_secs_f64()).unwrap_or(f64::INFINITY);
    let mut out = Vec::new();
    let mut t = 0.0;
    while (out.len() as u64) < limit {
        if !out.is_empty() || arrival != Arrival::Constant {
            // The first arrival of a constant schedule is at t = 0; random schedules start
            // with a random gap like every later arrival (a stationary process).
            t += match arrival {
                Arrival::Poisson => rng.exp1() / rate,
                Arrival::Constant => 1.0 / rate,
                Arrival::Gamma(k) => rng.gamma(k) / (rate * k),
            };
        }
        if t > horizon {
            break;
        }
        out.push(t);
    }
    out
}

/// Block the current OS thread until `deadline`: sleep until `spin` before it, then spin.
pub fn pace(deadline: Instant, spin: Duration) {
    loop {
        let now = Instant::now();
        if now >= deadline {
            return;
        }
        let left = deadline - now;
        if left > spin {
            std::thread::sleep(left - spin);
        } else {
            std::hint::spin_loop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poisson_count_within_confidence_band() {
        // Over 100 s at 50 req/s the count is Poisson(5000): 4σ ≈ 283.
        for seed in 0..5 {
            let a = arrivals(50.0, Arrival::Poisson, seed, None, Some(Duration::from_secs(100)));
            let n = a.len() as f64;
            assert!((n - 5000.0).abs() < 4.0 * 5000f64.sqrt(), "seed {seed}: {n}");
            assert!(a.windows(2).all(|w| w[0] <= w[1]));
            // exponential gaps: coefficient of variation ≈ 1
            let gaps: Vec<f64> = a.windows(2).map(|w| w[1] - w[0]).collect();
            let m = gaps.iter().sum::<f64>() / gaps.len() as f64;
            let sd = (gaps.iter().map(|g| (g - m) * (g - m)).sum::<f64>() / gaps.len() as f64).sqrt();
            assert!((sd / m - 1.0).abs() < 0.06, "cv {}", sd / m);
        }
    }

    #[test]
    fn constant_and_gamma_shapes() {
        let c = arrivals(10.0, Arrival::Constant, 1, Some(5), None);
        assert_eq!(c.len(), 5);
        assert!((c[4] - 0.4).abs() < 1e-12);
        let g = arrivals(100.0, Arrival::Gamma(0.25), 3, Some(20_000), None);
        let gaps: Vec<f64> = g.windows(2).map(|w| w[1] - w[0]).collect();
        let m = gaps.iter().sum::<f64>() / gaps.len() as f64;
        let sd = (gaps.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / gaps.len() as f64).sqrt();
        assert!((m - 0.01).abs() < 0.0006, "mean gap {m}");
        assert!((sd / m - 2.0).abs() < 0.15, "cv {} (expected 1/sqrt(0.25) = 2)", sd / m);
    }

    #[test]
    fn same_seed_same_schedule() {
        let a = arrivals(7.0, Arrival::Poisson, 9, Some(100), None);
        assert_eq!(a, arrivals(7.0, Arrival::Poisson, 9, Some(100), None));
        assert_ne!(a, arrivals(7.0, Arrival::Poisson, 10, Some(100), None));
    }
}
