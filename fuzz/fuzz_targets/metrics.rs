//! The Prometheus/OpenMetrics exposition parser and everything downstream of it, on arbitrary
//! text (a `/metrics` body is untrusted network data): no panic; what parses is bounded; every
//! accepted sample written back in the text format parses to the same sample; samples survive
//! the JSON of `server_metrics.jsonl`; normalization, two-scrape windows and the summary block
//! never panic on what the parser accepted.

#![no_main]

use infermeter::telemetry::concepts::extract;
use infermeter::telemetry::expo::{fmt_value, parse, Sample, MAX_SAMPLES};
use infermeter::telemetry::log::{ScrapeLine, ScrapeLog};
use infermeter::telemetry::server::{ClientView, ServerBlock};
use libfuzzer_sys::fuzz_target;

fn same(a: &Sample, b: &Sample) -> bool {
    a.name == b.name && a.labels == b.labels && (a.value == b.value || (a.value.is_nan() && b.value.is_nan()))
}

fn render(s: &Sample) -> String {
    let name_ok = s.name.bytes().enumerate().all(|(i, c)| {
        c.is_ascii_alphabetic() || c == b'_' || c == b':' || (i > 0 && c.is_ascii_digit())
    }) && !s.name.is_empty();
    let esc = |v: &str| v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
    let plain = |k: &str| {
        !k.is_empty()
            && k.bytes().enumerate().all(|(i, c)| c.is_ascii_alphabetic() || c == b'_' || (i > 0 && c.is_ascii_digit()))
    };
    let mut labels: Vec<String> = s
        .labels
        .iter()
        .map(|(k, v)| {
            if plain(k) {
                format!("{k}=\"{}\"", esc(v))
            } else {
                format!("\"{}\"=\"{}\"", esc(k), esc(v))
            }
        })
        .collect();
    let head = if name_ok {
        s.name.clone()
    } else {
        labels.insert(0, format!("\"{}\"", esc(&s.name)));
        String::new()
    };
    if labels.is_empty() {
        format!("{head} {}\n", fmt_value(s.value))
    } else {
        format!("{head}{{{}}} {}\n", labels.join(","), fmt_value(s.value))
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(e) = parse(&text) else { return };
    assert!(e.samples.len() <= MAX_SAMPLES);
    // Written back in the format, each sample reads back identically.
    for s in e.samples.iter().take(64) {
        let line = render(s);
        let back = parse(&line).unwrap_or_else(|err| panic!("{line:?}: {err}"));
        assert_eq!(back.samples.len(), 1, "{line:?}");
        assert!(same(&back.samples[0], s), "{line:?}: {:?} vs {s:?}", back.samples[0]);
    }
    // The JSON of server_metrics.jsonl keeps every sample.
    let json = serde_json::to_string(&e.samples).expect("serialize");
    let again: Vec<Sample> = serde_json::from_str(&json).expect("deserialize");
    assert_eq!(again.len(), e.samples.len());
    assert!(again.iter().zip(&e.samples).all(|(a, b)| same(a, b)));
    // Normalization, windows over two scrapes, and the summary block never panic.
    let _ = extract(&e);
    let mut log = ScrapeLog::default();
    for (tick, t) in [(0u64, 0i64), (1, 1_000_000)] {
        log.absorb(&ScrapeLine {
            t_us: t,
            tick,
            source: "http://fuzz/metrics".into(),
            types: e.types.clone(),
            samples: e.samples.clone(),
            ..Default::default()
        });
    }
    let client = ClientView {
        window: (0, 1_000_000),
        last_send: 500_000,
        steady: Some((100_000, 900_000)),
        ..Default::default()
    };
    let block = ServerBlock::compute(&log, &client, 0.5);
    let _ = serde_json::to_string(&block).expect("block serializes");
});
