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
        ISO_639_1
            .binary_search(&s)
            .is_ok()
            .then(|| Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Every ISO 639-1 code, sorted: a language that is not one (`xx`) is a typing mistake that would
/// otherwise pick templates nobody wrote.
const ISO_639_1: [&str; 184] = [
    "aa", "ab", "ae", "af", "ak", "am", "an", "ar", "as", "av", "ay", "az", "ba", "be", "bg", "bh",
    "bi", "bm", "bn", "bo", "br", "bs", "ca", "ce", "ch", "co", "cr", "cs", "cu", "cv", "cy", "da",
    "de", "dv", "dz", "ee", "el", "en", "eo", "es", "et", "eu", "fa", "ff", "fi", "fj", "fo", "fr",
    "fy", "ga", "gd", "gl", "gn", "gu", "gv", "ha", "he", "hi", "ho", "hr", "ht", "hu", "hy", "hz",
    "ia", "id", "ie", "ig", "ii", "ik", "io", "is", "it", "iu", "ja", "jv", "ka", "kg", "ki", "kj",
    "kk", "kl", "km", "kn", "ko", "kr", "ks", "ku", "kv", "kw", "ky", "la", "lb", "lg", "li", "ln",
    "lo", "lt", "lu", "lv", "mg", "mh", "mi", "mk", "ml", "mn", "mr", "ms", "mt", "my", "na", "nb",
    "nd", "ne", "ng", "nl", "nn", "no", "nr", "nv", "ny", "oc", "oj", "om", "or", "os", "pa", "pi",
    "pl", "ps", "pt", "qu", "rm", "rn", "ro", "ru", "rw", "sa", "sc", "sd", "se", "sg", "si", "sk",
    "sl", "sm", "sn", "so", "sq", "sr", "ss", "st", "su", "sv", "sw", "ta", "te", "tg", "th", "ti",
    "tk", "tl", "tn", "to", "tr", "ts", "tt", "tw", "ty", "ug", "uk", "ur", "uz", "ve", "vi", "vo",
    "wa", "wo", "xh", "yi", "yo", "za", "zh", "zu",
];

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
    fn a_language_is_an_iso_639_1_code_and_nothing_shaped_like_one() {
        for code in ["he", "ar", "ru", "en", "am", "yi"] {
            assert!(Language::parse(code).is_some(), "{code}");
        }
        for code in ["xx", "HE", "heb", "", "iw"] {
            assert!(Language::parse(code).is_none(), "{code}");
        }
        assert!(ISO_639_1.is_sorted());
    }

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
