//! Property tests for the parsers of user and network input that live in modules other
//! engineers own (flag specs, sweep.json, HF config.json, tokenizer.json, the simulator's
//! request bodies), through the library's public API: arbitrary input gives `Ok` or a
//! one-line error, never a panic, and what is accepted is usable downstream. The SSE parser,
//! the chunk decoder and the records reader have theirs next to the code
//! (`src/client/sse.rs`, `src/client/openai.rs`, `src/record.rs`). Case counts: the proptest
//! default (256, `PROPTEST_CASES` overrides); see docs/reliability.md "Parser robustness".

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use infermeter::client::openai::{decode_chunk, parse_models, ChunkOutcome};
use infermeter::client::{build_headers, sse};
use infermeter::metrics::slo::Slo;
use infermeter::report::compare::parse_gate;
use infermeter::report::html::parse_sweep;
use infermeter::sim::ValueDist;
use infermeter::sim::{self, SimConfig};
use infermeter::util::Rng;
use infermeter::workload::Tokenizer;
use infermeter_perfmodel::{DType, ModelSpec};
use proptest::prelude::*;
use serde_json::{json, Value};
use tower::ServiceExt;

/// Printable text, plus strings built from the characters the spec grammars use.
fn spec_text(grammar: &'static str) -> impl Strategy<Value = String> {
    prop_oneof!["\\PC{0,24}", grammar]
}

/// JSON leaves with the numbers that break conversions (negative, past u32/u64, huge,
/// fractional) and strings.
fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (0u64..300).prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        Just(json!(u64::from(u32::MAX) + 1)),
        Just(json!(-1)),
        Just(json!(0.5)),
        Just(json!(1e300)),
        Just(json!(-1e300)),
        "\\PC{0,8}".prop_map(Value::String),
    ]
}

fn json_with_keys(keys: &'static [&'static str]) -> impl Strategy<Value = Value> {
    let key = prop_oneof![4 => prop::sample::select(keys).prop_map(str::to_owned), 1 => "\\PC{0,6}"];
    leaf().prop_recursive(4, 32, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..6).prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// A simulated server that answers at once.
fn instant_sim() -> SimConfig {
    SimConfig::fixed_timing(0.0, 0.0)
}

fn post(rt: &tokio::runtime::Runtime, path: &str, body: Vec<u8>) -> (StatusCode, Vec<u8>) {
    rt.block_on(async {
        let req = Request::post(path)
            .header("content-type", "application/json")
            .body(Body::from(body))
            .unwrap();
        let resp = sim::app(instant_sim()).oneshot(req).await.unwrap();
        let status = resp.status();
        (status, resp.into_body().collect().await.unwrap().to_bytes().to_vec())
    })
}

const REQUEST_KEYS: &[&str] = &[
    "model",
    "prompt",
    "messages",
    "role",
    "content",
    "text",
    "type",
    "max_tokens",
    "max_completion_tokens",
    "min_tokens",
    "ignore_eos",
    "stream",
    "stream_options",
    "include_usage",
    "continuous_usage_stats",
];

/// Request bodies shaped like the client's, any field possibly wrong-typed or huge.
fn request_body() -> impl Strategy<Value = Value> {
    let field = |good: BoxedStrategy<Value>| prop_oneof![2 => Just(None), 6 => good.prop_map(Some), 1 => json_with_keys(REQUEST_KEYS).prop_map(Some)];
    let max_tokens = prop_oneof![
        (0u32..40).prop_map(Value::from),
        Just(json!(u32::MAX)),
        Just(json!(u64::MAX)),
        Just(json!(sim::MAX_TOKENS + 1)),
        Just(json!(-5)),
        Just(json!(2.5)),
    ]
    .boxed();
    let prompt = prop_oneof![
        "[a-z ]{0,40}".prop_map(Value::String),
        prop::collection::vec(0u32..50_000, 0..20).prop_map(|v| json!(v)),
    ]
    .boxed();
    let messages = prop::collection::vec("[a-z ]{0,20}".prop_map(|c| json!({"role": "user", "content": c})), 0..3)
        .prop_map(Value::Array)
        .boxed();
    let flag = any::<bool>().prop_map(Value::Bool).boxed();
    (
        field(prompt),
        field(messages),
        field(max_tokens.clone()),
        field(max_tokens),
        field(flag.clone()),
        field(flag.clone()),
        field(
            flag.prop_map(|b| json!({"include_usage": b, "continuous_usage_stats": b}))
                .boxed(),
        ),
    )
        .prop_map(|(p, m, mt, mn, ie, st, so)| {
            let mut o = serde_json::Map::new();
            o.insert("model".into(), json!("infermeter-sim"));
            for (k, v) in [
                ("prompt", p),
                ("messages", m),
                ("max_tokens", mt),
                ("min_tokens", mn),
                ("ignore_eos", ie),
                ("stream", st),
                ("stream_options", so),
            ] {
                if let Some(v) = v {
                    o.insert(k.into(), v);
                }
            }
            Value::Object(o)
        })
}

/// Regression (found in review while writing `sim_answers_any_request_body`, which sends such
/// bodies): `max_tokens` near u32::MAX sized a per-token `Vec` up front (64 GiB) and aborted
/// the simulated server.
#[test]
fn sim_rejects_a_huge_max_tokens() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for stream in [false, true] {
        let body = json!({"prompt": "a", "max_tokens": u32::MAX, "ignore_eos": true, "stream": stream});
        let (status, bytes) = post(&rt, "/v1/completions", body.to_string().into_bytes());
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(String::from_utf8_lossy(&bytes).contains("max_tokens"));
    }
}

/// ValueDist NaN regression: `lognormal:1e200,1e200` had NaN parameters.
#[test]
fn sim_lognormal_with_huge_moments() {
    let d = ValueDist::parse("lognormal:1e200,1e200").unwrap();
    assert!(d.mean().is_finite());
    assert!(ValueDist::parse("lognormal:1e-300,1e10").is_err());
}

proptest! {
    /// Any request body: the simulator answers (never panics nor aborts); a 200 streams
    /// events the client decodes without a single malformed one, ending in `[DONE]`; an
    /// error is a JSON error object.
    #[test]
    fn sim_answers_any_request_body(body in request_body(), chat in any::<bool>(), raw in prop::option::weighted(0.1, prop::collection::vec(any::<u8>(), 0..64))) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let path = if chat { "/v1/chat/completions" } else { "/v1/completions" };
        let bytes = raw.unwrap_or_else(|| body.to_string().into_bytes());
        let (status, resp) = post(&rt, path, bytes);
        if status == StatusCode::OK {
            let text = String::from_utf8(resp).unwrap();
            if text.starts_with("data:") {
                let events = sse::parse_all(text.as_bytes()).unwrap();
                prop_assert!(!events.is_empty());
                for (_, data) in &events {
                    let d = decode_chunk(data);
                    prop_assert!(matches!(d, Ok(ChunkOutcome::Chunk(_) | ChunkOutcome::Done)), "{:?}", d);
                }
                prop_assert_eq!(events.last().map(|e| &e.1[..]), Some(&b"[DONE]"[..]));
            } else {
                prop_assert!(matches!(decode_chunk(text.as_bytes()), Ok(ChunkOutcome::Chunk(_))), "{}", text);
            }
        } else {
            prop_assert!(status.is_client_error(), "{}", status);
            prop_assert!(matches!(decode_chunk(&resp), Ok(ChunkOutcome::ServerError(_))));
        }
    }

    /// Simulated-time distributions: accepted specs sample finite non-negative values.
    #[test]
    fn sim_value_dist(spec in spec_text("(uniform|normal|lognormal|exp|x)?:?[0-9.eE+-]{0,8}(,[0-9.eE+-]{0,8}){0,3}"), seed in any::<u64>()) {
        match ValueDist::parse(&spec) {
            Ok(d) => {
                prop_assert!(d.mean().is_finite(), "{}", spec);
                let mut r = Rng::new(seed);
                for _ in 0..16 {
                    let x = d.sample(&mut r);
                    prop_assert!(x.is_finite() && x >= 0.0, "{} -> {}", spec, x);
                }
            }
            Err(e) => {
                let quoted = format!("'{spec}'");
                prop_assert!(e.contains(&quoted) && !e.contains('\n'), "{}", e);
            }
        }
    }

    /// `--slo`: an objective with a finite non-negative bound, or a one-line error.
    #[test]
    fn slo_spec(spec in spec_text("((ttft|tpot|e2e|itl_p99|ttfo|x|chat)(=[0-9.eE+-]{0,6}(ms|s|m|h|us)?)?,?){0,4}")) {
        match Slo::parse(&spec) {
            Ok(s) => {
                let set = [s.ttft_ms, s.ttfo_ms, s.tpot_ms, s.e2e_ms, s.itl_p99_ms];
                prop_assert!(set.iter().any(Option::is_some));
                prop_assert!(set.iter().flatten().all(|v| v.is_finite() && *v >= 0.0));
            }
            Err(e) => prop_assert!(!e.contains('\n'), "{}", e),
        }
    }

    /// `--fail-if`: a gate with a finite threshold, or a one-line error quoting the input.
    #[test]
    fn gate_spec(spec in spec_text("(ttft|tpot|itl|e2e|output_tps|error_rate)(\\.(p50|p99|mean))? ?[<>]{1,2} ?[+-]?[0-9.]{0,6}(%|ms|s|us|µs|pp|tok/s)?")) {
        match parse_gate(&spec) {
            Ok(g) => prop_assert!(!g.metric.is_empty()),
            Err(e) => prop_assert!(e.contains(&spec) && !e.contains('\n'), "{}", e),
        }
    }

    /// `--header`, `--url`, `--scheduler`: never a panic.
    #[test]
    fn flag_strings(s in spec_text("[A-Za-z-]{0,8}:? ?[ -~]{0,12}"), url in spec_text("(http|https|ftp)?(://)?[a-z0-9.:\\[\\]@/-]{0,20}")) {
        let _ = build_headers(std::slice::from_ref(&s), Some(&s));
        if let Ok(p) = infermeter::spec::validate::parse_url(&url) {
            prop_assert!(p.path.starts_with('/') || p.path.is_empty(), "{} -> {}", url, p.path);
        }
        let _ = infermeter::sim::timing::parse_scheduler(&s);
    }

    /// `/v1/models` bodies from the server.
    #[test]
    fn models_body(v in json_with_keys(&["data", "id", "object"]), raw in prop::collection::vec(any::<u8>(), 0..64)) {
        if let Ok(ids) = parse_models(v.to_string().as_bytes()) {
            prop_assert!(v.get("data").is_some_and(Value::is_array) && ids.len() <= v["data"].as_array().map_or(0, Vec::len));
        }
        let _ = parse_models(&raw);
    }

    /// `sweep.json` read by `report`: every stage has a load, nothing panics.
    #[test]
    fn sweep_json(v in json_with_keys(&["stages", "summary", "rate", "request_rate", "concurrency", "goodput", "attainment",
                                          "requests", "total", "failed", "throughput", "output_tokens_per_s",
                                          "latency_ms", "ttft", "p50", "p99", "saturation", "operating_point"])) {
        if let Ok((stages, _points)) = parse_sweep(&v) {
            prop_assert!(stages.iter().all(|s| s.rate.is_some() || s.concurrency.is_some()));
        }
    }

    /// HF `config.json` (`plan --model-config`, `sim --model-config`): a spec that validates
    /// and whose memory figures compute, or an error.
    #[test]
    fn hf_config(edits in prop::collection::vec((prop::sample::select(HF_KEYS), prop::option::of(leaf())), 0..5),
                 nested in any::<bool>()) {
        let mut v: Value = serde_json::from_str(LLAMA_CONFIG).unwrap();
        for (k, val) in edits {
            let obj = v.as_object_mut().unwrap();
            match val {
                Some(val) => { obj.insert(k.to_string(), val); }
                None => { obj.remove(k); }
            }
        }
        if nested {
            v = json!({"architectures": ["X"], "text_config": v});
        }
        if let Ok(m) = ModelSpec::from_hf_config_json(&v.to_string()) {
            prop_assert!(m.validate().is_ok(), "{:?}", m.validate());
            let _ = (m.param_count(), m.kv_bytes_per_token(DType::Bf16), m.num_sliding_layers());
        }
    }

    /// A `tokenizer.json` (`--tokenizer PATH`) that is garbage or a mangled valid one: an
    /// error naming the path, never a panic.
    #[test]
    fn tokenizer_file(v in json_with_keys(&["model", "type", "vocab", "merges", "unk_token", "normalizer", "pre_tokenizer",
                                             "decoder", "added_tokens", "version", "truncation", "padding", "id", "content"]),
                      raw in prop::collection::vec(any::<u8>(), 0..64), use_raw in any::<bool>()) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokenizer.json");
        std::fs::write(&path, if use_raw { raw } else { v.to_string().into_bytes() }).unwrap();
        let p = path.to_str().unwrap();
        match Tokenizer::load(p) {
            Ok(t) => { let _ = t.count("hello world"); }
            Err(e) => prop_assert!(e.contains(p), "{}", e),
        }
    }
}

const HF_KEYS: &[&str] = &[
    "hidden_size",
    "num_attention_heads",
    "num_hidden_layers",
    "num_key_value_heads",
    "intermediate_size",
    "vocab_size",
    "head_dim",
    "max_position_embeddings",
    "tie_word_embeddings",
    "num_local_experts",
    "num_experts_per_tok",
    "moe_intermediate_size",
    "shared_expert_intermediate_size",
    "sliding_window",
    "use_sliding_window",
    "layer_types",
    "sliding_window_pattern",
    "max_window_layers",
    "model_type",
    "torch_dtype",
    "n_layer",
    "n_embd",
    "n_head",
];

const LLAMA_CONFIG: &str = include_str!("../../crates/perfmodel/tests/fixtures/llama-3.1-8b.config.json");
