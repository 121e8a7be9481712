//! The right patient: "it's easy to send a message by mistake to the wrong patient when there are
//! many open conversations". Every send and reply shows the patient's full name, the last digits
//! of the number (or the masked address) it goes to and the channel, and asks for one
//! confirmation when the patient is not the one this staff member last worked with.
//!
//! Used by the send page and the inbox reply: build a [`RightPatient`], show its texts next to
//! the send button, and when [`RightPatient::confirm`] is true, refuse the post unless the form
//! carried [`CONFIRM_FIELD`] `=yes` ([`confirmed`]); after sending, `signed.remember_patient`.

use medrelay_channels::ChannelKind;

use super::i18n::Tr;
use super::session::SignedIn;
use crate::domain::{EmailAddress, Patient, PatientId, Phone};

/// The form field of the one confirmation: `yes` when the staff member ticked "Yes, send to …".
pub const CONFIRM_FIELD: &str = "right_patient";

/// Who a message goes to, as the send button shows it.
#[derive(Debug, Clone)]
pub struct RightPatient {
    pub patient: PatientId,
    /// The full name: first names alone are shared by too many patients.
    pub name: String,
    /// The channel chosen, if one is; none: the channel the routing picks.
    pub channel: Option<ChannelKind>,
    /// The end of the address it goes to: `…4567` of a number, `d…@example.org` of an email.
    pub to: Option<String>,
    /// The patient differs from the one this staff member last worked with: ask once.
    pub confirm: bool,
}

impl RightPatient {
    /// `channel` is where the message goes (staff's choice, or the first channel of the plan);
    /// none: the address shown is the phone's.
    pub fn new(signed: &SignedIn, patient: &Patient, channel: Option<ChannelKind>) -> Self {
        let to = match channel {
            Some(ChannelKind::Email) => patient.email.as_ref().map(masked_email),
            _ => patient.phone.as_ref().map(last_digits),
        };
        Self {
            patient: patient.id.clone(),
            name: patient.name.clone(),
            channel,
            to,
            confirm: needs_confirmation(signed.last_patient.as_ref(), &patient.id),
        }
    }

    /// "Dana Levi, …4567, by SMS": the line shown beside every send button.
    pub fn summary(&self, tr: &Tr) -> String {
        let channel = self.channel.map_or_else(
            || tr.t("send-right-patient-any-channel"),
            |c| channel_name(tr, c),
        );
        let to = self
            .to
            .clone()
            .unwrap_or_else(|| tr.t("send-right-patient-no-address"));
        tr.t_with(
            "send-right-patient-summary",
            &[("name", &self.name), ("to", &to), ("channel", &channel)],
        )
    }

    /// "Yes, send to Dana Levi": the confirmation's label.
    pub fn confirm_label(&self, tr: &Tr) -> String {
        tr.t_with("send-right-patient-confirm", &[("name", &self.name)])
    }

    /// "You last worked with another patient": why the confirmation is asked.
    pub fn warning(&self, tr: &Tr) -> String {
        tr.t_with("send-right-patient-warning", &[("name", &self.name)])
    }

    /// Whether a post for this patient may go: no confirmation needed, or it was given.
    pub fn allows(&self, confirmation: Option<&str>) -> bool {
        !self.confirm || confirmed(confirmation)
    }
}

/// A confirmation is needed unless this staff member last worked with this same patient.
pub fn needs_confirmation(last: Option<&PatientId>, patient: &PatientId) -> bool {
    last != Some(patient)
}

/// The value of [`CONFIRM_FIELD`] confirms only when it is `yes`.
pub fn confirmed(value: Option<&str>) -> bool {
    value == Some("yes")
}

/// The last four digits of a number: enough to tell two patients' numbers apart, not enough to
/// be the number.
pub fn last_digits(phone: &Phone) -> String {
    let digits = phone.as_str();
    format!("…{}", &digits[digits.len().saturating_sub(4)..])
}

/// The first letter of the mailbox and the whole domain.
pub fn masked_email(email: &EmailAddress) -> String {
    let text = email.as_str();
    match text.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}…@{domain}")
        }
        None => "…".to_owned(),
    }
}

/// The channel's name in the page's language.
pub fn channel_name(tr: &Tr, channel: ChannelKind) -> String {
    tr.t(&format!("send-channel-{}", channel.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_patient_as_last_time_needs_no_confirmation_another_does() {
        let dana = PatientId::generate();
        let noa = PatientId::generate();
        assert!(!needs_confirmation(Some(&dana), &dana));
        assert!(needs_confirmation(Some(&noa), &dana));
        assert!(needs_confirmation(None, &dana));
    }

    #[test]
    fn only_yes_confirms() {
        assert!(confirmed(Some("yes")));
        assert!(!confirmed(Some("")));
        assert!(!confirmed(None));
    }

    #[test]
    fn a_number_shows_its_last_four_digits_an_email_its_first_letter_and_domain() {
        let phone =
            Phone::parse("+972541234567", crate::domain::PhoneRegion::ISRAEL).expect("a number");
        assert_eq!(last_digits(&phone), "…4567");
        let email = EmailAddress::parse("dana@example.org").expect("an address");
        assert_eq!(masked_email(&email), "d…@example.org");
    }
}
