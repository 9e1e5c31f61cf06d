//! Microbenchmark of the SSE parser + chunk decoder: bytes/s and events/s on a synthetic
//! vLLM-style chat stream cut into frames of 1–4 events at arbitrary byte offsets.
//!
//! Run with: `cargo run --release --example sse_bench [EVENTS]`

use infermeter::client::openai::{decode_chunk, ChunkOutcome};
use infermeter::client::sse::SseParser;
use std::time::Instant;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let mut stream = Vec::with_capacity(n * 200);
    for i in 0..n {
        let chunk = format!(
            "data: {{\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1795000000,\"model\":\"m\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\" tok{}\"}},\"logprobs\":null,\"finish_reason\":null}}]}}\n\n",
            i % 1000
        );
        stream.extend_from_slice(chunk.as_bytes());
    }
    // Frames of pseudo-random size (~1–4 events), cut at arbitrary bytes.
    let mut cuts = Vec::new();
    let (mut pos, mut x) = (0usize, 0x9E37_79B9u64);
    while pos < stream.len() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        pos = (pos + 100 + (x % 600) as usize).min(stream.len());
        cuts.push(pos);
    }
    for round in 0..3 {
        let t = Instant::now();
        let mut parser = SseParser::default();
        let (mut events, mut content_bytes, mut start) = (0usize, 0usize, 0usize);
        for &c in &cuts {
            parser
                .push(&stream[start..c], |e| {
                    if let Ok(ChunkOutcome::Chunk(d)) = decode_chunk(e.data) {
                        events += 1;
                        content_bytes += d.content.len();
                    }
                })
                .expect("parse");
            start = c;
        }
        let s = t.elapsed().as_secs_f64();
        assert_eq!(events, n);
        println!(
            "round {}: {n} events, {:.1} MB in {:.3} s: {:.0} MB/s, {:.0} events/s (parse + JSON decode; {} content bytes)",
            round + 1,
            stream.len() as f64 / 1e6,
            s,
            stream.len() as f64 / 1e6 / s,
            n as f64 / s,
            content_bytes
        );
    }
}
