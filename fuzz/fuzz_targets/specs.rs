//! Text and JSON inputs a user hands to the CLI: length and time distributions, `--slo`,
//! durations, `--fail-if` gates, `--url`, `--header`, `--scheduler`, a `sweep.json` and an
//! HF `config.json`. No panic; accepted distributions sample within their bounds.
//!
//! (There is no dataset or trace-replay reader yet; when one lands, give it a target of its
//! own fed line by line.)

#![no_main]

use infermeter::util::Rng;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(d) = infermeter::workload::LengthDist::parse(s) {
            let mut r = Rng::new(data.len() as u64);
            for _ in 0..8 {
                let x = d.sample(&mut r);
                assert!((d.min..=d.max).contains(&x), "{s} -> {x}");
            }
        }
        if let Ok(d) = infermeter::sim::ValueDist::parse(s) {
            assert!(d.mean().is_finite(), "{s}");
            let mut r = Rng::new(data.len() as u64);
            for _ in 0..8 {
                let x = d.sample(&mut r);
                assert!(x.is_finite() && x >= 0.0, "{s} -> {x}");
            }
        }
        let _ = infermeter::metrics::slo::Slo::parse(s);
        let _ = infermeter::util::parse_duration(s);
        let _ = infermeter::report::compare::parse_gate(s);
        let _ = infermeter::spec::validate::parse_url(s);
        let _ = infermeter::client::build_headers(&[s.to_string()], Some(s));
        let _ = infermeter::sim::timing::parse_scheduler(s);
        let _ = infermeter_perfmodel::ModelSpec::from_hf_config_json(s);
    }
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = infermeter::report::html::parse_sweep(&v);
    }
});
