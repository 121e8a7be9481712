//! A clinic's two-way settings, as `GET/PUT /v1/clinic/inbound` shows them and the clinic row
//! stores them, and the rules they must follow.
//!
//! A field left out takes its default. For the urgent phrases that holds per language: a
//! language the clinic gives replaces that language's list, the others keep theirs, so a clinic
//! adding its own Hebrew phrases does not silence the Arabic ones.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Deserializer, Serialize};

use super::defaults::{EMERGENCY_NUMBER, LANGUAGES, LanguageWords};
use super::keywords::normalise;
use crate::domain::{BUILT_IN_LABELS, DIALABLE_RULE, FieldError, Language, is_dialable};
use utoipa::ToSchema;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct InboundSettings {
    /// At most one receipt and one away message per patient in this many hours.
    pub auto_reply_every_hours: u32,
    /// No receipt or away message when staff answered the patient this recently: they are
    /// talking already.
    pub staff_answered_quiet_minutes: u32,
    /// How long a patient may wait for staff, counted inside messaging hours; past it the
    /// message is overdue. Also what the receipt message promises.
    pub response_target_minutes: u32,
    /// What the away and urgent answers tell patients to call.
    pub emergency_number: String,
    pub keywords: Keywords,
    /// By language; every language's phrases are looked for in every message, since patients
    /// write in any of them.
    #[serde(deserialize_with = "phrases_over_defaults")]
    pub urgent_phrases: BTreeMap<String, Vec<String>>,
    /// The clinic's own labels; the built-in ones are always there.
    pub labels: Vec<String>,
}

/// Whole-message keywords, in any of the clinic's languages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Keywords {
    pub opt_out: Vec<String>,
    pub opt_in: Vec<String>,
    /// Answer a reminder: the patient will come. Read as such only in reply to a reminder.
    pub confirm: Vec<String>,
    /// Answer a reminder: the patient asks to cancel. Read as such only in reply to a reminder.
    pub cancel: Vec<String>,
}

impl Default for InboundSettings {
    fn default() -> Self {
        Self {
            auto_reply_every_hours: 12,
            staff_answered_quiet_minutes: 10,
            response_target_minutes: 240,
            emergency_number: EMERGENCY_NUMBER.to_owned(),
            keywords: Keywords::default(),
            urgent_phrases: default_urgent_phrases(),
            labels: Vec::new(),
        }
    }
}

impl Default for Keywords {
    fn default() -> Self {
        let all = |list: fn(&LanguageWords) -> &'static [&'static str]| {
            LANGUAGES
                .iter()
                .flat_map(|words| list(words))
                .map(|word| (*word).to_owned())
                .collect()
        };
        Self {
            opt_out: all(|w| w.opt_out),
            opt_in: all(|w| w.opt_in),
            confirm: all(|w| w.confirm),
            cancel: all(|w| w.cancel),
        }
    }
}

fn default_urgent_phrases() -> BTreeMap<String, Vec<String>> {
    LANGUAGES
        .iter()
        .filter(|words| !words.urgent.is_empty())
        .map(|words| {
            let phrases = words.urgent.iter().map(|p| (*p).to_owned()).collect();
            (words.language.to_owned(), phrases)
        })
        .collect()
}

fn phrases_over_defaults<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<String, Vec<String>>, D::Error> {
    let given = BTreeMap::<String, Vec<String>>::deserialize(deserializer)?;
    let mut phrases = default_urgent_phrases();
    phrases.extend(given);
    Ok(phrases)
}

/// Bounds on what a clinic may set, for the rules and for what one clinic row stores.
const MAX_KEYWORD_CHARS: usize = 50;
const MAX_PHRASE_CHARS: usize = 100;
const MAX_LABEL_CHARS: usize = 40;
const MAX_LIST_ITEMS: usize = 200;
/// The stop word Israeli law (Communications Law §30A) requires to work.
const REQUIRED_STOP_WORD: &str = "הסר";

impl InboundSettings {
    /// Every broken rule, each named by its field path.
    pub fn check(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let mut in_range = |field: &str, value: u32, low: u32, high: u32, unit: &str| {
            if !(low..=high).contains(&value) {
                let rule = format!("must be a whole number of {unit} from {low} to {high}");
                errors.push(FieldError::new(field, rule));
            }
        };
        in_range(
            "auto_reply_every_hours",
            self.auto_reply_every_hours,
            1,
            168,
            "hours",
        );
        let quiet = self.staff_answered_quiet_minutes;
        in_range("staff_answered_quiet_minutes", quiet, 0, 1440, "minutes");
        let target = self.response_target_minutes;
        in_range("response_target_minutes", target, 1, 10_080, "minutes");
        if !is_dialable(&self.emergency_number) {
            errors.push(FieldError::new("emergency_number", DIALABLE_RULE));
        }
        errors.extend(self.keywords.check());
        errors.extend(check_phrases(&self.urgent_phrases));
        errors.extend(check_labels(&self.labels));
        errors
    }
}

impl Keywords {
    fn lists(&self) -> [(&'static str, &Vec<String>); 4] {
        [
            ("opt_out", &self.opt_out),
            ("opt_in", &self.opt_in),
            ("confirm", &self.confirm),
            ("cancel", &self.cancel),
        ]
    }

    /// Each word readable, each once, and in one list only: a word that both stops and confirms
    /// would do whichever comes first.
    fn check(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let mut seen: BTreeMap<String, &str> = BTreeMap::new();
        for (list, words) in self.lists() {
            let path = format!("keywords.{list}");
            if words.len() > MAX_LIST_ITEMS {
                errors.push(too_many(&path));
            }
            for (i, word) in words.iter().enumerate() {
                let field = format!("{path}[{i}]");
                if let Some(rule) = word_rule(word, MAX_KEYWORD_CHARS) {
                    errors.push(FieldError::new(field, rule));
                    continue;
                }
                match seen.insert(normalise(word), list) {
                    Some(other) if other == list => {
                        errors.push(FieldError::new(field, "is listed twice"));
                    }
                    Some(other) => errors.push(FieldError::new(
                        field,
                        format!("is also in keywords.{other}: a word may mean one thing"),
                    )),
                    None => {}
                }
            }
        }
        if !self
            .opt_out
            .iter()
            .any(|w| normalise(w) == REQUIRED_STOP_WORD)
        {
            errors.push(FieldError::new(
                "keywords.opt_out",
                "must include הסר: Israeli law (Communications Law §30A) requires it to stop messages",
            ));
        }
        errors
    }
}

/// Why a keyword or phrase cannot be matched; none when it can.
fn word_rule(word: &str, max_chars: usize) -> Option<String> {
    if normalise(word).is_empty() {
        Some("must have at least one letter or digit".to_owned())
    } else if word.chars().count() > max_chars {
        Some(format!("must be at most {max_chars} characters"))
    } else {
        None
    }
}

fn too_many(field: &str) -> FieldError {
    FieldError::new(field, format!("must list at most {MAX_LIST_ITEMS} items"))
}

fn check_phrases(phrases: &BTreeMap<String, Vec<String>>) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if phrases.len() > MAX_LIST_ITEMS {
        errors.push(too_many("urgent_phrases"));
    }
    for (language, list) in phrases {
        let path = format!("urgent_phrases.{language}");
        if Language::parse(language).is_none() {
            errors.push(FieldError::new(&path, Language::RULE));
        }
        if list.len() > MAX_LIST_ITEMS {
            errors.push(too_many(&path));
        }
        for (i, phrase) in list.iter().enumerate() {
            if let Some(rule) = word_rule(phrase, MAX_PHRASE_CHARS) {
                errors.push(FieldError::new(format!("{path}[{i}]"), rule));
            }
        }
    }
    errors
}

fn check_labels(labels: &[String]) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if labels.len() > MAX_LIST_ITEMS {
        errors.push(too_many("labels"));
    }
    let mut seen = BTreeSet::new();
    for (i, label) in labels.iter().enumerate() {
        let field = format!("labels[{i}]");
        if !is_label(label) {
            errors.push(FieldError::new(
                field,
                format!(
                    "must be 1 to {MAX_LABEL_CHARS} lowercase letters, digits and _, starting with a letter"
                ),
            ));
        } else if BUILT_IN_LABELS.contains(&label.as_str()) {
            errors.push(FieldError::new(field, "is a built-in label, always there"));
        } else if !seen.insert(label) {
            errors.push(FieldError::new(field, "is listed twice"));
        }
    }
    errors
}

fn is_label(label: &str) -> bool {
    (1..=MAX_LABEL_CHARS).contains(&label.len())
        && label.starts_with(|c: char| c.is_ascii_lowercase())
        && label
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(settings: &InboundSettings) -> Vec<String> {
        settings.check().into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn the_defaults_follow_their_own_rules() {
        assert_eq!(InboundSettings::default().check(), []);
    }

    #[test]
    fn a_document_without_lists_keeps_the_default_lists() {
        let settings: InboundSettings =
            serde_json::from_str(r#"{"emergency_number": "1221"}"#).expect("json");

        assert_eq!(settings.emergency_number, "1221");
        assert_eq!(settings.keywords, Keywords::default());
        assert_eq!(settings.auto_reply_every_hours, 12);
    }

    #[test]
    fn urgent_phrases_given_for_one_language_leave_the_others() {
        let settings: InboundSettings =
            serde_json::from_str(r#"{"urgent_phrases": {"he": ["דחוף"]}}"#).expect("json");

        assert_eq!(settings.urgent_phrases["he"], ["דחוף"]);
        assert_eq!(
            settings.urgent_phrases["ar"],
            InboundSettings::default().urgent_phrases["ar"]
        );
    }

    #[test]
    fn every_broken_rule_is_named_by_its_field() {
        let mut settings = InboundSettings {
            auto_reply_every_hours: 0,
            staff_answered_quiet_minutes: 2000,
            response_target_minutes: 0,
            emergency_number: "call 101".to_owned(),
            labels: vec![
                "Billing".to_owned(),
                "urgent".to_owned(),
                "billing".to_owned(),
                "billing".to_owned(),
            ],
            ..InboundSettings::default()
        };
        settings.keywords.opt_out = vec!["stop".to_owned(), "!!".to_owned(), "x".repeat(51)];
        settings.keywords.confirm.push("STOP".to_owned());
        settings.keywords.cancel = vec!["no".to_owned(), "No!".to_owned()];
        settings
            .urgent_phrases
            .insert("hebrew".to_owned(), vec![String::new()]);

        assert_eq!(
            fields(&settings),
            [
                "auto_reply_every_hours",
                "staff_answered_quiet_minutes",
                "response_target_minutes",
                "emergency_number",
                "keywords.opt_out[1]",
                "keywords.opt_out[2]",
                &format!("keywords.confirm[{}]", settings.keywords.confirm.len() - 1),
                "keywords.cancel[1]",
                "keywords.opt_out",
                "urgent_phrases.hebrew",
                "urgent_phrases.hebrew[0]",
                "labels[0]",
                "labels[1]",
                "labels[3]",
            ]
        );
    }
}
