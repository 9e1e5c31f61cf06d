//! The simulated server's write log (`sim serve --write-log FILE`): for every streamed
//! response, when each body chunk was handed to the HTTP layer to be written, on the system
//! monotonic clock. The client stamps the same chunks when its socket reads return them, on
//! the same clock, so `scripts/perf.sh` can measure the client's timing error directly:
//! client stamp − server write, per event, joined on the `X-Request-Id` header.
//!
//! One JSON line per response, written when the response ends (or the client goes away):
//! `{"id": "<X-Request-Id>", "t_ns": [<write time of each body chunk, in order>]}`. The chunks
//! include the role chunk (chat), the token chunks, the usage chunk and `[DONE]`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

pub struct WriteLog {
    out: Mutex<BufWriter<File>>,
}

impl std::fmt::Debug for WriteLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WriteLog")
    }
}

impl WriteLog {
    pub fn create(path: &Path) -> std::io::Result<Arc<WriteLog>> {
        Ok(Arc::new(WriteLog {
            out: Mutex::new(BufWriter::new(File::create(path)?)),
        }))
    }

    fn append(&self, id: &str, t_ns: &[u64]) {
        let line = serde_json::json!({ "id": id, "t_ns": t_ns });
        if let Ok(mut w) = self.out.lock() {
            // One line per response, flushed at once: the server is usually stopped by a signal.
            let _ = writeln!(w, "{line}").and_then(|_| w.flush());
        }
    }

    /// A recorder for one response.
    pub fn recorder(self: &Arc<Self>, id: String) -> Recorder {
        Recorder {
            log: self.clone(),
            id,
            t_ns: Vec::new(),
        }
    }
}

/// Write times of one response; its line is appended when it is dropped.
pub struct Recorder {
    log: Arc<WriteLog>,
    id: String,
    t_ns: Vec<u64>,
}

impl Recorder {
    /// A chunk is being handed to the HTTP layer now.
    pub fn stamp(&mut self) {
        self.t_ns.push(crate::util::monotonic_ns(Instant::now()));
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.log.append(&self.id, &self.t_ns);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_response_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("w.jsonl");
        let log = WriteLog::create(&path).expect("create");
        for id in ["a-1", "a-2"] {
            let mut r = log.recorder(id.to_string());
            r.stamp();
            r.stamp();
        }
        let text = std::fs::read_to_string(&path).expect("read");
        let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).expect("json")).collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1]["id"], "a-2");
        let t: Vec<u64> = serde_json::from_value(lines[0]["t_ns"].clone()).expect("t_ns");
        assert_eq!(t.len(), 2);
        assert!(t[0] <= t[1] && t[0] > 0);
    }
}
