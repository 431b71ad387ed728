//! The flags of `run`'s Kafka mode: topics, group, delivery, high availability, telemetry.

use clap::{Args, ValueEnum};
use ratings_settings::text;
use serde::Serialize;

use ratings_settings::flags::checked;

/// Output guarantee of the Kafka mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeliveryArg {
    /// Epochs: Kafka transactions, checkpointed state, Parquet published per epoch.
    ExactlyOnce,
    /// Outputs flushed, then consumer offsets committed; no state checkpoint.
    AtLeastOnce,
}

/// Options of the Kafka mode of `run`.
#[derive(Debug, Args, Serialize)]
pub struct StreamArgs {
    /// The output topic for window metrics.
    #[arg(long, default_value = "metrics", env = "RATINGS_METRICS_TOPIC")]
    pub metrics_topic: String,
    /// The topic for rejected records.
    #[arg(
        long,
        default_value = "ratings-dead-letter",
        env = "RATINGS_DEAD_LETTER_TOPIC"
    )]
    pub dead_letter_topic: String,
    /// The topic for late records (default: the dead-letter topic, with reason "late").
    #[arg(long, env = "RATINGS_LATE_TOPIC")]
    pub late_topic: Option<String>,
    /// Consumer group id (offsets are committed there).
    #[arg(long, default_value = "ratings-stream", env = "RATINGS_GROUP_ID")]
    pub group_id: String,
    /// Client id shown to the broker.
    #[arg(long, default_value = "ratings-stream", env = "RATINGS_CLIENT_ID")]
    pub client_id: String,
    /// Where a new processor starts reading: earliest, latest, or a time (RFC 3339 such as
    /// 2026-11-28T10:00:00Z, or epoch milliseconds; the first record at or after it per
    /// partition). An existing checkpoint (or, at-least-once, the group's committed offsets)
    /// always wins.
    #[arg(long, default_value = "earliest", value_parser = checked(text::start_from), env = "RATINGS_STARTING_OFFSETS")]
    pub starting_offsets: String,
    /// exactly-once: Kafka transactions per epoch with checkpointed state; a restart resumes
    /// with no output lost or duplicated. at-least-once: no checkpoint; a restart may repeat
    /// outputs and forgets open windows.
    #[arg(long, value_enum, default_value_t = DeliveryArg::ExactlyOnce, env = "RATINGS_DELIVERY")]
    pub delivery: DeliveryArg,
    /// Storage URL of the checkpoint (default: --storage, else the current folder).
    #[arg(long, env = "RATINGS_CHECKPOINT_STORAGE", hide_env_values = true)]
    pub checkpoint_storage: Option<String>,
    /// Checkpoint folder relative to the checkpoint storage.
    #[arg(long, default_value = ratings_connectors::checkpoint::DEFAULT_DIR, env = "RATINGS_CHECKPOINT_DIR")]
    pub checkpoint_dir: String,
    /// Delete the checkpoint and start over from --starting-offsets (outputs since the
    /// checkpoint's start may be written again). A flag only (no environment variable or
    /// settings key), so that a reset is never left behind in a deployment's settings.
    #[arg(long)]
    pub reset_checkpoint: bool,
    /// The window settings changed and no --storage keeps the raw ratings to rebuild the
    /// open windows from: keep the checkpoint's offsets (nothing is read or published again)
    /// and start the windows empty; the log says which minutes they miss. A flag only.
    #[arg(long)]
    pub reset_windows: bool,
    /// Transactional id of the output producer; one per processor. A processor started with
    /// the same id fences this one (default: the group id).
    #[arg(long, env = "RATINGS_TRANSACTIONAL_ID")]
    pub transactional_id: Option<String>,
    /// High availability: start as a standby and run the job only while holding the lease
    /// (a one-partition Kafka topic's consumer group shared by the processors of this job).
    /// Several processors with the same settings then fail over in seconds; they need a
    /// checkpoint all of them reach (HDFS, S3, or a folder they share).
    #[arg(long, env = "RATINGS_STANDBY")]
    pub standby: bool,
    /// The lease topic and group of --standby (created with one partition when missing;
    /// default: <group id>-lease).
    #[arg(long, env = "RATINGS_LEASE_TOPIC")]
    pub lease_topic: Option<String>,
    /// With --standby: a processor silent this long (killed, paused, cut off) loses the lease
    /// to a standby (at least the broker's group.min.session.timeout.ms, 6 s by default).
    #[arg(long, default_value = "6s", value_parser = checked(text::duration), env = "RATINGS_LEASE_SESSION_TIMEOUT")]
    pub lease_session_timeout: String,
    /// The Kafka transaction timeout: the broker aborts an epoch left open longer (e.g. storage
    /// down that long), and the processor then redoes it from the checkpoint. At most the
    /// broker's transaction.max.timeout.ms (15 min by default).
    #[arg(long, default_value = "5min", value_parser = checked(text::duration), env = "RATINGS_TRANSACTION_TIMEOUT")]
    pub transaction_timeout: String,
    /// Also end an epoch after this many input records (0: by time only).
    #[arg(long, default_value_t = 500_000, env = "RATINGS_COMMIT_RECORDS")]
    pub commit_records: u64,
    /// A window becoming final ends the epoch as soon as the input is caught up, so that it is
    /// readable within milliseconds — at most once per this floor ("off": windows wait for the
    /// commit interval).
    #[arg(long, default_value = "20ms", value_parser = checked(text::duration_or_off), env = "RATINGS_EMIT_COMMIT_FLOOR")]
    pub emit_commit_floor: String,
    /// Stop once every partition has been read to its end (then flush open windows unless
    /// --no-final-flush): for backfills, tests and benchmarks.
    #[arg(long, env = "RATINGS_EXIT_AT_END")]
    pub exit_at_end: bool,
    /// How often an epoch ends: outputs committed (readable with read_committed), state
    /// checkpointed, Parquet files due published. Bounds the output latency.
    #[arg(long, default_value = "1s", value_parser = checked(text::duration), env = "RATINGS_COMMIT_INTERVAL")]
    pub commit_interval: String,
    /// How often a progress line is printed.
    #[arg(long, default_value = "10s", value_parser = checked(text::duration), env = "RATINGS_PROGRESS_INTERVAL")]
    pub progress_interval: String,
    /// Print progress as JSON objects (fields of Spark's StreamingQueryProgress) instead of text.
    #[arg(long, env = "RATINGS_PROGRESS_JSON")]
    pub progress_json: bool,
    /// Progress lines warn (at WARN level) while the state holds more per-movie rows than this
    /// (very many distinct movie ids, e.g. a producer sending bad ids); "off": never.
    #[arg(long, default_value = "5000000", value_parser = checked(text::count_or_off), env = "RATINGS_STATE_WARN_ROWS")]
    pub state_warn_rows: String,
    /// Address of the Prometheus /metrics endpoint ("off" to disable; port 0 picks a free
    /// port, shown in the banner).
    #[arg(
        long,
        default_value = "127.0.0.1:9464",
        env = "RATINGS_METRICS_ADDRESS"
    )]
    pub metrics_address: String,
}
