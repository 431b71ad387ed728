//! Alert rules: which signal, which side of a threshold, for how long — with the defaults the
//! dashboard ships and their settings-file form (`[[alerts.rules]]` entries replace a default of
//! the same name).

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What a rule watches; each is measured once per evaluation (see `Signals`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    /// Ratings per minute read by the scraped processors over the last `over`; without any,
    /// ratings per minute in the tumbling windows published during it.
    RatingsPerMinute,
    /// Wall clock minus the latest window end, seconds.
    Freshness,
    /// The processors' output latency (window final → committed), p99 over the last scrape
    /// interval, seconds.
    OutputLatency,
    /// Dead letters (rejected and late records) per record read, over the last `over`.
    DeadLetterShare,
    /// Kafka client errors of the processors during the last `over`.
    KafkaErrors,
    /// Failed (retried) storage operations of the processors during the last `over`.
    StorageRetries,
}

/// Which side of the threshold is bad.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Comparison {
    Above,
    Below,
}

/// One rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub name: String,
    pub signal: Signal,
    pub when: Comparison,
    pub threshold: f64,
    /// How long the condition must hold before the alert fires.
    #[serde(rename = "for", with = "humantime_serde")]
    pub hold: Duration,
    /// The span of rates and increases (ignored by the other signals).
    #[serde(default = "default_over", with = "humantime_serde")]
    pub over: Duration,
    #[serde(default)]
    pub severity: Severity,
    /// What the alert means and what to do, shown with it.
    #[serde(default)]
    pub summary: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    #[default]
    Warning,
    Critical,
}

fn default_over() -> Duration {
    Duration::from_secs(300)
}

impl Rule {
    /// Whether `value` is on the bad side of the threshold.
    pub fn breached(&self, value: f64) -> bool {
        match self.when {
            Comparison::Above => value > self.threshold,
            Comparison::Below => value < self.threshold,
        }
    }
}

/// The rules the dashboard ships (the same as `deploy/prometheus/ratings-stream-alerts.yml`).
pub fn defaults() -> Vec<Rule> {
    let rule = |name: &str, signal, when, threshold, hold: u64, severity, summary: &str| Rule {
        name: name.to_string(),
        signal,
        when,
        threshold,
        hold: Duration::from_secs(hold),
        over: default_over(),
        severity,
        summary: summary.to_string(),
    };
    use Comparison::{Above, Below};
    vec![
        rule(
            "LowThroughput",
            Signal::RatingsPerMinute,
            Below,
            1.0,
            120,
            Severity::Critical,
            "fewer than 1 rating per minute read in the last 5 min (by the scraped processors, \
             else in the windows published): is the input flowing, is the processor running?",
        ),
        rule(
            "StaleWindows",
            Signal::Freshness,
            Above,
            900.0,
            60,
            Severity::Warning,
            "the latest window ended more than 15 min ago (the watermark delay is 10 min): \
             windows are not being closed",
        ),
        rule(
            "HighOutputLatency",
            Signal::OutputLatency,
            Above,
            1.0,
            60,
            Severity::Warning,
            "windows take more than 1 s (p99) from final to committed: storage or broker slow",
        ),
        rule(
            "DeadLetters",
            Signal::DeadLetterShare,
            Above,
            0.05,
            120,
            Severity::Warning,
            "more than 5% of the records read in the last 5 min were rejected or late: \
             look at the dead-letter topic's reasons",
        ),
        rule(
            "KafkaErrors",
            Signal::KafkaErrors,
            Above,
            0.0,
            0,
            Severity::Warning,
            "the processor's Kafka clients reported errors in the last 5 min (broker away?)",
        ),
        rule(
            "StorageRetries",
            Signal::StorageRetries,
            Above,
            0.0,
            0,
            Severity::Warning,
            "storage operations failed and were retried in the last 5 min (HDFS/S3 away?)",
        ),
    ]
}

/// `defaults()` with the settings' rules applied: one with a default's name replaces it,
/// others are added.
pub fn with_settings(settings: Vec<Rule>) -> Vec<Rule> {
    let mut rules = defaults();
    for rule in settings {
        match rules.iter_mut().find(|r| r.name == rule.name) {
            Some(existing) => *existing = rule,
            None => rules.push(rule),
        }
    }
    rules
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_replace_defaults_by_name_and_add_new_rules() {
        let settings: Vec<Rule> = serde_json::from_value(serde_json::json!([
            {"name": "LowThroughput", "signal": "ratings_per_minute", "when": "below",
             "threshold": 100.0, "for": "10s", "over": "30s"},
            {"name": "VeryStale", "signal": "freshness", "when": "above", "threshold": 3600.0,
             "for": "1m", "severity": "critical"},
        ]))
        .unwrap();
        let rules = with_settings(settings);
        assert_eq!(rules.len(), defaults().len() + 1);
        let low = rules.iter().find(|r| r.name == "LowThroughput").unwrap();
        assert_eq!(
            (low.threshold, low.hold, low.over),
            (100.0, Duration::from_secs(10), Duration::from_secs(30))
        );
        assert!(rules
            .iter()
            .any(|r| r.name == "VeryStale" && r.severity == Severity::Critical));
    }

    #[test]
    fn a_rule_with_an_unknown_key_or_signal_is_refused() {
        let typo = serde_json::json!({"name": "X", "signal": "freshness", "when": "above",
                                      "threshold": 1.0, "for": "1m", "treshold": 2.0});
        assert!(serde_json::from_value::<Rule>(typo).is_err());
        let unknown = serde_json::json!({"name": "X", "signal": "mood", "when": "above",
                                         "threshold": 1.0, "for": "1m"});
        assert!(serde_json::from_value::<Rule>(unknown).is_err());
    }

    #[test]
    fn breaches_are_strict() {
        let rules = defaults();
        let low = &rules[0];
        assert!(low.breached(0.0) && !low.breached(1.0));
        let errors = rules.iter().find(|r| r.name == "KafkaErrors").unwrap();
        assert!(!errors.breached(0.0) && errors.breached(1.0));
    }
}
