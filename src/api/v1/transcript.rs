//! `GET /v1/patients/{external_id}/transcript`: every message to and from one patient over a
//! period, as a page (HTML, the default) or a PDF, for the chart. It carries what the patient
//! was sent and wrote, so booking keys get 403, as for conversations.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::api::AppState;
use crate::api::auth::Caller;
use crate::api::problem::{ApiError, FieldError};
use crate::domain::{Clinic, Sensitivity};
use crate::policy::stats::parse_bound;
use crate::store::{ApiKeyRole, TranscriptPeriod, TranscriptRecords};
use crate::transcript::{CONTENT_SECURITY_POLICY, Format, Transcript, TranscriptContext};

/// The most messages of each kind (sent, received, callbacks) one transcript holds: past that,
/// the period must be shorter, rather than the transcript silently incomplete.
pub(crate) const MOST_ITEMS: u32 = 5000;

const FORMAT_RULE: &str = "must be html or pdf";
const NOT_ACCEPTABLE: &str =
    "the transcript comes as text/html or application/pdf (Accept, or ?format=html|pdf)";

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct TranscriptQuery {
    /// Start of the period: a date (`YYYY-MM-DD`, from the start of that day in the clinic's
    /// zone) or an RFC 3339 instant; absent: from the first message.
    #[param(example = "2026-11-01")]
    from: Option<String>,
    /// End of the period, not included: a date or an instant; absent: now.
    #[param(example = "2026-12-01")]
    to: Option<String>,
    /// `html` or `pdf`; wins over `Accept`.
    #[param(value_type = Option<String>, pattern = "^(html|pdf)$")]
    format: Option<String>,
}

#[utoipa::path(
    get,
    path = "/v1/patients/{external_id}/transcript",
    tag = "patients",
    description = "Every message to and from the patient in the period, oldest first: each \
        hand-over to a provider with its channel, time in the clinic's zone, status, receipts, who \
        sent it and the text exactly as the patient got it (for a sensitive topic on a chat channel, \
        the content-free notice, and a note of what was withheld); what the patient sent (text, \
        media as a line naming its type); the staff callbacks opened for them. Labels are in the \
        clinic's language (Hebrew and Arabic read right to left); each message keeps its own.",
    params(
        ("external_id" = String, Path, description = "The patient's id in the booking system"),
        TranscriptQuery,
        ("Accept" = Option<String>, Header,
            description = "`text/html` (the default) or `application/pdf`; `?format=` wins"),
    ),
    responses(
        (status = 200, description = "The transcript: a self-contained HTML page or an A4 PDF",
            content(
                (String = "text/html"),
                (Vec<u8> = "application/pdf"),
            )),
        (status = 403, description = "Needs a staff or admin key"),
        (status = 404, description = "No such patient"),
        (status = 406, description = "Neither HTML nor PDF is acceptable to the client"),
        (status = 422, description = "A bad `from`, `to` or `format`, or a period with more \
            messages than one transcript holds"),
    )
)]
pub(super) async fn get_transcript(
    State(state): State<AppState>,
    caller: Caller,
    Path(external_id): Path<String>,
    headers: HeaderMap,
    query: Result<Query<TranscriptQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    caller.require(ApiKeyRole::Staff)?;
    let Query(query) = query.map_err(|e| ApiError::invalid("query", e.body_text()))?;
    let format = format_asked(query.format.as_deref(), &headers)?;
    let clinic = &caller.0.clinic;
    let generated_at = state.clock.now();
    let period = period(&query, clinic, generated_at)?;
    let records = state
        .store
        .transcript(&clinic.id, &external_id, period)
        .await
        .map_err(ApiError::not_found("patient"))?;
    if records.truncated {
        return Err(ApiError::invalid(
            "from",
            format!(
                "the period holds more than {MOST_ITEMS} messages of one kind: ask for a shorter one"
            ),
        ));
    }
    let body = made(&state, clinic, records, period, generated_at, format).await?;
    Ok(answer(format, body, generated_at, clinic))
}

/// The transcript of `records` as a file of `format`, topics as sensitive as the clinic has
/// them now.
pub(crate) async fn made(
    state: &AppState,
    clinic: &Clinic,
    records: TranscriptRecords,
    period: TranscriptPeriod,
    generated_at: Timestamp,
    format: Format,
) -> Result<Vec<u8>, ApiError> {
    let settings = state.clinic_settings.get(&state.store, &clinic.id).await?;
    // A topic the clinic no longer has is taken as the most private.
    let sensitivity = |topic: &str| {
        settings
            .sensitivity_of(topic)
            .unwrap_or(Sensitivity::Restricted)
    };
    let transcript = Transcript::new(
        records,
        &TranscriptContext {
            clinic,
            from: period.from,
            to: period.to,
            generated_at,
            sensitivity: &sensitivity,
        },
    );
    // Shaping and subsetting a long PDF is CPU work: off the threads that serve requests.
    tokio::task::spawn_blocking(move || transcript.render(format))
        .await
        .map_err(|e| ApiError::Internal(Box::new(e)))?
        .map_err(|e| ApiError::Internal(Box::new(e)))
}

/// The period asked for, `to` defaulting to now.
fn period(
    query: &TranscriptQuery,
    clinic: &Clinic,
    now: Timestamp,
) -> Result<TranscriptPeriod, ApiError> {
    let zone = clinic.timezone.zone();
    let bound = |field, text: &Option<String>| {
        text.as_deref()
            .map(|text| parse_bound(field, Some(text), &zone))
            .transpose()
            .map_err(|e| FieldError::new(e.field, e.rule))
    };
    let (from, to) = match (bound("from", &query.from), bound("to", &query.to)) {
        (Ok(from), Ok(to)) => (from, to.unwrap_or(now)),
        (from, to) => {
            return Err(ApiError::Invalid(
                [from.err(), to.err()].into_iter().flatten().collect(),
            ));
        }
    };
    if from.is_some_and(|from| from >= to) {
        return Err(ApiError::invalid("to", "must be after `from`"));
    }
    Ok(TranscriptPeriod {
        from,
        to,
        limit: MOST_ITEMS,
    })
}

/// The format asked for: `?format=`, else the one `Accept` welcomes most (HTML when it welcomes
/// both alike, or says nothing).
fn format_asked(format: Option<&str>, headers: &HeaderMap) -> Result<Format, ApiError> {
    match format {
        Some("html") => return Ok(Format::Html),
        Some("pdf") => return Ok(Format::Pdf),
        Some(_) => return Err(ApiError::invalid("format", FORMAT_RULE)),
        None => {}
    }
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Ok(Format::Html);
    };
    let html = quality(accept, "text", "html");
    let pdf = quality(accept, "application", "pdf");
    match (html, pdf) {
        (h, p) if p > h => Ok(Format::Pdf),
        (h, _) if h > 0.0 => Ok(Format::Html),
        _ => Err(ApiError::NotAcceptable(NOT_ACCEPTABLE)),
    }
}

/// How welcome `kind/subtype` is to `accept` (RFC 9110 §12.5.1): the `q` of the most specific
/// range that matches it, 0 when none does.
fn quality(accept: &str, kind: &str, subtype: &str) -> f32 {
    accept
        .split(',')
        .filter_map(|range| {
            let mut parts = range.split(';').map(str::trim);
            let (k, s) = parts.next()?.split_once('/')?;
            let specificity = match (k, s) {
                _ if k.eq_ignore_ascii_case(kind) && s.eq_ignore_ascii_case(subtype) => 3,
                ("*", "*") => 1,
                _ if k.eq_ignore_ascii_case(kind) && s == "*" => 2,
                _ => return None,
            };
            let q = parts
                .filter_map(|p| p.split_once('='))
                .find(|(name, _)| name.trim().eq_ignore_ascii_case("q"))
                .map_or(Some(1.0), |(_, v)| v.trim().parse::<f32>().ok())?;
            Some((specificity, q.clamp(0.0, 1.0)))
        })
        .max_by_key(|(specificity, _)| *specificity)
        .map_or(0.0, |(_, q)| q)
}

/// The answer: never stored by a cache, a page that may load nothing, a PDF named by its day.
pub(crate) fn answer(
    format: Format,
    body: Vec<u8>,
    generated_at: Timestamp,
    clinic: &Clinic,
) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::VARY, HeaderValue::from_static("Accept"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    match format {
        Format::Html => {
            if let Ok(policy) = HeaderValue::from_str(&CONTENT_SECURITY_POLICY) {
                headers.insert(header::CONTENT_SECURITY_POLICY, policy);
            }
        }
        Format::Pdf => {
            let day = generated_at.to_zoned(clinic.timezone.zone()).date();
            if let Ok(disposition) =
                HeaderValue::from_str(&format!("inline; filename=\"transcript-{day}.pdf\""))
            {
                headers.insert(header::CONTENT_DISPOSITION, disposition);
            }
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asked(accept: Option<&str>) -> Result<Format, ApiError> {
        let mut headers = HeaderMap::new();
        if let Some(accept) = accept {
            headers.insert(
                header::ACCEPT,
                HeaderValue::from_str(accept).expect("header"),
            );
        }
        format_asked(None, &headers)
    }

    #[test]
    fn accept_picks_the_format_it_welcomes_most_and_html_by_default() {
        assert_eq!(asked(None).ok(), Some(Format::Html));
        assert_eq!(asked(Some("*/*")).ok(), Some(Format::Html));
        assert_eq!(asked(Some("application/pdf")).ok(), Some(Format::Pdf));
        assert_eq!(
            asked(Some("text/html;q=0.5, application/pdf")).ok(),
            Some(Format::Pdf)
        );
        assert_eq!(
            asked(Some("application/*, text/html;q=0.9")).ok(),
            Some(Format::Pdf)
        );
        assert_eq!(
            asked(Some("text/*;q=0.8, */*;q=0.1")).ok(),
            Some(Format::Html)
        );
    }

    #[test]
    fn accept_without_html_or_pdf_is_not_acceptable() {
        for accept in [
            "application/json",
            "text/html;q=0, application/xml",
            "image/*",
        ] {
            assert!(
                matches!(asked(Some(accept)), Err(ApiError::NotAcceptable(_))),
                "{accept}"
            );
        }
    }

    #[test]
    fn the_format_parameter_wins_over_accept() {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        assert_eq!(format_asked(Some("pdf"), &headers).ok(), Some(Format::Pdf));
        assert!(matches!(
            format_asked(Some("xml"), &headers),
            Err(ApiError::Invalid(_))
        ));
    }
}
