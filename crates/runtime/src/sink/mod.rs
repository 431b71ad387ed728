//! Sinks: where the pipeline's outputs go. Windows go to a [`WindowSink`], rejected and late
//! records to a [`RecordSink`]: [`json_lines`] files (or standard output, or only counted) in
//! the file mode, [`topic`]s in the Kafka mode; raw ratings and final windows also go to the
//! [`parquet`] datasets when a storage is configured.

pub mod json_lines;
pub mod parquet;
pub mod topic;

use std::io;

use ratings_connectors::parquet::ParquetSink;
use ratings_core::{DeadLetter, WindowResult};

/// Receives emitted windows.
pub trait WindowSink {
    fn write_window(
        &mut self,
        window: &WindowResult,
        processing_time_millis: i64,
    ) -> io::Result<()>;
    fn flush(&mut self) -> io::Result<()>;
}

/// Receives rejected or late records.
pub trait RecordSink {
    fn write_record(&mut self, record: &DeadLetter<'_>) -> io::Result<()>;
    fn flush(&mut self) -> io::Result<()>;
}

/// Where the pipeline's outputs go.
pub struct Outputs {
    pub windows: Box<dyn WindowSink>,
    pub dead_letters: Box<dyn RecordSink>,
    pub late: Box<dyn RecordSink>,
    /// Raw ratings and final windows as Parquet, when configured.
    pub parquet: Option<ParquetSink>,
}
