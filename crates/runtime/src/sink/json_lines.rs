//! JSON-lines sinks of the file mode: window metrics, dead letters or late records as one JSON
//! object per line in a file (or standard output). A stream without a file is only counted
//! (by the pipeline): it has no sink.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use anyhow::Context;
use ratings_core::{DeadLetter, WindowResult};

use super::{Carries, Sink};

/// A JSON-lines file, or standard output for `-`, carrying one of the pipeline's streams.
pub(crate) struct JsonLines {
    out: BufWriter<Box<dyn Write>>,
    carries: Carries,
}

impl JsonLines {
    /// Creates (truncates) `path`; `-` means standard output.
    pub(crate) fn create(path: &Path, carries: Carries) -> anyhow::Result<Box<JsonLines>> {
        let out: Box<dyn Write> = if path.as_os_str() == "-" {
            Box::new(io::stdout())
        } else {
            Box::new(
                File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
            )
        };
        Ok(Box::new(JsonLines {
            out: BufWriter::with_capacity(1 << 16, out),
            carries,
        }))
    }

    fn line(&mut self, json: &str) -> io::Result<()> {
        self.out.write_all(json.as_bytes())?;
        self.out.write_all(b"\n")
    }

    fn letter(&mut self, carries: Carries, letter: &DeadLetter<'_>) -> anyhow::Result<()> {
        if self.carries == carries {
            self.line(&letter.to_json())?;
        }
        Ok(())
    }

    /// What the file holds, for errors.
    fn holds(&self) -> &'static str {
        match self.carries {
            Carries::Windows => "window metrics",
            Carries::DeadLetters => "dead letters",
            Carries::Late => "late records",
        }
    }
}

impl Sink for JsonLines {
    fn window(&mut self, window: &WindowResult, processing_time_millis: i64) -> anyhow::Result<()> {
        if self.carries == Carries::Windows {
            self.line(&window.to_json(processing_time_millis))?;
        }
        Ok(())
    }
    fn dead_letter(&mut self, letter: &DeadLetter<'_>) -> anyhow::Result<()> {
        self.letter(Carries::DeadLetters, letter)
    }
    fn late(&mut self, letter: &DeadLetter<'_>) -> anyhow::Result<()> {
        self.letter(Carries::Late, letter)
    }
    fn end_batch(&mut self, _watermark: Option<i64>) -> anyhow::Result<()> {
        let holds = self.holds();
        self.out
            .flush()
            .with_context(|| format!("cannot flush {holds}"))
    }
    fn finish(&mut self, _final_flush: bool) -> anyhow::Result<()> {
        self.end_batch(None)
    }
}

/// The sink of an optional file: a JSON-lines file, or none (the records are only counted).
pub(crate) fn optional_file(
    path: Option<&Path>,
    carries: Carries,
) -> anyhow::Result<Option<Box<dyn Sink>>> {
    path.map(|path| JsonLines::create(path, carries).map(|s| s as Box<dyn Sink>))
        .transpose()
}
