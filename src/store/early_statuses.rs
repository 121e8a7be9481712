//! Provider statuses that came before the hand-over's answer naming their message was recorded.
//!
//! Meta does not promise to echo our reference on `failed`, so such a status is found by the
//! provider's message id alone, and that id is learnt from the send's answer. A fast failure
//! (the number is not on WhatsApp) can reach the webhook before the dispatcher has recorded that
//! answer. Answered 200 and dropped, it would be lost for good: the provider does not send it
//! again. So it is kept here and applied once an attempt carries its id.

use jiff::Timestamp;
use medrelay_channels::{DeliveryState, RecipientFact};
use sqlx::FromRow;

use super::StatusUpdate;
use super::rows::{columns, write_rows};
use super::{Store, StoreError, millis, timestamp};

/// How long a status waits for its message. A hand-over's answer is recorded within seconds of
/// the send; an id still unknown after a day belongs to no message of ours (another system
/// sending through the same provider account).
const KEEP_FOR_MS: i64 = 24 * 3_600_000;

/// Early statuses looked at per call.
const BATCH: i64 = 256;

columns! {
    /// A status kept until its message is known.
    struct EarlyStatus<'a> {
        provider_message_id: &'a str,
        state: &'a str,
        error_code: Option<&'a str>,
        error_text: Option<&'a str>,
        fact: Option<&'a str>,
        fact_until: Option<i64>,
        senders: &'a str,
        received_at: i64,
    }
}

columns! {
    /// One kept status, by its key.
    struct Key<'a> {
        provider_message_id: &'a str,
        state: &'a str,
    }
}

/// Keeps `updates`, statuses that named no attempt of ours, until their message is known.
pub(super) async fn keep(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    updates: &[&StatusUpdate],
    now: Timestamp,
) -> Result<(), StoreError> {
    let senders: Vec<String> = updates.iter().map(|u| u.senders.join("\n")).collect();
    let rows: Vec<EarlyStatus> = updates
        .iter()
        .zip(&senders)
        .map(|(update, senders)| EarlyStatus {
            provider_message_id: &update.provider_message_id,
            state: update.state.as_str(),
            error_code: update.error_code.as_deref(),
            error_text: update.error_text.as_deref(),
            fact: update.fact.map(|(fact, _)| fact.as_str()),
            fact_until: update.fact.map(|(_, until)| millis(until)),
            senders,
            received_at: millis(now),
        })
        .collect();
    write_rows(
        tx,
        "INSERT INTO early_statuses ({columns}) {rows} \
         ON CONFLICT (provider_message_id, state) DO NOTHING",
        &[],
        &rows,
    )
    .await?;
    Ok(())
}

/// Early statuses taken up by [`Store::take_up_early_statuses`]: to apply, and to forget once
/// applied.
#[derive(Debug, Default)]
pub struct EarlyStatuses {
    /// Each with the attempt that now carries its message id.
    pub named: Vec<StatusUpdate>,
    keys: Vec<(String, String)>,
}

#[derive(FromRow)]
struct EarlyRow {
    provider_message_id: String,
    state: String,
    error_code: Option<String>,
    error_text: Option<String>,
    fact: Option<String>,
    fact_until: Option<i64>,
    senders: String,
    attempt_id: Option<String>,
}

impl Store {
    /// The early statuses whose message an attempt now carries, and those kept too long to wait
    /// any more. One read, cheap while none are kept, as is nearly always so.
    pub async fn take_up_early_statuses(
        &self,
        now: Timestamp,
    ) -> Result<EarlyStatuses, StoreError> {
        let rows = sqlx::query(
            "SELECT e.provider_message_id, e.state, e.error_code, e.error_text, e.fact, e.fact_until, \
             e.senders, a.id AS attempt_id \
             FROM early_statuses e LEFT JOIN attempts a ON a.provider_message_id = e.provider_message_id \
             WHERE a.id IS NOT NULL OR e.received_at < $1 LIMIT $2",
        )
        .bind(millis(now) - KEEP_FOR_MS)
        .bind(BATCH)
        .fetch_all(&self.read)
        .await?;
        let mut taken = EarlyStatuses::default();
        for row in &rows {
            let row = EarlyRow::from_row(row)?;
            if let (Some(attempt_id), Some(state)) =
                (row.attempt_id, DeliveryState::parse(&row.state))
            {
                let fact = match (
                    row.fact.as_deref().and_then(RecipientFact::parse),
                    row.fact_until,
                ) {
                    (Some(fact), Some(until)) => Some((fact, timestamp(until)?)),
                    _ => None,
                };
                taken.named.push(StatusUpdate {
                    attempt_id: Some(attempt_id),
                    provider_message_id: row.provider_message_id.clone(),
                    state,
                    error_code: row.error_code,
                    error_text: row.error_text,
                    fact,
                    senders: row
                        .senders
                        .lines()
                        .map(str::to_owned)
                        .collect::<Vec<_>>()
                        .into(),
                });
            }
            taken.keys.push((row.provider_message_id, row.state));
        }
        Ok(taken)
    }

    /// Forgets the early statuses `taken` took up, once their updates are applied.
    pub async fn forget_early_statuses(&self, taken: &EarlyStatuses) -> Result<(), StoreError> {
        if taken.keys.is_empty() {
            return Ok(());
        }
        let keys: Vec<Key> = taken
            .keys
            .iter()
            .map(|(provider_message_id, state)| Key {
                provider_message_id,
                state,
            })
            .collect();
        let _turn = self.background_turn().await;
        let mut tx = self.write.begin().await?;
        write_rows(
            &mut tx,
            "WITH v ({columns}) AS ({rows}) DELETE FROM early_statuses WHERE EXISTS \
             (SELECT 1 FROM v WHERE v.provider_message_id = early_statuses.provider_message_id \
             AND v.state = early_statuses.state)",
            &[],
            &keys,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

impl EarlyStatuses {
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Whether as many were taken up as one call takes: more may be waiting.
    pub fn is_full(&self) -> bool {
        i64::try_from(self.keys.len()).is_ok_and(|taken| taken >= BATCH)
    }
}
