//! Per-project abuse-protection settings and the reasons a send or a guess is refused.

use serde::{Deserialize, Serialize};

/// Thresholds stored with the project (`settings.limits`); absent keys take the defaults, and
/// a count or window of 0 turns that check off. Defaults are documented in `docs/abuse.md`.
/// Keys this build doesn't know are ignored, so a newer build's key can't reset the known ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LimitSettings {
    /// Sends to one number allowed back to back...
    pub number_burst: u32,
    /// ...then one more every this many seconds (5 per 10 minutes by default).
    pub number_interval_seconds: u32,
    /// Sends to one number per UTC day.
    pub number_daily_cap: u32,
    /// Wrong guesses per phone method per hour, across codes (refilled continuously).
    pub guess_budget_per_hour: u32,
    /// Sends into one number block (the number without its last 4 digits) per window.
    pub prefix_max_sends: u32,
    pub prefix_window_seconds: u32,
    /// Conversion breaker: with at least this many sends to a country in the window...
    pub conversion_min_sends: u32,
    /// ...fewer than this percent authenticated pauses sends to that country.
    pub conversion_min_percent: u32,
    pub conversion_window_seconds: u32,
    /// Sends younger than this aren't judged yet (the person is still typing the code).
    pub conversion_grace_seconds: u32,
    /// Sends per UTC day for the whole project, and per destination country.
    pub project_daily_budget: u32,
    pub country_daily_budget: u32,
    /// Pending sends to numbers never verified in the project (younger than the conversion
    /// grace, not yet authenticated) allowed project-wide with no authentication at all...
    pub pending_floor: u32,
    /// ...plus this many per new number authenticated in the same window. Only sends older
    /// than `pending_typing_seconds` are judged by these two (`pending_sends`).
    pub pending_per_auth: u32,
    /// Sends to new numbers younger than this are not overdue: the person may still be
    /// typing the code.
    pub pending_typing_seconds: u32,
    /// The new-number rate gate: sends to new numbers per second, project-wide, plus
    /// `pending_per_auth` per new number answered in the grace window (spread over it)...
    pub pending_rate_per_second: u32,
    /// ...this many back to back...
    pub pending_burst: u32,
    /// ...and the first send over it pauses sends to new numbers for this long
    /// (`new_number_rate`).
    pub pending_pause_seconds: u32,
    /// Refuse VoIP numbers (allowed by default).
    pub block_voip: bool,
    /// `send` to a number without a user answers like a success and sends nothing.
    pub conceal_unknown_numbers: bool,
}

impl Default for LimitSettings {
    fn default() -> Self {
        LimitSettings {
            number_burst: 5,
            number_interval_seconds: 120,
            number_daily_cap: 20,
            guess_budget_per_hour: 15,
            prefix_max_sends: 10,
            prefix_window_seconds: 600,
            conversion_min_sends: 50,
            conversion_min_percent: 20,
            conversion_window_seconds: 3600,
            conversion_grace_seconds: 120,
            project_daily_budget: 10_000,
            country_daily_budget: 2_000,
            pending_floor: 28,
            pending_per_auth: 4,
            pending_typing_seconds: 60,
            pending_rate_per_second: 10,
            pending_burst: 20,
            pending_pause_seconds: 60,
            block_voip: false,
            conceal_unknown_numbers: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitSettingError {
    #[error("`{0}` is not KEY=VALUE")]
    Syntax(String),
    #[error("unknown limit `{key}`; known: {known}")]
    UnknownKey { key: String, known: String },
    #[error("limit `{key}`: `{value}` is not valid ({why})")]
    Value {
        key: String,
        value: String,
        why: String,
    },
}

const DAY_SECONDS: u32 = 86_400;

impl LimitSettings {
    /// Applies one `key=value` from the CLI, then re-checks the whole set.
    pub fn set(&mut self, assignment: &str) -> Result<(), LimitSettingError> {
        let (key, value) = assignment
            .split_once('=')
            .map(|(k, v)| (k.trim(), v.trim()))
            .ok_or_else(|| LimitSettingError::Syntax(assignment.to_owned()))?;
        let mut doc = serde_json::to_value(&*self).unwrap_or_default();
        let serde_json::Value::Object(map) = &mut doc else {
            return Err(LimitSettingError::Syntax(assignment.to_owned()));
        };
        let Some(slot) = map.get_mut(key) else {
            return Err(LimitSettingError::UnknownKey {
                key: key.to_owned(),
                known: map.keys().cloned().collect::<Vec<_>>().join(", "),
            });
        };
        let bad = |why: &str| LimitSettingError::Value {
            key: key.to_owned(),
            value: value.to_owned(),
            why: why.to_owned(),
        };
        *slot = if slot.is_boolean() {
            serde_json::Value::Bool(value.parse().map_err(|_| bad("true or false"))?)
        } else {
            let n: u32 = value
                .parse()
                .map_err(|_| bad("a whole number, 0 turns the check off"))?;
            serde_json::Value::from(n)
        };
        let next: LimitSettings = serde_json::from_value(doc).map_err(|e| bad(&e.to_string()))?;
        next.validate().map_err(bad)?;
        *self = next;
        Ok(())
    }

    fn validate(&self) -> Result<(), &'static str> {
        if self.conversion_min_percent > 100 {
            return Err("a percentage is at most 100");
        }
        if [
            self.number_interval_seconds,
            self.prefix_window_seconds,
            self.conversion_window_seconds,
            self.conversion_grace_seconds,
            self.pending_typing_seconds,
            self.pending_pause_seconds,
        ]
        .iter()
        .any(|&s| s > DAY_SECONDS)
        {
            return Err("windows and intervals are at most 86400 seconds");
        }
        if self.conversion_grace_seconds >= self.conversion_window_seconds
            && self.conversion_window_seconds > 0
        {
            return Err("the conversion grace must be shorter than its window");
        }
        if self.pending_typing_seconds >= self.conversion_grace_seconds
            && self.conversion_grace_seconds > 0
        {
            return Err("the typing time must be shorter than the conversion grace");
        }
        Ok(())
    }

    /// Milliseconds between wrong guesses once the hourly budget is spent.
    pub fn guess_interval_ms(&self) -> u64 {
        match self.guess_budget_per_hour {
            0 => 0,
            n => 3_600_000 / u64::from(n),
        }
    }
}

/// Why a send or a guess was refused: stable names for logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefusalReason {
    RateLimit,
    DailyCap,
    GuessBudget,
    ClientLimit,
    Country,
    NumberType,
    PrefixVelocity,
    Conversion,
    PendingSends,
    NewNumberRate,
    Budget,
}

impl RefusalReason {
    pub const ALL: [RefusalReason; 11] = [
        RefusalReason::RateLimit,
        RefusalReason::DailyCap,
        RefusalReason::GuessBudget,
        RefusalReason::ClientLimit,
        RefusalReason::Country,
        RefusalReason::NumberType,
        RefusalReason::PrefixVelocity,
        RefusalReason::Conversion,
        RefusalReason::PendingSends,
        RefusalReason::NewNumberRate,
        RefusalReason::Budget,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RefusalReason::RateLimit => "rate_limit",
            RefusalReason::DailyCap => "daily_cap",
            RefusalReason::GuessBudget => "guess_budget",
            RefusalReason::ClientLimit => "client_limit",
            RefusalReason::Country => "country",
            RefusalReason::NumberType => "number_type",
            RefusalReason::PrefixVelocity => "prefix_velocity",
            RefusalReason::Conversion => "conversion",
            RefusalReason::PendingSends => "pending_sends",
            RefusalReason::NewNumberRate => "new_number_rate",
            RefusalReason::Budget => "budget",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn limits_are_set_by_name_and_checked() {
        let mut l = LimitSettings::default();
        l.set("number_burst=3").unwrap();
        l.set(" block_voip = true ").unwrap();
        assert_eq!(l.number_burst, 3);
        assert!(l.block_voip);
        assert!(matches!(
            l.set("nope=1"),
            Err(LimitSettingError::UnknownKey { .. })
        ));
        assert!(l.set("number_burst=-1").is_err());
        assert!(l.set("block_voip=1").is_err());
        assert!(l.set("conversion_min_percent=101").is_err());
        assert!(l.set("conversion_grace_seconds=3600").is_err());
        assert!(l.set("pending_typing_seconds=120").is_err());
        l.set("pending_typing_seconds=0").unwrap();
        assert!(l.set("number_burst").is_err());
        assert_eq!(
            l.number_burst, 3,
            "a refused change leaves the settings alone"
        );
    }

    #[test]
    fn reasons_round_trip() {
        for r in RefusalReason::ALL {
            assert_eq!(RefusalReason::parse(r.as_str()), Some(r));
        }
    }
}
