//! Fixed-timing generation: each request gets a slot (at most `max_num_seqs` at once) and
//! its tokens leave on absolute deadlines `start + TTFT + Σ ITL` drawn from the configured
//! distributions, so timer lateness never accumulates.

use super::config::SimConfig;
use super::fault_stream::{After, MidFault};
use super::request::Ask;
use super::wire::{error, output_text, sse_response, Gen};
use super::write_log;
use crate::util::Rng;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, Semaphore};
use tokio::time::Instant;

/// Serve one request with fixed timing.
#[allow(clippy::too_many_arguments)]
pub async fn generate(
    cfg: &SimConfig,
    slots: Arc<Semaphore>,
    ask: &Ask,
    n_out: u32,
    gen: Gen,
    mid: Option<MidFault>,
    mut rng: Rng,
    rec: Option<write_log::Recorder>,
) -> Response {
    let chat = gen.chat;
    // Token deadlines relative to the moment a slot is granted.
    let ttft = cfg.ttft_ms.sample(&mut rng) + ask.prompt_tokens as f64 * cfg.prefill_us_per_token / 1000.0;
    let mut offsets = Vec::with_capacity(n_out as usize);
    let mut t = ttft;
    for i in 0..n_out {
        if i > 0 {
            t += cfg.itl_ms.sample(&mut rng);
        }
        offsets.push(Duration::from_secs_f64((t / 1000.0).clamp(0.0, 1e9))); // huge/inf flags: no panic
    }

    if !ask.stream {
        let Ok(_permit) = slots.clone().acquire_owned().await else {
            return error(StatusCode::SERVICE_UNAVAILABLE, "shutting down");
        };
        let start = Instant::now();
        if let Some(last) = offsets.last() {
            tokio::time::sleep_until(start + *last).await;
        }
        let text = output_text(0, n_out);
        return (
            [(header::CONTENT_TYPE, "application/json")],
            gen.full_response(&text, n_out),
        )
            .into_response();
    }

    let (tx, rx) = mpsc::channel::<Bytes>(64);
    let slots = slots.clone();
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
            let text = output_text(i, end);
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
