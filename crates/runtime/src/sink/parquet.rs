//! The Parquet sink stage: the raw, tumbling and sliding datasets of
//! [`ratings_connectors::parquet::ParquetSink`], opened from [`ParquetSettings`].

use std::sync::Arc;

use ratings_connectors::parquet::{ParquetSink, Publishing, RollPolicy};
use ratings_connectors::storage::Storage;
use ratings_core::WindowSpec;

use crate::config::ParquetSettings;

/// The Parquet sink the settings ask for, if any, publishing files as `publishing` says; on
/// `shared` when given (the storage opened for the same URL), else on its own.
pub fn open(
    settings: &ParquetSettings,
    windows: &[WindowSpec],
    publishing: Publishing,
    shared: Option<&Arc<Storage>>,
) -> anyhow::Result<Option<ParquetSink>> {
    let Some(url) = &settings.storage else {
        return Ok(None);
    };
    let storage = match shared {
        Some(storage) => Arc::clone(storage),
        None => Arc::new(Storage::open_for_writing(url)?),
    };
    let roll = RollPolicy {
        max_bytes: settings.roll_size,
        max_age: settings.roll_interval,
    };
    Ok(Some(ParquetSink::new(
        storage,
        windows,
        &settings.writer_id,
        publishing,
        roll,
    )))
}

/// Banner line.
pub fn describe(settings: &ParquetSettings) -> String {
    match &settings.storage {
        Some(url) => format!(
            "{} (roll at {} MB or {})",
            ratings_core::secrets::without_user_info(url),
            settings.roll_size >> 20,
            humantime::format_duration(settings.roll_interval)
        ),
        None => "off".into(),
    }
}
