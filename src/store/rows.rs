//! Set-based writes: one statement for a whole batch of rows instead of one per row. SQLite has
//! a single writer and PostgreSQL a round trip per statement, so batches are what make the
//! dispatcher and intake fast on both.

use sqlx::any::AnyRow;
use sqlx::{Any, Transaction};

use super::StoreError;

/// One bound value: the store only ever binds text and integers. Text is borrowed from the rows
/// being written, so binding a batch copies no strings.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Param<'a> {
    Text(Option<&'a str>),
    Int(Option<i64>),
}

impl<'a> From<&'a str> for Param<'a> {
    fn from(v: &'a str) -> Self {
        Self::Text(Some(v))
    }
}

impl<'a> From<Option<&'a str>> for Param<'a> {
    fn from(v: Option<&'a str>) -> Self {
        Self::Text(v)
    }
}

impl From<i64> for Param<'_> {
    fn from(v: i64) -> Self {
        Self::Int(Some(v))
    }
}

impl From<Option<i64>> for Param<'_> {
    fn from(v: Option<i64>) -> Self {
        Self::Int(v)
    }
}

/// A row [`write_rows`] writes: its columns' names and its values in the same order. Declared
/// with [`columns!`], so the names are the fields' names and cannot drift from the values.
pub(crate) trait Columns {
    const NAMES: &'static [&'static str];

    /// Appends this row's values, one per name.
    fn bind<'b>(&'b self, values: &mut Vec<Param<'b>>);
}

/// Declares a row struct for [`write_rows`] whose field names are the column names the SQL reads
/// (`v.attempt_id`, or the `{columns}` of an `INSERT`). Fields are `&str`, `i64` or options of
/// them.
macro_rules! columns {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident<$a:lifetime> {
            $($(#[$field_meta:meta])* $field_vis:vis $field:ident: $ty:ty,)*
        }
    ) => {
        $(#[$meta])*
        $vis struct $name<$a> {
            $($(#[$field_meta])* $field_vis $field: $ty,)*
        }

        impl<$a> $crate::store::rows::Columns for $name<$a> {
            const NAMES: &'static [&'static str] = &[$(stringify!($field)),*];

            fn bind<'b>(&'b self, values: &mut Vec<$crate::store::rows::Param<'b>>) {
                $(values.push(self.$field.into());)*
            }
        }
    };
}
pub(crate) use columns;

columns! {
    /// A row that is only an id, for `… IN (SELECT id FROM v)`.
    pub(crate) struct Id<'a> {
        pub(crate) id: &'a str,
    }
}

/// Bound parameters per statement, under SQLite's limit of 32,766 and PostgreSQL's of 65,535.
const MAX_PARAMS: usize = 30_000;

/// Runs `sql` once per chunk of `rows`, with `{values}` in it replaced by the chunk's
/// `(…), (…)` list and `{columns}` by the row type's column names, so a statement reads the
/// rows by name: `WITH v ({columns}) AS (VALUES {values}) UPDATE … FROM v WHERE … = v.id`, or
/// `INSERT INTO t ({columns}) VALUES {values}`. `sql` refers to the `shared` values as `$1`,
/// `$2`…. Returns every row the statements return (for `RETURNING`).
pub(crate) async fn write_rows<R: Columns>(
    tx: &mut Transaction<'_, Any>,
    sql: &str,
    shared: &[Param<'_>],
    rows: &[R],
) -> Result<Vec<AnyRow>, StoreError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let columns = R::NAMES.len();
    let sql = sql.replace("{columns}", &R::NAMES.join(", "));
    let mut values = Vec::with_capacity(rows.len() * columns);
    for row in rows {
        row.bind(&mut values);
    }
    let sqlite = tx.backend_name() == "SQLite";
    let per_statement = ((MAX_PARAMS - shared.len()) / columns.max(1)).max(1);
    let mut returned = Vec::new();
    let mut rest = values.as_slice();
    while !rest.is_empty() {
        // Chunks of a power-of-two size keep the number of distinct statements small, so each
        // stays in the connection's prepared-statement cache instead of being parsed again.
        let size = (1usize << (rest.len() / columns).ilog2()).min(prev_power_of_two(per_statement));
        let (chunk, remaining) = rest.split_at(size * columns);
        rest = remaining;
        let (statement, shared_first) = chunk_statement(&sql, sqlite, size, columns, shared.len());
        let params: Box<dyn Iterator<Item = &Param>> = if shared_first {
            Box::new(shared.iter().chain(chunk))
        } else {
            Box::new(chunk.iter().chain(shared))
        };
        let mut query = sqlx::query(&statement);
        for param in params {
            query = match *param {
                Param::Text(v) => query.bind(v),
                Param::Int(v) => query.bind(v),
            };
        }
        returned.extend(query.fetch_all(&mut **tx).await?);
    }
    Ok(returned)
}

/// The statement for a chunk of `rows` rows of `columns` each, and whether the `shared` values
/// are bound before the rows (PostgreSQL) or after them (SQLite).
fn chunk_statement(
    sql: &str,
    sqlite: bool,
    rows: usize,
    columns: usize,
    shared: usize,
) -> (String, bool) {
    if sqlite {
        // SQLite looks a named parameter up by walking a list, so thousands of `$n` cost
        // quadratic time to bind; anonymous `?` cost nothing. The rows are bound first as
        // `?`, and the shared values after them, renamed `$n` past the rows.
        let row = format!("({})", vec!["?"; columns].join(", "));
        let values = vec![row.as_str(); rows].join(", ");
        (
            shift_placeholders(sql, rows * columns).replace("{values}", &values),
            false,
        )
    } else {
        let values = (0..rows)
            .map(|row| {
                format!(
                    "({})",
                    super::placeholders(shared + row * columns + 1, columns)
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        (sql.replace("{values}", &values), true)
    }
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
