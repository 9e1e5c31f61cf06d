//! An incremental Server-Sent Events parser over raw byte frames.
//!
//! Why our own: the transport stamps every body frame with a monotonic time *before*
//! parsing, and every event parsed from that frame carries that stamp. That needs a parser
//! that takes arbitrary byte frames (events split at any byte, several events per frame),
//! never re-scans bytes it has already seen, and allocates nothing per event on the common
//! path. Semantics follow the WHATWG EventSource rules:
//! lines end in LF, CRLF or a lone CR (also when the CR and LF arrive in different frames);
//! lines starting with `:` are comments; `data:` lines of one event are joined with `\n`;
//! one optional space after the colon is removed; a blank line dispatches the event; a
//! leading UTF-8 BOM is skipped. At end of stream a pending event whose last line was
//! complete (or an unterminated last line) is still dispatched: servers that close without a
//! trailing blank line are common, and dropping their last event would lose data.

use memchr::memchr2;

/// One dispatched event. `data` is borrowed from the parser and valid during the callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SseEvent<'a> {
    /// The `event:` field, if any (empty means the default "message").
    pub event: &'a [u8],
    /// The joined `data:` lines, without the final newline.
    pub data: &'a [u8],
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SseError {
    #[error("SSE line or event larger than {0} bytes")]
    TooLarge(usize),
}

/// Default bound on one line / one event: generous for any LLM chunk, small enough that a
/// hostile server cannot make us buffer without limit.
pub const DEFAULT_MAX_EVENT_BYTES: usize = 4 << 20;

#[derive(Debug)]
pub struct SseParser {
    /// Bytes of an incomplete line carried over from earlier frames.
    line: Vec<u8>,
    data: Vec<u8>,
    event: Vec<u8>,
    has_data: bool,
    /// The previous frame ended with CR: a leading LF in the next frame belongs to it.
    pending_cr: bool,
    at_start: bool,
    max_bytes: usize,
}

impl Default for SseParser {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_EVENT_BYTES)
    }
}

impl SseParser {
    pub fn new(max_bytes: usize) -> Self {
        SseParser {
            line: Vec::new(),
            data: Vec::new(),
            event: Vec::new(),
            has_data: false,
            pending_cr: false,
            at_start: true,
            max_bytes,
        }
    }

    /// Feed one frame; `on_event` is called for every event completed by it, in order.
    pub fn push<F>(&mut self, mut chunk: &[u8], mut on_event: F) -> Result<(), SseError>
    where
        F: FnMut(SseEvent<'_>),
    {
        if chunk.is_empty() {
            return Ok(());
        }
        if self.pending_cr {
            self.pending_cr = false;
            if let Some(rest) = chunk.strip_prefix(b"\n") {
                chunk = rest;
            }
        }
        if self.at_start && !chunk.is_empty() {
            // Skip a UTF-8 BOM, possibly split across the first frames.
            let bom = b"\xEF\xBB\xBF";
            let have = self.line.len();
            let need = bom.len() - have;
            let take = need.min(chunk.len());
            if bom[have..have + take] == chunk[..take] {
                if take == need {
                    self.line.clear();
                    self.at_start = false;
                    chunk = &chunk[take..];
                } else {
                    self.line.extend_from_slice(&chunk[..take]);
                    return Ok(());
                }
            } else {
                self.at_start = false;
            }
        }
        while !chunk.is_empty() {
            match memchr2(b'\n', b'\r', chunk) {
                None => {
                    if self.line.len() + chunk.len() > self.max_bytes {
                        return Err(SseError::TooLarge(self.max_bytes));
                    }
                    self.line.extend_from_slice(chunk);
                    return Ok(());
                }
                Some(i) => {
                    let is_cr = chunk[i] == b'\r';
                    let mut next = i + 1;
                    if is_cr {
                        if next < chunk.len() {
                            if chunk[next] == b'\n' {
                                next += 1;
                            }
                        } else {
                            self.pending_cr = true;
                        }
                    }
                    if self.line.is_empty() {
                        self.process_line(&chunk[..i], &mut on_event)?;
                    } else {
                        if self.line.len() + i > self.max_bytes {
                            return Err(SseError::TooLarge(self.max_bytes));
                        }
                        let mut line = std::mem::take(&mut self.line);
                        line.extend_from_slice(&chunk[..i]);
                        let r = self.process_line(&line, &mut on_event);
                        line.clear();
                        self.line = line;
                        r?;
                    }
                    chunk = &chunk[next..];
                }
            }
        }
        Ok(())
    }

    /// End of stream: dispatch what a lenient reader would.
    pub fn finish<F>(&mut self, mut on_event: F) -> Result<(), SseError>
    where
        F: FnMut(SseEvent<'_>),
    {
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            if !(self.at_start && b"\xEF\xBB\xBF".starts_with(&line)) {
                self.process_line(&line, &mut on_event)?;
            }
        }
        self.dispatch(&mut on_event);
        Ok(())
    }

    fn process_line<F>(&mut self, line: &[u8], on_event: &mut F) -> Result<(), SseError>
    where
        F: FnMut(SseEvent<'_>),
    {
        if line.is_empty() {
            self.dispatch(on_event);
            return Ok(());
        }
        if line[0] == b':' {
            return Ok(());
        }
        let (field, value) = match memchr::memchr(b':', line) {
            Some(c) => {
                let v = &line[c + 1..];
                (&line[..c], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        match field {
            b"data" => {
                if self.data.len() + value.len() + 1 > self.max_bytes {
                    return Err(SseError::TooLarge(self.max_bytes));
                }
                if self.has_data {
                    self.data.push(b'\n');
                }
                self.data.extend_from_slice(value);
                self.has_data = true;
            }
            b"event" => {
                self.event.clear();
                self.event.extend_from_slice(value);
            }
            _ => {} // id, retry and unknown fields do not matter here
        }
        Ok(())
    }

    fn dispatch<F>(&mut self, on_event: &mut F)
    where
        F: FnMut(SseEvent<'_>),
    {
        if self.has_data {
            on_event(SseEvent {
                event: &self.event,
                data: &self.data,
            });
        }
        self.data.clear();
        self.event.clear();
        self.has_data = false;
    }
}

/// An owned `(event, data)` pair.
pub type OwnedEvent = (Vec<u8>, Vec<u8>);

/// Parse a whole byte string in one go (tests, fixtures, non-streamed bodies).
pub fn parse_all(bytes: &[u8]) -> Result<Vec<OwnedEvent>, SseError> {
    let mut p = SseParser::default();
    let mut out = Vec::new();
    p.push(bytes, |e| out.push((e.event.to_vec(), e.data.to_vec())))?;
    p.finish(|e| out.push((e.event.to_vec(), e.data.to_vec())))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn events(frames: &[&[u8]]) -> Vec<String> {
        let mut p = SseParser::default();
        let mut out = Vec::new();
        for f in frames {
            p.push(f, |e| out.push(String::from_utf8_lossy(e.data).into_owned()))
                .unwrap();
        }
        p.finish(|e| out.push(String::from_utf8_lossy(e.data).into_owned()))
            .unwrap();
        out
    }

    #[test]
    fn basic_lf_crlf_cr() {
        assert_eq!(
            events(&[b"data: a\n\ndata: b\r\n\r\ndata: c\r\rdata:d\n\n"]),
            ["a", "b", "c", "d"]
        );
    }

    #[test]
    fn cr_lf_split_across_frames_is_one_terminator() {
        assert_eq!(events(&[b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n"]), ["a\nb"]);
        assert_eq!(events(&[b"data: a\r", b"\r", b"\n"]), ["a"]);
    }

    #[test]
    fn comments_multiline_and_optional_space() {
        let e = events(&[b": ping\n\ndata:x\ndata:  y\nevent: foo\nid: 3\n\n"]);
        assert_eq!(e, ["x\n y"]);
    }

    #[test]
    fn event_field_is_reported() {
        let mut p = SseParser::default();
        let mut got = Vec::new();
        p.push(b"event: error\ndata: {}\n\n", |e| got.push(e.event.to_vec()))
            .unwrap();
        assert_eq!(got, [b"error".to_vec()]);
    }

    #[test]
    fn bom_skipped_even_when_split() {
        assert_eq!(events(&[b"\xEF\xBB", b"\xBFdata: a\n\n"]), ["a"]);
    }

    #[test]
    fn eof_without_blank_line_still_dispatches() {
        assert_eq!(events(&[b"data: a\n\ndata: [DONE]"]), ["a", "[DONE]"]);
        assert_eq!(events(&[b"data: a\n"]), ["a"]);
    }

    #[test]
    fn too_large_is_an_error_not_unbounded_memory() {
        let mut p = SseParser::new(1024);
        let big = vec![b'x'; 600];
        assert!(p.push(b"data: ", |_| {}).is_ok());
        assert!(p.push(&big, |_| {}).is_ok());
        assert_eq!(p.push(&big, |_| {}), Err(SseError::TooLarge(1024)));
    }

    fn stream_strategy() -> impl Strategy<Value = Vec<u8>> {
        let line = prop_oneof![
            "[a-z{}\":, ]{0,12}".prop_map(|s| format!("data: {s}")),
            "[a-z ]{0,8}".prop_map(|s| format!("data:{s}")),
            "[a-z ]{0,8}".prop_map(|s| format!(": {s}")),
            "[a-z]{0,5}".prop_map(|s| format!("event: {s}")),
            Just(String::new()),
        ];
        let eol = prop_oneof![Just("\n"), Just("\r\n"), Just("\r")];
        prop::collection::vec((line, eol), 0..30).prop_map(|v| {
            let mut s = String::new();
            for (l, e) in v {
                s.push_str(&l);
                s.push_str(e);
            }
            s.into_bytes()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        /// Any split of a byte stream into frames yields the same events.
        #[test]
        fn split_invariance(bytes in stream_strategy(), cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12)) {
            let whole = parse_all(&bytes).unwrap();
            let mut idx: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
            idx.sort_unstable();
            let mut p = SseParser::default();
            let mut out = Vec::new();
            let mut prev = 0;
            for i in idx.into_iter().chain(std::iter::once(bytes.len())) {
                p.push(&bytes[prev..i], |e| out.push((e.event.to_vec(), e.data.to_vec()))).unwrap();
                prev = i;
            }
            p.finish(|e| out.push((e.event.to_vec(), e.data.to_vec()))).unwrap();
            prop_assert_eq!(out, whole);
        }

        /// Arbitrary bytes never panic and never buffer past the bound.
        #[test]
        fn arbitrary_bytes_do_not_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
            let mut p = SseParser::new(256);
            let _ = p.push(&bytes, |_| {});
            prop_assert!(p.line.len() <= 256 && p.data.len() <= 256);
        }
    }
}
