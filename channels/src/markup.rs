//! Text put into HTML (an email's HTML part) or XML (a call's TwiML), escaped once for both.

/// Escapes for text and attribute values alike, in HTML and in XML. Characters XML 1.0 cannot
/// carry at all (most control characters) become spaces: one of them would make Twilio reject
/// the whole document, and HTML has no use for them either.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            // `&apos;` is not HTML 4; the numeric reference is read by every HTML and XML parser.
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if c.is_control() || c == '\u{fffe}' || c == '\u{ffff}' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn escaping_covers_markup_quotes_and_control_characters() {
        assert_eq!(
            escape("a<b & \"c\" 'd'>\u{7}\n"),
            "a&lt;b &amp; &quot;c&quot; &#39;d&#39;&gt; \n"
        );
        assert_eq!(escape("שלום, דנה"), "שלום, דנה");
    }
}
