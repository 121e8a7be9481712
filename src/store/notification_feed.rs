//! The change feed: a clinic's notifications in the order their changes committed, so a booking
//! system that follows `next_cursor` sees every change, none twice, on both back ends.
//!
//! Every write that changes what a notification's answer shows (every write that sets
//! `updated_at`, and a redaction of its text) sets `feed_position` in its update of
//! `notification_states`, from [`next_feed_position`]: no extra row is written. SQLite has one
//! writer at a time, so one more than the clinic's highest position is in commit order.
//! PostgreSQL commits transactions in parallel, and no number drawn inside them (a sequence, a
//! clock) is in commit order; the position is the writing transaction's id instead, and a reader
//! reads only positions below the oldest transaction still running (`pg_snapshot_xmin`): every
//! transaction with a lower id has finished and is in the reader's snapshot, and every later one
//! gets a higher id. Changes written by one transaction share a position and are ordered by
//! notification id.

use jiff::Timestamp;
use sqlx::{Any, Transaction};

use super::notification_reads::{
    NotificationFilter, NotificationRecord, TimePage, ViewRow, filtered,
};
use super::rows::Param;
use super::{Backend, Store, StoreError, millis};
use crate::domain::{ClinicId, NotificationId};

/// Where a page of the feed starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedStart {
    /// After a position an earlier page ended at.
    After(FeedCursor),
    /// At the changes made at or after this time, to the millisecond (for a first page).
    ChangedSince(Timestamp),
}

/// A place in a clinic's feed: after the change at `position` to notification `id` (with no id:
/// at `position`, before every change there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedCursor {
    pub position: i64,
    pub id: Option<NotificationId>,
}

#[derive(Debug, Clone)]
pub struct FeedPage {
    /// Oldest change first.
    pub items: Vec<NotificationRecord>,
    /// Where the next page starts; once the feed is read to its end, where the changes not
    /// written yet will be.
    pub next: FeedCursor,
}

/// The position a write gives the notifications it changes, as an SQL expression; `clinic` is
/// the SQL naming the clinic of the row written (`notification_states.clinic_id`, `v.clinic_id`, `$2`).
pub(crate) fn next_feed_position(tx: &Transaction<'_, Any>, clinic: &str) -> String {
    if tx.backend_name() == "SQLite" {
        format!(
            "(SELECT COALESCE(MAX(f.feed_position), 0) + 1 FROM notification_states f WHERE f.clinic_id = {clinic})"
        )
    } else {
        "pg_current_xact_id()::text::bigint".to_owned()
    }
}

/// `sql`, an update of `notification_states`, with `{feed_position}` in its `SET` list replaced by
/// `feed_position = ` the next position of the row's clinic.
pub(crate) fn with_feed_position(tx: &Transaction<'_, Any>, sql: &str) -> String {
    let next = next_feed_position(tx, "notification_states.clinic_id");
    sql.replace("{feed_position}", &format!("feed_position = {next}"))
}

impl Store {
    /// A page of the clinic's notifications that pass `filter`, in the order their last change
    /// committed, from `start`.
    pub async fn notification_feed(
        &self,
        clinic: &ClinicId,
        filter: &NotificationFilter,
        start: &FeedStart,
    ) -> Result<FeedPage, StoreError> {
        let mut tx = self.read_snapshot().await?;
        let horizon = self.feed_horizon(&mut tx, clinic).await?;
        let mut params = vec![Param::from(clinic.as_str()), Param::from(horizon)];
        let mut sql = filtered(filter, &mut params);
        sql.push_str(" AND s.feed_position < $2");
        let after = match start {
            // A cursor with no id is at its position, before every change there: every id
            // sorts after "".
            FeedStart::After(cursor) => {
                let id = cursor.id.as_ref().map_or("", |id| id.as_str());
                Some((cursor.position, id.to_owned()))
            }
            FeedStart::ChangedSince(since) => {
                sql.push_str(&format!(" AND s.updated_at >= ${}", params.len() + 1));
                params.push(Param::from(millis(*since)));
                None
            }
        };
        let page = TimePage {
            columns: ("s.feed_position", "s.id"),
            after: after.as_ref(),
            oldest_first: true,
            limit: filter.limit,
        };
        page.append_to(&mut sql, &mut params);
        let rows = bound(sqlx::query_as::<_, ViewRow>(&sql), &params)
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        feed_page(rows, filter.limit, horizon)
    }

    /// The position below which every change is written and visible to `tx`, which then reads in
    /// one snapshot.
    async fn feed_horizon(
        &self,
        tx: &mut Transaction<'_, Any>,
        clinic: &ClinicId,
    ) -> Result<i64, StoreError> {
        let horizon = match self.backend {
            Backend::Postgres => {
                sqlx::query_scalar("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
                    .fetch_one(&mut **tx)
                    .await?
            }
            Backend::Sqlite => {
                sqlx::query_scalar(
                    "SELECT COALESCE(MAX(feed_position), 0) + 1 FROM notification_states WHERE clinic_id = $1",
                )
                .bind(clinic.as_str())
                .fetch_one(&mut **tx)
                .await?
            }
        };
        Ok(horizon)
    }
}

/// `query` with `params` bound in order.
pub(super) fn bound<'q, O>(
    mut query: sqlx::query::QueryAs<'q, Any, O, sqlx::any::AnyArguments<'q>>,
    params: &[Param<'q>],
) -> sqlx::query::QueryAs<'q, Any, O, sqlx::any::AnyArguments<'q>> {
    for param in params {
        query = match *param {
            Param::Text(v) => query.bind(v),
            Param::Int(v) => query.bind(v),
        };
    }
    query
}

/// The page after its rows (one more than `limit` was read, to know whether more follow): a
/// full page continues after its last item, a short one at the horizon.
fn feed_page(rows: Vec<ViewRow>, limit: u32, horizon: i64) -> Result<FeedPage, StoreError> {
    let positions: Vec<i64> = rows.iter().map(|row| row.feed_position).collect();
    let mut items = rows
        .into_iter()
        .map(NotificationRecord::try_from)
        .collect::<Result<Vec<_>, _>>()?;
    let next = if items.len() > limit as usize {
        items.truncate(limit as usize);
        let last = items.last().map(|last| last.id.clone());
        FeedCursor {
            position: positions[limit as usize - 1],
            id: last,
        }
    } else {
        FeedCursor {
            position: horizon,
            id: None,
        }
    };
    Ok(FeedPage { items, next })
}

#[cfg(test)]
mod tests {
    use crate::store::sources::store_sources;

    /// A writer that forgets the position hides its change from the feed for good, so this
    /// reads every statement of the store that updates notifications' states (where
    /// `updated_at` is).
    #[test]
    fn every_update_of_a_notification_s_updated_at_moves_it_in_the_feed() {
        let (mut forgotten, mut read) = (Vec::new(), 0);
        for (file, text) in store_sources() {
            for (at, _) in text.match_indices("UPDATE notification_states") {
                let statement = text[at..].split('"').next().unwrap_or_default();
                if statement.contains("updated_at =") {
                    read += 1;
                    if !statement.contains("{feed_position}") {
                        forgotten.push(format!("{}: {statement}", file.display()));
                    }
                }
            }
        }
        // Cancelling (three), moving a reminder, holding, releasing and finishing: a rename of
        // the table would otherwise leave this checking nothing.
        assert!(read >= 7, "only {read} updates of updated_at found");
        assert!(forgotten.is_empty(), "{forgotten:#?}");
    }
}
