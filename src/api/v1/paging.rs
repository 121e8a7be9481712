//! What every list takes to page: `limit` and the `cursor` an earlier page gave.

use super::patients::checked;
use crate::api::problem::FieldError;

const LIMIT_RULE: &str = "must be between 1 and 500";
const CURSOR_RULE: &str = "must be a next_cursor value from an earlier page";
const DEFAULT_LIMIT: u32 = 50;

/// The page asked for: its size (50 unless given) and where it starts, read by `decode`; what
/// breaks a rule is added to `errors`.
pub(super) fn checked_page<C>(
    errors: &mut Vec<FieldError>,
    limit: Option<u32>,
    cursor: Option<String>,
    decode: impl Fn(&str) -> Option<C>,
) -> (u32, Option<C>) {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=500).contains(&limit) {
        errors.push(FieldError::new("limit", LIMIT_RULE));
    }
    let after = checked(errors, "cursor", cursor, decode, CURSOR_RULE);
    (limit, after)
}
