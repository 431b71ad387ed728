use super::*;

fn parse(s: &str) -> Result<Rating, Rejection> {
    parse_json(s.as_bytes(), DEFAULT_MAX_RECORD_BYTES)
}

fn reason(s: &str) -> RejectReason {
    parse(s).expect_err(s).reason
}

#[test]
fn parses_the_topic_format() {
    let r =
        parse(r#"{"userId": 1, "movieId": 296, "rating": 4.5, "timestamp": 1698606000}"#).unwrap();
    assert_eq!(
        r,
        Rating {
            user_id: 1,
            movie_id: 296,
            rating: 4.5,
            timestamp: 1698606000
        }
    );
}

#[test]
fn accepts_integer_ratings_extra_fields_and_any_field_order() {
    let r =
        parse(r#"{"timestamp":-5,"extra":[1,{"a":2}],"rating":4,"movieId":2,"userId":3}"#).unwrap();
    assert_eq!(
        (r.rating, r.timestamp, r.movie_id, r.user_id),
        (4.0, -5, 2, 3)
    );
}

#[test]
fn rejects_each_kind_of_bad_record_with_its_reason() {
    use RejectReason::*;
    let cases = [
        ("not json", InvalidJson),
        ("", Empty),
        (" \n\t", Empty),
        ("[1,2,3]", InvalidJson),
        ("42", InvalidJson),
        (r#"{"userId":1,"movieId":2,"rating":4.0}"#, MissingField),
        (
            r#"{"userId":1,"movieId":2,"rating":null,"timestamp":1}"#,
            MissingField,
        ),
        (
            r#"{"userId":"1","movieId":2,"rating":4.0,"timestamp":1}"#,
            WrongType,
        ),
        (
            r#"{"userId":1.5,"movieId":2,"rating":4.0,"timestamp":1}"#,
            WrongType,
        ),
        (
            r#"{"userId":1,"movieId":2,"rating":"4","timestamp":1}"#,
            WrongType,
        ),
        (
            r#"{"userId":1,"movieId":2,"rating":4.0,"timestamp":1.5}"#,
            WrongType,
        ),
        (
            r#"{"userId":1,"movieId":2,"rating":4.0,"timestamp":true}"#,
            WrongType,
        ),
        (
            r#"{"userId":0,"movieId":2,"rating":4.0,"timestamp":1}"#,
            InvalidId,
        ),
        (
            r#"{"userId":1,"movieId":-2,"rating":4.0,"timestamp":1}"#,
            InvalidId,
        ),
        (
            r#"{"userId":1,"movieId":4294967296,"rating":4.0,"timestamp":1}"#,
            InvalidId,
        ),
        (
            r#"{"userId":1,"movieId":2,"rating":5.5,"timestamp":1}"#,
            RatingOutOfRange,
        ),
        (
            r#"{"userId":1,"movieId":2,"rating":0.49,"timestamp":1}"#,
            RatingOutOfRange,
        ),
        (
            r#"{"userId":1,"movieId":2,"rating":0,"timestamp":1}"#,
            RatingOutOfRange,
        ),
        (
            r#"{"userId":1,"movieId":2,"rating":1e999,"timestamp":1}"#,
            NumberOutOfRange,
        ),
        (
            r#"{"userId":1,"movieId":2,"rating":4.0,"timestamp":1698606000000}"#,
            TimestampOutOfRange,
        ),
        (
            r#"{"userId":1,"movieId":2,"rating":4.0,"timestamp":-70000000000}"#,
            TimestampOutOfRange,
        ),
        (
            r#"{"userId":1,"userId":1,"movieId":2,"rating":4.0,"timestamp":1}"#,
            DuplicateKey,
        ),
    ];
    for (input, expected) in cases {
        assert_eq!(reason(input), expected, "input {input:?}");
    }
}

#[test]
fn boundary_ratings_are_valid() {
    for v in ["0.5", "5.0", "5", "2.75"] {
        let s = format!(r#"{{"userId":1,"movieId":2,"rating":{v},"timestamp":1}}"#);
        assert!(parse(&s).is_ok(), "{s}");
    }
}

#[test]
fn oversized_records_are_rejected_before_parsing() {
    let big = format!(
        r#"{{"userId":1,"movieId":2,"rating":4.0,"timestamp":1,"pad":"{}"}}"#,
        "x".repeat(100)
    );
    assert_eq!(
        parse_json(big.as_bytes(), 64).unwrap_err().reason,
        RejectReason::Oversized
    );
    assert!(parse_json(big.as_bytes(), 1000).is_ok());
}

const VALID: &str = r#"{"userId":1,"movieId":2,"rating":4.0,"timestamp":1}"#;

/// `VALID` with `bytes` inserted at `at`.
fn with_bytes(at: usize, bytes: &[u8]) -> Vec<u8> {
    let mut record = VALID.as_bytes().to_vec();
    record.splice(at..at, bytes.iter().copied());
    record
}

#[test]
fn hostile_bytes_are_rejected_each_with_its_reason() {
    use RejectReason::*;
    let deep = format!(
        r#"{{"userId":1,"movieId":2,"rating":4.0,"timestamp":1,"x":{}{}}}"#,
        "[".repeat(200),
        "]".repeat(200)
    );
    let huge_string = format!(
        r#"{{"userId":1,"movieId":2,"rating":4.0,"timestamp":1,"x":"{}"}}"#,
        "y".repeat(60_000)
    );
    let cases: Vec<(Vec<u8>, RejectReason)> = vec![
        (
            b"{\"userId\":1,\"movieId\":2,\"rating\":4.0,\"timestamp\":1,\"x\":\"\xff\"}".to_vec(),
            InvalidUtf8,
        ),
        (with_bytes(0, b"\xEF\xBB\xBF"), ByteOrderMark),
        (with_bytes(0, b"\0"), NulByte),
        (with_bytes(VALID.len() - 1, b",\"x\":\"a\0b\""), NulByte),
        (with_bytes(VALID.len(), b"\0"), NulByte),
        (deep.into_bytes(), TooDeeplyNested),
        (
            br#"{"userId":1,"movieId":2,"rating":4.0,"timestamp":1,"rating":5.0}"#.to_vec(),
            DuplicateKey,
        ),
        (
            br#"{"userId":1,"movieId":2,"rating":4.0,"timestamp":1e400}"#.to_vec(),
            NumberOutOfRange,
        ),
        (
            br#"{"userId":123456789012345678901234567890,"movieId":2,"rating":4.0,"timestamp":1}"#
                .to_vec(),
            WrongType,
        ),
        (b"\x00\x00\x00\x00".to_vec(), NulByte),
        (b"\x80abc".to_vec(), InvalidUtf8),
    ];
    for (input, expected) in cases {
        let got = parse_json(&input, DEFAULT_MAX_RECORD_BYTES)
            .expect_err(&String::from_utf8_lossy(&input));
        assert_eq!(
            got.reason,
            expected,
            "{:?}: {got}",
            String::from_utf8_lossy(&input)
        );
    }
    // nesting up to the limit, and brackets inside strings, are fine
    let nested = |levels: usize, inner: &str| {
        format!(
            r#"{{"userId":1,"movieId":2,"rating":4.0,"timestamp":1,"x":{}{inner}{}}}"#,
            "[".repeat(levels),
            "]".repeat(levels)
        )
    };
    assert!(parse(&nested(MAX_NESTING - 1, r#""[[[{{\"[[[""#)).is_ok());
    assert_eq!(reason(&nested(MAX_NESTING, "")), TooDeeplyNested);
    // a long string in an unknown field is fine below the size limit
    assert!(parse(&huge_string).is_ok());
    // duplicates of unknown keys do not matter
    assert!(parse(r#"{"userId":1,"movieId":2,"rating":4.0,"timestamp":1,"x":1,"x":2}"#).is_ok());
    assert_eq!(Rejection::tombstone().reason, Tombstone);
}

#[test]
fn parses_movielens_csv_rows_with_the_same_rules() {
    let ok = parse_csv_fields(&["1", "296", "4.5", "964982703"], 1000).unwrap();
    assert_eq!(
        (ok.user_id, ok.movie_id, ok.rating, ok.timestamp),
        (1, 296, 4.5, 964982703)
    );
    let bad = |f: &[&str]| parse_csv_fields(f, 1000).unwrap_err().reason;
    assert_eq!(bad(&["1", "2", "x", "3"]), RejectReason::WrongType);
    assert_eq!(bad(&["1", "2", "", "3"]), RejectReason::MissingField);
    assert_eq!(bad(&["1", "2", "6.0", "3"]), RejectReason::RatingOutOfRange);
    assert_eq!(bad(&["1", "2", "3.0"]), RejectReason::InvalidJson);
    assert_eq!(bad(&["1.5", "2", "3.0", "4"]), RejectReason::WrongType);
    assert_eq!(bad(&["1", "2", "NaN", "4"]), RejectReason::RatingOutOfRange);
    assert_eq!(bad(&["1", "2", "inf", "4"]), RejectReason::RatingOutOfRange);
}
