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
        ("", InvalidJson),
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
            InvalidJson,
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
            InvalidJson,
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

#[test]
fn invalid_utf8_is_rejected_not_panicking() {
    let bytes = b"{\"userId\":1,\"movieId\":2,\"rating\":4.0,\"timestamp\":1,\"x\":\"\xff\"}";
    assert_eq!(
        parse_json(bytes, 1000).unwrap_err().reason,
        RejectReason::InvalidJson
    );
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
