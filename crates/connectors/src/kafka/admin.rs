//! Topic administration: create topics if they do not exist (used by tests and tools).

use anyhow::{bail, Context};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;

use super::settings::KafkaSettings;

/// How long the broker has to answer (an unreachable one is an error after this).
pub(super) const ANSWER_WITHIN: std::time::Duration = std::time::Duration::from_secs(5);

/// Creates each `(name, partitions)` topic with replication factor 1 unless it exists.
pub fn ensure_topics(settings: &KafkaSettings, topics: &[(&str, i32)]) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = settings
        .client_config(&[])
        .create()
        .context("cannot create a Kafka admin client")?;
    let new: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|(name, partitions)| NewTopic::new(name, *partitions, TopicReplication::Fixed(1)))
        .collect();
    let options = AdminOptions::new().request_timeout(Some(ANSWER_WITHIN));
    let results = futures_executor::block_on(admin.create_topics(&new, &options))
        .with_context(|| format!("cannot create topics on {}", settings.bootstrap_servers))?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => bail!("cannot create topic {topic}: {code}"),
        }
    }
    Ok(())
}
