//! Kubernetes manifests for a sharded run (`infermeter k8s render`): an Indexed Job whose pods
//! are the shards, a ConfigMap holding the run specification (and the files it names), a
//! ReadWriteMany volume the shards write their run directories to, a collector Job that
//! merges them there, a pod to copy the merged run out, and optionally infermeter's simulated
//! server as a Deployment + Service to try it all without a GPU. Pure: text in, text out
//! (`app::k8s` reads the named files and writes the manifests).
//!
//! Kubernetes does the scheduling: `completionMode: Indexed` gives each pod its index in
//! `JOB_COMPLETION_INDEX`, which `bench` reads as its shard index; `parallelism` =
//! `completions` = N runs them all at once; `backoffLimitPerIndex: 0` keeps a failed shard
//! from being rerun late (merge the rest with `--allow-partial`). The specification's
//! `shard.start_at` synchronizes the measured phases.

use crate::spec::RunSpec;
use serde_json::{json, Value};

/// Where the ConfigMap is mounted in the pods.
pub const SPEC_MOUNT: &str = "/etc/infermeter";
/// Where the results volume is mounted in the pods.
pub const RESULTS_MOUNT: &str = "/results";
/// The ConfigMap key of the run specification.
pub const SPEC_KEY: &str = "spec.json";
/// The ConfigMap key of the simulated server's specification (`--sim-server`).
pub const SIM_KEY: &str = "sim.json";
/// Port of the simulated server's Service.
pub const SIM_PORT: u16 = 8000;
/// A ConfigMap holds at most 1 MiB.
pub const CONFIGMAP_LIMIT: usize = 1 << 20;
/// Longest run name (so that `-results`, `-merge` and pod suffixes fit a 63-character name).
pub const MAX_NAME: usize = 40;

/// How to render.
#[derive(Debug, Clone, PartialEq)]
pub struct K8sOptions {
    /// Name of the Job and prefix of every other object.
    pub name: String,
    pub namespace: Option<String>,
    /// The container image holding the infermeter binary as its entry point.
    pub image: String,
    pub shards: u32,
    /// RFC 3339: when the shards' measured phases start.
    pub start_at: String,
    /// Size and storage class of the results volume.
    pub storage: String,
    pub storage_class: Option<String>,
    /// `ReadWriteMany`, or `ReadWriteOnce` for a single-node cluster.
    pub volume_access: String,
    /// Each shard's CPU request and memory request (= limit).
    pub cpu: String,
    pub memory: String,
    /// A Secret (name, key) holding the API key, passed in `target.api_key_env`.
    pub api_key_secret: Option<(String, String)>,
    /// Also deploy infermeter's simulated server (the specification's `sim`) and load it.
    pub sim_server: bool,
}

/// A file the specification names, shipped in the ConfigMap.
#[derive(Debug, Clone, PartialEq)]
pub struct Attachment {
    /// The specification key naming it (e.g. `workload.tokenizer`).
    pub key: &'static str,
    /// The path as the specification names it.
    pub path: String,
    pub content: String,
}

/// The files a specification names (which must travel with it to the pods), by key.
pub fn named_files(spec: &RunSpec) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    let tok = &spec.workload.tokenizer;
    // Anything but a built-in encoding's name is a tokenizer.json path (workload::Tokenizer).
    if !matches!(tok.as_str(), "cl100k_base" | "cl100k" | "o200k_base" | "o200k") {
        out.push(("workload.tokenizer", tok.clone()));
    }
    if let Some(p) = spec.sim.as_ref().and_then(|s| s.model_config.as_ref()) {
        out.push(("sim.model_config", p.display().to_string()));
    }
    if let Some(p) = &spec.target.ca_cert {
        out.push(("target.ca_cert", p.display().to_string()));
    }
    // Every shard reads the whole dataset or trace and sends its part of it.
    if let Some(p) = &spec.workload.dataset.path {
        out.push(("workload.dataset.path", p.display().to_string()));
    }
    if let Some(p) = &spec.workload.trace.path {
        out.push(("workload.trace.path", p.display().to_string()));
    }
    out
}

/// Point the specification's `key` at `path` (inside the pod).
fn relocate(spec: &mut RunSpec, key: &str, path: &str) {
    match key {
        "workload.tokenizer" => spec.workload.tokenizer = path.into(),
        "sim.model_config" => {
            if let Some(s) = spec.sim.as_mut() {
                s.model_config = Some(path.into());
            }
        }
        "target.ca_cert" => spec.target.ca_cert = Some(path.into()),
        "workload.dataset.path" => spec.workload.dataset.path = Some(path.into()),
        "workload.trace.path" => spec.workload.trace.path = Some(path.into()),
        _ => {}
    }
}

/// The ConfigMap key of an attachment: its specification key and file name, restricted to
/// the characters a ConfigMap key allows.
fn attachment_key(a: &Attachment) -> String {
    let base = std::path::Path::new(&a.path)
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!("{}-{base}", a.key)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A DNS-1123 label of at most `max` characters.
pub fn check_name(what: &str, v: &str, max: usize) -> Result<(), String> {
    let ok = !v.is_empty()
        && v.len() <= max
        && v.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !v.starts_with('-')
        && !v.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid {what} '{v}': lowercase letters, digits and '-', at most {max} characters, starting and ending with a letter or digit"
        ))
    }
}

/// A Kubernetes resource quantity (`500m`, `2`, `1Gi`, `1.5G`).
pub fn check_quantity(what: &str, v: &str) -> Result<(), String> {
    let digits = v.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let suffix = &v[digits.len()..];
    let number_ok = !digits.is_empty()
        && digits.parse::<f64>().is_ok_and(|x| x.is_finite() && x > 0.0)
        && digits.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    let suffix_ok = [
        "", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei",
    ]
    .contains(&suffix);
    if number_ok && suffix_ok {
        Ok(())
    } else {
        Err(format!(
            "invalid {what} '{v}': expected a Kubernetes quantity such as 500m, 2, 512Mi or 1Gi"
        ))
    }
}

fn meta(name: &str, o: &K8sOptions, component: &str) -> Value {
    let mut m = json!({
        "name": name,
        "labels": labels(o, component),
    });
    if let Some(ns) = &o.namespace {
        m["namespace"] = json!(ns);
    }
    m
}

fn labels(o: &K8sOptions, component: &str) -> Value {
    json!({
        "app.kubernetes.io/name": "infermeter",
        "app.kubernetes.io/instance": o.name,
        "app.kubernetes.io/component": component,
    })
}

fn security() -> Value {
    json!({"runAsNonRoot": true, "runAsUser": 65534, "runAsGroup": 65534, "fsGroup": 65534})
}

fn container_security() -> Value {
    json!({"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true, "capabilities": {"drop": ["ALL"]}})
}

fn yaml(header: &str, docs: &[Value]) -> Result<String, String> {
    let mut out = String::new();
    for line in header.lines() {
        out.push_str("# ");
        out.push_str(line);
        out.push('\n');
    }
    for d in docs {
        out.push_str("---\n");
        out.push_str(&serde_norway::to_string(d).map_err(|e| format!("cannot write YAML: {e}"))?);
    }
    Ok(out)
}

/// The shard's run directory inside the pods (`{shard}` is replaced by the index).
pub fn shard_out(name: &str) -> String {
    format!("{RESULTS_MOUNT}/{name}/shard-{}", super::DIR_PLACEHOLDER)
}

/// The merged run directory inside the results volume.
pub fn merged_out(name: &str) -> String {
    format!("{RESULTS_MOUNT}/{name}/merged")
}

/// Render the manifests: `(file name, content)` pairs. `spec` is the run's specification
/// (without `shard.index`), `files` the contents of the files it names.
pub fn render(spec: &RunSpec, o: &K8sOptions, files: &[Attachment]) -> Result<Vec<(String, String)>, String> {
    check_options(o)?;
    check_spec(spec)?;
    let name = &o.name;
    let data = configmap_data(spec, o, files)?;
    let ns = o.namespace.as_deref().map(|n| format!(" -n {n}")).unwrap_or_default();
    let mut out = vec![
        (
            "configmap.yaml".to_string(),
            yaml(
                &format!(
                    "The run specification of {name} ({SPEC_KEY}; shard.count {}, shard.start_at {}), mounted at {SPEC_MOUNT}.",
                    o.shards, o.start_at
                ),
                &[configmap(o, data)],
            )?,
        ),
        (
            "pvc.yaml".to_string(),
            yaml(
                "The results volume: every shard writes its run directory here, the merge Job reads them.\nReadWriteMany: the shards run on different nodes (needs a storage class that offers it, e.g. NFS, CephFS, EFS, Filestore).",
                &[results_claim(o)],
            )?,
        ),
        (
            "job.yaml".to_string(),
            yaml(
                &format!(
                    "{} shards of one run as an Indexed Job: pod K is shard K (JOB_COMPLETION_INDEX), all start their measured phase at {}.\nApply after configmap.yaml and pvc.yaml, at least a minute before that time (image pull, scheduling).",
                    o.shards, o.start_at
                ),
                &[shard_job(o, &spec.target.api_key_env)],
            )?,
        ),
        (
            "merge-job.yaml".to_string(),
            yaml(
                &format!(
                    "Collector: once job/{name} is complete, merges {RESULTS_MOUNT}/{name}/shard-* into {}.\nkubectl{ns} wait --for=condition=complete job/{name} --timeout=1h && kubectl{ns} apply -f merge-job.yaml",
                    merged_out(name)
                ),
                &[merge_job(o)],
            )?,
        ),
        (
            "fetch-pod.yaml".to_string(),
            yaml(
                &format!(
                    "A pod to copy the results out (kubectl cp needs tar, which the infermeter image lacks):\nkubectl{ns} cp {name}-fetch:{} ./{name}-merged",
                    merged_out(name)
                ),
                &[fetch_pod(o)],
            )?,
        ),
    ];
    if o.sim_server {
        out.push((
            "sim-server.yaml".to_string(),
            yaml(
                "infermeter's simulated server (the specification's sim section) as the target: a Deployment and its Service.\nApply it before job.yaml; the shards load it at its Service name.",
                &sim_server(o),
            )?,
        ));
    }
    out.push(("README.txt".to_string(), readme(o, &ns)));
    Ok(out)
}

fn check_options(o: &K8sOptions) -> Result<(), String> {
    check_name("--name", &o.name, MAX_NAME)?;
    if let Some(ns) = &o.namespace {
        check_name("--namespace", ns, 63)?;
    }
    if o.image.trim().is_empty() || o.image.chars().any(char::is_whitespace) {
        return Err(format!("invalid --image '{}'", o.image));
    }
    check_quantity("--storage", &o.storage)?;
    check_quantity("--cpu", &o.cpu)?;
    check_quantity("--memory", &o.memory)?;
    if !matches!(o.volume_access.as_str(), "ReadWriteMany" | "ReadWriteOnce") {
        return Err(format!(
            "invalid --volume-access '{}': expected ReadWriteMany or ReadWriteOnce",
            o.volume_access
        ));
    }
    if let Some((secret, key)) = &o.api_key_secret {
        check_name("--api-key-secret", secret, 253)?;
        if key.is_empty()
            || !key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(format!("invalid --api-key-secret key '{key}'"));
        }
    }
    Ok(())
}

/// What cannot travel to the pods.
fn check_spec(spec: &RunSpec) -> Result<(), String> {
    if !spec.target.headers.is_empty() {
        return Err(
            "--header values are never written to files, so they cannot reach the pods: pass a key with --api-key-secret"
                .into(),
        );
    }
    if spec.target.api_key_file.is_some() {
        return Err(
            "--api-key-file names a file on this machine: put the key in a Secret and pass --api-key-secret NAME[:KEY]"
                .into(),
        );
    }
    if spec.shard.index.is_some() {
        return Err(
            "each pod takes its shard index from JOB_COMPLETION_INDEX: give --shards N, not --shard K/N".into(),
        );
    }
    Ok(())
}

/// The ConfigMap's data: the shards' specification (count, start, target, files relocated to
/// the mount), the simulated server's (`--sim-server`) and the files.
fn configmap_data(
    spec: &RunSpec,
    o: &K8sOptions,
    files: &[Attachment],
) -> Result<serde_json::Map<String, Value>, String> {
    let mut run = spec.clone();
    run.run = None;
    run.output.dir = None;
    run.shard.count = Some(o.shards);
    run.shard.start_at = Some(o.start_at.clone());
    let mut data = serde_json::Map::new();
    if o.sim_server {
        if spec.target.url.is_some() {
            return Err("--sim-server deploys the server to load: drop --url".into());
        }
        let sim = json!({"seed": spec.seed, "sim": spec.sim.clone().unwrap_or_default()});
        data.insert(SIM_KEY.into(), json!(pretty(&sim)?));
        let host = match &o.namespace {
            Some(ns) => format!("{}-sim.{ns}.svc", o.name),
            None => format!("{}-sim", o.name),
        };
        run.target.url = Some(format!("http://{host}:{SIM_PORT}"));
        run.sim = None;
    } else if spec.target.url.is_none() {
        return Err(
            "k8s render needs --url (the server the shards load), or --sim-server to deploy infermeter's simulated server beside the Job"
                .into(),
        );
    }
    for a in files {
        let key = attachment_key(a);
        relocate(&mut run, a.key, &format!("{SPEC_MOUNT}/{key}"));
        data.insert(key, json!(a.content));
    }
    data.insert(SPEC_KEY.into(), json!(pretty(&crate::spec::file::for_run_json(&run))?));
    let size: usize = data.iter().map(|(k, v)| k.len() + v.as_str().map_or(0, str::len)).sum();
    if size > CONFIGMAP_LIMIT {
        return Err(format!(
            "the ConfigMap would hold {size} bytes, over Kubernetes' 1 MiB: the files the specification names are too large to ship this way (bake them into the image)"
        ));
    }
    Ok(data)
}

fn configmap(o: &K8sOptions, data: serde_json::Map<String, Value>) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta(&format!("{}-spec", o.name), o, "spec"),
        "data": data,
    })
}

fn results_claim(o: &K8sOptions) -> Value {
    let mut spec = json!({
        "accessModes": [o.volume_access],
        "resources": {"requests": {"storage": o.storage}},
    });
    if let Some(sc) = &o.storage_class {
        spec["storageClassName"] = json!(sc);
    }
    json!({
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": meta(&format!("{}-results", o.name), o, "results"),
        "spec": spec,
    })
}

fn results_volume(o: &K8sOptions) -> Value {
    json!({"name": "results", "persistentVolumeClaim": {"claimName": format!("{}-results", o.name)}})
}

fn spec_volume(o: &K8sOptions) -> Value {
    json!({"name": "spec", "configMap": {"name": format!("{}-spec", o.name)}})
}

fn resources(o: &K8sOptions) -> Value {
    json!({"requests": {"cpu": o.cpu, "memory": o.memory}, "limits": {"memory": o.memory}})
}

/// The Indexed Job: pod K runs `bench` as shard K; `api_key_env` receives the Secret's key.
fn shard_job(o: &K8sOptions, api_key_env: &str) -> Value {
    let mut env = vec![json!({"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}})];
    if let Some((secret, key)) = &o.api_key_secret {
        env.push(json!({
            "name": api_key_env,
            "valueFrom": {"secretKeyRef": {"name": secret, "key": key}},
        }));
    }
    let args = [
        "bench".to_string(),
        "--config".into(),
        format!("{SPEC_MOUNT}/{SPEC_KEY}"),
        "--out".into(),
        shard_out(&o.name),
        "--no-progress".into(),
    ];
    json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": meta(&o.name, o, "shard"),
        "spec": {
            "completionMode": "Indexed",
            "completions": o.shards,
            "parallelism": o.shards,
            "backoffLimitPerIndex": 0,
            "template": {
                "metadata": {"labels": labels(o, "shard")},
                "spec": {
                    "restartPolicy": "Never",
                    "securityContext": security(),
                    "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
                        "weight": 100,
                        "podAffinityTerm": {
                            "topologyKey": "kubernetes.io/hostname",
                            "labelSelector": {"matchLabels": labels(o, "shard")},
                        },
                    }]}},
                    "containers": [{
                        "name": "infermeter",
                        "image": o.image,
                        "args": args,
                        "env": env,
                        "resources": resources(o),
                        "securityContext": container_security(),
                        "volumeMounts": [
                            {"name": "spec", "mountPath": SPEC_MOUNT, "readOnly": true},
                            {"name": "results", "mountPath": RESULTS_MOUNT},
                        ],
                    }],
                    "volumes": [spec_volume(o), results_volume(o)],
                },
            },
        },
    })
}

/// The collector: `merge` over the results volume.
fn merge_job(o: &K8sOptions) -> Value {
    json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": meta(&format!("{}-merge", o.name), o, "merge"),
        "spec": {
            "backoffLimit": 0,
            "template": {
                "metadata": {"labels": labels(o, "merge")},
                "spec": {
                    "restartPolicy": "Never",
                    "securityContext": security(),
                    "containers": [{
                        "name": "merge",
                        "image": o.image,
                        "args": ["merge", format!("{RESULTS_MOUNT}/{}", o.name), "-o", merged_out(&o.name)],
                        "resources": resources(o),
                        "securityContext": container_security(),
                        "volumeMounts": [{"name": "results", "mountPath": RESULTS_MOUNT}],
                    }],
                    "volumes": [results_volume(o)],
                },
            },
        },
    })
}

/// A pod with `tar`, to `kubectl cp` from the results volume.
fn fetch_pod(o: &K8sOptions) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta(&format!("{}-fetch", o.name), o, "fetch"),
        "spec": {
            "restartPolicy": "Never",
            "securityContext": security(),
            "containers": [{
                "name": "fetch",
                "image": "busybox:1.36",
                "command": ["sleep", "3600"],
                "securityContext": container_security(),
                "volumeMounts": [{"name": "results", "mountPath": RESULTS_MOUNT, "readOnly": true}],
            }],
            "volumes": [results_volume(o)],
        },
    })
}

/// infermeter's simulated server as a Deployment and its Service.
fn sim_server(o: &K8sOptions) -> [Value; 2] {
    let labels_sim = labels(o, "sim");
    let deployment = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta(&format!("{}-sim", o.name), o, "sim"),
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels_sim},
            "template": {
                "metadata": {"labels": labels_sim},
                "spec": {
                    "securityContext": security(),
                    "containers": [{
                        "name": "sim",
                        "image": o.image,
                        "args": ["sim", "serve", "--config", format!("{SPEC_MOUNT}/{SIM_KEY}"), "--host", "0.0.0.0", "--port", SIM_PORT.to_string()],
                        "ports": [{"containerPort": SIM_PORT, "name": "http"}],
                        "readinessProbe": {"httpGet": {"path": "/health", "port": SIM_PORT}, "periodSeconds": 2},
                        "resources": resources(o),
                        "securityContext": container_security(),
                        "volumeMounts": [{"name": "spec", "mountPath": SPEC_MOUNT, "readOnly": true}],
                    }],
                    "volumes": [spec_volume(o)],
                },
            },
        },
    });
    let service = json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta(&format!("{}-sim", o.name), o, "sim"),
        "spec": {
            "selector": labels(o, "sim"),
            "ports": [{"name": "http", "port": SIM_PORT, "targetPort": SIM_PORT}],
        },
    });
    [deployment, service]
}

fn pretty(v: &impl serde::Serialize) -> Result<String, String> {
    serde_json::to_string_pretty(v)
        .map(|mut s| {
            s.push('\n');
            s
        })
        .map_err(|e| format!("cannot write JSON: {e}"))
}

fn readme(o: &K8sOptions, ns: &str) -> String {
    let name = &o.name;
    let sim = if o.sim_server { " -f sim-server.yaml" } else { "" };
    format!(
        "infermeter sharded run '{name}': {n} shards, measured phase at {at}. See docs/distributed.md.\n\
\n\
1. Image: build deploy/Containerfile (a static binary on scratch) and push it as {image}.\n\
2. Before {at} (allow a minute for scheduling and image pulls):\n\
   kubectl{ns} apply -f configmap.yaml -f pvc.yaml{sim} -f job.yaml\n\
3. Wait for the shards, then merge them on the volume:\n\
   kubectl{ns} wait --for=condition=complete job/{name} --timeout=1h\n\
   kubectl{ns} apply -f merge-job.yaml\n\
   kubectl{ns} wait --for=condition=complete job/{name}-merge --timeout=30m\n\
4. Copy the merged run out and look at it:\n\
   kubectl{ns} apply -f fetch-pod.yaml\n\
   kubectl{ns} wait --for=condition=ready pod/{name}-fetch\n\
   kubectl{ns} cp {name}-fetch:{merged} ./{name}-merged\n\
   (./{name}-merged/report.html, summary.json, records.jsonl; the shards are under {results}/{name}/shard-K)\n\
5. Clean up: kubectl{ns} delete -f fetch-pod.yaml -f merge-job.yaml -f job.yaml{sim} -f configmap.yaml (and -f pvc.yaml to drop the results)\n\
\n\
A shard that failed is not rerun (it would start late): merge the others with\n\
`infermeter merge {results}/{name} -o {merged} --allow-partial` (edit merge-job.yaml's args).\n\
Rerunning: render again for a new start time; the old shard directories are overwritten.\n",
        n = o.shards,
        at = o.start_at,
        image = o.image,
        merged = merged_out(name),
        results = RESULTS_MOUNT,
    )
}

#[cfg(test)]
mod tests;
