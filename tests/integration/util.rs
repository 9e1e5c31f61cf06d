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
/// other (the test harness runs tests on parallel threads). The one serialising lock of the
/// suite: `bench` takes it, and a test that runs several timed things (or loads the CPU, like
/// headless Chromium or the real llama.cpp server) holds it across them with `serial()`. It is
/// reentrant on one thread, so `bench` inside a `serial()` section does not deadlock.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

thread_local! {
    static HELD: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// A hold on the serialising lock (a no-op when this thread already holds it).
pub struct Serial(#[allow(dead_code)] Option<std::sync::MutexGuard<'static, ()>>);

impl Drop for Serial {
    fn drop(&mut self) {
        HELD.with(|h| h.set(h.get() - 1));
    }
}

/// Hold the one-at-a-time lock for the rest of the scope.
pub fn serial() -> Serial {
    let outer = HELD.with(|h| {
        let n = h.get();
        h.set(n + 1);
        n == 0
    });
    Serial(outer.then(|| ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())))
}

/// The longest a `bench` of the suite may take before it counts as hung.
pub const BENCH_LIMIT: std::time::Duration = std::time::Duration::from_secs(180);

/// `infermeter bench ARGS --out TMP/run --no-progress`, killed (and failed) past `BENCH_LIMIT`.
pub fn bench(args: &[&str]) -> Run {
    bench_within(args, BENCH_LIMIT)
}

/// `bench`, killed (and failed: the run hangs) past `limit`. Output goes through files, so a
/// chatty run cannot block on a full pipe.
pub fn bench_within(args: &[&str], limit: std::time::Duration) -> Run {
    let _serial = serial();
    let dir = tempfile::tempdir().expect("tempdir");
    let out_dir = dir.path().join("run");
    let (out_path, err_path) = (dir.path().join("stdout"), dir.path().join("stderr"));
    let mut child = bin()
        .arg("bench")
        .args(args)
        .arg("--out")
        .arg(&out_dir)
        .arg("--no-progress")
        .env_remove("OPENAI_API_KEY")
        .stdin(std::process::Stdio::null())
        .stdout(std::fs::File::create(&out_path).expect("stdout file"))
        .stderr(std::fs::File::create(&err_path).expect("stderr file"))
        .spawn()
        .expect("spawn infermeter");
    let t = std::time::Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if t.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "bench {args:?} still running after {limit:?}: it hangs\nstderr:\n{}",
                std::fs::read_to_string(&err_path).unwrap_or_default()
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let out = Output {
        status,
        stdout: std::fs::read(&out_path).unwrap_or_default(),
        stderr: std::fs::read(&err_path).unwrap_or_default(),
    };
    Run { out, dir }
}

pub fn f(v: &Value, ptr: &str) -> f64 {
    v.pointer(ptr)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("missing {ptr} in {v}"))
}
