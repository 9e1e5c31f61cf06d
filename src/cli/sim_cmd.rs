//! `infermeter sim serve`: the simulated server standalone.

use super::{CliError, SimFlags, SimServeArgs};
use crate::sim::{self, SimConfig, ValueDist};
use std::net::{IpAddr, SocketAddr};

/// Validated simulator settings from flags.
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
    })
}

pub fn from_bench_flags(f: &SimFlags, seed: u64) -> Result<SimConfig, CliError> {
    config(
        &f.sim_model,
        &f.sim_ttft_ms,
        &f.sim_itl_ms,
        f.sim_prefill_us_per_token,
        f.sim_max_num_seqs,
        f.sim_tokens_per_chunk,
        seed,
    )
}

pub async fn serve(a: SimServeArgs) -> Result<u8, CliError> {
    let cfg = config(
        &a.model,
        &a.ttft_ms,
        &a.itl_ms,
        a.prefill_us_per_token,
        a.max_num_seqs,
        a.tokens_per_chunk,
        a.seed,
    )?;
    let ip: IpAddr = a
        .host
        .parse()
        .map_err(|_| CliError::usage(format!("invalid --host '{}': expected an IP address", a.host)))?;
    let (addr, handle) = sim::spawn(cfg, SocketAddr::new(ip, a.port))
        .await
        .map_err(|e| CliError::failed(format!("cannot bind {}:{}: {e}", a.host, a.port)))?;
    eprintln!(
        "infermeter sim: serving model '{}' on http://{addr} (Ctrl-C to stop)",
        a.model
    );
    tokio::select! {
        _ = handle => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(0)
}
