//! Server and GPU telemetry through the library's public API: every engine's exposition (the
//! real llama.cpp server's, captured, and byte-format imitations of the engines that cannot run
//! here) normalizes to the documented concepts; the scraper survives unreachable, disabled,
//! malformed and JSON endpoints over loopback, warning once each and recording why; NVML is
//! loaded at run time from a stand-in library built from C source.

use axum::http::header;
use axum::routing::get;
use axum::Router;
use infermeter::telemetry::concepts::{extract, Concept, Engine};
use infermeter::telemetry::expo::parse;
use infermeter::telemetry::gpu::GpuBlock;
use infermeter::telemetry::log::{ScrapeLine, ScrapeLog, NVML_SOURCE};
use infermeter::telemetry::nvml::Nvml;
use infermeter::telemetry::scraper::{MetricsUrl, Scraper, ScraperConfig};
use infermeter::telemetry::server::{ClientView, ConceptStats, ServerBlock};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn fixture(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/metrics")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn close(a: Option<f64>, b: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() <= 1e-9 * b.abs().max(1.0))
}

#[test]
fn every_engine_fixture_normalizes_to_the_documented_concepts() {
    let mib = 1024.0 * 1024.0;
    // (file, engines, [(concept, value)], histogram concept → observation count)
    type Case = (&'static str, Vec<Engine>, Vec<(Concept, f64)>, Vec<(Concept, f64)>);
    let cases: Vec<Case> = vec![
        (
            "vllm.txt",
            vec![Engine::Vllm],
            vec![
                (Concept::Running, 12.0),
                (Concept::Waiting, 3.0),
                (Concept::KvCacheUsage, 0.4231),
                (Concept::KvCacheCapacityTokens, 27264.0 * 16.0),
                (Concept::KvCacheUsedTokens, 0.4231 * 27264.0 * 16.0),
                (Concept::Preemptions, 7.0),
                (Concept::PromptTokens, 1_234_567.0),
                (Concept::GenerationTokens, 456_789.0),
                (Concept::RequestsFinished, 1000.0),
                (Concept::PrefixCacheHits, 345_600.0),
                (Concept::PrefixCacheQueries, 1_234_567.0),
            ],
            vec![
                (Concept::Ttft, 100.0),
                (Concept::Itl, 1000.0),
                (Concept::E2e, 100.0),
                (Concept::QueueTime, 100.0),
            ],
        ),
        (
            "vllm_v0.txt",
            vec![Engine::Vllm],
            vec![
                (Concept::Running, 4.0),
                (Concept::Waiting, 1.0),
                (Concept::KvCacheUsage, 0.875),
                (Concept::KvCacheCapacityTokens, 2170.0 * 16.0),
                (Concept::Preemptions, 2.0),
                (Concept::GenerationTokens, 24000.0),
            ],
            vec![(Concept::Ttft, 100.0), (Concept::Itl, 1000.0), (Concept::E2e, 100.0)],
        ),
        (
            "sglang.txt",
            vec![Engine::Sglang],
            vec![
                (Concept::Running, 24.0),
                (Concept::Waiting, 6.0),
                (Concept::KvCacheUsage, 0.24),
                (Concept::KvCacheCapacityTokens, 409_600.0),
                (Concept::KvCacheUsedTokens, 98_304.0),
                (Concept::Preemptions, 11.0),
                (Concept::PrefixCacheHits, 2_520_000.0),
                (Concept::PrefixCacheQueries, 8_128_902.0),
                (Concept::PromptTokens, 8_128_902.0),
                (Concept::GenerationTokens, 7_557_572.0),
                (Concept::RequestsFinished, 29_660.0),
            ],
            vec![
                (Concept::Ttft, 100.0),
                (Concept::Itl, 1000.0),
                (Concept::E2e, 100.0),
                (Concept::QueueTime, 100.0),
            ],
        ),
        (
            "trtllm.txt",
            vec![Engine::TensorrtLlm],
            vec![
                (Concept::Running, 32.0),
                (Concept::Waiting, 0.0),
                (Concept::KvCacheUsage, 0.5),
                (Concept::KvCacheCapacityTokens, 4096.0 * 32.0),
                (Concept::KvCacheUsedTokens, 2048.0 * 32.0),
                (Concept::RequestsFinished, 200.0),
                (Concept::PromptTokens, 204_800.0),
                (Concept::PrefixCacheHits, 40_960.0),
                (Concept::GpuMemoryUsedBytes, 7.2e10),
            ],
            vec![
                (Concept::Ttft, 100.0),
                (Concept::Itl, 1000.0),
                (Concept::QueueTime, 100.0),
            ],
        ),
        (
            "tgi.txt",
            vec![Engine::Tgi],
            vec![
                (Concept::Running, 32.0),
                (Concept::Waiting, 5.0),
                (Concept::PromptTokens, 512.0 * 1500.0),
                (Concept::GenerationTokens, 100.0 * 1500.0),
                (Concept::RequestsFinished, 1500.0),
            ],
            vec![
                (Concept::E2e, 1500.0),
                (Concept::QueueTime, 1500.0),
                (Concept::Tpot, 1500.0),
            ],
        ),
        (
            "dcgm.txt",
            vec![Engine::Dcgm],
            vec![
                (Concept::GpuMemoryUsedBytes, (73520.0 + 40948.0) * mib),
                (Concept::GpuMemoryTotalBytes, 2.0 * 81559.0 * mib),
                (Concept::GpuUtilization, (0.98 + 0.41) / 2.0),
                (Concept::GpuPowerW, 512.341 + 287.509),
                (Concept::GpuEnergyJ, (8_721_550_213.0 + 5_120_043_988.0) / 1000.0),
            ],
            vec![],
        ),
        (
            "llamacpp-real.txt",
            vec![Engine::LlamaCpp],
            vec![
                (Concept::Running, 0.0),
                (Concept::Waiting, 0.0),
                // prompt_tokens_total excludes cached tokens: 13 + 2 cached = the 7 + 8 sent
                (Concept::PromptTokens, 15.0),
                (Concept::GenerationTokens, 16.0),
                (Concept::PrefixCacheHits, 2.0),
                (Concept::PrefixCacheQueries, 15.0),
            ],
            vec![],
        ),
    ];
    for (file, engines, values, hists) in cases {
        let e = parse(&fixture(file)).unwrap_or_else(|err| panic!("{file}: {err}"));
        assert_eq!(e.skipped_lines, 0, "{file}: {:?}", e.first_skipped);
        let f = extract(&e);
        assert_eq!(f.engines, engines, "{file}");
        for (c, v) in values {
            assert!(close(f.value(c), v), "{file}: {c:?} = {:?}, expected {v}", f.value(c));
        }
        for (c, n) in hists {
            let h = f.hist(c).unwrap_or_else(|| panic!("{file}: no {c:?} histogram"));
            assert_eq!(h.count, n, "{file}: {c:?}");
            assert_eq!(*h.cumulative.last().unwrap(), n, "{file}: {c:?} +Inf bucket");
            assert!(h.bounds.windows(2).all(|w| w[0] < w[1]), "{file}: {c:?} bounds sorted");
        }
    }
    // Which name each engine's version used.
    let v0 = extract(&parse(&fixture("vllm_v0.txt")).unwrap());
    assert_eq!(v0.sources[&Concept::KvCacheUsage], "vllm:gpu_cache_usage_perc");
    assert_eq!(v0.sources[&Concept::Itl], "vllm:time_per_output_token_seconds");
    let v1 = extract(&parse(&fixture("vllm.txt")).unwrap());
    assert_eq!(v1.sources[&Concept::KvCacheUsage], "vllm:kv_cache_usage_perc");
    assert_eq!(v1.sources[&Concept::Itl], "vllm:inter_token_latency_seconds");
    let dcgm = extract(&parse(&fixture("dcgm.txt")).unwrap());
    assert_eq!(dcgm.gpus.len(), 2);
    assert!(close(dcgm.gpus[0].memory_total_bytes, 81559.0 * mib));
    assert_eq!(dcgm.gpus[0].name.as_deref(), Some("NVIDIA H100 80GB HBM3"));
}

#[test]
fn llama_cpp_has_no_kv_gauge_and_the_block_says_so_instead_of_zero() {
    let e = parse(&fixture("llamacpp-real.txt")).unwrap();
    let mut log = ScrapeLog::default();
    for (t, tick) in [(0i64, 0u64), (1_000_000, 1)] {
        log.absorb(&ScrapeLine {
            t_us: t,
            tick,
            source: "http://127.0.0.1:8080/metrics".into(),
            types: e.types.clone(),
            samples: e.samples.clone(),
            ..Default::default()
        });
    }
    let b = ServerBlock::compute(
        &log,
        &ClientView {
            window: (0, 1_000_000),
            ..Default::default()
        },
        0.5,
    );
    assert!(b.available);
    assert_eq!(b.engine, Some(Engine::LlamaCpp));
    let why = &b.unavailable["kv_cache_usage"];
    assert!(why.contains("no KV-cache gauge") && why.contains("13660"), "{why}");
    assert!(b.unavailable["ttft_ms"].contains("client-side only"));
    let total = b.total.unwrap();
    assert!(total.get(Concept::KvCacheUsage).is_none());
    assert!(matches!(total.get(Concept::Running), Some(ConceptStats::Gauge { .. })));
}

/// Serves `/metrics` variants on loopback; returns the base URL.
async fn serve(app: Router) -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(l, app).await;
    });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scraper_survives_bad_endpoints_and_records_every_scrape() {
    let hits = Arc::new(AtomicU64::new(0));
    let h = hits.clone();
    let good = Router::new()
        .route(
            "/metrics",
            get(move || {
                let n = h.fetch_add(1, Ordering::SeqCst);
                async move {
                    format!(
                        "# TYPE vllm:generation_tokens_total counter\nvllm:generation_tokens_total{{engine=\"0\"}} {}\n\
                         vllm:num_requests_running{{engine=\"0\"}} 2\n",
                        n * 10
                    )
                }
            }),
        )
        .route("/garbage", get(|| async { "this is not metrics\nnor this\n" }))
        .route(
            "/partial",
            get(|| async { "vllm:num_requests_running 1\nbroken{ line\nvllm:num_requests_waiting 4\n" }),
        )
        .route(
            "/nope/metrics",
            get(|| async { (axum::http::StatusCode::NOT_FOUND, "Not Found") }),
        );
    let base = serve(good).await;
    let trt = serve(
        Router::new()
            .route(
                "/metrics",
                get(|| async { ([(header::CONTENT_TYPE, "application/json")], "[{\"iter\": 1}]") }),
            )
            .route("/prometheus/metrics", get(|| async { fixture("trtllm.txt") })),
    )
    .await;
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let a = l.local_addr().unwrap();
        drop(l);
        format!("http://{a}/metrics")
    };
    let urls: Vec<MetricsUrl> = [
        format!("{base}/metrics"),
        format!("{base}/garbage"),
        format!("{base}/partial"),
        format!("{base}/nope/metrics"),
        trt.clone(),
        dead.clone(),
    ]
    .iter()
    .map(|u| MetricsUrl::parse(u).unwrap())
    .collect();
    let warnings = Arc::new(Mutex::new(Vec::<String>::new()));
    let w = warnings.clone();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("server_metrics.jsonl");
    let mut cfg = ScraperConfig::new(urls, Duration::from_secs(3600), Instant::now());
    cfg.warn = Box::new(move |s| w.lock().unwrap().push(s));
    let rounds = Arc::new(AtomicU64::new(0));
    let r = rounds.clone();
    cfg.on_round = Some(Box::new(move |_| {
        r.fetch_add(1, Ordering::SeqCst);
    }));
    let scraper = Scraper::spawn(cfg, Box::new(std::fs::File::create(&path).unwrap())).unwrap();
    // The baseline round ran at spawn; two more at "phase boundaries", one at finish.
    scraper.scrape_now().await;
    scraper.scrape_now().await;
    let log = scraper.finish().await;
    assert_eq!(log.rounds, 4);
    assert_eq!(rounds.load(Ordering::SeqCst), 4);
    let st = |suffix: &str| {
        log.sources
            .iter()
            .find(|s| s.url.ends_with(suffix))
            .unwrap_or_else(|| panic!("no source {suffix}: {:?}", log.sources))
    };
    let good = log.sources.iter().find(|s| s.url == format!("{base}/metrics")).unwrap();
    assert_eq!((good.scrapes_ok, good.scrapes_failed), (4, 0));
    assert_eq!(good.engines, vec![Engine::Vllm]);
    let garbage = st("/garbage");
    assert_eq!(
        (garbage.scrapes_ok, garbage.scrapes_failed),
        (0, 3),
        "disabled after 3 failures"
    );
    assert!(garbage
        .first_error
        .as_deref()
        .unwrap()
        .starts_with("not Prometheus text: line 1"));
    let partial = st("/partial");
    assert_eq!((partial.scrapes_ok, partial.skipped_lines), (4, 4));
    let nope = st("/nope/metrics");
    assert_eq!((nope.scrapes_ok, nope.scrapes_failed), (0, 1), "404: not scraped again");
    assert!(nope.first_error.as_deref().unwrap().contains("HTTP 404"), "{nope:?}");
    let t = log.sources.iter().find(|s| s.url == format!("{trt}/metrics")).unwrap();
    assert_eq!((t.scrapes_ok, t.scrapes_failed), (4, 0), "{t:?}");
    assert_eq!(t.engines, vec![Engine::TensorrtLlm]);
    let d = log.sources.iter().find(|s| s.url == dead).unwrap();
    assert_eq!(
        (d.scrapes_ok, d.scrapes_failed),
        (0, 3),
        "retried 3 rounds, then every 10th"
    );
    assert!(d.first_error.as_deref().unwrap().contains("connect"), "{d:?}");
    // The counter climbed 0, 10, 20, 30 across the four rounds.
    let gen: Vec<f64> = log
        .frames
        .iter()
        .filter(|f| log.sources[f.source].url == format!("{base}/metrics"))
        .filter_map(|f| f.frame.value(Concept::GenerationTokens))
        .collect();
    assert_eq!(gen, vec![0.0, 10.0, 20.0, 30.0]);
    assert_eq!(hits.load(Ordering::SeqCst), 4);
    // One warning per bad endpoint, one line each.
    let w = warnings.lock().unwrap().clone();
    assert_eq!(w.len(), 4, "{w:#?}");
    assert!(w
        .iter()
        .all(|l| l.starts_with("warning: server metrics: ") && !l.contains('\n')));
    assert!(w.iter().any(|l| l.contains("/partial") && l.contains("did not parse")));
    // The file holds every scrape and rebuilds the same statuses.
    let back = ScrapeLog::read(&path).unwrap();
    assert_eq!(back.bad_lines, 0);
    assert_eq!(back.frames.len(), log.frames.len());
    for s in &log.sources {
        let b = back.sources.iter().find(|x| x.url == s.url).unwrap();
        assert_eq!(
            (b.scrapes_ok, b.scrapes_failed, &b.engines),
            (s.scrapes_ok, s.scrapes_failed, &s.engines)
        );
    }
    assert!(log.scraper_cpu_s.is_some());
}

fn build_fake_nvml(dir: &Path) -> Option<PathBuf> {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/nvml/fake_nvml.c");
    let out = dir.join("libfake_nvml.so");
    match std::process::Command::new("cc")
        .args(["-shared", "-fPIC", "-O1", "-o"])
        .arg(&out)
        .arg(&src)
        .status()
    {
        Ok(s) if s.success() => Some(out),
        other => {
            crate::util::skip_missing(
                "NVML stand-in",
                &format!("cannot build tests/fixtures/nvml/fake_nvml.c with cc ({other:?})"),
            );
            None
        }
    }
}

#[test]
fn nvml_is_loaded_at_run_time_and_unsupported_fields_are_left_out() {
    let dir = tempfile::tempdir().unwrap();
    let Some(lib) = build_fake_nvml(dir.path()) else {
        return;
    };
    let nvml = Nvml::load_from(&[lib.to_str().unwrap()]).unwrap();
    assert_eq!(nvml.devices.len(), 2);
    assert_eq!(nvml.devices[0].name, "NVIDIA H100 80GB HBM3 (fake)");
    assert_eq!(nvml.devices[1].uuid, "GPU-fake-0001");
    let gib = 1024.0 * 1024.0 * 1024.0;
    let mut log = ScrapeLog::default();
    for tick in 0..3u64 {
        let gpus = nvml.poll();
        assert_eq!(gpus[0].memory_used_bytes, Some(72.0 * gib));
        assert_eq!(gpus[0].utilization, Some(0.75));
        assert_eq!(gpus[0].power_w, Some(350.0));
        // GPU 1: NVML_ERROR_NOT_SUPPORTED for utilization and energy → absent, not zero.
        assert_eq!((gpus[1].utilization, gpus[1].energy_j), (None, None));
        assert_eq!(gpus[1].power_w, Some(120.0));
        log.absorb(&ScrapeLine {
            t_us: tick as i64 * 1_000_000,
            tick,
            source: NVML_SOURCE.into(),
            gpus,
            ..Default::default()
        });
    }
    drop(nvml);
    let client = ClientView {
        window: (0, 2_000_000),
        output_tokens: 1000,
        input_tokens: 500,
        ..Default::default()
    };
    let b = GpuBlock::compute(&log, &client);
    assert!(b.available && b.source.as_deref() == Some("nvml"));
    let t = b.total.unwrap();
    // (72 + 10) / (80 + 40) GiB
    assert!(close(
        t.memory_utilization.as_ref().and_then(ConceptStats::mean),
        82.0 / 120.0
    ));
    // GPU 0: 10 J per poll over 2 intervals; GPU 1: 120 W × 2 s by the power integral.
    assert_eq!(b.gpus[0].energy_j, Some(20.0));
    assert_eq!(b.gpus[1].energy_j, Some(240.0));
    assert_eq!(t.energy_j, Some(260.0));
    assert_eq!(t.energy_method.as_deref(), Some("power_integral"));
    assert!(close(t.output_tokens_per_joule, 1000.0 / 260.0));
}

#[test]
fn nvml_init_failure_is_a_reason_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let Some(lib) = build_fake_nvml(dir.path()) else {
        return;
    };
    // The stand-in fails nvmlInit_v2 when FAKE_NVML_NO_DRIVER is set; run the check in a
    // child process so the variable does not leak into other tests.
    if std::env::var_os("INFERMETER_FAKE_NVML_CHILD").is_some() {
        let e = Nvml::load_from(&[lib.to_str().unwrap()]).unwrap_err();
        assert!(e.contains("failed to initialize") && e.contains("returned 9"), "{e}");
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new(exe)
        .args([
            "telemetry::nvml_init_failure_is_a_reason_not_a_crash",
            "--exact",
            "--nocapture",
        ])
        .env("INFERMETER_FAKE_NVML_CHILD", "1")
        .env("FAKE_NVML_NO_DRIVER", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("1 passed"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// A loopback HTTP server answering every request with `body` (200, text/plain).
fn plain_server(body: &'static str) -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            use std::io::{Read, Write};
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

fn dead_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

const SHORT: &[&str] = &["-n", "24", "-c", "6", "--output-tokens", "24"];

#[test]
fn bad_metrics_endpoints_warn_and_the_run_continues() {
    let dead = format!("http://127.0.0.1:{}/metrics", dead_port());
    let junk = format!(
        "http://127.0.0.1:{}/metrics",
        plain_server("<p>no metrics here</p>\nnor here\n")
    );
    for (url, why) in [(&dead, "connect to"), (&junk, "not Prometheus text")] {
        let mut args = SHORT.to_vec();
        args.extend(["--server-metrics", url.as_str()]);
        let run = crate::util::bench(&args);
        run.ok();
        let warnings = run
            .stderr()
            .lines()
            .filter(|l| l.contains("warning: server metrics"))
            .count();
        assert_eq!(warnings, 1, "one warning per endpoint: {}", run.stderr());
        assert!(run.stderr().contains(why), "{}", run.stderr());
        let s = run.summary();
        assert_eq!(s["requests"]["succeeded"], 24, "the run went on");
        let srv = &s["server"];
        assert_eq!(srv["available"], false, "{srv}");
        let reason = srv["reason"].as_str().unwrap();
        assert!(
            reason.starts_with("every scrape failed (") && reason.contains(why),
            "{reason}"
        );
        assert!(
            run.stdout().contains("server metrics: none (every scrape failed"),
            "{}",
            run.stdout()
        );
    }
    let mut args = SHORT.to_vec();
    args.extend(["--server-metrics", "off", "--gpu-telemetry", "off"]);
    let run = crate::util::bench(&args);
    run.ok();
    assert_eq!(run.summary()["server"]["reason"], "disabled (--server-metrics off)");
    assert!(!run.path().join("server_metrics.jsonl").exists());
}

#[test]
fn bad_telemetry_flags_exit_2_in_one_line() {
    for (flag, value, needle) in [
        ("--server-metrics", "ftp://h/metrics", "only http:// and https://"),
        ("--server-metrics-interval", "1ms", "below 10ms"),
        ("--prometheus-listen", "nowhere", "--prometheus-listen"),
        ("--sla", "fast", "--sla"),
        ("--sla", "memory=150%", "memory"),
    ] {
        let run = crate::util::bench(&["-n", "1", flag, value]);
        assert_eq!(run.out.status.code(), Some(2), "{flag} {value}: {}", run.stderr());
        let err = run.stderr();
        assert_eq!(err.trim().lines().count(), 1, "{flag} {value}: {err}");
        assert!(err.contains(needle), "{flag} {value}: {err}");
    }
    let run = crate::util::bench(&["-n", "1", "--server-metrics", "off", "http://h/metrics"]);
    assert_eq!(run.out.status.code(), Some(2), "{}", run.stderr());
}

#[test]
fn embedded_engine_gives_server_gpu_and_sla_blocks_and_report_rebuilds_them() {
    let mut args = SHORT.to_vec();
    args.extend(["--sla", "chat", "--warmup", "4"]);
    let run = crate::util::bench(&args);
    run.ok();
    let s = run.summary();
    let srv = &s["server"];
    assert_eq!(
        (srv["available"].as_bool(), srv["engine"].as_str()),
        (Some(true), Some("vllm"))
    );
    // The simulator's own counters agree with the client exactly: the warm-up requests are
    // before the scrape that starts the measured window.
    for (check, client) in [
        ("generation_tokens", "/tokens/output"),
        ("prompt_tokens", "/tokens/input"),
        ("requests", "/requests/total"),
    ] {
        assert_eq!(
            f64_at(srv, &format!("/cross_checks/{check}/server")),
            f64_at(&s, client),
            "{check}"
        );
    }
    let tc = &srv["cross_checks"]["ttft"];
    assert_eq!(f64_at(tc, "/server_count"), f64_at(&s, "/latency_ms/ttft/n"));
    // Server TTFT is measured from the request's arrival in the engine: never after the client's.
    assert!(f64_at(tc, "/network_http_client_mean_ms") >= 0.0, "{tc}");
    assert!(srv["scrapes"]["cpu_ms_per_round"].as_f64().unwrap() > 0.0);
    // GPU memory: the simulated DCGM figures (vLLM's preallocation: ~90 % whatever the load).
    let g = &s["gpu"];
    assert_eq!(
        (g["available"].as_bool(), g["simulated"].as_bool()),
        (Some(true), Some(true))
    );
    // (0.9 × total, read back from whole MiB as DCGM reports them: a hair above is rounding.)
    let mem = f64_at(g, "/total/memory_utilization/mean");
    assert!((0.85..=0.9001).contains(&mem), "{mem}");
    // SLA chat: memory utilization from GPU memory (passed), with its source.
    let sla = &s["sla"];
    assert_eq!(sla["profile"]["name"], "chat");
    let m = &sla["objectives"][2];
    assert_eq!(
        (m["objective"].as_str(), m["verdict"].as_str()),
        (Some("memory_utilization"), Some("passed"))
    );
    assert!((f64_at(m, "/value") - mem * 100.0).abs() < 5.0, "{m}");
    assert!(
        m["source"].as_str().unwrap().starts_with("GPU memory used / total"),
        "{m}"
    );
    assert!(run.stdout().contains("SLA chat"), "{}", run.stdout());
    // The report's Server section charts the scrapes next to the client's series.
    let html = std::fs::read_to_string(run.path().join("report.html")).unwrap();
    for id in [
        "id=\"server\"",
        "id=\"srv-queue\"",
        "id=\"srv-kv\"",
        "id=\"srv-gpu-mem\"",
        "id=\"srv-ttft\"",
    ] {
        assert!(html.contains(id), "report.html lacks {id}");
    }
    assert!(html.contains("Cross-checks with the client") && html.contains("SLA chat"));
    // The raw scrapes are on the records' clock: the first one before the first send.
    let raw = std::fs::read_to_string(run.path().join("server_metrics.jsonl")).unwrap();
    let first: serde_json::Value = serde_json::from_str(raw.lines().next().unwrap()).unwrap();
    let first_send = run
        .records()
        .iter()
        .map(|r| r["send_us"].as_i64().unwrap())
        .min()
        .unwrap();
    assert!(first["t_us"].as_i64().unwrap() < first_send, "{first}");
    // `report DIR` recomputes the same blocks from server_metrics.jsonl.
    let out = crate::util::bin()
        .args(["report", "--no-html"])
        .arg(run.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rebuilt = crate::util::read_json(&run.path().join("summary.json"));
    for key in ["server", "gpu", "sla"] {
        assert_eq!(rebuilt[key], s[key], "{key} differs after report DIR");
    }
}

fn f64_at(v: &serde_json::Value, ptr: &str) -> f64 {
    v.pointer(ptr)
        .and_then(serde_json::Value::as_f64)
        .unwrap_or_else(|| panic!("no {ptr} in {v}"))
}

#[test]
fn nvml_stand_in_through_the_cli_gives_the_gpu_block_and_tokens_per_joule() {
    let dir = tempfile::tempdir().unwrap();
    let Some(lib) = build_fake_nvml(dir.path()) else {
        return;
    };
    let _one = crate::util::serial();
    let out_dir = dir.path().join("run");
    let out = crate::util::bin()
        .arg("bench")
        .args(SHORT)
        .args(["--server-metrics", "off", "--sla", "chat", "--no-progress", "--out"])
        .arg(&out_dir)
        .env("INFERMETER_NVML_LIBRARY", &lib)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let s = crate::util::read_json(&out_dir.join("summary.json"));
    let g = &s["gpu"];
    assert_eq!(
        (g["available"].as_bool(), g["source"].as_str()),
        (Some(true), Some("nvml")),
        "{g}"
    );
    assert_eq!(g["gpus"].as_array().unwrap().len(), 2);
    // (72 + 10) / (80 + 40) GiB on the stand-in.
    assert!((f64_at(g, "/total/memory_utilization/mean") - 82.0 / 120.0).abs() < 1e-9);
    let e = f64_at(g, "/total/energy_j");
    let tpj = f64_at(g, "/total/output_tokens_per_joule");
    assert!(e > 0.0 && (tpj - f64_at(&s, "/tokens/output") / e).abs() < 1e-9, "{g}");
    // 68.3 % < chat's 70 %: failed, from NVML.
    let m = &s["sla"]["objectives"][2];
    assert_eq!(m["verdict"], "failed", "{m}");
    assert!(m["source"].as_str().unwrap().contains("nvml"));
    assert_eq!(s["server"]["reason"], "disabled (--server-metrics off)");
}

#[test]
fn sweep_explains_saturation_with_server_signals() {
    let _one = crate::util::serial();
    let dir = tempfile::tempdir().unwrap();
    let out = crate::util::bin()
        .args([
            "sweep",
            "--rates",
            "5,120",
            "--duration",
            "3s",
            "--input-tokens",
            "2048",
            "--output-tokens",
            "128",
            "--sim-time-scale",
            "0.25",
            "--no-progress",
            "--out",
        ])
        .arg(dir.path().join("sw"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let sw = crate::util::read_json(&dir.path().join("sw/sweep.json"));
    let sat = &sw["saturation"];
    assert_eq!(sat["first_saturated_load"], 120.0, "{sat}");
    let sig = &sat["server_signals"];
    assert_eq!(sig["kv_at_capacity"], true, "{sig}");
    assert!(
        f64_at(sig, "/queue_growth_per_s") > 0.5 && f64_at(sig, "/preemptions") >= 0.0,
        "{sig}"
    );
    assert!(!sat["server_reasons"].as_array().unwrap().is_empty());
    // The simulated engine's sweep is a prediction: its throughput at the hardware's pace (the
    // measured one × the time scale 0.25) carries the held-out band, which holds it (the band is
    // value/(1+q90) .. value/(1+q10), q10 < 0 < q90).
    let band = &sat["prediction_band"];
    let v = f64_at(band, "/output_tokens_per_s/value");
    assert!((v - 0.25 * f64_at(sat, "/output_tokens_per_s")).abs() < 1e-6, "{band}");
    let (lo, hi) = (
        f64_at(band, "/output_tokens_per_s/low"),
        f64_at(band, "/output_tokens_per_s/high"),
    );
    assert!(lo < v && v < hi && f64_at(band, "/coverage") == 0.8, "{band}");
    // The first stage was not saturated on the server side either.
    let s0 = &sw["stages"][0]["server_signals"];
    assert_eq!(s0["kv_at_capacity"], false, "{s0}");
    // The simulator's figures are consistent with each other at saturation: KV tokens in use
    // never exceed the capacity, running sequences never exceed max_num_seqs (256 on an L4),
    // and GPU memory stays at vLLM's preallocated budget while the KV cache fills.
    let t = &sw["stages"][1]["summary"]["server"]["total"];
    assert!(f64_at(t, "/kv_cache_used_tokens/max") <= f64_at(t, "/kv_cache_capacity_tokens/max") * (1.0 + 1e-9));
    assert!(
        f64_at(t, "/running/max") <= 256.0 && f64_at(t, "/waiting/max") > 0.0,
        "{t}"
    );
    assert!(f64_at(t, "/preemptions/increase") > 0.0, "{t}");
    assert_eq!(
        f64_at(t, "/gpu_memory_used_bytes/min"),
        f64_at(t, "/gpu_memory_used_bytes/max")
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("server at rate 120.00: ")
            && stdout.contains("KV cache at capacity")
            && stdout.contains("simulated engine: a prediction at the hardware's pace (time scale 0.25"),
        "{stdout}"
    );
}
