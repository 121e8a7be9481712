//! Phone numbers as clinics write them (`054-1234567`, `+972 54 123 4567`), read with Google's
//! libphonenumber metadata and kept in E.164 with what the metadata says the line is.

use std::fmt;

use phonenumber::country::{Id, Source};
use phonenumber::metadata::DATABASE;
use phonenumber::{Mode, PhoneNumber, Type};

/// Where a number written without its country code is read: a country with a numbering plan
/// (ISO 3166-1 alpha-2), per clinic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhoneRegion(Id);

impl PhoneRegion {
    pub const RULE: &'static str =
        "must be a two-letter ISO 3166 country code with a numbering plan, e.g. IL";
    pub const ISRAEL: Self = Self(Id::IL);

    pub fn parse(s: &str) -> Option<Self> {
        let id: Id = s.parse().ok()?;
        DATABASE.by_id(id.as_ref()).map(|_| Self(id))
    }

    pub fn as_str(&self) -> &str {
        self.0.as_ref()
    }

    /// Reads the numbering plans into memory, which the first number read would otherwise do
    /// while its request waits (about a second in a debug build).
    pub fn load_numbering_plans() {
        DATABASE.by_id(Self::ISRAEL.as_str());
    }
}

text_enum!(
    /// What the numbering plan says a number is, where it can tell.
    LineType {
        /// Takes SMS and WhatsApp.
        Mobile = "mobile",
        /// Takes calls only: SMS and WhatsApp cannot reach it.
        Landline = "landline",
        /// The plan cannot tell (the US and Canada share ranges) or the range is another kind
        /// (VoIP, pager, personal numbers): the providers will tell.
        Unknown = "unknown",
    }
);

/// Why a written phone number is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error(
        "must be a phone number: international (+972541234567) or as dialled within {region} \
         (054-1234567 in IL)"
    )]
    NotANumber { region: String },
    #[error("must be a line without an extension")]
    Extension,
    #[error(
        "is not a valid number: it reads as {e164}, which does not fit the numbering plan of \
         +{code} (its length or leading digits)"
    )]
    Invalid { e164: String, code: u16 },
    /// Written with its country code and the national trunk prefix as well (`+9720541234567`).
    #[error(
        "is not a valid number as written: after +{code} the national prefix 0 is left out; \
         the number is {e164}"
    )]
    TrunkPrefix { e164: String, code: u16 },
}

/// A phone number in E.164 (`+972541234567`) and its line type.
#[derive(Clone, PartialEq, Eq)]
pub struct Phone {
    e164: String,
    line: LineType,
}

impl Phone {
    /// Reads a number as a clinic in `region` writes it: national (`054-1234567`) or
    /// international (`+972 54-123-4567`, `00972…`); refuses one that does not fit its
    /// country's numbering plan.
    ///
    /// A number that fits the plan is accepted even in a range the metadata does not list as
    /// allocated (its line type is then unknown): the metadata lags new allocations, and a real
    /// patient refused at registration gets nothing, while a provider refusing a number falls
    /// back and is remembered.
    pub fn parse(written: &str, region: PhoneRegion) -> Result<Self, PhoneError> {
        let number =
            phonenumber::parse(Some(region.0), written).map_err(|_| PhoneError::NotANumber {
                region: region.as_str().to_owned(),
            })?;
        if number.extension().is_some() {
            return Err(PhoneError::Extension);
        }
        let e164 = number.format().mode(Mode::E164).to_string();
        let code = number.country().code();
        if !in_numbering_plan(code, &e164[1 + code.to_string().len()..]) {
            return Err(PhoneError::Invalid { e164, code });
        }
        // libphonenumber quietly drops a trunk prefix written after the country code; the caller
        // is told, so the booking system's own record gets mended too.
        if written_with_code(&number) && !digits(written).ends_with(&e164[1..]) {
            return Err(PhoneError::TrunkPrefix { e164, code });
        }
        let line = line_type(&number);
        Ok(Self { e164, line })
    }

    /// A number this gateway stored: parsed when it was accepted, so read back as it is.
    /// Numbers stored before line types were kept have `LineType::Unknown`.
    pub fn from_stored(e164: String, line: LineType) -> Self {
        Self { e164, line }
    }

    pub fn as_str(&self) -> &str {
        &self.e164
    }

    pub fn line(&self) -> LineType {
        self.line
    }

    pub fn is_landline(&self) -> bool {
        self.line == LineType::Landline
    }

    /// The last three digits, for logs and staff screens.
    pub fn masked(&self) -> String {
        format!("***{}", &self.e164[self.e164.len().saturating_sub(3)..])
    }
}

impl fmt::Debug for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Phone({}, {})", self.masked(), self.line.as_str())
    }
}

/// Whether the national number has a length and leading digits some country of `code` uses.
fn in_numbering_plan(code: u16, national: &str) -> bool {
    DATABASE.by_code(&code).is_some_and(|countries| {
        countries
            .iter()
            .any(|country| country.descriptors().general().is_match(national))
    })
}

fn written_with_code(number: &PhoneNumber) -> bool {
    matches!(
        number.code().source(),
        Source::Plus | Source::Idd | Source::Number
    )
}

fn digits(written: &str) -> String {
    written.chars().filter(char::is_ascii_digit).collect()
}

fn line_type(number: &PhoneNumber) -> LineType {
    match number.number_type(&DATABASE) {
        Type::Mobile => LineType::Mobile,
        Type::FixedLine => LineType::Landline,
        _ => LineType::Unknown,
    }
}

/// Whether `number` is something to dial (an emergency or short number, not necessarily a
/// phone number in a numbering plan): 1 to 20 characters of digits, `+` and `-`.
pub fn is_dialable(number: &str) -> bool {
    (1..=20).contains(&number.len())
        && number.bytes().any(|b| b.is_ascii_digit())
        && number
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'+' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn israeli(written: &str) -> Result<Phone, PhoneError> {
        Phone::parse(written, PhoneRegion::ISRAEL)
    }

    #[test]
    fn israeli_numbers_are_read_as_israelis_write_them() {
        for written in [
            "054-1234567",
            "0541234567",
            "054 123 4567",
            "+972541234567",
            "+972 54-123-4567",
            "00972541234567",
        ] {
            let phone = israeli(written).map(|p| p.as_str().to_owned());
            assert_eq!(phone.as_deref(), Ok("+972541234567"), "{written}");
        }
    }

    #[test]
    fn a_trunk_prefix_after_the_country_code_is_refused_showing_the_number_meant() {
        assert_eq!(
            israeli("+9720541234567").map(|p| p.as_str().to_owned()),
            Err(PhoneError::TrunkPrefix {
                e164: "+972541234567".into(),
                code: 972
            })
        );
    }

    #[test]
    fn numbers_that_do_not_fit_their_countrys_plan_are_refused_with_what_they_read_as() {
        assert_eq!(
            israeli("054-123456").map(|p| p.as_str().to_owned()),
            Err(PhoneError::Invalid {
                e164: "+97254123456".into(),
                code: 972
            })
        );
        for short in ["+972 12 345", "12"] {
            assert!(
                matches!(israeli(short), Err(PhoneError::Invalid { .. })),
                "{short}"
            );
        }
        for bad in ["", "+", "hello"] {
            assert!(
                matches!(israeli(bad), Err(PhoneError::NotANumber { .. })),
                "{bad}: {:?}",
                israeli(bad)
            );
        }
    }

    #[test]
    fn the_metadata_tells_mobiles_from_landlines() {
        let line = |written: &str| israeli(written).map(|p| p.line());
        assert_eq!(line("050-2345678"), Ok(LineType::Mobile));
        assert_eq!(
            line("054-1234567"),
            Ok(LineType::Unknown),
            "054-1 fits the plan, but the metadata lists it as no mobile range yet"
        );
        assert_eq!(line("03-1234567"), Ok(LineType::Landline));
        assert_eq!(line("02-6234567"), Ok(LineType::Landline));
        assert_eq!(line("+1 202 555 0123"), Ok(LineType::Unknown));
    }

    #[test]
    fn another_region_reads_its_own_national_format() {
        let uk = PhoneRegion::parse("GB").expect("region");
        let phone = Phone::parse("07400 123456", uk).map(|p| p.as_str().to_owned());
        assert_eq!(phone.as_deref(), Ok("+447400123456"));
        assert_eq!(PhoneRegion::parse("XX"), None);
        assert_eq!(PhoneRegion::parse("il"), None);
    }

    #[test]
    fn phone_debug_shows_only_the_last_digits() {
        let phone = israeli("050-2345678").map(|p| format!("{p:?}"));
        assert_eq!(phone.as_deref(), Ok("Phone(***678, mobile)"));
    }
}
