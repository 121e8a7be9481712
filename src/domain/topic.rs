text_enum!(
    /// How much a message on a topic may say on a channel others can read over the patient's
    /// shoulder.
    Sensitivity {
        /// Any channel may carry the content.
        Normal = "normal",
        /// WhatsApp and SMS carry only a content-free notice; email and voice the content.
        Sensitive = "sensitive",
        /// No message channel carries the content: staff talk to the patient in person.
        Restricted = "restricted",
    }
);

/// What a notification is about. The built-in topics every clinic has; a clinic adds its own
/// and may change the sensitivity of these (see `store::topics`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    AppointmentReminder,
    AppointmentConfirmation,
    AppointmentCancellation,
    General,
    TestResultReady,
    PrescriptionReady,
}

impl Topic {
    pub const ALL: [Topic; 6] = [
        Self::AppointmentReminder,
        Self::AppointmentConfirmation,
        Self::AppointmentCancellation,
        Self::General,
        Self::TestResultReady,
        Self::PrescriptionReady,
    ];

    /// What a clinic's own topic name may look like: it is shown in events and callback tasks
    /// and used in URLs.
    pub const NAME_RULE: &'static str =
        "must be 1 to 64 characters: lowercase letters, digits and '_', starting with a letter";

    pub fn as_str(self) -> &'static str {
        match self {
            Self::AppointmentReminder => "appointment_reminder",
            Self::AppointmentConfirmation => "appointment_confirmation",
            Self::AppointmentCancellation => "appointment_cancellation",
            Self::General => "general",
            Self::TestResultReady => "test_result_ready",
            Self::PrescriptionReady => "prescription_ready",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// The sensitivity a built-in topic has until its clinic says otherwise.
    pub fn default_sensitivity(self) -> Sensitivity {
        match self {
            Self::TestResultReady | Self::PrescriptionReady => Sensitivity::Sensitive,
            _ => Sensitivity::Normal,
        }
    }

    pub fn is_valid_name(name: &str) -> bool {
        (1..=64).contains(&name.len())
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    }
}

/// A topic as a clinic sets it: checked here, so `PUT /v1/topics/{name}` and the console's
/// settings page keep one rule set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSetting {
    pub name: String,
    pub sensitivity: Sensitivity,
    /// Its notices carry a secure message link (when the clinic has links on).
    pub secure_link: bool,
}

impl TopicSetting {
    /// A link stands in for the content a notice leaves out: only sensitive topics have such
    /// notices.
    pub const SECURE_LINK_RULE: &'static str = "may be true only for a sensitive topic";

    /// Checks every field; errors name `name`, `sensitivity` or `secure_link`.
    pub fn parse(
        name: &str,
        sensitivity: &str,
        secure_link: bool,
    ) -> Result<Self, Vec<super::FieldError>> {
        let mut errors = Vec::new();
        if !Topic::is_valid_name(name) {
            errors.push(super::FieldError::new("name", Topic::NAME_RULE));
        }
        let parsed = Sensitivity::parse(sensitivity);
        if parsed.is_none() {
            errors.push(super::FieldError::new(
                "sensitivity",
                format!("must be one of {}", Sensitivity::names()),
            ));
        }
        if secure_link && parsed.is_some_and(|s| s != Sensitivity::Sensitive) {
            errors.push(super::FieldError::new(
                "secure_link",
                Self::SECURE_LINK_RULE,
            ));
        }
        match parsed {
            Some(sensitivity) if errors.is_empty() => Ok(Self {
                name: name.to_owned(),
                sensitivity,
                secure_link,
            }),
            _ => Err(errors),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_are_lowercase_words_joined_by_underscores() {
        for good in ["oncology", "mental_health_2", "a"] {
            assert!(Topic::is_valid_name(good), "{good}");
        }
        let too_long = "a".repeat(65);
        for bad in [
            "",
            "Oncology",
            "2nd",
            "_x",
            "on-cology",
            "שלום",
            too_long.as_str(),
        ] {
            assert!(!Topic::is_valid_name(bad), "{bad}");
        }
    }
}
