//! The period a statistics request covers, and how its instants become clinic-local hours.

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

/// The longest period one request may cover: a year, leap day included.
pub const MAX_RANGE_DAYS: i32 = 366;

/// Transitions of the clinic's offset are looked up this far past the end of the period, since
/// a reminder created inside it may be handed over later.
const LOCAL_TIME_LOOKAHEAD_DAYS: i32 = 366;

/// `[from, to)` in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatsRange {
    pub from: Timestamp,
    pub to: Timestamp,
}

/// What is wrong with a requested period: the query field and the rule it breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeError {
    pub field: &'static str,
    pub rule: String,
}

impl RangeError {
    fn new(field: &'static str, rule: impl Into<String>) -> Self {
        Self {
            field,
            rule: rule.into(),
        }
    }
}

impl StatsRange {
    /// Reads `from` and `to`: each a date (`2026-11-01`, the start of that day in the clinic's
    /// zone) or an RFC 3339 instant. `to` is exclusive, after `from`, and at most
    /// [`MAX_RANGE_DAYS`] calendar days later.
    pub fn parse(
        from: Option<&str>,
        to: Option<&str>,
        zone: &TimeZone,
    ) -> Result<Self, Vec<RangeError>> {
        let from = parse_bound("from", from, zone);
        let to = parse_bound("to", to, zone);
        let (from, to) = match (from, to) {
            (Ok(from), Ok(to)) => (from, to),
            (from, to) => return Err([from.err(), to.err()].into_iter().flatten().collect()),
        };
        if to <= from {
            return Err(vec![RangeError::new("to", "must be after `from`")]);
        }
        let longest = from
            .to_zoned(zone.clone())
            .checked_add(MAX_RANGE_DAYS.days())
            .map(|end| end.timestamp())
            .map_err(|_| vec![RangeError::new("from", "is out of range")])?;
        if to > longest {
            return Err(vec![RangeError::new(
                "to",
                format!("must be at most {MAX_RANGE_DAYS} days after `from`"),
            )]);
        }
        Ok(Self { from, to })
    }

    /// The clinic's UTC offsets over the period (and the lookahead past it), for turning stored
    /// instants into local hours in SQL: DST-correct without a time-zone database in SQL.
    pub fn offsets(&self, zone: &TimeZone) -> Vec<OffsetSpan> {
        let until = self
            .to
            .checked_add(jiff::SignedDuration::from_hours(
                24 * i64::from(LOCAL_TIME_LOOKAHEAD_DAYS),
            ))
            .unwrap_or(Timestamp::MAX);
        let first = OffsetSpan {
            starts_at_ms: i64::MIN,
            offset_ms: offset_ms(zone.to_offset(self.from)),
        };
        let changes = zone
            .following(self.from)
            .take_while(|change| change.timestamp() < until)
            .map(|change| OffsetSpan {
                starts_at_ms: change.timestamp().as_millisecond(),
                offset_ms: offset_ms(change.offset()),
            });
        std::iter::once(first).chain(changes).collect()
    }
}

/// One end of a period, named `field`: a date (the start of that day in `zone`) or an RFC 3339
/// instant.
pub fn parse_bound(
    field: &'static str,
    text: Option<&str>,
    zone: &TimeZone,
) -> Result<Timestamp, RangeError> {
    let text = text
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            RangeError::new(
                field,
                "is required: a date (YYYY-MM-DD) or an RFC 3339 instant",
            )
        })?;
    // jiff reads a date out of a whole datetime too; only a bare date means the start of a day.
    let bare_date = !text.contains(['T', 't', ' ']);
    if bare_date && let Ok(date) = text.parse::<Date>() {
        return date
            .to_zoned(zone.clone())
            .map(|start| start.timestamp())
            .map_err(|_| RangeError::new(field, "is out of range"));
    }
    text.parse::<Timestamp>().map_err(|_| {
        RangeError::new(
            field,
            "must be a date (YYYY-MM-DD) or an RFC 3339 instant with an offset",
        )
    })
}

fn offset_ms(offset: jiff::tz::Offset) -> i64 {
    i64::from(offset.seconds()) * 1000
}

/// From `starts_at_ms` (UTC) until the next span, the clinic's clocks are `offset_ms` ahead of
/// UTC. The first span starts at `i64::MIN`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetSpan {
    pub starts_at_ms: i64,
    pub offset_ms: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jerusalem() -> TimeZone {
        TimeZone::get("Asia/Jerusalem").expect("zone")
    }

    fn parse(from: &str, to: &str) -> Result<StatsRange, Vec<RangeError>> {
        StatsRange::parse(Some(from), Some(to), &jerusalem())
    }

    fn fields(errors: Vec<RangeError>) -> Vec<&'static str> {
        errors.into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn dates_are_the_start_of_the_day_in_the_clinic_zone() {
        let range = parse("2026-11-01", "2026-11-08").expect("range");
        assert_eq!(
            range.from,
            "2026-10-31T22:00:00Z".parse::<Timestamp>().unwrap()
        );
        assert_eq!(
            range.to,
            "2026-11-07T22:00:00Z".parse::<Timestamp>().unwrap()
        );
    }

    #[test]
    fn instants_are_taken_as_they_are() {
        let range = parse("2026-11-01T08:00:00+02:00", "2026-11-01T09:00:00Z").expect("range");
        assert_eq!(
            range.from,
            "2026-11-01T06:00:00Z".parse::<Timestamp>().unwrap()
        );
    }

    #[test]
    fn bad_ranges_name_their_field() {
        assert_eq!(
            fields(parse("yesterday", "2026-11-08").unwrap_err()),
            ["from"]
        );
        assert_eq!(
            fields(parse("2026-11-08", "2026-11-01").unwrap_err()),
            ["to"]
        );
        assert_eq!(
            fields(parse("2026-11-08", "2026-11-08").unwrap_err()),
            ["to"]
        );
        assert_eq!(
            fields(parse("2025-01-01", "2026-01-03").unwrap_err()),
            ["to"]
        );
        assert_eq!(
            fields(StatsRange::parse(None, None, &jerusalem()).unwrap_err()),
            ["from", "to"]
        );
    }

    #[test]
    fn a_leap_year_fits() {
        assert!(parse("2028-01-01", "2029-01-01").is_ok());
    }

    #[test]
    fn offsets_follow_daylight_saving_time() {
        let range = parse("2026-10-20", "2026-10-30").expect("range");
        let offsets = range.offsets(&jerusalem());
        // Summer time (+3) at the start, winter time (+2) from 2026-10-25 02:00 local (23:00 UTC
        // the day before), then next spring's change; next autumn's falls just past the lookahead.
        assert_eq!(offsets[0].offset_ms, 3 * 3_600_000);
        let autumn: Timestamp = "2026-10-24T23:00:00Z".parse().unwrap();
        assert_eq!(
            offsets[1],
            OffsetSpan {
                starts_at_ms: autumn.as_millisecond(),
                offset_ms: 2 * 3_600_000
            }
        );
        assert_eq!(offsets.len(), 3);
    }
}
