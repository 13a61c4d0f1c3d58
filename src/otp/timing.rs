//! Recent durations of real sends, so a concealed send (a number without a user, with
//! `conceal_unknown_numbers`) takes as long as a real one and its timing doesn't tell.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use rand::Rng;

use crate::domain::Channel;

/// Samples kept per channel: enough to follow a provider's latency as it drifts.
const SLOTS: usize = 64;

/// Until a replica has sent anything on a channel, a concealed send waits a typical provider
/// round trip drawn from this range.
const FALLBACK_MS: std::ops::RangeInclusive<u64> = 250..=750;

struct Ring {
    micros: Vec<AtomicU64>,
    written: AtomicUsize,
}

impl Ring {
    fn new() -> Ring {
        Ring {
            micros: (0..SLOTS).map(|_| AtomicU64::new(0)).collect(),
            written: AtomicUsize::new(0),
        }
    }

    fn record(&self, d: Duration) {
        let i = self.written.fetch_add(1, Ordering::Relaxed) % SLOTS;
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        if let Some(slot) = self.micros.get(i) {
            slot.store(us, Ordering::Relaxed);
        }
    }

    fn sample(&self) -> Option<Duration> {
        let n = self.written.load(Ordering::Relaxed).min(SLOTS);
        if n == 0 {
            return None;
        }
        let i = rand::thread_rng().gen_range(0..n);
        let us = self.micros.get(i)?.load(Ordering::Relaxed);
        // A slot claimed but not yet written reads 0; any other sample is as good.
        (us > 0).then(|| Duration::from_micros(us))
    }
}

/// Lock-free rings of recent successful send durations (issue: hash, store, provider, record),
/// one per channel, since SMS and WhatsApp may go through different providers.
pub struct SendTimings {
    sms: Ring,
    whatsapp: Ring,
}

impl Default for SendTimings {
    fn default() -> Self {
        SendTimings {
            sms: Ring::new(),
            whatsapp: Ring::new(),
        }
    }
}

impl SendTimings {
    fn ring(&self, channel: Channel) -> &Ring {
        match channel {
            Channel::Sms => &self.sms,
            Channel::WhatsApp => &self.whatsapp,
        }
    }

    pub fn record(&self, channel: Channel, d: Duration) {
        self.ring(channel).record(d);
    }

    /// How long a concealed send should take in all: one recent real send's duration, drawn
    /// at random so the two distributions match, not just their means.
    pub fn sample(&self, channel: Channel) -> Duration {
        self.ring(channel)
            .sample()
            .unwrap_or_else(|| Duration::from_millis(rand::thread_rng().gen_range(FALLBACK_MS)))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn samples_come_from_recorded_sends_of_the_same_channel() {
        let t = SendTimings::default();
        let fallback = t.sample(Channel::Sms);
        assert!(fallback >= Duration::from_millis(250) && fallback <= Duration::from_millis(750));
        for ms in [100, 200, 300] {
            t.record(Channel::Sms, Duration::from_millis(ms));
        }
        for _ in 0..100 {
            let s = t.sample(Channel::Sms).as_millis();
            assert!([100, 200, 300].contains(&s), "{s}");
        }
        for i in 0..(SLOTS as u64 * 2) {
            t.record(Channel::WhatsApp, Duration::from_millis(1000 + i));
        }
        for _ in 0..100 {
            let s = t.sample(Channel::WhatsApp).as_millis();
            assert!(
                s >= 1000 + SLOTS as u128,
                "only the newest {SLOTS} are kept: {s}"
            );
        }
    }
}
