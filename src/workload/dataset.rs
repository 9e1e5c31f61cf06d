//! Prompt datasets (`--dataset FILE`): JSONL with a `prompt` (or `text`) string or OpenAI
//! `messages` per line and an optional output length, ShareGPT JSON (the first human turn
//! is the prompt, the reply's token count its output length), or plain text with one prompt
//! per line. Files are read as a stream (a ShareGPT array is parsed element by element, never
//! held whole); what is kept is each usable entry's prompt and its client token count.
//!
//! Which entry request `i` sends is a pure function of `(seed, i)`: entries are taken in
//! passes, each pass a seeded permutation (`shuffle`) or file order (`sequential`), so more
//! requests than entries repeat the dataset deterministically. Text is sent verbatim.

use super::input::{BadLine, InputCounts};
use super::text::{flatten, mix, permute, Message};
use super::Tokenizer;
use serde::de::{SeqAccess, Visitor};
use serde::Deserializer as _;
use serde_json::Value;
use std::cell::{Cell, RefCell};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// The formats `--dataset-format` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatasetFormat {
    Jsonl,
    ShareGpt,
    Text,
}

impl DatasetFormat {
    /// `auto` → `None`.
    pub fn parse(s: &str) -> Result<Option<Self>, String> {
        match s {
            "auto" => Ok(None),
            "jsonl" => Ok(Some(DatasetFormat::Jsonl)),
            "sharegpt" => Ok(Some(DatasetFormat::ShareGpt)),
            "text" => Ok(Some(DatasetFormat::Text)),
            other => Err(format!(
                "invalid --dataset-format '{other}': expected auto, jsonl, sharegpt or text"
            )),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            DatasetFormat::Jsonl => "jsonl",
            DatasetFormat::ShareGpt => "sharegpt",
            DatasetFormat::Text => "text",
        }
    }

    /// By extension (`.jsonl`, `.txt`), else by the first non-blank byte: `[` ShareGPT,
    /// `{` JSONL, anything else text.
    pub fn detect(path: &Path) -> Result<Self, String> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        match ext.as_str() {
            "jsonl" | "ndjson" => return Ok(DatasetFormat::Jsonl),
            "txt" | "text" => return Ok(DatasetFormat::Text),
            _ => {}
        }
        let f = std::fs::File::open(path).map_err(|e| format!("cannot read --dataset {}: {e}", path.display()))?;
        let mut head = Vec::new();
        f.take(4096)
            .read_to_end(&mut head)
            .map_err(|e| format!("cannot read --dataset {}: {e}", path.display()))?;
        Ok(match head.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'[') => DatasetFormat::ShareGpt,
            Some(b'{') => DatasetFormat::Jsonl,
            _ => DatasetFormat::Text,
        })
    }
}

/// Order of entries across requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    Shuffle,
    Sequential,
}

impl Order {
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "shuffle" => Ok(Order::Shuffle),
            "sequential" => Ok(Order::Sequential),
            other => Err(format!(
                "invalid --dataset-order '{other}': expected shuffle or sequential"
            )),
        }
    }
}

/// One usable dataset entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Line of the file where the entry is (ShareGPT: where it ends).
    pub line: u64,
    /// The prompt text (verbatim; for `messages` entries, their contents flattened).
    pub text: String,
    /// Chat messages, when the entry has them (sent as is with `--api chat`).
    pub messages: Option<Vec<Message>>,
    /// Client tokenizer count of what is sent: the message contents (chat) or the text.
    pub input_tokens: u32,
    /// The entry's own output length (JSONL field, ShareGPT reply tokens).
    pub output_tokens: Option<u32>,
}

/// How to read a dataset.
#[derive(Debug, Clone)]
pub struct DatasetOptions {
    /// `None`: detect.
    pub format: Option<DatasetFormat>,
    /// Count message tokens as chat contents (true) or the flattened text (false).
    pub chat: bool,
    pub min_input_tokens: Option<u32>,
    pub max_input_tokens: Option<u32>,
    pub skip_invalid: bool,
    pub order: Order,
    pub seed: u64,
}

/// A loaded dataset.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub path: PathBuf,
    pub format: DatasetFormat,
    pub counts: InputCounts,
    order: Order,
    seed: u64,
    entries: Vec<Entry>,
}

/// The JSONL keys read as an entry's output length, in order of preference.
pub const OUTPUT_KEYS: [&str; 4] = ["output_tokens", "max_tokens", "output_length", "output_len"];

impl Dataset {
    /// Read, validate and filter the file. Errors are one line (`FILE:LINE: field …: reason`).
    pub fn load(path: &Path, tok: &Tokenizer, opts: &DatasetOptions) -> Result<Dataset, String> {
        let format = match opts.format {
            Some(f) => f,
            None => DatasetFormat::detect(path)?,
        };
        let file = std::fs::File::open(path).map_err(|e| format!("cannot read --dataset {}: {e}", path.display()))?;
        let reader = BufReader::with_capacity(1 << 16, file);
        let mut ds = Dataset {
            path: path.to_path_buf(),
            format,
            counts: InputCounts::default(),
            order: opts.order,
            seed: opts.seed,
            entries: Vec::new(),
        };
        let keep = |ds: &mut Dataset, parsed: Result<Option<Raw>, BadLine>| -> Result<(), String> {
            ds.counts.read += 1;
            match parsed {
                Err(bad) => ds.counts.invalid(bad, path, opts.skip_invalid),
                Ok(None) => {
                    ds.counts.unusable += 1;
                    Ok(())
                }
                Ok(Some(raw)) => {
                    let e = raw.into_entry(tok, opts.chat);
                    let short = opts.min_input_tokens.is_some_and(|m| e.input_tokens < m);
                    let long = opts.max_input_tokens.is_some_and(|m| e.input_tokens > m);
                    if short || long {
                        ds.counts.filtered_out += 1;
                    } else {
                        ds.entries.push(e);
                    }
                    Ok(())
                }
            }
        };
        match format {
            DatasetFormat::Text | DatasetFormat::Jsonl => {
                for_each_line(reader, path, |line, bytes| {
                    let text = match std::str::from_utf8(bytes) {
                        Ok(t) => t,
                        Err(e) => return keep(&mut ds, Err(BadLine::line(line, format!("not UTF-8 text: {e}")))),
                    };
                    if text.trim().is_empty() {
                        return Ok(());
                    }
                    let parsed = match format {
                        DatasetFormat::Text => Ok(Some(Raw::text(line, text.to_string(), None))),
                        _ => parse_jsonl_line(line, text),
                    };
                    keep(&mut ds, parsed)
                })?;
            }
            DatasetFormat::ShareGpt => {
                read_sharegpt(reader, path, |line, v| {
                    keep(&mut ds, parse_sharegpt_entry(line, &v, tok))
                })?;
            }
        }
        ds.counts.used = ds.entries.len() as u64;
        ds.check_not_empty()?;
        Ok(ds)
    }

    fn check_not_empty(&self) -> Result<(), String> {
        if !self.entries.is_empty() {
            return Ok(());
        }
        let c = &self.counts;
        let mut why = vec![format!("{} read", c.read)];
        for (n, what) in [
            (c.skipped_invalid, "invalid"),
            (c.unusable, "unusable"),
            (c.filtered_out, "outside the length filter"),
            (c.skipped_too_long, "longer than the model's context"),
        ] {
            if n > 0 {
                why.push(format!("{n} {what}"));
            }
        }
        Err(format!(
            "--dataset {}: no usable prompt ({})",
            self.path.display(),
            why.join(", ")
        ))
    }

    /// Entries whose prompt plus known output length exceeds `context` tokens: an error
    /// naming the first, or dropped and counted under `skip_invalid`.
    pub fn limit_context(&mut self, context: u32, skip_invalid: bool) -> Result<(), String> {
        let too_long =
            |e: &Entry| u64::from(e.input_tokens) + u64::from(e.output_tokens.unwrap_or(0)) > u64::from(context);
        if let Some(e) = self.entries.iter().find(|e| too_long(e)) {
            if !skip_invalid {
                return Err(format!(
                    "{}:{}: prompt of {} tokens{} exceeds the model's context of {context} tokens (--skip-invalid skips such prompts)",
                    self.path.display(),
                    e.line,
                    e.input_tokens,
                    e.output_tokens.map(|o| format!(" + {o} output tokens")).unwrap_or_default()
                ));
            }
            let before = self.entries.len();
            self.entries.retain(|e| !too_long(e));
            self.counts.skipped_too_long += (before - self.entries.len()) as u64;
            self.counts.used = self.entries.len() as u64;
            self.check_not_empty()?;
        }
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entry request `index` sends: pass `index / n` over the `n` entries, in a seeded
    /// permutation per pass (`shuffle`) or in file order.
    pub fn entry(&self, index: u64) -> &Entry {
        let n = self.entries.len() as u64;
        let (pass, j) = (index / n.max(1), index % n.max(1));
        let k = match self.order {
            Order::Shuffle => permute(j, n, mix(self.seed ^ 0x0DA7_A5E7, pass)),
            Order::Sequential => j,
        };
        &self.entries[k as usize]
    }

    /// Every usable entry, in file order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The largest prompt, tokens.
    pub fn max_input_tokens(&self) -> u32 {
        self.entries.iter().map(|e| e.input_tokens).max().unwrap_or(0)
    }
}

/// An entry before token counting.
struct Raw {
    line: u64,
    text: Option<String>,
    messages: Option<Vec<Message>>,
    output: Option<u32>,
}

impl Raw {
    fn text(line: u64, text: String, output: Option<u32>) -> Self {
        Raw {
            line,
            text: Some(text),
            messages: None,
            output,
        }
    }

    fn into_entry(self, tok: &Tokenizer, chat: bool) -> Entry {
        match self.messages {
            Some(m) => {
                let text = flatten(&m);
                let input_tokens = if chat {
                    m.iter().map(|x| tok.count(&x.content)).sum()
                } else {
                    tok.count(&text)
                };
                Entry {
                    line: self.line,
                    text,
                    messages: Some(m),
                    input_tokens,
                    output_tokens: self.output,
                }
            }
            None => {
                let text = self.text.unwrap_or_default();
                Entry {
                    line: self.line,
                    input_tokens: tok.count(&text),
                    text,
                    messages: None,
                    output_tokens: self.output,
                }
            }
        }
    }
}

/// Call `f(line_number, bytes)` for each line (without its `\n` or `\r\n`).
fn for_each_line<R: BufRead>(
    mut r: R,
    path: &Path,
    mut f: impl FnMut(u64, &[u8]) -> Result<(), String>,
) -> Result<(), String> {
    let mut buf = Vec::new();
    let mut n = 0u64;
    loop {
        buf.clear();
        let got = r
            .read_until(b'\n', &mut buf)
            .map_err(|e| format!("{}:{}: cannot read: {e}", path.display(), n + 1))?;
        if got == 0 {
            return Ok(());
        }
        n += 1;
        let mut line = &buf[..];
        if line.last() == Some(&b'\n') {
            line = &line[..line.len() - 1];
        }
        if line.last() == Some(&b'\r') {
            line = &line[..line.len() - 1];
        }
        f(n, line)?;
    }
}

/// A positive token count from a JSON value.
fn count_field(line: u64, key: &str, v: &Value) -> Result<u32, BadLine> {
    match v.as_u64() {
        Some(0) => Err(BadLine::field(line, key, "must be at least 1")),
        Some(n) => u32::try_from(n).map_err(|_| BadLine::field(line, key, format!("{n} is too large"))),
        None => Err(BadLine::field(
            line,
            key,
            format!("expected a positive integer, got {v}"),
        )),
    }
}

/// The text of a message `content`: a string, or the `text` parts of an array.
fn content_text(line: u64, field: &str, v: Option<&Value>) -> Result<String, BadLine> {
    match v {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Array(parts)) => {
            let mut out = String::new();
            for (i, p) in parts.iter().enumerate() {
                match p.get("text") {
                    Some(Value::String(s)) => out.push_str(s),
                    Some(_) => return Err(BadLine::field(line, &format!("{field}[{i}].text"), "expected a string")),
                    None => {}
                }
            }
            Ok(out)
        }
        Some(other) => Err(BadLine::field(
            line,
            field,
            format!("expected a string or an array of parts, got {}", kind(other)),
        )),
        None => Err(BadLine::field(line, field, "missing")),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// One JSONL line: `{"prompt": "..."}`, `{"text": "..."}` or `{"messages": [...]}`, with an
/// optional output length under one of [`OUTPUT_KEYS`].
fn parse_jsonl_line(line: u64, text: &str) -> Result<Option<Raw>, BadLine> {
    let v: Value = serde_json::from_str(text).map_err(|e| {
        let msg = e.to_string();
        let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
        BadLine::line(line, format!("invalid JSON: {msg} (column {})", e.column()))
    })?;
    let Value::Object(o) = &v else {
        return Err(BadLine::line(line, format!("expected a JSON object, got {}", kind(&v))));
    };
    let mut output = None;
    for key in OUTPUT_KEYS {
        if let Some(x) = o.get(key) {
            if !x.is_null() {
                output = Some(count_field(line, key, x)?);
                break;
            }
        }
    }
    if let Some(m) = o.get("messages") {
        let Value::Array(items) = m else {
            return Err(BadLine::field(
                line,
                "messages",
                format!("expected an array, got {}", kind(m)),
            ));
        };
        if items.is_empty() {
            return Err(BadLine::field(line, "messages", "empty"));
        }
        let mut msgs = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let role = match item.get("role") {
                Some(Value::String(r)) if !r.is_empty() => r.clone(),
                Some(other) => {
                    return Err(BadLine::field(
                        line,
                        &format!("messages[{i}].role"),
                        format!("expected a role string, got {}", kind(other)),
                    ))
                }
                None => return Err(BadLine::field(line, &format!("messages[{i}].role"), "missing")),
            };
            let content = content_text(line, &format!("messages[{i}].content"), item.get("content"))?;
            msgs.push(Message { role, content });
        }
        if msgs.iter().all(|m| m.content.trim().is_empty()) {
            return Err(BadLine::field(line, "messages", "every content is empty"));
        }
        return Ok(Some(Raw {
            line,
            text: None,
            messages: Some(msgs),
            output,
        }));
    }
    for key in ["prompt", "text"] {
        if let Some(p) = o.get(key) {
            return match p {
                Value::String(s) if s.trim().is_empty() => Err(BadLine::field(line, key, "empty")),
                Value::String(s) => Ok(Some(Raw::text(line, s.clone(), output))),
                other => Err(BadLine::field(
                    line,
                    key,
                    format!("expected a string, got {}", kind(other)),
                )),
            };
        }
    }
    Err(BadLine::field(
        line,
        "prompt",
        "missing (need \"prompt\", \"text\" or \"messages\")",
    ))
}

/// Speakers of a ShareGPT turn.
const HUMAN: [&str; 2] = ["human", "user"];
const REPLY: [&str; 6] = ["gpt", "chatgpt", "assistant", "model", "bard", "bing"];

/// One ShareGPT element: the first human turn followed by a reply. `None`: no such pair (the
/// element is unusable, like peers' filter of conversations with fewer than two turns).
fn parse_sharegpt_entry(line: u64, v: &Value, tok: &Tokenizer) -> Result<Option<Raw>, BadLine> {
    let Some(conv) = v.get("conversations") else {
        return Err(BadLine::field(line, "conversations", "missing"));
    };
    let Value::Array(turns) = conv else {
        return Err(BadLine::field(
            line,
            "conversations",
            format!("expected an array, got {}", kind(conv)),
        ));
    };
    let mut parsed = Vec::with_capacity(turns.len());
    for (i, t) in turns.iter().enumerate() {
        let from = match t.get("from") {
            Some(Value::String(s)) => s.as_str(),
            Some(other) => {
                return Err(BadLine::field(
                    line,
                    &format!("conversations[{i}].from"),
                    format!("expected a string, got {}", kind(other)),
                ))
            }
            None => return Err(BadLine::field(line, &format!("conversations[{i}].from"), "missing")),
        };
        let value = match t.get("value") {
            Some(Value::String(s)) => s.as_str(),
            Some(other) => {
                return Err(BadLine::field(
                    line,
                    &format!("conversations[{i}].value"),
                    format!("expected a string, got {}", kind(other)),
                ))
            }
            None => return Err(BadLine::field(line, &format!("conversations[{i}].value"), "missing")),
        };
        parsed.push((from, value));
    }
    let Some(h) = parsed
        .iter()
        .position(|(f, v)| HUMAN.contains(&f.to_ascii_lowercase().as_str()) && !v.trim().is_empty())
    else {
        return Ok(None);
    };
    let Some((_, reply)) = parsed
        .get(h + 1)
        .filter(|(f, _)| REPLY.contains(&f.to_ascii_lowercase().as_str()))
    else {
        return Ok(None);
    };
    let out = tok.count(reply);
    if out == 0 {
        return Ok(None);
    }
    Ok(Some(Raw::text(line, parsed[h].1.to_string(), Some(out))))
}

/// A reader that counts the newlines it has handed out (serde_json pulls bytes one at a
/// time, so the count is the parser's position).
struct LineCounting<R> {
    inner: R,
    lines: Rc<Cell<u64>>,
}

impl<R: Read> Read for LineCounting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let nl = buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
        self.lines.set(self.lines.get() + nl);
        Ok(n)
    }
}

/// Stream a JSON array: `f(line, element)` for each element, where `line` is the 1-based
/// line on which the element ends. Errors of `f` stop the stream and are returned as is.
fn read_sharegpt<R: Read>(
    reader: R,
    path: &Path,
    mut f: impl FnMut(u64, Value) -> Result<(), String>,
) -> Result<(), String> {
    struct Elements<'a> {
        f: &'a mut dyn FnMut(u64, Value) -> Result<(), String>,
        lines: Rc<Cell<u64>>,
        failed: &'a RefCell<Option<String>>,
    }
    impl<'de> Visitor<'de> for Elements<'_> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON array of ShareGPT conversations")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            while let Some(v) = seq.next_element::<Value>()? {
                if let Err(e) = (self.f)(self.lines.get() + 1, v) {
                    *self.failed.borrow_mut() = Some(e);
                    return Err(serde::de::Error::custom("stopped"));
                }
            }
            Ok(())
        }
    }
    let lines = Rc::new(Cell::new(0));
    let failed = RefCell::new(None);
    let counting = LineCounting {
        inner: reader,
        lines: lines.clone(),
    };
    let mut de = serde_json::Deserializer::from_reader(counting);
    let res = de.deserialize_seq(Elements {
        f: &mut f,
        lines,
        failed: &failed,
    });
    if let Some(e) = failed.into_inner() {
        return Err(e);
    }
    match res.and_then(|_| de.end()) {
        Ok(()) => Ok(()),
        Err(e) => {
            let msg = e.to_string();
            let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
            Err(format!(
                "{}:{}: invalid ShareGPT JSON: {msg}",
                path.display(),
                e.line().max(1)
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tok() -> Tokenizer {
        Tokenizer::load("cl100k_base").unwrap()
    }

    fn opts() -> DatasetOptions {
        DatasetOptions {
            format: None,
            chat: false,
            min_input_tokens: None,
            max_input_tokens: None,
            skip_invalid: false,
            order: Order::Sequential,
            seed: 1,
        }
    }

    fn write(name: &str, body: &str) -> (tempfile::TempDir, PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join(name);
        std::fs::write(&p, body).unwrap();
        (d, p)
    }

    #[test]
    fn jsonl_prompts_messages_and_output_lengths() {
        let (_d, p) = write(
            "d.jsonl",
            "{\"prompt\": \"Hello, world!\", \"output_tokens\": 7}\n\n{\"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"}, {\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": \"Why?\"}]}]}\n{\"text\": \"plain\", \"max_tokens\": 3}\r\n",
        );
        let ds = Dataset::load(&p, &tok(), &opts()).unwrap();
        assert_eq!(ds.format, DatasetFormat::Jsonl);
        assert_eq!(ds.len(), 3);
        let e = &ds.entries()[0];
        assert_eq!(
            (e.line, e.text.as_str(), e.output_tokens),
            (1, "Hello, world!", Some(7))
        );
        assert_eq!(e.input_tokens, tok().count("Hello, world!"));
        let m = &ds.entries()[1];
        assert_eq!(m.line, 3);
        assert_eq!(m.messages.as_ref().unwrap()[1].content, "Why?");
        assert_eq!(m.text, "Be brief.\n\nWhy?");
        assert_eq!(ds.entries()[2].output_tokens, Some(3));
        // chat counts the contents only
        let chat = Dataset::load(&p, &tok(), &DatasetOptions { chat: true, ..opts() }).unwrap();
        assert_eq!(
            chat.entries()[1].input_tokens,
            tok().count("Be brief.") + tok().count("Why?")
        );
    }

    #[test]
    fn bad_lines_name_file_line_and_field() {
        let cases = [
            (
                "{\"prompt\": 5}\n",
                "d.jsonl:1: field prompt: expected a string, got a number",
            ),
            ("{\"x\": 1}\n", "d.jsonl:1: field prompt: missing"),
            ("{\"prompt\": \"a\"}\n{oops\n", "d.jsonl:2: invalid JSON"),
            (
                "{\"messages\": [{\"role\": \"user\"}]}\n",
                "d.jsonl:1: field messages[0].content: missing",
            ),
            (
                "{\"prompt\": \"a\", \"output_tokens\": -2}\n",
                "d.jsonl:1: field output_tokens: expected a positive integer",
            ),
            ("[1]\n", "d.jsonl:1: expected a JSON object"),
        ];
        for (body, want) in cases {
            let (_d, p) = write("d.jsonl", body);
            let err = Dataset::load(&p, &tok(), &opts()).unwrap_err();
            let shown = err
                .replace(&format!("{}", p.parent().unwrap().display()), "")
                .replace('/', "");
            assert!(shown.starts_with(want), "{body:?}: {err}");
            assert!(!err.contains('\n'));
        }
        // skipped and counted instead
        let (_d, p) = write("d.jsonl", "{\"prompt\": 5}\n{\"prompt\": \"ok\"}\n");
        let ds = Dataset::load(
            &p,
            &tok(),
            &DatasetOptions {
                skip_invalid: true,
                ..opts()
            },
        )
        .unwrap();
        assert_eq!((ds.len(), ds.counts.skipped_invalid, ds.counts.read), (1, 1, 2));
        // nothing usable: one line
        let (_d, p) = write("d.jsonl", "\n\n");
        let err = Dataset::load(&p, &tok(), &opts()).unwrap_err();
        assert!(err.contains("no usable prompt (0 read)"), "{err}");
    }

    #[test]
    fn sharegpt_streamed_first_human_turn_and_reply_length() {
        let body = r#"[
  {"id": "a", "conversations": [{"from": "human", "value": "What is 2+2?"}, {"from": "gpt", "value": "It is four, of course."}]},
  {"id": "b", "conversations": [{"from": "human", "value": "only a question"}]},
  {"id": "c", "conversations": [{"from": "system", "value": "sys"}, {"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello there"}]}
]"#;
        let (_d, p) = write("s.json", body);
        let ds = Dataset::load(&p, &tok(), &opts()).unwrap();
        assert_eq!(ds.format, DatasetFormat::ShareGpt);
        assert_eq!((ds.len(), ds.counts.unusable), (2, 1));
        assert_eq!(ds.entries()[0].text, "What is 2+2?");
        assert_eq!(
            ds.entries()[0].output_tokens,
            Some(tok().count("It is four, of course."))
        );
        assert_eq!(ds.entries()[0].line, 2);
        assert_eq!(ds.entries()[1].text, "Hi");
        assert_eq!(ds.entries()[1].line, 4);
        let (_d, p) = write(
            "s.json",
            "[\n{\"conversations\": [{\"from\": \"human\", \"value\": 3}]}\n]",
        );
        let err = Dataset::load(&p, &tok(), &opts()).unwrap_err();
        assert!(err.ends_with("s.json:2: field conversations[0].value: expected a string, got a number (--skip-invalid skips such lines)"), "{err}");
        let (_d, p) = write("s.json", "[\n{\"conversations\": []},\n");
        let err = Dataset::load(&p, &tok(), &opts()).unwrap_err();
        assert!(err.contains("s.json:3: invalid ShareGPT JSON"), "{err}");
    }

    #[test]
    fn text_order_filters_and_context() {
        let body: String = (0..10)
            .map(|i| format!("prompt number {i}{}\n", " x".repeat(i)))
            .collect();
        let (_d, p) = write("p.txt", &body);
        let o = DatasetOptions {
            order: Order::Shuffle,
            max_input_tokens: Some(8),
            ..opts()
        };
        let ds = Dataset::load(&p, &tok(), &o).unwrap();
        assert!(ds.len() < 10 && ds.counts.filtered_out == 10 - ds.len() as u64);
        assert!(ds.entries().iter().all(|e| e.input_tokens <= 8));
        // every pass visits each entry once, passes differ, the same seed gives the same order
        let n = ds.len() as u64;
        let pass = |k: u64| -> Vec<String> { (k * n..(k + 1) * n).map(|i| ds.entry(i).text.clone()).collect() };
        let (a, b) = (pass(0), pass(1));
        let mut sa = a.clone();
        sa.sort();
        let mut all: Vec<String> = ds.entries().iter().map(|e| e.text.clone()).collect();
        all.sort();
        assert_eq!(sa, all);
        assert_ne!(a, b);
        assert_eq!(a, pass(0));
        let mut ds = ds;
        let err = ds.clone().limit_context(5, false).unwrap_err();
        assert!(err.contains("exceeds the model's context of 5 tokens"), "{err}");
        ds.limit_context(5, true).unwrap();
        assert!(ds.counts.skipped_too_long > 0);
        assert!(ds.entries().iter().all(|e| e.input_tokens <= 5));
    }
}
