//! Feeds of the board: the windows topic, read by a background thread that backfills the
//! history from the topic (records of the retention period), then follows it live, and keeps
//! trying when the broker or the topic is away (the page shows why).

use std::sync::Arc;
use std::time::Duration;

use ratings_connectors::kafka::{FollowFrom, Followed, Follower, KafkaSettings};

use crate::board::{now_seconds, Board};

/// Pause before connecting again after a failure.
const RETRY: Duration = Duration::from_secs(2);
/// Longest wait for a record before looking at the clock again.
const POLL: Duration = Duration::from_millis(200);

/// Where the windows come from.
#[derive(Debug, Clone)]
pub struct TopicFeed {
    pub settings: KafkaSettings,
    pub topic: String,
    /// How far back the backfill reads.
    pub history: Duration,
    /// Windows ending further than this many seconds after the wall clock are counted and
    /// ignored (a bad record must not push the real windows out of the history); `None`: no
    /// bound, for streams that run ahead of the clock on purpose.
    pub max_ahead: Option<i64>,
}

impl TopicFeed {
    /// How the page names this feed.
    pub fn describe(&self) -> String {
        format!(
            "kafka {} · topic {}",
            self.settings.bootstrap_servers, self.topic
        )
    }

    /// Follows the topic into `board` from a background thread, for as long as the process runs.
    pub fn spawn(self, board: Arc<Board>) -> anyhow::Result<()> {
        std::thread::Builder::new()
            .name("dashboard-feed".into())
            .spawn(move || loop {
                if let Err(error) = self.follow(&board) {
                    board.feed(|f| {
                        f.connected = false;
                        f.error = Some(format!("{error:#}"));
                    });
                    tracing::warn!("dashboard: {error:#}; trying again");
                }
                std::thread::sleep(RETRY);
            })?;
        Ok(())
    }

    /// Connects and reads until a failure.
    fn follow(&self, board: &Board) -> anyhow::Result<()> {
        let since = (now_seconds() - self.history.as_secs() as i64) * 1000;
        let mut follower = Follower::connect(&self.settings, &self.topic, FollowFrom::Time(since))?;
        board.feed(|f| {
            f.connected = true;
            f.error = None;
        });
        loop {
            let flowing = match follower.poll(POLL) {
                Followed::Record(value, _) => {
                    board.offer(&value);
                    true
                }
                Followed::Nothing => false,
                Followed::Error(error) => {
                    board.feed(|f| f.error = Some(error));
                    false
                }
            };
            self.note_progress(board, &follower, flowing);
        }
    }

    /// Marks the backfill done, and clears an error once records flow again.
    fn note_progress(&self, board: &Board, follower: &Follower, flowing: bool) {
        let caught_up = follower.caught_up();
        let mut state = board.state();
        if flowing {
            state.feed.error = None;
        }
        if caught_up && !state.feed.backfilled {
            state.feed.backfilled = true;
            tracing::info!(
                "dashboard: history read from {} ({} windows)",
                self.topic,
                state.history.len()
            );
        }
    }
}
