//! A broken rule on one field of a request: what the API's 422s list, and what intake and the
//! domain parsers report.

use serde::Serialize;
use utoipa::ToSchema;

/// One broken rule on one field of the request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    /// Where in the request: a JSON path (`channels[1]`), a header or a query parameter.
    pub field: String,
    /// The rule it breaks.
    pub rule: String,
}

/// A domain parser's (field, rule) pairs.
impl From<(String, String)> for FieldError {
    fn from((field, rule): (String, String)) -> Self {
        Self { field, rule }
    }
}

impl FieldError {
    pub fn new(field: impl Into<String>, rule: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            rule: rule.into(),
        }
    }
}
