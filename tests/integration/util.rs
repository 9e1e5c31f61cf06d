//! Helpers: run the binary with a temp output dir, read its summary and records.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_infermeter"))
}

pub struct Run {
    pub out: Output,
    pub dir: tempfile::TempDir,
}

impl Run {
    pub fn ok(&self) -> &Self {
        assert!(
            self.out.status.success(),
            "exit {:?}\nstdout:\n{}\nstderr:\n{}",
            self.out.status.code(),
            String::from_utf8_lossy(&self.out.stdout),
            String::from_utf8_lossy(&self.out.stderr)
        );
        self
    }
    pub fn path(&self) -> PathBuf {
        self.dir.path().join("run")
    }
    pub fn summary(&self) -> Value {
        read_json(&self.path().join("summary.json"))
    }
    pub fn records(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(self.path().join("records.jsonl")).expect("records.jsonl");
        text.lines()
            .map(|l| serde_json::from_str(l).expect("record line"))
            .collect()
    }
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.stdout).into_owned()
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.out.stderr).into_owned()
    }
}

pub fn read_json(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))).expect("json")
}

/// Benchmarks measure time on a 2-core machine: one at a time, so tests do not distort each
/// other (the test harness runs tests on parallel threads).
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Hold the one-benchmark-at-a-time lock (for tests that run other timed commands).
pub fn lock() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// `infermeter bench ARGS --out TMP/run --no-progress`.
pub fn bench(args: &[&str]) -> Run {
    let _guard = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().expect("tempdir");
    let out_dir = dir.path().join("run");
    let out = bin()
        .arg("bench")
        .args(args)
        .arg("--out")
        .arg(&out_dir)
        .arg("--no-progress")
        .env_remove("OPENAI_API_KEY")
        .output()
        .expect("run infermeter");
    Run { out, dir }
}

pub fn f(v: &Value, ptr: &str) -> f64 {
    v.pointer(ptr)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("missing {ptr} in {v}"))
}

/// Serializes tests that load the CPU heavily (headless Chromium, back-to-back benches) with
/// the timing-sensitive real-server test, so neither distorts the other on a 2-core machine.
pub fn exclusive() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}
