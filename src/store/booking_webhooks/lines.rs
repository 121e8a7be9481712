//! An endpoint's messages with the same `order_key` form a line: they go one at a time, in `seq`
//! order. The line's head, its pending message with the lowest `seq`, is marked `ready`, and the
//! sender's claim takes only those (see migration 0035). The outbox writer marks a message it
//! writes when nothing before it is pending; the sender marks the next one when it ends a head.
//! On PostgreSQL both hold the order key's lock while they look, so that a message written while
//! the head before it was ending is not left waiting behind nothing.

use std::collections::BTreeSet;

use sqlx::{Any, Transaction};

use crate::store::StoreError;
use crate::store::rows::{Id, columns, write_rows};

columns! {
    /// One line of one endpoint.
    pub(super) struct Line<'a> {
        pub(super) endpoint_id: &'a str,
        pub(super) order_key: &'a str,
    }
}

/// The lock space of order keys among PostgreSQL's two-key advisory locks.
const ORDER_KEY_LOCKS: i64 = 7301;

/// Takes the order keys' transaction locks on PostgreSQL (one for the lines of every endpoint),
/// in one global order so that two transactions never wait for each other; SQLite has one
/// writer and needs none. Take them before changing any message of the lines, and before
/// reading which message heads them.
pub(super) async fn lock_order_keys<'k>(
    tx: &mut Transaction<'_, Any>,
    order_keys: impl IntoIterator<Item = &'k str>,
) -> Result<(), StoreError> {
    if tx.backend_name() == "SQLite" {
        return Ok(());
    }
    let keys: BTreeSet<i64> = order_keys.into_iter().map(lock_key).collect();
    let keys: Vec<String> = keys.iter().map(i64::to_string).collect();
    let rows: Vec<Id> = keys.iter().map(|id| Id { id }).collect();
    write_rows(
        tx,
        "WITH v ({columns}) AS ({rows}) SELECT COUNT(*) FROM (\
         SELECT pg_advisory_xact_lock(CAST($1 AS INTEGER), k.lock_key) \
         FROM (SELECT CAST(id AS INTEGER) AS lock_key FROM v ORDER BY 1) k) locked",
        &[ORDER_KEY_LOCKS.into()],
        &rows,
    )
    .await?;
    Ok(())
}

/// Marks the head of each line ready: its pending message with the lowest `seq`, found by one
/// index probe per line whatever the planner believes of how many are pending.
pub(super) async fn mark_heads(
    tx: &mut Transaction<'_, Any>,
    lines: &[Line<'_>],
) -> Result<(), StoreError> {
    write_rows(
        tx,
        "WITH v ({columns}) AS ({rows}) \
         UPDATE webhook_messages SET ready = 1 FROM (\
             SELECT (SELECT o.seq FROM webhook_messages o WHERE o.endpoint_id = v.endpoint_id \
                 AND o.order_key = v.order_key AND o.state = 'pending' ORDER BY o.seq LIMIT 1) \
                 AS seq \
             FROM v) head \
         WHERE webhook_messages.seq = head.seq AND webhook_messages.ready = 0",
        &[],
        lines,
    )
    .await?;
    Ok(())
}

/// Finds the heads of the lines again, after messages earlier than their heads became pending.
pub(super) async fn mark_heads_anew(
    tx: &mut Transaction<'_, Any>,
    lines: &[Line<'_>],
) -> Result<(), StoreError> {
    write_rows(
        tx,
        "WITH v ({columns}) AS ({rows}) \
         UPDATE webhook_messages SET ready = 0 WHERE ready = 1 AND state = 'pending' \
         AND (endpoint_id, order_key) IN (SELECT endpoint_id, order_key FROM v)",
        &[],
        lines,
    )
    .await?;
    mark_heads(tx, lines).await
}

/// The order key's lock: FNV-1a of the key, 32 bits, the same in every build.
fn lock_key(order_key: &str) -> i64 {
    let hash = order_key.bytes().fold(0x811c_9dc5_u32, |hash, byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    });
    i64::from(hash as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_order_key_s_lock_is_its_fnv_1a_so_every_instance_takes_the_same() {
        // FNV-1a 32 of "ntf_1", as any implementation computes it.
        assert_eq!(lock_key("ntf_1"), i64::from(0x4bcb_caa7_u32 as i32));
        assert_ne!(lock_key("ntf_1"), lock_key("ntf_2"));
    }
}
