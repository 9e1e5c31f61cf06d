//! The HTTP side of the simulated server: the axum app factory (testable without a socket),
//! the socket listener, and the request handler that reads a request, picks its fault and
//! output length, and hands it to fixed-timing or engine-mode generation.

use super::config::{Described, SimConfig, DESCRIBE_PATH, OWNER};
use super::fault_conn::{self, ConnFault};
use super::fault_stream::{fault_before_response, MidFault};
use super::online::EngineHandle;
use super::request::parse_ask;
use super::wire::{error, Gen};
use super::{engine_stream, faults, fixed, write_log};
use crate::util::Rng;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use bytes::Bytes;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::Semaphore;

struct AppState {
    cfg: SimConfig,
    model_json: String,
    slots: Arc<Semaphore>,
    counter: AtomicU64,
    engine: Option<EngineHandle>,
}

/// The router: `/v1/completions`, `/v1/chat/completions`, `/v1/models`, `/health`, and in
/// engine mode `/metrics`. Engine mode starts the engine task, so it needs a tokio runtime.
pub fn app(cfg: SimConfig) -> Router {
    let engine = cfg
        .engine
        .as_ref()
        .map(|e| EngineHandle::start(e.built.clone(), e.time_scale));
    let has_engine = engine.is_some();
    let state = Arc::new(AppState {
        model_json: serde_json::to_string(&cfg.model).unwrap_or_else(|_| "\"sim\"".into()),
        slots: Arc::new(Semaphore::new(cfg.max_num_seqs.max(1))),
        counter: AtomicU64::new(0),
        engine,
        cfg,
    });
    let mut r = Router::new()
        .route("/v1/completions", post(completions))
        .route("/v1/chat/completions", post(chat))
        .route("/v1/models", get(models))
        .route(DESCRIBE_PATH, get(describe))
        .route("/health", get(|| async { "ok" }));
    if has_engine {
        r = r.route("/metrics", get(metrics));
    }
    r.with_state(state)
}

async fn metrics(State(st): State<Arc<AppState>>) -> Response {
    let text = match st.engine.as_ref().map(|e| e.prom.lock()) {
        Some(Ok(mut p)) => p.render(&st.model_json),
        _ => return error(StatusCode::NOT_FOUND, "no metrics in fixed-timing mode"),
    };
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        text,
    )
        .into_response()
}

/// Bind `addr` (use port 0 for any free port) and serve in the background. With a fault plan,
/// connections are wrapped so handlers can reset them or slow their response head.
pub async fn spawn(cfg: SimConfig, addr: SocketAddr) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let faults = !cfg.faults.is_empty();
    let router = app(cfg);
    let handle = tokio::spawn(async move {
        if faults {
            let listener = fault_conn::FaultListener(listener);
            let service = router.into_make_service_with_connect_info::<ConnFault>();
            let _ = axum::serve(listener, service).await;
            return;
        }
        // Without TCP_NODELAY, Nagle's algorithm holds each small SSE chunk until the client's
        // delayed ACK (up to ~40 ms): tokens would arrive late and in bursts.
        use axum::serve::ListenerExt;
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let _ = axum::serve(listener, router).await;
    });
    Ok((local, handle))
}

async fn models(State(st): State<Arc<AppState>>) -> Json<Value> {
    let mut model = json!({"id": st.cfg.model, "object": "model", "owned_by": OWNER});
    // Like vLLM: the engine's context limit (prompt + output), so clients can check lengths.
    if let Some(e) = &st.cfg.engine {
        model["max_model_len"] = json!(e.built.config.max_model_len);
    }
    Json(json!({"object": "list", "data": [model]}))
}

async fn describe(State(st): State<Arc<AppState>>) -> Json<Described> {
    Json(st.cfg.describe())
}

/// The connection handle, present when the server runs with a fault plan (see [`spawn`]).
type Conn = Option<Extension<ConnectInfo<ConnFault>>>;

fn conn_of(c: Conn) -> Option<ConnFault> {
    c.map(|Extension(ConnectInfo(c))| c)
}

async fn completions(State(st): State<Arc<AppState>>, conn: Conn, headers: HeaderMap, body: Bytes) -> Response {
    let rec = recorder(&st, &headers);
    generate(st, body, false, conn_of(conn), rec).await
}

async fn chat(State(st): State<Arc<AppState>>, conn: Conn, headers: HeaderMap, body: Bytes) -> Response {
    let rec = recorder(&st, &headers);
    generate(st, body, true, conn_of(conn), rec).await
}

/// A write-time recorder for this response when `--write-log` is on, keyed by the client's
/// `X-Request-Id` (empty when the client sent none).
fn recorder(st: &AppState, headers: &HeaderMap) -> Option<write_log::Recorder> {
    let log = st.cfg.write_log.as_ref()?;
    let id = headers
        .get("x-request-id")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    Some(log.recorder(id))
}

async fn generate(
    st: Arc<AppState>,
    body: Bytes,
    chat: bool,
    conn: Option<ConnFault>,
    rec: Option<write_log::Recorder>,
) -> Response {
    let v: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return error(StatusCode::BAD_REQUEST, &format!("invalid JSON body: {e}")),
    };
    match v.get("model").and_then(Value::as_str) {
        Some(m) if m == st.cfg.model => {}
        None => {}
        Some(m) => {
            return error(StatusCode::NOT_FOUND, &format!("The model `{m}` does not exist."));
        }
    }
    let ask = match parse_ask(&v, chat) {
        Ok(a) => a,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e),
    };
    let n = st.counter.fetch_add(1, Ordering::Relaxed);
    let fault = st.cfg.faults.pick(st.cfg.seed, n);
    if let Some(kind) = fault {
        if let Some(resp) = fault_before_response(kind, &st.cfg.faults, conn.as_ref(), ask.stream).await {
            return resp;
        }
    }
    let mut rng = Rng::stream(st.cfg.seed, n);
    let n_out = if ask.ignore_eos {
        ask.max_tokens
    } else {
        // A "natural" end somewhere in the upper half of the budget.
        let lo = (ask.max_tokens / 2).max(ask.min_tokens).max(1).min(ask.max_tokens);
        lo + rng.below(u64::from(ask.max_tokens - lo + 1)) as u32
    };
    let finish = if n_out >= ask.max_tokens { "length" } else { "stop" };
    let id = format!("{}-{n}", if chat { "chatcmpl" } else { "cmpl" });
    let gen = Gen {
        id,
        model_json: st.model_json.clone(),
        chat,
        prompt_tokens: ask.prompt_tokens,
        finish,
        include_usage: ask.include_usage,
        continuous_usage: ask.continuous_usage,
        k: st.cfg.tokens_per_chunk.max(1),
        cached_tokens: None,
    };
    let mid = fault.filter(|k| k.is_mid_stream() && ask.stream).map(|kind| MidFault {
        kind,
        at: faults::strike_after(n_out),
        stall: st.cfg.faults.stall,
        conn,
    });
    match st.engine.as_ref() {
        Some(engine) => engine_stream::generate(engine, &v, &ask, n_out, gen, mid, rec).await,
        None => fixed::generate(&st.cfg, st.slots.clone(), &ask, n_out, gen, mid, rng, rec).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{timing, EngineMode, FaultPlan, OUTPUT_WORDS};
    use crate::workload::Tokenizer;
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use std::time::Duration;
    use tower::ServiceExt;

    #[test]
    fn output_words_are_single_tokens() {
        for enc in ["cl100k_base", "o200k_base"] {
            let tok = Tokenizer::load(enc).unwrap();
            for w in OUTPUT_WORDS {
                assert_eq!(tok.count(w), 1, "{enc}: {w:?}");
            }
            let text: String = (0..200).map(|i| OUTPUT_WORDS[i % OUTPUT_WORDS.len()]).collect();
            assert_eq!(tok.count(&text), 200, "{enc}");
        }
    }

    async fn call(router: Router, path: &str, body: Value) -> (StatusCode, String) {
        let req = Request::post(path)
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        let resp = router.oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }

    fn fast() -> SimConfig {
        SimConfig::fixed_timing(1.0, 0.5)
    }

    #[tokio::test]
    async fn app_streams_chat_without_a_socket() {
        let body = json!({"model": "infermeter-sim", "messages": [{"role": "user", "content": "a b c"}],
            "max_tokens": 5, "stream": true, "ignore_eos": true, "stream_options": {"include_usage": true}});
        let (status, text) = call(app(fast()), "/v1/chat/completions", body).await;
        assert_eq!(status, StatusCode::OK);
        let events = crate::client::sse::parse_all(text.as_bytes()).unwrap();
        assert_eq!(events.len(), 1 + 5 + 1 + 1, "{text}"); // role, 5 tokens, usage, [DONE]
        assert!(text.contains("\"role\":\"assistant\""));
        assert!(text.contains("\"usage\":{\"prompt_tokens\":3,\"total_tokens\":8,\"completion_tokens\":5}"));
        assert!(text.ends_with("data: [DONE]\n\n"));
    }

    #[tokio::test]
    async fn non_streaming_completion_and_wrong_model() {
        let body = json!({"model": "infermeter-sim", "prompt": "x y", "max_tokens": 3, "ignore_eos": true});
        let (status, text) = call(app(fast()), "/v1/completions", body).await;
        assert_eq!(status, StatusCode::OK);
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["choices"][0]["text"], " the of and");
        assert_eq!(v["usage"]["completion_tokens"], 3);
        let (status, text) = call(app(fast()), "/v1/completions", json!({"model": "nope", "prompt": "x"})).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(text.contains("does not exist"));
        let (status, _) = call(app(fast()), "/v1/completions", json!({"prompt": 5})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }

    #[tokio::test]
    async fn continuous_usage_and_multi_token_chunks() {
        let cfg = SimConfig {
            tokens_per_chunk: 3,
            ..fast()
        };
        let body = json!({"prompt": "p", "max_tokens": 7, "stream": true, "ignore_eos": true,
            "stream_options": {"include_usage": true, "continuous_usage_stats": true}});
        let (_, text) = call(app(cfg), "/v1/completions", body).await;
        let events = crate::client::sse::parse_all(text.as_bytes()).unwrap();
        assert_eq!(events.len(), 3 + 1 + 1); // chunks of 3,3,1 + usage + [DONE]
        assert!(text.contains("\"text\":\" the of and\""));
        assert!(text.contains("\"completion_tokens\":6}"));
    }

    #[tokio::test]
    async fn faults_through_the_router() {
        let faulty = |spec: &str| SimConfig {
            faults: FaultPlan::parse(&[spec.to_string()], 0, 0).unwrap(),
            ..fast()
        };
        let stream = json!({"prompt": "p", "max_tokens": 5, "stream": true, "ignore_eos": true});
        let (status, text) = call(app(faulty("truncated=1")), "/v1/completions", stream.clone()).await;
        assert_eq!(status, StatusCode::OK);
        let events = crate::client::sse::parse_all(text.as_bytes()).unwrap();
        assert_eq!(events.len(), 2, "{text}"); // strikes after 5/2 tokens
        assert!(
            !text.contains("[DONE]") && !text.contains("\"finish_reason\":\""),
            "{text}"
        );
        let (_, text) = call(app(faulty("error_event=1")), "/v1/completions", stream.clone()).await;
        assert!(
            text.ends_with(&format!("{}data: [DONE]\n\n", faults::ERROR_EVENT)),
            "{text}"
        );
        let (_, text) = call(app(faulty("stall=1")), "/v1/completions", stream.clone()).await;
        assert!(text.ends_with("data: [DONE]\n\n") && text.contains("\"finish_reason\":\"length\""));
        let (status, text) = call(app(faulty("http_503_html=1")), "/v1/completions", stream.clone()).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(text.starts_with("<!DOCTYPE html>"));
        let req = Request::post("/v1/completions")
            .body(Body::from(stream.to_string()))
            .unwrap();
        let resp = app(faulty("not_sse=1")).oneshot(req).await.unwrap();
        assert_eq!(resp.headers()[header::CONTENT_TYPE], "text/html; charset=utf-8");
        // A request that is not streamed has no stream to break: served normally.
        let plain = json!({"prompt": "p", "max_tokens": 3, "ignore_eos": true});
        let (status, text) = call(app(faulty("truncated=1")), "/v1/completions", plain).await;
        assert_eq!(status, StatusCode::OK);
        assert!(text.contains("\"finish_reason\":\"length\""));
    }

    fn engine_cfg(max_num_seqs: u32, time_scale: f64) -> SimConfig {
        let built = timing::EngineSpec {
            max_num_seqs: Some(max_num_seqs),
            ..timing::EngineSpec::reference()
        }
        .build()
        .unwrap();
        SimConfig {
            engine: Some(EngineMode { built, time_scale }),
            ..SimConfig::fixed_timing(50.0, 10.0)
        }
    }

    async fn scrape(router: &Router) -> String {
        let req = Request::get("/metrics").body(Body::empty()).unwrap();
        let resp = router.clone().oneshot(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    fn gauge(text: &str, name: &str) -> String {
        let prefix = format!("{name}{{model_name=\"infermeter-sim\",engine=\"0\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(prefix.as_str()))
            .unwrap_or_else(|| panic!("{name} missing in\n{text}"))
            .to_string()
    }

    #[tokio::test]
    async fn engine_metrics_show_running_and_waiting_and_disconnect_aborts() {
        let router = app(engine_cfg(2, 1.0));
        let mut bodies = Vec::new();
        for _ in 0..3 {
            let body = json!({"prompt": "a b c d", "max_tokens": 5000, "stream": true, "ignore_eos": true});
            let req = Request::post("/v1/completions")
                .header("content-type", "application/json")
                .body(Body::from(body.to_string()))
                .unwrap();
            let resp = router.clone().oneshot(req).await.unwrap();
            assert_eq!(resp.status(), StatusCode::OK);
            bodies.push(resp.into_body());
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let text = scrape(&router).await;
        assert_eq!(gauge(&text, "vllm:num_requests_running"), "2.0");
        assert_eq!(gauge(&text, "vllm:num_requests_waiting"), "1.0");
        assert!(gauge(&text, "vllm:generation_tokens_total").parse::<f64>().unwrap() > 2.0);
        assert!(text.contains(
            "vllm:inter_token_latency_seconds_bucket{model_name=\"infermeter-sim\",engine=\"0\",le=\"0.01\"}"
        ));
        drop(bodies); // clients go away: the engine aborts all three
        tokio::time::sleep(Duration::from_millis(300)).await;
        let text = scrape(&router).await;
        assert_eq!(gauge(&text, "vllm:num_requests_running"), "0.0");
        assert_eq!(gauge(&text, "vllm:num_requests_waiting"), "0.0");
        assert!(
            text.contains(
                "vllm:request_success_total{model_name=\"infermeter-sim\",engine=\"0\",finished_reason=\"abort\"} 3.0"
            ),
            "{text}"
        );
        assert_eq!(gauge(&text, "vllm:kv_cache_usage_perc"), "0.0");
    }

    #[tokio::test]
    async fn engine_mode_keeps_the_chunk_format_and_caches_prefixes() {
        let router = app(engine_cfg(8, 0.05));
        let prompt: String = (0..200).map(|i| format!("w{} ", i % 37)).collect();
        for cached in [0, 192] {
            let body = json!({"model": "infermeter-sim", "messages": [{"role": "user", "content": prompt}],
                "max_tokens": 5, "stream": true, "ignore_eos": true, "stream_options": {"include_usage": true}});
            let (status, text) = call(router.clone(), "/v1/chat/completions", body).await;
            assert_eq!(status, StatusCode::OK);
            let events = crate::client::sse::parse_all(text.as_bytes()).unwrap();
            assert_eq!(events.len(), 1 + 5 + 1 + 1, "{text}"); // role, 5 tokens, usage, [DONE]
                                                               // vLLM's usage, with the prefix-cache hits of this request.
            let usage = format!(
                "\"usage\":{{\"prompt_tokens\":200,\"total_tokens\":205,\"completion_tokens\":5,\"prompt_tokens_details\":{{\"cached_tokens\":{cached}}}}}"
            );
            assert!(text.contains(&usage), "{text}");
            assert!(text.contains("\"finish_reason\":\"length\""));
            assert!(text.ends_with("data: [DONE]\n\n"));
        }
        let text = scrape(&router).await;
        // 200 words = 12 full blocks; the second request hits all of them.
        assert_eq!(gauge(&text, "vllm:prefix_cache_hits_total"), "192.0");
        assert_eq!(gauge(&text, "vllm:prompt_tokens_total"), "400.0");
        assert!(text.contains("finished_reason=\"length\"} 2.0"));
        let body = json!({"prompt": "x y", "max_tokens": 3, "ignore_eos": true});
        let (status, text) = call(router.clone(), "/v1/completions", body).await;
        assert_eq!(status, StatusCode::OK);
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["choices"][0]["text"], " the of and");
        let (status, _) = call(router, "/v1/completions", json!({"prompt": "", "max_tokens": 3})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
}
