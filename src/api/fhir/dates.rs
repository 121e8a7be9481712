//! `_lastUpdated` values: a prefix and a FHIR date or dateTime, read as the bounds the store
//! applies. A value covers the span of time its precision gives (a day, a second, a
//! millisecond), and a date or a time without a zone is read in the clinic's time zone.

use jiff::civil::{Date, DateTime};
use jiff::tz::{Offset, TimeZone};
use jiff::{SignedDuration, Span, Timestamp, ToSpan, Zoned};

use super::super::problem::ApiError;
use super::search::malformed;
use crate::fhir::records::UpdatedBound;

const DATE_RULE: &str = "must be a FHIR date or instant with an optional ge, gt, le, lt or eq \
    prefix: 2026-12-01, 2026-12, ge2026-12-01T09:00:00Z, lt2026-12-01T09:00:00.000+02:00";

/// The bounds one `_lastUpdated` value sets, from its prefix and the range of time its
/// precision covers (a day, a second, a millisecond).
pub(super) fn last_updated(value: &str, zone: &TimeZone) -> Result<Vec<UpdatedBound>, ApiError> {
    let invalid = || malformed("_lastUpdated", DATE_RULE);
    let (prefix, moment) = match value.get(..2) {
        Some(p) if p.chars().all(|c| c.is_ascii_lowercase()) => (p, &value[2..]),
        _ => ("eq", value),
    };
    // A `+` sent unencoded reads as a space.
    let moment = moment.replace(' ', "+");
    let (start, end) = time_range(&moment, zone).ok_or_else(invalid)?;
    let (start, end) = (ceil_ms(start), ceil_ms(end));
    Ok(match prefix {
        "eq" => vec![UpdatedBound::Since(start), UpdatedBound::Before(end)],
        "ge" => vec![UpdatedBound::Since(start)],
        "gt" => vec![UpdatedBound::Since(end)],
        "le" => vec![UpdatedBound::Before(end)],
        "lt" => vec![UpdatedBound::Before(start)],
        _ => return Err(invalid()),
    })
}

/// The first millisecond at or after `at`: stored instants are whole milliseconds.
fn ceil_ms(at: Timestamp) -> Timestamp {
    let floor = at.as_millisecond();
    let whole = Timestamp::from_millisecond(floor).unwrap_or(at);
    if whole == at {
        at
    } else {
        Timestamp::from_millisecond(floor + 1).unwrap_or(at)
    }
}

/// The span of time a FHIR date or dateTime covers: `[start, end)`.
fn time_range(value: &str, zone: &TimeZone) -> Option<(Timestamp, Timestamp)> {
    let digits = |s: &str, n: usize| s.len() == n && s.chars().all(|c| c.is_ascii_digit());
    let day_range = |date: Date, span: Span| -> Option<(Timestamp, Timestamp)> {
        let start = date.to_zoned(zone.clone()).ok()?;
        let end = start.checked_add(span).ok()?;
        Some((start.timestamp(), end.timestamp()))
    };
    match value.len() {
        4 if digits(value, 4) => day_range(Date::new(value.parse().ok()?, 1, 1).ok()?, 1.year()),
        7 if digits(&value[..4], 4) && &value[4..5] == "-" && digits(&value[5..], 2) => day_range(
            Date::new(value[..4].parse().ok()?, value[5..].parse().ok()?, 1).ok()?,
            1.month(),
        ),
        10 => day_range(value.parse::<Date>().ok()?, 1.day()),
        _ => instant_range(value, zone),
    }
}

/// A dateTime with its time: its zone (or the clinic's), and a range as long as its precision.
fn instant_range(value: &str, zone: &TimeZone) -> Option<(Timestamp, Timestamp)> {
    let (civil, offset) = split_offset(value)?;
    let time = civil.split_once('T')?.1;
    let precision = match time.split_once('.') {
        Some((_, fraction)) if (1..=9).contains(&fraction.len()) => {
            SignedDuration::from_nanos(10i64.pow(9 - fraction.len() as u32))
        }
        Some(_) => return None,
        None if time.len() == 8 => SignedDuration::from_secs(1),
        None if time.len() == 5 => SignedDuration::from_mins(1),
        None => return None,
    };
    let civil: DateTime = civil.parse().ok()?;
    let start: Zoned = match offset {
        Some(offset) => civil.to_zoned(TimeZone::fixed(offset)).ok()?,
        None => civil.to_zoned(zone.clone()).ok()?,
    };
    let start = start.timestamp();
    Some((start, start.checked_add(precision).ok()?))
}

/// A dateTime's civil part and its offset (`Z` or `±hh:mm`), if it has one.
fn split_offset(value: &str) -> Option<(&str, Option<Offset>)> {
    if let Some(civil) = value.strip_suffix('Z') {
        return Some((civil, Some(Offset::UTC)));
    }
    let at = value.len().checked_sub(6)?;
    let (civil, offset) = value.split_at_checked(at)?;
    let sign = match offset.as_bytes().first() {
        Some(b'+') => 1,
        Some(b'-') => -1,
        _ => return Some((value, None)),
    };
    let (hours, minutes) = offset[1..].split_once(':')?;
    let (hours, minutes): (i32, i32) = (hours.parse().ok()?, minutes.parse().ok()?);
    if hours > 14 || minutes > 59 {
        return None;
    }
    let offset = Offset::from_seconds(sign * (hours * 3600 + minutes * 60)).ok()?;
    Some((civil, Some(offset)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jerusalem() -> TimeZone {
        TimeZone::get("Asia/Jerusalem").expect("zone")
    }

    fn at(text: &str) -> Timestamp {
        text.parse().expect("timestamp")
    }

    fn bounds(value: &str) -> Vec<UpdatedBound> {
        last_updated(value, &jerusalem()).expect(value)
    }

    #[test]
    fn an_instant_to_the_second_covers_that_second() {
        assert_eq!(
            bounds("2026-12-01T09:00:00Z"),
            [
                UpdatedBound::Since(at("2026-12-01T09:00:00Z")),
                UpdatedBound::Before(at("2026-12-01T09:00:01Z"))
            ]
        );
        assert_eq!(
            bounds("gt2026-12-01T09:00:00+02:00"),
            [UpdatedBound::Since(at("2026-12-01T07:00:01Z"))]
        );
        assert_eq!(
            bounds("lt2026-12-01T09:00:00.250Z"),
            [UpdatedBound::Before(at("2026-12-01T09:00:00.250Z"))]
        );
        assert_eq!(
            bounds("le2026-12-01T09:00:00.250Z"),
            [UpdatedBound::Before(at("2026-12-01T09:00:00.251Z"))]
        );
    }

    #[test]
    fn a_date_is_the_clinics_day_and_an_unencoded_plus_is_read_as_one() {
        assert_eq!(
            bounds("ge2026-12-01"),
            [UpdatedBound::Since(at("2026-11-30T22:00:00Z"))]
        );
        assert_eq!(
            bounds("2026-12"),
            [
                UpdatedBound::Since(at("2026-11-30T22:00:00Z")),
                UpdatedBound::Before(at("2026-12-31T22:00:00Z"))
            ]
        );
        assert_eq!(
            bounds("ge2026-12-01T09:00:00 02:00"),
            [UpdatedBound::Since(at("2026-12-01T07:00:00Z"))]
        );
    }

    #[test]
    fn what_is_not_a_fhir_date_or_a_supported_prefix_is_refused() {
        for bad in [
            "",
            "yesterday",
            "2026-1-1",
            "ne2026-12-01",
            "sa2026-12-01",
            "2026-12-01T09",
            "2026-12-01T09:00:00+25:00",
            "-1.5e",
        ] {
            assert!(last_updated(bad, &jerusalem()).is_err(), "{bad}");
        }
    }
}
