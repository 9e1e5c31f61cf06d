//! SSE parser + chunk decoder on arbitrary bytes in arbitrary frame splits: no panic, memory
//! bounded by the event limit, the events (and so their decoding) do not depend on how the
//! bytes were framed, and the decoder never accepts an event that is not valid JSON.
//!
//! Input layout: byte 0 = number of cuts (mod 16), then 2 bytes per cut (a position, mod
//! the stream length), then the stream itself.

#![no_main]

use infermeter::client::openai::{decode_chunk, ChunkOutcome};
use infermeter::client::sse::{SseError, SseParser};
use libfuzzer_sys::fuzz_target;

/// Small enough that the limit is hit by inputs of a few KB.
const MAX: usize = 512;

type Events = Vec<(Vec<u8>, Vec<u8>)>;

fn run(frames: &[&[u8]]) -> (Events, Result<(), SseError>) {
    let mut p = SseParser::new(MAX);
    let mut out = Vec::new();
    for f in frames {
        if let Err(e) = p.push(f, |e| out.push((e.event.to_vec(), e.data.to_vec()))) {
            return (out, Err(e));
        }
    }
    let r = p.finish(|e| out.push((e.event.to_vec(), e.data.to_vec())));
    (out, r)
}

fuzz_target!(|data: &[u8]| {
    let Some((&n, rest)) = data.split_first() else { return };
    let n = usize::from(n % 16);
    if rest.len() < 2 * n {
        return;
    }
    let (cuts, stream) = rest.split_at(2 * n);
    let mut idx: Vec<usize> = cuts
        .chunks_exact(2)
        .map(|c| usize::from(u16::from_le_bytes([c[0], c[1]])) % (stream.len() + 1))
        .collect();
    idx.sort_unstable();
    let mut frames = Vec::new();
    let mut prev = 0;
    for i in idx.into_iter().chain(std::iter::once(stream.len())) {
        frames.push(&stream[prev..i]);
        prev = i;
    }

    let (whole, whole_r) = run(&[stream]);
    let (split, split_r) = run(&frames);
    // A carried-over line can hit the limit earlier when split, never later; events before
    // the error are the same.
    match (&whole_r, &split_r) {
        (Ok(()), Ok(())) => assert_eq!(whole, split),
        (Err(_), Ok(())) => panic!("whole stream failed, split succeeded"),
        _ => assert!(whole.starts_with(&split), "split events are not a prefix"),
    }
    for (_, d) in &split {
        assert!(d.len() <= MAX, "event data over the bound: {}", d.len());
        match decode_chunk(d) {
            Ok(ChunkOutcome::Done) => assert_eq!(d.trim_ascii(), b"[DONE]"),
            Ok(ChunkOutcome::ServerError(m)) => assert!(m.chars().count() <= 300),
            Ok(ChunkOutcome::Chunk(c)) => {
                assert!(std::str::from_utf8(d).is_ok());
                assert!(c.content.len() + c.reasoning.len() + c.tool_args.len() <= d.len());
            }
            Err(_) => {}
        }
    }
});
