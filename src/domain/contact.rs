use std::fmt;

/// An email address, checked for shape only; the mail server is the judge of the rest.
#[derive(Clone, PartialEq, Eq)]
pub struct EmailAddress(String);

impl EmailAddress {
    pub const RULE: &'static str = "must be an email address like name@example.org";

    pub fn parse(s: &str) -> Option<Self> {
        let (local, domain) = s.rsplit_once('@')?;
        let valid = !local.is_empty()
            && s.len() <= 254
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !s.chars().any(|c| c.is_whitespace() || c.is_control())
            && !local.contains('@');
        valid.then(|| Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map_or("", |(_, d)| d)
    }
}

impl fmt::Debug for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Email(***@{})", self.domain())
    }
}

/// An ISO 639-1 language code (`he`, `ar`, `ru`, `en`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Language(String);

impl Language {
    pub const RULE: &'static str = "must be a two-letter ISO 639-1 code such as he, ar, ru or en";

    pub fn parse(s: &str) -> Option<Self> {
        (s.len() == 2 && s.bytes().all(|b| b.is_ascii_lowercase())).then(|| Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An IANA time zone name that this build knows, e.g. `Asia/Jerusalem`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeZoneName(String);

impl TimeZoneName {
    pub const RULE: &'static str = "must be an IANA time zone such as Asia/Jerusalem";

    pub fn parse(s: &str) -> Option<Self> {
        jiff::tz::TimeZone::get(s).ok().map(|_| Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The zone's rules. The name was found when parsed; should this build's time zone database
    /// lose it, UTC is the least surprising stand-in.
    pub fn zone(&self) -> jiff::tz::TimeZone {
        jiff::tz::TimeZone::get(&self.0).unwrap_or(jiff::tz::TimeZone::UTC)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_addresses_need_a_local_part_and_a_dotted_domain() {
        assert!(EmailAddress::parse("dana@clinic.co.il").is_some());
        for bad in [
            "dana",
            "@clinic.co.il",
            "dana@clinic",
            "da na@clinic.co.il",
            "dana@.il",
        ] {
            assert!(
                EmailAddress::parse(bad).is_none(),
                "{bad} should be rejected"
            );
        }
    }

    #[test]
    fn time_zones_must_be_known() {
        assert!(TimeZoneName::parse("Asia/Jerusalem").is_some());
        assert!(TimeZoneName::parse("Mars/Olympus").is_none());
    }
}
