//! `--retry`: which failures may be retried and how long to wait before each retry. Kept
//! apart from the transport so the policy is a pure, unit-tested function; the runner owns
//! the loop (it must stop retrying the moment the run stops).
//!
//! Only failures that happened before any byte of a successful response body are
//! retryable: the server refused or never answered (`connect_*`, `reset_before_headers`), or
//! answered with an error status (`http_429`, `http_5xx`). A stream that broke midway is never
//! re-sent: its tokens were already measured, and re-sending would double-count work.

use crate::record::ErrorClass;
use std::time::Duration;

/// Longest wait between two attempts, whatever the exponent.
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// Longest server-requested wait (`Retry-After`) honoured; a longer one is cut to this.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (0 = off).
    pub max: u32,
    /// Wait before the first retry; doubled for each further one, capped at `MAX_BACKOFF`.
    pub backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max: 0,
            backoff: Duration::from_millis(100),
        }
    }
}

impl RetryPolicy {
    /// Wait before retry number `n` (1-based): `backoff · 2^(n−1)`, capped.
    pub fn delay(&self, n: u32) -> Duration {
        let factor = 1u32 << n.saturating_sub(1).min(20);
        self.backoff.saturating_mul(factor).min(MAX_BACKOFF)
    }

    /// Wait before retry number `n` when the failed attempt's response said `Retry-After`:
    /// the longer of the backoff and the server's delay (capped at [`MAX_RETRY_AFTER`]).
    pub fn delay_after(&self, n: u32, retry_after: Option<Duration>) -> Duration {
        let asked = retry_after.unwrap_or_default().min(MAX_RETRY_AFTER);
        self.delay(n).max(asked)
    }

    /// Whether a request that failed with `class` after `done` retries gets another attempt.
    pub fn should_retry(&self, class: ErrorClass, done: u32) -> bool {
        done < self.max && retryable(class)
    }
}

/// Failure classes that leave no response body byte behind and are usually transient.
pub fn retryable(class: ErrorClass) -> bool {
    matches!(
        class,
        ErrorClass::Http429
            | ErrorClass::Http5xx
            | ErrorClass::ConnectRefused
            | ErrorClass::ConnectTimeout
            | ErrorClass::ConnectError
            | ErrorClass::ResetBeforeHeaders
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponential_and_capped() {
        let p = RetryPolicy {
            max: 50,
            backoff: Duration::from_millis(100),
        };
        assert_eq!(p.delay(1), Duration::from_millis(100));
        assert_eq!(p.delay(2), Duration::from_millis(200));
        assert_eq!(p.delay(4), Duration::from_millis(800));
        assert_eq!(p.delay(8), MAX_BACKOFF);
        assert_eq!(p.delay(49), MAX_BACKOFF, "no overflow");
    }

    #[test]
    fn retry_after_lengthens_the_wait_never_shortens_it() {
        let p = RetryPolicy {
            max: 5,
            backoff: Duration::from_millis(100),
        };
        assert_eq!(p.delay_after(1, None), Duration::from_millis(100));
        assert_eq!(p.delay_after(1, Some(Duration::from_secs(2))), Duration::from_secs(2));
        assert_eq!(
            p.delay_after(3, Some(Duration::from_millis(10))),
            Duration::from_millis(400)
        );
        assert_eq!(p.delay_after(1, Some(Duration::from_secs(3600))), MAX_RETRY_AFTER);
    }

    #[test]
    fn only_pre_body_failures_are_retried() {
        let p = RetryPolicy {
            max: 2,
            backoff: Duration::ZERO,
        };
        assert!(p.should_retry(ErrorClass::Http429, 0));
        assert!(p.should_retry(ErrorClass::Http5xx, 1));
        assert!(!p.should_retry(ErrorClass::Http5xx, 2), "limit reached");
        for c in [
            ErrorClass::ResetMidStream,
            ErrorClass::Truncated,
            ErrorClass::IdleTimeout,
            ErrorClass::TotalTimeout,
            ErrorClass::FirstByteTimeout,
            ErrorClass::Http4xx,
            ErrorClass::StreamErrorEvent,
            ErrorClass::ClientError,
        ] {
            assert!(!p.should_retry(c, 0), "{c:?} must not be retried");
        }
        assert!(
            !RetryPolicy::default().should_retry(ErrorClass::Http429, 0),
            "off by default"
        );
    }
}
