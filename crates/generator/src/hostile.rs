//! Hostile records, for the robustness tests and the fuzz run: random bytes, truncations and
//! mutations of valid records, and each kind of bad record a production topic carries —
//! tombstones, empty values, invalid UTF-8, NUL bytes, a byte order mark, deep nesting, huge
//! strings and numbers, duplicate keys, clock errors, records near the broker's size limit.
//! None of them is a valid rating: a random change that happens to leave a valid rating is
//! drawn again.
//!
//! Drawn from their own seeded generator, so inserting them into a [`crate::Generator`]'s
//! stream leaves its valid records exactly as they were.

use ratings_core::rating::{parse_json, DEFAULT_MAX_RECORD_BYTES};

/// The kinds of hostile record, with their weights in the mix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HostileKind {
    RandomBytes,
    Truncated,
    Mutated,
    Tombstone,
    Empty,
    InvalidUtf8,
    NulByte,
    ByteOrderMark,
    DeepNesting,
    HugeString,
    HugeNumber,
    DuplicateKey,
    /// A valid record whose event time is centuries ahead (milliseconds with an extra digit).
    FarFuture,
    /// Just under the broker's default 1 MB record limit.
    NearSizeLimit,
}

impl HostileKind {
    /// Every kind and its weight (near-limit records are rare: each is ~1 MB).
    const MIX: [(HostileKind, u32); 14] = [
        (HostileKind::RandomBytes, 1500),
        (HostileKind::Truncated, 1500),
        (HostileKind::Mutated, 2500),
        (HostileKind::Tombstone, 500),
        (HostileKind::Empty, 500),
        (HostileKind::InvalidUtf8, 500),
        (HostileKind::NulByte, 500),
        (HostileKind::ByteOrderMark, 500),
        (HostileKind::DeepNesting, 400),
        (HostileKind::HugeString, 200),
        (HostileKind::HugeNumber, 500),
        (HostileKind::DuplicateKey, 500),
        (HostileKind::FarFuture, 400),
        (HostileKind::NearSizeLimit, 3),
    ];

    pub fn name(self) -> &'static str {
        match self {
            HostileKind::RandomBytes => "random_bytes",
            HostileKind::Truncated => "truncated",
            HostileKind::Mutated => "mutated",
            HostileKind::Tombstone => "tombstone",
            HostileKind::Empty => "empty",
            HostileKind::InvalidUtf8 => "invalid_utf8",
            HostileKind::NulByte => "nul_byte",
            HostileKind::ByteOrderMark => "byte_order_mark",
            HostileKind::DeepNesting => "deep_nesting",
            HostileKind::HugeString => "huge_string",
            HostileKind::HugeNumber => "huge_number",
            HostileKind::DuplicateKey => "duplicate_key",
            HostileKind::FarFuture => "far_future",
            HostileKind::NearSizeLimit => "near_size_limit",
        }
    }
}

/// One hostile record: its kind and its Kafka value (`None`: a tombstone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hostile {
    pub kind: HostileKind,
    pub value: Option<Vec<u8>>,
}

/// The largest near-limit record: under librdkafka's default `message.max.bytes` (1,000,000)
/// with room for the key and the record's overhead.
pub const NEAR_LIMIT_BYTES: usize = 990_000;

/// The valid record hostile ones are made from when the one given is not valid.
pub const STAND_IN: &str = r#"{"userId":1,"movieId":1,"rating":3.0,"timestamp":1761764400}"#;

/// An endless, deterministic source of hostile records.
pub struct HostileRecords {
    rng: fastrand::Rng,
    total_weight: u32,
}

impl HostileRecords {
    pub fn new(seed: u64) -> HostileRecords {
        HostileRecords {
            // apart from the generator's own stream
            rng: fastrand::Rng::with_seed(seed ^ 0x5eed_4057_11e0_0000),
            total_weight: HostileKind::MIX.iter().map(|(_, w)| w).sum(),
        }
    }

    /// Whether to insert a hostile record now, `fraction` of the time.
    pub fn roll(&mut self, fraction: f64) -> bool {
        self.rng.f64() < fraction
    }

    /// A hostile record of a kind drawn from the mix, made from `valid` (a valid rating's
    /// JSON).
    pub fn next_from(&mut self, valid: &str) -> Hostile {
        let mut pick = self.rng.u32(0..self.total_weight);
        let kind = HostileKind::MIX
            .iter()
            .find(|(_, weight)| {
                let found = pick < *weight;
                pick = pick.saturating_sub(*weight);
                found
            })
            .map_or(HostileKind::RandomBytes, |(kind, _)| *kind);
        self.make(kind, valid)
    }

    /// A hostile record of `kind` made from `valid` (from [`STAND_IN`] when `valid` is not a
    /// valid rating: a duplicate key added to a record without that key would make it one).
    pub fn make(&mut self, kind: HostileKind, valid: &str) -> Hostile {
        let valid = match parse_json(valid.as_bytes(), DEFAULT_MAX_RECORD_BYTES) {
            Ok(_) => valid,
            Err(_) => STAND_IN,
        };
        let value = match kind {
            HostileKind::Tombstone => None,
            HostileKind::RandomBytes => Some(self.invalid(|h| h.random_bytes())),
            HostileKind::Truncated => Some(self.invalid(|h| h.truncated(valid))),
            HostileKind::Mutated => Some(self.invalid(|h| h.mutated(valid))),
            other => Some(self.shaped(other, valid)),
        };
        Hostile { kind, value }
    }

    /// Draws with `make` until the bytes are not a valid rating (a random change may leave
    /// one); an empty value after many tries.
    fn invalid(&mut self, mut make: impl FnMut(&mut Self) -> Vec<u8>) -> Vec<u8> {
        for _ in 0..100 {
            let bytes = make(self);
            if parse_json(&bytes, DEFAULT_MAX_RECORD_BYTES).is_err() {
                return bytes;
            }
        }
        Vec::new()
    }

    fn random_bytes(&mut self) -> Vec<u8> {
        let len = self.rng.usize(1..200);
        (0..len).map(|_| self.rng.u8(..)).collect()
    }

    fn truncated(&mut self, valid: &str) -> Vec<u8> {
        valid.as_bytes()[..self.rng.usize(0..valid.len())].to_vec()
    }

    /// One to four random byte changes of `valid`: replaced, inserted, deleted or duplicated
    /// (the result may still be a valid rating).
    pub fn mutated(&mut self, valid: &str) -> Vec<u8> {
        let mut bytes = valid.as_bytes().to_vec();
        for _ in 0..self.rng.usize(1..=4) {
            let at = self.rng.usize(0..bytes.len().max(1));
            match self.rng.u8(0..4) {
                0 if !bytes.is_empty() => bytes[at] = self.rng.u8(..),
                1 => bytes.insert(at.min(bytes.len()), self.interesting_byte()),
                2 if !bytes.is_empty() => {
                    bytes.remove(at);
                }
                _ if !bytes.is_empty() => bytes.insert(at, bytes[at]),
                _ => bytes.push(self.rng.u8(..)),
            }
        }
        bytes
    }

    /// A byte that tends to break JSON: structure, quotes, escapes, digits, control and
    /// non-ASCII bytes.
    fn interesting_byte(&mut self) -> u8 {
        const BYTES: &[u8] = b"{}[]\":,\\-.eE0123456789 \t\n\0\x7f\x80\xc3\xff";
        BYTES[self.rng.usize(0..BYTES.len())]
    }

    /// The kinds with a fixed shape, built around `valid`.
    fn shaped(&mut self, kind: HostileKind, valid: &str) -> Vec<u8> {
        let body = &valid[1..valid.len() - 1]; // without the braces
        let text = match kind {
            HostileKind::Empty => " ".repeat(self.rng.usize(0..3)),
            HostileKind::InvalidUtf8 => {
                let mut bytes = valid.as_bytes().to_vec();
                let at = self.rng.usize(0..bytes.len());
                bytes.insert(at, [0x80, 0xC3, 0xFF, 0xFE][self.rng.usize(0..4)]);
                return bytes;
            }
            HostileKind::NulByte => {
                let mut bytes = valid.as_bytes().to_vec();
                bytes.insert(self.rng.usize(0..=bytes.len()), 0);
                return bytes;
            }
            HostileKind::ByteOrderMark => format!("\u{feff}{valid}"),
            HostileKind::DeepNesting => {
                let depth = self.rng.usize(65..5_000);
                format!(
                    r#"{{{body},"x":{}{}}}"#,
                    "[".repeat(depth),
                    "]".repeat(depth)
                )
            }
            HostileKind::HugeString => {
                let long = "x".repeat(self.rng.usize(1_000..60_000));
                let field = ["userId", "movieId", "rating", "timestamp"][self.rng.usize(0..4)];
                replace_field(valid, field, &format!("\"{long}\""))
            }
            HostileKind::HugeNumber => {
                let digits = "9".repeat(self.rng.usize(20..400));
                let field = ["userId", "movieId", "rating", "timestamp"][self.rng.usize(0..4)];
                replace_field(
                    valid,
                    field,
                    &format!("{digits}e{}", self.rng.u16(300..999)),
                )
            }
            HostileKind::DuplicateKey => {
                let field = ["userId", "movieId", "rating", "timestamp"][self.rng.usize(0..4)];
                format!(r#"{{{body},"{field}":1}}"#)
            }
            HostileKind::FarFuture => {
                // e.g. 17000000140: year 2508
                let far = self.rng.i64(16_000_000_000..200_000_000_000);
                replace_field(valid, "timestamp", &far.to_string())
            }
            HostileKind::NearSizeLimit => {
                let len = self.rng.usize(NEAR_LIMIT_BYTES - 10_000..NEAR_LIMIT_BYTES);
                let pad = "p".repeat(len.saturating_sub(valid.len() + 10));
                format!(r#"{{{body},"pad":"{pad}"}}"#)
            }
            HostileKind::Tombstone
            | HostileKind::RandomBytes
            | HostileKind::Truncated
            | HostileKind::Mutated => unreachable!("not shaped: {kind:?}"),
        };
        text.into_bytes()
    }
}

/// `valid` with the value of `field` replaced by the JSON text `value`.
fn replace_field(valid: &str, field: &str, value: &str) -> String {
    let key = format!("\"{field}\":");
    let Some(start) = valid.find(&key).map(|at| at + key.len()) else {
        return valid.to_string();
    };
    let end = valid[start..]
        .find([',', '}'])
        .map_or(valid.len(), |at| start + at);
    format!("{}{value}{}", &valid[..start], &valid[end..])
}

#[cfg(test)]
mod tests;
