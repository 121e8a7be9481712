//! What a booking system attaches to a record to map it back to its own: its id for the record
//! (`reference`) and a small JSON object of its own fields (`metadata`). Both are set when the
//! record is created, never change, and come back on every read of it and in every webhook
//! about it.

use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::FieldError;

/// The booking system's id for a record: 1 to 128 printable characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, ToSchema)]
#[serde(transparent)]
#[schema(value_type = String, min_length = 1, max_length = 128, example = "booking-48213")]
pub struct Reference(String);

impl Reference {
    pub const RULE: &'static str = "must be 1 to 128 printable characters: no control characters, \
         line breaks or bidirectional controls";
    const MAX_CHARS: usize = 128;

    pub fn parse(s: &str) -> Option<Self> {
        let chars = s.chars().count();
        ((1..=Self::MAX_CHARS).contains(&chars) && is_printable(s)).then(|| Self(s.to_owned()))
    }

    pub fn from_stored(s: String) -> Self {
        Self(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// No control character (C0, DEL, C1) and nothing that breaks or reorders a line.
fn is_printable(s: &str) -> bool {
    !s.chars().any(char::is_control) && super::is_one_line(s)
}

/// The booking system's own fields for a record: a JSON object of at most 16 keys (1 to 40
/// printable characters each) whose values are strings of at most 500 characters, numbers,
/// booleans or null; at most 2 KiB as compact JSON. Empty when none was given.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
#[serde(transparent)]
#[schema(
    value_type = Object,
    example = json!({"booking_id": "B-48213", "room": 4, "first_visit": true})
)]
pub struct Metadata(Map<String, Value>);

impl Metadata {
    pub const MAX_KEYS: usize = 16;
    pub const MAX_KEY_CHARS: usize = 40;
    pub const MAX_STRING_CHARS: usize = 500;
    pub const MAX_BYTES: usize = 2048;

    /// `value` as metadata, or every rule it breaks, each naming `<field>` or `<field>.<key>`.
    pub fn parse(field: &str, value: Value) -> Result<Self, Vec<FieldError>> {
        let Value::Object(map) = value else {
            return Err(vec![FieldError::new(
                field,
                "must be a JSON object of string keys",
            )]);
        };
        let mut errors: Vec<FieldError> = map
            .iter()
            .filter_map(|(key, value)| entry_error(key, value).map(|rule| (key, rule)))
            .map(|(key, rule)| FieldError::new(format!("{field}.{}", key.escape_debug()), rule))
            .collect();
        if map.len() > Self::MAX_KEYS {
            errors.push(FieldError::new(field, "must have at most 16 keys"));
        }
        let metadata = Self(map);
        if errors.is_empty() && metadata.compact_json().len() > Self::MAX_BYTES {
            errors.push(FieldError::new(
                field,
                "must be at most 2048 bytes as compact JSON",
            ));
        }
        if errors.is_empty() {
            Ok(metadata)
        } else {
            Err(errors)
        }
    }

    /// As stored: `None` when empty, else the object as compact JSON.
    pub fn to_stored(&self) -> Option<String> {
        (!self.0.is_empty()).then(|| self.compact_json())
    }

    /// What [`Metadata::to_stored`] wrote. Text that is not a JSON object (never written by
    /// medrelay) reads as empty rather than failing the whole read.
    pub fn from_stored(stored: Option<&str>) -> Self {
        stored
            .and_then(|text| serde_json::from_str::<Map<String, Value>>(text).ok())
            .map(Self)
            .unwrap_or_default()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }

    fn compact_json(&self) -> String {
        Value::Object(self.0.clone()).to_string()
    }
}

/// The rule one key and its value break, if any.
fn entry_error(key: &str, value: &Value) -> Option<&'static str> {
    let key_chars = key.chars().count();
    if !(1..=Metadata::MAX_KEY_CHARS).contains(&key_chars) || !is_printable(key) {
        return Some("keys must be 1 to 40 printable characters");
    }
    match value {
        Value::String(text) if text.chars().count() > Metadata::MAX_STRING_CHARS => {
            Some("must be a string of at most 500 characters")
        }
        Value::Array(_) | Value::Object(_) => {
            Some("must be a string, number, boolean or null, not an array or object")
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn fields(result: Result<Metadata, Vec<FieldError>>) -> Vec<String> {
        result
            .expect_err("metadata should be refused")
            .into_iter()
            .map(|e| e.field)
            .collect()
    }

    #[test]
    fn a_reference_is_1_to_128_printable_characters() {
        for good in ["b-1", "הזמנה 17", &"x".repeat(128), "a/b:c#d"] {
            assert!(Reference::parse(good).is_some(), "{good:?}");
        }
        for bad in [
            "",
            &"x".repeat(129),
            "a\tb",
            "a\nb",
            "a\u{7f}",
            "a\u{202E}b",
        ] {
            assert!(Reference::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn metadata_takes_flat_objects_of_scalars() {
        let value = json!({"booking": "B-1", "room": 4, "paid": false, "note": null, "w": 1.5});

        let metadata = Metadata::parse("metadata", value.clone()).expect("valid metadata");

        assert_eq!(serde_json::to_value(&metadata).ok(), Some(value));
        let stored = metadata.to_stored();
        assert_eq!(Metadata::from_stored(stored.as_deref()), metadata);
    }

    #[test]
    fn each_broken_rule_names_its_key() {
        let value = json!({"list": [1], "nested": {"a": 1}, "long": "x".repeat(501), "ok": 1});

        let mut refused = fields(Metadata::parse("metadata", value));

        refused.sort();
        assert_eq!(
            refused,
            ["metadata.list", "metadata.long", "metadata.nested"]
        );
    }

    #[test]
    fn keys_count_length_and_total_size_are_bounded() {
        let many: Map<String, Value> = (0..17).map(|i| (format!("k{i}"), json!(i))).collect();
        let long_key = json!({"k".repeat(41): 1});
        let big: Map<String, Value> = (0..5)
            .map(|i| (format!("k{i}"), json!("x".repeat(450))))
            .collect();

        assert_eq!(
            fields(Metadata::parse("metadata", many.into())),
            ["metadata"]
        );
        assert_eq!(
            fields(Metadata::parse("metadata", long_key)),
            [format!("metadata.{}", "k".repeat(41))]
        );
        assert_eq!(
            fields(Metadata::parse("metadata", big.into())),
            ["metadata"]
        );
        assert_eq!(
            fields(Metadata::parse("metadata", json!([1]))),
            ["metadata"]
        );
    }

    #[test]
    fn empty_metadata_is_stored_as_nothing_and_read_back_empty() {
        let empty = Metadata::parse("metadata", json!({})).expect("empty is fine");

        assert_eq!(empty.to_stored(), None);
        assert!(Metadata::from_stored(None).is_empty());
    }
}
