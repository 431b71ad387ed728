//! The Kafka connection's flags, shared by every command that reaches the brokers.

use clap::Args;
use ratings_settings::text;
use serde::Serialize;

use ratings_settings::flags::{checked, Quiet};

/// Kafka connection settings.
#[derive(Debug, Args, Serialize)]
pub struct KafkaArgs {
    /// Kafka bootstrap servers.
    #[arg(
        long,
        default_value = "127.0.0.1:9092",
        env = "RATINGS_BOOTSTRAP_SERVERS"
    )]
    pub bootstrap_servers: String,
    /// Any librdkafka property, as KEY=VALUE (repeatable; the value is taken whole, `;`
    /// included), e.g. security.protocol=SASL_SSL. In the environment:
    /// RATINGS_KAFKA_PROPERTIES, one KEY=VALUE per line (or "k1=v1;k2=v2" when no value holds a
    /// `;`). Secret values are never printed.
    #[arg(long = "kafka-property", value_name = "KEY=VALUE", value_parser = Quiet(checked(text::key_value)))]
    pub kafka_properties: Vec<String>,
    /// RATINGS_KAFKA_PROPERTIES (see --kafka-property; the flags win over it).
    #[arg(
        long = "kafka-properties",
        hide = true,
        env = "RATINGS_KAFKA_PROPERTIES",
        hide_env_values = true,
        value_parser = Quiet(checked(text::property_list))
    )]
    pub kafka_properties_env: Option<String>,
    /// The input topic.
    #[arg(long, default_value = "ratings", env = "RATINGS_RATINGS_TOPIC")]
    pub ratings_topic: String,
}
