//! Text that must stay on one line: names, who did something, short notes. They are shown in
//! lists, logs, event trails and message templates, where a line break forges a new line and a
//! bidirectional override makes text read differently from what is stored (a "Trojan Source"
//! name). Right-to-left text itself (Hebrew, Arabic) and its plain marks (U+200E, U+200F, U+061C)
//! are fine.

pub const ONE_LINE_RULE: &str = "must be one line: no line breaks (CR, LF, U+0085, U+2028, \
     U+2029) and no bidirectional embedding, override or isolate characters (U+202A–U+202E, \
     U+2066–U+2069)";

/// Whether `text` holds no line break and no bidirectional control that reorders what follows.
pub fn is_one_line(text: &str) -> bool {
    !text.chars().any(|c| {
        matches!(
            c,
            '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_breaks_and_bidi_overrides_are_not_one_line_but_hebrew_and_marks_are() {
        for text in [
            "Dana Levi",
            "דנה לוי",
            "Rivka\u{200F}, front desk",
            "Tab\there",
        ] {
            assert!(is_one_line(text), "{text:?}");
        }
        for text in [
            "Dana\nLevi",
            "Dana\r",
            "a\u{2028}b",
            "evil\u{202E}txt.exe",
            "x\u{2066}y\u{2069}",
        ] {
            assert!(!is_one_line(text), "{text:?}");
        }
    }
}
