//! The answer of a route that creates something (`201 Created`, or `202 Accepted` for what is
//! sent later): the new resource's path in `Location`, and, on routes that take an
//! `Idempotency-Key`, `Idempotent-Replayed` saying whether this is the answer to an earlier
//! request with that key (`true`) or to this one (`false`).

use axum::Json;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// The header that tells a replayed answer from a first one.
pub(crate) const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// Whether an answer is the one an earlier request with the same idempotency key got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Replay {
    /// The route takes no idempotency key: no `Idempotent-Replayed`.
    NotApplicable,
    First,
    Replayed,
}

impl From<bool> for Replay {
    fn from(replayed: bool) -> Self {
        if replayed {
            Self::Replayed
        } else {
            Self::First
        }
    }
}

/// A created (or accepted) resource: its status, where it lives and what it is.
#[derive(Debug)]
pub(crate) struct Created<T> {
    status: StatusCode,
    location: String,
    replay: Replay,
    body: T,
}

impl<T: Serialize> Created<T> {
    /// `201` for a resource at `location` (a path such as `/v1/keys/key_…`).
    pub(crate) fn at(location: String, body: T) -> Self {
        Self {
            status: StatusCode::CREATED,
            location,
            replay: Replay::NotApplicable,
            body,
        }
    }

    /// `202`: taken, to be done later; `location` is where to follow it.
    pub(crate) fn accepted(location: String, body: T) -> Self {
        Self {
            status: StatusCode::ACCEPTED,
            ..Self::at(location, body)
        }
    }

    /// From a route that takes an `Idempotency-Key`: says whether this answer is a replay.
    pub(crate) fn replay(self, replay: impl Into<Replay>) -> Self {
        Self {
            replay: replay.into(),
            ..self
        }
    }
}

impl<T: Serialize> IntoResponse for Created<T> {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body)).into_response();
        let headers = response.headers_mut();
        // Our own paths, made of ids that are ASCII letters, digits and `_`.
        if let Ok(location) = HeaderValue::from_str(&self.location) {
            headers.insert(header::LOCATION, location);
        }
        let replayed = match self.replay {
            Replay::NotApplicable => None,
            Replay::First => Some("false"),
            Replay::Replayed => Some("true"),
        };
        if let Some(replayed) = replayed {
            headers.insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static(replayed));
        }
        response
    }
}
