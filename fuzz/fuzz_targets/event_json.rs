//! The chunk decoder (`decode_chunk`) and the `/v1/models` reader on arbitrary bytes: no
//! panic, and a differential check against `serde_json::Value`: whatever `Value` rejects
//! (invalid JSON, invalid UTF-8, nesting past the recursion limit) the decoder rejects too,
//! except a number beyond f64 range in a field the decoder skips (`{"x":1e999}`): valid JSON
//! grammar that `Value` cannot represent, and serde skips numbers without converting them.

#![no_main]

use infermeter::client::openai::{decode_chunk, parse_models, ChunkOutcome};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let _ = parse_models(data);
    let value = serde_json::from_slice::<Value>(data).map_err(|e| e.to_string());
    let grammar_ok = match &value {
        Ok(_) => true,
        Err(e) => e.starts_with("number out of range"),
    };
    match decode_chunk(data) {
        Ok(ChunkOutcome::Done) => assert_eq!(data.trim_ascii(), b"[DONE]"),
        Ok(ChunkOutcome::ServerError(m)) => {
            assert!(grammar_ok, "accepted what Value rejects: {:?}", value.err());
            assert!(m.chars().count() <= 300);
        }
        Ok(ChunkOutcome::Chunk(c)) => {
            assert!(grammar_ok, "accepted what Value rejects: {:?}", value.err());
            assert!(c.content.len() + c.reasoning.len() + c.tool_args.len() <= data.len());
        }
        Err(_) => {}
    }
});
