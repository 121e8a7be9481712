//! SMS encoding (GSM-7 or UCS-2) and segment counting.
//!
//! One SMS carries 140 octets: 160 GSM-7 septets or 70 UCS-2 units. A longer text is split into
//! parts that each lose room to a concatenation header: 153 septets or 67 units per part. A single
//! character outside the GSM 03.38 alphabet turns the whole text into UCS-2, which is why every
//! Hebrew, Arabic and Russian message costs 70/67 (providers.md §3).

/// How the text travels over the air.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// GSM 03.38 default alphabet, 7 bits per character (escape-table characters take two).
    Gsm7,
    /// UTF-16 code units, 16 bits each; characters beyond the BMP take two.
    Ucs2,
}

impl Encoding {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Gsm7 => "gsm7",
            Self::Ucs2 => "ucs2",
        }
    }
}

/// The cost of one SMS text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SmsEncoding {
    pub encoding: Encoding,
    /// Septets for GSM-7, UTF-16 code units for UCS-2.
    pub units: usize,
    /// Parts the provider bills; 0 for an empty text, which cannot be sent at all.
    pub segments: usize,
}

const GSM7_SINGLE: usize = 160;
const GSM7_PART: usize = 153;
const UCS2_SINGLE: usize = 70;
const UCS2_PART: usize = 67;

/// Counts encoding, units and parts the way the handset network does (providers.md §3.3).
pub fn analyse(text: &str) -> SmsEncoding {
    let gsm_costs: Option<Vec<usize>> = text.chars().map(gsm7_cost).collect();
    let (encoding, costs, single, part) = match gsm_costs {
        Some(costs) => (Encoding::Gsm7, costs, GSM7_SINGLE, GSM7_PART),
        None => (
            Encoding::Ucs2,
            text.chars().map(char::len_utf16).collect(),
            UCS2_SINGLE,
            UCS2_PART,
        ),
    };
    let units = costs.iter().sum();
    let segments = match units {
        0 => 0,
        n if n <= single => 1,
        _ => greedy_parts(&costs, part),
    };
    SmsEncoding {
        encoding,
        units,
        segments,
    }
}

/// Fills parts in order; a character that does not fit whole (an escape pair, a surrogate pair)
/// moves to the next part, so the count can exceed `ceil(units / part)`.
fn greedy_parts(costs: &[usize], part: usize) -> usize {
    let mut parts = 1;
    let mut fill = 0;
    for &cost in costs {
        if fill + cost > part {
            parts += 1;
            fill = 0;
        }
        fill += cost;
    }
    parts
}

/// Septets for one character, or `None` when it is outside GSM 03.38 (basic set and extension).
fn gsm7_cost(c: char) -> Option<usize> {
    if c.is_ascii_alphanumeric() || GSM7_BASIC.contains(c) {
        Some(1)
    } else if GSM7_EXTENSION.contains(c) {
        Some(2)
    } else {
        None
    }
}

/// The GSM 03.38 basic set apart from A-Z, a-z and 0-9 (providers.md §3.2). ESC itself is left
/// out: in text it is not a character anyone can send.
const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./:;<=>?¡ÄÖÑÜ§¿äöñüà";

/// Reached through ESC, so each costs two septets.
const GSM7_EXTENSION: &str = "\u{c}^{}\\[~]|€";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_follow_the_gsm7_and_ucs2_rules() {
        let hebrew_letter = "ש";
        let cases: Vec<(&str, String, Encoding, usize, usize)> = vec![
            ("empty text", String::new(), Encoding::Gsm7, 0, 0),
            (
                "plain English",
                "Your appointment is tomorrow at 09:30.".into(),
                Encoding::Gsm7,
                38,
                1,
            ),
            ("160 GSM chars", "a".repeat(160), Encoding::Gsm7, 160, 1),
            ("161 GSM chars", "a".repeat(161), Encoding::Gsm7, 161, 2),
            ("306 GSM chars", "a".repeat(306), Encoding::Gsm7, 306, 2),
            ("307 GSM chars", "a".repeat(307), Encoding::Gsm7, 307, 3),
            (
                "basic-set symbols count one",
                "@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ!\"#¤%&'()*+,-./:;<=>?¡ÄÖÑÜ§¿äöñüà\n\r".into(),
                Encoding::Gsm7,
                64,
                1,
            ),
            (
                "each extension char counts two",
                "€[]{}^~\\|\u{c}".into(),
                Encoding::Gsm7,
                20,
                1,
            ),
            (
                "159 chars with one euro sign fill one part",
                format!("{}€", "a".repeat(158)),
                Encoding::Gsm7,
                160,
                1,
            ),
            (
                "an escape pair never splits across parts",
                format!("{}€{}", "a".repeat(152), "a".repeat(152)),
                Encoding::Gsm7,
                306,
                3,
            ),
            (
                "a curly quote flips Latin text to UCS-2",
                "It’s time".into(),
                Encoding::Ucs2,
                9,
                1,
            ),
            (
                "one Hebrew letter flips a long Latin text to UCS-2",
                format!("{}{hebrew_letter}", "a".repeat(100)),
                Encoding::Ucs2,
                101,
                2,
            ),
            (
                "70 Hebrew letters",
                hebrew_letter.repeat(70),
                Encoding::Ucs2,
                70,
                1,
            ),
            (
                "71 Hebrew letters",
                hebrew_letter.repeat(71),
                Encoding::Ucs2,
                71,
                2,
            ),
            (
                "134 Hebrew letters",
                hebrew_letter.repeat(134),
                Encoding::Ucs2,
                134,
                2,
            ),
            (
                "135 Hebrew letters",
                hebrew_letter.repeat(135),
                Encoding::Ucs2,
                135,
                3,
            ),
            ("Arabic", "موعدك غدا".into(), Encoding::Ucs2, 9, 1),
            ("Russian", "Ваш приём завтра".into(), Encoding::Ucs2, 16, 1),
            (
                "an emoji is a surrogate pair",
                "👍".into(),
                Encoding::Ucs2,
                2,
                1,
            ),
            (
                "a surrogate pair never splits across parts",
                format!("{}👍{}", hebrew_letter.repeat(66), hebrew_letter.repeat(66)),
                Encoding::Ucs2,
                134,
                3,
            ),
            ("a tab is not GSM-7", "a\tb".into(), Encoding::Ucs2, 3, 1),
        ];
        for (name, text, encoding, units, segments) in cases {
            assert_eq!(
                analyse(&text),
                SmsEncoding {
                    encoding,
                    units,
                    segments
                },
                "{name}"
            );
        }
    }
}
