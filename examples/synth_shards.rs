//! The shard run directories of one sharded run, synthesized at any size, for measuring what a
//! merge costs (`scripts/merge-cost.sh`) without running a benchmark of 10⁶ requests.
//!
//! Writes `OUT/shard-K` for K = 0..N: `run.json` (the specification with `shard`, and the run
//! facts with a wall-clock anchor), `records.jsonl` and `summary.json`, in the formats `bench`
//! writes them (through the library's own types). The run is an open loop at 1,000 req/s:
//! request `j` belongs to shard `j mod N`, TTFT 20–60 ms, `TOKENS` output tokens 4–6 ms apart,
//! one per event. Each shard's clock origin is a few ms off the others', as on real machines.
//!
//! Run with: `cargo run --release --example synth_shards OUT N RECORDS [TOKENS]`

use infermeter::metrics::health::RuntimeSamples;
use infermeter::record::{kind, write_jsonl, RequestRecord, TokenCount, TokenEvent};
use infermeter::report::{build_summary, RunInfo};
use infermeter::shard::{ClockEvidence, ShardInfo};
use infermeter::spec::RunSpec;
use infermeter::util::Rng;
use std::io::Write;
use std::path::PathBuf;

const ORIGIN_US: u64 = 1_780_000_000_000_000;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!("usage: synth_shards OUT N RECORDS [TOKENS]");
        std::process::exit(2);
    }
    let out = PathBuf::from(&args[1]);
    let parse = |i: usize, default: u64| args.get(i).and_then(|s| s.parse::<u64>().ok()).unwrap_or(default);
    let (n, total, tokens) = (parse(2, 8).max(1), parse(3, 1_000_000), parse(4, 64).max(1));
    let mut spec = RunSpec::default();
    spec.target.url = Some("http://127.0.0.1:8000".into());
    spec.load.rate = Some(1000.0);
    spec.load.requests = Some(total);
    spec.shard.count = Some(n as u32);
    spec.shard.start_at = Some(infermeter::shard::format_utc(ORIGIN_US));
    for k in 0..n {
        let dir = out.join(format!("shard-{k}"));
        std::fs::create_dir_all(&dir).expect("create shard directory");
        // This shard's clock origin: 5 s before the start, plus a few ms of its own.
        let lead = 5_000_000 + k * 1_731;
        let info = RunInfo {
            target: "http://127.0.0.1:8000".into(),
            model: "synthetic".into(),
            api: "completions".into(),
            stream: true,
            load_mode: "open".into(),
            request_rate: Some(1000.0 / n as f64),
            arrival: Some("poisson".into()),
            requests: Some(total / n + u64::from(k < total % n)),
            seed: 0,
            run_start_unix_us: Some(ORIGIN_US - lead),
            shard: Some(ShardInfo {
                index: k as u32,
                count: n as u32,
                index_source: "JOB_COMPLETION_INDEX".into(),
                host: format!("synthetic-{k}"),
                start_at: spec.shard.start_at.clone(),
                phase_start_us: Some(lead),
                start_late_ms: Some(0.0),
                clock: Some(ClockEvidence {
                    source: "adjtimex".into(),
                    synchronized: true,
                    max_error_us: 2_000,
                    est_error_us: 100,
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let mut shard_spec = spec.clone();
        shard_spec.shard.index = Some(k as u32);
        let mut run_json = serde_json::to_value(infermeter::spec::file::for_run_json(&shard_spec)).expect("spec");
        run_json["run"] = serde_json::to_value(&info).expect("info");
        std::fs::write(
            dir.join("run.json"),
            serde_json::to_vec_pretty(&run_json).expect("json"),
        )
        .expect("run.json");

        let mut rng = Rng::new(k);
        let records: Vec<RequestRecord> = (k..total)
            .step_by(n as usize)
            .map(|j| {
                let t = lead + j * 1000;
                let ttft = 20_000 + rng.below(40_000) as u32;
                let mut at = ttft;
                let events: Vec<TokenEvent> = (0..tokens)
                    .map(|i| {
                        if i > 0 {
                            at += 4_000 + rng.below(2_000) as u32;
                        }
                        TokenEvent::new(at, 1, kind::CONTENT)
                    })
                    .collect();
                RequestRecord {
                    id: j,
                    sched_us: t,
                    start_us: t + 20,
                    send_us: t + 40,
                    hdr_us: Some(ttft - 500),
                    end_us: Some(at + 300),
                    frames: tokens as u32 + 2,
                    bytes: 150 * tokens,
                    events,
                    input_tokens: TokenCount {
                        server: Some(512),
                        client: Some(512),
                    },
                    output_tokens: TokenCount {
                        server: Some(tokens as u32),
                        client: Some(tokens as u32),
                    },
                    max_tokens: tokens as u32,
                    status: 200,
                    finish_reason: Some("length".into()),
                    ..Default::default()
                }
            })
            .collect();
        let f = std::fs::File::create(dir.join("records.jsonl")).expect("records.jsonl");
        let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
        for r in &records {
            write_jsonl(&mut w, r).expect("write record");
        }
        w.flush().expect("flush");
        let runtime = RuntimeSamples {
            cpu_s: Some(1.0),
            wall_s: (total / n) as f64 / 1000.0 * n as f64,
            cores: 4,
            probe_lateness_ms: vec![0.1; 100],
            ..Default::default()
        };
        let summary = build_summary(info, &records, &runtime, false);
        infermeter::report::write_json(&dir.join("summary.json"), &summary).expect("summary.json");
        eprintln!("{}: {} records", dir.display(), records.len());
    }
}
