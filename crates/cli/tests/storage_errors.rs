//! A storage that cannot work fails fast, naming the storage and the cause: an HDFS namenode
//! whose host does not resolve, a bucket missing on the test S3 endpoint (`scripts/s3.sh`),
//! and credentials it refuses. Transient outages are retried instead (see `hdfs_outage.rs`).

use std::time::{Duration, Instant};

mod common;
use common::{generate_file, temp_dir};

/// Runs the file mode over a small input with Parquet on `storage`, with these environment
/// variables set; returns whether it succeeded, its standard error and how long it took.
fn run_with_storage(name: &str, storage: &str, env: &[(&str, &str)]) -> (bool, String, Duration) {
    let dir = temp_dir(name);
    let input = dir.join("input.jsonl");
    generate_file(&input, 100, 5, common::GENERATED_START, &[]);
    let started = Instant::now();
    let out = common::ratings_stream()
        .args(common::storage_run(&input, storage, &[]))
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.success(), stderr, started.elapsed())
}

#[test]
fn an_hdfs_namenode_that_does_not_resolve_fails_within_seconds() {
    let url = "hdfs://no-such-namenode.invalid:8020/out";
    let (ok, stderr, took) = run_with_storage("hdfs-unknown-host", url, &[]);
    assert!(!ok, "{stderr}");
    assert!(took < common::FAILS_FAST, "took {took:?}: {stderr}");
    assert!(stderr.contains("no-such-namenode.invalid"), "{stderr}");
    assert!(!stderr.contains("retrying in"), "not retried: {stderr}");
}

#[test]
fn a_missing_bucket_fails_within_seconds_naming_it() {
    let bucket = format!("s3://no-such-bucket-{}/out", std::process::id());
    let (ok, stderr, took) = run_with_storage("s3-missing-bucket", &bucket, &[]);
    assert!(!ok, "{stderr}");
    assert!(took < common::FAILS_FAST, "took {took:?}: {stderr}");
    assert!(stderr.contains(&bucket), "the storage is named: {stderr}");
    assert!(
        stderr.contains("NoSuchBucket") || stderr.contains("not found"),
        "the cause: {stderr}"
    );
    assert!(stderr.contains("hint: check --storage"), "{stderr}");
}

#[test]
fn bad_s3_credentials_fail_within_seconds_naming_the_storage() {
    let s3 = std::env::var("S3_URL").expect("S3_URL is not set: run scripts/test.sh");
    let url = format!("{s3}/bad-credentials");
    for (variable, why) in [
        ("AWS_SECRET_ACCESS_KEY", "SignatureDoesNotMatch"),
        ("AWS_ACCESS_KEY_ID", "InvalidAccessKeyId"),
    ] {
        let (ok, stderr, took) =
            run_with_storage("s3-bad-credentials", &url, &[(variable, "wrong")]);
        assert!(!ok, "{stderr}");
        assert!(took < common::FAILS_FAST, "took {took:?}: {stderr}");
        assert!(stderr.contains(&url), "the storage is named: {stderr}");
        assert!(stderr.contains(why), "the cause: {stderr}");
        assert!(!stderr.contains("retrying in"), "not retried: {stderr}");
    }
}
