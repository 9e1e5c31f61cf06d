//! Cost per token from the seeds' formula: `$ per token = $/h / (TPS · 3600)`, for a
//! deployment costing `gpu_cost_per_hour × gpus`.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Cost {
    pub gpu_cost_per_hour: f64,
    pub gpus: f64,
    pub per_million_output_tokens: Option<f64>,
    pub per_million_total_tokens: Option<f64>,
    pub output_tokens_per_dollar: Option<f64>,
    /// Same as `per_million_output_tokens`, counting only SLO-meeting output (goodput).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub per_million_good_output_tokens: Option<f64>,
}

/// $ per million tokens at `tps` tokens/s for `dollars_per_hour`.
pub fn per_million(dollars_per_hour: f64, tps: f64) -> Option<f64> {
    (tps > 0.0).then(|| dollars_per_hour / (tps * 3600.0) * 1e6)
}

pub fn cost(gpu_cost_per_hour: f64, gpus: f64, output_tps: f64, total_tps: f64, good_output_tps: Option<f64>) -> Cost {
    let dph = gpu_cost_per_hour * gpus;
    Cost {
        gpu_cost_per_hour,
        gpus,
        per_million_output_tokens: per_million(dph, output_tps),
        per_million_total_tokens: per_million(dph, total_tps),
        output_tokens_per_dollar: (dph > 0.0 && output_tps > 0.0).then(|| output_tps * 3600.0 / dph),
        per_million_good_output_tokens: good_output_tps.and_then(|t| per_million(dph, t)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_example() {
        // H100 at $3/h producing 10,000 tokens/s → $0.0000000833/token ≈ $0.083 per million.
        let c = cost(3.0, 1.0, 10_000.0, 12_000.0, Some(5_000.0));
        assert!((c.per_million_output_tokens.unwrap() - 0.083_333).abs() < 1e-5);
        assert!((c.output_tokens_per_dollar.unwrap() - 12_000_000.0).abs() < 1e-6);
        assert!((c.per_million_good_output_tokens.unwrap() - 0.166_667).abs() < 1e-5);
        let two = cost(3.0, 2.0, 10_000.0, 12_000.0, None);
        assert!((two.per_million_output_tokens.unwrap() - 0.166_667).abs() < 1e-5);
        assert_eq!(cost(3.0, 1.0, 0.0, 0.0, None).per_million_output_tokens, None);
    }
}
