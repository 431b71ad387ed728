//! Kafka through librdkafka (rust-rdkafka): connection settings, the reader (every partition of a topic) and the producer,
//! and the high-availability lease.

mod admin;
mod arrivals;
mod batch;
mod ends;
mod follower;
mod health;
mod inspect;
mod lease;
mod offsets;
mod producer;
mod reader;
mod settings;

pub use admin::ensure_topics;
pub use ends::Ends;
pub use follower::{FollowFrom, Followed, Follower};
pub use health::{DeliveryObserver, Health};
pub use inspect::Inspector;
pub use lease::{Lease, LeaseSettings};
pub use offsets::{committed_metadata, group_metadata, Start, StartFrom};
pub use producer::Producer;
pub use producer::{ProducerFatal, TxnError};
pub use rdkafka::consumer::ConsumerGroupMetadata;
pub use reader::{KafkaReader, KafkaRecord, Read};
pub use settings::{redacted, KafkaSettings, KafkaUnavailable};
