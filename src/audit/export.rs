//! The audit trail as JSON: one entry as `GET /v1/audit` shows it, and `medrelay audit export`,
//! which writes a clinic's entries as JSON lines, oldest first, for an auditor or an archive.

use std::io::Write;

use jiff::Timestamp;
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::{AuditEntryId, ClinicId};
use crate::store::{ApiKeyRole, AuditEntry, AuditFilter, Store, StoreError};

/// Entries read per query while exporting.
const EXPORT_PAGE: u32 = 500;

/// One audited request, as the API and the export show it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntryOut {
    id: AuditEntryId,
    at: Timestamp,
    /// Who: `key:<key id>`.
    #[schema(example = "key:key_0193a1b2c3d47e8f9a0b1c2d3e4f5a6b")]
    actor: String,
    actor_role: ApiKeyRole,
    /// What was done.
    #[schema(example = "notification.cancel")]
    action: String,
    /// What it was done to: `notification`, `patient`, `Communication`, …
    #[schema(example = "notification")]
    resource_type: String,
    /// Which one; null for lists and searches.
    #[schema(example = "ntf_0193a1b2c3d47e8f9a0b1c2d3e4f5a6b")]
    resource_id: Option<String>,
    /// The HTTP status it was answered with.
    #[schema(example = 200)]
    outcome: u16,
    /// The request's `X-Request-Id`, as the gateway's log lines carry it.
    request_id: String,
    /// The address the request came from.
    #[schema(example = "192.0.2.10")]
    client_address: Option<String>,
}

impl From<AuditEntry> for AuditEntryOut {
    fn from(e: AuditEntry) -> Self {
        Self {
            id: e.id,
            at: e.at,
            actor: e.actor,
            actor_role: e.actor_role,
            action: e.action,
            resource_type: e.resource_type,
            resource_id: e.resource_id,
            outcome: e.outcome,
            request_id: e.request_id,
            client_address: e.client_address.map(|a| a.to_string()),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("no clinic `{0}`")]
    NoClinic(String),
    #[error("reading the audit trail failed")]
    Store(#[from] StoreError),
    #[error("writing the export failed")]
    Write(#[from] std::io::Error),
}

/// `medrelay audit export`: a clinic's audit entries as JSON lines on standard output, oldest
/// first, the fields of `GET /v1/audit`.
#[derive(Debug, clap::Args)]
pub struct AuditExport {
    /// The clinic's slug.
    #[arg(long)]
    clinic: String,
    /// Entries at or after this time (RFC 3339).
    #[arg(long)]
    from: Option<Timestamp>,
    /// Entries before this time (RFC 3339).
    #[arg(long)]
    to: Option<Timestamp>,
}

impl AuditExport {
    /// Writes the entries to `out`; returns how many.
    pub async fn run(&self, store: &Store, out: &mut impl Write) -> Result<usize, ExportError> {
        let clinic = store
            .clinic_by_slug(&self.clinic)
            .await
            .map_err(|_| ExportError::NoClinic(self.clinic.clone()))?;
        export(store, &clinic.id, self.from, self.to, out).await
    }
}

/// Writes the clinic's entries from `from` to `to`, oldest first, one JSON object a line.
pub async fn export(
    store: &Store,
    clinic: &ClinicId,
    from: Option<Timestamp>,
    to: Option<Timestamp>,
    out: &mut impl Write,
) -> Result<usize, ExportError> {
    let mut filter = AuditFilter {
        from,
        to,
        limit: EXPORT_PAGE,
        oldest_first: true,
        ..AuditFilter::default()
    };
    let mut written = 0;
    loop {
        let page = store.audit_entries(clinic, &filter).await?;
        for entry in page.items {
            serde_json::to_writer(&mut *out, &AuditEntryOut::from(entry))
                .map_err(std::io::Error::from)?;
            out.write_all(b"\n")?;
            written += 1;
        }
        match page.next {
            Some(next) => filter.after = Some(next),
            None => break,
        }
    }
    out.flush()?;
    Ok(written)
}
