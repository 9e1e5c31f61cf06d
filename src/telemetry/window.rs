//! Window arithmetic over scraped time series: counter increases and histogram deltas between
//! two instants (with counter resets), and quantiles of a delta histogram — the server-side
//! percentiles of a run or its steady-state window, from cumulative metrics.
//!
//! Formulas (docs/metrics.md, "Server metrics"):
//! * span of a window `[a, b]`: from the last scrape at or before `a` (the baseline; the first
//!   scrape when none precedes `a`) to the first scrape at or after `b` (the last scrape when none
//!   follows), so every event inside the window is counted, plus what happened in the partial
//!   scrape intervals at its edges;
//! * increase = `Σ step(v_{k−1}, v_k)` over consecutive scrapes of the span, `step = v_k − v_{k−1}`,
//!   or `v_k` when the value went down (a counter reset: the server restarted);
//! * a histogram's delta applies the same rule bucket by bucket (a reset is any cumulative
//!   count going down);
//! * quantile `q` of a delta histogram is Prometheus's `histogram_quantile`: rank `q·count`, the
//!   first bucket whose cumulative count reaches it, linear interpolation between that bucket's
//!   bounds (the lowest bucket starts at 0), and the highest finite bound when the rank falls in
//!   the `+Inf` bucket. The mean is exact: `Δsum / Δcount`.

use super::concepts::HistSnapshot;

/// Indices `(i0, i1)` of the span of `[a, b]` in time-sorted points; `None` when fewer than
/// two points fall in or around the window.
pub fn span(times: &[i64], a: i64, b: i64) -> Option<(usize, usize)> {
    if times.len() < 2 || b < a {
        return None;
    }
    // The baseline: the last scrape at or before `a`, else the first one.
    let i0 = times.iter().rposition(|&t| t <= a).unwrap_or(0);
    let i1 = times.iter().position(|&t| t >= b).unwrap_or(times.len() - 1);
    (i1 > i0).then_some((i0, i1))
}

/// A counter's increase over a window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Increase {
    pub increase: f64,
    /// Seconds between the span's first and last scrape.
    pub seconds: f64,
    pub resets: u32,
}

/// The increase of a counter sampled at `(t_us, value)` points (sorted by time) over `[a, b]`.
pub fn counter_increase(points: &[(i64, f64)], a: i64, b: i64) -> Option<Increase> {
    let times: Vec<i64> = points.iter().map(|p| p.0).collect();
    let (i0, i1) = span(&times, a, b)?;
    let mut inc = 0.0;
    let mut resets = 0;
    for w in points[i0..=i1].windows(2) {
        let (prev, cur) = (w[0].1, w[1].1);
        if cur >= prev {
            inc += cur - prev;
        } else {
            resets += 1;
            inc += cur.max(0.0);
        }
    }
    Some(Increase {
        increase: inc,
        seconds: (points[i1].0 - points[i0].0) as f64 / 1e6,
        resets,
    })
}

/// The observations a histogram gained over `[a, b]` (cumulative form), and the number of
/// resets seen. Steps whose bucket layout differs from the span's first snapshot (a server
/// restarted with other buckets) are skipped and counted as resets.
pub fn histogram_delta(points: &[(i64, &HistSnapshot)], a: i64, b: i64) -> Option<(HistSnapshot, u32)> {
    let times: Vec<i64> = points.iter().map(|p| p.0).collect();
    let (i0, i1) = span(&times, a, b)?;
    let first = points[i0].1;
    let mut acc = HistSnapshot {
        bounds: first.bounds.clone(),
        cumulative: vec![0.0; first.bounds.len()],
        sum: 0.0,
        count: 0.0,
    };
    let mut resets = 0;
    for w in points[i0..=i1].windows(2) {
        let (prev, cur) = (w[0].1, w[1].1);
        if cur.bounds != acc.bounds {
            resets += 1;
            continue;
        }
        let went_down = prev.bounds != cur.bounds
            || cur.count < prev.count
            || cur.cumulative.iter().zip(&prev.cumulative).any(|(c, p)| c < p);
        if went_down {
            resets += 1;
            for (a, c) in acc.cumulative.iter_mut().zip(&cur.cumulative) {
                *a += c.max(0.0);
            }
            acc.sum += cur.sum.max(0.0);
            acc.count += cur.count.max(0.0);
        } else {
            for ((a, c), p) in acc.cumulative.iter_mut().zip(&cur.cumulative).zip(&prev.cumulative) {
                *a += c - p;
            }
            acc.sum += (cur.sum - prev.sum).max(0.0);
            acc.count += cur.count - prev.count;
        }
    }
    Some((acc, resets))
}

/// Prometheus's `histogram_quantile(q, …)` over cumulative buckets (bounds ascending, the last
/// normally `+Inf`). `None` when the histogram is empty or `q` is outside [0, 1].
pub fn histogram_quantile(q: f64, bounds: &[f64], cumulative: &[f64]) -> Option<f64> {
    if !(0.0..=1.0).contains(&q) || bounds.is_empty() || bounds.len() != cumulative.len() {
        return None;
    }
    let total = *cumulative.last()?;
    if total <= 0.0 || !total.is_finite() {
        return None;
    }
    let rank = q * total;
    let i = cumulative.iter().position(|&c| c >= rank)?;
    if bounds[i].is_infinite() {
        // In the +Inf bucket: the highest finite bound is the best estimate.
        return bounds[..i].iter().rev().copied().find(|b| b.is_finite());
    }
    let (lo, below) = if i == 0 {
        (if bounds[0] > 0.0 { 0.0 } else { bounds[0] }, 0.0)
    } else {
        (bounds[i - 1], cumulative[i - 1])
    };
    let in_bucket = cumulative[i] - below;
    if in_bucket <= 0.0 {
        return Some(bounds[i]);
    }
    Some(lo + (bounds[i] - lo) * (rank - below) / in_bucket)
}

/// The bucket `(lower, upper)` that holds `v` (upper = the first bound ≥ v).
pub fn bucket_of(v: f64, bounds: &[f64]) -> Option<(f64, f64)> {
    let i = bounds.iter().position(|&b| b >= v)?;
    let lo = if i == 0 { 0.0f64.min(bounds[0]) } else { bounds[i - 1] };
    Some((lo, bounds[i]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(cum: &[f64], sum: f64) -> HistSnapshot {
        HistSnapshot {
            bounds: vec![0.1, 0.2, 0.5, f64::INFINITY],
            cumulative: cum.to_vec(),
            sum,
            count: *cum.last().unwrap(),
        }
    }

    #[test]
    fn span_takes_the_baseline_before_and_the_end_after() {
        let t = [0, 10, 20, 30, 40];
        assert_eq!(span(&t, 15, 25), Some((1, 3)));
        assert_eq!(span(&t, 10, 30), Some((1, 3)));
        assert_eq!(span(&t, -5, 100), Some((0, 4)));
        assert_eq!(span(&t, 45, 50), None);
        assert_eq!(span(&[5], 0, 10), None);
    }

    #[test]
    fn counter_increase_with_a_reset() {
        // 10 → 15 → (restart) 3 → 8: 5 + 3 + 5 = 13
        let p = [(0, 10.0), (1_000_000, 15.0), (2_000_000, 3.0), (3_000_000, 8.0)];
        let inc = counter_increase(&p, 0, 3_000_000).unwrap();
        assert_eq!(inc.increase, 13.0);
        assert_eq!(inc.resets, 1);
        assert_eq!(inc.seconds, 3.0);
        // span 1 s → 3 s: the reset step counts the new value (3), then +5
        assert_eq!(counter_increase(&p, 1_500_000, 2_500_000).unwrap().increase, 3.0 + 5.0);
    }

    #[test]
    fn histogram_delta_and_quantiles_match_prometheus() {
        let a = h(&[1.0, 1.0, 1.0, 1.0], 0.05);
        let b = h(&[3.0, 7.0, 10.0, 11.0], 3.0);
        let (d, resets) = histogram_delta(&[(0, &a), (1, &b)], 0, 1).unwrap();
        assert_eq!(resets, 0);
        assert_eq!(d.cumulative, vec![2.0, 6.0, 9.0, 10.0]);
        assert_eq!(d.count, 10.0);
        assert!((d.sum - 2.95).abs() < 1e-12);
        // rank 5 falls in (0.1, 0.2] holding 4 (cum 2 → 6): 0.1 + 0.1 · 3/4
        assert!((histogram_quantile(0.5, &d.bounds, &d.cumulative).unwrap() - 0.175).abs() < 1e-12);
        // rank 1 in the first bucket: 0 + 0.1 · 1/2
        assert!((histogram_quantile(0.1, &d.bounds, &d.cumulative).unwrap() - 0.05).abs() < 1e-12);
        // rank 9.9 in +Inf: the highest finite bound
        assert_eq!(histogram_quantile(0.99, &d.bounds, &d.cumulative), Some(0.5));
        assert_eq!(histogram_quantile(0.5, &d.bounds, &[0.0; 4]), None);
        assert_eq!(bucket_of(0.175, &d.bounds), Some((0.1, 0.2)));
        assert_eq!(bucket_of(0.05, &d.bounds), Some((0.0, 0.1)));
    }

    #[test]
    fn histogram_reset_takes_the_new_counts() {
        let a = h(&[5.0, 5.0, 5.0, 5.0], 0.2);
        let b = h(&[1.0, 2.0, 2.0, 2.0], 0.3);
        let (d, resets) = histogram_delta(&[(0, &a), (1, &b)], 0, 1).unwrap();
        assert_eq!(resets, 1);
        assert_eq!(d.cumulative, vec![1.0, 2.0, 2.0, 2.0]);
        assert_eq!(d.count, 2.0);
    }
}
