//! The scraper's CPU cost per scrape, for docs/performance.md: serves an exposition on loopback
//! (a fixture file, repeated), scrapes it `ROUNDS` times with the real scraper thread, and
//! reports the thread's CPU time per round; then times parsing + normalizing alone.
//!
//! ```sh
//! cargo run --release --example scrape_cost -- tests/fixtures/metrics/vllm.txt 400 [COPIES]
//! ```
//!
//! `COPIES` > 1 serves the exposition that many times with an extra `replica` label per copy
//! (a larger body, e.g. 8 data-parallel engines). Nothing is written to the repository: the
//! scrape lines go to a temporary file.

use infermeter::telemetry::{concepts, expo, scraper};
use std::time::{Duration, Instant};

fn relabel(text: &str, copies: usize) -> String {
    if copies <= 1 {
        return text.to_string();
    }
    let mut out = String::new();
    for i in 0..copies {
        for line in text.lines() {
            if line.starts_with('#') && i > 0 {
                continue;
            }
            if line.starts_with('#') || line.is_empty() {
                out.push_str(line);
            } else if let Some(p) = line.find('{') {
                out.push_str(&format!("{}{{replica=\"{i}\",{}", &line[..p], &line[p + 1..]));
            } else if let Some(p) = line.find(' ') {
                out.push_str(&format!("{}{{replica=\"{i}\"}}{}", &line[..p], &line[p..]));
            }
            out.push('\n');
        }
    }
    out
}

fn thread_cpu_s() -> f64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: a valid, writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| "tests/fixtures/metrics/vllm.txt".into());
    let rounds: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(400);
    let copies: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(1);
    let body = relabel(&std::fs::read_to_string(&path).expect("fixture"), copies);
    let lines = body.lines().filter(|l| !l.starts_with('#') && !l.is_empty()).count();
    let body: &'static str = Box::leak(body.into_boxed_str());
    let app = axum::Router::new().route("/metrics", axum::routing::get(move || async move { body }));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(l, app).await;
    });

    let url = scraper::MetricsUrl::parse(&format!("http://{addr}/metrics")).unwrap();
    let mut cfg = scraper::ScraperConfig::new(vec![url], Duration::from_secs(3600), Instant::now());
    cfg.warn = Box::new(|w| eprintln!("{w}"));
    let tmp = std::env::temp_dir().join(format!("scrape_cost_{}.jsonl", std::process::id()));
    let file = std::fs::File::create(&tmp).unwrap();
    let s = scraper::Scraper::spawn(cfg, Box::new(file)).unwrap();
    let t0 = Instant::now();
    for _ in 1..rounds.saturating_sub(1) {
        s.scrape_now().await;
    }
    let log = s.finish().await;
    let wall = t0.elapsed().as_secs_f64();
    let bytes = std::fs::metadata(&tmp).map(|m| m.len()).unwrap_or(0);
    let _ = std::fs::remove_file(&tmp);
    let cpu = log.scraper_cpu_s.unwrap_or(f64::NAN);
    println!(
        "{path} ×{copies}: {} KiB, {lines} samples; {} rounds, scraper thread CPU {:.3} ms/round (wall {:.3} ms/round incl. the server's side), {:.1} KiB written/round, mean scrape latency {:.3} ms",
        body.len() / 1024,
        log.rounds,
        cpu * 1000.0 / log.rounds as f64,
        wall * 1000.0 / log.rounds as f64,
        bytes as f64 / 1024.0 / log.rounds as f64,
        log.sources[0].latency_ms_mean
    );

    // Parsing and normalizing alone (what every round does once per endpoint).
    let n = 200;
    let c0 = thread_cpu_s();
    for _ in 0..n {
        let e = expo::parse(body).unwrap();
        std::hint::black_box(concepts::extract(&e));
    }
    let per = (thread_cpu_s() - c0) / n as f64;
    println!("  parse + normalize alone: {:.3} ms per exposition", per * 1000.0);
}
