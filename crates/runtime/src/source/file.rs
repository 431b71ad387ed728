//! The bounded file source: reads JSON lines or MovieLens `ratings.csv` in file order, yielding each
//! record with its 1-based line number (the "offset" in dead-letter records).

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use anyhow::Context;

use super::{Format, SourceRecord};

/// Reads `path` line by line and calls `each` for every record (blank lines and a CSV header
/// are skipped). Stops at the first error `each` returns.
pub fn for_each_record(
    path: &Path,
    format: Format,
    mut each: impl FnMut(SourceRecord<'_>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let file = File::open(path).with_context(|| format!("cannot open input {}", path.display()))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut line = Vec::with_capacity(256);
    let mut number = 0i64;
    loop {
        line.clear();
        let read = reader
            .read_until(b'\n', &mut line)
            .with_context(|| format!("cannot read {} after line {number}", path.display()))?;
        if read == 0 {
            return Ok(());
        }
        number += 1;
        let payload = trim_line_end(&line);
        if payload.is_empty()
            || (format == Format::MovieLensCsv && number == 1 && payload.starts_with(b"userId"))
        {
            continue;
        }
        each(SourceRecord {
            payload: Some(payload),
            format,
            partition: 0,
            offset: number,
            timestamp: None,
        })?;
    }
}

fn trim_line_end(line: &[u8]) -> &[u8] {
    let end = line
        .iter()
        .rposition(|b| !matches!(b, b'\n' | b'\r'))
        .map_or(0, |i| i + 1);
    &line[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_format_by_extension() {
        assert_eq!(Format::for_path(Path::new("r.CSV")), Format::MovieLensCsv);
        assert_eq!(Format::for_path(Path::new("r.jsonl")), Format::Json);
    }

    #[test]
    fn trims_crlf() {
        assert_eq!(trim_line_end(b"a,b\r\n"), b"a,b");
        assert_eq!(trim_line_end(b"\r\n"), b"");
        assert_eq!(trim_line_end(b"x"), b"x");
    }
}
