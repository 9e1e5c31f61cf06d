//! Evidence of how far a shard's wall clock may be from UTC, so a merge can say how well the
//! shards' timelines line up. Shards are aligned by their wall-clock anchors; two machines'
//! anchors can only be compared to within the sum of their clocks' errors.
//!
//! The evidence is the kernel's NTP discipline state (`adjtimex(2)` with no modes set, which
//! any process may read, also in a container): whether the clock is synchronized, and the
//! maximum and estimated error that the NTP daemon (chrony, ntpd, systemd-timesyncd) keeps
//! there. Absent on systems without `adjtimex`.

use serde::{Deserialize, Serialize};

/// The kernel's view of this machine's clock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClockEvidence {
    /// Where the figures come from (`adjtimex`).
    pub source: String,
    /// The kernel considers the clock synchronized to a reference (`STA_UNSYNC` clear and the
    /// clock state is not `TIME_ERROR`).
    pub synchronized: bool,
    /// Upper bound of the clock's offset from true time, µs (`maxerror`, grown by the kernel
    /// while no daemon updates it).
    pub max_error_us: i64,
    /// Estimated error, µs (`esterror`).
    pub est_error_us: i64,
}

impl ClockEvidence {
    /// Read it now; `None` where the system has no `adjtimex`.
    pub fn read() -> Option<ClockEvidence> {
        #[cfg(target_os = "linux")]
        {
            // SAFETY: `timex` is plain data; all-zero is a valid value with `modes = 0`
            // (read only), and adjtimex only writes into the struct we pass.
            let mut tx: libc::timex = unsafe { std::mem::zeroed() };
            let state = unsafe { libc::adjtimex(&mut tx) };
            if state < 0 {
                return None;
            }
            let unsync = tx.status & libc::STA_UNSYNC != 0;
            Some(ClockEvidence {
                source: "adjtimex".into(),
                synchronized: !unsync && state != libc::TIME_ERROR,
                max_error_us: tx.maxerror as i64,
                est_error_us: tx.esterror as i64,
            })
        }
        #[cfg(not(target_os = "linux"))]
        {
            None
        }
    }
}

/// A bound on the offset between any two of these clocks, ms: the sum of the two largest
/// `max_error`s, when every clock is synchronized; `None` otherwise (no bound is known).
pub fn pairwise_bound_ms(clocks: &[Option<ClockEvidence>]) -> Option<f64> {
    let mut errs = Vec::with_capacity(clocks.len());
    for c in clocks {
        match c {
            Some(c) if c.synchronized && c.max_error_us >= 0 => errs.push(c.max_error_us),
            _ => return None,
        }
    }
    errs.sort_unstable_by(|a, b| b.cmp(a));
    match errs.as_slice() {
        [] => None,
        [a] => Some(*a as f64 / 1000.0),
        [a, b, ..] => Some((a + b) as f64 / 1000.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readable_here() {
        let c = ClockEvidence::read().expect("adjtimex on Linux");
        assert_eq!(c.source, "adjtimex");
        assert!(c.max_error_us >= 0);
    }

    #[test]
    fn bound_needs_every_clock_synchronized() {
        let c = |sync, max| {
            Some(ClockEvidence {
                source: "adjtimex".into(),
                synchronized: sync,
                max_error_us: max,
                est_error_us: 0,
            })
        };
        assert_eq!(
            pairwise_bound_ms(&[c(true, 2000), c(true, 500), c(true, 1000)]),
            Some(3.0)
        );
        assert_eq!(pairwise_bound_ms(&[c(true, 2000)]), Some(2.0));
        assert_eq!(pairwise_bound_ms(&[c(true, 2000), c(false, 5)]), None);
        assert_eq!(pairwise_bound_ms(&[c(true, 2000), None]), None);
        assert_eq!(pairwise_bound_ms(&[]), None);
    }
}
