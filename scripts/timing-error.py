#!/usr/bin/env python3
"""Timing error of infermeter's client against the simulated server's write log.

Usage: scripts/timing-error.py RUN_DIR WRITE_LOG [LABEL]
       (with LABEL: one table row, including the client's read lag and verdict)

The server (`infermeter sim serve --write-log WRITE_LOG`) records when it handed each body
chunk of each response to the HTTP layer; the client records when its socket read returned
each token event. Both use the system monotonic clock, and requests carry
`X-Request-Id: {run.json request_id_prefix}-{record id}`, so the two join exactly.
Error of an event = client stamp - server write time. The run must use `--api completions`
(token chunks are then the first chunks of each response). Prints p50/p99/max in ms.
"""
import json
import sys


def pct(v, p):
    if not v:
        return float("nan")
    v = sorted(v)
    r = p / 100 * (len(v) - 1)
    lo, hi = int(r), min(int(r) + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (r - lo)


def main():
    run, log = sys.argv[1], sys.argv[2]
    info = json.load(open(f"{run}/run.json"))
    summary = json.load(open(f"{run}/summary.json"))
    prefix = info.get("run", info)["request_id_prefix"]  # run.json: the spec, facts under "run"
    t0 = summary["client"]["run_start_monotonic_ns"]
    writes = {}
    for line in open(log):
        d = json.loads(line)
        if d["id"].startswith(prefix + "-"):
            writes[int(d["id"][len(prefix) + 1:])] = d["t_ns"]
    ttft, ev = [], []
    joined = 0
    for line in open(f"{run}/records.jsonl"):
        r = json.loads(line)
        if r.get("error") or r.get("warmup") or r["id"] not in writes:
            continue
        w = writes[r["id"]]
        events = r["events"]
        if len(w) < len(events):
            continue
        joined += 1
        send_ns = t0 + r["send_us"] * 1000
        for i, (t_us, _k, _c) in enumerate(events):
            err_ms = (send_ns + t_us * 1000 - w[i]) / 1e6
            ev.append(err_ms)
            if i == 0:
                ttft.append(err_ms)
    if not ev:
        sys.exit("timing-error: no record joined the write log (wrong files, or --api chat?)")
    if len(sys.argv) > 3:
        c = summary["client"]
        lag = c.get("read_lag_ms") or {}
        late = lag.get("late_shared_stamps", 0) / max(len(ev), 1) * 100
        print("%-34s %7.3f %7.3f %8.3f %8.3f %8.2f %9.2f %7.2f %s" % (
            sys.argv[3], pct(ttft, 50), pct(ttft, 99), pct(ev, 50), pct(ev, 99), max(ev),
            lag.get("p99", float("nan")), late, "SATURATED" if c["saturated"] else "ok"))
        return
    print("requests joined %d, token events %d" % (joined, len(ev)))
    for name, v in (("TTFT (first event)", ttft), ("every token event", ev)):
        print("%-20s error p50 %.3f ms  p99 %.3f ms  max %.3f ms  min %.3f ms"
              % (name, pct(v, 50), pct(v, 99), max(v), min(v)))


if __name__ == "__main__":
    main()
