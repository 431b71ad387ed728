//! What to do next: remediation hints (flags, scripts) for the errors the runtime and the
//! connectors report, which name what failed but not the command line that fixes it.

use ratings_connectors::checkpoint::CheckpointError;
use ratings_connectors::storage::PermanentStorageError;
use ratings_runtime::delivery::exactly_once::recovery::RecoveryError;

/// The hint for `error`, when there is one.
pub fn for_error(error: &anyhow::Error) -> Option<&'static str> {
    for cause in error.chain() {
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
                _ => "restore the newer checkpoint, or --reset-checkpoint",
            });
        }
        if cause.downcast_ref::<PermanentStorageError>().is_some() {
            return Some(
                "check --storage / --checkpoint-storage (URL, bucket, folder) and the credentials (AWS_* variables for S3)",
            );
        }
        let text = cause.to_string();
        if text.contains("cannot reach Kafka") {
            return Some("is the broker running and --bootstrap-servers right? (scripts/kafka.sh start for a local one)");
        }
        if text.contains("does not exist on") {
            return Some("create it (scripts/kafka.sh topics for the local broker), or pass the right --ratings-topic");
        }
        if text.contains("for /metrics") {
            return Some("choose another --metrics-address, or off");
        }
        if text.contains("cannot restore the engine") {
            return Some("change the window settings back, or --reset-checkpoint");
        }
    }
    None
}
