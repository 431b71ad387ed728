//! What to do next: remediation hints (flags, scripts) for the errors the runtime and the
//! connectors report, which name what failed but not the command line that fixes it. Each hint
//! belongs to a typed error found in the error's chain.

use std::error::Error;

use ratings_connectors::checkpoint::CheckpointError;
use ratings_connectors::kafka::KafkaUnavailable;
use ratings_connectors::storage::PermanentStorageError;
use ratings_runtime::MetricsListen;
use ratings_runtime::RecoveryError;

/// The hint for `error`, when there is one.
pub fn for_error(error: &anyhow::Error) -> Option<&'static str> {
    error.chain().find_map(hint)
}

/// The hint for one error of a chain.
fn hint(cause: &(dyn Error + 'static)) -> Option<&'static str> {
    if let Some(error) = cause.downcast_ref::<CheckpointError>() {
        return Some(match error {
            CheckpointError::FutureVersion { .. } => {
                "run a newer ratings-stream, or start over with --reset-checkpoint"
            }
            _ => "restore the checkpoint file, or start over with --reset-checkpoint (outputs since that checkpoint may then be written again)",
        });
    }
    if let Some(error) = cause.downcast_ref::<RecoveryError>() {
        return Some(match error {
            RecoveryError::OtherTopic { .. } => {
                "use another --checkpoint-dir, or --reset-checkpoint"
            }
            RecoveryError::ParquetMissing { .. } => {
                "pass the --storage URL this checkpoint was written with"
            }
            RecoveryError::WindowsChanged { .. } => {
                "write the raw ratings (--storage) and their open windows are rebuilt from them on the next change; or --reset-windows: keep the offsets and start the windows empty; or change the window settings back"
            }
            RecoveryError::EngineRestore { .. } => {
                "restore the checkpoint file, or --reset-checkpoint"
            }
            _ => "restore the newer checkpoint, or --reset-checkpoint",
        });
    }
    if let Some(error) = cause.downcast_ref::<KafkaUnavailable>() {
        return Some(match error {
            KafkaUnavailable::Unreachable { .. } => "is the broker running and --bootstrap-servers right? (scripts/kafka.sh start for a local one)",
            KafkaUnavailable::TopicMissing { .. } => "create it (scripts/kafka.sh topics for the local broker), or pass the right --ratings-topic",
        });
    }
    if cause.downcast_ref::<PermanentStorageError>().is_some() {
        return Some(
            "check --storage / --checkpoint-storage (URL, bucket, folder) and the credentials (AWS_* variables for S3)",
        );
    }
    if cause.downcast_ref::<MetricsListen>().is_some() {
        return Some("choose another --metrics-address, or off");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `error` as the job reports it: under a context of its own.
    fn reported(error: impl Error + Send + Sync + 'static) -> anyhow::Error {
        anyhow::Error::new(error).context("the job failed")
    }

    #[test]
    fn each_typed_error_has_its_hint_under_any_context() {
        let topic = KafkaUnavailable::TopicMissing {
            topic: "ratings".into(),
            servers: "b:9092".into(),
            missing: "does not exist",
        };
        assert!(for_error(&reported(topic))
            .unwrap()
            .contains("--ratings-topic"));
        let restore = RecoveryError::EngineRestore {
            location: "checkpoint".into(),
            source: "bad snapshot".into(),
        };
        assert!(for_error(&reported(restore))
            .unwrap()
            .contains("--reset-checkpoint"));
        let windows = RecoveryError::WindowsChanged {
            location: "checkpoint".into(),
            difference: "added tumbling_15min".into(),
            lacking: "no raw output".into(),
        };
        assert!(for_error(&reported(windows))
            .unwrap()
            .contains("--reset-windows"));
        let other = RecoveryError::OtherTopic {
            location: "c".into(),
            found: "a".into(),
            expected: "b".into(),
        };
        assert!(for_error(&reported(other))
            .unwrap()
            .contains("--checkpoint-dir"));
    }

    #[test]
    fn errors_without_a_type_of_their_own_get_no_hint_whatever_their_text() {
        let text = anyhow::anyhow!("cannot reach Kafka at b:9092: topic does not exist on b");
        assert_eq!(for_error(&text), None);
    }
}
