//! Sharded runs: one benchmark split over N processes (one per machine, e.g. the pods of a
//! Kubernetes Indexed Job) that together send exactly the single-process workload, start
//! together, and are merged back into one run directory.
//!
//! Why a module of its own: the split is a pure function of the specification (which request
//! indices and how many workers a shard gets), the merge is a pure function of the shards'
//! records, and both must be testable without a network. The runner only asks a
//! [`Partition`] which indices are its own; `app::merge` and `app::k8s` do the I/O.
//!
//! The split (`docs/distributed.md`):
//! * requests are numbered `0, 1, 2, …` as in a single process (warm-up first, then the
//!   measured ones), and every prompt is a function of `(seed, index)`, so a shard sends the
//!   very prompts the single process would have sent under those indices;
//! * closed loop: the `C` workers are dealt round-robin (`C mod N` shards get one more), and
//!   within every block of `C` consecutive measured indices, slot `w` belongs to shard
//!   `w mod N`, so each shard gets requests in proportion to its workers;
//! * open loop: the single process's arrival schedule is computed whole from the seed, and
//!   arrival `j` belongs to shard `j mod N` (so the shards' rates add up to the rate); a
//!   `max_concurrency` cap is dealt like workers;
//! * the union over the shards is the single-process run, nothing twice; record ids are the
//!   global indices.

pub mod clock;
pub mod facts;
pub mod k8s;
pub mod merge;
pub mod validate;

use crate::schedule::Load;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use clock::ClockEvidence;
pub use facts::{MergeInfo, ShardHealth, ShardInfo};

/// The environment variable a Kubernetes Indexed Job sets to each pod's completion index.
pub const INDEX_ENV: &str = "JOB_COMPLETION_INDEX";

/// The placeholder in `output.dir` replaced by the shard index (`--out results/run/shard-{shard}`).
pub const DIR_PLACEHOLDER: &str = "{shard}";

/// Most shards of one run (a bound against typos; a Job of more pods is unusual).
pub const MAX_SHARDS: u32 = 10_000;

/// One process's part of a sharded run: shard `index` of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    /// The whole run (not sharded).
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    /// This shard's part of `total` things dealt round-robin (workers, a concurrency cap,
    /// slots of a period): the number of `w < total` with `w mod count == index`.
    pub fn share(self, total: u64) -> u64 {
        let (k, n) = (u64::from(self.index), u64::from(self.count.max(1)));
        if total > k {
            (total - k - 1) / n + 1
        } else {
            0
        }
    }

    /// `K/N` as typed on the command line.
    pub fn parse(text: &str) -> Result<Shard, String> {
        let bad = || format!("invalid --shard '{text}': expected K/N with 0 <= K < N, e.g. 0/4");
        let (k, n) = text.trim().split_once('/').ok_or_else(bad)?;
        let index: u32 = k.trim().parse().map_err(|_| bad())?;
        let count: u32 = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Which request indices a shard sends. Indices are dealt in periods of `period`
/// consecutive indices; within a period, slot `w` belongs to shard `w mod count`.
/// `Partition::stride` (period = N) deals index `j` to shard `j mod N`; `Partition::slots`
/// (period = the closed loop's concurrency) deals each shard as many indices per period as
/// it has workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partition {
    shard: Shard,
    period: u64,
}

impl Partition {
    /// Every index (an unsharded run).
    pub const WHOLE: Partition = Partition {
        shard: Shard::WHOLE,
        period: 1,
    };

    /// Index `j` belongs to shard `j mod N`.
    pub fn stride(shard: Shard) -> Partition {
        Partition {
            shard,
            period: u64::from(shard.count.max(1)),
        }
    }

    /// Periods of `slots` indices (at least N), dealt like `slots` workers.
    pub fn slots(shard: Shard, slots: u64) -> Partition {
        Partition {
            shard,
            period: slots.max(u64::from(shard.count.max(1))),
        }
    }

    pub fn shard(&self) -> Shard {
        self.shard
    }

    /// The shard that sends index `j`.
    pub fn owner(&self, j: u64) -> u32 {
        ((j % self.period) % u64::from(self.shard.count.max(1))) as u32
    }

    pub fn owns(&self, j: u64) -> bool {
        self.owner(j) == self.shard.index
    }

    fn per_period(&self) -> u64 {
        self.shard.share(self.period)
    }

    /// The `n`-th index (from 0) this shard sends; increasing in `n`.
    pub fn nth(&self, n: u64) -> u64 {
        let m = self.per_period().max(1);
        (n / m) * self.period + u64::from(self.shard.index) + (n % m) * u64::from(self.shard.count.max(1))
    }

    /// How many of the indices `0..total` this shard sends.
    pub fn owned_below(&self, total: u64) -> u64 {
        (total / self.period) * self.per_period() + self.shard.share(total % self.period)
    }
}

/// The run's time origin on both clocks, read back to back: every record's `*_us` instant
/// counts from `instant`, which was `unix_us` on the wall clock. Shards' records are aligned
/// on a common timeline by their anchors (never by wall-clock differences of durations).
#[derive(Debug, Clone, Copy)]
pub struct Anchor {
    pub instant: Instant,
    pub unix_us: u64,
}

impl Anchor {
    pub fn now() -> Anchor {
        let instant = Instant::now();
        let unix_us = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_micros() as u64)
            .unwrap_or(0);
        Anchor { instant, unix_us }
    }

    /// The instant at which the wall clock reads `unix_us` (a past one is clamped to
    /// `instant`'s own past as far as `Instant` allows).
    pub fn instant_of(&self, unix_us: u64) -> Instant {
        if unix_us >= self.unix_us {
            self.instant + Duration::from_micros(unix_us - self.unix_us)
        } else {
            let back = Duration::from_micros(self.unix_us - unix_us);
            self.instant.checked_sub(back).unwrap_or(self.instant)
        }
    }
}

/// The settings of a sharded or synchronized run, validated.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sharding {
    /// `None`: the whole run (possibly with a synchronized start).
    pub shard: Option<Shard>,
    /// Where the index came from (`argument` or the environment variable's name).
    pub index_source: String,
    /// Start of the measured phase, UNIX µs, and as written.
    pub start_at: Option<(u64, String)>,
}

/// One shard's own part of the load.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OwnLoad {
    /// Closed loop: workers.
    pub concurrency: Option<usize>,
    /// Open loop: the mean rate of its arrivals (every N-th of the schedule).
    pub rate: Option<f64>,
    pub max_concurrency: Option<usize>,
    /// Measured requests (`None` when the run is bounded by its duration only).
    pub requests: Option<u64>,
    pub warmup: u64,
}

/// The part of `load` (with `requests` measured and `warmup` warm-up requests) that `shard`
/// sends.
pub fn own_load(shard: Shard, load: &Load, requests: Option<u64>, warmup: u64) -> OwnLoad {
    let (concurrency, rate, max_concurrency, part) = match *load {
        Load::Closed { concurrency } => (
            Some(shard.share(concurrency as u64) as usize),
            None,
            None,
            Partition::slots(shard, concurrency as u64),
        ),
        Load::Open {
            rate, max_concurrency, ..
        } => (
            None,
            Some(rate / f64::from(shard.count.max(1))),
            max_concurrency.map(|c| shard.share(c as u64) as usize),
            Partition::stride(shard),
        ),
        // A trace's requests are dealt like an open loop's arrivals (its rate is the trace's).
        Load::Trace { max_concurrency } => (
            None,
            None,
            max_concurrency.map(|c| shard.share(c as u64) as usize),
            Partition::stride(shard),
        ),
    };
    OwnLoad {
        concurrency,
        rate,
        max_concurrency,
        requests: requests.map(|r| part.owned_below(r)),
        warmup: Partition::stride(shard).owned_below(warmup),
    }
}

/// A shard's output directory: `{shard}` in a given `--out` replaced by the index; the
/// default directory gets a `-shard-K` suffix.
pub fn out_dir(given: bool, dir: std::path::PathBuf, shard: Shard) -> std::path::PathBuf {
    let text = dir.to_string_lossy();
    if text.contains(DIR_PLACEHOLDER) {
        return text.replace(DIR_PLACEHOLDER, &shard.index.to_string()).into();
    }
    if given {
        return dir;
    }
    format!("{text}-shard-{}", shard.index).into()
}

/// The host name of this machine (`gethostname`), or `HOSTNAME`, or `unknown`.
pub fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates on success
    // (a truncated name is cut at the first NUL below either way).
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc == 0 {
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        if let Ok(s) = std::str::from_utf8(&buf[..end]) {
            if !s.is_empty() {
                return s.to_string();
            }
        }
    }
    std::env::var("HOSTNAME").unwrap_or_else(|_| "unknown".into())
}

/// Parse an RFC 3339 time (`2026-05-01T12:00:00Z`, `…T12:00:00.250+02:00`) into UNIX µs.
pub fn parse_utc(text: &str) -> Result<u64, String> {
    let bad = |why: &str| format!("invalid --start-at '{text}': {why} (expected RFC 3339, e.g. 2026-05-01T12:00:00Z)");
    let t = text.trim();
    let b = t.as_bytes();
    if b.len() < 20 {
        return Err(bad("too short"));
    }
    let num = |r: std::ops::Range<usize>| -> Result<i64, String> {
        let s = t.get(r).ok_or_else(|| bad("not a date and time"))?;
        if !s.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad("not a date and time"));
        }
        s.parse::<i64>().map_err(|_| bad("not a date and time"))
    };
    if b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') || b[13] != b':' || b[16] != b':' {
        return Err(bad("not a date and time"));
    }
    let (y, mo, d, h, mi, s) = (
        num(0..4)?,
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
    );
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || s > 60 {
        return Err(bad("a field is out of range"));
    }
    let mut i = 19;
    let mut frac_us = 0i64;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return Err(bad("empty fraction of a second"));
        }
        let digits = &t[start..i];
        let six: String = digits.chars().chain(std::iter::repeat('0')).take(6).collect();
        frac_us = six.parse().map_err(|_| bad("bad fraction"))?;
    }
    let offset_s = match t.get(i..) {
        Some("Z") | Some("z") => 0,
        Some(o) if o.len() == 6 && (o.starts_with('+') || o.starts_with('-')) && &o[3..4] == ":" => {
            let oh = num(i + 1..i + 3)?;
            let om = num(i + 4..i + 6)?;
            if oh > 23 || om > 59 {
                return Err(bad("offset out of range"));
            }
            let sign = if o.starts_with('-') { -1 } else { 1 };
            sign * (oh * 3600 + om * 60)
        }
        _ => return Err(bad("a time zone (Z or +HH:MM) is required")),
    };
    let days = days_from_civil(y, mo, d);
    let unix_s = days * 86_400 + h * 3600 + mi * 60 + s.min(59) - offset_s;
    if unix_s < 0 {
        return Err(bad("before 1970"));
    }
    Ok(unix_s as u64 * 1_000_000 + frac_us as u64)
}

/// RFC 3339 with milliseconds, UTC.
pub fn format_utc(unix_us: u64) -> String {
    let (_, s) = crate::util::utc_strings(unix_us / 1_000_000);
    let ms = (unix_us % 1_000_000) / 1000;
    format!("{}.{ms:03}Z", s.trim_end_matches('Z'))
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a civil date (the inverse of `util::utc_strings`' algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The shard index from the environment variable `var` (a Kubernetes Indexed Job's
/// `JOB_COMPLETION_INDEX`).
pub fn index_from_env(var: &str, value: Option<&str>, count: u32) -> Result<u32, String> {
    let v = value.ok_or_else(|| {
        format!("--shards {count} needs this process's index: --shard K/{count}, shard.index, or the environment variable {var} (set by a Kubernetes Indexed Job)")
    })?;
    let k: u32 = v
        .trim()
        .parse()
        .map_err(|_| format!("environment variable {var}='{v}' is not a shard index (0..{count})"))?;
    if k >= count {
        return Err(format!(
            "environment variable {var}={k} is not a shard index of --shards {count} (0..{})",
            count - 1
        ));
    }
    Ok(k)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// For every small shape, the shards' indices are disjoint, cover `0..total`, and each
    /// shard's `nth` walks its own indices in order.
    #[test]
    fn partitions_cover_every_index_exactly_once() {
        for count in 1..=5u32 {
            for period in [1u64, 2, 3, 4, 5, 7, 8, 13, 32] {
                for total in [0u64, 1, 2, 3, 7, 8, 31, 32, 33, 100] {
                    let mut seen = BTreeSet::new();
                    let mut sum = 0;
                    for index in 0..count {
                        let p = Partition::slots(Shard { index, count }, period);
                        let own = p.owned_below(total);
                        sum += own;
                        let mut last = None;
                        for n in 0..own {
                            let j = p.nth(n);
                            assert!(j < total, "{count} {period} {total}: nth({n}) = {j}");
                            assert!(p.owns(j) && p.owner(j) == index);
                            assert!(last.is_none_or(|l| l < j), "nth is increasing");
                            assert!(seen.insert(j), "index {j} twice");
                            last = Some(j);
                        }
                        // The next one is past the end.
                        assert!(p.nth(own) >= total);
                    }
                    assert_eq!(sum, total);
                    assert_eq!(seen.len() as u64, total);
                }
            }
        }
    }

    #[test]
    fn closed_loop_deals_requests_in_proportion_to_workers() {
        // 5 workers over 2 shards: 3 and 2 workers, 3/5 and 2/5 of the requests.
        let (a, b) = (Shard { index: 0, count: 2 }, Shard { index: 1, count: 2 });
        assert_eq!((a.share(5), b.share(5)), (3, 2));
        let (pa, pb) = (Partition::slots(a, 5), Partition::slots(b, 5));
        assert_eq!((pa.owned_below(100), pb.owned_below(100)), (60, 40));
        assert_eq!((0..5).map(|n| pa.nth(n)).collect::<Vec<_>>(), vec![0, 2, 4, 5, 7]);
        assert_eq!((0..4).map(|n| pb.nth(n)).collect::<Vec<_>>(), vec![1, 3, 6, 8]);
        // Unsharded: every index in order.
        assert_eq!(
            (0..4).map(|n| Partition::WHOLE.nth(n)).collect::<Vec<_>>(),
            vec![0, 1, 2, 3]
        );
        assert_eq!(Partition::WHOLE.owned_below(17), 17);
    }

    #[test]
    fn shard_arguments() {
        assert_eq!(Shard::parse("1/4"), Ok(Shard { index: 1, count: 4 }));
        assert_eq!(Shard::parse(" 0 / 1 "), Ok(Shard { index: 0, count: 1 }));
        for bad in ["4/4", "1", "a/2", "1/0", "-1/2", "", "1/2/3"] {
            let e = Shard::parse(bad).unwrap_err();
            assert!(e.starts_with("invalid --shard") && !e.contains('\n'), "{bad}: {e}");
        }
        assert_eq!(index_from_env(INDEX_ENV, Some("3"), 4), Ok(3));
        assert!(index_from_env(INDEX_ENV, Some("4"), 4).unwrap_err().contains("0..3"));
        assert!(index_from_env(INDEX_ENV, Some("x"), 4).is_err());
        assert!(index_from_env(INDEX_ENV, None, 4)
            .unwrap_err()
            .contains("JOB_COMPLETION_INDEX"));
    }

    #[test]
    fn utc_times_round_trip() {
        assert_eq!(parse_utc("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(parse_utc("2000-03-01T00:00:00Z"), Ok(951_868_800_000_000));
        let t = parse_utc("2026-05-01T12:34:56.789Z").unwrap();
        assert_eq!(format_utc(t), "2026-05-01T12:34:56.789Z");
        assert_eq!(parse_utc("2026-05-01T14:34:56.789+02:00"), Ok(t));
        assert_eq!(parse_utc("2026-05-01t10:34:56.789123-02:00"), Ok(t + 123));
        // Every day of a leap year and a common one survives the round trip.
        for y in [2024, 2026] {
            for day in 0..366 {
                let us = parse_utc(&format!("{y}-01-01T00:00:00Z")).unwrap() + day * 86_400_000_000;
                assert_eq!(parse_utc(&format_utc(us)), Ok(us));
            }
        }
        for bad in [
            "2026-05-01T12:00:00",
            "2026-02-30T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "tomorrow",
            "2026-05-01T12:00:00.Z",
            "1969-12-31T23:59:59Z",
            "2026-05-01T12:00:00+2:00",
        ] {
            let e = parse_utc(bad).unwrap_err();
            assert!(e.starts_with("invalid --start-at") && !e.contains('\n'), "{bad}: {e}");
        }
    }

    #[test]
    fn anchors_map_wall_times_to_instants() {
        let a = Anchor::now();
        assert_eq!(a.instant_of(a.unix_us + 1500) - a.instant, Duration::from_micros(1500));
        assert!(a.instant_of(a.unix_us.saturating_sub(10)) <= a.instant);
        assert!(!host_name().is_empty());
    }
}
