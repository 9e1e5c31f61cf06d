//! A shard's description in its run's facts (`run.shard`, written to `run.json` before the
//! run): which shard, where it ran, its clock, and its own part of the load; and the line it
//! prints before it starts.

use crate::report::RunInfo;
use crate::shard::{host_name, own_load, ClockEvidence, Shard, ShardInfo, Sharding};
use crate::spec::validate::LoadConfig;

/// Fill a shard's run description: its `shard` facts (host, node, clock, start time) and
/// its own part of the load in the load fields (workers or rate and cap, requests, warm-up).
pub fn describe(info: &mut RunInfo, shard: Shard, s: &Sharding, load: &LoadConfig) {
    let own = own_load(shard, &load.load, load.requests, load.warmup);
    info.concurrency = own.concurrency;
    info.request_rate = own.rate;
    info.max_concurrency = own.max_concurrency;
    info.requests = own.requests;
    info.warmup = own.warmup;
    info.shard = Some(ShardInfo {
        index: shard.index,
        count: shard.count,
        index_source: s.index_source.clone(),
        host: host_name(),
        node: std::env::var("NODE_NAME").ok().filter(|n| !n.is_empty()),
        start_at: s.start_at.as_ref().map(|(_, t)| t.clone()),
        phase_start_us: None,
        start_late_ms: None,
        clock: ClockEvidence::read(),
    });
}

/// The line a shard prints before it starts.
pub fn start_line(shard: Shard, s: &Sharding, load: &LoadConfig) -> String {
    let own = own_load(shard, &load.load, load.requests, load.warmup);
    let what = match (own.concurrency, own.rate) {
        (Some(c), _) => format!("{c} worker{}", if c == 1 { "" } else { "s" }),
        (None, Some(r)) => format!("one arrival in {} ({r:.3} req/s)", shard.count),
        (None, None) => String::new(),
    };
    let requests = match (own.requests, load.requests) {
        (Some(o), Some(t)) => format!(", {o} of {t} requests"),
        _ => String::new(),
    };
    let source = if s.index_source == "argument" {
        String::new()
    } else {
        format!(" (index from {})", s.index_source)
    };
    let start = match &s.start_at {
        Some((_, t)) => format!("; measured phase starts at {t}"),
        None => String::new(),
    };
    format!(
        "infermeter shard {shard}{source} on {}: {what}{requests}{start}",
        host_name()
    )
}
