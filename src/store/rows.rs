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
/// `(…), (…)` list. `sql` refers to the `shared` values as `$1`, `$2`…. Returns every row the
/// statements return (for `RETURNING`).
pub(crate) async fn write_rows(
    tx: &mut Transaction<'_, Any>,
    sql: &str,
    shared: &[Param],
    rows: Vec<Vec<Param>>,
) -> Result<Vec<AnyRow>, StoreError> {
    let Some(columns) = rows.first().map(Vec::len) else {
        return Ok(Vec::new());
    };
    let sqlite = tx.backend_name() == "SQLite";
    let per_statement = ((MAX_PARAMS - shared.len()) / columns.max(1)).max(1);
    let mut returned = Vec::new();
    let mut rest = rows.as_slice();
    while !rest.is_empty() {
        // Chunks of a power-of-two size keep the number of distinct statements small, so each
        // stays in the connection's prepared-statement cache instead of being parsed again.
        let size = (1usize << rest.len().ilog2()).min(prev_power_of_two(per_statement));
        let (chunk, remaining) = rest.split_at(size);
        rest = remaining;
        let row_params = chunk.len() * columns;
        let (statement, shared_first) = if sqlite {
            // SQLite looks a named parameter up by walking a list, so thousands of `$n` cost
            // quadratic time to bind; anonymous `?` cost nothing. The rows are bound first as
            // `?`, and the shared values after them, renamed `$n` past the rows.
            let row = format!("({})", vec!["?"; columns].join(", "));
            let values = vec![row.as_str(); chunk.len()].join(", ");
            (
                shift_placeholders(sql, row_params).replace("{values}", &values),
                false,
            )
        } else {
            let values = (0..chunk.len())
                .map(|row| {
                    format!(
                        "({})",
                        super::placeholders(shared.len() + row * columns + 1, columns)
                    )
                })
                .collect::<Vec<_>>()
                .join(", ");
            (sql.replace("{values}", &values), true)
        };
        let rows_then_shared = chunk.iter().flatten().chain(shared);
        let shared_then_rows = shared.iter().chain(chunk.iter().flatten());
        let params: Box<dyn Iterator<Item = &Param>> = if shared_first {
            Box::new(shared_then_rows)
        } else {
            Box::new(rows_then_shared)
        };
        let mut query = sqlx::query(&statement);
        for param in params {
            query = match param {
                Param::Text(v) => query.bind(v.clone()),
                Param::Int(v) => query.bind(*v),
            };
        }
        returned.extend(query.fetch_all(&mut **tx).await?);
    }
    Ok(returned)
}

/// Renumbers `$n` placeholders to `$n+by`.
fn shift_placeholders(sql: &str, by: usize) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut chars = sql.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        out.push(c);
        if c != '$' {
            continue;
        }
        let mut digits = String::new();
        while let Some((_, d)) = chars.peek().filter(|(_, d)| d.is_ascii_digit()) {
            digits.push(*d);
            chars.next();
        }
        match digits.parse::<usize>() {
            Ok(n) => out.push_str(&(n + by).to_string()),
            Err(_) => out.push_str(&digits),
        }
    }
    out
}

fn prev_power_of_two(n: usize) -> usize {
    1usize << n.max(1).ilog2()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_shifted_past_the_rows() {
        assert_eq!(
            shift_placeholders("SET a = $1, b = $2 WHERE c = $1 AND d = '$x'", 10),
            "SET a = $11, b = $12 WHERE c = $11 AND d = '$x'"
        );
    }
}
