//! Request traces (`--trace FILE`): Mooncake JSONL (`timestamp` ms, `input_length`,
//! `output_length`, `hash_ids` of 512-token blocks), the Azure LLM inference CSV
//! (`TIMESTAMP,ContextTokens,GeneratedTokens`) and the BurstGPT CSV (`Timestamp`,
//! `Request tokens`, `Response tokens`, ...), read line by line in bounded memory.
//!
//! A [`TraceReader`] yields the requests inside a window of trace time (offsets from the
//! first request), validating each line; [`scan`] reads the window once before anything is
//! sent (so a bad line stops the run with `FILE:LINE: field …: reason`, exit 2) and
//! summarises it; [`Replay`] reads it again while the run replays it, turning recorded
//! times into send offsets divided by `--trace-speed`. Timestamps must not decrease: a
//! streamed replay cannot reorder.
//!
//! Prompts: a Mooncake request's text is the concatenation of one block of words per hash
//! id (the same id always gives the same words, the last block a prefix of them), so
//! requests sharing hash ids share that exact prompt prefix and a server's prefix cache sees
//! the trace's reuse. Azure and BurstGPT carry no prefix information: every prompt is unique.

use super::input::{BadLine, InputCounts};
use serde::Deserialize;
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceFormat {
    Mooncake,
    Azure,
    BurstGpt,
}

impl TraceFormat {
    /// `auto` → `None`.
    pub fn parse(s: &str) -> Result<Option<Self>, String> {
        match s {
            "auto" => Ok(None),
            "mooncake" => Ok(Some(TraceFormat::Mooncake)),
            "azure" => Ok(Some(TraceFormat::Azure)),
            "burstgpt" => Ok(Some(TraceFormat::BurstGpt)),
            other => Err(format!(
                "invalid --trace-format '{other}': expected auto, mooncake, azure or burstgpt"
            )),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            TraceFormat::Mooncake => "mooncake",
            TraceFormat::Azure => "azure",
            TraceFormat::BurstGpt => "burstgpt",
        }
    }
}

/// One request of a trace.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceEntry {
    /// 1-based line in the file.
    pub line: u64,
    /// Recorded arrival, µs after the trace's first request.
    pub t_us: i64,
    pub input: u32,
    pub output: u32,
    /// Mooncake block ids (empty for the CSV formats).
    pub hash_ids: Vec<u64>,
}

/// Which part of a trace to read, and how.
#[derive(Debug, Clone)]
pub struct TraceOptions {
    /// `None`: detect from the first line.
    pub format: Option<TraceFormat>,
    pub block_size: u32,
    pub skip_invalid: bool,
    /// Window in trace time (µs after the first request): `[start, end)`.
    pub start_us: i64,
    pub end_us: Option<i64>,
    /// Requests whose input + output exceeds this are too long (the model's context).
    pub max_total_tokens: Option<u32>,
}

/// Column positions of a CSV trace.
#[derive(Debug, Clone, Copy)]
struct Columns {
    time: usize,
    input: usize,
    output: usize,
    width: usize,
}

/// Where a window starts in the file, so a replay can seek there instead of reading the
/// lines before it again.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Resume {
    /// Byte offset of the window's first request line.
    pub byte: u64,
    /// Lines before it.
    pub line: u64,
    /// The trace's first request time (the origin of trace time), µs.
    pub first_abs: i64,
}

/// Reads a trace's requests inside the window, one line at a time.
pub struct TraceReader {
    path: PathBuf,
    pub format: TraceFormat,
    r: BufReader<std::fs::File>,
    buf: Vec<u8>,
    line: u64,
    /// Bytes consumed, and where the last line read started.
    pos: u64,
    line_start: u64,
    cols: Option<Columns>,
    first_abs: Option<i64>,
    prev_abs: Option<i64>,
    opts: TraceOptions,
    pub counts: InputCounts,
    done: bool,
}

fn open_err(path: &Path, e: impl std::fmt::Display) -> String {
    format!("cannot read --trace {}: {e}", path.display())
}

impl TraceReader {
    pub fn open(path: &Path, opts: &TraceOptions) -> Result<TraceReader, String> {
        let file = std::fs::File::open(path).map_err(|e| open_err(path, e))?;
        let mut r = BufReader::with_capacity(1 << 16, file);
        let format = match opts.format {
            Some(f) => f,
            None => detect(&mut r, path)?,
        };
        let mut t = TraceReader {
            path: path.to_path_buf(),
            format,
            r,
            buf: Vec::with_capacity(4096),
            line: 0,
            pos: 0,
            line_start: 0,
            cols: None,
            first_abs: None,
            prev_abs: None,
            opts: opts.clone(),
            counts: InputCounts::default(),
            done: false,
        };
        if format != TraceFormat::Mooncake {
            t.read_header()?;
        }
        Ok(t)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Continue at a window start found by an earlier [`scan`] (the header, if any, is read).
    pub fn resume(&mut self, at: &Resume) -> Result<(), String> {
        use std::io::Seek;
        self.r
            .seek(std::io::SeekFrom::Start(at.byte))
            .map_err(|e| open_err(&self.path, e))?;
        self.pos = at.byte;
        self.line = at.line;
        self.first_abs = Some(at.first_abs);
        self.prev_abs = None;
        Ok(())
    }

    /// Where the line of the entry just returned starts (with the trace's origin).
    fn resume_point(&self, e: &TraceEntry) -> Resume {
        Resume {
            byte: self.line_start,
            line: e.line - 1,
            first_abs: self.first_abs.unwrap_or(0),
        }
    }

    /// The next line without its terminator; `false` at the end.
    fn next_line(&mut self) -> Result<bool, String> {
        self.buf.clear();
        let n = self
            .r
            .read_until(b'\n', &mut self.buf)
            .map_err(|e| format!("{}:{}: cannot read: {e}", self.path.display(), self.line + 1))?;
        if n == 0 {
            return Ok(false);
        }
        self.line_start = self.pos;
        self.pos += n as u64;
        self.line += 1;
        while matches!(self.buf.last(), Some(b'\n' | b'\r')) {
            self.buf.pop();
        }
        Ok(true)
    }

    fn read_header(&mut self) -> Result<(), String> {
        let (t, i, o) = match self.format {
            TraceFormat::Azure => ("TIMESTAMP", "ContextTokens", "GeneratedTokens"),
            TraceFormat::BurstGpt => ("Timestamp", "Request tokens", "Response tokens"),
            TraceFormat::Mooncake => return Ok(()),
        };
        loop {
            if !self.next_line()? {
                return Err(format!("--trace {}: empty file (no CSV header)", self.path.display()));
            }
            if !self.buf.trim_ascii().is_empty() {
                break;
            }
        }
        let header = String::from_utf8_lossy(&self.buf)
            .trim_start_matches('\u{feff}')
            .to_string();
        let names: Vec<String> = header.split(',').map(|c| unquote(c).to_string()).collect();
        let find = |want: &str| names.iter().position(|n| n == want);
        match (find(t), find(i), find(o)) {
            (Some(time), Some(input), Some(output)) => {
                self.cols = Some(Columns {
                    time,
                    input,
                    output,
                    width: names.len(),
                });
                Ok(())
            }
            _ => Err(format!(
                "{}:{}: {} CSV header must name the columns {t}, {i} and {o}; got: {}",
                self.path.display(),
                self.line,
                self.format.name(),
                header.trim()
            )),
        }
    }

    /// The next request inside the window (and within the context limit), or `None` at the
    /// end of the file or the window. A malformed line is an error unless `skip_invalid`.
    pub fn next_entry(&mut self) -> Result<Option<TraceEntry>, String> {
        while !self.done {
            if !self.next_line()? {
                self.done = true;
                break;
            }
            if self.buf.trim_ascii().is_empty() {
                continue;
            }
            self.counts.read += 1;
            let parsed = match self.format {
                TraceFormat::Mooncake => parse_mooncake(self.line, &self.buf),
                _ => self.parse_csv(),
            };
            let mut e = match parsed.and_then(|e| self.check(e)) {
                Ok(Some(e)) => e,
                Ok(None) => {
                    self.counts.unusable += 1;
                    continue;
                }
                Err(bad) => {
                    self.counts.invalid(bad, &self.path, self.opts.skip_invalid)?;
                    continue;
                }
            };
            // Trace time: from the first request of the file.
            let first = *self.first_abs.get_or_insert(e.t_us);
            self.prev_abs = Some(e.t_us);
            e.t_us -= first;
            if e.t_us < self.opts.start_us {
                self.counts.filtered_out += 1;
                continue;
            }
            if self.opts.end_us.is_some_and(|end| e.t_us >= end) {
                self.counts.filtered_out += 1;
                self.done = true;
                break;
            }
            if let Some(limit) = self.opts.max_total_tokens {
                if u64::from(e.input) + u64::from(e.output) > u64::from(limit) {
                    if !self.opts.skip_invalid {
                        return Err(too_long(&self.path, &e, limit));
                    }
                    self.counts.skipped_too_long += 1;
                    continue;
                }
            }
            self.counts.used += 1;
            return Ok(Some(e));
        }
        Ok(None)
    }

    /// Checks that need the previous line: time order. `Ok(None)`: a recorded failure.
    fn check(&self, e: TraceEntry) -> Result<Option<TraceEntry>, BadLine> {
        if let Some(prev) = self.prev_abs {
            if e.t_us < prev {
                let field = match self.format {
                    TraceFormat::Mooncake => "timestamp",
                    TraceFormat::Azure => "TIMESTAMP",
                    TraceFormat::BurstGpt => "Timestamp",
                };
                return Err(BadLine::field(
                    e.line,
                    field,
                    format!(
                        "{:.3} s is earlier than the previous request's {:.3} s (a trace must be in time order)",
                        e.t_us as f64 / 1e6,
                        prev as f64 / 1e6
                    ),
                ));
            }
        }
        if e.output == 0 {
            return Ok(None);
        }
        if !e.hash_ids.is_empty() {
            let bs = u64::from(self.opts.block_size.max(1));
            let n = e.hash_ids.len() as u64;
            let input = u64::from(e.input);
            if input > n * bs || input <= (n - 1) * bs {
                return Err(BadLine::field(
                    e.line,
                    "hash_ids",
                    format!(
                        "{n} blocks of {bs} tokens do not fit input_length {input} (needs {})",
                        input.div_ceil(bs)
                    ),
                ));
            }
        }
        Ok(Some(e))
    }

    fn parse_csv(&self) -> Result<TraceEntry, BadLine> {
        let line = self.line;
        let Some(c) = self.cols else {
            return Err(BadLine::line(line, "no CSV header"));
        };
        let text = std::str::from_utf8(&self.buf).map_err(|e| BadLine::line(line, format!("not UTF-8 text: {e}")))?;
        let cells: Vec<&str> = text.split(',').map(unquote).collect();
        if cells.len() < c.width {
            return Err(BadLine::line(
                line,
                format!("expected {} CSV columns, got {}", c.width, cells.len()),
            ));
        }
        let (tname, iname, oname) = match self.format {
            TraceFormat::Azure => ("TIMESTAMP", "ContextTokens", "GeneratedTokens"),
            _ => ("Timestamp", "Request tokens", "Response tokens"),
        };
        let t_us = match self.format {
            TraceFormat::Azure => parse_datetime_us(cells[c.time]).map_err(|e| BadLine::field(line, tname, e))?,
            _ => seconds_us(cells[c.time]).map_err(|e| BadLine::field(line, tname, e))?,
        };
        let input = tokens(cells[c.input]).map_err(|e| BadLine::field(line, iname, e))?;
        if input == 0 {
            return Err(BadLine::field(line, iname, "must be at least 1"));
        }
        let output = tokens(cells[c.output]).map_err(|e| BadLine::field(line, oname, e))?;
        Ok(TraceEntry {
            line,
            t_us,
            input,
            output,
            hash_ids: Vec::new(),
        })
    }
}

impl Iterator for TraceReader {
    type Item = Result<TraceEntry, String>;
    fn next(&mut self) -> Option<Self::Item> {
        self.next_entry().transpose()
    }
}

fn too_long(path: &Path, e: &TraceEntry, limit: u32) -> String {
    format!(
        "{}:{}: input {} + output {} tokens exceeds the model's context of {limit} tokens (--skip-invalid skips such requests)",
        path.display(),
        e.line,
        e.input,
        e.output
    )
}

fn unquote(s: &str) -> &str {
    let t = s.trim();
    t.strip_prefix('"').and_then(|x| x.strip_suffix('"')).unwrap_or(t)
}

fn tokens(s: &str) -> Result<u32, String> {
    let t = s.trim();
    if let Ok(n) = t.parse::<u32>() {
        return Ok(n);
    }
    // Some exports write counts as floats ("12.0").
    match t.parse::<f64>() {
        Ok(x) if x.is_finite() && x >= 0.0 && x.fract() == 0.0 && x <= f64::from(u32::MAX) => Ok(x as u32),
        _ => Err(format!("expected a token count, got '{t}'")),
    }
}

fn seconds_us(s: &str) -> Result<i64, String> {
    match s.trim().parse::<f64>() {
        Ok(x) if (0.0..1e12).contains(&x) => Ok((x * 1e6).round() as i64),
        _ => Err(format!("expected seconds, got '{}'", s.trim())),
    }
}

/// `YYYY-MM-DD HH:MM:SS[.fraction]` (or with `T`, optional trailing `Z`) → µs since the
/// Unix epoch (UTC).
pub fn parse_datetime_us(s: &str) -> Result<i64, String> {
    let bad = || format!("expected YYYY-MM-DD HH:MM:SS[.fraction], got '{}'", s.trim());
    let t = s.trim().trim_end_matches('Z');
    let (date, time) = t.split_once([' ', 'T']).ok_or_else(bad)?;
    let mut d = date.split('-');
    let (y, m, day) = (d.next(), d.next(), d.next());
    let num = |x: Option<&str>| x.and_then(|v| v.parse::<i64>().ok()).ok_or_else(bad);
    let (y, m, day) = (num(y)?, num(m)?, num(day)?);
    if d.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&day) {
        return Err(bad());
    }
    let (hms, frac) = match time.split_once('.') {
        Some((a, b)) => (a, b),
        None => (time, ""),
    };
    let mut p = hms.split(':');
    let (hh, mm, ss) = (num(p.next())?, num(p.next())?, num(p.next())?);
    if p.next().is_some() || hh > 23 || mm > 59 || ss > 60 {
        return Err(bad());
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let micros: i64 = format!("{frac:0<6}")[..6].parse().map_err(|_| bad())?;
    // Days from civil (Howard Hinnant's algorithm).
    let yy = if m <= 2 { y - 1 } else { y };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Ok(((days * 86_400 + hh * 3600 + mm * 60 + ss) * 1_000_000) + micros)
}

/// One Mooncake line.
#[derive(Deserialize)]
struct MooncakeLine {
    timestamp: Option<f64>,
    input_length: Option<i64>,
    output_length: Option<i64>,
    #[serde(default)]
    hash_ids: Option<Vec<i64>>,
}

fn parse_mooncake(line: u64, bytes: &[u8]) -> Result<TraceEntry, BadLine> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let raw: MooncakeLine = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let msg = inner.to_string();
        let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
        if path.is_empty() || path == "." || inner.is_syntax() || inner.is_eof() {
            BadLine::line(line, format!("invalid JSON: {msg}"))
        } else {
            BadLine::field(line, &path, msg)
        }
    })?;
    let t = raw
        .timestamp
        .ok_or_else(|| BadLine::field(line, "timestamp", "missing"))?;
    if !(t.is_finite() && t >= 0.0) {
        return Err(BadLine::field(
            line,
            "timestamp",
            format!("must be a non-negative number of ms, got {t}"),
        ));
    }
    let input = raw
        .input_length
        .ok_or_else(|| BadLine::field(line, "input_length", "missing"))?;
    if !(1..=i64::from(u32::MAX)).contains(&input) {
        return Err(BadLine::field(
            line,
            "input_length",
            format!("must be at least 1, got {input}"),
        ));
    }
    let output = raw
        .output_length
        .ok_or_else(|| BadLine::field(line, "output_length", "missing"))?;
    if !(0..=i64::from(u32::MAX)).contains(&output) {
        return Err(BadLine::field(
            line,
            "output_length",
            format!("must be non-negative, got {output}"),
        ));
    }
    let mut hash_ids = Vec::new();
    for (i, h) in raw.hash_ids.unwrap_or_default().into_iter().enumerate() {
        if h < 0 {
            return Err(BadLine::field(
                line,
                &format!("hash_ids[{i}]"),
                format!("must be non-negative, got {h}"),
            ));
        }
        hash_ids.push(h as u64);
    }
    Ok(TraceEntry {
        line,
        t_us: (t * 1000.0).round() as i64,
        input: input as u32,
        output: output as u32,
        hash_ids,
    })
}

/// The format from the first non-blank line: `{` Mooncake; a header naming `ContextTokens`
/// Azure, `Request tokens` BurstGPT.
fn detect(r: &mut BufReader<std::fs::File>, path: &Path) -> Result<TraceFormat, String> {
    let head = r.fill_buf().map_err(|e| open_err(path, e))?;
    let text = String::from_utf8_lossy(&head[..head.len().min(8192)]).to_string();
    let first = text.lines().map(str::trim).find(|l| !l.is_empty());
    match first {
        None => Err(format!("--trace {}: empty file", path.display())),
        Some(l) if l.starts_with('{') => Ok(TraceFormat::Mooncake),
        Some(l) if l.contains("ContextTokens") => Ok(TraceFormat::Azure),
        Some(l) if l.contains("Request tokens") => Ok(TraceFormat::BurstGpt),
        Some(_) => Err(format!(
            "--trace {}: unknown format (expected Mooncake JSONL, an Azure CSV with ContextTokens or a BurstGPT CSV with Request tokens); give --trace-format",
            path.display()
        )),
    }
}

/// What a trace's window holds, read once before the run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TraceScan {
    pub format: Option<TraceFormat>,
    pub counts: InputCounts,
    /// Requests in the window (the replay sends these).
    pub requests: u64,
    /// Recorded times of the first and last request in the window, µs of trace time.
    pub first_us: i64,
    pub last_us: i64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// The request with the largest input + output, and its line.
    pub max_total: u32,
    pub max_total_line: u64,
    /// Σ prompt tokens that repeat an earlier request's prefix by their `hash_ids` (Mooncake):
    /// block by block, the part of each block an earlier request already sent, up to the first
    /// block that differs. The hits of a token-granular cache that never evicts. `None` when
    /// there are no hash ids, or too many distinct ones to track.
    pub reusable_tokens: Option<u64>,
    /// Where the window starts in the file (for the replay).
    pub resume: Option<Resume>,
}

/// Most distinct hash ids tracked for [`TraceScan::reusable_tokens`] (bounded memory).
pub const MAX_TRACKED_BLOCKS: usize = 4_000_000;

impl TraceScan {
    /// Recorded arrival rate over the window, requests/s of trace time.
    pub fn recorded_rate(&self) -> Option<f64> {
        let span = (self.last_us - self.first_us) as f64 / 1e6;
        (self.requests > 1 && span > 0.0).then(|| (self.requests - 1) as f64 / span)
    }

    /// Σ reusable / Σ input over the window.
    pub fn reusable_fraction(&self) -> Option<f64> {
        self.reusable_tokens
            .filter(|_| self.input_tokens > 0)
            .map(|r| r as f64 / self.input_tokens as f64)
    }
}

/// Read the window once: validate every line and summarise. At most `limit` requests are
/// counted (the run's `--requests`).
pub fn scan(path: &Path, opts: &TraceOptions, limit: Option<u64>) -> Result<TraceScan, String> {
    let mut r = TraceReader::open(path, opts)?;
    let mut s = TraceScan {
        format: Some(r.format),
        ..Default::default()
    };
    let bs = opts.block_size.max(1);
    // Longest use of each block id so far (a block's words are a prefix of its longest use).
    let mut seen: Option<HashMap<u64, u32>> = Some(HashMap::new());
    let mut any_hash = false;
    let mut reusable = 0u64;
    while let Some(e) = r.next_entry()? {
        if s.requests == 0 {
            s.first_us = e.t_us;
            s.resume = Some(r.resume_point(&e));
        }
        s.last_us = e.t_us;
        s.requests += 1;
        s.input_tokens += u64::from(e.input);
        s.output_tokens += u64::from(e.output);
        let total = e.input.saturating_add(e.output);
        if total > s.max_total {
            (s.max_total, s.max_total_line) = (total, e.line);
        }
        if !e.hash_ids.is_empty() {
            any_hash = true;
        }
        if let Some(map) = seen.as_mut() {
            let mut left = e.input;
            let mut prefix = true;
            for h in &e.hash_ids {
                let len = left.min(bs);
                left -= len;
                let before = map.get(h).copied().unwrap_or(0);
                if prefix {
                    // The shared part of this block; the prefix ends where it falls short.
                    reusable += u64::from(before.min(len));
                    prefix = before >= len;
                }
                if len > before {
                    map.insert(*h, len);
                }
            }
            if map.len() > MAX_TRACKED_BLOCKS {
                seen = None;
            }
        }
        if limit.is_some_and(|n| s.requests >= n) {
            break;
        }
    }
    s.counts = r.counts;
    s.reusable_tokens = (any_hash && seen.is_some()).then_some(reusable);
    Ok(s)
}

/// The window replayed: `(send offset s, request)` in order, offsets from the window's start
/// divided by the speed. Lines were validated by [`scan`]; a line that has become invalid
/// since is skipped. Opening it finds the window's first request (seeking to it when the
/// scan said where it is), so no time is spent reading up to it once the replay's clock runs.
pub struct Replay {
    reader: TraceReader,
    first: Option<TraceEntry>,
    start_us: i64,
    speed: f64,
    left: Option<u64>,
    horizon_s: f64,
}

impl Replay {
    pub fn open(
        path: &Path,
        opts: &TraceOptions,
        speed: f64,
        limit: Option<u64>,
        duration: Option<std::time::Duration>,
        resume: Option<&Resume>,
    ) -> Result<Replay, String> {
        let mut o = opts.clone();
        o.skip_invalid = true;
        let mut reader = TraceReader::open(path, &o)?;
        if let Some(at) = resume {
            reader.resume(at)?;
        }
        let first = reader.next_entry().ok().flatten();
        Ok(Replay {
            reader,
            first,
            start_us: opts.start_us,
            speed,
            left: limit,
            horizon_s: duration.map(|d| d.as_secs_f64()).unwrap_or(f64::INFINITY),
        })
    }
}

impl Iterator for Replay {
    type Item = (f64, TraceEntry);
    fn next(&mut self) -> Option<(f64, TraceEntry)> {
        if self.left == Some(0) {
            return None;
        }
        let e = match self.first.take() {
            Some(e) => e,
            None => self.reader.next_entry().ok().flatten()?,
        };
        let off = (e.t_us - self.start_us).max(0) as f64 / 1e6 / self.speed;
        if off > self.horizon_s {
            return None;
        }
        if let Some(n) = self.left.as_mut() {
            *n -= 1;
        }
        Some((off, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> TraceOptions {
        TraceOptions {
            format: None,
            block_size: 512,
            skip_invalid: false,
            start_us: 0,
            end_us: None,
            max_total_tokens: None,
        }
    }

    fn write(name: &str, body: &str) -> (tempfile::TempDir, PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join(name);
        std::fs::write(&p, body).unwrap();
        (d, p)
    }

    fn all(p: &Path, o: &TraceOptions) -> Result<Vec<TraceEntry>, String> {
        TraceReader::open(p, o)?.collect()
    }

    #[test]
    fn mooncake_lines_window_and_reuse() {
        let body = "{\"timestamp\": 1000, \"input_length\": 600, \"output_length\": 5, \"hash_ids\": [1, 2]}\n\
                    {\"timestamp\": 1500, \"input_length\": 1100, \"output_length\": 7, \"hash_ids\": [1, 2, 3]}\n\
                    {\"timestamp\": 4000, \"input_length\": 100, \"output_length\": 0, \"hash_ids\": [9]}\n\
                    {\"timestamp\": 9000, \"input_length\": 512, \"output_length\": 2, \"hash_ids\": [1]}\n";
        let (_d, p) = write("t.jsonl", body);
        let v = all(&p, &opts()).unwrap();
        assert_eq!(v.len(), 3);
        assert_eq!((v[0].t_us, v[1].t_us, v[2].t_us), (0, 500_000, 8_000_000));
        assert_eq!(v[1].hash_ids, vec![1, 2, 3]);
        let s = scan(&p, &opts(), None).unwrap();
        assert_eq!(s.format, Some(TraceFormat::Mooncake));
        assert_eq!((s.requests, s.counts.unusable), (3, 1));
        // request 2 reuses block 1 (512) and the 88 tokens of block 2 the first request
        // sent, then diverges; request 4 reuses block 1 → 512 + 88 + 512
        assert_eq!(s.reusable_tokens, Some(1112));
        assert_eq!(s.input_tokens, 600 + 1100 + 512);
        assert_eq!((s.max_total, s.max_total_line), (1107, 2));
        let w = TraceOptions {
            start_us: 400_000,
            end_us: Some(8_000_000),
            ..opts()
        };
        let v = all(&p, &w).unwrap();
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].line, 2);
        let offsets: Vec<f64> = Replay::open(&p, &opts(), 2.0, None, None, None)
            .unwrap()
            .map(|(o, _)| o)
            .collect();
        assert_eq!(offsets, vec![0.0, 0.25, 4.0]);
        // A replay resumed where the scan found the window reads the same requests.
        let w = TraceOptions {
            start_us: 400_000,
            ..opts()
        };
        let s = scan(&p, &w, None).unwrap();
        let at = s.resume.unwrap();
        assert_eq!((at.line, at.first_abs), (1, 1_000_000));
        let lines = |r: Replay| r.map(|(o, e)| (o, e.line)).collect::<Vec<_>>();
        let resumed = lines(Replay::open(&p, &w, 1.0, None, None, Some(&at)).unwrap());
        assert_eq!(resumed, lines(Replay::open(&p, &w, 1.0, None, None, None).unwrap()));
        assert_eq!(resumed, vec![(0.1, 2), (7.6, 4)]);
    }

    #[test]
    fn bad_lines_are_one_line_errors_or_skipped() {
        let cases = [
            ("{\"timestamp\": 1, \"input_length\": \"x\", \"output_length\": 1}\n", "t.jsonl:1: field input_length: invalid type"),
            ("{\"timestamp\": 1, \"output_length\": 1}\n", "t.jsonl:1: field input_length: missing"),
            ("{\"timestamp\": 1, \"input_length\": 2000, \"output_length\": 1, \"hash_ids\": [1, 2]}\n", "t.jsonl:1: field hash_ids: 2 blocks of 512 tokens do not fit input_length 2000 (needs 4)"),
            ("{\"timestamp\": 1, \"input_length\": 5, \"output_length\": 1, \"hash_ids\": [1, \"a\"]}\n", "t.jsonl:1: field hash_ids[1]: invalid type"),
            ("{\"timestamp\": 5, \"input_length\": 5, \"output_length\": 1}\n{\"timestamp\": 4, \"input_length\": 5, \"output_length\": 1}\n", "t.jsonl:2: field timestamp: 0.004 s is earlier"),
            ("{\"timestamp\": 1, \"input_length\": 5, \"output_length\": 1}\n{nope\n", "t.jsonl:2: invalid JSON"),
        ];
        for (body, want) in cases {
            let (_d, p) = write("t.jsonl", body);
            let err = scan(
                &p,
                &TraceOptions {
                    format: Some(TraceFormat::Mooncake),
                    ..opts()
                },
                None,
            )
            .unwrap_err();
            let shown = err.replace(&format!("{}/", p.parent().unwrap().display()), "");
            assert!(shown.starts_with(want), "{body:?}: {err}");
        }
        let (_d, p) = write(
            "t.jsonl",
            "{\"timestamp\": 1, \"input_length\": 5, \"output_length\": 1}\n{\"timestamp\": 2}\n{\"timestamp\": 3, \"input_length\": 5, \"output_length\": 1}\n",
        );
        let s = scan(
            &p,
            &TraceOptions {
                skip_invalid: true,
                ..opts()
            },
            None,
        )
        .unwrap();
        assert_eq!((s.requests, s.counts.skipped_invalid), (2, 1));
        assert!(s
            .counts
            .first_invalid
            .unwrap()
            .ends_with("t.jsonl:2: field input_length: missing"));
        let limited = TraceOptions {
            max_total_tokens: Some(5),
            ..opts()
        };
        let err = scan(&p, &limited, None).unwrap_err();
        assert!(
            err.contains("t.jsonl:1: input 5 + output 1 tokens exceeds the model's context of 5"),
            "{err}"
        );
    }

    #[test]
    fn azure_and_burstgpt_csv() {
        let azure = "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:17:03.9799600,4808,10\n2023-11-16 18:17:04.0319600,3180,8\n2023-11-16 18:18:04.0319600,3,1\n";
        let (_d, p) = write("a.csv", azure);
        let v = all(&p, &opts()).unwrap();
        assert_eq!(v.len(), 3);
        assert_eq!((v[1].t_us, v[1].input, v[1].output), (52_000, 3180, 8));
        assert_eq!(v[2].t_us, 60_052_000);
        assert_eq!(parse_datetime_us("1970-01-02 00:00:01.5").unwrap(), 86_401_500_000);
        let burst = "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n5,ChatGPT,472,18,490,Conversation log\n45,GPT-4,1087,0,1087,Conversation log\n46.5,ChatGPT,100,200,300,API log\n";
        let (_d, p) = write("b.csv", burst);
        let s = scan(&p, &opts(), None).unwrap();
        assert_eq!(s.format, Some(TraceFormat::BurstGpt));
        assert_eq!((s.requests, s.counts.unusable), (2, 1));
        assert_eq!((s.first_us, s.last_us), (0, 41_500_000));
        let (_d, p) = write("b.csv", "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n5,ChatGPT,x,18,490,Conversation log\n");
        let err = scan(&p, &opts(), None).unwrap_err();
        assert!(
            err.contains("b.csv:2: field Request tokens: expected a token count, got 'x'"),
            "{err}"
        );
        let (_d, p) = write("a.csv", "TIMESTAMP,Tokens\n");
        assert!(scan(
            &p,
            &TraceOptions {
                format: Some(TraceFormat::Azure),
                ..opts()
            },
            None
        )
        .unwrap_err()
        .contains("a.csv:1: azure CSV header must name"));
    }
}
