//! Engine-mode generation: the request is submitted to the simulated engine task, and its
//! tokens are streamed as the engine releases them (a dropped stream aborts the request in
//! the engine).

use super::fault_stream::{After, MidFault};
use super::online::{EngineHandle, Ev};
use super::request::{prompt_token_ids, Ask};
use super::wire::{error, output_text, sse_response, Gen};
use super::write_log;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::Value;
use tokio::sync::mpsc;

/// Engine mode: submit to the engine task and stream its tokens as they are released.
pub async fn generate(
    engine: &EngineHandle,
    v: &Value,
    ask: &Ask,
    n_out: u32,
    mut gen: Gen,
    mid: Option<MidFault>,
    rec: Option<write_log::Recorder>,
) -> Response {
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
                Some(Ev::Cached(c)) => gen.cached_tokens = Some(c),
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
                Some(Ev::Cached(c)) => gen.cached_tokens = Some(c),
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
