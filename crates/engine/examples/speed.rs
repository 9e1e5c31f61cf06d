//! Measures how fast the engine simulates: one simulated hour at 20 req/s
//! (72k requests, ~1k prompt / ~200 output tokens, 10% sharing a 512-token
//! system prompt), with and without per-token time recording.
//!
//! Run: `cargo run --release --example speed [-- <hours> <rate> <num_gpu_blocks>]`

use infermeter_engine::*;
use std::time::Instant;

fn workload(hours: f64, rate: f64, seed: u64) -> Vec<Request> {
    let mut rng = Rng::new(seed);
    let system: Vec<u64> = (0..32).map(|b| 0x5157_0000 + b).collect();
    let mut t = 0.0;
    let mut reqs = Vec::new();
    let mut id = 0;
    loop {
        t += rng.exp(rate);
        if t >= hours * 3600.0 {
            break;
        }
        let prompt = rng.range_u32(512, 1536);
        let out = rng.range_u32(100, 300);
        let mut r = Request::new(id, t, prompt, out);
        if rng.range_u32(0, 9) == 0 {
            r.prefix_block_hashes = system.clone();
        }
        reqs.push(r);
        id += 1;
    }
    reqs
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let hours: f64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(1.0);
    let rate: f64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(20.0);
    let blocks: u32 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(20_000);
    let cfg = EngineConfig::new(blocks, 8192);
    let timer = LinearTimer::default();
    for record in [false, true] {
        let reqs = workload(hours, rate, 1);
        let n = reqs.len();
        let t0 = Instant::now();
        let res = run_offline_with(
            cfg.clone(),
            timer,
            reqs,
            OfflineOptions {
                record_token_times: record,
            },
        )
        .expect("valid config");
        let wall = t0.elapsed().as_secs_f64();
        let s = &res.stats;
        let mean_ttft = res.traces.iter().filter_map(|t| t.ttft_s()).sum::<f64>() / n as f64;
        println!(
            "record_token_times={record}: {n} requests, {} steps, {:.0} s simulated in {wall:.2} s wall \
             => {:.0} simulated requests/s, {:.0} steps/s, {:.0}x real time",
            s.num_steps,
            res.makespan_s(),
            n as f64 / wall,
            s.num_steps as f64 / wall,
            res.makespan_s() / wall,
        );
        println!(
            "    output {:.0} tok/s, mean TTFT {:.1} ms, preemptions {}, prefix hit rate {:.1}%, busy {:.0}%",
            res.output_throughput_tok_s(),
            mean_ttft * 1e3,
            s.num_preemptions,
            100.0 * s.prefix_cache_hits as f64 / s.prefix_cache_queries.max(1) as f64,
            100.0 * s.busy_time_s / res.makespan_s(),
        );
    }
}
