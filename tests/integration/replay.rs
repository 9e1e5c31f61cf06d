//! Replays real (llama.cpp, recorded) and documented (vLLM, SGLang, TGI, TensorRT-LLM)
//! response bodies from `tests/fixtures/sse/` through the full client: a loopback server
//! returns a fixture byte for byte, `infermeter bench` measures it, and the records must
//! agree with the fixture's `.expect.json` facts.

use crate::util::bench;
use axum::body::Body;
use axum::http::header;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde_json::Value;
use std::path::PathBuf;

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sse")
}

/// Serve `body` for every generation request; returns the base URL and the runtime.
fn serve(body: Vec<u8>, content_type: &'static str) -> (String, tokio::runtime::Runtime) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let url = rt.block_on(async move {
        let reply = move || {
            let body = body.clone();
            async move {
                Response::builder()
                    .header(header::CONTENT_TYPE, content_type)
                    .body(Body::from(body))
                    .unwrap()
            }
        };
        let app = Router::new()
            .route(
                "/v1/models",
                get(|| async { axum::Json(serde_json::json!({"object":"list","data":[{"id":"m"}]})) }),
            )
            .route("/v1/completions", post(reply.clone()))
            .route("/v1/chat/completions", post(reply));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.ok() });
        format!("http://{addr}")
    });
    (url, rt)
}

struct Replay {
    name: String,
    expect: Value,
    records: Vec<Value>,
    exit: Option<i32>,
}

fn replay(file: &str) -> Replay {
    let path = fixture_dir().join(file);
    let body = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let stem = file.rsplit_once('.').unwrap().0;
    let expect: Value =
        serde_json::from_slice(&std::fs::read(fixture_dir().join(format!("{stem}.expect.json"))).unwrap()).unwrap();
    let stream = expect["stream"].as_bool().unwrap();
    let (url, _rt) = serve(
        body,
        if stream {
            "text/event-stream"
        } else {
            "application/json"
        },
    );
    let api = expect["api"].as_str().unwrap();
    let mut args = vec![
        "--url",
        &url,
        "--model",
        "m",
        "--api",
        api,
        "--requests",
        "3",
        "--concurrency",
        "1",
    ];
    if !stream {
        args.push("--no-stream");
    }
    let run = bench(&args);
    let records = run.records();
    Replay {
        name: stem.to_string(),
        expect,
        records,
        exit: run.out.status.code(),
    }
}

fn check_ok(r: &Replay) {
    let e = &r.expect;
    assert_eq!(r.exit, Some(0), "{}", r.name);
    assert_eq!(r.records.len(), 3, "{}", r.name);
    for rec in &r.records {
        assert!(rec["error"].is_null(), "{}: {}", r.name, rec);
        let events = rec["events"].as_array().unwrap();
        if e["stream"] == true {
            let want = e["content_events"].as_u64().unwrap() + e["reasoning_events"].as_u64().unwrap();
            assert_eq!(events.len() as u64, want, "{}: token-bearing events", r.name);
        } else {
            assert_eq!(events.len(), 1, "{}", r.name);
        }
        if let Some(u) = e["usage"].as_object() {
            assert_eq!(rec["output_tokens"]["server"], u["completion_tokens"], "{}", r.name);
            assert_eq!(rec["input_tokens"]["server"], u["prompt_tokens"], "{}", r.name);
        } else {
            assert!(rec["output_tokens"]["server"].is_null(), "{}", r.name);
        }
        assert!(rec["output_tokens"]["client"].as_u64().unwrap() > 0, "{}", r.name);
        if let Some(f) = e["finish_reason"].as_str() {
            assert_eq!(rec["finish_reason"], f, "{}", r.name);
        }
        if e["reasoning_events"].as_u64().unwrap_or(0) > 0 {
            assert_eq!(events[0][2], 2, "{}: first event is reasoning", r.name);
        }
    }
}

#[test]
fn engine_transcripts_parse_exactly() {
    let files = [
        "llamacpp_completions_stream_usage.sse",
        "llamacpp_chat_stream_usage.sse",
        "llamacpp_completions_nonstream.json",
        "llamacpp_chat_nonstream.json",
        "llama_cpp_python_completions_ping.sse",
        "sse_starlette_crlf_chat.sse",
        "vllm_chat_stream_usage.sse",
        "vllm_chat_reasoning.sse",
        "vllm_chat_reasoning_field.sse",
        "sglang_chat_stream_usage.sse",
        "tgi_chat_stream.sse",
        "trtllm_serve_chat_stream.sse",
    ];
    for f in files {
        check_ok(&replay(f));
    }
}

#[test]
fn continuous_usage_gives_per_event_token_counts() {
    let r = replay("vllm_completions_continuous_usage.sse");
    check_ok(&r);
    let want: Vec<u64> = r.expect["event_token_counts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    for rec in &r.records {
        assert_eq!(rec["event_token_source"], "usage");
        let got: Vec<u64> = rec["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e[1].as_u64().unwrap())
            .collect();
        assert_eq!(got, want);
    }
}

#[test]
fn broken_streams_are_classified() {
    for (file, class) in [
        ("error_midstream.sse", "stream_error_event"),
        ("vllm_error_midstream_done.sse", "stream_error_event"),
        ("no_done_truncated.sse", "truncated"),
    ] {
        let r = replay(file);
        assert_eq!(r.exit, Some(1), "{file}: all requests failed → exit 1");
        assert_eq!(r.records.len(), 3, "{file}: failed requests are still recorded");
        for rec in &r.records {
            assert_eq!(rec["error"], class, "{file}");
        }
    }
}
