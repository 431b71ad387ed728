//! The rebuild of changed window types at a restart (docs/windows.md): how fast the raw dataset
//! is read back into the open windows of the new types, at an input rate of `rate` ratings per
//! second of event time.
//!
//! For each rate it writes, into a temporary folder, the raw dataset of an hour as the
//! processor would (one file per minute, each rating with the watermark it was read under),
//! restores an engine of the default windows whose watermark is 45 minutes into the hour (its
//! newest rating 55 minutes in, the default 10-minute delay), and times the rebuild that adding
//! a 15-minute tumbling window does: `ratings_runtime::add_raw_dataset` (the hour's files, the
//! row groups ending before the first needed minute left out) into core's `Rebuilder`.
//!
//! Usage: `cargo bench -p ratings-stream --bench rebuild -- [RATE,…]` (default 1000,100000).
//! Prints one line per rate: `rate=… state_minutes=… rows_in_dataset=… rows_read=… rows_used=…
//! seconds=… rows_read_per_second=… open_windows=… peak_rss_mb=…` (the peak resident memory
//! during the rebuild, on Linux).

use std::sync::Arc;
use std::time::Instant;

use ratings_connectors::parquet::{encode, partition_dir, raw_batch, RawRow, RAW_ROOT};
use ratings_connectors::storage::Storage;
use ratings_core::rebuild::Rebuilder;
use ratings_core::{Catalog, Engine, EngineConfig, Rating, WindowSpec};

/// The hour the dataset covers (2023-11-14T22:00:00Z).
const HOUR: i64 = 1_700_000_000 / 3600 * 3600;
/// Minutes of the hour written: the newest rating is this far in.
const MINUTES: i64 = 55;

fn main() {
    let rates: Vec<u64> = std::env::args()
        .skip(1)
        .find(|a| a != "--bench")
        .map(|list| list.split(',').filter_map(|r| r.parse().ok()).collect())
        .unwrap_or_else(|| vec![1_000, 100_000]);
    let catalog = ratings_runtime::catalog::load(None)
        .expect("the built-in catalog")
        .catalog;
    for rate in rates {
        println!("{}", bench(rate, &catalog));
    }
}

/// One rate's line.
fn bench(rate: u64, catalog: &Arc<Catalog>) -> String {
    let dir = std::env::temp_dir().join(format!("ratings-rebuild-bench-{rate}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let storage = Arc::new(Storage::open_for_writing(&dir.display().to_string()).unwrap());
    let written = write_hour(&storage, rate, catalog);

    let restored = restored_engine(catalog);
    let mut config = EngineConfig::default();
    config.windows.push(WindowSpec {
        size: 900,
        slide: 900,
    });
    // the peak resident set from here on (Linux: writing 5 resets it to the current one)
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let started = Instant::now();
    let mut rebuilder = Rebuilder::new(config, Arc::clone(catalog), &restored);
    let since = rebuilder.since();
    ratings_runtime::add_raw_dataset(&mut rebuilder, &storage, since).unwrap();
    let (engine, report) = rebuilder.finish();
    let seconds = started.elapsed().as_secs_f64();
    let peak_mb = peak_resident_kb() / 1024;
    let _ = std::fs::remove_dir_all(&dir);
    let state_minutes = (HOUR + MINUTES * 60 - since.unwrap()) / 60;
    format!(
        "rate={rate} state_minutes={state_minutes} rows_in_dataset={written} rows_read={} \
         rows_used={} seconds={seconds:.3} rows_read_per_second={:.0} open_windows={} \
         peak_rss_mb={peak_mb}",
        report.rows_read,
        report.rows_used,
        report.rows_read as f64 / seconds,
        engine.open_windows()
    )
}

/// `VmHWM` of this process (0 where there is none).
fn peak_resident_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|kb| kb.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Writes `rate` ratings a second for the hour's first [`MINUTES`], one file a minute, each
/// rating with the watermark it would have been read under; how many.
fn write_hour(storage: &Storage, rate: u64, catalog: &Catalog) -> u64 {
    let movies = catalog.movie_ids();
    let mut rng = fastrand::Rng::with_seed(28);
    let mut written = 0;
    for minute in 0..MINUTES {
        let mut rows = Vec::with_capacity(rate as usize * 60);
        for second in 0..60 {
            let t = HOUR + minute * 60 + second;
            for _ in 0..rate {
                rows.push(RawRow {
                    rating: Rating {
                        user_id: rng.i32(1..100_000),
                        movie_id: movies[rng.usize(..movies.len())],
                        rating: f64::from(rng.u8(1..=10)) / 2.0,
                        timestamp: t - rng.i64(0..=5),
                    },
                    watermark: Some(t - 600),
                });
            }
        }
        written += rows.len() as u64;
        let path = format!(
            "{RAW_ROOT}/{}/part-bench-{minute:04}.parquet",
            partition_dir(HOUR)
        );
        storage
            .publish(&path, encode(&[raw_batch(&rows)]).unwrap())
            .unwrap();
    }
    written
}

/// An engine of the default windows whose newest rating is [`MINUTES`] into the hour.
fn restored_engine(catalog: &Arc<Catalog>) -> Engine {
    let mut engine = Engine::new(EngineConfig::default(), Arc::clone(catalog));
    let newest = Rating {
        user_id: 1,
        movie_id: catalog.movie_ids()[0],
        rating: 4.0,
        timestamp: HOUR + MINUTES * 60,
    };
    engine.push(&newest, &mut Vec::new());
    engine
}
