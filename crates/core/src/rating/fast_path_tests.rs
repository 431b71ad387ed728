use super::*;
use proptest::prelude::*;

/// The general path alone, for comparison.
fn general(bytes: &[u8]) -> Result<Rating, Rejection> {
    validate(parse_general(bytes)?)
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        (-3i64..200_000).prop_map(|v| v.to_string()),
        (0u32..60).prop_map(|v| format!("{}.{}", v / 10, v % 10)),
        Just("1699999980".to_string()),
        Just("4.50".to_string()),
        Just("01".to_string()),
        Just("1e3".to_string()),
        Just("-0".to_string()),
        Just("2.".to_string()),
        Just("\"4\"".to_string()),
        Just("null".to_string()),
        Just("[1]".to_string()),
        Just("12345678901234567890".to_string()),
        Just("3.70000000000000017763568394002504646778106689453125".to_string()),
    ]
}

fn record() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        Just("userId"),
        Just("movieId"),
        Just("rating"),
        Just("timestamp"),
        Just("other"),
        Just("user\\u0049d"),
    ];
    let space = prop_oneof![Just(""), Just(" "), Just("\n\t ")];
    (
        prop::collection::vec((key, value(), space.clone()), 0..6),
        space,
        any::<bool>(),
    )
        .prop_map(|(fields, space, trailing_junk)| {
            let body: Vec<String> = fields
                .iter()
                .map(|(k, v, sp)| format!("{sp}\"{k}\"{sp}:{sp}{v}{sp}"))
                .collect();
            let junk = if trailing_junk { "x" } else { "" };
            format!("{space}{{{}}}{space}{junk}", body.join(","))
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn fast_path_agrees_with_serde_json(text in record()) {
        let fast = parse_json(text.as_bytes(), DEFAULT_MAX_RECORD_BYTES);
        let slow = general(text.as_bytes());
        prop_assert_eq!(fast.as_ref().map_err(|e| e.reason), slow.as_ref().map_err(|e| e.reason), "{}", text);
        prop_assert_eq!(fast.ok(), slow.ok());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Arbitrary bytes are rejected or accepted, never a panic.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..120)) {
        let _ = parse_json(&bytes, DEFAULT_MAX_RECORD_BYTES);
        let text = String::from_utf8_lossy(&bytes);
        let fields: Vec<&str> = text.split(',').collect();
        let _ = parse_csv_fields(&fields, DEFAULT_MAX_RECORD_BYTES);
    }
}

#[test]
fn fast_path_takes_the_common_shape() {
    let text = br#"{"userId":1,"movieId":296,"rating":4.5,"timestamp":1698606000}"#;
    assert!(scan_flat(text).is_some());
    assert!(scan_flat(br#"{"userId":1,"x":2}"#).is_none());
}
