//! Connection settings shared by every Kafka client: bootstrap servers plus any librdkafka
//! property (`security.protocol`, `sasl.*`, `ssl.*`, ...), and their redaction for logs.

use std::collections::BTreeMap;

use rdkafka::ClientConfig;

/// Bootstrap servers and extra librdkafka properties.
#[derive(Debug, Clone, Default)]
pub struct KafkaSettings {
    pub bootstrap_servers: String,
    /// Passed to every client as-is; they override the defaults set here.
    pub properties: BTreeMap<String, String>,
}

/// Property names whose values are secrets: never printed.
fn is_secret(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    [
        "password",
        "secret",
        "jaas",
        "token",
        "ssl.key.pem",
        "credentials",
    ]
    .iter()
    .any(|word| key.contains(word))
}

/// `value`, or `***` when `key` names a secret.
pub fn redacted<'a>(key: &str, value: &'a str) -> &'a str {
    if is_secret(key) {
        "***"
    } else {
        value
    }
}

/// Kafka cannot be used as configured: the cases an operator fixes by a setting or a service.
#[derive(Debug, thiserror::Error)]
pub enum KafkaUnavailable {
    /// The broker did not answer at start-up.
    #[error("cannot reach Kafka at {servers} within {seconds} s{seen}")]
    Unreachable {
        servers: String,
        seconds: u64,
        /// ` (last error: …)`, when the client reported one.
        seen: String,
        #[source]
        source: rdkafka::error::KafkaError,
    },
    /// The topic is not on the broker.
    #[error("topic {topic} {missing} on {servers}")]
    TopicMissing {
        topic: String,
        servers: String,
        /// How the broker said so: "not found" (not in its metadata) or "does not exist".
        missing: &'static str,
    },
}

impl KafkaSettings {
    /// The error when the broker did not answer within `timeout` at start-up (`seen`: the
    /// client's last error, if any).
    pub fn unreachable(
        &self,
        timeout: std::time::Duration,
        seen: Option<String>,
        source: rdkafka::error::KafkaError,
    ) -> KafkaUnavailable {
        KafkaUnavailable::Unreachable {
            servers: self.bootstrap_servers.clone(),
            seconds: timeout.as_secs(),
            seen: seen.map_or(String::new(), |e| format!(" (last error: {e})")),
            source,
        }
    }

    /// A client configuration with these settings over `defaults`.
    pub fn client_config(&self, defaults: &[(&str, &str)]) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.bootstrap_servers);
        // librdkafka backs off up to 10 s between reconnects (the Java client: 1 s); a request
        // queued meanwhile (a transaction commit) waits that long, and a restarted broker is
        // noticed that late
        config.set("reconnect.backoff.max.ms", "1000");
        for (key, value) in defaults {
            config.set(*key, *value);
        }
        for (key, value) in &self.properties {
            if is_secret(key) {
                // the client's errors may quote it
                ratings_core::secrets::register(value);
            }
            config.set(key, value);
        }
        config
    }

    /// One line describing the settings, secrets redacted.
    pub fn describe(&self) -> String {
        let mut parts = vec![self.bootstrap_servers.clone()];
        parts.extend(
            self.properties
                .iter()
                .map(|(k, v)| format!("{k}={}", redacted(k, v))),
        );
        parts.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted() {
        let settings = KafkaSettings {
            bootstrap_servers: "127.0.0.1:9092".into(),
            properties: BTreeMap::from([
                ("sasl.password".to_string(), "hunter2".to_string()),
                ("sasl.username".to_string(), "alice".to_string()),
                ("ssl.key.password".to_string(), "k".to_string()),
                (
                    "sasl.oauthbearer.client.secret".to_string(),
                    "s".to_string(),
                ),
            ]),
        };
        let line = settings.describe();
        assert!(line.contains("sasl.username=alice"), "{line}");
        assert!(
            !line.contains("hunter2") && !line.contains("=k ") && !line.ends_with("=s"),
            "{line}"
        );
        assert_eq!(line.matches("***").count(), 3, "{line}");
    }

    #[test]
    fn properties_override_defaults() {
        let settings = KafkaSettings {
            bootstrap_servers: "h:1".into(),
            properties: BTreeMap::from([("linger.ms".to_string(), "50".to_string())]),
        };
        let config = settings.client_config(&[("linger.ms", "5"), ("acks", "all")]);
        assert_eq!(config.get("linger.ms"), Some("50"));
        assert_eq!(config.get("acks"), Some("all"));
        assert_eq!(config.get("bootstrap.servers"), Some("h:1"));
    }
}
