//! The files an epoch's record gives the Delta tables: sizes and rows as recorded, or, for an
//! epoch an older version recorded, the sizes looked up and the rows left unknown.

use super::*;

const DATA: &str = "streams/ratings/raw/date=2026-12-05/hour=7/part-0-3-0.parquet";
const MARKER: &str = "streams/ratings/raw/date=2026-12-05/hour=7/_SUCCESS";

/// A storage on a fresh folder holding the epoch's data file (moved into place, its marker not
/// written yet: the tables commit before the markers).
fn storage(name: &str) -> Storage {
    let dir = std::env::temp_dir().join(format!("ratings-published-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let storage = Storage::open_for_writing(dir.to_str().unwrap()).unwrap();
    storage.publish(DATA, vec![7u8; 1234]).unwrap();
    storage
}

/// An epoch record as JSON, the way a checkpoint holds it.
fn epoch(sizes: &str) -> EpochOffsets {
    serde_json::from_str(&format!(
        r#"{{"epoch": 3, "topic": "ratings", "next_offsets": {{"0": 10}}, "watermark": 1,
            "publications": ["{DATA}", "{MARKER}"]{sizes}}}"#
    ))
    .unwrap()
}

fn file(path: &str, bytes: u64, rows: Option<u64>) -> Published {
    Published {
        path: path.into(),
        bytes,
        rows,
    }
}

#[test]
fn an_epochs_recorded_sizes_and_rows_are_used_as_they_are() {
    let storage = storage("recorded");
    let offsets = epoch(r#", "sizes": [{"bytes": 99, "rows": 5}, {"bytes": 0, "rows": 0}]"#);
    let files = published(&storage, &offsets).unwrap();
    assert_eq!(
        files,
        vec![file(DATA, 99, Some(5)), file(MARKER, 0, Some(0))]
    );
}

#[test]
fn an_older_versions_epoch_gets_its_files_sizes_from_the_storage_and_no_row_count() {
    let storage = storage("older");
    let offsets = epoch("");
    assert!(offsets.sizes.is_empty(), "the record of an older version");
    let files = published(&storage, &offsets).unwrap();
    assert_eq!(
        files,
        vec![
            file(DATA, 1234, None),
            // not written yet, and not looked up
            file(MARKER, 0, None)
        ]
    );
}
