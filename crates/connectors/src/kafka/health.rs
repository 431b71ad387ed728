//! A client context that remembers librdkafka's errors (broker down, authentication failures,
//! ...) so that progress reports and metrics can show them, counts failed deliveries, and tells
//! an observer how long each delivered record took.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::client::{Client, ClientContext};
use rdkafka::consumer::Consumer;
use rdkafka::consumer::ConsumerContext;
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::metadata::Metadata;
use rdkafka::producer::{DeliveryResult, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;

use super::settings::KafkaSettings;

/// Shared view of a client's health.
#[derive(Debug, Default)]
pub struct Health {
    errors: AtomicU64,
    last_error: Mutex<Option<String>>,
    /// The last error that retrying cannot mend: rejected credentials, an untrusted certificate.
    misconfiguration: Mutex<Option<String>>,
    failed_deliveries: AtomicU64,
    first_failed_delivery: Mutex<Option<String>>,
    delivered: OnceLock<DeliveryObserver>,
}

/// Called with the topic of each delivered record and the time from its send (its Kafka
/// timestamp) to the broker's acknowledgement.
pub struct DeliveryObserver(pub Box<ObserveDelivery>);

/// What a [`DeliveryObserver`] calls: topic, time from send to acknowledgement.
pub(super) type ObserveDelivery = dyn Fn(&str, Duration) + Send + Sync;

impl std::fmt::Debug for DeliveryObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DeliveryObserver")
    }
}

impl Health {
    /// Client errors reported so far (transport failures, etc.).
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    /// The most recent client error, if any.
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().expect("not poisoned").clone()
    }

    /// The last error that retrying cannot mend (rejected credentials, a certificate not
    /// trusted), if any.
    pub fn misconfiguration(&self) -> Option<String> {
        self.misconfiguration.lock().expect("not poisoned").clone()
    }

    /// Records an error seen outside the client callbacks.
    pub fn note_error(&self, error: &str) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let shown = ratings_core::secrets::scrub(error).into_owned();
        *self.last_error.lock().expect("not poisoned") = Some(shown);
    }

    /// Calls `observer` for every record delivered from now on (once per client; a second
    /// observer is refused).
    pub fn observe_deliveries(&self, observer: DeliveryObserver) -> bool {
        self.delivered.set(observer).is_ok()
    }

    /// Messages the producer gave up on.
    pub fn failed_deliveries(&self) -> u64 {
        self.failed_deliveries.load(Ordering::Relaxed)
    }

    /// Why the first failed delivery failed.
    pub fn first_failed_delivery(&self) -> Option<String> {
        self.first_failed_delivery
            .lock()
            .expect("not poisoned")
            .clone()
    }
}

/// The context installed in every client this crate creates.
#[derive(Clone, Default)]
pub(super) struct HealthContext(pub Arc<Health>);

impl ClientContext for HealthContext {
    fn error(&self, error: KafkaError, reason: &str) {
        // reaching the end of a partition is reported as an "error" but is not one
        if !matches!(error, KafkaError::PartitionEOF(_))
            && !reason.contains("reached end of partition")
        {
            let text = ratings_core::secrets::scrub(&format!("{error}: {reason}")).into_owned();
            if is_misconfiguration(&error) {
                *self.0.misconfiguration.lock().expect("not poisoned") = Some(text.clone());
            }
            self.0.note_error(&text);
        }
    }
}

/// Whether `error` says that the settings are wrong (rejected credentials, a failed TLS
/// handshake): connecting again would fail the same way.
fn is_misconfiguration(error: &KafkaError) -> bool {
    matches!(
        error.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::Authentication
                | RDKafkaErrorCode::SSL
                | RDKafkaErrorCode::SaslAuthenticationFailed
        )
    )
}

/// Asks the broker for the metadata of `topic` (or of every topic) until it answers, for at
/// most `within`; fails at once, with the cause, when the client reports settings that
/// retrying cannot mend (rejected credentials, an untrusted certificate): a misconfiguration
/// is an error within seconds, not a hang or a retry storm. `serve` hands the client's
/// pending error events to its context (a consumer's poll; nothing for a producer, whose own
/// thread polls).
pub(super) fn first_contact<C: ClientContext>(
    client: &Client<C>,
    health: &Health,
    serve: &dyn Fn(),
    settings: &KafkaSettings,
    topic: Option<&str>,
    within: Duration,
) -> anyhow::Result<Metadata> {
    let deadline = Instant::now() + within;
    loop {
        let error = match client.fetch_metadata(topic, CONTACT_STEP) {
            Ok(metadata) => return Ok(metadata),
            Err(error) => error,
        };
        serve();
        if let Some(cause) = health.misconfiguration() {
            anyhow::bail!(
                "cannot connect to Kafka at {}: {cause} (check the security settings: \
                 security.protocol, sasl.*, ssl.*)",
                settings.bootstrap_servers
            );
        }
        if Instant::now() >= deadline {
            return Err(settings
                .unreachable(within, health.last_error(), error)
                .into());
        }
    }
}

/// [`first_contact`] of a consumer not yet given partitions, whose errors go to `health`: its
/// poll between requests hands them to its context (and takes no record).
pub(super) fn consumer_first_contact<C: rdkafka::consumer::ConsumerContext>(
    consumer: &rdkafka::consumer::BaseConsumer<C>,
    health: &Health,
    settings: &KafkaSettings,
    topic: Option<&str>,
    within: Duration,
) -> anyhow::Result<Metadata> {
    let serve = || {
        let _ = consumer.poll(Duration::ZERO);
    };
    first_contact(consumer.client(), health, &serve, settings, topic, within)
}

/// One metadata request of [`first_contact`].
const CONTACT_STEP: Duration = Duration::from_millis(500);

impl ConsumerContext for HealthContext {}

impl ProducerContext for HealthContext {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Err((error, _)) => {
                if self.0.failed_deliveries.fetch_add(1, Ordering::Relaxed) == 0 {
                    *self.0.first_failed_delivery.lock().expect("not poisoned") =
                        Some(error.to_string());
                }
            }
            Ok(message) => {
                if let (Some(observer), Some(sent)) =
                    (self.0.delivered.get(), message.timestamp().to_millis())
                {
                    (observer.0)(message.topic(), since_epoch_millis(sent));
                }
            }
        }
    }
}

/// Wall-clock time elapsed since `millis` (epoch milliseconds); zero if it is in the future.
fn since_epoch_millis(millis: i64) -> Duration {
    let sent = UNIX_EPOCH + Duration::from_millis(millis.max(0) as u64);
    SystemTime::now().duration_since(sent).unwrap_or_default()
}
