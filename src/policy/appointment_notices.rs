//! When a notice that an appointment was cancelled or moved goes: within the hours like any
//! normal message when they still let it reach the patient in time, else at once.

use jiff::{SignedDuration, Timestamp};

use super::MessagingHours;
use crate::domain::Priority;

/// How long before the appointment the patient should have the notice: time not to set out.
pub const NOTICE_LEAD: SignedDuration = SignedDuration::from_hours(1);

/// The priority of a notice that the patient needs before `deadline` (the appointment they would
/// otherwise come to): normal, so it keeps to the hours, when they allow it now or at least
/// [`NOTICE_LEAD`] before the deadline; else urgent, so it goes now whatever the hour: a
/// cancellation for tomorrow 08:30 posted at 22:00 must not wait for the clinic to open at 09:00.
pub fn notice_priority(hours: &MessagingHours, now: Timestamp, deadline: Timestamp) -> Priority {
    match hours.next_allowed(now) {
        Some(at) if at == now || at + NOTICE_LEAD <= deadline => Priority::Normal,
        _ => Priority::Urgent,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use jiff::tz::TimeZone;

    use super::*;
    use crate::domain::{ClinicHours, QuietHours};

    fn at(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    #[test]
    fn a_notice_waits_for_the_hours_only_when_they_let_it_arrive_an_hour_before() {
        let jerusalem = TimeZone::get("Asia/Jerusalem").expect("zone");
        let hours = MessagingHours {
            clinic: Arc::new(ClinicHours::israeli_default()),
            clinic_zone: jerusalem.clone(),
            quiet_hours: Some(QuietHours::DEFAULT),
            patient_zone: jerusalem,
        };
        // (case, now, appointment, priority)
        let cases = [
            (
                "Tuesday 22:00 for Wednesday 08:30: the clinic opens after it",
                "2026-12-08T22:00+02:00",
                "2026-12-09T08:30+02:00",
                Priority::Urgent,
            ),
            (
                "Tuesday 22:00 for Wednesday 09:30: 09:00 leaves only half an hour",
                "2026-12-08T22:00+02:00",
                "2026-12-09T09:30+02:00",
                Priority::Urgent,
            ),
            (
                "Tuesday 22:00 for Wednesday 11:00: 09:00 is in time",
                "2026-12-08T22:00+02:00",
                "2026-12-09T11:00+02:00",
                Priority::Normal,
            ),
            (
                "Tuesday 10:00 for Tuesday 10:30: the hours allow it now",
                "2026-12-08T10:00+02:00",
                "2026-12-08T10:30+02:00",
                Priority::Normal,
            ),
            (
                "Tuesday 10:00 for Thursday: now",
                "2026-12-08T10:00+02:00",
                "2026-12-10T10:00+02:00",
                Priority::Normal,
            ),
        ];
        for (case, now, appointment, priority) in cases {
            assert_eq!(
                notice_priority(&hours, at(now), at(appointment)),
                priority,
                "{case}"
            );
        }
    }
}
