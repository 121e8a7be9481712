//! What a database holds, table by table, to show that a refused request changed nothing: each
//! table's rows as text, sorted (SQLite quotes each value, PostgreSQL casts each row to text),
//! compared before and after.

use std::collections::BTreeMap;

use sqlx::Row;

/// Every table's rows (but the migrations' own), as one text per table.
pub async fn tables(url: &str) -> BTreeMap<String, String> {
    let pool = crate::database::connect(url).await;
    let sqlite = url.starts_with("sqlite:");
    let names_sql = if sqlite {
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite%' \
         AND name <> '_sqlx_migrations' ORDER BY name"
    } else {
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' \
         AND table_name <> '_sqlx_migrations' ORDER BY 1"
    };
    let names: Vec<String> = sqlx::query(names_sql)
        .fetch_all(&pool)
        .await
        .expect("table names")
        .iter()
        .map(|row| row.get::<String, _>(0))
        .collect();
    let mut contents = BTreeMap::new();
    for name in names {
        let rows_sql = if sqlite {
            let columns: Vec<String> = sqlx::query(&format!(
                "SELECT name FROM pragma_table_info('{name}') ORDER BY cid"
            ))
            .fetch_all(&pool)
            .await
            .expect("columns")
            .iter()
            .map(|row| format!("quote(\"{}\")", row.get::<String, _>(0)))
            .collect();
            format!(
                "SELECT COALESCE(group_concat(r, char(10)), '') FROM \
                 (SELECT {} AS r FROM \"{name}\" ORDER BY 1)",
                columns.join(" || '|' || ")
            )
        } else {
            format!(
                "SELECT COALESCE(string_agg(t::text, E'\\n' ORDER BY t::text), '') FROM \"{name}\" t"
            )
        };
        let rows: String = sqlx::query(&rows_sql)
            .fetch_one(&pool)
            .await
            .unwrap_or_else(|e| panic!("rows of {name}: {e}"))
            .get(0);
        contents.insert(name, rows);
    }
    pool.close().await;
    contents
}

/// The names of the tables whose rows differ between two snapshots.
pub fn changed(before: &BTreeMap<String, String>, after: &BTreeMap<String, String>) -> Vec<String> {
    let mut names: Vec<&String> = before.keys().chain(after.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .filter(|name| before.get(*name) != after.get(*name))
        .cloned()
        .collect()
}
