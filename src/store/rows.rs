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

impl Param<'_> {
    /// NULL, of the same type: the padding of a batch binds the types its rows bind, so
    /// PostgreSQL sees one type per column and keeps the statement it prepared.
    fn null(self) -> Self {
        match self {
            Self::Text(_) => Self::Text(None),
            Self::Int(_) => Self::Int(None),
        }
    }
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

/// Runs `sql` with `{rows}` in it replaced by a `SELECT` of the rows and `{columns}` by the row
/// type's column names, so a statement reads the rows by name:
/// `WITH v ({columns}) AS ({rows}) UPDATE … FROM v WHERE … = v.id`, or
/// `INSERT INTO t ({columns}) {rows}`. `sql` refers to the `shared` values as `$1`, `$2`….
/// Returns every row the statement returns (for `RETURNING`).
///
/// One statement for the whole batch (up to the bound parameters' limit): each statement is a
/// round trip to PostgreSQL, and on SQLite two thread switches and a program of its own to
/// start, while the writer is held. The batch is padded to a power-of-two number of rows, so a
/// handful of statement texts serve every batch size and each stays prepared in the
/// connection's cache; a marker column, NULL in the padding, keeps the padding out of what the
/// statement reads.
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
    let sqlite = tx.backend_name() == "SQLite";
    let per_statement = prev_power_of_two(((MAX_PARAMS - shared.len()) / (columns + 1)).max(1));
    let mut returned = Vec::new();
    for chunk in rows.chunks(per_statement) {
        let size = chunk.len().next_power_of_two();
        let mut values = Vec::with_capacity(size * (columns + 1));
        for row in chunk {
            row.bind(&mut values);
            values.push(Param::Int(Some(1)));
        }
        let last = values[values.len() - columns - 1..].to_vec();
        for _ in chunk.len()..size {
            values.extend(last.iter().map(|param| param.null()));
        }
        let (statement, shared_first) = chunk_statement(&sql, sqlite, size, columns, shared.len());
        let params: Box<dyn Iterator<Item = &Param>> = if shared_first {
            Box::new(shared.iter().chain(&values))
        } else {
            Box::new(values.iter().chain(shared))
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

/// The statement for `rows` rows of `columns` each (and the marker), and whether the `shared`
/// values are bound before the rows (PostgreSQL) or after them (SQLite).
fn chunk_statement(
    sql: &str,
    sqlite: bool,
    rows: usize,
    columns: usize,
    shared: usize,
) -> (String, bool) {
    let (values, sql, shared_first) = if sqlite {
        // SQLite looks a named parameter up by walking a list, so thousands of `$n` cost
        // quadratic time to bind; anonymous `?` cost nothing. The rows are bound first as
        // `?`, and the shared values after them, renamed `$n` past the rows.
        let row = format!("({})", vec!["?"; columns + 1].join(", "));
        let values = vec![row.as_str(); rows].join(", ");
        (values, shift_placeholders(sql, rows * (columns + 1)), false)
    } else {
        let values = (0..rows)
            .map(|row| {
                format!(
                    "({})",
                    super::placeholders(shared + row * (columns + 1) + 1, columns + 1)
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        (values, sql.to_owned(), true)
    };
    // Both back ends name a `VALUES` list's columns `column1`, `column2`, ….
    let names = (1..=columns)
        .map(|i| format!("p.column{i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let select = format!(
        "SELECT {names} FROM (VALUES {values}) AS p WHERE p.column{} IS NOT NULL",
        columns + 1
    );
    (sql.replace("{rows}", &select), shared_first)
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
    use crate::store::Store;

    columns! {
        struct Reading<'a> {
            id: &'a str,
            value: i64,
            note: Option<&'a str>,
        }
    }

    /// A transaction on `store` with an empty `readings` table for [`Reading`]s.
    async fn with_readings_table(store: &Store) -> Transaction<'_, Any> {
        let mut tx = store.write.begin().await.expect("a transaction");
        sqlx::query(
            "CREATE TABLE readings (id TEXT PRIMARY KEY, value INTEGER NOT NULL, note TEXT)",
        )
        .execute(&mut *tx)
        .await
        .expect("a table");
        tx
    }

    #[tokio::test]
    async fn a_batch_writes_each_of_its_rows_once_and_none_of_the_padding() {
        let (_dir, store) = Store::in_temporary_file().await;
        let mut tx = with_readings_table(&store).await;

        // Five rows go as a statement of eight; the last row's note is NULL, as the padding's.
        let ids = ["a", "b", "c", "d", "e"];
        let rows: Vec<Reading> = ids
            .iter()
            .zip(1..)
            .map(|(id, value)| Reading {
                id,
                value,
                note: (value < 5).then_some("kept"),
            })
            .collect();
        let inserted = write_rows(
            &mut tx,
            "INSERT INTO readings ({columns}) {rows} RETURNING id",
            &[],
            &rows,
        )
        .await
        .expect("an insert");
        assert_eq!(inserted.len(), 5);

        // Three rows of an update, with a shared value, go as a statement of four.
        let moved: Vec<Id> = ["a", "c", "e"].iter().map(|id| Id { id }).collect();
        let updated = write_rows(
            &mut tx,
            "WITH v ({columns}) AS ({rows}) UPDATE readings SET value = value + $1 \
             WHERE id IN (SELECT id FROM v) RETURNING id",
            &[100.into()],
            &moved,
        )
        .await
        .expect("an update");
        assert_eq!(updated.len(), 3);

        let kept = Some("kept".to_owned());
        let stored: Vec<(String, i64, Option<String>)> =
            sqlx::query_as("SELECT id, value, note FROM readings ORDER BY id")
                .fetch_all(&mut *tx)
                .await
                .expect("a read");
        assert_eq!(
            stored,
            vec![
                ("a".to_owned(), 101, kept.clone()),
                ("b".to_owned(), 2, kept.clone()),
                ("c".to_owned(), 103, kept.clone()),
                ("d".to_owned(), 4, kept),
                ("e".to_owned(), 105, None),
            ]
        );
    }

    #[tokio::test]
    async fn a_batch_past_the_bound_parameters_limit_is_split_and_every_row_written() {
        let (_dir, store) = Store::in_temporary_file().await;
        let mut tx = with_readings_table(&store).await;
        // Three columns and the marker: 7,500 rows fit in the limit, so 10,000 go as 4,096,
        // 4,096, then 1,808 padded to 2,048. As one statement they would be 16,384 rows,
        // 65,536 parameters: past both back ends' limits.
        let ids: Vec<String> = (0..10_000).map(|i| format!("n{i:05}")).collect();
        let rows: Vec<Reading> = ids
            .iter()
            .zip(0..)
            .map(|(id, value)| Reading {
                id,
                value,
                note: None,
            })
            .collect();

        write_rows(
            &mut tx,
            "INSERT INTO readings ({columns}) {rows}",
            &[],
            &rows,
        )
        .await
        .expect("an insert");

        let written: (i64, i64, i64) =
            sqlx::query_as("SELECT COUNT(*), COUNT(DISTINCT id), SUM(value) FROM readings")
                .fetch_one(&mut *tx)
                .await
                .expect("a count");
        assert_eq!(written, (10_000, 10_000, (0..10_000).sum()));
    }

    #[test]
    fn placeholders_are_shifted_past_the_rows() {
        assert_eq!(
            shift_placeholders("SET a = $1, b = $2 WHERE c = $1 AND d = '$x'", 10),
            "SET a = $11, b = $12 WHERE c = $11 AND d = '$x'"
        );
    }
}
