//! The console's texts: one Fluent catalogue per language under `locales/<lang>/`, every `.ftl`
//! file of a folder loaded (one per page), built into the binary. A text missing from a language
//! falls back to English; a test keeps the catalogues complete.

use std::borrow::Cow;
use std::collections::HashMap;

use fluent_templates::fluent_bundle::FluentValue;
use fluent_templates::{LanguageIdentifier, Loader, langid};

use crate::domain::UiLanguage;

fluent_templates::static_loader! {
    static LOCALES = {
        locales: "./locales",
        fallback_language: "en",
        // Names and numbers go into pages as HTML, where `<bdi>` isolates them; Fluent's own
        // invisible isolation marks would only end up in copied text.
        customise: |bundle| bundle.set_use_isolating(false),
    };
}

static HEBREW: LanguageIdentifier = langid!("he");
static ENGLISH: LanguageIdentifier = langid!("en");

/// The texts of one language, for a page being drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tr {
    pub language: UiLanguage,
}

impl Tr {
    pub fn new(language: UiLanguage) -> Self {
        Self { language }
    }

    fn id(&self) -> &'static LanguageIdentifier {
        match self.language {
            UiLanguage::He => &HEBREW,
            UiLanguage::En => &ENGLISH,
        }
    }

    /// The text `key`; the key itself when no catalogue has it (a test finds those first).
    pub fn t(&self, key: &str) -> String {
        LOCALES
            .try_lookup(self.id(), key)
            .unwrap_or_else(|| key.to_owned())
    }

    /// The text `key` with its `{ $name }` placeholders filled.
    pub fn t_with(&self, key: &str, args: &[(&'static str, &str)]) -> String {
        let args: HashMap<Cow<'static, str>, FluentValue<'_>> = args
            .iter()
            .map(|(name, value)| (Cow::Borrowed(*name), FluentValue::from(*value)))
            .collect();
        LOCALES
            .try_lookup_with_args(self.id(), key, &args)
            .unwrap_or_else(|| key.to_owned())
    }

    /// `<html lang>`.
    pub fn lang(&self) -> &'static str {
        self.language.as_str()
    }

    /// `<html dir>`.
    pub fn dir(&self) -> &'static str {
        if self.language.is_rtl() { "rtl" } else { "ltr" }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    use super::*;

    /// The message ids a catalogue folder defines.
    fn keys(language: &str) -> BTreeSet<String> {
        let folder = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("locales")
            .join(language);
        let mut keys = BTreeSet::new();
        for file in std::fs::read_dir(folder).expect("catalogue folder") {
            let text = std::fs::read_to_string(file.expect("entry").path()).expect("catalogue");
            keys.extend(
                text.lines()
                    .filter(|line| line.starts_with(|c: char| c.is_ascii_lowercase()))
                    .filter_map(|line| line.split_once('=').map(|(id, _)| id.trim().to_owned())),
            );
        }
        keys
    }

    #[test]
    fn every_text_is_written_in_hebrew_and_in_english() {
        let hebrew = keys("he");
        let english = keys("en");
        assert_eq!(
            english.difference(&hebrew).collect::<Vec<_>>(),
            Vec::<&String>::new(),
            "in English only"
        );
        assert_eq!(
            hebrew.difference(&english).collect::<Vec<_>>(),
            Vec::<&String>::new(),
            "in Hebrew only"
        );
    }

    #[test]
    fn hebrew_pages_read_right_to_left_with_hebrew_texts() {
        let hebrew = Tr::new(UiLanguage::He);
        assert_eq!((hebrew.lang(), hebrew.dir()), ("he", "rtl"));
        assert_eq!(hebrew.t("sign-in-title"), "כניסה");
        assert_eq!(Tr::new(UiLanguage::En).t("sign-in-title"), "Sign in");
    }

    #[test]
    fn placeholders_are_filled() {
        let english = Tr::new(UiLanguage::En);
        assert_eq!(
            english.t_with("chrome-signed-in-as", &[("name", "Dana Levi")]),
            "Signed in as Dana Levi"
        );
    }
}
