use medrelay_channels::ChannelKind;

use super::{
    ClinicId, EmailAddress, Language, PatientId, Phone, PhoneRegion, QuietHours, TimeZoneName,
};

/// The tenant: a clinic with its own patients, keys and channel set-up.
#[derive(Debug, Clone)]
pub struct Clinic {
    pub id: ClinicId,
    pub slug: String,
    pub name: String,
    pub timezone: TimeZoneName,
    pub default_language: Language,
    /// The channels this clinic can send on, in the order used when neither staff nor the
    /// patient chose.
    pub default_channels: Vec<ChannelKind>,
    /// The number content-free notices ask patients to call.
    pub phone: Option<Phone>,
    /// Where the clinic's numbers written without a country code are read.
    pub phone_region: PhoneRegion,
}

#[derive(Debug, Clone)]
pub struct Patient {
    pub id: PatientId,
    pub clinic_id: ClinicId,
    /// The booking system's id for this patient, unique within the clinic.
    pub external_id: String,
    pub name: String,
    pub language: Language,
    pub timezone: TimeZoneName,
    pub phone: Option<Phone>,
    /// Whether the phone number is on WhatsApp, as far as the clinic knows.
    pub whatsapp: bool,
    pub email: Option<EmailAddress>,
    /// Preferred channels, most preferred first; empty means the clinic's order.
    pub channels: Vec<ChannelKind>,
    pub opted_out: Vec<ChannelKind>,
    /// The patient's own quiet hours; none: the clinic's default for patients.
    pub quiet_hours: Option<QuietHours>,
    /// One way to prove who they are on a secure message link's page.
    pub birth_date: Option<jiff::civil::Date>,
    pub created_at: jiff::Timestamp,
    pub updated_at: jiff::Timestamp,
    /// When the clinic erased the patient's personal data; a `PUT` since gives them new data.
    pub erased_at: Option<jiff::Timestamp>,
}

impl Patient {
    /// The patient's phone number and email address, those on record: what providers tell us
    /// facts about.
    pub fn addresses(&self) -> impl Iterator<Item = &str> {
        [
            self.phone.as_ref().map(Phone::as_str),
            self.email.as_ref().map(EmailAddress::as_str),
        ]
        .into_iter()
        .flatten()
    }
}
