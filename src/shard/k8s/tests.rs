use super::*;

fn opts(n: u32) -> K8sOptions {
    K8sOptions {
        name: "bench-a".into(),
        namespace: Some("load".into()),
        image: "registry.example/infermeter:0.1".into(),
        shards: n,
        start_at: "2026-05-01T12:00:00Z".into(),
        storage: "1Gi".into(),
        storage_class: Some("nfs".into()),
        volume_access: "ReadWriteMany".into(),
        cpu: "2".into(),
        memory: "1Gi".into(),
        api_key_secret: Some(("llm-key".into(), "api-key".into())),
        sim_server: false,
    }
}

fn spec() -> RunSpec {
    let mut s = RunSpec::default();
    s.target.url = Some("http://vllm.load.svc:8000".into());
    s.load.rate = Some(200.0);
    s.load.duration = Some("5m".into());
    s.seed = 3;
    s
}

fn docs(files: &[(String, String)], name: &str) -> Vec<serde_json::Value> {
    let text = &files
        .iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("{name}"))
        .1;
    text.split("\n---\n")
        .skip(1)
        .map(|d| serde_norway::from_str(d).expect("YAML"))
        .collect()
}

#[test]
fn indexed_job_with_the_specification_in_a_configmap() {
    let files = render(&spec(), &opts(4), &[]).unwrap();
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "configmap.yaml",
            "pvc.yaml",
            "job.yaml",
            "merge-job.yaml",
            "fetch-pod.yaml",
            "README.txt"
        ]
    );
    let job = &docs(&files, "job.yaml")[0];
    assert_eq!(job["kind"], "Job");
    assert_eq!(job["metadata"]["namespace"], "load");
    assert_eq!(job["spec"]["completionMode"], "Indexed");
    assert_eq!(job["spec"]["completions"], 4);
    assert_eq!(job["spec"]["parallelism"], 4);
    let c = &job["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        c["args"],
        json!([
            "bench",
            "--config",
            "/etc/infermeter/spec.json",
            "--out",
            "/results/bench-a/shard-{shard}",
            "--no-progress"
        ])
    );
    assert_eq!(c["env"][1]["name"], "OPENAI_API_KEY");
    assert_eq!(c["env"][1]["valueFrom"]["secretKeyRef"]["name"], "llm-key");
    // The ConfigMap's specification is the run's, with the shard count and start, no index.
    let cm = &docs(&files, "configmap.yaml")[0];
    let text = cm["data"]["spec.json"].as_str().unwrap();
    let back: RunSpec = serde_json::from_str(text).unwrap();
    let mut want = spec();
    want.shard.count = Some(4);
    want.shard.start_at = Some("2026-05-01T12:00:00Z".into());
    assert_eq!(back, want);
    let pvc = &docs(&files, "pvc.yaml")[0];
    assert_eq!(pvc["spec"]["accessModes"], json!(["ReadWriteMany"]));
    assert_eq!(pvc["spec"]["storageClassName"], "nfs");
    let merge = &docs(&files, "merge-job.yaml")[0];
    assert_eq!(
        merge["spec"]["template"]["spec"]["containers"][0]["args"],
        json!(["merge", "/results/bench-a", "-o", "/results/bench-a/merged"])
    );
    let readme = &files.last().unwrap().1;
    assert!(
        readme.contains("kubectl -n load wait --for=condition=complete job/bench-a"),
        "{readme}"
    );
}

#[test]
fn simulated_server_and_shipped_files() {
    let mut s = RunSpec::embedded();
    s.load.concurrency = Some(8);
    s.workload.tokenizer = "/home/me/tok/tokenizer.json".into();
    let mut o = opts(2);
    o.sim_server = true;
    o.namespace = None;
    let files = [Attachment {
        key: "workload.tokenizer",
        path: "/home/me/tok/tokenizer.json".into(),
        content: "{\"model\": {}}".into(),
    }];
    let out = render(&s, &o, &files).unwrap();
    let sim = docs(&out, "sim-server.yaml");
    assert_eq!(
        (sim[0]["kind"].as_str(), sim[1]["kind"].as_str()),
        (Some("Deployment"), Some("Service"))
    );
    let cm = &docs(&out, "configmap.yaml")[0];
    let spec: RunSpec = serde_json::from_str(cm["data"]["spec.json"].as_str().unwrap()).unwrap();
    assert_eq!(spec.target.url.as_deref(), Some("http://bench-a-sim:8000"));
    assert!(spec.sim.is_none());
    assert_eq!(
        spec.workload.tokenizer,
        "/etc/infermeter/workload.tokenizer-tokenizer.json"
    );
    assert_eq!(cm["data"]["workload.tokenizer-tokenizer.json"], "{\"model\": {}}");
    let served: serde_json::Value = serde_json::from_str(cm["data"]["sim.json"].as_str().unwrap()).unwrap();
    assert_eq!(served["sim"]["model_preset"], crate::spec::defaults::SIM_MODEL_PRESET);
    assert_eq!(
        named_files(&s),
        vec![("workload.tokenizer", "/home/me/tok/tokenizer.json".to_string())]
    );
}

#[test]
fn refusals() {
    let err = |s: &RunSpec, o: &K8sOptions| render(s, o, &[]).unwrap_err();
    assert!(err(&RunSpec::embedded(), &opts(2)).contains("needs --url"));
    let mut o = opts(2);
    o.name = "Bench_A".into();
    assert!(err(&spec(), &o).contains("invalid --name"));
    let mut o = opts(2);
    o.memory = "lots".into();
    assert!(err(&spec(), &o).contains("invalid --memory"));
    let mut s = spec();
    s.target.headers = vec!["Authorization: Bearer x".into()];
    assert!(err(&s, &opts(2)).contains("--api-key-secret"));
    let mut s = spec();
    s.shard.index = Some(1);
    assert!(err(&s, &opts(2)).contains("JOB_COMPLETION_INDEX"));
    let big = Attachment {
        key: "workload.tokenizer",
        path: "t.json".into(),
        content: "x".repeat(CONFIGMAP_LIMIT),
    };
    assert!(render(&spec(), &opts(2), &[big]).unwrap_err().contains("1 MiB"));
    for q in ["500m", "2", "1Gi", "1.5G"] {
        assert!(check_quantity("q", q).is_ok(), "{q}");
    }
    for q in ["", "Gi", "-1", "1 Gi", "1GB"] {
        assert!(check_quantity("q", q).is_err(), "{q}");
    }
}
