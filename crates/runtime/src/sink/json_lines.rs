//! JSON-lines sinks of the file mode: window metrics, dead letters and late records as one JSON
//! object per line in a file (or standard output), or only counted.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use anyhow::Context;
use ratings_core::{DeadLetter, WindowResult};

use super::{RecordSink, WindowSink};

/// A JSON-lines file, or standard output for `-`.
pub struct JsonLines {
    out: BufWriter<Box<dyn Write>>,
}

impl JsonLines {
    /// Creates (truncates) `path`; `-` means standard output.
    pub fn create(path: &Path) -> anyhow::Result<JsonLines> {
        let out: Box<dyn Write> = if path.as_os_str() == "-" {
            Box::new(io::stdout())
        } else {
            Box::new(
                File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
            )
        };
        Ok(JsonLines {
            out: BufWriter::with_capacity(1 << 16, out),
        })
    }

    fn line(&mut self, json: &str) -> io::Result<()> {
        self.out.write_all(json.as_bytes())?;
        self.out.write_all(b"\n")
    }
}

impl WindowSink for JsonLines {
    fn write_window(
        &mut self,
        window: &WindowResult,
        processing_time_millis: i64,
    ) -> io::Result<()> {
        self.line(&window.to_json(processing_time_millis))
    }
    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

impl RecordSink for JsonLines {
    fn write_record(&mut self, record: &DeadLetter<'_>) -> io::Result<()> {
        self.line(&record.to_json())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Keeps nothing: records are only counted by the pipeline.
pub struct CountOnly;

impl RecordSink for CountOnly {
    fn write_record(&mut self, _: &DeadLetter<'_>) -> io::Result<()> {
        Ok(())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A record sink for an optional path: a JSON-lines file, or [`CountOnly`].
pub fn optional_record_file(path: Option<&Path>) -> anyhow::Result<Box<dyn RecordSink>> {
    Ok(match path {
        Some(path) => Box::new(JsonLines::create(path)?),
        None => Box::new(CountOnly),
    })
}
