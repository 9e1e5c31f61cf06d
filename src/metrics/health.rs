//! Client self-health: evidence, in every run, that the load generator was not the
//! bottleneck — or a loud warning that it was.
//!
//! Pure: inputs are the records plus what the runner measured beside them (`runner::probe`
//! takes those readings; this module does no I/O): the process CPU time over the
//! measured phase, and the wake-up lateness of a probe task that sleeps 10 ms at a time on the
//! same runtime as the request tasks (if request handling starves the runtime, the probe wakes
//! late). Thresholds (documented in docs/metrics.md):
//! * open-loop schedule lag p99 > 5 ms, or achieved rate < 99 % of the scheduled rate;
//! * runtime probe lateness p99 > 10 ms;
//! * CPU utilisation > 90 % of the cores available to the process;
//! * socket reads: more than 1 % of token events shared the stamp of a late read (lag > 1 ms)
//!   with the previous event of their stream (kernel arrival stamps), or, with
//!   `--rx-timestamp user` (stamps are read returns), read lag p99 > 1 ms.

use super::Stats;
pub use crate::arrival::ReadLag;
use crate::arrival::RxTimestamp;
use crate::record::RequestRecord;
use serde::{Deserialize, Serialize};

pub const LAG_P99_LIMIT_MS: f64 = 5.0;
pub const RATE_RATIO_LIMIT: f64 = 0.99;
pub const PROBE_P99_LIMIT_MS: f64 = 10.0;
pub const CPU_LIMIT: f64 = 0.90;
pub const LATE_SHARED_LIMIT: f64 = 0.01;
pub const USER_READ_LAG_P99_LIMIT_MS: f64 = 1.0;

/// What the runner measured besides the records.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuntimeSamples {
    /// Process CPU seconds (user + system) over the measured phase.
    pub cpu_s: Option<f64>,
    pub wall_s: f64,
    pub cores: usize,
    /// Probe wake-up lateness samples, ms.
    pub probe_lateness_ms: Vec<f64>,
    /// The embedded simulated server ran in this process (its CPU is included).
    pub includes_embedded_server: bool,
    /// Peak resident set size of the process, bytes.
    pub peak_rss_bytes: Option<u64>,
    /// The run's time origin (`*_us` fields of the records count from it) on the system
    /// monotonic clock, ns: joins records with another process's timestamps on this machine.
    pub run_start_monotonic_ns: Option<u64>,
    /// `--rx-timestamp`: where the records' arrival times came from.
    pub rx_timestamp: Option<RxTimestamp>,
    /// Socket read lag over the measured phase (live runs only).
    pub read_lag_ms: Option<ReadLag>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClientHealth {
    /// `--rate` for open loop; null for closed loop.
    pub offered_rate: Option<f64>,
    /// The rate the precomputed schedule implies: (n − 1) / (last − first intended send).
    pub scheduled_rate: Option<f64>,
    /// Measured: (n − 1) / (last − first actual start).
    pub achieved_rate: Option<f64>,
    pub schedule_lag_ms: Stats,
    pub cpu_s: Option<f64>,
    /// CPU seconds / (wall seconds × cores).
    pub cpu_utilization: Option<f64>,
    pub cores: usize,
    pub includes_embedded_server: bool,
    pub peak_in_flight: u64,
    /// Peak resident set size of the infermeter process (includes the embedded server).
    pub peak_rss_bytes: Option<u64>,
    /// Runtime responsiveness: lateness of a 10 ms sleeper, ms.
    pub runtime_probe_lateness_ms: Stats,
    pub saturated: bool,
    pub saturated_reason: Option<String>,
    /// See [`RuntimeSamples::run_start_monotonic_ns`] (absent in summaries rebuilt by `report`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_start_monotonic_ns: Option<u64>,
    /// Where the records' arrival times came from: `kernel` (receive timestamps) or `user`
    /// (read return). Absent where no live client ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rx_timestamp: Option<RxTimestamp>,
    /// See [`ReadLag`]; absent where no live client ran or the kernel stamped no read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_lag_ms: Option<ReadLag>,
}

fn rate(mut ts: Vec<u64>) -> Option<f64> {
    if ts.len() < 2 {
        return None;
    }
    ts.sort_unstable();
    let span = (ts[ts.len() - 1] - ts[0]) as f64 / 1e6;
    (span > 0.0).then(|| (ts.len() - 1) as f64 / span)
}

pub fn client_health(
    records: &[RequestRecord],
    offered_rate: Option<f64>,
    peak: u64,
    rt: &RuntimeSamples,
) -> ClientHealth {
    let measured: Vec<&RequestRecord> = records.iter().filter(|r| !r.warmup).collect();
    let lag = Stats::from_samples(
        measured
            .iter()
            .map(|r| r.start_us.saturating_sub(r.sched_us) as f64 / 1000.0)
            .collect(),
    );
    let open = offered_rate.is_some();
    let scheduled_rate = if open {
        rate(measured.iter().map(|r| r.sched_us).collect())
    } else {
        None
    };
    let achieved_rate = rate(measured.iter().map(|r| r.start_us).collect());
    let cpu_utilization = rt
        .cpu_s
        .filter(|_| rt.wall_s > 0.0 && rt.cores > 0)
        .map(|c| c / (rt.wall_s * rt.cores as f64));
    let probe = Stats::from_samples(rt.probe_lateness_ms.clone());

    let mut reasons = Vec::new();
    if open && lag.n > 0 && lag.p99 > LAG_P99_LIMIT_MS {
        reasons.push(format!("schedule lag p99 {:.2} ms > {LAG_P99_LIMIT_MS} ms", lag.p99));
    }
    if let (Some(s), Some(a)) = (scheduled_rate, achieved_rate) {
        if a < RATE_RATIO_LIMIT * s {
            reasons.push(format!("achieved {a:.1} req/s < 99% of scheduled {s:.1} req/s"));
        }
    }
    if probe.n > 0 && probe.p99 > PROBE_P99_LIMIT_MS {
        reasons.push(format!(
            "runtime probe lateness p99 {:.2} ms > {PROBE_P99_LIMIT_MS} ms",
            probe.p99
        ));
    }
    if let Some(u) = cpu_utilization {
        if u > CPU_LIMIT {
            reasons.push(format!(
                "CPU {:.0}% of {} cores > {:.0}%",
                u * 100.0,
                rt.cores,
                CPU_LIMIT * 100.0
            ));
        }
    }
    let read_lag = rt.read_lag_ms.clone().filter(|l| l.stamped_reads > 0);
    if let Some(l) = &read_lag {
        let events: usize = measured.iter().map(|r| r.events.len()).sum();
        let late = l.late_shared_stamps as f64 / events.max(1) as f64;
        if rt.rx_timestamp == Some(RxTimestamp::User) {
            if l.p99 > USER_READ_LAG_P99_LIMIT_MS {
                reasons.push(format!(
                    "socket read lag p99 {:.2} ms > {USER_READ_LAG_P99_LIMIT_MS} ms (--rx-timestamp user: arrival times include it)",
                    l.p99
                ));
            }
        } else if late > LATE_SHARED_LIMIT {
            reasons.push(format!(
                "{:.1}% of token events shared a late socket read (read lag p99 {:.2} ms): their arrival times are upper bounds",
                late * 100.0,
                l.p99
            ));
        }
    }
    ClientHealth {
        offered_rate,
        scheduled_rate,
        achieved_rate,
        schedule_lag_ms: lag,
        cpu_s: rt.cpu_s,
        cpu_utilization,
        cores: rt.cores,
        includes_embedded_server: rt.includes_embedded_server,
        peak_in_flight: peak,
        peak_rss_bytes: rt.peak_rss_bytes,
        run_start_monotonic_ns: rt.run_start_monotonic_ns,
        rx_timestamp: rt.rx_timestamp,
        read_lag_ms: read_lag,
        runtime_probe_lateness_ms: probe,
        saturated: !reasons.is_empty(),
        saturated_reason: (!reasons.is_empty()).then(|| reasons.join("; ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(sched: u64, start: u64) -> RequestRecord {
        RequestRecord {
            sched_us: sched,
            start_us: start,
            send_us: start,
            ..Default::default()
        }
    }

    #[test]
    fn healthy_open_loop() {
        let recs: Vec<_> = (0..100).map(|i| rec(i * 10_000, i * 10_000 + 50)).collect();
        let rt = RuntimeSamples {
            cpu_s: Some(0.1),
            wall_s: 1.0,
            cores: 2,
            probe_lateness_ms: vec![1.0; 50],
            ..Default::default()
        };
        let h = client_health(&recs, Some(100.0), 4, &rt);
        assert!(!h.saturated, "{:?}", h.saturated_reason);
        assert!((h.achieved_rate.unwrap() - 100.0).abs() < 1e-6);
        assert!((h.cpu_utilization.unwrap() - 0.05).abs() < 1e-9);
    }

    #[test]
    fn starved_client_is_flagged() {
        // The client fell behind: each request starts later than planned by a growing amount.
        let recs: Vec<_> = (0..100).map(|i| rec(i * 1_000, i * 1_300)).collect();
        let rt = RuntimeSamples {
            cpu_s: Some(1.9),
            wall_s: 1.0,
            cores: 2,
            probe_lateness_ms: vec![25.0; 10],
            ..Default::default()
        };
        let h = client_health(&recs, Some(1000.0), 4, &rt);
        assert!(h.saturated);
        let why = h.saturated_reason.unwrap();
        assert!(
            why.contains("schedule lag") && why.contains("achieved") && why.contains("probe") && why.contains("CPU"),
            "{why}"
        );
    }

    #[test]
    fn late_socket_reads_are_flagged() {
        use crate::record::{kind, TokenEvent};
        // 10 requests of 20 token events each: 200 events.
        let recs: Vec<_> = (0..10)
            .map(|i| RequestRecord {
                events: (0..20).map(|j| TokenEvent::new(j * 10, 1, kind::CONTENT)).collect(),
                ..rec(i, i)
            })
            .collect();
        let lag = |late: u64, p99: f64| ReadLag {
            p50: 0.1,
            p99,
            max: 20.0,
            stamped_reads: 200,
            unstamped_reads: 0,
            late_shared_stamps: late,
        };
        let rt = |mode, l| RuntimeSamples {
            wall_s: 1.0,
            cores: 2,
            rx_timestamp: Some(mode),
            read_lag_ms: Some(l),
            ..Default::default()
        };
        // Kernel stamps: a lagging read only matters for events it delivered together.
        let ok = client_health(&recs, None, 10, &rt(RxTimestamp::Kernel, lag(2, 8.0)));
        assert!(!ok.saturated, "{:?}", ok.saturated_reason);
        assert_eq!(ok.read_lag_ms.as_ref().map(|l| l.late_shared_stamps), Some(2));
        let bad = client_health(&recs, None, 10, &rt(RxTimestamp::Kernel, lag(3, 8.0)));
        let why = bad.saturated_reason.unwrap_or_default();
        assert!(
            bad.saturated && why.contains("1.5% of token events shared a late socket read"),
            "{why}"
        );
        // Read-return stamps: the lag is in every arrival time.
        let user = client_health(&recs, None, 10, &rt(RxTimestamp::User, lag(0, 1.5)));
        let why = user.saturated_reason.unwrap_or_default();
        assert!(user.saturated && why.contains("socket read lag p99 1.50 ms"), "{why}");
        let fine = client_health(&recs, None, 10, &rt(RxTimestamp::User, lag(0, 0.5)));
        assert!(!fine.saturated);
        // No stamped read at all: no lag block, no verdict from it.
        let none = ReadLag {
            stamped_reads: 0,
            ..lag(50, 9.0)
        };
        let h = client_health(&recs, None, 10, &rt(RxTimestamp::Kernel, none));
        assert!(h.read_lag_ms.is_none() && !h.saturated);
    }
}
