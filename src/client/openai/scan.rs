//! A single-pass reader for the common shape of one streamed chunk, in front of serde.
//!
//! Why: at real-world rates every token event is its own chunk, and decoding it with the
//! serde derive cost about 5,500 instructions per event (measured with callgrind on
//! `scripts/perf.sh`'s paced case), a third of the client's user-space work. This reader
//! walks the JSON once, keeps only the fields [`RawChunk`] has and skips the rest.
//!
//! It is an accelerator, never a second definition: it answers only for input it reads
//! completely and whose meaning under the serde derive is certain — strict JSON, an object
//! at the top, no duplicate known field, numbers that are plain `u32` digits, no surrogate
//! `\u` escapes, no `error` object, no token-details objects — and returns `None` for
//! anything else (including every malformed chunk), which `decode_chunk` then hands to
//! serde, so errors and their messages stay serde's. Tests compare the two on generated and
//! hostile input.

use super::{RawChoice, RawChunk, RawDelta, RawFunction, RawToolCall, Usage};
use std::borrow::Cow;

/// Bytes that end a plain run inside a string: the quote, the backslash, control bytes.
static STOP: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        t[b] = true;
        b += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

/// Deepest nesting skipped (serde_json's own limit is 128; deeper input goes to serde).
const MAX_DEPTH: u32 = 64;

/// Read `text` (valid UTF-8, JSON whitespace trimmed) as a chunk, or `None` to let serde
/// decide.
pub(super) fn scan(text: &str) -> Option<RawChunk<'_>> {
    let mut r = Reader { s: text, i: 0 };
    let chunk = r.chunk()?;
    r.ws();
    (r.i == text.len()).then_some(chunk)
}

struct Reader<'a> {
    s: &'a str,
    i: usize,
}

/// Set `slot` once; a second value for the same field is serde's "duplicate field" error.
fn once<T>(slot: &mut Option<T>, seen: &mut bool, v: Option<T>) -> Option<()> {
    if std::mem::replace(seen, true) {
        return None;
    }
    *slot = v;
    Some(())
}

impl<'a> Reader<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.i).copied()
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    /// Skip whitespace and consume `b`.
    fn eat(&mut self, b: u8) -> Option<()> {
        self.ws();
        (self.peek() == Some(b)).then(|| self.i += 1)
    }

    /// Skip whitespace; consume a `null` literal if one is next.
    fn null(&mut self) -> bool {
        self.ws();
        if self.s.as_bytes()[self.i..].starts_with(b"null") {
            self.i += 4;
            true
        } else {
            false
        }
    }

    /// The members of an object, `f` reading each value after its key (`{` already
    /// consumed by the caller's `eat`).
    fn members(&mut self, mut f: impl FnMut(&mut Self, &str) -> Option<()>) -> Option<()> {
        if self.eat(b'}').is_some() {
            return Some(());
        }
        loop {
            self.eat(b'"')?;
            let key = self.plain_key()?;
            self.eat(b':')?;
            f(self, key)?;
            self.ws();
            match self.peek()? {
                b',' => self.i += 1,
                b'}' => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// The elements of an array (`[` already consumed).
    fn elements(&mut self, mut f: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        if self.eat(b']').is_some() {
            return Some(());
        }
        loop {
            f(self)?;
            self.ws();
            match self.peek()? {
                b',' => self.i += 1,
                b']' => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// The bytes from the cursor up to the next quote or backslash, which must hold no
    /// control byte (JSON forbids them raw in strings); the cursor moves there. Strings in
    /// chunks are short (keys, ids, one token): a table lookup per byte beats setting up a
    /// SIMD search.
    fn run(&mut self) -> Option<&'a str> {
        let start = self.i;
        let rest = &self.s.as_bytes()[start..];
        let n = rest.iter().position(|&b| STOP[b as usize])?;
        if rest[n] < 0x20 {
            return None;
        }
        self.i += n;
        self.s.get(start..self.i)
    }

    /// A key without escapes (an escaped key could spell a known field: left to serde).
    fn plain_key(&mut self) -> Option<&'a str> {
        let key = self.run()?;
        (self.peek() == Some(b'"')).then(|| {
            self.i += 1;
            key
        })
    }

    /// A string value, borrowed when it has no escapes (as serde's `Cow` is).
    fn string(&mut self) -> Option<Cow<'a, str>> {
        self.eat(b'"')?;
        let first = self.run()?;
        if self.peek() == Some(b'"') {
            self.i += 1;
            return Some(Cow::Borrowed(first));
        }
        let bytes = self.s.as_bytes();
        let mut out = String::with_capacity(first.len() + 16);
        out.push_str(first);
        loop {
            // At a backslash: one escape, then the next plain run.
            let c = match *bytes.get(self.i + 1)? {
                b'"' => '"',
                b'\\' => '\\',
                b'/' => '/',
                b'b' => '\u{8}',
                b'f' => '\u{c}',
                b'n' => '\n',
                b'r' => '\r',
                b't' => '\t',
                b'u' => {
                    let hex = self.s.get(self.i + 2..self.i + 6)?;
                    if !hex.bytes().all(|h| h.is_ascii_hexdigit()) {
                        return None;
                    }
                    let code = u32::from_str_radix(hex, 16).ok()?;
                    self.i += 4;
                    // Surrogates (pairs or lone) are serde's to judge.
                    char::from_u32(code)?
                }
                _ => return None,
            };
            self.i += 2;
            out.push(c);
            out.push_str(self.run()?);
            if self.peek() == Some(b'"') {
                self.i += 1;
                return Some(Cow::Owned(out));
            }
        }
    }

    /// `null` or a string.
    fn opt_string(&mut self) -> Option<Option<Cow<'a, str>>> {
        if self.null() {
            return Some(None);
        }
        self.string().map(Some)
    }

    /// `null` or a non-negative integer that fits a `u32`, written as plain digits.
    fn opt_u32(&mut self) -> Option<Option<u32>> {
        if self.null() {
            return Some(None);
        }
        let start = self.i;
        let bytes = self.s.as_bytes();
        while bytes.get(self.i).is_some_and(u8::is_ascii_digit) {
            self.i += 1;
        }
        let digits = &bytes[start..self.i];
        // A fraction or exponent (a float to serde), a sign, or a leading zero: serde's call.
        if digits.is_empty() || digits.len() > 10 || (digits.len() > 1 && digits[0] == b'0') {
            return None;
        }
        if matches!(bytes.get(self.i), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        let n = digits.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
        u32::try_from(n).ok().map(Some)
    }

    /// Any JSON value, validated and skipped.
    fn skip(&mut self, depth: u32) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.ws();
        match self.peek()? {
            b'"' => self.string().map(drop),
            b'{' => {
                self.i += 1;
                self.members(|r, _| r.skip(depth + 1))
            }
            b'[' => {
                self.i += 1;
                self.elements(|r| r.skip(depth + 1))
            }
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            _ => self.number(),
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        self.s.as_bytes()[self.i..]
            .starts_with(word)
            .then(|| self.i += word.len())
    }

    /// A number in JSON's grammar: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
    fn number(&mut self) -> Option<()> {
        let bytes = self.s.as_bytes();
        let digits = |r: &mut Self| {
            let start = r.i;
            while bytes.get(r.i).is_some_and(u8::is_ascii_digit) {
                r.i += 1;
            }
            r.i - start
        };
        if bytes.get(self.i) == Some(&b'-') {
            self.i += 1;
        }
        match bytes.get(self.i)? {
            b'0' => self.i += 1,
            b'1'..=b'9' => {
                digits(self);
            }
            _ => return None,
        }
        if bytes.get(self.i) == Some(&b'.') {
            self.i += 1;
            if digits(self) == 0 {
                return None;
            }
        }
        if matches!(bytes.get(self.i), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(bytes.get(self.i), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if digits(self) == 0 {
                return None;
            }
        }
        Some(())
    }

    fn chunk(&mut self) -> Option<RawChunk<'a>> {
        let mut c = RawChunk {
            choices: None,
            usage: None,
            error: None,
        };
        let (mut seen_choices, mut seen_usage, mut seen_error) = (false, false, false);
        self.eat(b'{')?;
        self.members(|r, key| match key {
            "choices" => {
                let v = if r.null() { None } else { Some(r.choices()?) };
                once(&mut c.choices, &mut seen_choices, v)
            }
            "usage" => {
                let v = if r.null() { None } else { Some(r.usage()?) };
                once(&mut c.usage, &mut seen_usage, v)
            }
            // A server error object: serde keeps its whole value.
            "error" => r.null().then(|| once(&mut None::<()>, &mut seen_error, None))?,
            _ => r.skip(1),
        })?;
        Some(c)
    }

    fn choices(&mut self) -> Option<Vec<RawChoice<'a>>> {
        let mut v = Vec::new();
        self.eat(b'[')?;
        self.elements(|r| {
            // Only the first choice is used, but serde checks every one.
            let c = r.choice()?;
            if v.is_empty() {
                v.push(c);
            }
            Some(())
        })?;
        Some(v)
    }

    fn choice(&mut self) -> Option<RawChoice<'a>> {
        let mut c = RawChoice {
            text: None,
            delta: None,
            message: None,
            finish_reason: None,
        };
        let mut seen = [false; 4];
        self.eat(b'{')?;
        self.members(|r, key| match key {
            "text" => once(&mut c.text, &mut seen[0], r.opt_string()?),
            "delta" => {
                let v = if r.null() { None } else { Some(r.delta()?) };
                once(&mut c.delta, &mut seen[1], v)
            }
            "message" => {
                let v = if r.null() { None } else { Some(r.delta()?) };
                once(&mut c.message, &mut seen[2], v)
            }
            "finish_reason" => once(&mut c.finish_reason, &mut seen[3], r.opt_string()?),
            _ => r.skip(2),
        })?;
        Some(c)
    }

    fn delta(&mut self) -> Option<RawDelta<'a>> {
        let mut d = RawDelta {
            content: None,
            reasoning_content: None,
            reasoning: None,
            tool_calls: None,
        };
        let mut seen = [false; 4];
        self.eat(b'{')?;
        self.members(|r, key| match key {
            "content" => once(&mut d.content, &mut seen[0], r.opt_string()?),
            "reasoning_content" => once(&mut d.reasoning_content, &mut seen[1], r.opt_string()?),
            "reasoning" => once(&mut d.reasoning, &mut seen[2], r.opt_string()?),
            "tool_calls" => {
                let v = if r.null() { None } else { Some(r.tool_calls()?) };
                once(&mut d.tool_calls, &mut seen[3], v)
            }
            _ => r.skip(3),
        })?;
        Some(d)
    }

    fn tool_calls(&mut self) -> Option<Vec<RawToolCall<'a>>> {
        let mut v = Vec::new();
        self.eat(b'[')?;
        self.elements(|r| {
            let mut call = RawToolCall { function: None };
            let mut seen = false;
            r.eat(b'{')?;
            r.members(|r, key| match key {
                "function" => {
                    let f = if r.null() { None } else { Some(r.function()?) };
                    once(&mut call.function, &mut seen, f)
                }
                _ => r.skip(4),
            })?;
            v.push(call);
            Some(())
        })?;
        Some(v)
    }

    fn function(&mut self) -> Option<RawFunction<'a>> {
        let mut f = RawFunction { arguments: None };
        let mut seen = false;
        self.eat(b'{')?;
        self.members(|r, key| match key {
            "arguments" => once(&mut f.arguments, &mut seen, r.opt_string()?),
            _ => r.skip(5),
        })?;
        Some(f)
    }

    fn usage(&mut self) -> Option<Usage> {
        let mut u = Usage::default();
        let mut seen = [false; 4];
        let (mut cached, mut reasoning) = (None::<u32>, None::<u32>);
        self.eat(b'{')?;
        self.members(|r, key| match key {
            "prompt_tokens" => once(&mut u.prompt_tokens, &mut seen[0], r.opt_u32()?),
            "completion_tokens" => once(&mut u.completion_tokens, &mut seen[1], r.opt_u32()?),
            // Token-details objects are read by serde; `null` means none.
            "prompt_tokens_details" => r.null().then(|| once(&mut cached, &mut seen[2], None))?,
            "completion_tokens_details" => r.null().then(|| once(&mut reasoning, &mut seen[3], None))?,
            _ => r.skip(2),
        })?;
        Some(u)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{decode_chunk, RawChunk, RawDelta};
    use super::scan;
    use proptest::prelude::*;

    /// The scanner's reading of `text`, in the form both decoders share.
    fn via_scan(text: &str) -> Option<String> {
        scan(text).map(|c| render(&c))
    }

    fn via_serde(text: &str) -> Result<String, String> {
        serde_json::from_str::<RawChunk<'_>>(text)
            .map(|c| render(&c))
            .map_err(|e| e.to_string())
    }

    fn render(c: &RawChunk<'_>) -> String {
        fn delta(d: &Option<RawDelta<'_>>) -> String {
            match d {
                None => "-".into(),
                Some(d) => {
                    let calls: Option<Vec<String>> = d.tool_calls.as_ref().map(|t| {
                        t.iter()
                            .map(|t| format!("{:?}", t.function.as_ref().map(|f| &f.arguments)))
                            .collect()
                    });
                    format!("{:?} {:?} {:?} {calls:?}", d.content, d.reasoning_content, d.reasoning)
                }
            }
        }
        let choice = c.choices.as_ref().map(|v| {
            v.first().map(|ch| {
                format!(
                    "{:?} {} {} {:?}",
                    ch.text,
                    delta(&ch.delta),
                    delta(&ch.message),
                    ch.finish_reason
                )
            })
        });
        format!("{choice:?} {:?} {:?}", c.usage, c.error)
    }

    /// Where the scanner answers, serde must answer the same.
    fn agree(text: &str) {
        if let Some(fast) = via_scan(text) {
            assert_eq!(Ok(fast), via_serde(text), "{text:?}");
        }
    }

    #[test]
    fn reads_what_servers_send() {
        for s in [
            r#"{"id":"cmpl-1","object":"text_completion","created":0,"model":"m","choices":[{"index":0,"text":" the","logprobs":null,"finish_reason":null}],"usage":{"prompt_tokens":16,"total_tokens":17,"completion_tokens":1}}"#,
            r#"{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}"#,
            r#"{"choices":[{"delta":{"content":"a \"quoted\"\nline \u00e9\u4e2d\/"},"finish_reason":"stop"}],"usage":null}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12,"prompt_tokens_details":null}}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"name":"f","arguments":"{\"a\":"}}]}}]}"#,
            r#"{"choices":[{"delta":{"reasoning_content":"think","x":[1,-2.5e3,true,false,null,{"y":[]}]}}]}"#,
            r#" { "choices" : [ { "text" : "x" } , { "text" : "y" } ] , "error" : null } "#,
        ] {
            assert!(via_scan(s).is_some(), "scanner declined {s}");
            agree(s);
        }
    }

    #[test]
    fn leaves_to_serde_what_it_cannot_be_sure_of() {
        for s in [
            r#"{"choices":[],"choices":[]}"#,                             // duplicate field
            r#"{"choices":[{"text":"a","text":"b"}]}"#,                   // duplicate field
            r#"{"cho\u0069ces":[{"text":"a"}]}"#,                         // escaped key
            r#"{"usage":{"completion_tokens":1.0}}"#,                     // a float
            r#"{"usage":{"completion_tokens":-1}}"#,                      // negative
            r#"{"usage":{"completion_tokens":4294967296}}"#,              // over u32
            r#"{"usage":{"prompt_tokens_details":{"cached_tokens":3}}}"#, // details object
            r#"{"error":{"message":"boom"}}"#,                            // server error
            r#"{"choices":[{"text":"\ud83d\ude00"}]}"#,                   // surrogate pair
            r#"[null,null,null]"#,                                        // sequence form
            r#"{"choices":[{"text":"a"}]} x"#,                            // trailing bytes
            r#"{"choices":[{"text":"a"}],}"#,                             // trailing comma
            r#"{"a":01}"#,                                                // leading zero
            "{\"a\":\"x\ty\"}",                                           // control byte
            r#"{"choices":[{"text":5}]}"#,                                // wrong type
            r#"{"choices":[{"text":"a"},5]}"#,                            // bad later choice
        ] {
            assert!(via_scan(s).is_none(), "scanner answered {s}");
            // decode_chunk still gives serde's answer.
            let _ = decode_chunk(s.as_bytes());
        }
    }

    /// Pieces that build chunks of the shapes servers send, with hostile variations.
    fn piece() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("{".to_string()),
            Just("}".to_string()),
            Just("[".to_string()),
            Just("]".to_string()),
            Just(",".to_string()),
            Just(":".to_string()),
            Just(" ".to_string()),
            Just("null".to_string()),
            Just("true".to_string()),
            Just("\"choices\"".to_string()),
            Just("\"usage\"".to_string()),
            Just("\"error\"".to_string()),
            Just("\"text\"".to_string()),
            Just("\"delta\"".to_string()),
            Just("\"message\"".to_string()),
            Just("\"content\"".to_string()),
            Just("\"reasoning\"".to_string()),
            Just("\"reasoning_content\"".to_string()),
            Just("\"tool_calls\"".to_string()),
            Just("\"function\"".to_string()),
            Just("\"arguments\"".to_string()),
            Just("\"finish_reason\"".to_string()),
            Just("\"prompt_tokens\"".to_string()),
            Just("\"completion_tokens\"".to_string()),
            Just("\"prompt_tokens_details\"".to_string()),
            "\"[a-z \\\\\"/nu0-9é]{0,8}\"",
            "-?[0-9]{1,11}(\\.[0-9]{0,2})?([eE][+-]?[0-9]{0,2})?",
        ]
    }

    /// A well-formed chunk with random field values and order.
    fn chunk() -> impl Strategy<Value = String> {
        let s = "[a-zé \\\\\"\\n]{0,6}".prop_map(|v| serde_json::to_string(&v).unwrap_or_default());
        let opt_s = prop_oneof![Just("null".to_string()), s.clone()];
        let num = prop_oneof![
            Just("null".to_string()),
            (0u64..5_000_000_000).prop_map(|n| n.to_string())
        ];
        (opt_s.clone(), opt_s.clone(), opt_s.clone(), opt_s, num.clone(), num, any::<bool>()).prop_map(
            |(text, content, reasoning, finish, p, c, chat)| {
                let choice = if chat {
                    format!(r#"{{"index":0,"delta":{{"content":{content},"reasoning":{reasoning}}},"finish_reason":{finish}}}"#)
                } else {
                    format!(r#"{{"index":0,"text":{text},"logprobs":null,"finish_reason":{finish}}}"#)
                };
                format!(r#"{{"id":"x","created":1,"choices":[{choice}],"usage":{{"prompt_tokens":{p},"completion_tokens":{c}}}}}"#)
            },
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn agrees_with_serde_on_chunks(s in chunk()) {
            agree(&s);
        }

        #[test]
        fn agrees_with_serde_on_fragments(parts in proptest::collection::vec(piece(), 0..24)) {
            agree(&parts.concat());
        }
    }
}
