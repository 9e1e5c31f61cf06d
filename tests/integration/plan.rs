//! `infermeter plan` through the binary: JSON contract keys, known values, bad input.

use crate::util::bin;
use serde_json::Value;

fn plan(args: &[&str]) -> std::process::Output {
    bin().arg("plan").args(args).output().expect("run plan")
}

#[test]
fn json_has_contract_keys_and_known_values() {
    let out = plan(&[
        "--model-preset",
        "llama-3.1-8b",
        "--gpu",
        "h100-sxm",
        "--batch",
        "1,32,512",
        "--json",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["memory"]["kv_bytes_per_token"], 131072);
    let w = v["memory"]["weights_bytes"].as_f64().unwrap();
    assert!((w / 1e9 - 16.06).abs() < 0.01, "weights {w}");
    for k in ["kv_bytes", "total_bytes", "fits"] {
        assert!(!v["memory"][k].is_null(), "memory.{k}");
    }
    assert!(v["max_concurrent_sequences"].as_u64().unwrap() > 50);
    let rows = v["batches"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    for r in rows {
        for k in [
            "decode_ms_per_token",
            "bound",
            "output_tokens_per_s",
            "cost_per_million_output_tokens",
        ] {
            assert!(!r[k].is_null(), "batches[].{k}");
        }
    }
    assert_eq!(rows[0]["bound"], "memory");
    // batching amortises weight reads: more tokens/s, cheaper tokens
    let tps = |i: usize| rows[i]["output_tokens_per_s"].as_f64().unwrap();
    assert!(tps(1) > 10.0 * tps(0));
    assert_eq!(
        rows[2]["fits_in_memory"], false,
        "512 x 4096 tokens cannot fit in 80 GB"
    );
}

#[test]
fn console_report_and_bad_input() {
    let out = plan(&[
        "--model-preset",
        "mixtral-8x7b",
        "--gpu",
        "a100-80gb",
        "--compare-dtypes",
    ]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Decode") && text.contains("int4"), "{text}");
    for bad in [
        &["--model-preset", "nope"][..],
        &["--model-preset", "llama-3.1-8b", "--gpu", "tpu"][..],
        &["--model-preset", "llama-3.1-8b", "--weights-dtype", "fp3"][..],
        &["--model-preset", "llama-3.1-8b", "--batch", "1,x"][..],
        &["--model-config", "/no/such/config.json"][..],
        &[][..],
    ] {
        let out = plan(bad);
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim().lines().count(), 1, "{bad:?}: {err}");
    }
}
