use super::*;

#[test]
fn parses_durations_in_seconds() {
    assert_eq!(seconds("1min"), Ok(60));
    assert_eq!(seconds("10m"), Ok(600));
    assert_eq!(seconds("90s"), Ok(90));
    assert!(seconds("1.5s").is_err());
    assert!(seconds("soon").is_err());
}

#[test]
fn parses_byte_sizes() {
    assert_eq!(byte_size("128MB"), Ok(128 << 20));
    assert_eq!(byte_size("512kb"), Ok(512 << 10));
    assert_eq!(byte_size("1000"), Ok(1000));
    assert!(byte_size("12XB").is_err());
    assert!(byte_size("MB").is_err());
    assert_eq!(
        byte_size("99999999999999999GB"),
        Err("99999999999999999GB: too large".into())
    );
}

#[test]
fn kafka_properties_as_text_keep_semicolons_on_lines_and_never_echo_values() {
    let jaas = "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule \
                required username=\"u\" password=\"p;w\";";
    let lines = property_list(&format!("security.protocol=SASL_SSL\n{jaas}\n")).unwrap();
    assert_eq!(lines.len(), 2);
    assert!(
        lines["sasl.jaas.config"].ends_with("password=\"p;w\";"),
        "{lines:?}"
    );
    let legacy = property_list("a=1;b=2").unwrap();
    assert_eq!(
        legacy.into_iter().collect::<Vec<_>>(),
        [("a".into(), "1".into()), ("b".into(), "2".into())]
    );
    let error = property_list("a=1;hunter2").unwrap_err();
    assert!(
        !error.contains("hunter2") && error.contains("entry 2"),
        "{error}"
    );
    let error = key_value("hunter2").unwrap_err();
    assert!(!error.contains("hunter2"), "{error}");
}

#[test]
fn parses_starting_positions() {
    assert_eq!(start_from("earliest"), Ok(StartFrom::Earliest));
    assert_eq!(
        start_from("1700000000000"),
        Ok(StartFrom::Timestamp(1_700_000_000_000))
    );
    assert_eq!(
        start_from("2023-11-14T22:13:20Z"),
        Ok(StartFrom::Timestamp(1_700_000_000_000))
    );
    assert!(start_from("soon").is_err());
}

#[test]
fn off_means_none() {
    assert_eq!(seconds_or_off("off"), Ok(None));
    assert_eq!(seconds_or_off("1d"), Ok(Some(86_400)));
    assert_eq!(count_or_off("5000000"), Ok(Some(5_000_000)));
    assert_eq!(duration_or_off("off"), Ok(Duration::ZERO));
    assert_eq!(text_or_off("off"), Ok(None));
}
