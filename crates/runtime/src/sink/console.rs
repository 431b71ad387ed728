//! The console sink of the demo: each window as a row of a table on standard output, with its
//! count, average, p50, p95 and top three movies (titles made safe for a terminal).

use std::io::{self, Write};

use ratings_core::time::rfc3339_seconds;
use ratings_core::WindowResult;

use super::Sink;

/// Prints windows as rows of a table on standard output (sliding ones only when asked).
pub(crate) struct ConsoleTable {
    show_sliding: bool,
    rows: u64,
}

impl ConsoleTable {
    /// A table of tumbling windows, and of sliding ones with `show_sliding`.
    pub(crate) fn new(show_sliding: bool) -> Box<ConsoleTable> {
        Box::new(ConsoleTable {
            show_sliding,
            rows: 0,
        })
    }
}

impl Sink for ConsoleTable {
    fn window(&mut self, w: &WindowResult, _processing_time: i64) -> anyhow::Result<()> {
        if !self.show_sliding && !w.window_type.starts_with("tumbling") {
            return Ok(());
        }
        let mut out = io::stdout().lock();
        if self.rows.is_multiple_of(20) {
            writeln!(
                out,
                "{:<20} {:<18} {:>6} {:>5} {:>4} {:>4}  top movies (ratings)",
                "window start (UTC)", "type", "count", "avg", "p50", "p95"
            )?;
        }
        self.rows += 1;
        let top: Vec<String> = w
            .metrics
            .top_movies
            .iter()
            .take(3)
            .map(|m| {
                format!(
                    "{} ({})",
                    shorten(m.title.as_deref().unwrap_or("?"), 30),
                    m.count
                )
            })
            .collect();
        let start = rfc3339_seconds(w.window_start).replace('T', " ");
        writeln!(
            out,
            "{:<20} {:<18} {:>6} {:>5.2} {:>4.1} {:>4.1}  {}",
            start.trim_end_matches('Z'),
            w.window_type,
            w.metrics.count,
            w.metrics.avg_rating,
            w.metrics.p50_rating,
            w.metrics.p95_rating,
            top.join(" · ")
        )?;
        Ok(())
    }

    fn end_batch(&mut self, _watermark: Option<i64>) -> anyhow::Result<()> {
        Ok(io::stdout().flush()?)
    }

    fn finish(&mut self, _final_flush: bool) -> anyhow::Result<()> {
        Ok(io::stdout().flush()?)
    }
}

/// `text` for a terminal, cut to `max` characters with an ellipsis: control characters (an
/// escape sequence in a title could rewrite the screen) are shown escaped.
fn shorten(text: &str, max: usize) -> String {
    let shown: Vec<char> = text
        .chars()
        .flat_map(|c| {
            let escaped: Vec<char> = match c.is_control() {
                true => c.escape_default().collect(),
                false => vec![c],
            };
            escaped
        })
        .collect();
    if shown.len() <= max {
        shown.into_iter().collect()
    } else {
        shown[..max - 1].iter().chain(['…'].iter()).collect()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_title_is_shown_with_its_control_characters_escaped_and_cut() {
        assert_eq!(super::shorten("Heat (1995)", 30), "Heat (1995)");
        assert_eq!(super::shorten("A\u{1b}[2JB", 30), "A\\u{1b}[2JB");
        assert_eq!(super::shorten("abcdef", 4), "abc…");
    }
}
