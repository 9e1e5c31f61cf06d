//! Distributions of simulated durations (milliseconds): `50`, `uniform:LO,HI`,
//! `normal:MEAN,STD`, `lognormal:MEAN,STD` (moments of the values), `exp:MEAN`.
//! Samples are clamped at 0.

use crate::util::Rng;

#[derive(Debug, Clone, PartialEq)]
pub enum ValueDist {
    Fixed(f64),
    Uniform(f64, f64),
    Normal(f64, f64),
    LogNormal { mu: f64, sigma: f64 },
    Exp(f64),
}

impl ValueDist {
    pub fn parse(spec: &str) -> Result<Self, String> {
        let bad = |why: &str| format!("invalid distribution '{spec}': {why}");
        let (name, args) = spec.split_once(':').unwrap_or(("fixed", spec));
        let nums: Vec<f64> = args
            .split(',')
            .map(|x| x.trim().parse::<f64>())
            .collect::<Result<_, _>>()
            .map_err(|_| bad("expected numbers"))?;
        if nums.iter().any(|x| !x.is_finite() || *x < 0.0) {
            return Err(bad("numbers must be finite and non-negative"));
        }
        match (name.trim(), nums.as_slice()) {
            ("fixed", [v]) => Ok(ValueDist::Fixed(*v)),
            ("uniform", [a, b]) if a <= b => Ok(ValueDist::Uniform(*a, *b)),
            ("normal", [m, s]) => Ok(ValueDist::Normal(*m, *s)),
            ("lognormal", [m, s]) if *m > 0.0 => {
                let sigma2 = (s / m).powi(2).ln_1p(); // s²/m² would be inf/inf = NaN for huge inputs
                if !sigma2.is_finite() {
                    return Err(bad("STD/MEAN too large"));
                }
                Ok(ValueDist::LogNormal {
                    mu: m.ln() - sigma2 / 2.0,
                    sigma: sigma2.sqrt(),
                })
            }
            ("exp", [m]) => Ok(ValueDist::Exp(*m)),
            _ => Err(bad(
                "use N, uniform:LO,HI, normal:MEAN,STD, lognormal:MEAN,STD or exp:MEAN",
            )),
        }
    }

    pub fn sample(&self, rng: &mut Rng) -> f64 {
        let x = match *self {
            ValueDist::Fixed(v) => v,
            ValueDist::Uniform(a, b) => a + (b - a) * rng.f64(),
            ValueDist::Normal(m, s) => m + s * rng.normal(),
            ValueDist::LogNormal { mu, sigma } => (mu + sigma * rng.normal()).exp(),
            ValueDist::Exp(m) => m * rng.exp1(),
        };
        x.max(0.0)
    }

    pub fn mean(&self) -> f64 {
        match *self {
            ValueDist::Fixed(v) => v,
            ValueDist::Uniform(a, b) => (a + b) / 2.0,
            ValueDist::Normal(m, _) => m,
            ValueDist::LogNormal { mu, sigma } => (mu + sigma * sigma / 2.0).exp(),
            ValueDist::Exp(m) => m,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_forms() {
        assert_eq!(ValueDist::parse("50").unwrap(), ValueDist::Fixed(50.0));
        assert_eq!(ValueDist::parse("uniform:1,2").unwrap(), ValueDist::Uniform(1.0, 2.0));
        assert!(ValueDist::parse("uniform:2,1").is_err());
        assert!(ValueDist::parse("exp:").is_err());
        assert!(ValueDist::parse("x:1").is_err());
        let l = ValueDist::parse("lognormal:10,5").unwrap();
        assert!((l.mean() - 10.0).abs() < 1e-9);
    }
}
