//! A `/fhir/r4` request's query read into what the store searches: `patient`, `based-on`,
//! `_lastUpdated`, `_count` and our opaque `_cursor`; `_format` is checked by [`negotiate`].
//! A parameter the server does not know is refused, unless the client asked for lenient
//! handling (`Prefer: handling=lenient`), which ignores it and leaves it out of the links.

use axum::http::{HeaderMap, StatusCode, header};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jiff::Timestamp;
use jiff::tz::TimeZone;

use super::super::problem::{ApiError, FieldError};
use super::dates::last_updated;
use crate::domain::NotificationId;
use crate::fhir::records::{Identifiers, RecordCursor, RecordSearch};
use crate::fhir::{self, COMMUNICATION_PARAMS, COMMUNICATION_REQUEST_PARAMS};

/// Results on a page unless `_count` says otherwise, and the most it may ask for.
const DEFAULT_COUNT: u32 = 50;
const MAX_COUNT: u32 = 200;

/// The resource type searched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Target {
    Communication,
    CommunicationRequest,
}

impl Target {
    pub(super) fn name(self) -> &'static str {
        match self {
            Self::Communication => "Communication",
            Self::CommunicationRequest => "CommunicationRequest",
        }
    }

    fn params(self) -> &'static [(&'static str, &'static str, &'static str)] {
        match self {
            Self::Communication => COMMUNICATION_PARAMS,
            Self::CommunicationRequest => COMMUNICATION_REQUEST_PARAMS,
        }
    }
}

/// A search as read: what the store reads, and the parameters it applied (for the links).
#[derive(Debug)]
pub(super) struct Search {
    pub(super) target: Target,
    pub(super) records: RecordSearch,
    applied: Vec<(String, String)>,
}

/// The request's query as (name, value) pairs, `+` read as a space as forms write it.
pub(super) fn pairs(query: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .collect()
}

/// Whether the client asked for unknown parameters to be ignored.
pub(super) fn is_lenient(headers: &HeaderMap) -> bool {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split([',', ';']))
        .any(|p| p.trim().eq_ignore_ascii_case("handling=lenient"))
}

/// Refuses (406) a request for anything but JSON, by `_format` (which wins) or `Accept`.
pub(super) fn negotiate(query: &[(String, String)], headers: &HeaderMap) -> Result<(), ApiError> {
    let json = |media: &str| {
        let media = media
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        matches!(
            media.as_str(),
            "json" | "application/json" | "application/fhir+json" | "application/*" | "*/*"
        )
    };
    if let Some((_, format)) = query.iter().find(|(name, _)| name == "_format") {
        return if json(format) {
            Ok(())
        } else {
            Err(not_acceptable())
        };
    }
    let accepted: Vec<&str> = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter(|m| !m.trim().is_empty())
        .collect();
    if accepted.is_empty() || accepted.iter().any(|m| json(m)) {
        Ok(())
    } else {
        Err(not_acceptable())
    }
}

fn not_acceptable() -> ApiError {
    ApiError::Rejected {
        status: StatusCode::NOT_ACCEPTABLE,
        detail: "this server answers FHIR JSON only (application/fhir+json, _format=json)"
            .to_owned(),
    }
}

/// Refuses what a read (`GET /fhir/r4/<type>/<id>`) does not take: anything but `_format`.
pub(super) fn check_read_params(query: &[(String, String)], lenient: bool) -> Result<(), ApiError> {
    match query.iter().find(|(name, _)| name != "_format") {
        Some((name, _)) if !lenient => Err(malformed(name, "is not a parameter of a read")),
        _ => Ok(()),
    }
}

pub(super) fn malformed(field: &str, rule: impl Into<String>) -> ApiError {
    ApiError::Malformed(FieldError::new(field, rule))
}

impl Search {
    /// Reads `query` as a search of `target` by a caller of the clinic whose systems are `ids`
    /// and whose time zone reads dates without a zone.
    pub(super) fn parse(
        target: Target,
        query: &[(String, String)],
        lenient: bool,
        ids: &Identifiers,
        zone: &TimeZone,
    ) -> Result<Self, ApiError> {
        let mut records = RecordSearch {
            limit: DEFAULT_COUNT,
            ..RecordSearch::default()
        };
        let mut applied = Vec::new();
        for (name, value) in query {
            let takes = |param: &str| target.params().iter().any(|(p, _, _)| *p == param);
            match name.as_str() {
                "_format" => {}
                "_count" => records.limit = count(value)?,
                "_cursor" => records.after = Some(cursor(value)?),
                "patient" | "patient:identifier" => {
                    records.patients.push(patients(name, value, ids)?);
                    applied.push((name.clone(), value.clone()));
                }
                "based-on" if takes("based-on") => {
                    records.based_on.push(based_on(value)?);
                    applied.push((name.clone(), value.clone()));
                }
                "_lastUpdated" => {
                    records.updated.extend(last_updated(value, zone)?);
                    applied.push((name.clone(), value.clone()));
                }
                _ if lenient => {}
                _ => {
                    let names: Vec<&str> = target.params().iter().map(|(p, _, _)| *p).collect();
                    return Err(malformed(
                        name,
                        format!(
                            "is not a search parameter of {} here; these are: {}, _count, _format",
                            target.name(),
                            names.join(", ")
                        ),
                    ));
                }
            }
        }
        Ok(Self {
            target,
            records,
            applied,
        })
    }

    /// The URL of this search's page after `cursor` (the first without), under `base`.
    pub(super) fn link(&self, base: &str, cursor: Option<&RecordCursor>) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (name, value) in &self.applied {
            query.append_pair(name, value);
        }
        query.append_pair("_count", &self.records.limit.to_string());
        if let Some(cursor) = cursor {
            query.append_pair("_cursor", &encode_cursor(cursor));
        }
        format!("{base}/{}?{}", self.target.name(), query.finish())
    }
}

fn count(value: &str) -> Result<u32, ApiError> {
    match value.parse::<u32>() {
        Ok(0) | Err(_) => Err(malformed(
            "_count",
            format!("must be a whole number from 1 (at most {MAX_COUNT} are given)"),
        )),
        Ok(n) => Ok(n.min(MAX_COUNT)),
    }
}

/// A cursor as the `next` link carries it: the last record's change (ms) and id, opaque to
/// clients.
fn encode_cursor(cursor: &RecordCursor) -> String {
    URL_SAFE_NO_PAD.encode(format!(
        "{}.{}",
        cursor.last_updated.as_millisecond(),
        cursor.id
    ))
}

fn cursor(value: &str) -> Result<RecordCursor, ApiError> {
    let decoded = URL_SAFE_NO_PAD
        .decode(value)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok());
    decoded
        .as_deref()
        .and_then(|text| text.split_once('.'))
        .and_then(|(ms, id)| {
            let at = Timestamp::from_millisecond(ms.parse().ok()?).ok()?;
            let sane = !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            sane.then(|| RecordCursor {
                last_updated: at,
                id: id.to_owned(),
            })
        })
        .ok_or_else(|| malformed("_cursor", "is not a cursor of this server's `next` links"))
}

/// The values of one `patient` parameter, any of which may match: external ids, or
/// `system|value` (a system other than the clinic's patient system matches nobody). `patient`
/// is a reference parameter, so `Patient/<id>` (how FHIR clients write one) names the id too.
fn patients(name: &str, value: &str, ids: &Identifiers) -> Result<Vec<String>, ApiError> {
    let mut found = Vec::new();
    for one in split_choices(value) {
        let id = match one.split_once('|') {
            Some((system, id)) if system == ids.patient() => id.to_owned(),
            Some(_) => continue,
            None if name == "patient" => one
                .strip_prefix("Patient/")
                .map(str::to_owned)
                .unwrap_or(one),
            None => one,
        };
        if id.is_empty() {
            return Err(malformed(
                name,
                "must name a patient: their id, or system|id",
            ));
        }
        found.push(id);
    }
    Ok(found)
}

/// The notifications one `based-on` names: `CommunicationRequest/<id>` or the id alone.
fn based_on(value: &str) -> Result<Vec<NotificationId>, ApiError> {
    let choices = split_choices(value);
    if choices.iter().any(String::is_empty) {
        return Err(malformed(
            "based-on",
            "must name a CommunicationRequest: CommunicationRequest/<id>",
        ));
    }
    Ok(choices
        .iter()
        .filter_map(|one| {
            let id = one.strip_prefix("CommunicationRequest/").unwrap_or(one);
            NotificationId::parse(&fhir::our_id(id))
        })
        .collect())
}

/// A value's comma-separated choices, `\,` being a comma within one.
fn split_choices(value: &str) -> Vec<String> {
    let mut choices = vec![String::new()];
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(escaped) => choices.last_mut().into_iter().for_each(|s| s.push(escaped)),
                None => choices.last_mut().into_iter().for_each(|s| s.push('\\')),
            },
            ',' => choices.push(String::new()),
            other => choices.last_mut().into_iter().for_each(|s| s.push(other)),
        }
    }
    choices
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_comes_back_as_it_went_out() {
        let cursor = RecordCursor {
            last_updated: "2026-12-01T09:00:00.123Z".parse().expect("instant"),
            id: "att_0193a1b2c3d47e8f9a0b1c2d3e4f5a6b".to_owned(),
        };

        assert_eq!(cursor_of(&encode_cursor(&cursor)), Some(cursor));
        assert_eq!(cursor_of("-1.5e"), None);
        assert_eq!(cursor_of(&URL_SAFE_NO_PAD.encode("12.x'y")), None);
    }

    fn cursor_of(value: &str) -> Option<RecordCursor> {
        cursor(value).ok()
    }

    #[test]
    fn patients_are_any_of_the_values_and_only_under_the_clinics_system() {
        let ids = Identifiers::new("hadar", None, None);

        let found = patients(
            "patient",
            r"p-1,urn:medrelay:clinic:hadar/patient|p-2,x|p-3,a\,b",
            &ids,
        )
        .expect("patients");

        assert_eq!(found, ["p-1", "p-2", "a,b"]);
        assert!(patients("patient", "", &ids).is_err());
        assert!(patients("patient", "Patient/", &ids).is_err());
    }

    #[test]
    fn a_patient_reference_names_the_patient_as_their_id_does() {
        let ids = Identifiers::new("hadar", None, None);

        let found = patients("patient", "Patient/p-1,p-2", &ids).expect("patients");

        assert_eq!(found, ["p-1", "p-2"]);
        assert_eq!(
            patients("patient:identifier", "Patient/p-1", &ids).expect("patients"),
            ["Patient/p-1"]
        );
    }

    #[test]
    fn json_is_accepted_by_accept_or_format_and_xml_refused() {
        let accept = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::ACCEPT, value.parse().expect("header"));
            headers
        };
        let format = |value: &str| vec![("_format".to_owned(), value.to_owned())];

        assert!(negotiate(&[], &HeaderMap::new()).is_ok());
        assert!(negotiate(&[], &accept("application/fhir+json;q=0.9, */*")).is_ok());
        assert!(negotiate(&[], &accept("application/fhir+xml")).is_err());
        assert!(negotiate(&format("xml"), &accept("*/*")).is_err());
        assert!(negotiate(&format("json"), &accept("application/xml")).is_ok());
    }
}
