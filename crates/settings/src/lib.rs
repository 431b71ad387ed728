//! `ratings-settings`: the settings of `ratings-stream`, one model for every command.
//!
//! [`Settings`] holds every setting under its key — the name of its environment variable
//! without `RATINGS_`, in lower case (`watermark_delay`, `bootstrap_servers`) — in sections
//! that the commands and the job read ([`Settings::job`] is the processor's view). It is
//! deserialised once from layers ([`layers`]): the settings file ([`file`]), then what the
//! environment and the flags give, over the model's defaults. [`text`] parses every form a
//! value takes, for the model and for the flags alike.

#![warn(unreachable_pub)]

pub mod file;
pub mod flags;
mod job;
pub mod layers;
mod sections;
pub mod text;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use job::{
    Delivery, FileJob, Format, Guarantee, HighAvailability, Input, JobConfig, KafkaConnection,
    KafkaJob,
};
pub use sections::{
    DashboardAccess, DashboardSettings, DashboardWatch, EngineSettings, FileSettings, InputFormat,
    LogFormat, ParquetSettings, TableFormat, TelemetrySettings,
    DEFAULT_MAX_EVENT_TIME_AHEAD_SECONDS, DEFAULT_STATE_WARN_ROWS,
};

/// Settings that only a flag sets (no environment variable, no key in the file):
/// `--reset-checkpoint` and `--reset-windows`, so that a reset is never left behind in a
/// deployment's settings.
pub const FLAG_ONLY: [&str; 2] = ["reset_checkpoint", "reset_windows"];

/// Every setting of every command, by key (sections are flattened: the keys are one namespace).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    #[serde(flatten)]
    pub engine: EngineSettings,
    /// The bounded file mode (`input`) and its outputs.
    #[serde(flatten)]
    pub file: FileSettings,
    /// The Kafka mode: connection, topics, group and delivery.
    #[serde(flatten)]
    pub kafka: KafkaJob,
    /// High availability: run as a standby (`standby`), with this lease.
    #[serde(deserialize_with = "text::de::from_str")]
    pub standby: bool,
    #[serde(flatten)]
    pub high_availability: HighAvailability,
    #[serde(flatten)]
    pub parquet: ParquetSettings,
    #[serde(flatten)]
    pub telemetry: TelemetrySettings,
    #[serde(flatten)]
    pub dashboard: DashboardSettings,
    pub log_format: LogFormat,
    /// The settings file these settings were read from, if any.
    #[serde(deserialize_with = "text::de::some")]
    pub config: Option<PathBuf>,
}

impl Settings {
    /// Every key of the model.
    pub fn keys() -> Vec<String> {
        match serde_json::to_value(Settings::default()) {
            Ok(serde_json::Value::Object(map)) => map.keys().cloned().collect(),
            _ => unreachable!("the settings serialise as a map"),
        }
    }

    /// The processor's job: a bounded file when `input` is set, else the Kafka mode.
    pub fn job(&self) -> JobConfig {
        let input = match &self.file.input {
            Some(path) => Input::File(self.file.job(path)),
            None => Input::Kafka(Box::new(KafkaJob {
                final_flush: !self.file.no_final_flush,
                high_availability: self.standby.then(|| self.high_availability.clone()),
                ..self.kafka.clone()
            })),
        };
        JobConfig {
            engine: self.engine.clone(),
            input,
            parquet: self.parquet.clone(),
            telemetry: self.telemetry.clone(),
        }
    }
}

/// Parses a starting position (see [`text::start_from`]).
pub fn parse_start_from(text: &str) -> Result<ratings_connectors::kafka::StartFrom, String> {
    text::start_from(text)
}

#[cfg(test)]
mod tests;
