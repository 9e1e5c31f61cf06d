//! `sim serve`: the simulated server standalone, built from the same specification as the
//! embedded `bench` target, until Ctrl-C.

use crate::error::Error;
use crate::sim::SimConfig;
use std::net::SocketAddr;

/// Serve `cfg` on `addr` until Ctrl-C; prints the configuration and address on stderr.
pub async fn run(cfg: SimConfig, addr: SocketAddr) -> Result<u8, Error> {
    let d = cfg.describe();
    eprintln!("infermeter sim: {}", d.line());
    if !cfg.faults.is_empty() {
        eprintln!("infermeter sim: injecting faults: {}", cfg.faults.describe());
    }
    let model = cfg.model.clone();
    let (addr, handle) = crate::sim::spawn(cfg, addr)
        .await
        .map_err(|e| Error::failed(format!("cannot bind {addr}: {e}")))?;
    eprintln!("infermeter sim: serving model '{model}' on http://{addr} (Ctrl-C to stop)");
    tokio::select! {
        _ = handle => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(0)
}
