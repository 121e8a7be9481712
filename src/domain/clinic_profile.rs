//! A clinic's own details, as `GET/PATCH /v1/clinic` and `medrelay clinic update` read and
//! write them: its name, the number patients are asked to call, the emergency number, the
//! language for patients whose own has no template, its channel order and its time zone.

use medrelay_channels::ChannelKind;
use serde::{Deserialize, Serialize};

use super::{
    FieldError, Language, ONE_LINE_RULE, Phone, PhoneRegion, TimeZoneName, is_dialable, is_one_line,
};

pub const DIALABLE_RULE: &str = "must be a number to dial: 1 to 20 digits, + and -, e.g. 101";

/// The details as written: what a merge patch changes and what is then checked whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClinicProfileText {
    #[schema(example = "Hadar Clinic")]
    pub name: String,
    /// The number content-free notices ask patients to call, as dialled in the clinic's region
    /// (`03-1234567`) or international; null: none.
    #[schema(example = "+97231234567")]
    pub phone: Option<String>,
    /// What the away and urgent answers tell patients to call.
    #[schema(example = "101")]
    pub emergency_number: String,
    /// For patients whose own language has no template: ISO 639-1.
    #[schema(example = "he")]
    pub language: String,
    /// The channels the clinic sends on, in the order used when neither staff nor the patient
    /// chose.
    #[schema(example = json!(["whatsapp", "sms", "email", "voice"]))]
    pub channels: Vec<String>,
    /// IANA zone of the clinic's calendar: appointment days, messaging hours.
    #[schema(example = "Asia/Jerusalem")]
    pub timezone: String,
}

/// The details, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClinicProfile {
    pub name: String,
    pub phone: Option<Phone>,
    pub emergency_number: String,
    pub language: Language,
    pub channels: Vec<ChannelKind>,
    pub timezone: TimeZoneName,
}

impl ClinicProfile {
    /// The details `text` gives, or every rule it breaks; numbers without a country code are
    /// read in `region`.
    pub fn parse(text: &ClinicProfileText, region: PhoneRegion) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let name = text.name.trim().to_owned();
        if name.is_empty() || name.chars().count() > 200 {
            errors.push(FieldError::new("name", "must be 1 to 200 characters"));
        } else if !is_one_line(&name) {
            errors.push(FieldError::new("name", ONE_LINE_RULE));
        }
        let phone = text.phone.as_ref().and_then(|written| {
            Phone::parse(written, region)
                .map_err(|e| errors.push(FieldError::new("phone", e.to_string())))
                .ok()
        });
        if !is_dialable(&text.emergency_number) {
            errors.push(FieldError::new("emergency_number", DIALABLE_RULE));
        }
        let language = Language::parse(&text.language);
        if language.is_none() {
            errors.push(FieldError::new("language", Language::RULE));
        }
        let timezone = TimeZoneName::parse(&text.timezone);
        if timezone.is_none() {
            errors.push(FieldError::new("timezone", TimeZoneName::RULE));
        }
        let channels = channel_list("channels", &text.channels, &mut errors);
        if text.channels.is_empty() {
            errors.push(FieldError::new(
                "channels",
                "must name at least one channel",
            ));
        }
        match (language, timezone, errors.is_empty()) {
            (Some(language), Some(timezone), true) => Ok(Self {
                name,
                phone,
                emergency_number: text.emergency_number.clone(),
                language,
                channels,
                timezone,
            }),
            _ => Err(errors),
        }
    }

    pub fn to_text(&self) -> ClinicProfileText {
        ClinicProfileText {
            name: self.name.clone(),
            phone: self.phone.as_ref().map(|p| p.as_str().to_owned()),
            emergency_number: self.emergency_number.clone(),
            language: self.language.as_str().to_owned(),
            channels: self
                .channels
                .iter()
                .map(|c| c.as_str().to_owned())
                .collect(),
            timezone: self.timezone.as_str().to_owned(),
        }
    }
}

/// Parses a list of channel names, naming each bad entry by its index.
pub fn channel_list(
    field: &str,
    names: &[String],
    errors: &mut Vec<FieldError>,
) -> Vec<ChannelKind> {
    let mut channels = Vec::new();
    for (i, name) in names.iter().enumerate() {
        match name.parse::<ChannelKind>() {
            Ok(c) if channels.contains(&c) => {
                errors.push(FieldError::new(format!("{field}[{i}]"), "is listed twice"))
            }
            Ok(c) => channels.push(c),
            Err(e) => errors.push(FieldError::new(format!("{field}[{i}]"), e.to_string())),
        }
    }
    channels
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hadar() -> ClinicProfileText {
        ClinicProfileText {
            name: "Hadar Clinic".to_owned(),
            phone: Some("03-1234567".to_owned()),
            emergency_number: "101".to_owned(),
            language: "he".to_owned(),
            channels: vec!["whatsapp".to_owned(), "sms".to_owned()],
            timezone: "Asia/Jerusalem".to_owned(),
        }
    }

    #[test]
    fn a_local_clinic_number_is_kept_in_international_form() {
        let profile = ClinicProfile::parse(&hadar(), PhoneRegion::ISRAEL).expect("valid");

        assert_eq!(profile.to_text().phone.as_deref(), Some("+97231234567"));
    }

    #[test]
    fn every_broken_rule_is_named_by_its_field() {
        let text = ClinicProfileText {
            name: " ".to_owned(),
            phone: Some("12".to_owned()),
            emergency_number: "call 101".to_owned(),
            language: "hebrew".to_owned(),
            channels: vec!["fax".to_owned()],
            timezone: "Mars/Olympus".to_owned(),
        };

        let errors = ClinicProfile::parse(&text, PhoneRegion::ISRAEL).expect_err("invalid");

        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "name",
                "phone",
                "emergency_number",
                "language",
                "timezone",
                "channels[0]"
            ]
        );
    }
}
