//! SMS encoding (GSM-7 or UCS-2) and segment counting, as Twilio's segment calculator counts.
//!
//! One SMS carries 140 octets (1,120 bits): 160 GSM-7 septets or 70 UCS-2 units. A longer text is
//! split into parts that each lose 6 octets to a concatenation header: 153 septets or 67 units
//! per part. A single character outside the GSM 03.38 alphabet turns the whole text into UCS-2,
//! which is why every Hebrew, Arabic and Russian message costs 70/67 (providers.md §3).
//!
//! A part never splits what a reader sees as one character (a grapheme cluster: a flag, a
//! family emoji, a skin tone, a letter with its accent) nor a GSM-7 escape pair, so a text can
//! need more parts than `ceil(units / 67)`. Twilio's calculator (TwilioDevEd
//! message-segment-calculator) counts the same way, with one exception it makes too: CR LF is two
//! characters, not one.

use unicode_segmentation::UnicodeSegmentation;

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

    fn bits_per_unit(self) -> usize {
        match self {
            Self::Gsm7 => 7,
            Self::Ucs2 => 16,
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

/// 140 octets.
const SINGLE_BITS: usize = 1_120;
/// 140 octets less the 6-octet concatenation header.
const PART_BITS: usize = 1_072;

/// Counts encoding, units and parts the way Twilio does (providers.md §3.3).
pub fn analyse(text: &str) -> SmsEncoding {
    let characters = characters(text);
    let septets: Option<Vec<usize>> = characters.iter().map(|c| gsm7_septets(c)).collect();
    let (encoding, units) = match septets {
        Some(septets) => (Encoding::Gsm7, septets),
        None => (
            Encoding::Ucs2,
            characters
                .iter()
                .map(|c| c.encode_utf16().count())
                .collect(),
        ),
    };
    let bits: Vec<usize> = units.iter().map(|u| u * encoding.bits_per_unit()).collect();
    let segments = match bits.iter().sum::<usize>() {
        0 => 0,
        total if total <= SINGLE_BITS => 1,
        _ => greedy_parts(&bits),
    };
    SmsEncoding {
        encoding,
        units: units.iter().sum(),
        segments,
    }
}

/// What a part may not split: grapheme clusters, except that CR LF counts as two characters.
fn characters(text: &str) -> Vec<&str> {
    text.graphemes(true)
        .flat_map(|grapheme| match grapheme {
            "\r\n" => vec!["\r", "\n"],
            other => vec![other],
        })
        .collect()
}

/// Fills parts in order; a character that does not fit whole moves to the next part.
fn greedy_parts(bits: &[usize]) -> usize {
    let mut parts = 1;
    let mut fill = 0;
    for &size in bits {
        if fill + size > PART_BITS && fill > 0 {
            parts += 1;
            fill = 0;
        }
        fill += size;
    }
    parts
}

/// Septets for one character, or `None` when it is outside GSM 03.38 (basic set and extension)
/// or made of several code points.
fn gsm7_septets(character: &str) -> Option<usize> {
    let mut chars = character.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => gsm7_cost(c),
        _ => None,
    }
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

    /// `text` as Twilio's calculator counts it: (encoding, units, segments).
    fn counted(text: &str) -> (Encoding, usize, usize) {
        let cost = analyse(text);
        (cost.encoding, cost.units, cost.segments)
    }

    #[test]
    fn gsm7_escape_pairs_count_two_and_stay_whole_at_the_160_and_153_boundaries() {
        let a = |n| "a".repeat(n);
        assert_eq!(counted(&format!("{}€", a(158))), (Encoding::Gsm7, 160, 1));
        assert_eq!(counted(&format!("{}€", a(159))), (Encoding::Gsm7, 161, 2));
        // 152 + € would be 154 septets: the pair opens the second part.
        assert_eq!(
            counted(&format!("{}€{}", a(152), a(151))),
            (Encoding::Gsm7, 305, 2)
        );
        assert_eq!(
            counted(&format!("{}€{}", a(152), a(152))),
            (Encoding::Gsm7, 306, 3)
        );
        // CR LF is two GSM-7 characters, not a reason for UCS-2.
        assert_eq!(counted("a\r\nb"), (Encoding::Gsm7, 4, 1));
    }

    #[test]
    fn ucs2_surrogate_pairs_count_two_units_at_the_70_boundary() {
        let shin = |n| "ש".repeat(n);
        assert_eq!(counted(&format!("{}👍", shin(68))), (Encoding::Ucs2, 70, 1));
        assert_eq!(counted(&format!("{}👍", shin(69))), (Encoding::Ucs2, 71, 2));
        assert_eq!(
            counted(&format!("{}👍{}", shin(65), shin(65))),
            (Encoding::Ucs2, 132, 2)
        );
        assert_eq!(
            counted(&format!("{}👍{}", shin(66), shin(66))),
            (Encoding::Ucs2, 134, 3)
        );
    }

    #[test]
    fn a_character_of_several_code_points_is_never_split_across_parts() {
        let shin = |n| "ש".repeat(n);
        // Man ZWJ woman ZWJ girl: five code points, eight UTF-16 units, one character.
        let family = "\u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467}";
        let flag = "🇮🇱";
        let thumb_medium_skin = "👍🏽";
        assert_eq!(
            counted(&format!("{}{family}", shin(62))),
            (Encoding::Ucs2, 70, 1)
        );
        assert_eq!(
            counted(&format!("{}{family}", shin(63))),
            (Encoding::Ucs2, 71, 2)
        );
        // Split by code point, the family would fill the first part to 67 exactly.
        assert_eq!(
            counted(&format!("{}{family}{}", shin(62), shin(62))),
            (Encoding::Ucs2, 132, 3)
        );
        // Split by code point, the first regional indicator would end the first part.
        assert_eq!(
            counted(&format!("{}{flag}{}", shin(65), shin(64))),
            (Encoding::Ucs2, 133, 3)
        );
        assert_eq!(
            counted(&format!("{}{thumb_medium_skin}{}", shin(65), shin(64))),
            (Encoding::Ucs2, 133, 3)
        );
        // A Latin letter with a combining accent is one character of two code points.
        assert_eq!(counted("e\u{301}"), (Encoding::Ucs2, 2, 1));
    }
}
