use super::*;

#[test]
fn a_syntax_error_names_the_line_and_key_but_not_the_value() {
    let text = "[kafka.properties]\n\"sasl.password\" = \"hunter2\n";
    let error = values(text).unwrap_err().to_string();
    assert!(!error.contains("hunter2"), "{error}");
    assert!(
        error.contains("line 2") && error.contains("sasl.password"),
        "{error}"
    );
}

#[test]
fn reads_settings_in_sections_and_at_the_top() {
    let text = r#"
        watermark_delay = "5min"
        [kafka]
        bootstrap_servers = "broker:9092"
        exit_at_end = true
        [kafka.properties]
        "security.protocol" = "SASL_SSL"
        "sasl.password" = "s3cret"
        [engine]
        top-n = 3
        [[alerts.rules]]
        name = "LowThroughput"
        threshold = 5.0
    "#;
    let settings = crate::layers::settings(values(text).unwrap(), Map::new()).unwrap();
    assert_eq!(settings.engine.watermark_delay_seconds, 300);
    assert_eq!(settings.engine.top_n, 3);
    assert_eq!(settings.kafka.connection.bootstrap_servers, "broker:9092");
    assert!(settings.kafka.exit_at_end);
    assert_eq!(
        settings
            .kafka
            .connection
            .properties
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>(),
        ["sasl.password=s3cret", "security.protocol=SASL_SSL"]
    );
    assert_eq!(
        settings.dashboard.watch.alert_rules.as_deref(),
        Some(r#"[{"name":"LowThroughput","threshold":5.0}]"#)
    );
}

#[test]
fn rejects_unknown_settings_and_bad_values() {
    let err = values("watermark_dely = \"1min\"").unwrap_err();
    assert!(
        format!("{err:#}").contains("unknown setting \"watermark_dely\""),
        "{err:#}"
    );
    assert!(values("top_n = [1, 2]").is_err());
    let err = values("[kafak]\nbootstrap_servers = \"b:9092\"").unwrap_err();
    assert!(
        format!("{err:#}").contains("unknown section [kafak]"),
        "{err:#}"
    );
    assert!(values("not toml at all [").is_err());
    let err = values("top_n = \"many\"").unwrap_err();
    assert!(format!("{err:#}").contains("setting \"top_n\""), "{err:#}");
}

#[test]
fn a_reset_is_never_a_setting_of_the_file() {
    let err = values("reset_checkpoint = true").unwrap_err();
    assert!(
        format!("{err:#}").contains("unknown setting \"reset_checkpoint\""),
        "{err:#}"
    );
}

#[test]
fn a_bad_property_table_names_no_value() {
    let err = values("[kafka.properties]\n\"sasl.password\" = [\"hunter2\"]").unwrap_err();
    assert!(!format!("{err:#}").contains("hunter2"), "{err:#}");
}
