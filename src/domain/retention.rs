//! How long a clinic keeps message texts and media references, and what removing them is
//! called on the audit trail. Retention removes by age, erasure by patient; both keep ids,
//! statuses, times and metadata.

use std::fmt;
use std::ops::RangeInclusive;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Actor, FieldError};

/// A clinic's retention periods, in days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RetentionPeriods {
    /// Message texts: notification bodies and parameters, what each attempt rendered, patients'
    /// texts and button payloads, staff notes on callbacks, appointment parameters.
    pub message_text_days: u32,
    /// Media references of patients' messages (provider media ids, file names, locations).
    pub media_days: u32,
}

impl RetentionPeriods {
    /// Two years of texts, 90 days of media.
    pub const DEFAULT: Self = Self {
        message_text_days: 730,
        media_days: 90,
    };

    /// At least 30 days, so a text outlives its conversation, its delivery reports, the pushes
    /// and webhooks that carry it and a first complaint about it; at most 10 years, which covers
    /// the 7 years Israel's medical-records rules ask of a chart, while still being a period.
    pub const MESSAGE_TEXT_DAYS: RangeInclusive<u32> = 30..=3650;
    /// From 1 day (media is only a reference to the provider's copy, and a clinic may want it
    /// gone at once) to 10 years; the two-way settings allowed the same.
    pub const MEDIA_DAYS: RangeInclusive<u32> = 1..=3650;

    /// Every broken rule, each named by its field.
    pub fn check(&self) -> Vec<FieldError> {
        let fields = [
            (
                "message_text_days",
                self.message_text_days,
                Self::MESSAGE_TEXT_DAYS,
            ),
            ("media_days", self.media_days, Self::MEDIA_DAYS),
        ];
        fields
            .into_iter()
            .filter(|(_, days, range)| !range.contains(days))
            .map(|(field, _, range)| {
                let rule = format!(
                    "must be a whole number of days from {} to {}",
                    range.start(),
                    range.end()
                );
                FieldError::new(field, rule)
            })
            .collect()
    }
}

impl Default for RetentionPeriods {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Why texts or media were removed from a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Removal {
    /// The clinic's retention period for them passed.
    Retention { kept_days: u32 },
    /// The clinic erased the patient's personal data on request.
    Erasure,
}

impl Removal {
    /// The audit trail's sentence for removing `what`.
    pub(super) fn sentence(&self, what: &str, actor: &Actor) -> String {
        match self {
            Self::Retention { kept_days } => format!(
                "{what} removed under the clinic's retention policy (kept {kept_days} days)"
            ),
            Self::Erasure => {
                format!("{what} removed: the patient's personal data was erased by {actor}")
            }
        }
    }
}

/// What one retention run of a clinic removed: counts, never texts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RetentionCounts {
    /// Notifications whose texts were removed (with their attempts' and callbacks').
    pub notifications: u64,
    /// Patients' messages whose texts were removed.
    pub messages: u64,
    /// Patients' messages whose media references were removed.
    pub media: u64,
    /// Appointments whose template parameters were removed.
    pub appointments: u64,
    /// Transactions the run took: each removes a bounded number of records.
    pub batches: u64,
}

impl RetentionCounts {
    pub fn add(&mut self, other: &Self) {
        self.notifications += other.notifications;
        self.messages += other.messages;
        self.media += other.media;
        self.appointments += other.appointments;
        self.batches += other.batches;
    }

    /// How many records were changed.
    pub fn records(&self) -> u64 {
        self.notifications + self.messages + self.media + self.appointments
    }
}

impl fmt::Display for RetentionCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "texts of {} notification(s), {} patient message(s) and {} appointment(s), media of {} \
             message(s), in {} batch(es)",
            self.notifications, self.messages, self.appointments, self.media, self.batches
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_follow_their_own_rules() {
        assert_eq!(RetentionPeriods::default().check(), []);
    }

    #[test]
    fn each_period_out_of_bounds_is_named() {
        let periods = RetentionPeriods {
            message_text_days: 29,
            media_days: 0,
        };

        let fields: Vec<String> = periods.check().into_iter().map(|e| e.field).collect();

        assert_eq!(fields, ["message_text_days", "media_days"]);
    }

    #[test]
    fn a_removal_says_why() {
        let retention = Removal::Retention { kept_days: 730 };

        assert_eq!(
            retention.sentence("message text", &Actor::System),
            "message text removed under the clinic's retention policy (kept 730 days)"
        );
        assert_eq!(
            Removal::Erasure.sentence("message text", &Actor::Staff("Noa".to_owned())),
            "message text removed: the patient's personal data was erased by Noa"
        );
        assert_eq!(
            serde_json::to_value(retention).expect("json"),
            serde_json::json!({"type": "retention", "kept_days": 730})
        );
    }
}
