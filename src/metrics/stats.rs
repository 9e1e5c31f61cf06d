//! Summary statistics over exact samples: n, mean, population std, min, max and percentiles
//! by linear interpolation between order statistics (NumPy's default `linear` method:
//! rank = p/100 · (n − 1)), the convention of vLLM and SGLang's benchmark scripts.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    pub n: u64,
    pub mean: f64,
    pub std: f64,
    pub min: f64,
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

/// Percentile of sorted samples by linear interpolation; `p` in [0, 100].
pub fn percentile_sorted(sorted: &[f64], p: f64) -> f64 {
    match sorted.len() {
        0 => f64::NAN,
        1 => sorted[0],
        n => {
            let rank = (p / 100.0).clamp(0.0, 1.0) * (n - 1) as f64;
            let lo = rank.floor() as usize;
            let hi = rank.ceil() as usize;
            let frac = rank - lo as f64;
            sorted[lo] + (sorted[hi] - sorted[lo]) * frac
        }
    }
}

/// [`percentile_sorted`] for samples stored as `f32` (interpolated in `f64`).
pub fn percentile_sorted_f32(sorted: &[f32], p: f64) -> f64 {
    match sorted.len() {
        0 => f64::NAN,
        n => {
            let rank = (p / 100.0).clamp(0.0, 1.0) * (n - 1) as f64;
            let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
            f64::from(sorted[lo]) + (f64::from(sorted[hi]) - f64::from(sorted[lo])) * (rank - lo as f64)
        }
    }
}

impl Stats {
    /// Statistics of `samples` (NaNs are dropped). Empty input gives `n = 0` and zeros.
    pub fn from_samples(mut samples: Vec<f64>) -> Stats {
        samples.retain(|x| !x.is_nan());
        if samples.is_empty() {
            return Stats::default();
        }
        samples.sort_unstable_by(f64::total_cmp);
        let n = samples.len() as f64;
        let mean = samples.iter().sum::<f64>() / n;
        let var = samples.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
        Stats {
            n: samples.len() as u64,
            mean,
            std: var.sqrt(),
            min: samples[0],
            p50: percentile_sorted(&samples, 50.0),
            p90: percentile_sorted(&samples, 90.0),
            p95: percentile_sorted(&samples, 95.0),
            p99: percentile_sorted(&samples, 99.0),
            p999: percentile_sorted(&samples, 99.9),
            max: samples[samples.len() - 1],
        }
    }
}

impl Stats {
    /// Same statistics for large pooled samples stored as `f32` (half the memory; 24-bit
    /// mantissa, i.e. ~0.1 ns resolution at 1 ms). Accumulation is done in `f64`.
    pub fn from_samples_f32(mut samples: Vec<f32>) -> Stats {
        samples.retain(|x| !x.is_nan());
        if samples.is_empty() {
            return Stats::default();
        }
        samples.sort_unstable_by(f32::total_cmp);
        let n = samples.len();
        let mean = samples.iter().map(|&x| f64::from(x)).sum::<f64>() / n as f64;
        let var = samples.iter().map(|&x| (f64::from(x) - mean).powi(2)).sum::<f64>() / n as f64;
        let pct = |p: f64| percentile_sorted_f32(&samples, p);
        Stats {
            n: n as u64,
            mean,
            std: var.sqrt(),
            min: f64::from(samples[0]),
            p50: pct(50.0),
            p90: pct(90.0),
            p95: pct(95.0),
            p99: pct(99.0),
            p999: pct(99.9),
            max: f64::from(samples[n - 1]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn numpy_linear_matches_hand_values() {
        // numpy.percentile([1,2,3,4], [50, 90]) == [2.5, 3.7]
        let s = Stats::from_samples(vec![4.0, 1.0, 3.0, 2.0]);
        assert_eq!(s.p50, 2.5);
        assert!((s.p90 - 3.7).abs() < 1e-12);
        assert_eq!((s.min, s.max, s.mean), (1.0, 4.0, 2.5));
        assert!((s.std - 1.118_033_988_749_895).abs() < 1e-12); // np.std (ddof=0)
        let one = Stats::from_samples(vec![7.0]);
        assert_eq!((one.p99, one.std, one.n), (7.0, 0.0, 1));
        assert_eq!(Stats::from_samples(vec![]).n, 0);
    }

    #[test]
    fn f32_variant_agrees() {
        let v: Vec<f64> = (0..1000).map(|i| (i as f64 * 0.37).sin() * 10.0 + 20.0).collect();
        let a = Stats::from_samples(v.clone());
        let b = Stats::from_samples_f32(v.iter().map(|&x| x as f32).collect());
        for (x, y) in [
            (a.p50, b.p50),
            (a.p99, b.p99),
            (a.mean, b.mean),
            (a.std, b.std),
            (a.max, b.max),
        ] {
            assert!((x - y).abs() < 1e-5, "{x} vs {y}");
        }
    }

    proptest! {
        #[test]
        fn percentiles_are_monotone_and_bounded(v in prop::collection::vec(-1e6f64..1e6, 1..200)) {
            let s = Stats::from_samples(v);
            prop_assert!(s.min <= s.p50 && s.p50 <= s.p90 && s.p90 <= s.p95);
            prop_assert!(s.p95 <= s.p99 && s.p99 <= s.p999 && s.p999 <= s.max);
        }
    }
}
