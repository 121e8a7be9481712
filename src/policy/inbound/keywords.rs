//! Reading words the way patients type them: any case, extra spaces, punctuation and emoji around
//! them, Hebrew with or without niqqud, Arabic with or without tashkeel, tatweel or hamza.
//!
//! Both sides go through [`normalise`]: the patient's message and the clinic's words. A keyword
//! is the whole message ("Stop!" stops, "please stop calling me at night" goes to staff); an
//! urgent phrase may be anywhere in it.

use unicode_normalization::UnicodeNormalization;

/// The text reduced to its words: NFKC (full-width and presentation forms become plain letters),
/// lower case, marks and apostrophes dropped, a few letters that people type interchangeably
/// made one, and anything that is not a letter or a digit (punctuation, emoji, line breaks) a
/// single space between words.
pub fn normalise(text: &str) -> String {
    let mut words = String::with_capacity(text.len());
    let mut gap = false;
    for c in text.nfkc().flat_map(char::to_lowercase) {
        if is_dropped(c) {
            continue;
        }
        if c.is_alphanumeric() {
            if gap && !words.is_empty() {
                words.push(' ');
            }
            gap = false;
            words.push(same_letter(c));
        } else {
            gap = true;
        }
    }
    words
}

/// Marks that change no word's meaning for matching, and apostrophes, so "can't", "can’t" and
/// "cant" are one word.
fn is_dropped(c: char) -> bool {
    matches!(c,
        // Hebrew cantillation and niqqud (not maqaf, paseq or sof pasuq, which separate words)
        '\u{0591}'..='\u{05BD}' | '\u{05BF}' | '\u{05C1}'..='\u{05C2}' | '\u{05C4}'..='\u{05C5}'
        | '\u{05C7}'
        // Arabic tashkeel, Quranic marks, superscript alef, and tatweel (a stretched line)
        | '\u{0610}'..='\u{061A}' | '\u{064B}'..='\u{065F}' | '\u{0670}' | '\u{0640}'
        | '\u{06D6}'..='\u{06DC}' | '\u{06DF}'..='\u{06E4}' | '\u{06E7}'..='\u{06E8}'
        | '\u{06EA}'..='\u{06ED}'
        // apostrophes, and the Hebrew geresh and gershayim written for them
        | '\'' | '\u{2019}' | '\u{2018}' | '`' | '\u{05F3}' | '\u{05F4}'
        // emoji variation selectors and the keycap of "1️⃣"
        | '\u{FE0E}' | '\u{FE0F}' | '\u{20E3}')
}

/// Letters typed for one another: Arabic alef with or without hamza or madda, alef maqsura for
/// ya, ta marbuta for ha; Russian ё for е.
fn same_letter(c: char) -> char {
    match c {
        'أ' | 'إ' | 'آ' | 'ٱ' => 'ا',
        'ى' => 'ي',
        'ة' => 'ه',
        'ё' => 'е',
        other => other,
    }
}

/// Whether the normalised message is exactly one of the words.
pub fn is_one_of<'w>(message: &str, words: impl IntoIterator<Item = &'w String>) -> bool {
    !message.is_empty() && words.into_iter().any(|word| normalise(word) == message)
}

/// Whether the normalised message contains the phrase. Latin and Cyrillic phrases match whole
/// words only ("stroke" is in "a stroke", not in "strokes"); Hebrew and Arabic
/// attach prefixes to words, so there a phrase may start or end inside a word.
pub fn contains_phrase(message: &str, phrase: &str) -> bool {
    let phrase = normalise(phrase);
    if phrase.is_empty() {
        return false;
    }
    let needs_start = phrase.chars().next().is_some_and(is_bounded);
    let needs_end = phrase.chars().next_back().is_some_and(is_bounded);
    message.match_indices(&phrase).any(|(at, _)| {
        let before = message[..at].chars().next_back();
        let after = message[at + phrase.len()..].chars().next();
        (!needs_start || before.is_none_or(|c| c == ' '))
            && (!needs_end || after.is_none_or(|c| c == ' '))
    })
}

/// Letters of scripts that write words apart, and digits.
fn is_bounded(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '\u{00C0}'..='\u{024F}' | '\u{0400}'..='\u{04FF}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_space_punctuation_and_emoji_do_not_change_a_word() {
        for written in [
            "STOP",
            " stop ",
            "Stop!",
            "stop.",
            "🛑 Stop 🙏",
            "ＳＴＯＰ",
            "stop\n",
        ] {
            assert_eq!(normalise(written), "stop", "{written:?}");
        }
        assert_eq!(normalise("1️⃣"), "1");
        assert_eq!(
            normalise("  please   stop, calling "),
            "please stop calling"
        );
    }

    #[test]
    fn niqqud_tashkeel_tatweel_and_hamza_are_read_past() {
        assert_eq!(normalise("הָסֵר"), "הסר");
        assert_eq!(normalise("ﬠצור"), "עצור");
        assert_eq!(normalise("نَعَم"), "نعم");
        assert_eq!(normalise("نـــعم"), "نعم");
        assert_eq!(normalise("إلغاء"), normalise("الغاء"));
        assert_eq!(normalise("Ещё"), "еще");
    }

    #[test]
    fn apostrophes_of_every_kind_are_one() {
        assert_eq!(normalise("Can't"), normalise("can’t"));
        assert_eq!(normalise("can't"), "cant");
    }

    #[test]
    fn a_keyword_is_the_whole_message() {
        let words = vec!["stop".to_owned(), "הסר".to_owned()];
        assert!(is_one_of(&normalise("Stop!"), &words));
        assert!(is_one_of(&normalise("הסר."), &words));
        assert!(!is_one_of(
            &normalise("please stop calling me at night"),
            &words
        ));
        assert!(!is_one_of(&normalise("🙏"), &words));
    }

    #[test]
    fn latin_and_cyrillic_phrases_match_whole_words_hebrew_and_arabic_inside_words() {
        assert!(contains_phrase(&normalise("I had a stroke."), "stroke"));
        assert!(!contains_phrase(
            &normalise("two strokes of luck"),
            "stroke"
        ));
        assert!(contains_phrase(
            &normalise("Не могу ДЫШАТЬ!!"),
            "не могу дышать"
        ));
        assert!(contains_phrase(&normalise("ויש לי כאב בחזה"), "כאב בחזה"));
        assert!(contains_phrase(&normalise("والانتحار"), "انتحار"));
        assert!(contains_phrase(
            &normalise("I CANT breathe"),
            "can't breathe"
        ));
    }
}
