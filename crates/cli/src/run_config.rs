//! `run`'s options as the runtime's [`JobConfig`]: the one place where flags, environment
//! variables and settings-file keys (all read by clap) become the plain configuration struct.

use ratings_runtime::config::{
    Delivery, FileJob, Format, Guarantee, HighAvailability, Input, JobConfig, KafkaJob,
    TelemetrySettings,
};

use ratings_runtime::pipeline::RecordLimits;

use crate::args::{DeliveryArg, FormatArg, RunArgs};

impl RunArgs {
    /// The runtime configuration these options describe.
    pub fn to_config(&self) -> JobConfig {
        let stream = &self.stream;
        let input = match &self.input {
            Some(path) => Input::File(FileJob {
                path: path.clone(),
                format: match self.format {
                    FormatArg::Auto => Format::for_path(path),
                    FormatArg::Json => Format::Json,
                    FormatArg::Csv => Format::MovieLensCsv,
                },
                metrics_file: self.metrics_file.clone(),
                dead_letter_file: self.dead_letter_file.clone(),
                late_file: self.late_file.clone(),
                batch_size: self.batch_size,
                final_flush: !self.no_final_flush,
            }),
            None => Input::Kafka(Box::new(KafkaJob {
                connection: self.kafka.connection(&stream.client_id),
                ratings_topic: self.kafka.ratings_topic.clone(),
                metrics_topic: stream.metrics_topic.clone(),
                dead_letter_topic: stream.dead_letter_topic.clone(),
                late_topic: stream.late_topic.clone(),
                group_id: stream.group_id.clone(),
                starting_offsets: stream.starting_offsets,
                exit_at_end: stream.exit_at_end,
                final_flush: !self.no_final_flush,
                delivery: Delivery {
                    guarantee: match stream.delivery {
                        DeliveryArg::ExactlyOnce => Guarantee::ExactlyOnce,
                        DeliveryArg::AtLeastOnce => Guarantee::AtLeastOnce,
                    },
                    commit_interval: stream.commit_interval,
                    commit_records: stream.commit_records,
                    emit_commit_floor: stream.emit_commit_floor,
                    transactional_id: stream.transactional_id.clone(),
                    transaction_timeout: stream.transaction_timeout,
                    checkpoint_storage: stream.checkpoint_storage.clone(),
                    checkpoint_dir: stream.checkpoint_dir.clone(),
                    reset_checkpoint: stream.reset_checkpoint,
                },
                high_availability: stream.standby.then(|| HighAvailability {
                    lease_topic: stream.lease_topic.clone(),
                    session_timeout: stream.lease_session_timeout,
                }),
            })),
        };
        JobConfig {
            engine: self.engine.settings(RecordLimits {
                max_bytes: self.max_record_bytes,
                max_ahead_seconds: self.max_event_time_ahead.0,
            }),
            input,
            parquet: self.parquet.settings(),
            telemetry: TelemetrySettings {
                progress_interval: stream.progress_interval,
                progress_json: stream.progress_json,
                metrics_address: (stream.metrics_address != "off")
                    .then(|| stream.metrics_address.clone()),
                summary_file: self.summary_file.clone(),
                state_warn_rows: stream.state_warn_rows.0,
            },
        }
    }
}
