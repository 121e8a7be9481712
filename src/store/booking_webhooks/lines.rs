//! An endpoint's messages with the same `order_key` form a line: they go one at a time, in `seq`
//! order. The line's head, its pending message with the lowest `seq`, is marked `ready`, and the
//! sender's claim takes only those (see migration 0035). Whoever adds a message to a line or ends
//! its head marks the head again, under the line's lock on PostgreSQL, so that a message written
//! while the head before it was ending is not left waiting behind nothing.

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

/// The lock space of lines among PostgreSQL's two-key advisory locks.
const LINE_LOCKS: i64 = 7301;

/// Takes the lines' transaction locks on PostgreSQL, in one global order so that two
/// transactions never wait for each other; SQLite has one writer and needs none. Take them
/// before changing any message of the lines, and before reading which message heads them.
pub(super) async fn lock_lines(
    tx: &mut Transaction<'_, Any>,
    lines: &[Line<'_>],
) -> Result<(), StoreError> {
    if lines.is_empty() || tx.backend_name() == "SQLite" {
        return Ok(());
    }
    let keys: BTreeSet<i64> = lines.iter().map(lock_key).collect();
    let keys: Vec<String> = keys.iter().map(i64::to_string).collect();
    let rows: Vec<Id> = keys.iter().map(|id| Id { id }).collect();
    write_rows(
        tx,
        "WITH v ({columns}) AS (VALUES {values}) SELECT COUNT(*) FROM (\
         SELECT pg_advisory_xact_lock(CAST($1 AS INTEGER), k.lock_key) \
         FROM (SELECT CAST(id AS INTEGER) AS lock_key FROM v ORDER BY 1) k) locked",
        &[LINE_LOCKS.into()],
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
        "WITH v ({columns}) AS (VALUES {values}) \
         UPDATE webhook_messages SET ready = 1 WHERE ready = 0 AND seq IN (\
         SELECT (SELECT o.seq FROM webhook_messages o WHERE o.endpoint_id = v.endpoint_id \
             AND o.order_key = v.order_key AND o.state = 'pending' ORDER BY o.seq LIMIT 1) \
         FROM v)",
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
        "WITH v ({columns}) AS (VALUES {values}) \
         UPDATE webhook_messages SET ready = 0 WHERE ready = 1 AND state = 'pending' \
         AND (endpoint_id, order_key) IN (SELECT endpoint_id, order_key FROM v)",
        &[],
        lines,
    )
    .await?;
    mark_heads(tx, lines).await
}

/// The line's lock: FNV-1a of its endpoint and key, 32 bits, the same in every build.
fn lock_key(line: &Line<'_>) -> i64 {
    let bytes = line
        .endpoint_id
        .bytes()
        .chain([0])
        .chain(line.order_key.bytes());
    let hash = bytes.fold(0x811c_9dc5_u32, |hash, byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    });
    i64::from(hash as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_s_lock_is_fnv_1a_of_its_endpoint_and_key_so_every_instance_takes_the_same() {
        let line = Line {
            endpoint_id: "whe_1",
            order_key: "ntf_1",
        };
        let other = Line {
            endpoint_id: "whe_1n",
            order_key: "tf_1",
        };

        // FNV-1a 32 of "whe_1\0ntf_1", as any implementation computes it.
        assert_eq!(lock_key(&line), i64::from(0xc932_abe9_u32 as i32));
        assert_ne!(lock_key(&line), lock_key(&other));
    }
}
