use std::collections::{BTreeMap, HashMap, HashSet};

use jiff::Timestamp;
use medrelay_channels::{ChannelKind, RecipientFact};
use sqlx::{Any, Transaction};

use super::rows::{columns, write_rows};
use super::{Store, StoreError, in_list, millis, padded, parse_stored, timestamp};
use crate::domain::{ClinicId, Patient};
use crate::policy::{ChannelSuspension, KnownFact};

/// A fact a provider told us about an address, to remember until `until`.
#[derive(Debug, Clone)]
pub struct LearnedFact {
    pub address: String,
    pub channel: ChannelKind,
    pub fact: RecipientFact,
    pub until: Timestamp,
}

/// A clinic's channel to pause, learned from a provider's answer.
#[derive(Debug, Clone)]
pub struct SuspensionWrite {
    pub clinic: ClinicId,
    pub suspension: ChannelSuspension,
}

columns! {
    /// A fact learned from the provider's answer about `notification_id` (whose clinic it is).
    struct Fact<'a> {
        notification_id: &'a str,
        address: &'a str,
        channel: &'a str,
        fact: &'a str,
        expires_at: i64,
    }
}

columns! {
    struct Inbound<'a> {
        phone_number_id: &'a str,
        address: &'a str,
        last_inbound_at: i64,
    }
}

/// Remembers that a patient (`address`) wrote to our WhatsApp number at `at`: it opens their
/// 24-hour window for free text on that number. An older message arriving late does not move the
/// time back.
pub(super) async fn open_whatsapp_window(
    tx: &mut Transaction<'_, Any>,
    phone_number_id: &str,
    address: &str,
    at: Timestamp,
) -> Result<(), StoreError> {
    let row = Inbound {
        phone_number_id,
        address,
        last_inbound_at: millis(at),
    };
    write_rows(
        tx,
        "WITH v ({columns}) AS ({rows}) \
         INSERT INTO whatsapp_conversations ({columns}) SELECT {columns} FROM v WHERE true \
         ON CONFLICT (phone_number_id, address) DO UPDATE SET last_inbound_at = excluded.last_inbound_at \
         WHERE excluded.last_inbound_at > whatsapp_conversations.last_inbound_at",
        &[],
        &[row],
    )
    .await?;
    Ok(())
}

/// Remembers what providers said about addresses, each with the notification it came from (whose
/// clinic it belongs to), learned at `at` (ms).
pub(super) async fn remember_facts<'a>(
    tx: &mut Transaction<'_, Any>,
    learned: impl IntoIterator<Item = (&'a str, &'a LearnedFact)>,
    at: i64,
) -> Result<(), StoreError> {
    // One row per (address, channel, fact): PostgreSQL refuses to upsert a row twice in one
    // statement, and two notifications to one number can teach the same thing at once. Sorted,
    // so two transactions upserting the same rows take their locks in the same order.
    let mut rows: BTreeMap<(&str, ChannelKind, &str), Fact> = BTreeMap::new();
    for (notification, fact) in learned {
        rows.insert(
            (fact.address.as_str(), fact.channel, fact.fact.as_str()),
            Fact {
                notification_id: notification,
                address: fact.address.as_str(),
                channel: fact.channel.as_str(),
                fact: fact.fact.as_str(),
                expires_at: millis(fact.until),
            },
        );
    }
    write_rows(
        tx,
        "WITH v ({columns}) AS ({rows}) \
         INSERT INTO recipient_facts (clinic_id, address, channel, fact, learned_at, expires_at) \
         SELECT n.clinic_id, v.address, v.channel, v.fact, $1, v.expires_at \
         FROM v JOIN notifications n ON n.id = v.notification_id WHERE true \
         ON CONFLICT (clinic_id, address, channel, fact) \
         DO UPDATE SET learned_at = excluded.learned_at, expires_at = excluded.expires_at",
        &[at.into()],
        &rows.into_values().collect::<Vec<_>>(),
    )
    .await?;
    Ok(())
}

impl Store {
    /// Channels paused right now, by clinic.
    pub async fn channel_suspensions(
        &self,
        now: Timestamp,
    ) -> Result<HashMap<ClinicId, Vec<ChannelSuspension>>, StoreError> {
        let rows: Vec<(String, String, String, i64)> = sqlx::query_as(
            "SELECT clinic_id, channel, reason, until FROM channel_suspensions WHERE until > $1",
        )
        .bind(millis(now))
        .fetch_all(&self.read)
        .await?;
        let mut suspended: HashMap<ClinicId, Vec<ChannelSuspension>> = HashMap::new();
        for (clinic, channel, reason, until) in rows {
            suspended
                .entry(ClinicId::from_stored(clinic))
                .or_default()
                .push(ChannelSuspension {
                    channel: parse_stored(&channel, "channel")?,
                    reason,
                    until: timestamp(until)?,
                });
        }
        Ok(suspended)
    }

    /// The still-trusted facts about these addresses, by clinic and address.
    pub async fn recipient_facts(
        &self,
        addresses: &[&str],
        now: Timestamp,
    ) -> Result<HashMap<(ClinicId, String), Vec<KnownFact>>, StoreError> {
        let mut known: HashMap<(ClinicId, String), Vec<KnownFact>> = HashMap::new();
        if addresses.is_empty() {
            return Ok(known);
        }
        let sql = facts_of_addresses(addresses.len());
        let mut query =
            sqlx::query_as::<_, (String, String, String, String, i64)>(&sql).bind(millis(now));
        for address in padded(addresses) {
            query = query.bind(address);
        }
        for (clinic, address, channel, fact, learned_at) in query.fetch_all(&self.read).await? {
            known
                .entry((ClinicId::from_stored(clinic), address))
                .or_default()
                .push(KnownFact {
                    channel: parse_stored(&channel, "channel")?,
                    fact: RecipientFact::parse(&fact)
                        .ok_or_else(|| StoreError::Corrupt(format!("fact {fact}")))?,
                    learned_at: timestamp(learned_at)?,
                });
        }
        Ok(known)
    }

    /// The still-trusted facts about one patient's phone number and email address.
    pub async fn facts_about(
        &self,
        patient: &Patient,
        now: Timestamp,
    ) -> Result<Vec<KnownFact>, StoreError> {
        let addresses: Vec<&str> = patient.addresses().collect();
        let mut known = self.recipient_facts(&addresses, now).await?;
        Ok(addresses
            .into_iter()
            .filter_map(|address| known.remove(&(patient.clinic_id.clone(), address.to_owned())))
            .flatten()
            .collect())
    }

    /// The (WhatsApp number, patient's number) pairs among `addresses` whose patient wrote after
    /// `since`: their 24-hour window is open.
    pub async fn open_whatsapp_windows(
        &self,
        addresses: &[&str],
        since: Timestamp,
    ) -> Result<HashSet<(String, String)>, StoreError> {
        if addresses.is_empty() {
            return Ok(HashSet::new());
        }
        let sql = windows_of_addresses(addresses.len());
        let mut query = sqlx::query_as::<_, (String, String)>(&sql).bind(millis(since));
        for address in padded(addresses) {
            query = query.bind(address);
        }
        Ok(query.fetch_all(&self.read).await?.into_iter().collect())
    }
}

/// The facts about `count` addresses (`$2`…) still trusted at `$1`, through
/// `recipient_facts_address`.
fn facts_of_addresses(count: usize) -> String {
    format!(
        "SELECT clinic_id, address, channel, fact, learned_at FROM recipient_facts \
         WHERE expires_at > $1 AND address IN ({})",
        in_list(2, count)
    )
}

/// The WhatsApp conversations of `count` addresses (`$2`…) with a message after `$1`, through
/// `whatsapp_conversations_address`.
fn windows_of_addresses(count: usize) -> String {
    format!(
        "SELECT phone_number_id, address FROM whatsapp_conversations \
         WHERE last_inbound_at > $1 AND address IN ({})",
        in_list(2, count)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A round's look-ups read its own addresses, not the tables: they grow with every patient a
    /// clinic has learned of or heard from, and a round reads them for each batch it sends.
    #[tokio::test]
    async fn a_round_finds_its_addresses_facts_and_windows_by_index_not_by_reading_them_all() {
        let (_dir, store) = Store::in_temporary_file().await;
        for (sql, table) in [
            (facts_of_addresses(2), "recipient_facts"),
            (windows_of_addresses(2), "whatsapp_conversations"),
        ] {
            let plan: Vec<(i64, i64, i64, String)> =
                sqlx::query_as(&format!("EXPLAIN QUERY PLAN {sql}"))
                    .bind(0_i64)
                    .bind("+972541234567")
                    .bind("+972541234568")
                    .fetch_all(&store.read)
                    .await
                    .expect("a plan");
            let steps: Vec<&str> = plan.iter().map(|(_, _, _, step)| step.as_str()).collect();
            assert!(
                steps
                    .iter()
                    .any(|s| s.starts_with(&format!("SEARCH {table} USING INDEX"))),
                "{steps:?}"
            );
        }
    }
}
