//! Secure message links as the audit trail tells them: each step a patient (or whoever holds the
//! link) takes on a link's page is an event of the notification the link belongs to.

use std::fmt;

use jiff::Timestamp;
use serde::Serialize;

text_enum!(
    /// How the holder of a link proves they are the patient.
    Proof {
        /// The code medrelay sent by SMS to the patient's phone on file.
        SmsCode = "sms_code",
        /// The patient's date of birth as the clinic has it.
        BirthDate = "birth_date",
    }
);

/// One step on a secure link. Never holds the token, the code or the patient's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum LinkEvent {
    /// A link was made for the notice; an earlier link of the notification stops working.
    Issued {
        expires_at: Timestamp,
    },
    /// The link's page was opened and asked for proof.
    Opened,
    /// A code went by SMS; `to` is the number with most of it hidden.
    CodeSent {
        to: String,
    },
    WrongAnswer {
        proof: Proof,
        wrong_answers: u32,
    },
    /// Too many wrong answers: the link opens no more.
    Locked {
        wrong_answers: u32,
    },
    Verified {
        proof: Proof,
    },
    /// The message was shown.
    Read,
    /// The link was used after it had expired (recorded once).
    Expired {
        expired_at: Timestamp,
    },
}

impl fmt::Display for LinkEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Issued { expires_at } => {
                write!(f, "secure link issued; it expires at {expires_at}")
            }
            Self::Opened => f.write_str("secure link opened; proof of identity asked"),
            Self::CodeSent { to } => write!(f, "secure link code sent by sms to {to}"),
            Self::WrongAnswer {
                proof,
                wrong_answers,
            } => write!(
                f,
                "secure link: wrong {} ({wrong_answers} wrong so far)",
                proof.as_str().replace('_', " ")
            ),
            Self::Locked { wrong_answers } => write!(
                f,
                "secure link locked after {wrong_answers} wrong answers; the patient must call the clinic"
            ),
            Self::Verified { proof } => write!(
                f,
                "secure link: identity proven by {}",
                proof.as_str().replace('_', " ")
            ),
            Self::Read => f.write_str("secure link: the message was read"),
            Self::Expired { expired_at } => {
                write!(f, "secure link expired unread at {expired_at}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_event_names_its_step_and_never_an_answer() {
        let event = LinkEvent::WrongAnswer {
            proof: Proof::BirthDate,
            wrong_answers: 2,
        };
        assert_eq!(
            serde_json::to_value(&event).expect("json"),
            serde_json::json!({"step": "wrong_answer", "proof": "birth_date", "wrong_answers": 2})
        );
        assert_eq!(
            event.to_string(),
            "secure link: wrong birth date (2 wrong so far)"
        );
    }
}
