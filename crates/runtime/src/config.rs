//! The job's configuration, from [`ratings_settings`] (the one settings model of every
//! command): re-exported here so that the runtime's modules name it as before.

pub use ratings_settings::{
    parse_start_from, Delivery, EngineSettings, FileJob, Format, Guarantee, HighAvailability,
    Input, JobConfig, KafkaConnection, KafkaJob, ParquetSettings, TelemetrySettings,
    DEFAULT_MAX_EVENT_TIME_AHEAD_SECONDS, DEFAULT_STATE_WARN_ROWS,
};
