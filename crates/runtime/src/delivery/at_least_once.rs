//! At-least-once delivery: every commit interval the outputs are flushed to Kafka, then the
//! consumer offsets are committed. No state is checkpointed: a restart may repeat outputs and
//! starts its windows empty.

use std::time::Duration;

use ratings_connectors::kafka::Producer;

use crate::source::kafka::KafkaSource;

use crate::pipeline::Pipeline;

/// How long a commit waits for the outputs before trying again on the next round.
const FLUSH_WAIT: Duration = Duration::from_secs(2);

/// Makes everything processed so far durable in Kafka, then commits the input offsets. While
/// the broker is unreachable the outputs stay queued (librdkafka retries them) and the commit
/// is left for a later round; only a delivery that finally failed is an error.
pub(crate) fn commit(
    pipeline: &mut Pipeline,
    producer: &Producer,
    source: &KafkaSource,
) -> anyhow::Result<()> {
    pipeline.end_batch()?;
    if !producer.flush_within(FLUSH_WAIT)? {
        return Ok(());
    }
    if let Err(error) = source.commit() {
        source.health().note_error(&format!("{error:#}"));
    }
    Ok(())
}
