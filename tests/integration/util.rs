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
    /// Wall-clock time of the command, measured by the test (an upper bound on any time the
    /// run reports, e.g. its `duration_s`).
    pub elapsed: std::time::Duration,
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
    Run {
        out,
        dir,
        elapsed: t.elapsed(),
    }
}

pub fn f(v: &Value, ptr: &str) -> f64 {
    v.pointer(ptr)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("missing {ptr} in {v}"))
}

/// A standalone `infermeter sim serve --port 0 ARGS` on 127.0.0.1, killed when dropped (also
/// when an assertion fails first).
pub struct SimServer {
    child: std::process::Child,
    pub url: String,
}

impl SimServer {
    /// Start it and wait (at most 20 s) for the address it prints.
    pub fn start(args: &[&str]) -> SimServer {
        use std::io::BufRead;
        let mut child = bin()
            .args(["sim", "serve", "--port", "0"])
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn sim serve");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut server = SimServer {
            child,
            url: String::new(),
        };
        let mut seen = Vec::new();
        server.url = loop {
            let Ok(line) = rx.recv_timeout(std::time::Duration::from_secs(20)) else {
                panic!("sim serve printed no address: {seen:?}");
            };
            if let Some(rest) = line.split("http://").nth(1) {
                break format!("http://{}", rest.split_whitespace().next().unwrap_or_default());
            }
            seen.push(line);
        };
        server
    }
}

impl Drop for SimServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// True under CI: the environment variable `CI` is set to anything but `""`, `0` or `false`
/// (`.ci/run` exports `CI=true`; hosted CI services set it too).
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false"))
}

/// A test's dependency is missing. Outside CI it skips, saying so on stderr; under CI the
/// dependency is required (`.ci/run` installs it), so the test fails instead of passing green.
pub fn skip_missing(test: &str, why: &str) {
    assert!(
        !under_ci(),
        "{test}: {why}, and CI requires it (CI is set; .ci/run installs every test dependency)"
    );
    eprintln!("SKIPPED {test}: {why}");
}
