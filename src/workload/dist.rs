//! The one distribution grammar of infermeter, for token lengths (`--input-tokens`,
//! `--output-tokens`) and simulated durations (`--sim-ttft-ms`, `--sim-itl-ms`):
//! `N`, `uniform:LO,HI`, `normal:MEAN,STD`, `lognormal:MEAN,STD`, `exp:MEAN`, each
//! optionally followed by `,MIN,MAX` clamping bounds (e.g. `normal:512,128,64,1024`). For
//! `lognormal`, MEAN and STD are those of the values themselves (not of the underlying
//! normal). Lengths are whole numbers of at least 1 ([`LengthDist`]); durations are real
//! numbers of at least 0 ([`ValueDist`]).

use crate::util::Rng;

#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    Fixed(f64),
    Uniform(f64, f64),
    Normal(f64, f64),
    /// Parameters (mu, sigma) of the underlying normal.
    LogNormal(f64, f64),
    /// Exponential with this mean.
    Exp(f64),
}

impl Shape {
    /// Expected value ignoring clamping (for planning and messages).
    pub fn mean(&self) -> f64 {
        match *self {
            Shape::Fixed(v) => v,
            Shape::Uniform(lo, hi) => (lo + hi) / 2.0,
            Shape::Normal(m, _) => m,
            Shape::LogNormal(mu, s) => (mu + s * s / 2.0).exp(),
            Shape::Exp(m) => m,
        }
    }

    /// A continuous draw (before clamping).
    fn draw(&self, rng: &mut Rng) -> f64 {
        match *self {
            Shape::Fixed(v) => v,
            Shape::Uniform(lo, hi) => lo + (hi - lo) * rng.f64(),
            Shape::Normal(m, s) => m + s * rng.normal(),
            Shape::LogNormal(mu, sigma) => (mu + sigma * rng.normal()).exp(),
            Shape::Exp(m) => m * rng.exp1(),
        }
    }
}

/// Parse the grammar: the shape and the optional `,MIN,MAX` bounds. `what` names the kind
/// of value in errors ("length distribution", "distribution").
fn parse(spec: &str, what: &str) -> Result<(Shape, Option<(f64, f64)>), String> {
    let bad = |why: &str| format!("invalid {what} '{spec}': {why}");
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
        "fixed" | "exp" => nums.split_at(1.min(nums.len())),
        "uniform" | "normal" | "lognormal" => nums.split_at(2.min(nums.len())),
        _ => {
            return Err(bad(
                "unknown kind (use N, uniform:LO,HI, normal:MEAN,STD, lognormal:MEAN,STD or exp:MEAN)",
            ))
        }
    };
    let shape = match (name, params) {
        ("fixed", [v]) => Shape::Fixed(*v),
        ("exp", [m]) => Shape::Exp(*m),
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
    let bounds = match bounds {
        [] => None,
        [lo, hi] if lo <= hi => Some((*lo, *hi)),
        [_, _] => return Err(bad("MIN must be <= MAX")),
        _ => return Err(bad("expected ,MIN,MAX after the parameters")),
    };
    Ok((shape, bounds))
}

/// Token lengths: whole numbers in `[min, max]` (at least 1; default bounds 1 and 10⁷).
#[derive(Debug, Clone, PartialEq)]
pub struct LengthDist {
    pub shape: Shape,
    pub min: u32,
    pub max: u32,
    pub spec: String,
}

impl LengthDist {
    pub fn parse(spec: &str) -> Result<Self, String> {
        let (shape, bounds) = parse(spec, "length distribution")?;
        let (min, max) = bounds.map(|(lo, hi)| (lo as u32, hi as u32)).unwrap_or((1, 10_000_000));
        let d = LengthDist {
            shape,
            min: min.max(1),
            max: max.max(1),
            spec: spec.to_string(),
        };
        if let Shape::Fixed(v) = d.shape {
            if v < 1.0 {
                return Err(format!("invalid length distribution '{spec}': length must be >= 1"));
            }
        }
        Ok(d)
    }

    pub fn sample(&self, rng: &mut Rng) -> u32 {
        let x = match self.shape {
            // Every integer in [lo, hi] equally likely after rounding.
            Shape::Uniform(lo, hi) => lo + (hi - lo + 1.0) * rng.f64() - 0.5,
            ref s => s.draw(rng),
        };
        if x.is_nan() {
            return self.min;
        }
        x.round().clamp(self.min as f64, self.max as f64) as u32
    }

    /// Expected value ignoring clamping (for planning and messages).
    pub fn mean(&self) -> f64 {
        self.shape.mean()
    }
}

/// Simulated durations (ms): real numbers in `[min, max]` (default bounds 0 and ∞).
#[derive(Debug, Clone, PartialEq)]
pub struct ValueDist {
    pub shape: Shape,
    pub min: f64,
    pub max: f64,
    pub spec: String,
}

impl ValueDist {
    pub fn parse(spec: &str) -> Result<Self, String> {
        let (shape, bounds) = parse(spec, "distribution")?;
        let (min, max) = bounds.unwrap_or((0.0, f64::INFINITY));
        Ok(ValueDist {
            shape,
            min,
            max,
            spec: spec.to_string(),
        })
    }

    /// A constant.
    pub fn fixed(v: f64) -> Self {
        ValueDist {
            shape: Shape::Fixed(v),
            min: 0.0,
            max: f64::INFINITY,
            spec: format!("{v}"),
        }
    }

    pub fn sample(&self, rng: &mut Rng) -> f64 {
        let x = self.shape.draw(rng);
        if x.is_nan() {
            return self.min;
        }
        x.clamp(self.min, self.max)
    }

    pub fn mean(&self) -> f64 {
        self.shape.mean()
    }
}

impl std::fmt::Display for ValueDist {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.spec)
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
    fn duration_forms() {
        assert_eq!(ValueDist::parse("50").unwrap(), ValueDist::fixed(50.0));
        assert_eq!(ValueDist::parse("uniform:1,2").unwrap().shape, Shape::Uniform(1.0, 2.0));
        assert!(ValueDist::parse("uniform:2,1").is_err());
        assert!(ValueDist::parse("exp:").is_err());
        assert!(ValueDist::parse("x:1").is_err());
        let l = ValueDist::parse("lognormal:10,5").unwrap();
        assert!((l.mean() - 10.0).abs() < 1e-9);
        // Bounds clamp durations too, and samples are never negative.
        let n = ValueDist::parse("normal:1,100,0,5").unwrap();
        let mut r = Rng::new(2);
        assert!((0..500).map(|_| n.sample(&mut r)).all(|x| (0.0..=5.0).contains(&x)));
        let e = ValueDist::parse("exp:10").unwrap();
        let mean = (0..50_000).map(|_| e.sample(&mut r)).sum::<f64>() / 50_000.0;
        assert!((mean - 10.0).abs() < 0.3, "{mean}");
        // Lengths accept the same forms.
        assert!(LengthDist::parse("exp:100").is_ok());
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
