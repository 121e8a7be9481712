use serde::Serialize;

/// How much a message on a topic may say on a channel others can read over the patient's shoulder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Sensitivity {
    Normal,
    Sensitive,
    Restricted,
}

/// What a notification is about. The built-in topics every clinic has.
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

    pub fn sensitivity(self) -> Sensitivity {
        match self {
            Self::TestResultReady | Self::PrescriptionReady => Sensitivity::Sensitive,
            _ => Sensitivity::Normal,
        }
    }

    pub fn names() -> String {
        Self::ALL.map(Self::as_str).join(", ")
    }
}
