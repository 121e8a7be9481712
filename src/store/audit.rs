//! The audit trail's rows: appended in batches, read back a page at a time. Nothing here changes
//! or removes an entry, and the database refuses to (triggers in migration 0031).

use std::net::IpAddr;

use jiff::Timestamp;
use sqlx::{Any, Transaction};

use super::notification_feed::bound;
use super::notification_reads::TimePage;
use super::rows::{Param, columns, write_rows};
use super::{ApiKeyRole, Store, StoreError, millis, parse_stored, timestamp};
use crate::domain::{AuditEntryId, ClinicId};

/// One audited request: who, what, on which record, with what outcome. No body, no query, no
/// message text, no phone number: ids, names of actions and a status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub id: AuditEntryId,
    pub clinic: ClinicId,
    pub at: Timestamp,
    /// `key:<id>`, or `staff:<id>` for a person in the console.
    pub actor: String,
    pub actor_role: ApiKeyRole,
    /// `notification.create`, `patient.read`, `fhir.search`, …
    pub action: String,
    /// `notification`, `patient`, `Communication`, …
    pub resource_type: String,
    /// `None` for lists and searches.
    pub resource_id: Option<String>,
    /// The HTTP status answered.
    pub outcome: u16,
    /// The request's `X-Request-Id`.
    pub request_id: String,
    pub client_address: Option<IpAddr>,
}

/// Which entries a page holds.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub resource_type: Option<String>,
    pub resource_id: Option<String>,
    /// At or after.
    pub from: Option<Timestamp>,
    /// Before.
    pub to: Option<Timestamp>,
    pub limit: u32,
    /// Continue after this entry (its `at` and id), in the page's order.
    pub after: Option<(i64, String)>,
    /// Oldest first (an export) instead of newest first (the API).
    pub oldest_first: bool,
}

#[derive(Debug, Clone)]
pub struct AuditPage {
    pub items: Vec<AuditEntry>,
    /// Where the next page starts (`at`, id); `None` on the last page.
    pub next: Option<(i64, String)>,
}

columns! {
    struct EntryColumns<'a> {
        id: &'a str,
        clinic_id: &'a str,
        at: i64,
        actor: &'a str,
        actor_role: &'a str,
        action: &'a str,
        resource_type: &'a str,
        resource_id: Option<&'a str>,
        outcome: i64,
        request_id: &'a str,
        client_address: Option<&'a str>,
    }
}

#[derive(sqlx::FromRow)]
struct EntryRow {
    id: String,
    clinic_id: String,
    at: i64,
    actor: String,
    actor_role: String,
    action: String,
    resource_type: String,
    resource_id: Option<String>,
    outcome: i64,
    request_id: String,
    client_address: Option<String>,
}

impl TryFrom<EntryRow> for AuditEntry {
    type Error = StoreError;

    fn try_from(row: EntryRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: AuditEntryId::from_stored(row.id),
            clinic: ClinicId::from_stored(row.clinic_id),
            at: timestamp(row.at)?,
            actor: row.actor,
            actor_role: ApiKeyRole::parse(&row.actor_role)
                .ok_or_else(|| StoreError::Corrupt(format!("role {}", row.actor_role)))?,
            action: row.action,
            resource_type: row.resource_type,
            resource_id: row.resource_id,
            outcome: u16::try_from(row.outcome)
                .map_err(|_| StoreError::Corrupt(format!("status {}", row.outcome)))?,
            request_id: row.request_id,
            client_address: row
                .client_address
                .map(|a| parse_stored(&a, "client address"))
                .transpose()?,
        })
    }
}

const ENTRY_COLUMNS: &str = "id, clinic_id, at, actor, actor_role, action, resource_type, \
     resource_id, outcome, request_id, client_address";

impl Store {
    /// Appends `entries` in one transaction: all of them or none.
    pub async fn append_audit_entries(&self, entries: &[AuditEntry]) -> Result<(), StoreError> {
        let mut tx = self.write.begin().await?;
        write_entries(&mut tx, entries).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A page of the clinic's entries that pass `filter`.
    pub async fn audit_entries(
        &self,
        clinic: &ClinicId,
        filter: &AuditFilter,
    ) -> Result<AuditPage, StoreError> {
        let mut params = vec![Param::from(clinic.as_str())];
        let mut sql = format!("SELECT {ENTRY_COLUMNS} FROM audit_entries WHERE clinic_id = $1");
        for (condition, value) in conditions(filter) {
            sql.push_str(&condition.replace("{}", &format!("${}", params.len() + 1)));
            params.push(value);
        }
        let page = TimePage {
            columns: ("at", "id"),
            after: filter.after.as_ref(),
            oldest_first: filter.oldest_first,
            limit: filter.limit,
        };
        page.append_to(&mut sql, &mut params);
        let rows = bound(sqlx::query_as::<_, EntryRow>(&sql), &params)
            .fetch_all(&self.read)
            .await?;
        let items = rows
            .into_iter()
            .map(AuditEntry::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        let (items, next) = page.split(items, |e| (millis(e.at), e.id.as_str()));
        Ok(AuditPage { items, next })
    }
}

/// The conditions `filter` sets, each with `{}` where its value goes.
fn conditions(filter: &AuditFilter) -> Vec<(&'static str, Param<'_>)> {
    fn text(value: Option<&str>) -> Option<Param<'_>> {
        value.map(Param::from)
    }
    let time = |value: Option<Timestamp>| value.map(|t| Param::from(millis(t)));
    [
        (" AND actor = {}", text(filter.actor.as_deref())),
        (" AND action = {}", text(filter.action.as_deref())),
        (
            " AND resource_type = {}",
            text(filter.resource_type.as_deref()),
        ),
        (" AND resource_id = {}", text(filter.resource_id.as_deref())),
        (" AND at >= {}", time(filter.from)),
        (" AND at < {}", time(filter.to)),
    ]
    .into_iter()
    .filter_map(|(condition, value)| Some((condition, value?)))
    .collect()
}

/// Writes `entries` in the caller's transaction: with the change they record, they commit or
/// fail together.
pub(super) async fn write_entries(
    tx: &mut Transaction<'_, Any>,
    entries: &[AuditEntry],
) -> Result<(), StoreError> {
    let addresses: Vec<Option<String>> = entries
        .iter()
        .map(|e| e.client_address.map(|a| a.to_string()))
        .collect();
    let rows: Vec<EntryColumns<'_>> = entries
        .iter()
        .zip(&addresses)
        .map(|(e, address)| EntryColumns {
            id: e.id.as_str(),
            clinic_id: e.clinic.as_str(),
            at: millis(e.at),
            actor: &e.actor,
            actor_role: e.actor_role.as_str(),
            action: &e.action,
            resource_type: &e.resource_type,
            resource_id: e.resource_id.as_deref(),
            outcome: i64::from(e.outcome),
            request_id: &e.request_id,
            client_address: address.as_deref(),
        })
        .collect();
    write_rows(
        tx,
        "INSERT INTO audit_entries ({columns}) {rows}",
        &[],
        &rows,
    )
    .await?;
    Ok(())
}
