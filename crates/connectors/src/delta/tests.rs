//! The Delta client on a local folder: tables created with the dataset's columns, epochs
//! committed once, a zombie's late commit refused, compaction and vacuum.

use std::sync::Arc;

use super::*;
use crate::parquet::{encode, raw_batch, RawRow, RAW_SCHEMA};
use ratings_core::Rating;

fn storage(name: &str) -> Arc<Storage> {
    let dir = std::env::temp_dir().join(format!("ratings-delta-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    Arc::new(Storage::open(dir.to_str().unwrap()).unwrap())
}

const HOUR: i64 = 1_700_000_000 / 3600 * 3600;
const ROOT: &str = "streams/ratings/raw";

/// Writes a data file of `rows` ratings into the table's folder (not in the table yet).
fn data_file(storage: &Storage, name: &str, rows: usize) -> NewFile {
    let rows: Vec<RawRow> = (0..rows)
        .map(|i| RawRow {
            rating: Rating {
                user_id: i as i32,
                movie_id: 1,
                rating: 4.0,
                timestamp: HOUR + i as i64,
            },
            watermark: None,
        })
        .collect();
    let bytes = encode(&[raw_batch(&rows)]).unwrap();
    let path = format!("date=2023-11-14/hour=22/{name}.parquet");
    let size = bytes.len() as u64;
    storage.publish(&format!("{ROOT}/{path}"), bytes).unwrap();
    NewFile {
        path,
        hour: HOUR,
        bytes: size,
        rows: Some(rows.len() as u64),
    }
}

#[test]
fn a_table_is_created_once_with_the_columns_and_partitions() {
    let storage = storage("create");
    let table = Table::open_or_create(&storage, ROOT, &RAW_SCHEMA).unwrap();
    assert_eq!(table.version(), Some(0));
    let again = Table::open_or_create(&storage, ROOT, &RAW_SCHEMA).unwrap();
    assert_eq!(again.version(), Some(0));
    let schema = again.table.snapshot().unwrap().schema();
    let names: Vec<_> = schema.fields().map(|f| f.name().clone()).collect();
    assert_eq!(
        names,
        [
            "userId",
            "movieId",
            "rating",
            "timestamp",
            "event_time",
            "watermark",
            "date",
            "hour"
        ]
    );
    let metadata = again.table.snapshot().unwrap().metadata().clone();
    assert_eq!(metadata.partition_columns(), &["date", "hour"]);
    assert!(Table::open(&storage, "streams/ratings/agg/tumbling")
        .unwrap()
        .is_none());
}

#[test]
fn an_epoch_is_committed_once_and_never_over_a_later_one() {
    let storage = storage("epochs");
    let mut table = Table::open_or_create(&storage, ROOT, &RAW_SCHEMA).unwrap();
    let first = data_file(&storage, "part-0-0000000001-0", 3);
    assert_eq!(
        table
            .commit_epoch("job", 1, std::slice::from_ref(&first))
            .unwrap(),
        EpochCommit::Made(1)
    );
    // the same epoch again (a retry after a crash): nothing added
    assert_eq!(
        table
            .commit_epoch("job", 1, std::slice::from_ref(&first))
            .unwrap(),
        EpochCommit::AlreadyThere(1)
    );
    // a zombie with a stale view of the table, behind a successor that committed epoch 2
    let mut zombie = Table::open(&storage, ROOT).unwrap().unwrap();
    let second = data_file(&storage, "part-0-0000000002-0", 2);
    assert_eq!(
        table.commit_epoch("job", 2, &[second]).unwrap(),
        EpochCommit::Made(2)
    );
    assert_eq!(
        zombie
            .commit_epoch("job", 2, std::slice::from_ref(&first))
            .unwrap(),
        EpochCommit::AlreadyThere(2)
    );
    // another application's epochs are its own
    assert_eq!(
        table.commit_epoch("other", 1, &[]).unwrap(),
        EpochCommit::Made(3)
    );
    assert_eq!(table.last_epoch("job").unwrap(), Some(2));
    let files = table.files().unwrap();
    assert_eq!(files.len(), 2);
    assert_eq!(files.iter().map(|f| f.rows).sum::<Option<u64>>(), Some(5));
    assert!(files
        .iter()
        .all(|f| f.partition == "date=2023-11-14/hour=22"));
}

#[test]
fn a_commit_losing_the_race_to_the_same_epoch_adds_nothing() {
    let storage = storage("race");
    let mut one = Table::open_or_create(&storage, ROOT, &RAW_SCHEMA).unwrap();
    let mut two = Table::open(&storage, ROOT).unwrap().unwrap();
    let file = data_file(&storage, "part-0-0000000001-0", 1);
    // both read the table before either commits: the loser sees the winner's txn in the
    // conflict check, reads again and finds the epoch there
    two.refresh().unwrap();
    assert_eq!(
        one.commit_epoch("job", 1, std::slice::from_ref(&file))
            .unwrap(),
        EpochCommit::Made(1)
    );
    let stale_properties =
        CommitProperties::default().with_application_transaction(Transaction::new("job", 1));
    let operation = DeltaOperation::StreamingUpdate {
        output_mode: OutputMode::Append,
        query_id: "job".into(),
        epoch_id: 1,
    };
    let error = two
        .commit(
            vec![Action::Add(add(&file, true))],
            stale_properties,
            operation,
        )
        .unwrap_err();
    assert!(concurrent_transaction(&error), "{error}");
    assert_eq!(
        two.commit_epoch("job", 1, &[file]).unwrap(),
        EpochCommit::AlreadyThere(1)
    );
    assert_eq!(two.files().unwrap().len(), 1);
}

#[test]
fn replaced_files_stay_until_vacuumed_after_the_retention() {
    let storage = storage("replace");
    let mut table = Table::open_or_create(&storage, ROOT, &RAW_SCHEMA).unwrap();
    let small: Vec<_> = (0..3)
        .map(|n| data_file(&storage, &format!("part-0-000000000{n}-0"), 2))
        .collect();
    table.append(&small).unwrap();
    let old = table.files().unwrap();
    let big = data_file(&storage, "part-0-compacted-0", 6);
    table.replace(HOUR, &old, &[big]).unwrap();
    let files = table.files().unwrap();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].rows, Some(6));
    // removed files stay for readers of older versions until the retention has passed
    let kept = table
        .vacuum(std::time::Duration::from_secs(3600), false)
        .unwrap();
    assert!(kept.is_empty(), "{kept:?}");
    let listed = |storage: &Storage| storage.list(&format!("{ROOT}/date=2023-11-14")).unwrap();
    assert_eq!(listed(&storage).len(), 4);
    let would = table.vacuum(std::time::Duration::ZERO, true).unwrap();
    assert_eq!(would.len(), 3, "{would:?}");
    assert_eq!(listed(&storage).len(), 4);
    let deleted = table.vacuum(std::time::Duration::ZERO, false).unwrap();
    assert_eq!(deleted.len(), 3);
    assert_eq!(listed(&storage).len(), 1);
    // an older version still lists the removed files (time travel until vacuum)
    assert_eq!(table.files().unwrap().len(), 1);
}

#[test]
fn partition_values_name_the_date_and_the_hour_of_day() {
    let values = partition_values(HOUR);
    assert_eq!(values["date"].as_deref(), Some("2023-11-14"));
    assert_eq!(values["hour"].as_deref(), Some("22"));
    let midnight = partition_values(HOUR + 2 * 3600);
    assert_eq!(midnight["date"].as_deref(), Some("2023-11-15"));
    assert_eq!(midnight["hour"].as_deref(), Some("0"));
}
