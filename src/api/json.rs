//! Request bodies: JSON only, size-capped, unknown fields refused, and every parse failure named
//! by its field.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use jiff::Timestamp;
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer};

use super::problem::{ApiError, FieldError};

/// A JSON body, with its raw bytes kept for idempotency fingerprints.
#[derive(Debug)]
pub struct ApiJson<T> {
    pub value: T,
    /// The body as a canonical JSON value (keys sorted), for fingerprints.
    pub canonical: serde_json::Value,
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        parse(&body_of_type(req, state, &["application/json"]).await?)
    }
}

/// A JSON merge patch (RFC 7396): `application/merge-patch+json`, or plain JSON as well.
#[derive(Debug)]
pub struct MergePatch(pub serde_json::Value);

impl<S: Send + Sync> FromRequest<S> for MergePatch {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let types = ["application/merge-patch+json", "application/json"];
        let bytes = body_of_type(req, state, &types).await?;
        parse::<serde_json::Value>(&bytes).map(|json| Self(json.value))
    }
}

impl MergePatch {
    /// Applies the patch to `target` as RFC 7396 says: members given replace, `null` removes,
    /// objects merge member by member, anything else replaces the whole.
    pub fn apply_to(&self, target: &mut serde_json::Value) {
        merge(target, &self.0);
    }
}

fn merge(target: &mut serde_json::Value, patch: &serde_json::Value) {
    let serde_json::Value::Object(changes) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = serde_json::Value::Object(serde_json::Map::new());
    }
    if let serde_json::Value::Object(fields) = target {
        for (name, change) in changes {
            if change.is_null() {
                fields.remove(name);
            } else {
                merge(
                    fields
                        .entry(name.clone())
                        .or_insert(serde_json::Value::Null),
                    change,
                );
            }
        }
    }
}

/// The body, when its `Content-Type` is one of `types`.
async fn body_of_type<S: Send + Sync>(
    req: Request,
    state: &S,
    types: &[&str],
) -> Result<Bytes, ApiError> {
    let accepted = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| types.iter().any(|t| media.trim().eq_ignore_ascii_case(t)));
    if !accepted {
        return Err(ApiError::UnsupportedMediaType);
    }
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge
        } else if body_timed_out(&rejection) {
            ApiError::RequestTimeout
        } else {
            ApiError::Malformed(FieldError::new("body", rejection.body_text()))
        }
    })
}

/// Whether the body stopped arriving for `http.body_timeout_ms`.
fn body_timed_out(error: &(dyn std::error::Error + 'static)) -> bool {
    std::iter::successors(Some(error), |e| e.source())
        .any(|e| e.is::<tower_http::timeout::TimeoutError>())
}

pub(crate) fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<ApiJson<T>, ApiError> {
    let canonical: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
        ApiError::Malformed(FieldError::new("body", format!("must be valid JSON ({e})")))
    })?;
    if let Some(field) = control_character_at(&canonical, "") {
        return Err(ApiError::invalid(
            field,
            "must not contain control characters (other than tab and line breaks)",
        ));
    }
    let value = serde_path_to_error::deserialize(&canonical).map_err(|error| {
        let path = error.path().to_string();
        let message = error.inner().to_string();
        // serde_path_to_error's path already ends at an unknown field, but stops at the parent
        // of a missing one, whose name is only in the message.
        let field = match missing_field(&message) {
            Some(name) if path == "." => name.to_owned(),
            Some(name) => format!("{path}.{name}"),
            None if path == "." => "body".to_owned(),
            None => path,
        };
        if message.starts_with("unknown field") {
            ApiError::invalid(field, "is not a known field")
        } else if message.starts_with("missing field") {
            ApiError::invalid(field, "is required")
        } else if let Some(names) = expected_variants(&message) {
            ApiError::invalid(field, format!("must be one of {names}"))
        } else {
            ApiError::invalid(field, message)
        }
    })?;
    Ok(ApiJson { value, canonical })
}

/// The path of the first string holding a control character. Such text is never a patient
/// message, and PostgreSQL refuses NUL outright.
fn control_character_at(value: &serde_json::Value, path: &str) -> Option<String> {
    let join = |key: &str| {
        if path.is_empty() {
            key.to_owned()
        } else {
            format!("{path}.{key}")
        }
    };
    match value {
        serde_json::Value::String(s) => s
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
            .then(|| {
                if path.is_empty() {
                    "body".to_owned()
                } else {
                    path.to_owned()
                }
            }),
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| control_character_at(item, &format!("{path}[{i}]"))),
        serde_json::Value::Object(fields) => fields.iter().find_map(|(key, v)| {
            control_character_at(v, &join(key))
                .or_else(|| key.chars().any(char::is_control).then(|| join(key)))
        }),
        _ => None,
    }
}

/// The names serde lists after an unknown enum variant ("unknown variant `x`, expected one of
/// `a`, `b`"), as `a, b`.
fn expected_variants(message: &str) -> Option<String> {
    let (_, expected) = message
        .strip_prefix("unknown variant")?
        .split_once("expected ")?;
    let names = expected.strip_prefix("one of ").unwrap_or(expected);
    Some(names.replace('`', "").replace(" or ", ", "))
}

pub(super) const TIMESTAMP_RULE: &str =
    "must be an RFC 3339 timestamp with an offset, e.g. 2026-12-01T09:00:00+02:00";

/// A request's instant, when given: RFC 3339 with an offset, refused with [`TIMESTAMP_RULE`]
/// otherwise.
pub(super) fn optional_timestamp<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Timestamp>, D::Error> {
    Option::<String>::deserialize(d)?
        .map(|text| text.parse().map_err(|_| D::Error::custom(TIMESTAMP_RULE)))
        .transpose()
}

fn missing_field(message: &str) -> Option<&str> {
    if !message.starts_with("missing field") {
        return None;
    }
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(&message[start..start + len])
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Sample {
        name: String,
        inner: Option<Inner>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        count: u32,
    }

    fn field_error(body: &str) -> Vec<FieldError> {
        match parse::<Sample>(body.as_bytes()) {
            Err(ApiError::Invalid(errors)) => errors,
            Err(ApiError::Malformed(error)) => vec![error],
            other => panic!("expected an error, got {other:?}"),
        }
    }

    #[test]
    fn a_merge_patch_replaces_given_members_removes_nulls_and_keeps_the_rest() {
        let mut target = serde_json::json!({
            "name": "Dana", "phone": "+972541234567", "email": "dana@example.org",
            "quiet_hours": {"start": "22:00", "end": "07:00"}
        });
        MergePatch(serde_json::json!({
            "channels": ["sms"], "email": null, "quiet_hours": {"end": "08:00"}
        }))
        .apply_to(&mut target);
        assert_eq!(
            target,
            serde_json::json!({
                "name": "Dana", "phone": "+972541234567", "channels": ["sms"],
                "quiet_hours": {"start": "22:00", "end": "08:00"}
            })
        );
    }

    #[test]
    fn unknown_missing_and_mistyped_fields_are_named() {
        assert_eq!(
            field_error(r#"{"name":"a","colour":1}"#),
            [FieldError::new("colour", "is not a known field")]
        );
        assert_eq!(
            field_error(r#"{}"#),
            [FieldError::new("name", "is required")]
        );
        assert_eq!(
            field_error(r#"{"name":"a","inner":{}}"#),
            [FieldError::new("inner.count", "is required")]
        );
        let mistyped = field_error(r#"{"name":"a","inner":{"count":"x"}}"#);
        assert_eq!(mistyped[0].field, "inner.count");
        assert_eq!(field_error("{nope")[0].field, "body");
        let nul = field_error(r#"{"name":"a","inner":{"count":1},"x":["ok","b\u0000"]}"#);
        assert_eq!(nul[0].field, "x[1]");
        assert!(parse::<Sample>(r#"{"name":"two\nlines\t"}"#.as_bytes()).is_ok());
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Typed {
        priority: Option<crate::domain::Priority>,
        channel: Option<medrelay_channels::ChannelKind>,
        #[serde(default, deserialize_with = "optional_timestamp")]
        send_at: Option<Timestamp>,
    }

    fn typed_error(body: &str) -> FieldError {
        match parse::<Typed>(body.as_bytes()) {
            Err(ApiError::Invalid(mut errors)) => errors.remove(0),
            other => panic!("expected a field error, got {other:?}"),
        }
    }

    #[test]
    fn typed_fields_name_their_values_and_rules() {
        assert_eq!(
            typed_error(r#"{"priority":"asap"}"#),
            FieldError::new("priority", "must be one of normal, urgent")
        );
        assert_eq!(
            typed_error(r#"{"channel":"fax"}"#),
            FieldError::new("channel", "must be one of whatsapp, sms, email, voice")
        );
        assert_eq!(
            typed_error(r#"{"send_at":"tomorrow"}"#),
            FieldError::new("send_at", TIMESTAMP_RULE)
        );
        let parsed = parse::<Typed>(br#"{"send_at":"2026-12-01T09:00:00+02:00","priority":null}"#);
        assert!(parsed.is_ok_and(|p| p.value.send_at.is_some() && p.value.priority.is_none()));
    }
}
