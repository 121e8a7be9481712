//! `GET /v1/notifications`'s query: the filters, and which listing it asks for: the newest first
//! (paged with `cursor`), or the change feed (`updated_after`, continued with `next_cursor`).

use axum::extract::Query;
use axum::http::Uri;
use jiff::Timestamp;
use medrelay_channels::ChannelKind;
use serde::Deserialize;
use utoipa::IntoParams;

use super::patients::checked;
use crate::api::json::TIMESTAMP_RULE;
use crate::api::problem::{ApiError, FieldError};
use crate::domain::{NotificationId, NotificationStatus, OriginFamily, Reference};
use crate::store::{FeedCursor, FeedStart, NotificationFilter};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct ListQuery {
    /// The booking system's patient id.
    patient_id: Option<String>,
    /// One status, or several: comma-separated (`delivered,read`) or the parameter repeated.
    #[param(example = "delivered,read")]
    status: Option<String>,
    /// Only those from here: `api`, `auto` (medrelay answering a patient) or `staff_reply`.
    #[param(value_type = Option<OriginFamily>)]
    origin: Option<String>,
    topic: Option<String>,
    /// Our appointment id (`apt_…`) or the booking system's `appointment_id`.
    appointment_id: Option<String>,
    /// The channel it went on.
    #[param(value_type = Option<ChannelKind>)]
    channel: Option<String>,
    /// The booking system's `reference` given when the notification was created.
    reference: Option<String>,
    /// Created at or after this time (RFC 3339).
    created_after: Option<String>,
    /// Created before this time (RFC 3339).
    created_before: Option<String>,
    /// The change feed: notifications in the order they last changed, starting after a
    /// `next_cursor` of an earlier feed page, or (for a first page) with those changed at or after an
    /// RFC 3339 time.
    #[param(example = "2026-12-05T00:00:00Z")]
    updated_after: Option<String>,
    /// Items per page, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
    /// Newest-first list only: the `next_cursor` of the page before.
    cursor: Option<String>,
}

/// Which listing a query asks for.
#[derive(Debug)]
pub(super) enum Listing {
    /// Newest first, paged by creation.
    Newest(NotificationFilter),
    /// The change feed, from where it starts.
    Feed(NotificationFilter, FeedStart),
}

const STATUS_PARAM: &str = "status";
const FEED_START_RULE: &str = "must be the next_cursor of an earlier feed page, or an RFC 3339 \
     timestamp with an offset, e.g. 2026-12-01T09:00:00+02:00";

impl ListQuery {
    /// The query of `uri`, with a repeated `status` taken as one comma-separated list.
    pub(super) fn from_uri(uri: &Uri) -> Result<Self, ApiError> {
        let mut statuses = Vec::new();
        let mut rest = form_urlencoded::Serializer::new(String::new());
        for (name, value) in form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()) {
            if name == STATUS_PARAM {
                statuses.push(value.into_owned());
            } else {
                rest.append_pair(&name, &value);
            }
        }
        if !statuses.is_empty() {
            rest.append_pair(STATUS_PARAM, &statuses.join(","));
        }
        let merged: Uri = format!("/?{}", rest.finish())
            .parse()
            .map_err(|_| ApiError::invalid("query", "must be a valid query string"))?;
        Query::<Self>::try_from_uri(&merged)
            .map(|Query(query)| query)
            .map_err(|e| ApiError::invalid("query", e.body_text()))
    }

    /// The listing asked for, or every rule the query breaks.
    pub(super) fn listing(mut self) -> Result<Listing, ApiError> {
        let mut errors = Vec::new();
        let filter = self.filter(&mut errors);
        let start = checked(
            &mut errors,
            "updated_after",
            self.updated_after,
            feed_start,
            FEED_START_RULE,
        );
        if start.is_some() && self.cursor.is_some() {
            errors.push(FieldError::new(
                "cursor",
                "pages the newest-first list; the feed continues with updated_after=<next_cursor>",
            ));
        }
        let after = checked(
            &mut errors,
            "cursor",
            self.cursor,
            decode_cursor,
            "must be a next_cursor value from an earlier page",
        );
        if !errors.is_empty() {
            return Err(ApiError::Invalid(errors));
        }
        Ok(match start {
            Some(start) => Listing::Feed(filter, start),
            None => Listing::Newest(NotificationFilter { after, ..filter }),
        })
    }

    /// What every listing filters on; broken rules go to `errors`.
    fn filter(&mut self, errors: &mut Vec<FieldError>) -> NotificationFilter {
        let limit = self.limit.unwrap_or(50);
        if !(1..=500).contains(&limit) {
            errors.push(FieldError::new("limit", "must be between 1 and 500"));
        }
        let created_after = checked(
            errors,
            "created_after",
            self.created_after.take(),
            query_time,
            TIMESTAMP_RULE,
        );
        let created_before = checked(
            errors,
            "created_before",
            self.created_before.take(),
            query_time,
            TIMESTAMP_RULE,
        );
        NotificationFilter {
            patient_external_id: self.patient_id.take(),
            topic: self.topic.take(),
            appointment: self.appointment_id.take(),
            created_after,
            created_before,
            limit,
            ..self.named_values(errors)
        }
    }

    /// The filters that name a value: statuses, origin, channel and reference.
    fn named_values(&mut self, errors: &mut Vec<FieldError>) -> NotificationFilter {
        let statuses_rule = format!(
            "must be one or more of {}, comma-separated",
            NotificationStatus::names()
        );
        let origin_rule = format!("must be one of {}", OriginFamily::names());
        let statuses = checked(
            errors,
            "status",
            self.status.take(),
            statuses,
            &statuses_rule,
        );
        NotificationFilter {
            statuses: statuses.unwrap_or_default(),
            origin: checked(
                errors,
                "origin",
                self.origin.take(),
                OriginFamily::parse,
                &origin_rule,
            ),
            channel: checked(
                errors,
                "channel",
                self.channel.take(),
                channel,
                CHANNEL_RULE,
            ),
            reference: checked(
                errors,
                "reference",
                self.reference.take(),
                Reference::parse,
                Reference::RULE,
            ),
            ..NotificationFilter::default()
        }
    }
}

const CHANNEL_RULE: &str = "must be one of whatsapp, sms, email, voice, callback";

fn channel(name: &str) -> Option<ChannelKind> {
    name.parse().ok()
}

/// `delivered,read`: each a status, none twice.
fn statuses(list: &str) -> Option<Vec<NotificationStatus>> {
    let mut statuses: Vec<NotificationStatus> = list
        .split(',')
        .map(|s| NotificationStatus::parse(s.trim()))
        .collect::<Option<_>>()?;
    statuses.sort_by_key(|s| s.as_str());
    statuses.dedup();
    Some(statuses)
}

/// A feed cursor (`f<position>.<id>`, the id empty at the end of the feed) or a time.
fn feed_start(text: &str) -> Option<FeedStart> {
    match text.strip_prefix('f') {
        Some(cursor) => {
            let (position, id) = cursor.split_once('.')?;
            let id = match id {
                "" => None,
                id => Some(NotificationId::parse(id)?),
            };
            Some(FeedStart::After(FeedCursor {
                position: position.parse().ok()?,
                id,
            }))
        }
        None => query_time(text).map(FeedStart::ChangedSince),
    }
}

/// A time in a query: RFC 3339, where a `+` of the offset left unescaped reads as a space.
pub(super) fn query_time(text: &str) -> Option<Timestamp> {
    text.replace(' ', "+").parse().ok()
}

/// The `next_cursor` of a feed page: [`feed_start`] reads it back.
pub(super) fn encode_feed_cursor(cursor: &FeedCursor) -> String {
    let id = cursor.id.as_ref().map_or("", |id| id.as_str());
    format!("f{}.{id}", cursor.position)
}

/// The `next_cursor` of a newest-first page.
pub(crate) fn encode_cursor((at, id): &(i64, String)) -> String {
    format!("{at}.{id}")
}

pub(crate) fn decode_cursor(cursor: &str) -> Option<(i64, String)> {
    decode_cursor_of(cursor, |id| NotificationId::parse(id).is_some())
}

/// A newest-first page's `next_cursor` read back, when its id is one `is_id` takes.
pub(super) fn decode_cursor_of(
    cursor: &str,
    is_id: impl Fn(&str) -> bool,
) -> Option<(i64, String)> {
    let (at, id) = cursor.split_once('.')?;
    Some((at.parse().ok()?, id.to_owned())).filter(|_| is_id(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_feed_cursor_reads_back_as_itself_and_a_time_starts_a_feed() {
        let cursor = FeedCursor {
            position: 42,
            id: Some(NotificationId::generate()),
        };
        let end = FeedCursor {
            position: 7,
            id: None,
        };

        for cursor in [cursor, end] {
            let text = encode_feed_cursor(&cursor);
            assert_eq!(feed_start(&text), Some(FeedStart::After(cursor)));
        }
        assert!(matches!(
            feed_start("2026-12-05T09:00:00Z"),
            Some(FeedStart::ChangedSince(_))
        ));
        assert_eq!(
            feed_start("2026-12-05T11:00:00 02:00"),
            feed_start("2026-12-05T09:00:00Z")
        );
        for bad in [
            "f",
            "fx.ntf_1",
            "f1.att_1",
            "yesterday",
            "1733389200000.ntf_1",
        ] {
            assert_eq!(feed_start(bad), None, "{bad}");
        }
    }

    #[test]
    fn statuses_are_one_or_more_known_names() {
        assert_eq!(
            statuses("read, delivered,read"),
            Some(vec![
                NotificationStatus::Delivered,
                NotificationStatus::Read
            ])
        );
        assert_eq!(statuses("delivered,seen"), None);
        assert_eq!(statuses(""), None);
    }
}
