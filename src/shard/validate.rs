//! The `[shard]` section checked against the rest of the specification: a shard index that
//! exists (given, or from `JOB_COMPLETION_INDEX`), a load that can be dealt over the shards
//! (every shard gets a worker and a request), a target that all shards share, and a start
//! time that parses. Errors are one line.

use super::{index_from_env, parse_utc, Shard, Sharding, INDEX_ENV, MAX_SHARDS};
use crate::schedule::Load;
use crate::spec::ShardSpec;

/// Longest wait for `start_at` that is accepted (a later time is more likely a typo).
pub const MAX_START_DELAY_S: u64 = 7 * 86_400;

/// Validate `s` for a run of `load` with `requests` measured requests; `embedded` is true
/// when the target is the embedded simulated server; `env_index` is the value of
/// `JOB_COMPLETION_INDEX`; `now_us` the wall clock.
pub fn sharding(
    s: &ShardSpec,
    (load, requests): (&Load, Option<u64>),
    embedded: bool,
    env_index: Option<&str>,
    now_us: u64,
) -> Result<Sharding, String> {
    let start_at = match &s.start_at {
        Some(t) => {
            let us = parse_utc(t)?;
            if us > now_us + MAX_START_DELAY_S * 1_000_000 {
                return Err(format!(
                    "--start-at '{t}' is more than {} days ahead",
                    MAX_START_DELAY_S / 86_400
                ));
            }
            Some((us, t.trim().to_string()))
        }
        None => None,
    };
    let count = match (s.count, s.index) {
        (None, None) => {
            return Ok(Sharding {
                shard: None,
                index_source: String::new(),
                start_at,
            })
        }
        (None, Some(_)) => return Err("shard.index needs shard.count (--shard K/N or --shards N)".into()),
        (Some(n), _) if n == 0 || n > MAX_SHARDS => {
            return Err(format!("invalid --shards '{n}': expected 1 to {MAX_SHARDS}"))
        }
        (Some(n), _) => n,
    };
    let (index, source) = match s.index {
        Some(k) if k >= count => {
            return Err(format!(
                "invalid shard index {k} of {count} shards: expected 0 to {}",
                count - 1
            ))
        }
        Some(k) => (k, "argument".to_string()),
        None => (index_from_env(INDEX_ENV, env_index, count)?, INDEX_ENV.to_string()),
    };
    if embedded {
        return Err(
            "a sharded run needs --url: every shard would otherwise load its own embedded simulated server (start one with `infermeter sim serve`)"
                .into(),
        );
    }
    let n = u64::from(count);
    match *load {
        Load::Closed { concurrency } if (concurrency as u64) < n => {
            return Err(format!(
                "--concurrency {concurrency} cannot be dealt over {count} shards: every shard needs a worker"
            ))
        }
        Load::Open {
            max_concurrency: Some(c),
            ..
        } if (c as u64) < n => {
            return Err(format!(
                "--max-concurrency {c} cannot be dealt over {count} shards: every shard needs a slot"
            ))
        }
        _ => {}
    }
    if let Some(r) = requests {
        if r < n {
            return Err(format!(
                "--requests {r} cannot be dealt over {count} shards: every shard needs a request"
            ));
        }
    }
    Ok(Sharding {
        shard: Some(Shard { index, count }),
        index_source: source,
        start_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::RunSpec;

    const NOW: u64 = 1_780_000_000_000_000;

    /// `sharding` for `spec`'s shard section and load.
    fn check(spec: &RunSpec, embedded: bool, env: Option<&str>) -> Result<Sharding, String> {
        let l = crate::spec::validate::load(spec).expect("load");
        sharding(&spec.shard, (&l.load, l.requests), embedded, env, NOW)
    }

    #[test]
    fn index_from_argument_or_environment() {
        let mut spec = RunSpec::default();
        spec.shard.count = Some(4);
        let s = check(&spec, false, Some("2")).unwrap();
        assert_eq!(s.shard, Some(Shard { index: 2, count: 4 }));
        assert_eq!(s.index_source, INDEX_ENV);
        spec.shard.index = Some(1);
        let s = check(&spec, false, Some("2")).unwrap();
        assert_eq!(
            (s.shard.map(|s| s.index), s.index_source.as_str()),
            (Some(1), "argument")
        );
        spec.shard.index = None;
        let e = check(&spec, false, None).unwrap_err();
        assert!(e.contains("JOB_COMPLETION_INDEX"), "{e}");
        assert!(check(&spec, true, Some("0")).unwrap_err().contains("--url"));
    }

    #[test]
    fn loads_that_cannot_be_dealt_are_refused() {
        let mut spec = RunSpec::default();
        spec.shard.count = Some(4);
        spec.shard.index = Some(0);
        spec.load.concurrency = Some(3);
        assert!(check(&spec, false, None)
            .unwrap_err()
            .contains("every shard needs a worker"));
        spec.load.concurrency = None;
        spec.load.rate = Some(5.0);
        spec.load.max_concurrency = Some(2);
        assert!(check(&spec, false, None)
            .unwrap_err()
            .contains("every shard needs a slot"));
        spec.load.max_concurrency = None;
        spec.load.requests = Some(3);
        assert!(check(&spec, false, None)
            .unwrap_err()
            .contains("every shard needs a request"));
        spec.load.requests = Some(4);
        assert!(check(&spec, false, None).is_ok());
    }

    #[test]
    fn start_times() {
        let mut spec = RunSpec::default();
        spec.shard.start_at = Some("2026-05-01T12:00:00Z".into());
        let s = check(&spec, true, None).unwrap();
        assert_eq!(s.shard, None);
        assert_eq!(s.start_at.map(|(_, t)| t), Some("2026-05-01T12:00:00Z".into()));
        spec.shard.start_at = Some("2099-01-01T00:00:00Z".into());
        assert!(check(&spec, true, None).unwrap_err().contains("days ahead"));
        spec.shard.start_at = Some("soon".into());
        assert!(check(&spec, true, None).is_err());
        let mut only_index = RunSpec::default();
        only_index.shard.index = Some(0);
        assert!(check(&only_index, false, None).is_err());
    }
}
