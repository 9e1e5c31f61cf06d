//! Reading a run specification from a file (TOML, YAML or JSON, chosen by extension), and
//! layering command-line values over it.
//!
//! Everything goes through one JSON tree: the file is parsed into a `serde_json::Value`,
//! flags are written into that tree at their keys (`set`), and the tree is deserialized
//! once into a [`RunSpec`] with unknown keys refused. A misspelled key gets one line naming
//! the file, the key's full path and the nearest valid key.

use super::RunSpec;
use serde_json::Value;
use std::path::Path;

/// The value written over a header's value in `run.json`.
pub const REDACTED: &str = "<redacted>";

/// Parse a config file into a JSON tree (not yet checked against the specification).
pub fn read_tree(path: &Path) -> Result<Value, String> {
    let shown = path.display();
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read --config {shown}: {e}"))?;
    let text = String::from_utf8(bytes).map_err(|_| format!("--config {shown}: not UTF-8 text"))?;
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let tree: Value = match ext.as_str() {
        "toml" => toml::from_str(&text).map_err(|e| format!("{shown}: {}", one_line(&e.to_string())))?,
        "yaml" | "yml" => {
            serde_norway::from_str(&text).map_err(|e| format!("{shown}: {}", one_line(&e.to_string())))?
        }
        "json" => serde_json::from_str(&text).map_err(|e| format!("{shown}: {e}"))?,
        _ => {
            return Err(format!(
                "--config {shown}: unknown file type (use .toml, .yaml, .yml or .json)"
            ))
        }
    };
    match tree {
        Value::Object(_) => Ok(tree),
        Value::Null => Ok(Value::Object(Default::default())),
        _ => Err(format!("{shown}: expected a table of settings at the top level")),
    }
}

/// The JSON tree of a specification (the base that flags are written over).
pub fn tree_of(spec: &RunSpec) -> Value {
    serde_json::to_value(spec).unwrap_or_else(|_| Value::Object(Default::default()))
}

/// Write `value` at the dotted `key` (e.g. `load.concurrency`), creating tables on the way.
pub fn set(tree: &mut Value, key: &str, value: Value) {
    let mut node = tree;
    let mut parts = key.split('.').peekable();
    while let Some(part) = parts.next() {
        if !node.is_object() {
            *node = Value::Object(Default::default());
        }
        let Value::Object(map) = node else { return };
        if parts.peek().is_none() {
            map.insert(part.to_string(), value);
            return;
        }
        node = map
            .entry(part.to_string())
            .or_insert_with(|| Value::Object(Default::default()));
    }
}

/// The value at the dotted `key`, if any.
pub fn get<'a>(tree: &'a Value, key: &str) -> Option<&'a Value> {
    key.split('.').try_fold(tree, |node, part| node.get(part))
}

/// Check a tree against the specification. `source` names where it came from (a file path,
/// or "the command line") for the error line.
pub fn to_spec(tree: Value, source: &str) -> Result<RunSpec, String> {
    let mut spec: RunSpec = serde_path_to_error::deserialize(tree).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        describe_error(source, &path, &inner)
    })?;
    if spec.spec_version != super::SPEC_VERSION {
        return Err(format!(
            "{source}: spec_version {} is not supported (this infermeter reads version {})",
            spec.spec_version,
            super::SPEC_VERSION
        ));
    }
    if let Some(h) = spec.target.headers.iter().find(|h| h.contains(REDACTED)) {
        let name = h.split_once(':').map(|(k, _)| k.trim()).unwrap_or(h);
        return Err(format!(
            "{source}: header '{name}' was redacted when the run was written; give it again with --header '{name}: VALUE'"
        ));
    }
    // Facts of a past run describe that run, not the next one.
    spec.run = None;
    Ok(spec)
}

/// One line for a deserialization error: the file, the key's full path, and for an unknown
/// key the nearest valid one.
fn describe_error(source: &str, path: &str, inner: &str) -> String {
    let msg = one_line(inner);
    if let Some(rest) = msg.strip_prefix("unknown field `") {
        let (field, tail) = rest.split_once('`').unwrap_or((rest, ""));
        let candidates: Vec<&str> = tail.split('`').skip(1).step_by(2).collect();
        // serde_path_to_error's path ends at the unknown key itself.
        let full = if path.is_empty() || path == "." {
            field.to_string()
        } else {
            path.to_string()
        };
        let parent = full.rsplit_once('.').map(|(p, _)| format!("{p}.")).unwrap_or_default();
        return match nearest(field, &candidates) {
            Some(best) => format!("{source}: unknown key '{full}' (did you mean '{parent}{best}'?)"),
            None => format!("{source}: unknown key '{full}'"),
        };
    }
    if path.is_empty() || path == "." {
        format!("{source}: {msg}")
    } else {
        format!("{source}: key '{path}': {msg}")
    }
}

/// The candidate closest to `word` by edit distance, if reasonably close.
pub fn nearest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let (best, d) = candidates
        .iter()
        .map(|c| (*c, edit_distance(&word.to_ascii_lowercase(), c)))
        .min_by_key(|(_, d)| *d)?;
    let limit = (word.len().max(best.len()) / 2).max(2);
    (d <= limit || best.contains(word) || word.contains(best)).then_some(best)
}

/// Levenshtein distance over bytes (keys are ASCII).
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The specification as written to `run.json`: header values redacted.
pub fn for_run_json(spec: &RunSpec) -> RunSpec {
    let mut s = spec.clone();
    s.target.headers = s
        .target
        .headers
        .iter()
        .map(|h| match h.split_once(':') {
            Some((k, _)) => format!("{}: {REDACTED}", k.trim()),
            None => REDACTED.to_string(),
        })
        .collect();
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_keys_name_the_path_and_the_nearest_key() {
        let e = to_spec(json!({"load": {"concurency": 4}}), "x.toml").unwrap_err();
        assert_eq!(
            e,
            "x.toml: unknown key 'load.concurency' (did you mean 'load.concurrency'?)"
        );
        let e = to_spec(json!({"workload": {"input_token": "5"}}), "f").unwrap_err();
        assert!(e.contains("'workload.input_tokens'"), "{e}");
        let e = to_spec(json!({"lod": {}}), "f").unwrap_err();
        assert!(e.contains("unknown key 'lod'") && e.contains("'load'"), "{e}");
        let e = to_spec(json!({"sim": {"gpux": "l4"}}), "f").unwrap_err();
        assert!(e.contains("'sim.gpux'") && e.contains("'sim.gpu'"), "{e}");
        let e = to_spec(json!({"zzzzzzzzzzzz": 1}), "f").unwrap_err();
        assert!(e.starts_with("f: unknown key 'zzzzzzzzzzzz'"), "{e}");
    }

    #[test]
    fn wrong_types_name_the_key() {
        let e = to_spec(json!({"load": {"concurrency": "many"}}), "f").unwrap_err();
        assert!(e.starts_with("f: key 'load.concurrency': invalid type"), "{e}");
        assert!(!e.contains('\n'));
    }

    #[test]
    fn set_and_get_dotted_keys() {
        let mut t = tree_of(&RunSpec::default());
        set(&mut t, "load.concurrency", json!(7));
        set(&mut t, "sim.gpu", json!("h100-sxm"));
        assert_eq!(get(&t, "load.concurrency"), Some(&json!(7)));
        let s = to_spec(t, "flags").unwrap();
        assert_eq!(s.load.concurrency, Some(7));
        assert_eq!(s.sim.as_ref().map(|s| s.gpu.as_str()), Some("h100-sxm"));
        // The rest of the simulated server keeps its defaults.
        assert_eq!(
            s.sim.map(|s| s.model_preset),
            Some(super::super::defaults::SIM_MODEL_PRESET.to_string())
        );
    }

    #[test]
    fn round_trip_through_every_format() {
        let mut spec = RunSpec::embedded();
        spec.load.rate = Some(12.5);
        spec.workload.input_tokens = "normal:512,128".into();
        spec.slo = Some("ttft=200ms".into());
        let dir = tempfile::tempdir().unwrap();
        let toml_path = dir.path().join("a.toml");
        std::fs::write(&toml_path, spec.to_toml().unwrap()).unwrap();
        let yaml_path = dir.path().join("a.yaml");
        std::fs::write(&yaml_path, serde_norway::to_string(&spec).unwrap()).unwrap();
        let json_path = dir.path().join("a.json");
        std::fs::write(&json_path, serde_json::to_string(&spec).unwrap()).unwrap();
        for p in [&toml_path, &yaml_path, &json_path] {
            let back = to_spec(read_tree(p).unwrap(), "f").unwrap();
            assert_eq!(back, spec, "{}", p.display());
        }
        let bad = dir.path().join("a.ini");
        std::fs::write(&bad, "x").unwrap();
        assert!(read_tree(&bad).unwrap_err().contains("unknown file type"));
    }

    #[test]
    fn redacted_headers_are_refused_on_reading() {
        let mut spec = RunSpec::default();
        spec.target.headers = vec!["Authorization: Bearer sk-1".into()];
        let written = for_run_json(&spec);
        assert_eq!(written.target.headers, vec![format!("Authorization: {REDACTED}")]);
        let e = to_spec(tree_of(&written), "run.json").unwrap_err();
        assert!(e.contains("header 'Authorization' was redacted"), "{e}");
    }

    #[test]
    fn nearest_is_none_for_unrelated_words() {
        assert_eq!(nearest("rate", &["rate", "arrival"]), Some("rate"));
        assert_eq!(nearest("qqqqqqqqqq", &["rate", "arrival"]), None);
    }
}
