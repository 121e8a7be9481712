//! The per-patient caps: no patient gets more than a set number of non-urgent notifications, nor
//! of urgent ones, in any rolling 24 hours, however many systems post for them.
//!
//! Why a count of stored notifications and not governor's keyed limiter: a governor limiter
//! lives in one process, so with several instances on one PostgreSQL database each would allow
//! the full cap; it also forgets everything on restart, and it is a token bucket, not the
//! "at most N in any 24 hours" a clinic means. Intake therefore counts the patient's stored
//! notifications of the last 24 hours inside the transaction that stores the new ones (see
//! `store::insert_notifications`), and this rule only judges that count.

use jiff::{SignedDuration, Timestamp};

use crate::domain::Priority;

/// The caps intake applies: urgent notifications skip the clinic's hours and the patient's quiet
/// hours, so they are counted against a cap of their own, never against the normal one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PatientCaps {
    pub normal: Option<PatientCap>,
    pub urgent: Option<PatientCap>,
}

impl PatientCaps {
    /// Caps per rolling 24 hours; 0 turns one off.
    pub fn daily(normal: u32, urgent: u32) -> Self {
        Self {
            normal: PatientCap::daily(normal),
            urgent: PatientCap::daily(urgent),
        }
    }

    pub fn for_priority(&self, priority: Priority) -> Option<PatientCap> {
        match priority {
            Priority::Normal => self.normal,
            Priority::Urgent => self.urgent,
        }
    }
}

/// How many non-urgent notifications one patient may get within `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PatientCap {
    pub limit: u32,
    pub window: SignedDuration,
}

impl PatientCap {
    /// The cap per rolling 24 hours; `None` for 0, which turns the cap off.
    pub fn daily(limit: u32) -> Option<Self> {
        (limit > 0).then_some(Self {
            limit,
            window: SignedDuration::from_hours(24),
        })
    }

    /// Whether one more notification may be accepted at `now`, given when the patient's counted
    /// notifications were accepted (any order, older ones ignored). When it may not, the answer
    /// is the moment the oldest of them leaves the window and a place frees up.
    pub fn admit(&self, accepted: &[Timestamp], now: Timestamp) -> Result<(), Timestamp> {
        let since = now - self.window;
        let mut in_window: Vec<Timestamp> =
            accepted.iter().copied().filter(|at| *at > since).collect();
        let limit = self.limit as usize;
        if in_window.len() < limit {
            return Ok(());
        }
        in_window.sort_unstable();
        // One place frees up when all but `limit - 1` of them have left the window.
        Err(in_window[in_window.len() - limit] + self.window)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    #[test]
    fn the_cap_counts_only_the_last_24_hours_and_says_when_a_place_frees_up() {
        let cap = PatientCap::daily(3).expect("cap");
        let now = at("2026-11-26T12:00:00Z");
        let cases: [(&str, &[&str], Result<(), &str>); 5] = [
            ("none yet", &[], Ok(())),
            (
                "two of three used",
                &["2026-11-26T08:00:00Z", "2026-11-26T09:00:00Z"],
                Ok(()),
            ),
            (
                "three used: frees when the oldest is 24 hours old",
                &[
                    "2026-11-26T09:00:00Z",
                    "2026-11-25T13:00:00Z",
                    "2026-11-26T10:00:00Z",
                ],
                Err("2026-11-26T13:00:00Z"),
            ),
            (
                "one of the three is older than 24 hours",
                &[
                    "2026-11-25T11:00:00Z",
                    "2026-11-26T09:00:00Z",
                    "2026-11-26T10:00:00Z",
                ],
                Ok(()),
            ),
            (
                "five counted against a cap of three: two must leave first",
                &[
                    "2026-11-25T13:00:00Z",
                    "2026-11-25T14:00:00Z",
                    "2026-11-25T15:00:00Z",
                    "2026-11-26T10:00:00Z",
                    "2026-11-26T11:00:00Z",
                ],
                Err("2026-11-26T15:00:00Z"),
            ),
        ];
        for (case, accepted, expected) in cases {
            let accepted: Vec<Timestamp> = accepted.iter().map(|s| at(s)).collect();
            assert_eq!(cap.admit(&accepted, now), expected.map_err(at), "{case}");
        }
    }

    #[test]
    fn exactly_24_hours_old_no_longer_counts() {
        let cap = PatientCap::daily(1).expect("cap");
        let now = at("2026-11-26T12:00:00Z");
        assert_eq!(cap.admit(&[at("2026-11-25T12:00:00Z")], now), Ok(()));
    }

    #[test]
    fn a_cap_of_zero_is_no_cap() {
        assert_eq!(PatientCap::daily(0), None);
    }
}
