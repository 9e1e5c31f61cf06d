//! A parser for the Prometheus text exposition format (0.0.4) and its OpenMetrics 1.0 superset,
//! because every inference engine infermeter scrapes (vLLM, SGLang, TGI, llama.cpp,
//! TensorRT-LLM, the DCGM exporter) publishes its `/metrics` in one of the two.
//!
//! The input is untrusted network data, so the parser never panics and bounds what it keeps:
//! a line that does not parse is skipped and counted (the first one is quoted in the warning),
//! at most [`MAX_SAMPLES`] samples are kept, and a body that is evidently something else (JSON,
//! as TensorRT-LLM's default `/metrics` returns, or an HTML page) is rejected in one line.
//!
//! Accepted, per the two specifications: `# HELP`, `# TYPE` (and OpenMetrics `# UNIT`, `# EOF`)
//! comments; samples `name{label="value",...} value [timestamp]`, with an optional trailing
//! comma in the label set, `\\`, `\"` and `\n` escapes in label values, the Go float spellings
//! `NaN`, `+Inf`, `-Inf`, and OpenMetrics exemplars (`... # {trace_id="x"} 1.0`, ignored);
//! metric names may also be given quoted inside the braces (`{"my.metric",le="1"} 3`), the
//! UTF-8 form of Prometheus 3. Timestamps are ignored: a scrape's time is when infermeter read it.

use serde::de::{self, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeTuple};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;

/// Most samples kept from one exposition (a vLLM `/metrics` has about 500; a DCGM exporter on
/// 8 GPUs a few hundred). Beyond it the body is rejected rather than truncated silently.
pub const MAX_SAMPLES: usize = 200_000;
/// Most labels on one sample.
pub const MAX_LABELS: usize = 64;

/// A metric family's declared type (`# TYPE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricType {
    Counter,
    Gauge,
    Histogram,
    Summary,
    Info,
    Stateset,
    Gaugehistogram,
    /// `untyped` (0.0.4), `unknown` (OpenMetrics), or no `# TYPE` line.
    Unknown,
}

impl MetricType {
    fn parse(s: &str) -> MetricType {
        match s {
            "counter" => MetricType::Counter,
            "gauge" => MetricType::Gauge,
            "histogram" => MetricType::Histogram,
            "summary" => MetricType::Summary,
            "info" => MetricType::Info,
            "stateset" => MetricType::Stateset,
            "gaugehistogram" => MetricType::Gaugehistogram,
            _ => MetricType::Unknown,
        }
    }

    /// Sample-name suffixes a family of this type may add to its name.
    fn suffixes(self) -> &'static [&'static str] {
        match self {
            MetricType::Counter => &["_total", "_created"],
            MetricType::Histogram => &["_bucket", "_sum", "_count", "_created"],
            MetricType::Summary => &["_sum", "_count", "_created"],
            MetricType::Gaugehistogram => &["_bucket", "_gsum", "_gcount"],
            MetricType::Info => &["_info"],
            _ => &[],
        }
    }
}

/// One sample: metric name, labels in the order they were written, value.
///
/// Serialized compactly as `[name, {labels}, value]`, with non-finite values as the strings
/// `"NaN"`, `"+Inf"`, `"-Inf"` (JSON has no such numbers).
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

impl Sample {
    /// The value of label `k`, if present.
    pub fn label(&self, k: &str) -> Option<&str> {
        self.labels.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
    }
}

/// A parsed exposition.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Exposition {
    pub samples: Vec<Sample>,
    /// `# TYPE` declarations, family name → type.
    pub types: BTreeMap<String, MetricType>,
    /// Lines that did not parse and were skipped.
    pub skipped_lines: u64,
    /// The first of them: `line N: why`.
    pub first_skipped: Option<String>,
}

impl Exposition {
    /// The declared type of the family a sample belongs to: its own name when declared
    /// (0.0.4 counters are declared with `_total`), else its name without the suffix that
    /// family type adds (`_bucket`, `_sum`, `_count`, `_total`, `_created`, ...).
    pub fn type_of(&self, sample_name: &str) -> MetricType {
        if let Some(t) = self.types.get(sample_name) {
            return *t;
        }
        for suffix in [
            "_total", "_bucket", "_sum", "_count", "_created", "_gsum", "_gcount", "_info",
        ] {
            if let Some(base) = sample_name.strip_suffix(suffix) {
                if let Some(t) = self.types.get(base) {
                    if t.suffixes().contains(&suffix) {
                        return *t;
                    }
                }
            }
        }
        MetricType::Unknown
    }
}

/// Parse an exposition. `Err` (one line) when the body is not Prometheus text at all: JSON or
/// HTML, more than [`MAX_SAMPLES`] samples, or no sample parsed while some line failed.
pub fn parse(text: &str) -> Result<Exposition, String> {
    let head = text.trim_start();
    if head.starts_with('{') || head.starts_with('[') {
        return Err(
            "not Prometheus text: the body is JSON (TensorRT-LLM serves Prometheus text at /prometheus/metrics)".into(),
        );
    }
    let b = head.as_bytes();
    if b.len() >= 5 && (b[..5].eq_ignore_ascii_case(b"<!doc") || b[..5].eq_ignore_ascii_case(b"<html")) {
        return Err("not Prometheus text: the body is an HTML page".into());
    }
    let mut out = Exposition::default();
    for (i, raw) in text.split('\n').enumerate() {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let trimmed = line.trim_matches(|c| c == ' ' || c == '\t');
        if trimmed.is_empty() {
            continue;
        }
        if let Some(comment) = trimmed.strip_prefix('#') {
            if comment.trim() == "EOF" {
                break;
            }
            comment_line(comment, &mut out);
            continue;
        }
        match sample_line(trimmed) {
            Ok(s) => {
                if out.samples.len() >= MAX_SAMPLES {
                    return Err(format!("more than {MAX_SAMPLES} samples in one exposition"));
                }
                out.samples.push(s);
            }
            Err(why) => {
                out.skipped_lines += 1;
                if out.first_skipped.is_none() {
                    out.first_skipped = Some(format!("line {}: {why}", i + 1));
                }
            }
        }
    }
    if out.samples.is_empty() {
        if let Some(first) = &out.first_skipped {
            return Err(format!("not Prometheus text: {first}"));
        }
    }
    Ok(out)
}

/// `# TYPE name type` is the only comment that matters; `# HELP`/`# UNIT`/others are ignored.
fn comment_line(comment: &str, out: &mut Exposition) {
    let mut it = comment.split_ascii_whitespace();
    if it.next() != Some("TYPE") {
        return;
    }
    let rest = comment.trim_start();
    let rest = rest["TYPE".len()..].trim_start();
    let (name, after) = if let Some(q) = rest.strip_prefix('"') {
        match quoted(q) {
            Ok((n, used)) => (n, &q[used..]),
            Err(_) => return,
        }
    } else {
        let end = rest.find([' ', '\t']).unwrap_or(rest.len());
        (rest[..end].to_string(), &rest[end..])
    };
    let ty = after.trim();
    if name.is_empty() || ty.is_empty() {
        return;
    }
    out.types.insert(name, MetricType::parse(ty));
}

fn is_name_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b == b':'
}

fn is_name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b':'
}

/// A quoted string starting after its opening quote: the unescaped text and the bytes used
/// (including the closing quote).
fn quoted(s: &str) -> Result<(String, usize), &'static str> {
    let mut out = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((out, i + 1)),
            '\\' => match chars.next() {
                Some((_, 'n')) => out.push('\n'),
                Some((_, '\\')) => out.push('\\'),
                Some((_, '"')) => out.push('"'),
                Some((_, other)) => {
                    out.push('\\');
                    out.push(other);
                }
                None => return Err("unterminated escape"),
            },
            c => out.push(c),
        }
    }
    Err("unterminated quoted string")
}

/// A value in Go's `ParseFloat` spellings that Prometheus writes.
pub fn parse_value(s: &str) -> Option<f64> {
    match s {
        "NaN" | "nan" => Some(f64::NAN),
        "+Inf" | "Inf" | "+inf" | "inf" => Some(f64::INFINITY),
        "-Inf" | "-inf" => Some(f64::NEG_INFINITY),
        _ => {
            // Rust also accepts "infinity" and "nan" in any case; Prometheus writes neither, but
            // they mean the same thing. Reject what is not a float literal at all (e.g. "1_000").
            if s.is_empty()
                || !s
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'-'))
            {
                return None;
            }
            s.parse::<f64>().ok()
        }
    }
}

fn sample_line(line: &str) -> Result<Sample, String> {
    let bytes = line.as_bytes();
    let mut pos = 0;
    let mut name = String::new();
    if bytes.first().copied().is_some_and(is_name_start) {
        while pos < bytes.len() && is_name_char(bytes[pos]) {
            pos += 1;
        }
        name.push_str(&line[..pos]);
    } else if bytes.first() != Some(&b'{') {
        return Err("expected a metric name".into());
    }
    let mut labels = Vec::new();
    if bytes.get(pos) == Some(&b'{') {
        pos += 1;
        loop {
            while pos < bytes.len() && (bytes[pos] == b' ' || bytes[pos] == b'\t') {
                pos += 1;
            }
            match bytes.get(pos) {
                None => return Err("unterminated label set".into()),
                Some(b'}') => {
                    pos += 1;
                    break;
                }
                Some(b'"') => {
                    // A quoted name (UTF-8 metric name) or a quoted label name.
                    let (text, used) = quoted(&line[pos + 1..]).map_err(str::to_string)?;
                    pos += 1 + used;
                    while pos < bytes.len() && (bytes[pos] == b' ' || bytes[pos] == b'\t') {
                        pos += 1;
                    }
                    if bytes.get(pos) == Some(&b'=') {
                        pos += 1;
                        let v = label_value(line, &mut pos)?;
                        labels.push((text, v));
                    } else if name.is_empty() {
                        name = text;
                    } else {
                        return Err("a quoted metric name after the metric name".into());
                    }
                }
                Some(&b) if is_name_start(b) && b != b':' => {
                    let start = pos;
                    while pos < bytes.len() && (bytes[pos].is_ascii_alphanumeric() || bytes[pos] == b'_') {
                        pos += 1;
                    }
                    let key = line[start..pos].to_string();
                    while pos < bytes.len() && (bytes[pos] == b' ' || bytes[pos] == b'\t') {
                        pos += 1;
                    }
                    if bytes.get(pos) != Some(&b'=') {
                        return Err(format!("label {key}: expected '='"));
                    }
                    pos += 1;
                    let v = label_value(line, &mut pos)?;
                    labels.push((key, v));
                }
                Some(_) => return Err("expected a label name".into()),
            }
            if labels.len() > MAX_LABELS {
                return Err(format!("more than {MAX_LABELS} labels"));
            }
            while pos < bytes.len() && (bytes[pos] == b' ' || bytes[pos] == b'\t') {
                pos += 1;
            }
            match bytes.get(pos) {
                Some(b',') => pos += 1,
                Some(b'}') => {
                    pos += 1;
                    break;
                }
                _ => return Err("expected ',' or '}' in the label set".into()),
            }
        }
    }
    if name.is_empty() {
        return Err("no metric name".into());
    }
    let rest = &line[pos..];
    if !rest.starts_with([' ', '\t']) {
        return Err("expected whitespace before the value".into());
    }
    // Drop an OpenMetrics exemplar.
    let rest = match rest.find(" # ") {
        Some(i) => &rest[..i],
        None => rest,
    };
    let mut fields = rest.split_ascii_whitespace();
    let v = fields.next().ok_or("no value")?;
    let value = parse_value(v).ok_or_else(|| format!("bad value '{}'", v.chars().take(32).collect::<String>()))?;
    if let Some(ts) = fields.next() {
        if parse_value(ts).is_none() {
            return Err("bad timestamp".into());
        }
    }
    if fields.next().is_some() {
        return Err("unexpected text after the value".into());
    }
    Ok(Sample { name, labels, value })
}

fn label_value(line: &str, pos: &mut usize) -> Result<String, String> {
    let bytes = line.as_bytes();
    while *pos < bytes.len() && (bytes[*pos] == b' ' || bytes[*pos] == b'\t') {
        *pos += 1;
    }
    if bytes.get(*pos) != Some(&b'"') {
        return Err("expected '\"' to open a label value".into());
    }
    let (v, used) = quoted(&line[*pos + 1..]).map_err(str::to_string)?;
    *pos += 1 + used;
    Ok(v)
}

/// Go-style float text, as Prometheus writes values: `+Inf`, `-Inf`, `NaN`, else the shortest
/// representation that round-trips.
pub fn fmt_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

impl Serialize for Sample {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct Labels<'a>(&'a [(String, String)]);
        impl Serialize for Labels<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut m = s.serialize_map(Some(self.0.len()))?;
                for (k, v) in self.0 {
                    m.serialize_entry(k, v)?;
                }
                m.end()
            }
        }
        let mut t = s.serialize_tuple(3)?;
        t.serialize_element(&self.name)?;
        t.serialize_element(&Labels(&self.labels))?;
        if self.value.is_finite() {
            t.serialize_element(&self.value)?;
        } else {
            t.serialize_element(&fmt_value(self.value))?;
        }
        t.end()
    }
}

impl<'de> Deserialize<'de> for Sample {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Sample, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Sample;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("[name, {labels}, value]")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Sample, A::Error> {
                let name: String = seq.next_element()?.ok_or_else(|| de::Error::invalid_length(0, &self))?;
                let labels: LabelMap = seq.next_element()?.ok_or_else(|| de::Error::invalid_length(1, &self))?;
                let value: NumOrText = seq.next_element()?.ok_or_else(|| de::Error::invalid_length(2, &self))?;
                let value = match value {
                    NumOrText::Num(v) => v,
                    NumOrText::Text(t) => parse_value(&t).ok_or_else(|| de::Error::custom(format!("bad value {t}")))?,
                };
                Ok(Sample {
                    name,
                    labels: labels.0,
                    value,
                })
            }
        }
        d.deserialize_tuple(3, V)
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum NumOrText {
    Num(f64),
    Text(String),
}

/// Labels as a JSON object, order kept.
struct LabelMap(Vec<(String, String)>);

impl<'de> Deserialize<'de> for LabelMap {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<LabelMap, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = LabelMap;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of label values")
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut m: A) -> Result<LabelMap, A::Error> {
                let mut v = Vec::new();
                while let Some((k, val)) = m.next_entry::<String, String>()? {
                    if v.len() >= MAX_LABELS {
                        return Err(de::Error::custom("too many labels"));
                    }
                    v.push((k, val));
                }
                Ok(LabelMap(v))
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn prometheus_client_python_output() {
        let text = "# HELP vllm:num_requests_running Number of requests in model execution batches.\n\
# TYPE vllm:num_requests_running gauge\n\
vllm:num_requests_running{engine=\"0\",model_name=\"m\"} 3.0\n\
# HELP vllm:prompt_tokens_total Number of prefill tokens processed.\n\
# TYPE vllm:prompt_tokens_total counter\n\
vllm:prompt_tokens_total{engine=\"0\",model_name=\"m\"} 1.234e+06\n\
# TYPE vllm:prompt_tokens_created gauge\n\
vllm:prompt_tokens_created{engine=\"0\",model_name=\"m\"} 1.7599e+09\n\
# TYPE vllm:e2e_request_latency_seconds histogram\n\
vllm:e2e_request_latency_seconds_bucket{engine=\"0\",le=\"0.3\",model_name=\"m\"} 1.0\n\
vllm:e2e_request_latency_seconds_bucket{engine=\"0\",le=\"+Inf\",model_name=\"m\"} 2.0\n\
vllm:e2e_request_latency_seconds_sum{engine=\"0\",model_name=\"m\"} 0.9\n";
        let e = parse(text).unwrap();
        assert_eq!(e.samples.len(), 6);
        assert_eq!(e.skipped_lines, 0);
        assert_eq!(e.samples[0].name, "vllm:num_requests_running");
        assert_eq!(e.samples[0].label("model_name"), Some("m"));
        assert_eq!(e.samples[1].value, 1.234e6);
        assert_eq!(e.type_of("vllm:prompt_tokens_total"), MetricType::Counter);
        assert_eq!(e.type_of("vllm:prompt_tokens_created"), MetricType::Gauge);
        assert_eq!(
            e.type_of("vllm:e2e_request_latency_seconds_bucket"),
            MetricType::Histogram
        );
        assert_eq!(e.type_of("vllm:e2e_request_latency_seconds_sum"), MetricType::Histogram);
        assert_eq!(e.samples[4].value, 2.0);
        assert_eq!(e.samples[4].label("le"), Some("+Inf"));
        assert_eq!(e.type_of("nope"), MetricType::Unknown);
    }

    #[test]
    fn openmetrics_names_exemplars_escapes_and_eof() {
        let text = "# TYPE foo counter\n# UNIT foo seconds\nfoo_total{a=\"x\\\"y\\\\z\\n\",} 17 1700000000.5 # {trace_id=\"t\"} 1.0\n\
foo_created 1.7e9\n{\"my.metric\",le=\"1\"} 3\n# EOF\nignored line that would not parse\n";
        let e = parse(text).unwrap();
        assert_eq!(e.samples.len(), 3, "{e:?}");
        assert_eq!(e.samples[0].label("a"), Some("x\"y\\z\n"));
        assert_eq!(e.samples[0].value, 17.0);
        assert_eq!(e.type_of("foo_total"), MetricType::Counter);
        assert_eq!(e.type_of("foo_created"), MetricType::Counter);
        assert_eq!(e.samples[2].name, "my.metric");
        assert_eq!(e.skipped_lines, 0);
    }

    #[test]
    fn go_float_spellings_and_bad_lines() {
        let e = parse("a NaN\nb +Inf\nc -Inf\nd 1e3\ne abc\nf{x=1} 2\ng{x=\"1\"}3\nh 1 2 3\n").unwrap();
        assert!(e.samples[0].value.is_nan());
        assert_eq!(e.samples[1].value, f64::INFINITY);
        assert_eq!(e.samples[2].value, f64::NEG_INFINITY);
        assert_eq!(e.samples[3].value, 1000.0);
        assert_eq!(e.samples.len(), 4);
        assert_eq!(e.skipped_lines, 4);
        assert!(e
            .first_skipped
            .as_deref()
            .unwrap()
            .starts_with("line 5: bad value 'abc'"));
    }

    #[test]
    fn other_bodies_are_rejected_in_one_line() {
        for (body, want) in [
            ("[{\"iter\": 1}]", "JSON"),
            ("  {\"error\": \"x\"}", "JSON"),
            ("<!DOCTYPE html><html>", "HTML"),
            ("not a metric at all\n", "line 1"),
        ] {
            let e = parse(body).unwrap_err();
            assert!(e.contains(want) && !e.contains('\n'), "{body}: {e}");
        }
        assert_eq!(parse("").unwrap().samples.len(), 0);
        assert_eq!(parse("# only comments\n").unwrap().samples.len(), 0);
    }

    #[test]
    fn samples_round_trip_through_json_with_non_finite_values() {
        let e = parse("x{b=\"2\",a=\"1\"} NaN\ny +Inf\nz 0.25\n").unwrap();
        let json = serde_json::to_string(&e.samples).unwrap();
        assert_eq!(json, r#"[["x",{"b":"2","a":"1"},"NaN"],["y",{},"+Inf"],["z",{},0.25]]"#);
        let back: Vec<Sample> = serde_json::from_str(&json).unwrap();
        assert_eq!(back[0].labels, e.samples[0].labels);
        assert!(back[0].value.is_nan());
        assert_eq!(back[1].value, f64::INFINITY);
        assert_eq!(back[2], e.samples[2]);
    }

    type Generated = (String, Vec<(String, String)>, f64);

    fn render(samples: &[Generated]) -> String {
        let mut s = String::new();
        for (n, labels, v) in samples {
            s.push_str(n);
            if !labels.is_empty() {
                s.push('{');
                for (i, (k, val)) in labels.iter().enumerate() {
                    if i > 0 {
                        s.push(',');
                    }
                    let esc = val.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
                    s.push_str(&format!("{k}=\"{esc}\""));
                }
                s.push('}');
            }
            s.push(' ');
            s.push_str(&fmt_value(*v));
            s.push('\n');
        }
        s
    }

    proptest! {
        /// Arbitrary bytes: `Ok` or a one-line error, never a panic.
        #[test]
        fn never_panics(body in "\\PC{0,400}") {
            match parse(&body) {
                Ok(e) => prop_assert!(e.samples.len() <= MAX_SAMPLES),
                Err(e) => prop_assert!(!e.contains('\n')),
            }
        }

        /// Lines built from the format's own characters (the interesting near-misses).
        #[test]
        fn grammar_soup_never_panics(body in "[a-z_:{}\"=,#\\\\ \\n0-9.eE+-]{0,300}") {
            let _ = parse(&body);
        }

        /// Whatever we write in the format, we read back exactly.
        #[test]
        fn rendered_samples_round_trip(samples in proptest::collection::vec(
            ("[a-zA-Z_:][a-zA-Z0-9_:]{0,20}",
             proptest::collection::vec(("[a-zA-Z_][a-zA-Z0-9_]{0,10}", "\\PC{0,12}"), 0..4),
             prop_oneof![any::<f64>(), Just(f64::INFINITY), Just(f64::NEG_INFINITY), -1e6f64..1e6]),
            0..20)) {
            let text = render(&samples);
            let e = parse(&text).unwrap();
            prop_assert_eq!(e.samples.len(), samples.len());
            prop_assert_eq!(e.skipped_lines, 0);
            for (got, (n, labels, v)) in e.samples.iter().zip(&samples) {
                prop_assert_eq!(&got.name, n);
                prop_assert_eq!(&got.labels, labels);
                prop_assert!(got.value == *v || (got.value.is_nan() && v.is_nan()));
            }
        }
    }
}
