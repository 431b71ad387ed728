//! Parse and validate one input record into a [`Rating`], or reject it with a typed reason.
//!
//! Two input shapes are accepted: the Kafka topic's JSON object
//! (`{"userId": 1, "movieId": 296, "rating": 4.5, "timestamp": 1698606000}`) and a row of
//! MovieLens `ratings.csv` (`userId,movieId,rating,timestamp`). Both go through the same
//! validation, so a record is valid or invalid for the same reason whichever shape it came in.

use std::fmt;

use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use crate::time::{MAX_TIMESTAMP, MIN_TIMESTAMP};

/// Lowest valid rating.
pub const MIN_RATING: f64 = 0.5;
/// Highest valid rating.
pub const MAX_RATING: f64 = 5.0;
/// Default upper bound on the size of one input record.
pub const DEFAULT_MAX_RECORD_BYTES: usize = 64 * 1024;

/// One valid rating. `timestamp` is the event time in seconds since the Unix epoch (UTC).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rating {
    pub user_id: i32,
    pub movie_id: i32,
    pub rating: f64,
    pub timestamp: i64,
}

/// Why a record was rejected; the `as_str` form is what dead-letter records carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectReason {
    /// Larger than the configured maximum record size.
    Oversized,
    /// Not valid UTF-8 / JSON / CSV, or not a JSON object.
    InvalidJson,
    /// A required field is absent or null.
    MissingField,
    /// A field has the wrong type (e.g. a string where a number belongs, a fractional id).
    WrongType,
    /// `userId` or `movieId` is not a positive 32-bit integer.
    InvalidId,
    /// `rating` is outside `[0.5, 5.0]` or not finite.
    RatingOutOfRange,
    /// `timestamp` is outside the years 0001..=9999.
    TimestampOutOfRange,
    /// `timestamp` is further ahead of the wall clock than the configured bound (a clock or
    /// unit error): it would move the watermark into the future and make every other rating
    /// late.
    FutureTimestamp,
    /// A Kafka record without a value (a tombstone).
    Tombstone,
    /// A value of zero bytes, or of whitespace only.
    Empty,
    /// Not valid UTF-8.
    InvalidUtf8,
    /// Starts with a UTF-8 byte order mark (EF BB BF).
    ByteOrderMark,
    /// Contains a NUL byte.
    NulByte,
    /// JSON nested deeper than [`MAX_NESTING`] levels.
    TooDeeplyNested,
    /// A JSON number beyond the range of a 64-bit float (e.g. `1e400`).
    NumberOutOfRange,
    /// One of the four fields appears twice: which value was meant is unknown.
    DuplicateKey,
}

impl RejectReason {
    /// Every reason, for counters and reports.
    pub const ALL: [RejectReason; 16] = [
        RejectReason::Oversized,
        RejectReason::InvalidJson,
        RejectReason::MissingField,
        RejectReason::WrongType,
        RejectReason::InvalidId,
        RejectReason::RatingOutOfRange,
        RejectReason::TimestampOutOfRange,
        RejectReason::FutureTimestamp,
        RejectReason::Tombstone,
        RejectReason::Empty,
        RejectReason::InvalidUtf8,
        RejectReason::ByteOrderMark,
        RejectReason::NulByte,
        RejectReason::TooDeeplyNested,
        RejectReason::NumberOutOfRange,
        RejectReason::DuplicateKey,
    ];

    /// Stable snake_case name used in dead-letter records and metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::Oversized => "oversized",
            RejectReason::InvalidJson => "invalid_json",
            RejectReason::MissingField => "missing_field",
            RejectReason::WrongType => "wrong_type",
            RejectReason::InvalidId => "invalid_id",
            RejectReason::RatingOutOfRange => "rating_out_of_range",
            RejectReason::TimestampOutOfRange => "timestamp_out_of_range",
            RejectReason::FutureTimestamp => "future_timestamp",
            RejectReason::Tombstone => "tombstone",
            RejectReason::Empty => "empty",
            RejectReason::InvalidUtf8 => "invalid_utf8",
            RejectReason::ByteOrderMark => "byte_order_mark",
            RejectReason::NulByte => "nul_byte",
            RejectReason::TooDeeplyNested => "too_deeply_nested",
            RejectReason::NumberOutOfRange => "number_out_of_range",
            RejectReason::DuplicateKey => "duplicate_key",
        }
    }

    /// Position in [`RejectReason::ALL`], for array-indexed counters.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// A rejected record: the reason plus a human-readable detail.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    pub reason: RejectReason,
    pub detail: String,
}

impl Rejection {
    fn new(reason: RejectReason, detail: impl Into<String>) -> Self {
        Rejection {
            reason,
            detail: detail.into(),
        }
    }

    /// The rejection of a rating whose event time `timestamp` is more than `bound` seconds
    /// ahead of the wall clock `now` (epoch seconds).
    pub fn ahead_of_clock(timestamp: i64, now: i64, bound: i64) -> Rejection {
        use crate::time::{duration_name, rfc3339_seconds};
        Rejection::new(
            RejectReason::FutureTimestamp,
            format!(
                "event time {} is more than {} ahead of the wall clock ({}): a clock or unit \
                 error? It would move the watermark into the future",
                rfc3339_seconds(timestamp),
                duration_name(bound),
                rfc3339_seconds(now)
            ),
        )
    }

    /// The rejection of a Kafka record without a value.
    pub fn tombstone() -> Rejection {
        Rejection::new(
            RejectReason::Tombstone,
            "the record has no value (a Kafka tombstone)",
        )
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.reason.as_str(), self.detail)
    }
}

impl std::error::Error for Rejection {}

/// A JSON field value as far as validation cares: a number of some kind, or something else.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Field {
    Int(i64),
    Float(f64),
    Null,
    /// Any non-numeric JSON value; names its kind for the rejection detail.
    Other(&'static str),
}

impl<'de> Deserialize<'de> for Field {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(FieldVisitor)
    }
}

struct FieldVisitor;

impl<'de> Visitor<'de> for FieldVisitor {
    type Value = Field;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_i64<E>(self, v: i64) -> Result<Field, E> {
        Ok(Field::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Field, E> {
        Ok(i64::try_from(v).map_or(Field::Float(v as f64), Field::Int))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Field, E> {
        Ok(Field::Float(v))
    }
    fn visit_bool<E>(self, _: bool) -> Result<Field, E> {
        Ok(Field::Other("a boolean"))
    }
    fn visit_str<E>(self, _: &str) -> Result<Field, E> {
        Ok(Field::Other("a string"))
    }
    fn visit_unit<E>(self) -> Result<Field, E> {
        Ok(Field::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Field, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Field::Other("an array"))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Field, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Field::Other("an object"))
    }
}

/// The JSON object as read, before validation. Unknown fields are ignored.
#[derive(Deserialize)]
struct RawRating {
    #[serde(rename = "userId", default)]
    user_id: Option<Field>,
    #[serde(rename = "movieId", default)]
    movie_id: Option<Field>,
    #[serde(default)]
    rating: Option<Field>,
    #[serde(default)]
    timestamp: Option<Field>,
}

/// Parses and validates one JSON record (the Kafka value).
///
/// The common shape — a flat object of the four known keys with plain numbers — is read by a
/// small scanner ([`scan_flat`]); anything else (other keys, strings, escapes, nesting, errors)
/// takes the general `serde_json` path. Both yield the same fields, so the result is the same.
pub fn parse_json(bytes: &[u8], max_record_bytes: usize) -> Result<Rating, Rejection> {
    check_size(bytes.len(), max_record_bytes)?;
    let raw = match scan_flat(bytes) {
        Some(raw) => raw,
        None => parse_general(bytes)?,
    };
    validate(raw)
}

/// The general path: any JSON, through `serde_json`.
fn parse_general(bytes: &[u8]) -> Result<RawRating, Rejection> {
    let text = screen(bytes)?;
    if !text.trim_start().starts_with('{') {
        return Err(Rejection::new(
            RejectReason::InvalidJson,
            "expected a JSON object",
        ));
    }
    if let Some(at) = too_deep(text.as_bytes()) {
        return Err(Rejection::new(
            RejectReason::TooDeeplyNested,
            format!("nested deeper than {MAX_NESTING} levels at byte {at}"),
        ));
    }
    serde_json::from_str(text).map_err(|e| Rejection::new(json_reason(&e), e.to_string()))
}

/// Deepest nesting of arrays and objects accepted (a rating is one flat object; extra fields
/// may nest): deeper records are hostile, whatever their fields.
pub const MAX_NESTING: usize = 64;

/// Where the nesting of `[` and `{` (outside strings) first exceeds [`MAX_NESTING`], if it does.
fn too_deep(bytes: &[u8]) -> Option<usize> {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for (at, byte) in bytes.iter().enumerate() {
        match (in_string, byte) {
            (true, _) if escaped => escaped = false,
            (true, b'\\') => escaped = true,
            (true, b'"') | (false, b'"') => in_string = !in_string,
            (false, b'[' | b'{') => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Some(at);
                }
            }
            (false, b']' | b'}') => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

/// The record as text, unless it is empty, starts with a byte order mark, holds a NUL byte
/// or is not UTF-8 (each its own reason: what went wrong upstream differs).
fn screen(bytes: &[u8]) -> Result<&str, Rejection> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        let detail = match bytes.len() {
            0 => "the record's value is empty".to_string(),
            n => format!("the record's value is {n} bytes of whitespace"),
        };
        return Err(Rejection::new(RejectReason::Empty, detail));
    }
    if bytes.starts_with(b"\xEF\xBB\xBF") {
        return Err(Rejection::new(
            RejectReason::ByteOrderMark,
            "starts with a UTF-8 byte order mark (EF BB BF): JSON records must not",
        ));
    }
    if let Some(at) = bytes.iter().position(|b| *b == 0) {
        return Err(Rejection::new(
            RejectReason::NulByte,
            format!("NUL byte at position {at}"),
        ));
    }
    std::str::from_utf8(bytes)
        .map_err(|e| Rejection::new(RejectReason::InvalidUtf8, format!("not UTF-8: {e}")))
}

/// The reason for a `serde_json` error: the kinds an operator acts on differently have their
/// own (serde_json names them only in its message).
fn json_reason(error: &serde_json::Error) -> RejectReason {
    let message = error.to_string();
    if message.starts_with("duplicate field") {
        RejectReason::DuplicateKey
    } else if message.starts_with("number out of range") {
        RejectReason::NumberOutOfRange
    } else {
        RejectReason::InvalidJson
    }
}

fn validate(raw: RawRating) -> Result<Rating, Rejection> {
    Ok(Rating {
        user_id: id_field("userId", raw.user_id)?,
        movie_id: id_field("movieId", raw.movie_id)?,
        rating: rating_value(number_field("rating", raw.rating)?)?,
        timestamp: timestamp_value(integer_field("timestamp", raw.timestamp)?)?,
    })
}

/// Reads `{"userId":1,"movieId":2,"rating":4.5,"timestamp":3}` in any key order and spacing,
/// with integers and plain decimals only. `None` for anything else.
fn scan_flat(bytes: &[u8]) -> Option<RawRating> {
    let mut s = Scanner { bytes, at: 0 };
    let mut fields: [Option<Field>; 4] = [None; 4];
    s.skip_space();
    s.eat(b'{')?;
    loop {
        s.skip_space();
        let index = s.key()?;
        s.skip_space();
        s.eat(b':')?;
        s.skip_space();
        if fields[index].replace(s.number()?).is_some() {
            return None; // duplicate key: let serde_json report it
        }
        s.skip_space();
        if s.eat(b',').is_none() {
            s.eat(b'}')?;
            break;
        }
    }
    s.skip_space();
    if s.at != bytes.len() {
        return None;
    }
    let [user_id, movie_id, rating, timestamp] = fields;
    Some(RawRating {
        user_id,
        movie_id,
        rating,
        timestamp,
    })
}

/// Cursor over the bytes of a flat JSON object.
struct Scanner<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn skip_space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek() == Some(byte)).then(|| self.at += 1)
    }

    /// A quoted key, which must be one of the four fields; returns its index.
    fn key(&mut self) -> Option<usize> {
        self.eat(b'"')?;
        let start = self.at;
        let len = self.bytes[start..].iter().position(|b| *b == b'"')?;
        self.at = start + len + 1;
        match &self.bytes[start..start + len] {
            b"userId" => Some(0),
            b"movieId" => Some(1),
            b"rating" => Some(2),
            b"timestamp" => Some(3),
            _ => None,
        }
    }

    /// Consumes digits, accumulating them into `value`; returns how many there were.
    fn digits(&mut self, value: &mut u64) -> usize {
        let start = self.at;
        while let Some(d) = self.peek().filter(u8::is_ascii_digit) {
            *value = value.wrapping_mul(10).wrapping_add(u64::from(d - b'0'));
            self.at += 1;
        }
        self.at - start
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?` with at most 15 digits in all, so that the value is exact:
    /// an integer, or a decimal computed as `mantissa / 10^fraction_digits`, which IEEE division
    /// rounds correctly because both operands are exact (as `str::parse` and serde_json would).
    fn number(&mut self) -> Option<Field> {
        const POW10: [f64; 16] = [
            1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
        ];
        let negative = self.eat(b'-').is_some();
        let int_start = self.at;
        let mut mantissa = 0u64;
        let int_digits = self.digits(&mut mantissa);
        if int_digits == 0 || (int_digits > 1 && self.bytes[int_start] == b'0') {
            return None;
        }
        let fraction_digits = match self.eat(b'.') {
            Some(()) => Some(self.digits(&mut mantissa)).filter(|n| *n > 0),
            None => None,
        };
        let dot_without_digits = fraction_digits.is_none() && self.bytes[self.at - 1] == b'.';
        let total_digits = int_digits + fraction_digits.unwrap_or(0);
        if dot_without_digits || total_digits > 15 || matches!(self.peek(), Some(b'e' | b'E')) {
            return None;
        }
        let signed = |v: f64| if negative { -v } else { v };
        match fraction_digits {
            Some(n) => Some(Field::Float(signed(mantissa as f64 / POW10[n]))),
            None if negative && mantissa == 0 => None, // serde_json reads -0 as a float
            None => Some(Field::Int(if negative {
                -(mantissa as i64)
            } else {
                mantissa as i64
            })),
        }
    }
}

/// Parses and validates one MovieLens `ratings.csv` row: `userId,movieId,rating,timestamp`.
pub fn parse_csv_fields(fields: &[&str], max_record_bytes: usize) -> Result<Rating, Rejection> {
    check_size(fields.iter().map(|f| f.len() + 1).sum(), max_record_bytes)?;
    if fields.len() != 4 {
        return Err(Rejection::new(
            RejectReason::InvalidJson,
            format!(
                "expected 4 CSV columns userId,movieId,rating,timestamp, got {}",
                fields.len()
            ),
        ));
    }
    let field = |name, text: &str| Some(csv_field(name, text.trim())).transpose();
    Ok(Rating {
        user_id: id_field("userId", field("userId", fields[0])?)?,
        movie_id: id_field("movieId", field("movieId", fields[1])?)?,
        rating: rating_value(number_field("rating", field("rating", fields[2])?)?)?,
        timestamp: timestamp_value(integer_field("timestamp", field("timestamp", fields[3])?)?)?,
    })
}

fn csv_field(name: &str, text: &str) -> Result<Field, Rejection> {
    if text.is_empty() {
        return Ok(Field::Null);
    }
    if let Ok(v) = text.parse::<i64>() {
        return Ok(Field::Int(v));
    }
    text.parse::<f64>().map(Field::Float).map_err(|_| {
        Rejection::new(
            RejectReason::WrongType,
            format!("{name} must be a number, got {text:?}"),
        )
    })
}

fn check_size(len: usize, max: usize) -> Result<(), Rejection> {
    if len > max {
        return Err(Rejection::new(
            RejectReason::Oversized,
            format!("record of {len} bytes exceeds the limit of {max} bytes"),
        ));
    }
    Ok(())
}

fn present(name: &str, field: Option<Field>) -> Result<Field, Rejection> {
    match field {
        None | Some(Field::Null) => Err(Rejection::new(
            RejectReason::MissingField,
            format!("field {name} is missing or null"),
        )),
        Some(f) => Ok(f),
    }
}

fn integer_field(name: &str, field: Option<Field>) -> Result<i64, Rejection> {
    match present(name, field)? {
        Field::Int(v) => Ok(v),
        Field::Float(v) => Err(Rejection::new(
            RejectReason::WrongType,
            format!("{name} must be an integer, got {v}"),
        )),
        Field::Other(kind) => Err(Rejection::new(
            RejectReason::WrongType,
            format!("{name} must be an integer, got {kind}"),
        )),
        Field::Null => unreachable!("present() rejects null"),
    }
}

fn number_field(name: &str, field: Option<Field>) -> Result<f64, Rejection> {
    match present(name, field)? {
        Field::Int(v) => Ok(v as f64),
        Field::Float(v) => Ok(v),
        Field::Other(kind) => Err(Rejection::new(
            RejectReason::WrongType,
            format!("{name} must be a number, got {kind}"),
        )),
        Field::Null => unreachable!("present() rejects null"),
    }
}

fn id_field(name: &str, field: Option<Field>) -> Result<i32, Rejection> {
    let v = integer_field(name, field)?;
    match i32::try_from(v) {
        Ok(id) if id > 0 => Ok(id),
        _ => Err(Rejection::new(
            RejectReason::InvalidId,
            format!("{name} must be a positive 32-bit integer, got {v}"),
        )),
    }
}

fn rating_value(v: f64) -> Result<f64, Rejection> {
    if v.is_finite() && (MIN_RATING..=MAX_RATING).contains(&v) {
        Ok(v)
    } else {
        Err(Rejection::new(
            RejectReason::RatingOutOfRange,
            format!("rating must be a finite number in [{MIN_RATING}, {MAX_RATING}], got {v}"),
        ))
    }
}

fn timestamp_value(v: i64) -> Result<i64, Rejection> {
    if (MIN_TIMESTAMP..=MAX_TIMESTAMP).contains(&v) {
        Ok(v)
    } else {
        Err(Rejection::new(
            RejectReason::TimestampOutOfRange,
            format!(
                "timestamp must be epoch seconds between years 0001 and 9999, got {v} \
                 (milliseconds by mistake?)"
            ),
        ))
    }
}

#[cfg(test)]
mod fast_path_tests;

#[cfg(test)]
mod tests;
