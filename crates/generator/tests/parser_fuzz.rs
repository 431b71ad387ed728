//! Property test of the record parser: over hostile records (every kind, see
//! `ratings_generator::hostile`) and raw mutations of generated ratings (which may stay valid),
//! `parse_json` never panics, and it accepts exactly the records a plain reference reading
//! through `serde_json::Value` accepts, with the same values — except for the two rules the
//! reference cannot see: a repeated rating field and nesting deeper than 64 levels.
//!
//! `RATINGS_FUZZ_CASES` sets the number of cases (default 200,000; `scripts/fuzz.sh` runs
//! 1,000,000 and more in release), `RATINGS_FUZZ_SEED` the seed.

use std::collections::BTreeMap;

use ratings_core::rating::{parse_json, RejectReason, DEFAULT_MAX_RECORD_BYTES};
use ratings_core::time::{MAX_TIMESTAMP, MIN_TIMESTAMP};
use ratings_generator::hostile::HostileRecords;
use ratings_generator::{builtin_catalog, Generator, GeneratorConfig};
use serde_json::Value;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The reference: which rating a record is, read the plain way, or `None`.
fn reference(bytes: &[u8]) -> Option<(i32, i32, f64, i64)> {
    if bytes.len() > DEFAULT_MAX_RECORD_BYTES {
        return None;
    }
    let text = std::str::from_utf8(bytes).ok()?;
    if text.starts_with('\u{feff}') || text.contains('\0') {
        return None;
    }
    let value: Value = serde_json::from_str(text).ok()?;
    let object = value.as_object()?;
    let id = |name: &str| {
        let number = object.get(name)?.as_number()?;
        if number.is_f64() {
            return None;
        }
        i32::try_from(number.as_i64()?).ok().filter(|id| *id > 0)
    };
    let rating = object.get("rating")?.as_f64()?;
    let timestamp = object.get("timestamp")?.as_number()?;
    if timestamp.is_f64() || !(0.5..=5.0).contains(&rating) {
        return None;
    }
    let timestamp = timestamp.as_i64()?;
    (MIN_TIMESTAMP..=MAX_TIMESTAMP)
        .contains(&timestamp)
        .then_some(())?;
    Some((id("userId")?, id("movieId")?, rating, timestamp))
}

/// Parses `bytes` both ways and asserts they agree; the outcome's name.
fn check(bytes: &[u8]) -> &'static str {
    let want = reference(bytes);
    match parse_json(bytes, DEFAULT_MAX_RECORD_BYTES) {
        Ok(r) => {
            let got = (r.user_id, r.movie_id, r.rating, r.timestamp);
            assert_eq!(Some(got), want, "{:?}", String::from_utf8_lossy(bytes));
            "valid"
        }
        Err(rejection) => {
            let unseen = matches!(
                rejection.reason,
                RejectReason::DuplicateKey | RejectReason::TooDeeplyNested
            );
            assert!(
                want.is_none() || unseen,
                "rejected ({rejection}) but the reference reads {want:?}: {:?}",
                String::from_utf8_lossy(bytes)
            );
            assert!(!rejection.detail.is_empty());
            rejection.reason.as_str()
        }
    }
}

#[test]
fn the_parser_agrees_with_a_plain_reading_on_hostile_and_mutated_records() {
    let cases = env_or("RATINGS_FUZZ_CASES", 200_000);
    let seed = env_or("RATINGS_FUZZ_SEED", 20_261_202);
    let config = GeneratorConfig {
        seed,
        malformed_fraction: 0.05,
        ..GeneratorConfig::default()
    };
    let mut generator = Generator::new(config, &builtin_catalog());
    let mut hostile = HostileRecords::new(seed);
    let mut outcomes: BTreeMap<&str, u64> = BTreeMap::new();
    for case in 0..cases {
        let generated = generator.next().expect("endless");
        let bytes = match case % 3 {
            0 => hostile.mutated(&generated.payload),
            1 => match hostile.next_from(&generated.payload).value {
                Some(value) => value,
                None => continue, // a tombstone: no bytes to parse
            },
            _ => generated.payload.into_bytes(),
        };
        *outcomes.entry(check(&bytes)).or_default() += 1;
    }
    eprintln!("{cases} cases: {outcomes:?}");
    assert!(outcomes["valid"] > cases / 4, "{outcomes:?}");
    for reason in [
        "invalid_json",
        "nul_byte",
        "too_deeply_nested",
        "duplicate_key",
    ] {
        assert!(outcomes.contains_key(reason), "{reason}: {outcomes:?}");
    }
}
