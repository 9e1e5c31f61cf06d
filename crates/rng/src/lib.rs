//! The one pseudo-random number generator of infermeter: workloads (prompts, lengths,
//! arrival times), the simulated server (timings, faults), the simulated engine's tests and
//! the simulator's validation workloads all draw from it, so a seed means the same thing
//! everywhere and there is one implementation to trust.
//!
//! SplitMix64 (Steele, Lea and Flood, 2014): 64 bits of state, passes BigCrush, trivially
//! seedable; independent streams of a run come from mixing the stream number into the seed.

/// SplitMix64 with the draws infermeter needs.
#[derive(Clone, Debug)]
pub struct Rng {
    state: u64,
}

/// The SplitMix64 output mix (also a good 64-bit hash finalizer).
#[inline]
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Rng { state: seed }
    }

    /// The generator for stream `stream` of a run seeded with `seed` (independent streams:
    /// one per request, one for arrivals, ...).
    pub fn stream(seed: u64, stream: u64) -> Self {
        Rng::new(seed ^ mix64(stream.wrapping_mul(0xD6E8_FEB8_6659_FD93).rotate_left(17)))
    }

    /// The next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix64(self.state)
    }

    /// Uniform in `[0, 1)`.
    #[inline]
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `[0, 1)` (the engine crate's name for [`Rng::f64`]).
    #[inline]
    pub fn next_f64(&mut self) -> f64 {
        self.f64()
    }

    /// Uniform integer in `[0, n)`; `n` must be > 0 (Lemire's multiply-shift; the bias of at
    /// most n/2⁶⁴ is irrelevant here).
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    /// Uniform integer in `[lo, hi]` (inclusive); `lo <= hi`.
    pub fn range_u32(&mut self, lo: u32, hi: u32) -> u32 {
        assert!(lo <= hi);
        let span = u64::from(hi - lo) + 1;
        lo + (self.next_u64() % span) as u32
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.f64(); // (0, 1]
        let u2 = self.f64();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    /// Exponential with mean 1.
    pub fn exp1(&mut self) -> f64 {
        -(1.0 - self.f64()).ln()
    }

    /// Exponential with the given rate (a Poisson process's gap).
    pub fn exp(&mut self, rate: f64) -> f64 {
        self.exp1() / rate
    }

    /// Gamma(shape, scale = 1) by Marsaglia–Tsang; shape < 1 uses the boost u^(1/shape).
    pub fn gamma(&mut self, shape: f64) -> f64 {
        if shape < 1.0 {
            let u = 1.0 - self.f64();
            return self.gamma(shape + 1.0) * u.powf(1.0 / shape);
        }
        let d = shape - 1.0 / 3.0;
        let c = 1.0 / (9.0 * d).sqrt();
        loop {
            let x = self.normal();
            let v = 1.0 + c * x;
            if v <= 0.0 {
                continue;
            }
            let v = v * v * v;
            let u = 1.0 - self.f64();
            if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
                return d * v;
            }
        }
    }

    /// Fisher–Yates shuffle.
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = (self.next_u64() % (i as u64 + 1)) as usize;
            v.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_in_range() {
        let mut a = Rng::new(42);
        let mut b = Rng::new(42);
        for _ in 0..1000 {
            assert_eq!(a.next_u64(), b.next_u64());
            let x = a.range_u32(3, 9);
            b.range_u32(3, 9);
            assert!((3..=9).contains(&x));
            let f = a.f64();
            b.f64();
            assert!((0.0..1.0).contains(&f));
            assert!(a.below(7) < 7);
            b.below(7);
        }
    }

    #[test]
    fn splitmix64_reference_values() {
        // SplitMix64 seeded with 0: the published first outputs.
        let mut r = Rng::new(0);
        assert_eq!(r.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(r.next_u64(), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn streams_differ_and_moments_hold() {
        assert_ne!(Rng::stream(1, 0).next_u64(), Rng::stream(1, 1).next_u64());
        let mut r = Rng::new(9);
        let n = 200_000;
        let (mut s, mut s2, mut e, mut g) = (0.0, 0.0, 0.0, 0.0);
        for _ in 0..n {
            let x = r.normal();
            s += x;
            s2 += x * x;
            e += r.exp1();
            g += r.gamma(0.5);
        }
        let n = n as f64;
        assert!((s / n).abs() < 0.01 && (s2 / n - 1.0).abs() < 0.02);
        assert!((e / n - 1.0).abs() < 0.01);
        assert!((g / n - 0.5).abs() < 0.01);
    }
}
