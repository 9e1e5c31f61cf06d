use super::*;
use crate::metrics::health::RuntimeSamples;
use crate::record::{kind, TokenCount, TokenEvent};
use crate::report::build_summary;
use crate::shard::ClockEvidence;

const G: u64 = 1_780_000_000_000_000; // the global schedule's origin, UNIX µs
const REQUESTS: u64 = 40;

fn spec(n: u32) -> RunSpec {
    let mut s = RunSpec::default();
    s.target.url = Some("http://127.0.0.1:1".into());
    s.load.rate = Some(10.0);
    s.load.requests = Some(REQUESTS);
    s.shard.count = Some(n);
    s.shard.start_at = Some("2026-05-28T20:26:40Z".into());
    s
}

/// Request `j` of the single-process run: sent at `j × 100 ms` on the global timeline, TTFT
/// `10 + 3j mod 17` ms, 4 tokens 5 ms apart.
fn record(j: u64, before_origin_us: u64) -> RequestRecord {
    let t = j * 100_000 + before_origin_us;
    let ttft = 10_000 + (3 * j % 17) as u32 * 1000;
    RequestRecord {
        id: j,
        sched_us: t,
        start_us: t,
        send_us: t,
        hdr_us: Some(ttft - 1000),
        end_us: Some(ttft + 15_000),
        events: (0..4)
            .map(|i| TokenEvent::new(ttft + i * 5000, 1, kind::CONTENT))
            .collect(),
        input_tokens: TokenCount {
            server: Some(100),
            client: Some(100),
        },
        output_tokens: TokenCount {
            server: Some(4),
            client: Some(4),
        },
        max_tokens: 4,
        status: 200,
        ..Default::default()
    }
}

/// Shard `k` of `n`, whose clock origin was `lead_us` before the global origin.
fn part(spec: &RunSpec, k: u32, n: u32, lead_us: u64, saturated: bool) -> ShardRun {
    let mut s = spec.clone();
    s.shard.index = Some(k);
    let info = RunInfo {
        load_mode: "open".into(),
        request_rate: Some(10.0 / f64::from(n)),
        run_start_unix_us: Some(G - lead_us),
        request_id_prefix: format!("im-{k:08x}"),
        shard: Some(ShardInfo {
            index: k,
            count: n,
            index_source: "argument".into(),
            host: format!("host-{k}"),
            phase_start_us: Some(lead_us),
            start_late_ms: Some(0.0),
            clock: Some(ClockEvidence {
                source: "adjtimex".into(),
                synchronized: true,
                max_error_us: 1000 * (k as i64 + 1),
                est_error_us: 10,
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let records: Vec<RequestRecord> = (0..REQUESTS)
        .filter(|j| j % u64::from(n) == u64::from(k))
        .map(|j| record(j, lead_us))
        .collect();
    let runtime = RuntimeSamples {
        cpu_s: Some(0.5),
        wall_s: 4.0,
        cores: 2,
        ..Default::default()
    };
    let mut summary = build_summary(info.clone(), &records, &runtime, false);
    if saturated {
        summary.client.saturated = true;
        summary.client.saturated_reason = Some("CPU 95% of 2 cores > 90%".into());
    }
    let mut run_json = serde_json::to_value(crate::spec::file::for_run_json(&s)).unwrap();
    run_json["run"] = serde_json::to_value(&info).unwrap();
    ShardRun {
        dir: format!("out/shard-{k}"),
        run_json,
        info,
        summary: Some(summary),
        records,
    }
}

fn parts(n: u32) -> Vec<ShardRun> {
    let s = spec(n);
    (0..n)
        .map(|k| part(&s, k, n, 1000 + 7_000 * u64::from(k), false))
        .collect()
}

#[test]
fn merged_records_are_the_single_process_records_on_one_timeline() {
    let single: Vec<RequestRecord> = (0..REQUESTS).map(|j| record(j, 0)).collect();
    let whole = crate::metrics::compute(&single);
    for n in [1, 2, 4] {
        let m = merge(parts(n), false).unwrap();
        assert_eq!(m.records.len() as u64, REQUESTS, "n={n}");
        // Every record on the merged timeline: the single run's, shifted by the earliest lead.
        let lead = 1000 + 7000 * u64::from(n - 1);
        let mut ids: Vec<u64> = m.records.iter().map(|r| r.id).collect();
        ids.sort_unstable();
        assert_eq!(ids, (0..REQUESTS).collect::<Vec<_>>());
        for r in &m.records {
            let mut want = record(r.id, lead);
            want.warmup = r.warmup;
            assert_eq!(*r, want, "n={n} id {}", r.id);
        }
        // Completion order.
        assert!(m.records.windows(2).all(|w| w[0].end_abs_us() <= w[1].end_abs_us()));
        // Metrics from the merged records are the single process's, exactly.
        let got = crate::metrics::compute(&m.records);
        assert_eq!(got.latency_ms, whole.latency_ms, "n={n}");
        assert_eq!(got.duration_s, whole.duration_s);
        assert_eq!(got.throughput, whole.throughput);
        assert_eq!(m.info.merged, (0..n).collect::<Vec<_>>());
        assert!(m.partial.is_empty());
        assert_eq!(m.spec.shard, Default::default());
        assert_eq!(m.info.origin_unix_us, G - lead);
        assert_eq!(m.runtime.cores, 2 * n as usize);
        assert_eq!(m.runtime.cpu_s, Some(0.5 * f64::from(n)));
        // All measured phases began at the global origin.
        assert_eq!(m.info.start_spread_ms, (n > 1).then_some(0.0));
        for h in &m.info.shards {
            assert_eq!(h.phase_start_ms, Some(lead as f64 / 1000.0));
        }
        // Clock bound: the two largest max errors (n and n-1 ms).
        let bound = if n == 1 { 1.0 } else { f64::from(2 * n - 1) };
        assert_eq!(m.info.clock_bound_ms, Some(bound));
    }
}

#[test]
fn percentiles_are_not_averages_of_the_shards() {
    // The shards' own p99 TTFTs, averaged, differ from the merged p99: the merge does not
    // average (a sanity check that this test data can tell the two apart).
    let ps = parts(4);
    let avg: f64 = ps
        .iter()
        .map(|p| p.summary.as_ref().unwrap().metrics.latency_ms.ttft.p99)
        .sum::<f64>()
        / 4.0;
    let m = merge(ps, false).unwrap();
    let merged = crate::metrics::compute(&m.records).latency_ms.ttft.p99;
    assert!((avg - merged).abs() > 0.1, "avg {avg} merged {merged}");
}

#[test]
fn refusals_are_one_line_and_name_the_reason() {
    let one_line = |r: Result<Merged, String>| {
        let e = r.expect_err("refused");
        assert!(!e.contains('\n'), "{e}");
        e
    };
    // Different specifications: the key is named.
    let mut ps = parts(2);
    let mut other = spec(2);
    other.load.rate = Some(20.0);
    ps[1] = part(&other, 1, 2, 0, false);
    let e = one_line(merge(ps, false));
    assert!(
        e.contains("not shards of one specification: load.rate is 20.0 in out/shard-1 but 10.0"),
        "{e}"
    );
    // Another seed is another workload.
    let mut ps = parts(2);
    let mut other = spec(2);
    other.seed = 9;
    ps[1] = part(&other, 1, 2, 0, false);
    assert!(one_line(merge(ps, false)).contains("seed"));
    // A duplicate.
    let mut ps = parts(2);
    ps.push(part(&spec(2), 1, 2, 5, false));
    assert!(one_line(merge(ps, false)).contains("shard 1 appears twice"));
    // A missing shard, unless --allow-partial, which says so.
    let mut ps = parts(4);
    ps.remove(2);
    let e = one_line(merge(ps.clone(), false));
    assert!(
        e.contains("shard 2 of 4 is missing") && e.contains("--allow-partial"),
        "{e}"
    );
    let m = merge(ps, true).unwrap();
    assert_eq!(m.info.missing, vec![2]);
    assert_eq!(m.records.len() as u64, REQUESTS - REQUESTS / 4);
    assert!(
        m.partial[0].contains("merged 3 of 4 shards (--allow-partial): missing 2"),
        "{:?}",
        m.partial
    );
    // An unfinished shard (no summary.json).
    let mut ps = parts(2);
    ps[0].summary = None;
    assert!(one_line(merge(ps.clone(), false)).contains("did not finish"));
    let m = merge(ps, true).unwrap();
    assert_eq!(m.info.unfinished, vec![0]);
    assert!(m.partial.iter().any(|p| p.contains("did not finish")));
    // A record that another shard should have sent.
    let mut ps = parts(2);
    ps[0].records.push(record(1, 0));
    assert!(one_line(merge(ps, false)).contains("request 1 belongs to shard 1, not shard 0"));
    // Not a shard at all; no anchor.
    let mut ps = parts(2);
    ps[1].info.shard = None;
    assert!(one_line(merge(ps, false)).contains("not a shard of a sharded run"));
    let mut ps = parts(2);
    ps[1].info.run_start_unix_us = None;
    assert!(one_line(merge(ps, false)).contains("no wall-clock anchor"));
    assert!(one_line(merge(Vec::new(), false)).contains("nothing to merge"));
}

#[test]
fn saturated_shards_are_flagged() {
    let s = spec(3);
    let ps = vec![
        part(&s, 0, 3, 0, false),
        part(&s, 1, 3, 0, true),
        part(&s, 2, 3, 0, false),
    ];
    let m = merge(ps, false).unwrap();
    assert_eq!(m.info.saturated, vec![1]);
    let mut client = ClientHealth::default();
    flag_saturated_shards(&mut client, &m.info);
    assert!(client.saturated);
    assert_eq!(
        client.saturated_reason.as_deref(),
        Some("shard 1 (host-1): CPU 95% of 2 cores > 90%")
    );
    let mut fine = ClientHealth::default();
    flag_saturated_shards(&mut fine, &merge(parts(2), false).unwrap().info);
    assert!(!fine.saturated && fine.saturated_reason.is_none());
}

#[test]
fn closed_loop_ownership_follows_the_workers() {
    // 5 workers over 2 shards, 2 warm-up requests: shard 0 owns measured slots 0, 2, 4 of
    // every 5 and warm-up request 0.
    let mut s = spec(2);
    s.load.rate = None;
    s.load.concurrency = Some(5);
    s.load.warmup = "2".into();
    let mut ps: Vec<ShardRun> = (0..2).map(|k| part(&s, k, 2, 0, false)).collect();
    for (k, p) in ps.iter_mut().enumerate() {
        let part = Partition::slots(
            Shard {
                index: k as u32,
                count: 2,
            },
            5,
        );
        let mut recs: Vec<RequestRecord> = (0..part.owned_below(REQUESTS))
            .map(|n| record(2 + part.nth(n), 0))
            .collect();
        let mut w = record(k as u64, 0);
        w.warmup = true;
        recs.push(w);
        p.records = recs;
    }
    let m = merge(ps.clone(), false).unwrap();
    assert_eq!(m.records.len() as u64, REQUESTS + 2);
    ps[0].records.push(record(2 + 1, 0)); // measured slot 1 is shard 1's
    assert!(merge(ps, false).unwrap_err().contains("request 3 belongs to shard 1"));
}

#[test]
fn differences_are_found_at_their_key() {
    let a = serde_json::json!({"load": {"rate": 1, "requests": 5}, "seed": 0});
    let b = serde_json::json!({"load": {"rate": 1}, "seed": 0});
    assert_eq!(
        first_difference(&a, &b),
        Some(("load.requests".into(), "5".into(), "absent".into()))
    );
    assert_eq!(first_difference(&a, &a), None);
}
