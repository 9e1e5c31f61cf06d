//! Small shared helpers: a seedable PRNG with the distributions the workload and schedule
//! need, duration parsing, UTC timestamps and the shared monotonic clock — kept here so the rest of the crate does not
//! depend on the exact behaviour of external crates across versions (same seed, same run).

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// `t` on the system-wide monotonic clock (`CLOCK_MONOTONIC`), in ns. Two processes on one
/// machine read the same clock, so a client's timestamps and a server's write times can be
/// compared directly (the timing-error harness in `scripts/perf.sh` does). `Instant` has no
/// public raw value, so an anchor pair (`Instant`, `clock_gettime`) is read once, back to back;
/// its own error is well under a microsecond.
pub fn monotonic_ns(t: Instant) -> u64 {
    static ANCHOR: OnceLock<(Instant, u64)> = OnceLock::new();
    let (i0, ns0) = *ANCHOR.get_or_init(|| {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC is always available on Linux.
        let i = Instant::now();
        let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
        let ns = if rc == 0 {
            ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
        } else {
            0
        };
        (i, ns)
    });
    if t >= i0 {
        ns0 + t.duration_since(i0).as_nanos() as u64
    } else {
        ns0.saturating_sub(i0.duration_since(t).as_nanos() as u64)
    }
}

/// The project's one PRNG (crate `infermeter-rng`).
pub use infermeter_rng::Rng;

/// Parse "500ms", "10s", "2m", "1h", "1.5s" or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let (num, mult) = if let Some(n) = t.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = t.strip_suffix("us") {
        (n, 1e-6)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60.0)
    } else if let Some(n) = t.strip_suffix('h') {
        (n, 3600.0)
    } else {
        (t, 1.0)
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("invalid duration '{s}' (expected e.g. 500ms, 30s, 2m)"))?;
    if !v.is_finite() || v < 0.0 {
        return Err(format!("invalid duration '{s}': must be a non-negative number"));
    }
    // `Duration::from_secs_f64` panics past u64::MAX seconds, and `Instant + d` long before
    // that; nothing measured here runs for decades.
    let secs = v * mult;
    if secs > MAX_DURATION_S {
        return Err(format!(
            "invalid duration '{s}': at most {MAX_DURATION_S:e} s (about 31 years)"
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// The largest duration `parse_duration` accepts, in seconds.
pub const MAX_DURATION_S: f64 = 1e9;

/// `YYYYMMDD-HHMMSS` and RFC 3339 strings for a UNIX time in seconds (UTC).
pub fn utc_strings(unix_s: u64) -> (String, String) {
    let days = (unix_s / 86_400) as i64;
    let rem = unix_s % 86_400;
    let (h, mi, s) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        format!("{y:04}{m:02}{d:02}-{h:02}{mi:02}{s:02}"),
        format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z"),
    )
}

pub fn unix_now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_clock_agrees_with_instant() {
        let a = Instant::now();
        let (na, nb) = (monotonic_ns(a), monotonic_ns(a + Duration::from_millis(5)));
        assert_eq!(nb - na, 5_000_000);
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: valid out-pointer.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
        let raw = ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64;
        let now = monotonic_ns(Instant::now());
        assert!(now.abs_diff(raw) < 1_000_000, "{now} vs {raw}");
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        assert!(parse_duration("abc").is_err());
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("1e300s").is_err(), "too large: an error, not a panic");
        assert!(parse_duration("1e10s").is_err());
        assert!(parse_duration("87000h").is_ok());
    }

    /// Regression (found in review; `parse_duration_never_panics` now catches it):
    /// `--duration 1e300` used to panic in `Duration::from_secs_f64` instead of being a usage
    /// error.
    #[test]
    fn huge_durations_are_errors_not_panics() {
        for s in ["1e300", "1e20s", "1e17h", "3e8m", "1e10"] {
            assert!(parse_duration(s).unwrap_err().contains("at most"), "{s}");
        }
        assert_eq!(parse_duration("1e9").unwrap(), Duration::from_secs(1_000_000_000));
    }

    use proptest::strategy::Strategy;

    proptest::proptest! {
        /// Any string: a duration within the bound or a one-line error quoting the input.
        #[test]
        fn parse_duration_never_panics(s in proptest::prop_oneof![
            "\\PC{0,16}|[0-9.eE+-]{1,12}(ms|us|s|m|h)?",
            // Numbers of every magnitude, formatted as a user might type them.
            (proptest::prelude::any::<f64>(), "(ms|us|s|m|h)?").prop_map(|(v, u)| format!("{v:e}{u}")),
            (0u32..400, "(ms|us|s|m|h)?").prop_map(|(e, u)| format!("1e{e}{u}")),
        ]) {
            match parse_duration(&s) {
                Ok(d) => proptest::prop_assert!(d.as_secs_f64() <= MAX_DURATION_S),
                Err(e) => {
                    let quoted = format!("'{s}'");
                    proptest::prop_assert!(e.contains(&quoted) && !e.contains('\n'), "{}", e);
                }
            }
        }
    }

    #[test]
    fn utc_known_date() {
        // 2026-11-23 13:30:06 UTC
        let (a, b) = utc_strings(1_795_440_606);
        assert_eq!(b, "2026-11-23T13:30:06Z");
        assert_eq!(a, "20261123-133006");
    }

    #[test]
    fn rng_distributions_have_right_moments() {
        let mut r = Rng::new(7);
        let n = 200_000;
        let (mut se, mut sg, mut sn, mut sn2) = (0.0, 0.0, 0.0, 0.0);
        for _ in 0..n {
            se += r.exp1();
            sg += r.gamma(0.5);
            let x = r.normal();
            sn += x;
            sn2 += x * x;
        }
        let n = n as f64;
        assert!((se / n - 1.0).abs() < 0.02, "exp mean {}", se / n);
        assert!((sg / n - 0.5).abs() < 0.02, "gamma mean {}", sg / n);
        assert!((sn / n).abs() < 0.02);
        assert!((sn2 / n - 1.0).abs() < 0.02);
    }

    #[test]
    fn rng_is_reproducible() {
        let a: Vec<u64> = (0..5).map(|_| 0).scan(Rng::new(3), |r, _| Some(r.next_u64())).collect();
        let b: Vec<u64> = (0..5).map(|_| 0).scan(Rng::new(3), |r, _| Some(r.next_u64())).collect();
        assert_eq!(a, b);
        assert_ne!(Rng::stream(3, 1).next_u64(), Rng::stream(3, 2).next_u64());
    }
}
