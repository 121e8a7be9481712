//! Set-based writes: one statement for a whole batch of rows instead of one per row. SQLite has
//! a single writer and PostgreSQL a round trip per statement, so batches are what make the
//! dispatcher and intake fast on both.

use sqlx::any::AnyRow;
use sqlx::{Any, Transaction};

use super::StoreError;

/// One bound value: the store only ever binds text and integers.
#[derive(Debug, Clone)]
pub(crate) enum Param {
    Text(Option<String>),
    Int(Option<i64>),
}

impl From<&str> for Param {
    fn from(v: &str) -> Self {
        Self::Text(Some(v.to_owned()))
    }
}

impl From<String> for Param {
    fn from(v: String) -> Self {
        Self::Text(Some(v))
    }
}

impl From<Option<&str>> for Param {
    fn from(v: Option<&str>) -> Self {
        Self::Text(v.map(str::to_owned))
    }
}

impl From<Option<String>> for Param {
    fn from(v: Option<String>) -> Self {
        Self::Text(v)
    }
}

impl From<i64> for Param {
    fn from(v: i64) -> Self {
        Self::Int(Some(v))
    }
}

impl From<Option<i64>> for Param {
    fn from(v: Option<i64>) -> Self {
        Self::Int(v)
    }
}

/// Bound parameters per statement, under SQLite's limit of 32,766 and PostgreSQL's of 65,535.
const MAX_PARAMS: usize = 30_000;

/// Runs `sql` once per chunk of `rows`, with `{values}` in it replaced by the chunk's
/// `($n, …), (…)` list. `shared` are bound first (`$1…`), the rows after them. Returns every
/// row the statements return (for `RETURNING`).
pub(crate) async fn write_rows(
    tx: &mut Transaction<'_, Any>,
    sql: &str,
    shared: &[Param],
    rows: Vec<Vec<Param>>,
) -> Result<Vec<AnyRow>, StoreError> {
    let Some(columns) = rows.first().map(Vec::len) else {
        return Ok(Vec::new());
    };
    let per_statement = ((MAX_PARAMS - shared.len()) / columns.max(1)).max(1);
    let mut returned = Vec::new();
    for chunk in rows.chunks(per_statement) {
        let values = (0..chunk.len())
            .map(|row| {
                let first = shared.len() + row * columns + 1;
                format!("({})", super::placeholders(first, columns))
            })
            .collect::<Vec<_>>()
            .join(", ");
        let statement = sql.replace("{values}", &values);
        let mut query = sqlx::query(&statement);
        for param in shared.iter().chain(chunk.iter().flatten()) {
            query = match param {
                Param::Text(v) => query.bind(v.clone()),
                Param::Int(v) => query.bind(*v),
            };
        }
        returned.extend(query.fetch_all(&mut **tx).await?);
    }
    Ok(returned)
}
