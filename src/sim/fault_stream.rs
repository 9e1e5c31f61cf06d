//! Faults acted out by the HTTP handlers: answers that replace the response (HTTP errors, a
//! reset before the head, an HTML page instead of a stream), delays of the head, and faults
//! that strike inside a token stream ([`MidFault`]). Which request gets which fault is
//! decided by the plan in `faults`; connection-level effects live in `fault_conn`.

use super::fault_conn::ConnFault;
use super::faults::{self, FaultKind, FaultPlan};
use super::wire::error;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use std::time::Duration;
use tokio::sync::mpsc;

/// Faults that answer before (or instead of) the normal response. `None`: serve normally
/// (after a delay, or with a slowed head, for the timing faults).
pub async fn fault_before_response(
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
pub struct MidFault {
    pub kind: FaultKind,
    pub at: u32,
    pub stall: Duration,
    pub conn: Option<ConnFault>,
}

#[derive(PartialEq, Eq)]
pub enum After {
    /// Stream the remaining tokens.
    Continue,
    /// End the response here.
    End,
}

impl MidFault {
    pub async fn strike(self, tx: &mpsc::Sender<Bytes>) -> After {
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
