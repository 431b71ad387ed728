//! The bounded file source: reads JSON lines or MovieLens `ratings.csv` in file order, yielding each
//! record with its 1-based line number (the "offset" in dead-letter records).

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::{Bounded, Format, Next, SourceRecord};

/// A file read line by line; blank lines and a CSV header are skipped.
pub(crate) struct FileSource {
    path: PathBuf,
    format: Format,
    reader: BufReader<File>,
    line: Vec<u8>,
    number: i64,
}

impl FileSource {
    /// Opens `path`, whose records are in `format`.
    pub(crate) fn open(path: &Path, format: Format) -> anyhow::Result<FileSource> {
        let file =
            File::open(path).with_context(|| format!("cannot open input {}", path.display()))?;
        Ok(FileSource {
            path: path.to_path_buf(),
            format,
            reader: BufReader::with_capacity(1 << 20, file),
            line: Vec::with_capacity(256),
            number: 0,
        })
    }

    /// Reads the next line that holds a record; false at the end.
    fn read_line(&mut self) -> anyhow::Result<bool> {
        loop {
            self.line.clear();
            let read = self
                .reader
                .read_until(b'\n', &mut self.line)
                .with_context(|| {
                    format!(
                        "cannot read {} after line {}",
                        self.path.display(),
                        self.number
                    )
                })?;
            if read == 0 {
                return Ok(false);
            }
            self.number += 1;
            let payload = trim_line_end(&self.line);
            let header = self.format == Format::MovieLensCsv
                && self.number == 1
                && payload.starts_with(b"userId");
            if !payload.is_empty() && !header {
                return Ok(true);
            }
        }
    }
}

impl Bounded for FileSource {
    fn next_record(&mut self) -> anyhow::Result<Next<'_>> {
        if !self.read_line()? {
            return Ok(Next::End);
        }
        Ok(Next::Record(SourceRecord {
            payload: Some(trim_line_end(&self.line)),
            format: self.format,
            partition: 0,
            offset: self.number,
            timestamp: None,
        }))
    }

    fn name(&self) -> String {
        self.path.display().to_string()
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

    #[test]
    fn yields_records_with_line_numbers_skipping_blank_lines_and_the_header() {
        let path = std::env::temp_dir().join(format!("file-source-{}.csv", std::process::id()));
        std::fs::write(
            &path,
            "userId,movieId,rating,timestamp\r\n1,2,3.5,10\n\n4,5,1.0,20",
        )
        .unwrap();
        let mut source = FileSource::open(&path, Format::MovieLensCsv).unwrap();
        let mut read = Vec::new();
        while let Next::Record(record) = source.next_record().unwrap() {
            read.push((record.offset, record.payload.unwrap().to_vec()));
        }
        std::fs::remove_file(&path).unwrap();
        assert_eq!(
            read,
            [(2, b"1,2,3.5,10".to_vec()), (4, b"4,5,1.0,20".to_vec())]
        );
    }
}
