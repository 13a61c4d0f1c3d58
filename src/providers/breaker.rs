//! A per-provider circuit breaker: after `threshold` consecutive retryable failures the
//! provider is skipped for `cool_down`; then one request is let through as a probe, and its
//! result closes the circuit or opens it again. In-process state: each replica learns on its
//! own, which is all a breaker needs.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::observe_circuit;

#[derive(Debug, Clone, Copy)]
pub struct BreakerSettings {
    /// Consecutive failures that open the circuit.
    pub threshold: u32,
    /// How long an open circuit skips the provider before a probe.
    pub cool_down: Duration,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        BreakerSettings {
            threshold: 5,
            cool_down: Duration::from_secs(30),
        }
    }
}

#[derive(Debug)]
enum State {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
    },
    /// One probe is in flight; everyone else is still skipped. If the probe never reports
    /// (its request was cancelled), another is allowed after `until`.
    HalfOpen {
        until: Instant,
    },
}

/// What the caller may do now; handed back to [`Breaker::record`] with the result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permit {
    Closed,
    Probe,
    Denied,
}

pub struct Breaker {
    name: &'static str,
    settings: BreakerSettings,
    state: Mutex<State>,
}

impl Breaker {
    pub fn new(name: &'static str, settings: BreakerSettings) -> Self {
        Breaker {
            name,
            settings: BreakerSettings {
                threshold: settings.threshold.max(1),
                ..settings
            },
            state: Mutex::new(State::Closed { failures: 0 }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is a few plain values: a panic elsewhere can't leave it inconsistent.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn permit(&self) -> Permit {
        self.permit_at(Instant::now())
    }

    fn permit_at(&self, now: Instant) -> Permit {
        let mut state = self.lock();
        match *state {
            State::Closed { .. } => Permit::Closed,
            State::Open { until } | State::HalfOpen { until } if now >= until => {
                *state = State::HalfOpen {
                    until: now + self.settings.cool_down,
                };
                Permit::Probe
            }
            State::Open { .. } | State::HalfOpen { .. } => Permit::Denied,
        }
    }

    pub fn record(&self, permit: Permit, success: bool) {
        self.record_at(permit, success, Instant::now());
    }

    fn record_at(&self, permit: Permit, success: bool, now: Instant) {
        let mut state = self.lock();
        let was_open = !matches!(*state, State::Closed { .. });
        let next = match (permit, success, &*state) {
            (Permit::Denied, ..) => return,
            (_, true, _) => State::Closed { failures: 0 },
            (Permit::Probe, false, _) => State::Open {
                until: now + self.settings.cool_down,
            },
            (Permit::Closed, false, State::Closed { failures }) => {
                let failures = failures + 1;
                if failures >= self.settings.threshold {
                    State::Open {
                        until: now + self.settings.cool_down,
                    }
                } else {
                    State::Closed { failures }
                }
            }
            // A request admitted before the circuit opened: it changes nothing.
            (Permit::Closed, false, _) => return,
        };
        let now_open = !matches!(next, State::Closed { .. });
        *state = next;
        drop(state);
        if was_open != now_open {
            observe_circuit(self.name, now_open);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker() -> Breaker {
        Breaker::new(
            "test",
            BreakerSettings {
                threshold: 3,
                cool_down: Duration::from_secs(10),
            },
        )
    }

    #[test]
    fn opens_after_consecutive_failures_and_a_success_resets_the_count() {
        let b = breaker();
        let t = Instant::now();
        b.record_at(Permit::Closed, false, t);
        b.record_at(Permit::Closed, false, t);
        b.record_at(Permit::Closed, true, t);
        b.record_at(Permit::Closed, false, t);
        b.record_at(Permit::Closed, false, t);
        assert_eq!(b.permit_at(t), Permit::Closed);
        b.record_at(Permit::Closed, false, t);
        assert_eq!(b.permit_at(t), Permit::Denied);
    }

    #[test]
    fn half_open_lets_one_probe_through_and_its_result_decides() {
        let b = breaker();
        let t = Instant::now();
        for _ in 0..3 {
            b.record_at(Permit::Closed, false, t);
        }
        let later = t + Duration::from_secs(11);
        assert_eq!(b.permit_at(later), Permit::Probe);
        assert_eq!(b.permit_at(later), Permit::Denied, "only one probe");
        b.record_at(Permit::Probe, false, later);
        assert_eq!(b.permit_at(later), Permit::Denied, "failed probe re-opens");
        let much_later = later + Duration::from_secs(11);
        assert_eq!(b.permit_at(much_later), Permit::Probe);
        b.record_at(Permit::Probe, true, much_later);
        assert_eq!(b.permit_at(much_later), Permit::Closed);
    }

    #[test]
    fn a_probe_that_never_reports_does_not_wedge_the_circuit() {
        let b = breaker();
        let t = Instant::now();
        for _ in 0..3 {
            b.record_at(Permit::Closed, false, t);
        }
        let probe_time = t + Duration::from_secs(11);
        assert_eq!(b.permit_at(probe_time), Permit::Probe);
        // The probe's request was cancelled: no record. After another cool-down, a new probe.
        assert_eq!(
            b.permit_at(probe_time + Duration::from_secs(5)),
            Permit::Denied
        );
        assert_eq!(
            b.permit_at(probe_time + Duration::from_secs(11)),
            Permit::Probe
        );
    }
}
