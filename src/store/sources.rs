//! The store's source files, read by tests that hold a rule over every statement the store
//! writes: a rule one forgotten statement would break.

use std::path::{Path, PathBuf};

/// Every source file of the store, in every folder, with its text.
pub(super) fn store_sources() -> Vec<(PathBuf, String)> {
    fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("store folder").flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, files);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src/store"),
        &mut files,
    );
    files
        .into_iter()
        .map(|file| {
            let text = std::fs::read_to_string(&file).expect("source");
            (file, text)
        })
        .collect()
}

/// SQLite cannot fold a view that is a join into the right side of a `LEFT JOIN`: it builds
/// `notifications` (requests joined to states) whole for each such statement, a scan of every
/// notification, so a statement run for each change costs more as the table grows (the webhook
/// outbox's did: 10 ms a statement at 5,000 notifications). Such a join names the table that
/// holds the columns it reads.
#[test]
fn no_statement_left_joins_the_notifications_view() {
    let needle = "LEFT JOIN notifications ";
    let found: Vec<String> = store_sources()
        .iter()
        .filter(|(file, _)| !file.ends_with("sources.rs"))
        .flat_map(|(file, text)| {
            text.lines()
                .filter(|line| line.contains(needle))
                .map(move |line| format!("{}: {}", file.display(), line.trim()))
        })
        .collect();
    assert!(found.is_empty(), "{found:#?}");
}
