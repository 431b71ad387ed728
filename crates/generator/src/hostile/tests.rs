use super::*;
use ratings_core::rating::RejectReason;

const VALID: &str = r#"{"userId":12,"movieId":296,"rating":4.5,"timestamp":1761764400}"#;

fn reason(hostile: &Hostile) -> Option<RejectReason> {
    let value = hostile.value.as_deref()?;
    parse_json(value, DEFAULT_MAX_RECORD_BYTES)
        .err()
        .map(|r| r.reason)
}

#[test]
fn each_kind_is_rejected_with_its_reason() {
    use HostileKind::*;
    let expected = [
        (Empty, RejectReason::Empty),
        (InvalidUtf8, RejectReason::InvalidUtf8),
        (NulByte, RejectReason::NulByte),
        (ByteOrderMark, RejectReason::ByteOrderMark),
        (DeepNesting, RejectReason::TooDeeplyNested),
        (HugeString, RejectReason::WrongType),
        (HugeNumber, RejectReason::NumberOutOfRange),
        (DuplicateKey, RejectReason::DuplicateKey),
        (NearSizeLimit, RejectReason::Oversized),
    ];
    let mut hostile = HostileRecords::new(1);
    for (kind, want) in expected {
        for _ in 0..50 {
            let record = hostile.make(kind, VALID);
            assert_eq!(reason(&record), Some(want), "{kind:?}: {record:?}");
        }
    }
    assert_eq!(hostile.make(Tombstone, VALID).value, None);
    for _ in 0..50 {
        let far = hostile.make(FarFuture, VALID);
        let rating = parse_json(far.value.as_deref().unwrap(), 1024).unwrap();
        assert!(rating.timestamp >= 16_000_000_000, "{rating:?}");
    }
}

#[test]
fn records_made_from_invalid_ones_are_invalid_too() {
    // a duplicate timestamp added to a record without one would complete it
    let no_timestamp = r#"{"userId":1,"movieId":2,"rating":4.0}"#;
    let mut hostile = HostileRecords::new(6);
    for _ in 0..200 {
        let record = hostile.make(HostileKind::DuplicateKey, no_timestamp);
        assert_eq!(
            reason(&record),
            Some(RejectReason::DuplicateKey),
            "{record:?}"
        );
        let far = hostile.make(HostileKind::FarFuture, "userId=1");
        let rating = parse_json(far.value.as_deref().unwrap(), 1024).unwrap();
        assert!(rating.timestamp >= 16_000_000_000, "{rating:?}");
    }
}

#[test]
fn random_truncated_and_mutated_records_are_never_valid_ratings() {
    let mut hostile = HostileRecords::new(2);
    for kind in [
        HostileKind::RandomBytes,
        HostileKind::Truncated,
        HostileKind::Mutated,
    ] {
        for _ in 0..2_000 {
            let record = hostile.make(kind, VALID);
            assert!(reason(&record).is_some(), "{kind:?}: {record:?}");
        }
    }
}

#[test]
fn the_mix_draws_every_kind_and_the_same_seed_the_same_records() {
    let draw = |seed| {
        let mut hostile = HostileRecords::new(seed);
        (0..20_000)
            .map(|_| hostile.next_from(VALID))
            .filter(|h| h.kind != HostileKind::NearSizeLimit)
            .take(3_000)
            .collect::<Vec<_>>()
    };
    assert_eq!(draw(3), draw(3));
    assert_ne!(draw(3), draw(4));
    let mut hostile = HostileRecords::new(5);
    let kinds: std::collections::BTreeSet<HostileKind> = (0..100_000)
        .map(|_| hostile.next_from(VALID).kind)
        .collect();
    assert_eq!(kinds.len(), HostileKind::MIX.len(), "{kinds:?}");
}
