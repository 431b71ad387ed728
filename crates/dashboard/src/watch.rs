//! The watcher: a background thread that scrapes the processors' endpoints every scrape
//! interval, evaluates the alert rules every second against the board's history and the
//! scrapes, and forgets windows older than the retention every minute (whatever feeds the
//! board).

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::board::{now_seconds, Board};
use crate::scrape;

/// How often the rules are evaluated.
const EVALUATE_EVERY: Duration = Duration::from_secs(1);
/// How long one scrape may take.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(2);
/// How often windows older than the retention are forgotten.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// Starts the watcher of `board`, scraping every `scrape_every`.
pub fn spawn(board: Arc<Board>, scrape_every: Duration) -> anyhow::Result<()> {
    std::thread::Builder::new()
        .name("dashboard-watch".into())
        .spawn(move || {
            let mut scraped: Option<Instant> = None;
            let mut pruned = Instant::now();
            loop {
                if scraped.is_none_or(|at| at.elapsed() >= scrape_every) {
                    scrape_all(&board);
                    scraped = Some(Instant::now());
                }
                if pruned.elapsed() >= PRUNE_EVERY {
                    board.prune();
                    pruned = Instant::now();
                }
                board.state().evaluate_alerts(now_seconds());
                std::thread::sleep(EVALUATE_EVERY);
            }
        })?;
    Ok(())
}

/// Scrapes every endpoint (outside the board's lock) and records the results.
fn scrape_all(board: &Board) {
    let urls: Vec<String> = board
        .state()
        .endpoints
        .iter()
        .map(|e| e.url.clone())
        .collect();
    for (i, url) in urls.iter().enumerate() {
        let result = scrape::fetch(url, SCRAPE_TIMEOUT);
        if let Some(endpoint) = board.state().endpoints.get_mut(i) {
            endpoint.record(now_seconds(), result);
        }
    }
}
