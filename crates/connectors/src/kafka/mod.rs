//! Kafka through librdkafka (rust-rdkafka): connection settings, the source and the producer,
//! and the high-availability lease.

mod admin;
mod arrivals;
mod batch;
mod ends;
mod follower;
mod health;
mod inspect;
mod lease;
mod producer;
mod settings;
mod source;

pub use admin::ensure_topics;
pub use follower::{FollowFrom, Followed, Follower};
pub use health::{DeliveryObserver, Health};
pub use inspect::Inspector;
pub use lease::{Lease, LeaseSettings};
pub use producer::Producer;
pub use producer::{ProducerFatal, TxnError};
pub use rdkafka::consumer::ConsumerGroupMetadata;
pub use settings::{redacted, KafkaSettings};
pub use source::{
    committed_metadata, group_metadata, KafkaRecord, KafkaSource, PollOutcome, Start, StartFrom,
};
