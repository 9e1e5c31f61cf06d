//! `k8s render --shards N …`: check the run specification as every shard will (so a mistake
//! shows here, not in N pods), read the files it names, and write the Kubernetes manifests
//! rendered by `shard::k8s` into a directory.

use crate::error::Error;
use crate::shard::k8s::{self, Attachment, K8sOptions};
use crate::spec::{validate, RunSpec};
use std::path::Path;

/// Render `spec` for `o` into `out_dir`; returns the exit code.
pub fn run(spec: &RunSpec, o: &K8sOptions, out_dir: &Path, quiet: bool) -> Result<u8, Error> {
    // Validate as shard 0 will, against the server it will load.
    let mut check = spec.clone();
    check.shard.count = Some(o.shards);
    check.shard.index = Some(0);
    check.shard.start_at = Some(o.start_at.clone());
    if o.sim_server {
        validate::sim_server(&spec.sim.clone().unwrap_or_default(), spec.seed)?;
        check.target.url = Some(format!("http://{}-sim:{}", o.name, k8s::SIM_PORT));
        check.sim = None;
    }
    // The pods run the resolved specification (closed-loop concurrency and request count
    // written out), so a later default cannot change what they do.
    let mut spec = spec.clone();
    if spec.target.url.is_some() || o.sim_server {
        spec.load = validate::bench(&check)?.spec.load;
    }
    let mut files = Vec::new();
    for (key, path) in k8s::named_files(&spec) {
        let bytes = std::fs::read(&path).map_err(|e| Error::usage(format!("cannot read {key} '{path}': {e}")))?;
        let content = String::from_utf8(bytes).map_err(|_| {
            Error::usage(format!(
                "{key} '{path}' is not UTF-8 text: it cannot travel in a ConfigMap"
            ))
        })?;
        files.push(Attachment { key, path, content });
    }
    let rendered = k8s::render(&spec, o, &files).map_err(Error::usage)?;
    std::fs::create_dir_all(out_dir).map_err(|e| Error::failed(format!("cannot create {}: {e}", out_dir.display())))?;
    for (name, text) in &rendered {
        let p = out_dir.join(name);
        std::fs::write(&p, text).map_err(|e| Error::failed(format!("cannot write {}: {e}", p.display())))?;
        if !quiet {
            println!("{}", p.display());
        }
    }
    if !quiet {
        println!(
            "\n{} shards start their measured phase at {}: apply the manifests before then (steps in {}).",
            o.shards,
            o.start_at,
            out_dir.join("README.txt").display()
        );
    }
    Ok(0)
}
