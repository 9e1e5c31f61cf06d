//! Length distributions for input and output token counts, parsed from flag strings:
//! `512`, `uniform:LO,HI`, `normal:MEAN,STD`, `lognormal:MEAN,STD`, each optionally followed
//! by `,MIN,MAX` clamping bounds (e.g. `normal:512,128,64,1024`). For `lognormal`, MEAN and
//! STD are those of the lengths themselves (not of the underlying normal).

use crate::util::Rng;

#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    Fixed(f64),
    Uniform(f64, f64),
    Normal(f64, f64),
    /// Parameters (mu, sigma) of the underlying normal.
    LogNormal(f64, f64),
}

#[derive(Debug, Clone, PartialEq)]
pub struct LengthDist {
    pub shape: Shape,
    pub min: u32,
    pub max: u32,
    pub spec: String,
}

impl LengthDist {
    pub fn parse(spec: &str) -> Result<Self, String> {
        let bad = |why: &str| format!("invalid length distribution '{spec}': {why}");
        let (name, args) = match spec.split_once(':') {
            Some((n, a)) => (n.trim(), a),
            None => ("fixed", spec),
        };
        let nums: Vec<f64> = args
            .split(',')
            .map(|x| x.trim().parse::<f64>())
            .collect::<Result<_, _>>()
            .map_err(|_| bad("expected numbers"))?;
        if nums.iter().any(|x| !x.is_finite() || *x < 0.0) {
            return Err(bad("numbers must be finite and non-negative"));
        }
        let (params, bounds) = match name {
            "fixed" => nums.split_at(1.min(nums.len())),
            "uniform" | "normal" | "lognormal" => nums.split_at(2.min(nums.len())),
            _ => {
                return Err(bad(
                    "unknown kind (use N, uniform:LO,HI, normal:MEAN,STD or lognormal:MEAN,STD)",
                ))
            }
        };
        let shape = match (name, params) {
            ("fixed", [v]) => Shape::Fixed(*v),
            ("uniform", [lo, hi]) if lo <= hi => Shape::Uniform(*lo, *hi),
            ("uniform", [_, _]) => return Err(bad("LO must be <= HI")),
            ("normal", [m, s]) => Shape::Normal(*m, *s),
            ("lognormal", [m, s]) if *m > 0.0 => {
                // (s/m)², not s²/m²: both squares overflow to inf for large inputs (NaN).
                let sigma2 = (s / m).powi(2).ln_1p();
                if !sigma2.is_finite() {
                    return Err(bad("STD/MEAN too large"));
                }
                Shape::LogNormal(m.ln() - sigma2 / 2.0, sigma2.sqrt())
            }
            ("lognormal", _) if params.len() == 2 => return Err(bad("MEAN must be > 0")),
            _ => return Err(bad("wrong number of parameters")),
        };
        let (min, max) = match bounds {
            [] => (1, 10_000_000),
            [lo, hi] if lo <= hi => (*lo as u32, *hi as u32),
            [_, _] => return Err(bad("MIN must be <= MAX")),
            _ => return Err(bad("expected ,MIN,MAX after the parameters")),
        };
        let d = LengthDist {
            shape,
            min: min.max(1),
            max: max.max(1),
            spec: spec.to_string(),
        };
        if let Shape::Fixed(v) = d.shape {
            if v < 1.0 {
                return Err(bad("length must be >= 1"));
            }
        }
        Ok(d)
    }

    pub fn sample(&self, rng: &mut Rng) -> u32 {
        let x = match self.shape {
            Shape::Fixed(v) => v,
            Shape::Uniform(lo, hi) => lo + (hi - lo + 1.0) * rng.f64() - 0.5,
            Shape::Normal(m, s) => m + s * rng.normal(),
            Shape::LogNormal(mu, sigma) => (mu + sigma * rng.normal()).exp(),
        };
        if x.is_nan() {
            return self.min;
        }
        x.round().clamp(self.min as f64, self.max as f64) as u32
    }

    /// Expected value ignoring clamping (for planning and messages).
    pub fn mean(&self) -> f64 {
        match self.shape {
            Shape::Fixed(v) => v,
            Shape::Uniform(lo, hi) => (lo + hi) / 2.0,
            Shape::Normal(m, _) => m,
            Shape::LogNormal(mu, s) => (mu + s * s / 2.0).exp(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_sample() {
        let mut r = Rng::new(1);
        assert_eq!(LengthDist::parse("512").unwrap().sample(&mut r), 512);
        let u = LengthDist::parse("uniform:10,20").unwrap();
        let xs: Vec<u32> = (0..2000).map(|_| u.sample(&mut r)).collect();
        assert!(xs.iter().all(|&x| (10..=20).contains(&x)));
        assert!(xs.contains(&10) && xs.contains(&20));
        let n = LengthDist::parse("normal:100,30,90,110").unwrap();
        assert!((0..500).map(|_| n.sample(&mut r)).all(|x| (90..=110).contains(&x)));
        let l = LengthDist::parse("lognormal:200,100").unwrap();
        let mean = (0..50_000).map(|_| l.sample(&mut r) as f64).sum::<f64>() / 50_000.0;
        assert!((mean - 200.0).abs() < 6.0, "{mean}");
    }

    #[test]
    fn rejects_bad_specs() {
        for s in [
            "",
            "abc",
            "uniform:5",
            "uniform:9,1",
            "normal:1,2,3",
            "0",
            "gauss:1,2",
            "-5",
            "lognormal:0,1",
        ] {
            assert!(LengthDist::parse(s).is_err(), "{s}");
        }
    }

    /// Regression (found in review; `accepted_specs_sample_in_bounds` now catches it): `lognormal:1e200,1e200`
    /// was accepted with NaN parameters, and every sample was 0 tokens (NaN as u32), below
    /// the minimum of 1.
    #[test]
    fn lognormal_with_huge_moments() {
        let mut r = Rng::new(1);
        let d = LengthDist::parse("lognormal:1e200,1e200").unwrap();
        assert!((1..=10_000_000).contains(&d.sample(&mut r)) && d.mean().is_finite());
        assert!(LengthDist::parse("lognormal:1e-300,1e10").is_err());
    }

    use proptest::strategy::Strategy;

    proptest::proptest! {
        /// Any string: an error quoting it, or a distribution whose samples stay in
        /// [min, max] (never 0, never NaN-derived).
        #[test]
        fn accepted_specs_sample_in_bounds(
            spec in proptest::prop_oneof![
                "\\PC{0,24}|(fixed|uniform|normal|lognormal|x)?:?[0-9.eE+-]{0,8}(,[0-9.eE+-]{0,8}){0,4}",
                // Well-formed specs with numbers of every magnitude (1e-300 .. 1e300).
                (
                    "(fixed|uniform|normal|lognormal):",
                    proptest::collection::vec((1u32..10, proptest::prop_oneof![-300i32..300, 150i32..300]), 1..5)
                ).prop_map(|(k, nums)| {
                    let nums: Vec<String> = nums.iter().map(|(m, e)| format!("{m}e{e}")).collect();
                    format!("{k}{}", nums.join(","))
                }),
            ],
            seed in proptest::prelude::any::<u64>(),
        ) {
            match LengthDist::parse(&spec) {
                Ok(d) => {
                    proptest::prop_assert!(d.min >= 1 && d.min <= d.max);
                    let mut r = Rng::new(seed);
                    for _ in 0..32 {
                        let x = d.sample(&mut r);
                        proptest::prop_assert!((d.min..=d.max).contains(&x), "{} -> {}", spec, x);
                    }
                }
                Err(e) => {
                    let quoted = format!("'{spec}'");
                    proptest::prop_assert!(e.contains(&quoted) && !e.contains('\n'), "{}", e);
                }
            }
        }
    }
}
