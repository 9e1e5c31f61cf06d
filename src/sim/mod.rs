//! The embedded OpenAI-compatible simulated server: the default benchmark target when no
//! `--url` is given, and `infermeter sim serve` standalone.
//!
//! It honours `max_tokens`, `ignore_eos`/`min_tokens`, `stream`, `stream_options`
//! (`include_usage`, `continuous_usage_stats`), limits concurrent sequences to
//! `--max-num-seqs` (later requests queue, which shows in their TTFT), and emits tokens on
//! absolute deadlines `start + TTFT + Σ ITL` so timer lateness never accumulates. `app()` is
//! an axum `Router` factory, testable without a socket.
//!
//! Two modes. **Fixed timing** (`engine: None`): every request gets its own slot and
//! configured TTFT/ITL. **Engine mode** (`engine: Some`, see [`online`]): a simulated vLLM-like
//! engine (continuous batching, paged KV cache, prefix caching, preemption) priced by the
//! roofline performance model decides when each token leaves, and `/metrics` exposes vLLM's
//! Prometheus metrics. Both modes stream exactly the same chunk format.
//!
//! Fault injection (`faults`, `fault_conn`): with a [`FaultPlan`], chosen requests get an HTTP
//! error, a reset connection, a truncated, stalled or corrupted stream, or a slow response head
//! (see `docs/reliability.md`); the HTTP-level and head faults apply in both modes, the
//! mid-stream faults to every streamed response.
//!
//! Token accounting: a prompt's token count is its number of whitespace-separated words
//! (infermeter's synthetic prompts are one token per word), and every emitted output token is
//! a common word that is exactly one token in the `cl100k_base` and `o200k_base` encodings.

pub mod fault_conn;
pub mod faults;
pub mod offline;
pub mod online;
pub mod prom;
pub mod timing;
pub mod write_log;

use crate::util::Rng;
pub use crate::workload::dist::ValueDist;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use bytes::Bytes;
use fault_conn::ConnFault;
pub use faults::{FaultKind, FaultPlan};
use online::{EngineHandle, Ev};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, Semaphore};
use tokio::time::Instant;

/// Words emitted as output tokens: each is a single token in cl100k_base and o200k_base.
pub const OUTPUT_WORDS: [&str; 24] = [
    " the", " of", " and", " to", " in", " is", " that", " for", " it", " as", " with", " was", " on", " be", " at",
    " by", " this", " not", " are", " but", " from", " or", " have", " one",
];

#[derive(Debug, Clone)]
pub struct SimConfig {
    pub model: String,
    /// Time to first token after a slot is granted, in ms.
    pub ttft_ms: ValueDist,
    /// Gap between consecutive tokens, in ms.
    pub itl_ms: ValueDist,
    /// Extra prefill time per prompt token, in µs (TTFT grows with the prompt).
    pub prefill_us_per_token: f64,
    /// Concurrent sequences; later requests wait for a slot.
    pub max_num_seqs: usize,
    /// Tokens carried by each streamed chunk (>1 mimics speculative decoding / stream intervals).
    pub tokens_per_chunk: u32,
    pub seed: u64,
    /// Engine mode (`None` = fixed timing).
    pub engine: Option<EngineMode>,
    /// Faults to inject (empty: none).
    pub faults: FaultPlan,
    /// Record when each streamed chunk was written (`--write-log`).
    pub write_log: Option<Arc<write_log::WriteLog>>,
}

/// The simulated engine behind engine mode.
#[derive(Debug, Clone)]
pub struct EngineMode {
    pub built: timing::BuiltEngine,
    /// Real seconds per simulated second.
    pub time_scale: f64,
}

impl SimConfig {
    /// A fixed-timing server with constant TTFT and inter-token times (ms), no prefill cost
    /// and 256 slots: a predictable target for tests. The default simulated server is
    /// `spec::SimSpec::default()`, validated by `spec::validate::sim_server`.
    pub fn fixed_timing(ttft_ms: f64, itl_ms: f64) -> Self {
        SimConfig {
            model: crate::spec::defaults::SIM_FIXED_MODEL.into(),
            ttft_ms: ValueDist::fixed(ttft_ms),
            itl_ms: ValueDist::fixed(itl_ms),
            prefill_us_per_token: 0.0,
            max_num_seqs: crate::spec::defaults::SIM_FIXED_MAX_NUM_SEQS as usize,
            tokens_per_chunk: 1,
            seed: 0,
            engine: None,
            faults: FaultPlan::default(),
            write_log: None,
        }
    }

    /// What this server simulates, for reports and for [`DESCRIBE_PATH`].
    pub fn describe(&self) -> Described {
        match &self.engine {
            Some(e) => Described {
                mode: "engine".into(),
                model: self.model.clone(),
                engine: Some(format!("{}, time scale {}", e.built.describe(), e.time_scale)),
                fixed: None,
            },
            None => Described {
                mode: "fixed".into(),
                model: self.model.clone(),
                engine: None,
                fixed: Some(format!(
                    "TTFT {} ms + {} µs per prompt token, inter-token {} ms, max_num_seqs {}, {} token{} per chunk",
                    self.ttft_ms,
                    self.prefill_us_per_token,
                    self.itl_ms,
                    self.max_num_seqs,
                    self.tokens_per_chunk,
                    if self.tokens_per_chunk == 1 { "" } else { "s" }
                )),
            },
        }
    }
}

/// Where a simulated server describes itself (JSON [`Described`]).
pub const DESCRIBE_PATH: &str = "/infermeter/sim";

/// The `owned_by` of the simulator's `/v1/models` entries.
pub const OWNER: &str = "infermeter-sim";

/// What a simulated server simulates: its mode, served model and settings in one line.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Described {
    /// `engine` or `fixed`.
    pub mode: String,
    pub model: String,
    /// Engine mode: the deployment and every engine limit.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub engine: Option<String>,
    /// Fixed mode: the configured timing.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub fixed: Option<String>,
}

impl Described {
    /// One line, e.g. `engine qwen3-0.6b@l4 (...)` or `fixed timing: TTFT ...`.
    pub fn line(&self) -> String {
        match (&self.engine, &self.fixed) {
            (Some(e), _) => format!("engine {e}"),
            (None, Some(f)) => format!("fixed timing: {f}"),
            (None, None) => self.mode.clone(),
        }
    }

    /// Record it in a run's description.
    pub fn fill(&self, info: &mut crate::report::RunInfo) {
        info.sim_engine = self.engine.clone();
        info.sim_fixed = self.fixed.clone();
    }
}

/// True when a `/v1/models` body comes from this simulator.
pub fn is_simulator_listing(body: &[u8]) -> bool {
    serde_json::from_slice::<Value>(body).ok().is_some_and(|v| {
        v.get("data").and_then(Value::as_array).is_some_and(|d| {
            d.iter()
                .any(|m| m.get("owned_by").and_then(Value::as_str) == Some(OWNER))
        })
    })
}

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
    Json(json!({"object": "list", "data": [{"id": st.cfg.model, "object": "model", "owned_by": OWNER}]}))
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

fn error(status: StatusCode, msg: &str) -> Response {
    let body = json!({"error": {"message": msg, "type": "BadRequestError", "code": status.as_u16()}});
    (status, Json(body)).into_response()
}

fn words(s: &str) -> u32 {
    s.split_whitespace().count() as u32
}

/// What one request asks for, read from its JSON body.
struct Ask {
    prompt_tokens: u32,
    max_tokens: u32,
    min_tokens: u32,
    ignore_eos: bool,
    stream: bool,
    include_usage: bool,
    continuous_usage: bool,
}

/// The largest `max_tokens` the simulator serves (a 400 above, like a real server's context limit).
pub const MAX_TOKENS: u32 = 1 << 20;

fn parse_ask(v: &Value, chat: bool) -> Result<Ask, String> {
    let prompt_tokens = if chat {
        let msgs = v
            .get("messages")
            .and_then(Value::as_array)
            .ok_or("`messages` must be an array")?;
        msgs.iter()
            .map(|m| match m.get("content") {
                Some(Value::String(s)) => words(s),
                Some(Value::Array(parts)) => parts
                    .iter()
                    .filter_map(|p| p.get("text").and_then(Value::as_str))
                    .map(words)
                    .sum(),
                _ => 0,
            })
            .sum()
    } else {
        match v.get("prompt") {
            Some(Value::String(s)) => words(s),
            Some(Value::Array(a)) if a.iter().all(Value::is_number) => a.len() as u32,
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(words).sum(),
            _ => return Err("`prompt` must be a string or an array".into()),
        }
    };
    let get_u32 = |k: &str| v.get(k).and_then(Value::as_u64).map(|x| x.min(u32::MAX as u64) as u32);
    let max_tokens = get_u32("max_tokens")
        .or_else(|| get_u32("max_completion_tokens"))
        .unwrap_or(if chat { 64 } else { 16 });
    if max_tokens > MAX_TOKENS {
        // Per-token state is allocated up front: an untrusted count must not size it.
        return Err(format!("max_tokens {max_tokens} is over the limit of {MAX_TOKENS}"));
    }
    let so = v.get("stream_options");
    Ok(Ask {
        prompt_tokens,
        max_tokens: max_tokens.max(1),
        min_tokens: get_u32("min_tokens").unwrap_or(0),
        ignore_eos: v.get("ignore_eos").and_then(Value::as_bool).unwrap_or(false),
        stream: v.get("stream").and_then(Value::as_bool).unwrap_or(false),
        include_usage: so
            .and_then(|s| s.get("include_usage"))
            .and_then(Value::as_bool)
            .unwrap_or(false),
        continuous_usage: so
            .and_then(|s| s.get("continuous_usage_stats"))
            .and_then(Value::as_bool)
            .unwrap_or(false),
    })
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
    };
    let mid = fault.filter(|k| k.is_mid_stream() && ask.stream).map(|kind| MidFault {
        kind,
        at: faults::strike_after(n_out),
        stall: st.cfg.faults.stall,
        conn,
    });
    if st.engine.is_some() {
        return generate_engine(st, &v, &ask, n_out, gen, mid, rec).await;
    }

    // Token deadlines relative to the moment a slot is granted.
    let ttft = st.cfg.ttft_ms.sample(&mut rng) + ask.prompt_tokens as f64 * st.cfg.prefill_us_per_token / 1000.0;
    let mut offsets = Vec::with_capacity(n_out as usize);
    let mut t = ttft;
    for i in 0..n_out {
        if i > 0 {
            t += st.cfg.itl_ms.sample(&mut rng);
        }
        offsets.push(Duration::from_secs_f64((t / 1000.0).clamp(0.0, 1e9))); // huge/inf flags: no panic
    }

    if !ask.stream {
        let Ok(_permit) = st.slots.clone().acquire_owned().await else {
            return error(StatusCode::SERVICE_UNAVAILABLE, "shutting down");
        };
        let start = Instant::now();
        if let Some(last) = offsets.last() {
            tokio::time::sleep_until(start + *last).await;
        }
        let text: String = (0..n_out)
            .map(|i| OUTPUT_WORDS[i as usize % OUTPUT_WORDS.len()])
            .collect();
        return (
            [(header::CONTENT_TYPE, "application/json")],
            gen.full_response(&text, n_out),
        )
            .into_response();
    }

    let (tx, rx) = mpsc::channel::<Bytes>(64);
    let slots = st.slots.clone();
    tokio::spawn(async move {
        if chat && tx.send(Bytes::from(gen.role_chunk())).await.is_err() {
            return;
        }
        let Ok(_permit) = slots.acquire_owned().await else {
            return;
        };
        let mut start = Instant::now();
        let mut mid = mid;
        let mut i = 0u32;
        while i < n_out {
            let end = (i + gen.k).min(n_out);
            tokio::time::sleep_until(start + offsets[end as usize - 1]).await;
            if let Some(m) = mid.take_if(|m| i >= m.at) {
                let t = Instant::now();
                if m.strike(&tx).await == After::End {
                    return;
                }
                start += t.elapsed(); // a stall delays every later token
            }
            let text: String = (i..end)
                .map(|j| OUTPUT_WORDS[j as usize % OUTPUT_WORDS.len()])
                .collect();
            let last = end == n_out && mid.is_none();
            if tx.send(Bytes::from(gen.token_chunk(&text, end, last))).await.is_err() {
                return; // client went away: free the slot
            }
            i = end;
        }
        if let Some(m) = mid {
            if m.strike(&tx).await == After::End {
                return;
            }
        }
        if gen.include_usage {
            let _ = tx.send(Bytes::from(gen.usage_chunk(n_out))).await;
        }
        let _ = tx.send(Bytes::from_static(b"data: [DONE]\n\n")).await;
    });
    sse_response(rx, rec)
}

/// A token id per prompt word (FNV-1a of the word), so identical prompt prefixes give
/// identical KV block hashes; a token-id array prompt is used as is.
fn prompt_token_ids(v: &Value, chat: bool) -> Vec<u32> {
    fn word_id(w: &str) -> u32 {
        w.bytes()
            .fold(0x811C_9DC5u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193))
    }
    let mut ids = Vec::new();
    let mut push_text = |s: &str| ids.extend(s.split_whitespace().map(word_id));
    if chat {
        for m in v.get("messages").and_then(Value::as_array).into_iter().flatten() {
            match m.get("content") {
                Some(Value::String(s)) => push_text(s),
                Some(Value::Array(parts)) => parts
                    .iter()
                    .filter_map(|p| p.get("text").and_then(Value::as_str))
                    .for_each(&mut push_text),
                _ => {}
            }
        }
    } else {
        match v.get("prompt") {
            Some(Value::String(s)) => push_text(s),
            Some(Value::Array(a)) if a.iter().all(Value::is_number) => {
                ids.extend(a.iter().map(|x| x.as_u64().unwrap_or(0) as u32));
            }
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).for_each(&mut push_text),
            _ => {}
        }
    }
    ids
}

fn output_text(from: u32, to: u32) -> String {
    (from..to)
        .map(|j| OUTPUT_WORDS[j as usize % OUTPUT_WORDS.len()])
        .collect()
}

/// Engine mode: submit to the engine task and stream its tokens as they are released.
async fn generate_engine(
    st: Arc<AppState>,
    v: &Value,
    ask: &Ask,
    n_out: u32,
    mut gen: Gen,
    mid: Option<MidFault>,
    rec: Option<write_log::Recorder>,
) -> Response {
    let Some(engine) = st.engine.as_ref() else {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "no engine");
    };
    let mut req = infermeter_engine::Request::new(0, 0.0, ask.prompt_tokens, n_out);
    req.ends_with_eos = n_out < ask.max_tokens;
    if engine.prefix_caching && engine.block_size > 0 {
        let mut hashes = infermeter_engine::block_hashes_from_tokens(&prompt_token_ids(v, gen.chat), engine.block_size);
        hashes.truncate((ask.prompt_tokens / engine.block_size) as usize);
        req = req.with_prefix(hashes);
    }
    let (mut rx, mut guard) = match engine.submit(req).await {
        Ok(x) => x,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e),
    };
    if !ask.stream {
        let mut n = 0u32;
        loop {
            match rx.recv().await {
                Some(Ev::Token(last)) => {
                    n += 1;
                    if let Some(r) = last {
                        gen.finish = r;
                        break;
                    }
                }
                Some(Ev::Aborted) | None => return error(StatusCode::INTERNAL_SERVER_ERROR, "request aborted"),
            }
        }
        guard.done();
        return (
            [(header::CONTENT_TYPE, "application/json")],
            gen.full_response(&output_text(0, n), n),
        )
            .into_response();
    }
    let (tx, body_rx) = mpsc::channel::<Bytes>(64);
    tokio::spawn(async move {
        let mut guard = guard; // dropped early (client gone) = abort in the engine
        if gen.chat && tx.send(Bytes::from(gen.role_chunk())).await.is_err() {
            return;
        }
        let (mut emitted, mut pending) = (0u32, 0u32);
        let mut mid = mid;
        loop {
            let ev = tokio::select! {
                ev = rx.recv() => ev,
                _ = tx.closed() => return,
            };
            match ev {
                Some(Ev::Token(last)) => {
                    pending += 1;
                    if let Some(r) = last {
                        gen.finish = r;
                    }
                    if pending >= gen.k || last.is_some() {
                        if let Some(m) = mid.take_if(|m| emitted >= m.at) {
                            if m.strike(&tx).await == After::End {
                                return; // dropping the guard aborts the request in the engine
                            }
                        }
                        let end = emitted + pending;
                        let chunk = gen.token_chunk(&output_text(emitted, end), end, last.is_some() && mid.is_none());
                        if tx.send(Bytes::from(chunk)).await.is_err() {
                            return;
                        }
                        emitted = end;
                        pending = 0;
                        if last.is_some() {
                            break;
                        }
                    }
                }
                Some(Ev::Aborted) | None => return,
            }
        }
        guard.done();
        if let Some(m) = mid {
            if m.strike(&tx).await == After::End {
                return;
            }
        }
        if gen.include_usage {
            let _ = tx.send(Bytes::from(gen.usage_chunk(emitted))).await;
        }
        let _ = tx.send(Bytes::from_static(b"data: [DONE]\n\n")).await;
    });
    sse_response(body_rx, rec)
}

/// Faults that answer before (or instead of) the normal response. `None`: serve normally
/// (after a delay, or with a slowed head, for the timing faults).
async fn fault_before_response(
    kind: FaultKind,
    plan: &FaultPlan,
    conn: Option<&ConnFault>,
    stream: bool,
) -> Option<Response> {
    let json_error = |status: StatusCode, body: &'static str| {
        let mut r = (status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
        if status == StatusCode::TOO_MANY_REQUESTS {
            r.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        }
        r
    };
    match kind {
        FaultKind::Http429 => Some(json_error(StatusCode::TOO_MANY_REQUESTS, faults::HTTP_429_JSON)),
        FaultKind::Http500Json => Some(json_error(StatusCode::INTERNAL_SERVER_ERROR, faults::HTTP_500_JSON)),
        FaultKind::Http503Html => Some(
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::CONTENT_TYPE, "text/html")],
                faults::HTTP_503_HTML,
            )
                .into_response(),
        ),
        FaultKind::NotSse if stream => Some(
            (
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                faults::NOT_SSE_HTML,
            )
                .into_response(),
        ),
        FaultKind::ResetBeforeHeaders => {
            // The connection fails when hyper writes this response's head: the client sees
            // an RST and no byte of it. (Without a socket, see `spawn`, it is served as is.)
            conn?.reset();
            Some(error(
                StatusCode::BAD_GATEWAY,
                "connection reset (fault injection without a socket)",
            ))
        }
        FaultKind::SlowFirstByte => {
            tokio::time::sleep(plan.delay).await;
            None
        }
        FaultKind::SlowHeaders => {
            if let Some(c) = conn {
                c.slow_head(plan.delay);
            }
            None
        }
        _ => None,
    }
}

/// A fault that strikes inside a token stream once `at` tokens were sent.
struct MidFault {
    kind: FaultKind,
    at: u32,
    stall: Duration,
    conn: Option<ConnFault>,
}

#[derive(PartialEq, Eq)]
enum After {
    /// Stream the remaining tokens.
    Continue,
    /// End the response here.
    End,
}

impl MidFault {
    async fn strike(self, tx: &mpsc::Sender<Bytes>) -> After {
        let send = |b: Bytes| async move {
            if tx.send(b).await.is_ok() {
                After::Continue
            } else {
                After::End
            }
        };
        match self.kind {
            FaultKind::Truncated => After::End,
            FaultKind::ResetMidStream => {
                // Let the tokens already sent reach the socket first: the reset acts on the
                // connection's next write (the end of the body).
                tokio::time::sleep(Duration::from_millis(5)).await;
                if let Some(c) = &self.conn {
                    c.reset();
                }
                After::End
            }
            FaultKind::ErrorEvent => {
                if send(Bytes::from_static(faults::ERROR_EVENT.as_bytes())).await == After::Continue {
                    let _ = tx.send(Bytes::from_static(b"data: [DONE]\n\n")).await;
                }
                After::End
            }
            FaultKind::Stall => {
                tokio::time::sleep(self.stall).await;
                After::Continue
            }
            FaultKind::MalformedJson => send(Bytes::from_static(faults::MALFORMED_EVENT.as_bytes())).await,
            FaultKind::InvalidUtf8 => send(Bytes::from_static(faults::INVALID_UTF8_EVENT)).await,
            FaultKind::HugeLine => send(faults::huge_line()).await,
            _ => After::Continue,
        }
    }
}

/// Formats the chunks of one response (plain `format!`: the words need no JSON escaping).
struct Gen {
    id: String,
    model_json: String,
    chat: bool,
    prompt_tokens: u32,
    finish: &'static str,
    include_usage: bool,
    continuous_usage: bool,
    k: u32,
}

impl Gen {
    fn usage(&self, completion: u32) -> String {
        format!(
            r#"{{"prompt_tokens":{},"total_tokens":{},"completion_tokens":{}}}"#,
            self.prompt_tokens,
            self.prompt_tokens + completion,
            completion
        )
    }

    fn object(&self, stream: bool) -> &'static str {
        match (self.chat, stream) {
            (true, true) => "chat.completion.chunk",
            (true, false) => "chat.completion",
            (false, _) => "text_completion",
        }
    }

    fn role_chunk(&self) -> String {
        format!(
            "data: {{\"id\":\"{}\",\"object\":\"{}\",\"created\":0,\"model\":{},\"choices\":[{{\"index\":0,\"delta\":{{\"role\":\"assistant\",\"content\":\"\"}},\"logprobs\":null,\"finish_reason\":null}}]}}\n\n",
            self.id,
            self.object(true),
            self.model_json
        )
    }

    fn token_chunk(&self, text: &str, emitted: u32, last: bool) -> String {
        // Built in one buffer: in zero-cost mode this is the simulator's hottest path.
        use std::fmt::Write as _;
        let mut out = String::with_capacity(160 + self.id.len() + self.model_json.len() + text.len());
        let _ = write!(
            out,
            "data: {{\"id\":\"{}\",\"object\":\"{}\",\"created\":0,\"model\":{},\"choices\":[",
            self.id,
            self.object(true),
            self.model_json
        );
        if self.chat {
            out.push_str("{\"index\":0,\"delta\":{\"content\":\"");
            out.push_str(text);
            out.push_str("\"},\"logprobs\":null,\"finish_reason\":");
        } else {
            out.push_str("{\"index\":0,\"text\":\"");
            out.push_str(text);
            out.push_str("\",\"logprobs\":null,\"finish_reason\":");
        }
        if last {
            let _ = write!(out, "\"{}\"", self.finish);
        } else {
            out.push_str("null");
        }
        out.push_str("}]");
        if self.include_usage && self.continuous_usage {
            let _ = write!(out, ",\"usage\":{}", self.usage(emitted));
        }
        out.push_str("}\n\n");
        out
    }

    fn usage_chunk(&self, completion: u32) -> String {
        format!(
            "data: {{\"id\":\"{}\",\"object\":\"{}\",\"created\":0,\"model\":{},\"choices\":[],\"usage\":{}}}\n\n",
            self.id,
            self.object(true),
            self.model_json,
            self.usage(completion)
        )
    }

    fn full_response(&self, text: &str, completion: u32) -> String {
        let choice = if self.chat {
            format!("{{\"index\":0,\"message\":{{\"role\":\"assistant\",\"content\":\"{text}\"}},\"finish_reason\":\"{}\"}}", self.finish)
        } else {
            format!(
                "{{\"index\":0,\"text\":\"{text}\",\"finish_reason\":\"{}\"}}",
                self.finish
            )
        };
        format!(
            "{{\"id\":\"{}\",\"object\":\"{}\",\"created\":0,\"model\":{},\"choices\":[{choice}],\"usage\":{}}}",
            self.id,
            self.object(false),
            self.model_json,
            self.usage(completion)
        )
    }
}

/// A `text/event-stream` response whose body is whatever the generator task sends. With a
/// write-log recorder, each chunk is stamped as the HTTP layer polls it, right before it is
/// written to the socket.
fn sse_response(rx: mpsc::Receiver<Bytes>, rec: Option<write_log::Recorder>) -> Response {
    let stream = futures_util::stream::unfold((rx, rec), |(mut rx, mut rec)| async move {
        let b = rx.recv().await?;
        if let Some(r) = rec.as_mut() {
            r.stamp();
        }
        Some((Ok::<Bytes, std::convert::Infallible>(b), (rx, rec)))
    });
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| error(StatusCode::INTERNAL_SERVER_ERROR, "response build failed"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::Tokenizer;
    use axum::http::Request;
    use http_body_util::BodyExt;
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
            ..Default::default()
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
        for _ in 0..2 {
            let body = json!({"model": "infermeter-sim", "messages": [{"role": "user", "content": prompt}],
                "max_tokens": 5, "stream": true, "ignore_eos": true, "stream_options": {"include_usage": true}});
            let (status, text) = call(router.clone(), "/v1/chat/completions", body).await;
            assert_eq!(status, StatusCode::OK);
            let events = crate::client::sse::parse_all(text.as_bytes()).unwrap();
            assert_eq!(events.len(), 1 + 5 + 1 + 1, "{text}"); // role, 5 tokens, usage, [DONE]
            assert!(text.contains("\"usage\":{\"prompt_tokens\":200,\"total_tokens\":205,\"completion_tokens\":5}"));
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
