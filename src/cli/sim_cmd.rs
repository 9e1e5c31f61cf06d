//! `infermeter sim serve` (the simulated server standalone) and `infermeter sim run` (the
//! simulated engine offline), plus the embedded bench target's configuration.

use super::{CliError, EngineFlags, SimFlags, SimRunArgs, SimServeArgs, DEFAULT_BENCH_MAX_NUM_SEQS};
use crate::report::{self, RunInfo};
use crate::schedule::{Arrival, Load};
use crate::sim::offline::{self, OfflinePlan};
use crate::sim::timing::{parse_scheduler, presets_text, EngineSpec};
use crate::sim::{self, EngineMode, SimConfig, ValueDist};
use crate::util::{unix_now_s, utc_strings};
use crate::workload::LengthDist;
use std::io::{BufWriter, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

/// Validated fixed-timing simulator settings from flags.
pub fn config(
    model: &str,
    ttft: &str,
    itl: &str,
    prefill: f64,
    max_num_seqs: usize,
    k: u32,
    seed: u64,
) -> Result<SimConfig, CliError> {
    if !prefill.is_finite() || prefill < 0.0 {
        return Err(CliError::usage(format!(
            "invalid prefill time per token '{prefill}': must be >= 0"
        )));
    }
    if max_num_seqs == 0 {
        return Err(CliError::usage("--max-num-seqs must be at least 1"));
    }
    if k == 0 {
        return Err(CliError::usage("--tokens-per-chunk must be at least 1"));
    }
    Ok(SimConfig {
        model: model.to_string(),
        ttft_ms: ValueDist::parse(ttft).map_err(CliError::usage)?,
        itl_ms: ValueDist::parse(itl).map_err(CliError::usage)?,
        prefill_us_per_token: prefill,
        max_num_seqs,
        tokens_per_chunk: k,
        seed,
        engine: None,
        faults: Default::default(),
        write_log: None,
    })
}

fn time_scale(x: f64, flag: &str) -> Result<f64, CliError> {
    if !(x.is_finite() && x > 0.0) {
        return Err(CliError::usage(format!("invalid {flag} '{x}': must be > 0")));
    }
    Ok(x)
}

/// The engine flags as an [`EngineSpec`] (`default_preset` when no model is given).
pub fn engine_spec(f: &EngineFlags, default_preset: &str) -> Result<EngineSpec, CliError> {
    Ok(EngineSpec {
        model_preset: f.model_preset.clone().unwrap_or_else(|| default_preset.to_string()),
        model_config: f.model_config.clone(),
        gpu: f.gpu.clone(),
        tp: f.tp,
        weights_dtype: f.weights_dtype.clone(),
        kv_dtype: f.kv_dtype.clone(),
        max_num_seqs: f.max_num_seqs,
        max_num_batched_tokens: f.max_num_batched_tokens,
        chunked_prefill: !f.no_chunked_prefill,
        prefix_caching: !f.no_prefix_caching,
        scheduler: parse_scheduler(&f.scheduler).map_err(CliError::usage)?,
        max_model_len: f.max_model_len,
        ..EngineSpec::default()
    })
}

/// The embedded bench target: engine mode unless a fixed-timing flag (or `--sim-mode fixed`)
/// is given.
pub fn from_bench_flags(f: &SimFlags, seed: u64) -> Result<SimConfig, CliError> {
    let faults = f.faults.plan()?;
    let mut cfg = bench_target(f, seed)?;
    cfg.faults = faults;
    Ok(cfg)
}

fn bench_target(f: &SimFlags, seed: u64) -> Result<SimConfig, CliError> {
    let any_fixed = f.sim_ttft_ms.is_some() || f.sim_itl_ms.is_some() || f.sim_prefill_us_per_token.is_some();
    let fixed = match f.sim_mode.as_deref() {
        Some("fixed") => true,
        Some(_) if any_fixed => {
            return Err(CliError::usage(
                "--sim-ttft-ms/--sim-itl-ms/--sim-prefill-us-per-token need --sim-mode fixed",
            ))
        }
        Some(_) => false,
        None => any_fixed,
    };
    if fixed {
        return config(
            &f.sim_model,
            f.sim_ttft_ms.as_deref().unwrap_or("normal:30,3"),
            f.sim_itl_ms.as_deref().unwrap_or("normal:10,1"),
            f.sim_prefill_us_per_token.unwrap_or(40.0),
            f.sim_max_num_seqs.unwrap_or(256) as usize,
            f.sim_tokens_per_chunk,
            seed,
        );
    }
    let spec = EngineSpec {
        model_preset: f.sim_model_preset.clone(),
        gpu: f.sim_gpu.clone(),
        max_num_seqs: Some(f.sim_max_num_seqs.unwrap_or(DEFAULT_BENCH_MAX_NUM_SEQS)),
        ..EngineSpec::default()
    };
    let built = spec.build().map_err(CliError::usage)?;
    let mut cfg = config(
        &f.sim_model,
        "0",
        "0",
        0.0,
        built.config.max_num_seqs as usize,
        f.sim_tokens_per_chunk,
        seed,
    )?;
    cfg.engine = Some(EngineMode {
        built,
        time_scale: time_scale(f.sim_time_scale, "--sim-time-scale")?,
    });
    Ok(cfg)
}

pub async fn serve(a: SimServeArgs) -> Result<u8, CliError> {
    if a.engine.list_presets {
        print!("{}", presets_text());
        return Ok(0);
    }
    let faults = a.faults.plan()?;
    let engine_mode = a.engine.model_preset.is_some() || a.engine.model_config.is_some();
    let mut cfg = if engine_mode {
        let built = engine_spec(&a.engine, "llama-3.1-8b")?
            .build()
            .map_err(CliError::usage)?;
        let model = a
            .model
            .clone()
            .unwrap_or_else(|| built.timer.deployment.model.name.clone());
        let mut cfg = config(
            &model,
            "0",
            "0",
            0.0,
            built.config.max_num_seqs as usize,
            a.tokens_per_chunk,
            a.seed,
        )?;
        eprintln!(
            "infermeter sim: engine {} ({} KV blocks of {}, max_num_seqs {}, max_num_batched_tokens {}, max_model_len {}, time scale {})",
            built.label,
            built.config.num_gpu_blocks,
            built.config.block_size,
            built.config.max_num_seqs,
            built.config.max_num_batched_tokens,
            built.config.max_model_len,
            a.time_scale
        );
        cfg.engine = Some(EngineMode {
            built,
            time_scale: time_scale(a.time_scale, "--time-scale")?,
        });
        cfg
    } else {
        config(
            a.model.as_deref().unwrap_or("infermeter-sim"),
            &a.ttft_ms,
            &a.itl_ms,
            a.prefill_us_per_token,
            a.engine.max_num_seqs.unwrap_or(256) as usize,
            a.tokens_per_chunk,
            a.seed,
        )?
    };
    if !faults.is_empty() {
        eprintln!("infermeter sim: injecting faults: {}", faults.describe());
    }
    cfg.faults = faults;
    if let Some(path) = &a.write_log {
        let log = sim::write_log::WriteLog::create(path)
            .map_err(|e| CliError::usage(format!("cannot create --write-log {}: {e}", path.display())))?;
        cfg.write_log = Some(log);
    }
    let model = cfg.model.clone();
    let ip: IpAddr = a
        .host
        .parse()
        .map_err(|_| CliError::usage(format!("invalid --host '{}': expected an IP address", a.host)))?;
    let (addr, handle) = sim::spawn(cfg, SocketAddr::new(ip, a.port))
        .await
        .map_err(|e| CliError::failed(format!("cannot bind {}:{}: {e}", a.host, a.port)))?;
    eprintln!("infermeter sim: serving model '{model}' on http://{addr} (Ctrl-C to stop)");
    tokio::select! {
        _ = handle => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(0)
}

/// `infermeter sim run`: a discrete-event benchmark of the simulated engine.
pub fn run_offline(a: SimRunArgs) -> Result<u8, CliError> {
    if a.engine.list_presets {
        print!("{}", presets_text());
        return Ok(0);
    }
    let built = engine_spec(&a.engine, "llama-3.1-8b")?
        .build()
        .map_err(CliError::usage)?;
    let (load, duration, requests) = a.load.resolve()?;
    let input = LengthDist::parse(&a.input_tokens).map_err(|e| CliError::usage(format!("--input-tokens: {e}")))?;
    let output = LengthDist::parse(&a.output_tokens).map_err(|e| CliError::usage(format!("--output-tokens: {e}")))?;
    let out = a.out.clone().unwrap_or_else(|| {
        let (stamp, _) = utc_strings(unix_now_s());
        PathBuf::from("results").join(format!("sim-{stamp}"))
    });
    std::fs::create_dir_all(&out).map_err(|e| CliError::failed(format!("cannot create {}: {e}", out.display())))?;
    let (_, started_at) = utc_strings(unix_now_s());
    let run_info = RunInfo {
        target: format!("sim-offline:{}", built.label),
        embedded_sim: true,
        model: built.timer.deployment.model.name.clone(),
        api: "completions".into(),
        stream: true,
        load_mode: match load {
            Load::Closed { .. } => "closed".into(),
            Load::Open { .. } => "open".into(),
        },
        concurrency: match load {
            Load::Closed { concurrency } => Some(concurrency),
            _ => None,
        },
        request_rate: match load {
            Load::Open { rate, .. } => Some(rate),
            _ => None,
        },
        arrival: match load {
            Load::Open { arrival, .. } => Some(match arrival {
                Arrival::Poisson => "poisson".into(),
                Arrival::Constant => "constant".into(),
                Arrival::Gamma(k) => format!("gamma(burstiness={k})"),
            }),
            _ => None,
        },
        max_concurrency: match load {
            Load::Open { max_concurrency, .. } => max_concurrency,
            _ => None,
        },
        requests,
        duration_s: duration.map(|d| d.as_secs_f64()),
        warmup: 0,
        seed: a.seed,
        input_tokens: input.spec.clone(),
        output_tokens: output.spec.clone(),
        tokenizer: "words (simulated)".into(),
        ignore_eos: !a.no_ignore_eos,
        started_at,
        command: std::env::args().collect(),
        sim_engine: Some(built.describe()),
        ..RunInfo::default()
    };
    report::write_json(&out.join("run.json"), &run_info)?;
    let plan = OfflinePlan {
        input,
        output,
        seed: a.seed,
        load,
        requests,
        duration,
        ignore_eos: !a.no_ignore_eos,
    };
    let records_path = out.join("records.jsonl");
    let file = std::fs::File::create(&records_path)
        .map_err(|e| CliError::failed(format!("cannot write {}: {e}", records_path.display())))?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    let mut write_err: Option<std::io::Error> = None;
    let t0 = std::time::Instant::now();
    let outcome = offline::run(&built, &plan, |r| {
        if write_err.is_none() {
            if let Err(e) = crate::record::write_jsonl(&mut w, r) {
                write_err = Some(e);
            }
        }
    });
    let sim_wall = t0.elapsed().as_secs_f64();
    if let Some(e) = write_err.or_else(|| w.flush().err()) {
        return Err(CliError::failed(format!(
            "cannot write {}: {e}",
            records_path.display()
        )));
    }
    // Virtual time, no client: the self-health block has only record-derived parts.
    let runtime = crate::metrics::health::RuntimeSamples {
        wall_s: outcome.sim_s,
        ..Default::default()
    };
    let summary = report::build_summary(run_info, &outcome.records, &runtime, false);
    let summary_path = out.join("summary.json");
    report::write_json(&summary_path, &summary)?;
    if a.csv {
        report::write_csv(&out.join("requests.csv"), &outcome.records)?;
    }
    let st = &outcome.stats;
    if a.quiet {
        println!("{}", summary_path.display());
    } else {
        print!("{}", report::render_console(&summary));
        println!(
            "\nsimulated: {} on {} KV blocks: {:.1} s simulated in {:.2} s wall ({:.0} requests/s of wall time), {} steps, {} preemptions, prefix cache hits {}/{} tokens",
            built.label,
            built.config.num_gpu_blocks,
            outcome.sim_s,
            sim_wall,
            outcome.records.len() as f64 / sim_wall.max(1e-9),
            st.num_steps,
            st.num_preemptions,
            st.prefix_cache_hits,
            st.prefix_cache_queries
        );
        println!(
            "records: {}\nsummary: {}",
            records_path.display(),
            summary_path.display()
        );
    }
    let m = &summary.metrics;
    if m.requests.total > 0 && m.requests.succeeded == 0 {
        let detail = outcome
            .records
            .iter()
            .find_map(|r| r.error_detail.clone())
            .unwrap_or_default();
        return Err(CliError::failed(format!(
            "all {} requests were refused by the simulated engine; first error: {detail}",
            m.requests.total
        )));
    }
    Ok(0)
}
