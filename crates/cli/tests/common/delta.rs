//! Helpers of the Delta tests: a table's files as its latest version lists them, and the
//! checks of a log written by an exactly-once processor, read commit by commit.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use ratings_connectors::delta::Table;
use ratings_connectors::storage::Storage;
use serde_json::Value;

use super::eos::{audit, Outputs};

/// The tables of a job's datasets.
pub const TABLES: [&str; 3] = [
    "streams/ratings/raw",
    "streams/ratings/agg/tumbling",
    "streams/ratings/agg/sliding",
];

/// The data files (relative to the storage base) of the Delta table at `root`, as its latest
/// version lists them; `None` when `root` is no Delta table.
pub fn table_files(storage: &Storage, root: &str) -> Option<Vec<String>> {
    let log = storage
        .list(&format!("{root}/_delta_log"))
        .unwrap_or_default();
    if log.is_empty() {
        return None;
    }
    let storage = Arc::new(Storage::open(storage.url()).unwrap());
    let table = Table::open(&storage, root).unwrap()?;
    let files = table.files().unwrap();
    Some(
        files
            .into_iter()
            .map(|f| format!("{root}/{}", f.path))
            .collect(),
    )
}

/// One commit of a table's log: its version and actions.
struct Commit {
    version: u64,
    actions: Vec<Value>,
}

/// Every commit of the table at `root`, oldest first (read from the JSON files: a log that
/// kept them all since the table was created).
fn commits(storage: &Storage, root: &str) -> Vec<Commit> {
    let mut commits: Vec<Commit> = storage
        .list(&format!("{root}/_delta_log"))
        .unwrap()
        .into_iter()
        .filter_map(|path| {
            let name = path.rsplit('/').next()?;
            let version = name.strip_suffix(".json")?.parse().ok()?;
            let text = String::from_utf8(storage.read(&path).unwrap()).unwrap();
            let actions = text
                .lines()
                .map(|line| serde_json::from_str(line).unwrap())
                .collect();
            Some(Commit { version, actions })
        })
        .collect();
    commits.sort_by_key(|c| c.version);
    let versions: Vec<u64> = commits.iter().map(|c| c.version).collect();
    assert_eq!(
        versions,
        (0..commits.len() as u64).collect::<Vec<_>>(),
        "{root}: a gap in the log"
    );
    commits
}

/// Per version of the table at `root`: its operation and the rows of the table at that
/// version (by the `numRecords` of the files added and removed).
pub fn rows_by_version(storage: &Storage, root: &str) -> Vec<(u64, String, u64)> {
    let mut rows: BTreeMap<String, u64> = BTreeMap::new();
    let mut out = Vec::new();
    for commit in commits(storage, root) {
        let mut operation = String::new();
        for action in &commit.actions {
            if let Some(add) = action.get("add") {
                let stats: Value = serde_json::from_str(add["stats"].as_str().unwrap()).unwrap();
                let path = add["path"].as_str().unwrap().to_string();
                rows.insert(path, stats["numRecords"].as_u64().unwrap());
            } else if let Some(remove) = action.get("remove") {
                rows.remove(remove["path"].as_str().unwrap());
            } else if let Some(info) = action.get("commitInfo") {
                operation = info["operation"].as_str().unwrap_or_default().to_string();
            }
        }
        out.push((commit.version, operation, rows.values().sum()));
    }
    out
}

/// What the log of the table at `root` says an exactly-once processor (transactional id
/// `app_id`) did, checked: each epoch committed once, epochs strictly increasing, each epoch's
/// commit adding only files named after that epoch, no file added twice, every file of the
/// latest version present, every data file of an epoch in the folder part of the table. The
/// epochs committed, in order.
pub fn assert_exact_log(url: &str, root: &str, app_id: &str) -> Vec<u64> {
    let storage = Storage::open(url).unwrap();
    let mut epochs = Vec::new();
    let mut added = BTreeSet::new();
    for commit in commits(&storage, root) {
        let txn = commit.actions.iter().find_map(|a| a.get("txn"));
        let adds: Vec<&str> = commit
            .actions
            .iter()
            .filter_map(|a| a.get("add")?.get("path")?.as_str())
            .collect();
        for path in &adds {
            assert!(
                added.insert(path.to_string()),
                "{root}: {path} added twice (version {})",
                commit.version
            );
        }
        let Some(txn) = txn.filter(|t| t["appId"] == app_id) else {
            continue;
        };
        let epoch = txn["version"].as_u64().unwrap();
        assert!(
            epochs.last().is_none_or(|last| *last < epoch),
            "{root}: epoch {epoch} committed after epoch {:?} (version {})",
            epochs.last(),
            commit.version
        );
        epochs.push(epoch);
        let tag = format!("-{epoch:010}-");
        for path in &adds {
            assert!(
                path.contains(&tag),
                "{root}: epoch {epoch}'s commit adds {path}"
            );
        }
    }
    let listed: BTreeSet<String> = storage
        .list(root)
        .unwrap()
        .into_iter()
        .filter(|p| p.ends_with(".parquet") && !p.contains("/_delta_log/"))
        .collect();
    for file in table_files(&storage, root).unwrap() {
        assert!(
            listed.contains(&file),
            "{root}: {file} is in the table but not in the folder"
        );
    }
    let in_log: BTreeSet<String> = added.iter().map(|p| format!("{root}/{p}")).collect();
    for file in listed.iter().filter(|f| !f.contains("-compacted-")) {
        assert!(
            in_log.contains(file),
            "{root}: {file} is in the folder but no commit added it"
        );
    }
    epochs
}

/// Checks the logs of every table (see [`assert_exact_log`]); the epochs each committed.
pub fn assert_exact_logs(url: &str, app_id: &str) -> BTreeMap<&'static str, Vec<u64>> {
    TABLES
        .iter()
        .map(|root| (*root, assert_exact_log(url, root, app_id)))
        .collect()
}

/// Checks every table's log of an exactly-once run (see `common::delta::assert_exact_log`),
/// and that `verify` finds each table agreeing with the checkpoint.
pub fn assert_exact_delta_logs(outputs: &Outputs, input: &str) {
    let epochs = assert_exact_logs(&outputs.storage, &outputs.topics.group);
    let (_, report) = audit(outputs, input, &[]);
    for (table, epochs) in epochs {
        assert!(!epochs.is_empty(), "{table}: no epoch committed");
        eprintln!("{table}: epochs {epochs:?} committed");
        let last = epochs.last().unwrap();
        let line = report
            .lines()
            .find(|l| l.contains(&format!("delta {table} ")));
        assert!(
            line.is_some_and(|l| l.starts_with("PASS") && l.contains(&format!("epoch {last} of"))),
            "{table}: {report}"
        );
    }
}

/// Whether the processors of a test write Delta tables (`RATINGS_TABLE_FORMAT=delta`, which
/// every process the test starts inherits).
pub fn delta_from_env() -> bool {
    std::env::var("RATINGS_TABLE_FORMAT").is_ok_and(|format| format == "delta")
}
