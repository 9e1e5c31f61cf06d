//! The run-level circuit breaker behind `--max-error-rate`: a sliding window over the outcomes
//! of the last N completed requests. It exists so that a benchmark against a broken server
//! stops early instead of hammering it (and reporting numbers about error pages); the window
//! logic is kept pure here, so the runner only feeds it outcomes and asks whether to stop.

use crate::record::ErrorClass;
use std::collections::VecDeque;

/// Smallest number of completed requests before the breaker may trip (when the window is
/// larger): one early failure must not stop a run.
pub const MIN_SAMPLES: usize = 10;

/// Why the breaker tripped: the numbers for the one-line message.
#[derive(Debug, Clone, PartialEq)]
pub struct Trip {
    /// Failed fraction of the window when it tripped.
    pub rate: f64,
    /// Requests in the window when it tripped.
    pub window: usize,
    pub limit: f64,
    /// The most frequent error class in the window (ties: the first in `ErrorClass` order).
    pub dominant: ErrorClass,
}

impl Trip {
    /// E.g. `error rate 0.62 over the last 50 requests exceeded --max-error-rate 0.5 (dominant: http_5xx)`.
    pub fn message(&self) -> String {
        format!(
            "error rate {:.2} over the last {} requests exceeded --max-error-rate {} (dominant: {})",
            self.rate,
            self.window,
            self.limit,
            self.dominant.as_str()
        )
    }
}

/// Outcomes of the last `size` completed requests; trips when the failed fraction exceeds
/// `limit` once at least `min(size, MIN_SAMPLES)` requests are in the window.
#[derive(Debug, Clone)]
pub struct ErrorWindow {
    limit: f64,
    size: usize,
    outcomes: VecDeque<Option<ErrorClass>>,
    failed: usize,
}

impl ErrorWindow {
    /// `limit` is a fraction in [0, 1); `size` ≥ 1 (validated by the CLI).
    pub fn new(limit: f64, size: usize) -> Self {
        let size = size.max(1);
        ErrorWindow {
            limit,
            size,
            outcomes: VecDeque::with_capacity(size),
            failed: 0,
        }
    }

    /// Requests needed in the window before the breaker may trip.
    pub fn min_samples(&self) -> usize {
        self.size.min(MIN_SAMPLES)
    }

    /// Add one completed request (`None` = succeeded) and report a trip, if any.
    pub fn push(&mut self, outcome: Option<ErrorClass>) -> Option<Trip> {
        if self.outcomes.len() == self.size {
            if let Some(Some(_)) = self.outcomes.pop_front() {
                self.failed -= 1;
            }
        }
        if outcome.is_some() {
            self.failed += 1;
        }
        self.outcomes.push_back(outcome);
        let n = self.outcomes.len();
        if n < self.min_samples() {
            return None;
        }
        let rate = self.failed as f64 / n as f64;
        if rate <= self.limit {
            return None;
        }
        Some(Trip {
            rate,
            window: n,
            limit: self.limit,
            dominant: self.dominant()?,
        })
    }

    fn dominant(&self) -> Option<ErrorClass> {
        let mut counts: Vec<(ErrorClass, usize)> = Vec::new();
        for c in self.outcomes.iter().flatten() {
            match counts.iter_mut().find(|(k, _)| k == c) {
                Some((_, n)) => *n += 1,
                None => counts.push((*c, 1)),
            }
        }
        counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        counts.first().map(|(c, _)| *c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const E5: Option<ErrorClass> = Some(ErrorClass::Http5xx);
    const E429: Option<ErrorClass> = Some(ErrorClass::Http429);

    #[test]
    fn waits_for_min_samples_then_trips() {
        let mut w = ErrorWindow::new(0.5, 50);
        assert_eq!(w.min_samples(), 10);
        for _ in 0..9 {
            assert_eq!(w.push(E5), None, "fewer than 10 completed: no trip");
        }
        let t = w.push(E5).expect("10 failures of 10");
        assert_eq!((t.window, t.dominant), (10, ErrorClass::Http5xx));
        assert_eq!(t.rate, 1.0);
    }

    #[test]
    fn small_window_trips_when_full() {
        let mut w = ErrorWindow::new(0.5, 4);
        assert_eq!(w.min_samples(), 4);
        assert_eq!(w.push(E5), None);
        assert_eq!(w.push(E5), None);
        assert_eq!(w.push(E5), None);
        assert!(w.push(None).is_some(), "3 of 4 > 0.5");
    }

    #[test]
    fn rate_at_the_limit_does_not_trip() {
        let mut w = ErrorWindow::new(0.5, 10);
        for i in 0..100 {
            let t = w.push(if i % 2 == 0 { E5 } else { None });
            assert_eq!(t, None, "exactly 0.5 is not above the limit (i = {i})");
        }
    }

    #[test]
    fn window_slides_old_failures_out() {
        let mut w = ErrorWindow::new(0.3, 10);
        // Three early failures, then successes: never above 0.3.
        for o in [E5, E5, E5] {
            assert_eq!(w.push(o), None);
        }
        for _ in 0..20 {
            assert_eq!(w.push(None), None);
        }
        // Now 4 failures within the last 10 trip it (0.4 > 0.3), the old ones long gone.
        for _ in 0..3 {
            assert_eq!(w.push(E429), None);
        }
        let t = w.push(E5).expect("4 of the last 10");
        assert!((t.rate - 0.4).abs() < 1e-12);
        assert_eq!(t.dominant, ErrorClass::Http429, "3× http_429 beats 1× http_5xx");
        assert_eq!(
            t.message(),
            "error rate 0.40 over the last 10 requests exceeded --max-error-rate 0.3 (dominant: http_429)"
        );
    }

    #[test]
    fn zero_limit_trips_on_any_failure_after_min_samples() {
        let mut w = ErrorWindow::new(0.0, 50);
        for _ in 0..9 {
            assert_eq!(w.push(None), None);
        }
        assert!(w.push(E5).is_some());
        let mut clean = ErrorWindow::new(0.0, 50);
        for _ in 0..200 {
            assert_eq!(clean.push(None), None);
        }
    }
}
