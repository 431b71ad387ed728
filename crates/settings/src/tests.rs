use std::time::Duration;

use ratings_core::WindowSpec;
use serde_json::{json, Map, Value};

use super::*;

fn from(values: Value) -> anyhow::Result<Settings> {
    let Value::Object(map) = values else {
        panic!("an object")
    };
    layers::settings(Map::new(), map)
}

#[test]
fn defaults_are_the_spark_jobs_and_validate() {
    let config = Settings::default().job();
    config.validate().unwrap();
    let engine = config.engine.engine_config().unwrap();
    assert_eq!(engine.watermark_delay, 600);
    assert_eq!(engine.windows[0].name(), "tumbling_1min");
    let Input::Kafka(job) = &config.input else {
        panic!("Kafka is the default input")
    };
    assert_eq!(job.metrics_topic, "metrics");
    assert_eq!(job.late_topic(), "ratings-dead-letter");
    assert_eq!(job.delivery.guarantee, Guarantee::ExactlyOnce);
    assert!(job.final_flush && job.high_availability.is_none());
}

#[test]
fn flat_keys_fill_the_sections_and_the_rest_keeps_its_default() {
    let settings = from(json!({
        "top_n": "3",
        "ratings_topic": "r",
        "commit_interval": "200ms",
        "delivery": "at-least-once",
        "roll_size": "1MB",
        "metrics_address": "off",
        "state_warn_rows": "off",
        "dashboard_allowed_hosts": "a,b",
        "dashboard_scrape": ["http://x/metrics"],
        "kafka_properties": ["a=1", "b=x=y"],
        "standby": "true",
        "lease_session_timeout": "9s",
        "no_final_flush": true,
    }))
    .unwrap();
    assert_eq!(settings.engine.top_n, 3);
    assert_eq!(settings.parquet.roll_size, 1 << 20);
    assert_eq!(settings.telemetry.metrics_address, None);
    assert_eq!(settings.telemetry.state_warn_rows, None);
    assert_eq!(settings.dashboard.access.allowed_hosts, ["a", "b"]);
    assert_eq!(settings.dashboard.watch.scrape, ["http://x/metrics"]);
    assert_eq!(settings.kafka.connection.properties["b"], "x=y");
    let Input::Kafka(job) = settings.job().input else {
        panic!("kafka input")
    };
    assert_eq!(job.ratings_topic, "r");
    assert_eq!(job.metrics_topic, "metrics");
    assert_eq!(job.delivery.commit_interval, Duration::from_millis(200));
    assert_eq!(job.delivery.guarantee, Guarantee::AtLeastOnce);
    assert!(!job.final_flush);
    assert_eq!(
        job.high_availability.map(|ha| ha.session_timeout),
        Some(Duration::from_secs(9))
    );
}

#[test]
fn an_input_file_is_the_file_mode() {
    let settings = from(json!({"input": "r.csv", "batch_size": 7})).unwrap();
    let Input::File(file) = settings.job().input else {
        panic!("file input")
    };
    assert_eq!(file.format, Format::MovieLensCsv);
    assert_eq!(file.batch_size, 7);
    assert!(file.final_flush);
}

#[test]
fn a_refused_value_names_its_key() {
    let error = from(json!({"tumbling": "1.5s", "top_n": "2"})).unwrap_err();
    assert!(
        error.to_string().contains("setting \"tumbling\""),
        "{error}"
    );
}

#[test]
fn a_checkpoint_off_the_parquet_storage_is_refused() {
    let mut config = JobConfig::default();
    config.parquet.storage = Some("hdfs://nn:8020/out".into());
    if let Input::Kafka(job) = &mut config.input {
        job.delivery.checkpoint_storage = Some("s3://elsewhere".into());
    }
    let error = config.validate().unwrap_err().to_string();
    assert!(error.contains("s3://elsewhere") && error.contains("hdfs://nn:8020/out"));
}

#[test]
fn the_keys_are_the_settings_names() {
    let keys = Settings::keys();
    for key in [
        "tumbling",
        "kafka_properties",
        "delivery",
        "dashboard_token",
        "log_format",
    ] {
        assert!(keys.contains(&key.to_string()), "{key} in {keys:?}");
    }
    assert!(!keys.contains(&"final_flush".to_string()));
}

#[test]
fn windows_are_named_as_a_list_or_as_text() {
    let names = |settings: Settings| -> Vec<String> {
        let config = settings.job().engine.engine_config().unwrap();
        config.windows.iter().map(WindowSpec::name).collect()
    };
    let listed =
        from(json!({"windows": ["tumbling_1min", "sliding_10min_1min", "tumbling_15min"]}));
    assert_eq!(
        names(listed.unwrap()),
        ["tumbling_1min", "sliding_10min_1min", "tumbling_15min"]
    );
    let text = from(json!({"windows": "tumbling_1min, sliding_5min_150s"})).unwrap();
    assert_eq!(names(text), ["tumbling_1min", "sliding_5min_150s"]);
    assert_eq!(
        names(from(json!({"windows": "tumbling_30s"})).unwrap()),
        ["tumbling_30s"]
    );
}

#[test]
fn a_bad_window_list_says_what_a_window_is() {
    for (text, says) in [
        (
            "hopping_5min",
            "a window is tumbling_<size> or sliding_<size>_<slide>",
        ),
        ("tumbling_1min,tumbling_60s", "tumbling_1min is named twice"),
        ("sliding_1min_5min", "must not exceed its size"),
        (" , ", "name at least one window"),
    ] {
        let error = format!("{:#}", from(json!({ "windows": text })).unwrap_err());
        assert!(error.contains(says), "{text}: {error}");
    }
    let both = from(json!({"windows": "tumbling_15min", "tumbling": "2min"})).unwrap();
    let error = both.job().engine.engine_config().unwrap_err().to_string();
    assert!(
        error.contains("either as `windows` (tumbling_15min)"),
        "{error}"
    );
}

#[test]
fn members_name_the_tumbling_and_sliding_pair_as_older_versions_did() {
    let identity = |values| {
        let config = from(values).unwrap().job();
        let Input::Kafka(job) = &config.input else {
            panic!("Kafka")
        };
        config.identity(job)
    };
    let pair = identity(json!({}));
    assert_eq!(pair["tumbling window"], "60 s");
    assert_eq!(pair["sliding window"], "300 s every 60 s");
    let same = identity(json!({"windows": "tumbling_1min,sliding_5min_1min"}));
    assert_eq!(same, pair);
    let three = identity(json!({"windows": "tumbling_1min,sliding_5min_1min,tumbling_15min"}));
    assert_eq!(
        three["windows"],
        "tumbling_1min,sliding_5min_1min,tumbling_15min"
    );
    assert!(!three.contains_key("tumbling window"));
}
