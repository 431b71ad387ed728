//! High availability against the real broker: the lease (a one-partition topic's consumer
//! group) goes to one member at a time and moves to a standby when the holder leaves or stops
//! heartbeating; three `run --standby` processors survive the active one's SIGKILLs and a
//! SIGSTOP past the session timeout (a zombie), with outputs equal to an uninterrupted run's.

mod common;
use common::delta::{assert_exact_delta_logs, delta_from_env};

use std::time::{Duration, Instant};

use common::eos::{
    assert_audit_passes, assert_same_outputs, env_or, input_topic, start_generator, Outputs,
};
use ratings_connectors::kafka::{Lease, LeaseSettings};

fn lease_settings(test: &str) -> LeaseSettings {
    let name = common::unique_name(test);
    LeaseSettings {
        topic: format!("{name}-lease"),
        group: format!("{name}-lease"),
        session_timeout: Duration::from_secs(6),
    }
}

/// Waits until `held` says true; how long that took.
fn until(what: &str, within: Duration, held: impl Fn() -> bool) -> Duration {
    let started = Instant::now();
    while !held() {
        assert!(started.elapsed() < within, "{what} within {within:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    started.elapsed()
}

#[test]
fn the_lease_goes_to_one_member_and_moves_when_it_leaves() {
    let settings = common::kafka_settings();
    // a session long enough that a lease moved within half of it was handed over because the
    // holder left, not taken because its session expired
    let session = Duration::from_secs(30);
    let lease = LeaseSettings {
        session_timeout: session,
        ..lease_settings("lease")
    };
    let first = Lease::join(&settings, &lease).unwrap();
    until(
        "the first member holds the lease",
        Duration::from_secs(30),
        || first.held(),
    );
    let second = Lease::join(&settings, &lease).unwrap();
    let third = Lease::join(&settings, &lease).unwrap();
    std::thread::sleep(Duration::from_secs(3)); // the group has rebalanced by now
    assert!(first.held(), "the holder keeps the lease when members join");
    assert!(!second.held() && !third.held(), "one holder at a time");
    let revoked = first.revoked();
    assert!(!revoked.load(std::sync::atomic::Ordering::SeqCst));

    drop(first); // a clean stop leaves the group at once
    let took = until("a standby holds the lease", session, || {
        second.held() || third.held()
    });
    assert!(
        revoked.load(std::sync::atomic::Ordering::SeqCst),
        "the former holder's flag says revoked"
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(second.held() != third.held(), "exactly one holder");
    eprintln!("lease moved {took:?} after the holder left");
    assert!(
        took < session / 2,
        "took {took:?}: not handed over when the holder left"
    );
}

#[test]
fn a_lease_topic_with_more_partitions_is_refused() {
    let settings = common::kafka_settings();
    let lease = lease_settings("lease-partitions");
    ratings_connectors::kafka::ensure_topics(&settings, &[(lease.topic.as_str(), 3)]).unwrap();
    let error = Lease::join(&settings, &lease).err().expect("refused");
    assert!(
        error
            .to_string()
            .contains("has 3 partitions: it needs exactly one"),
        "{error:#}"
    );
}

/// One processor of an HA deployment, with its own log.
struct Member {
    child: common::process::Spawned,
    log: std::path::PathBuf,
    paused: bool,
}

impl Member {
    fn spawn(outputs: &Outputs, input: &str, n: usize) -> Member {
        Member::with(outputs, input, n, &[])
    }

    /// A member with `extra` options.
    fn with(outputs: &Outputs, input: &str, n: usize, extra: &[&str]) -> Member {
        let log = outputs.dir.join(format!("member-{n}.log"));
        let child = outputs.spawn(input, &log, extra);
        Member {
            child,
            log,
            paused: false,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Whether its last word on the lease is that it is active.
    fn active(&self) -> bool {
        let log = self.log();
        let last = log
            .lines()
            .rev()
            .find(|l| l.contains("high availability: active") || l.contains("standing by"));
        !self.paused && last.is_some_and(|l| l.contains("high availability: active"))
    }

    /// How many times it became active.
    fn takeovers(&self) -> usize {
        self.log().matches("high availability: active").count()
    }
}

/// Takeovers over all `members` (a member's own count stays in its log after it died).
fn takeovers(members: &[Member]) -> usize {
    members.iter().map(Member::takeovers).sum()
}

/// Waits until a member that is not paused is active, and the takeovers counted exceed
/// `before`; its index and how long that took.
fn next_active(members: &[Member], before: usize, within: Duration) -> (usize, Duration) {
    let started = Instant::now();
    loop {
        if takeovers(members) > before {
            if let Some(i) = members.iter().position(Member::active) {
                return (i, started.elapsed());
            }
        }
        assert!(
            started.elapsed() < within,
            "no takeover within {within:?}: {}",
            members
                .iter()
                .map(Member::log)
                .collect::<Vec<_>>()
                .join("\n---\n")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn standbys_take_over_from_killed_and_paused_processors_and_outputs_stay_exact() {
    let kills = env_or("RATINGS_HA_KILLS", 10);
    let seed = env_or("RATINGS_HA_SEED", 20_261_202);
    let input = input_topic("ha");
    let tested = Outputs::new(&input, "ha").with(&["--standby"]);
    take_over_and_compare(&input, &tested, kills, seed);
    // RATINGS_TABLE_FORMAT=delta (HA=1 TABLE_FORMAT=delta scripts/fault-injection.sh)
    if delta_from_env() {
        assert_exact_delta_logs(&tested, &input);
    }
}

/// The same with the checkpoint and the Parquet outputs on the test HDFS, fewer kills.
#[test]
fn standbys_with_the_checkpoint_on_hdfs_take_over_and_outputs_stay_exact() {
    let hdfs = std::env::var("HDFS_URL").expect("HDFS_URL is not set: run scripts/test.sh");
    let input = input_topic("ha-hdfs");
    let tested = Outputs::on(&input, "ha-hdfs", &format!("{hdfs}/{input}")).with(&["--standby"]);
    take_over_and_compare(&input, &tested, 3, 5);
}

/// The same writing Delta tables: a zombie (SIGSTOPped, then resumed after its successor took
/// over) never commits to a table over its successor; each table's log is exact.
#[test]
fn standbys_writing_delta_tables_take_over_and_logs_stay_exact() {
    let input = input_topic("ha-delta");
    let tested = Outputs::new(&input, "ha-delta").with(&["--standby", "--table-format", "delta"]);
    take_over_and_compare(&input, &tested, 2, 9);
    assert_exact_delta_logs(&tested, &input);
}

/// Three `--standby` processors of `tested` while the generator writes: the active one is
/// SIGKILLed `kills` times at instants drawn from `seed` (a fresh standby started each time),
/// then SIGSTOPped past the session timeout and resumed (a zombie); the outputs are then
/// compared with an uninterrupted run's and audited.
fn take_over_and_compare(input: &str, tested: &Outputs, kills: u64, seed: u64) {
    // ~8 s of input per takeover: the generator writes all along
    let mut generator = start_generator(input, (kills + 3) * 20_000);
    let mut members: Vec<Member> = (0..3).map(|n| Member::spawn(tested, input, n)).collect();
    let (mut active, _) = next_active(&members, 0, Duration::from_secs(60));
    let mut rng = fastrand::Rng::with_seed(seed);
    for kill in 1..=kills {
        std::thread::sleep(Duration::from_millis(rng.u64(1_000..4_000)));
        let before = takeovers(&members);
        members[active].child.kill(); // SIGKILL
        let killed = std::mem::replace(
            &mut members[active],
            Member::spawn(tested, input, 3 + kill as usize),
        );
        members.push(killed); // dead, kept for its log
        let (next, took) = next_active(&members, before, Duration::from_secs(30));
        eprintln!("kill {kill}/{kills}: member {next} active {took:?} later");
        active = next;
    }

    // a pause past the session timeout: the paused one is a zombie once a standby took over
    let before = takeovers(&members);
    let zombie = active;
    common::signal("-STOP", members[zombie].child.id());
    members[zombie].paused = true;
    let (next, took) = next_active(&members, before, Duration::from_secs(30));
    eprintln!("paused member {zombie}: member {next} active {took:?} later");
    std::thread::sleep(Duration::from_secs(2));
    common::signal("-CONT", members[zombie].child.id());
    members[zombie].paused = false;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !members[zombie].log().contains("standing by") {
        assert!(
            Instant::now() < deadline,
            "the zombie did not stand by: {}",
            members[zombie].log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    assert!(generator.wait().success(), "generate failed");
    for member in &mut members {
        if member.child.try_wait().is_none() {
            common::signal("-TERM", member.child.id());
            member.child.wait();
        }
    }
    tested.run_to_end(input);
    let reference = Outputs::new(input, "reference");
    reference.run_to_end(input);
    assert_same_outputs(tested, &reference);
    assert_audit_passes(tested, input);
}

/// Waits until `member`'s log contains `text`.
fn wait_for_log(member: &Member, text: &str, within: Duration) {
    common::wait_for_text(&member.log, text, within);
}

/// Options of a member whose `/metrics` the test reads.
const METRICS: &[&str] = &["--metrics-address", "127.0.0.1:0"];

/// Waits until `member` (started with [`METRICS`]) serves the metric line `line`.
fn assert_metric(member: &Member, line: &str) {
    let port = common::metrics_port(&member.log, Duration::from_secs(30));
    common::wait_for_metric(port, &format!("\n{line}\n"), Duration::from_secs(10));
}

/// Asserts that `checkpoint inspect` names `member` as the checkpoint's owner.
fn assert_owner(outputs: &Outputs, member: &Member) {
    let inspected = common::binary(&["checkpoint", "inspect", "--storage", &outputs.storage]);
    let text = String::from_utf8_lossy(&inspected.stdout);
    let owner = text.lines().find(|l| l.contains("owner:")).unwrap_or("");
    assert!(
        owner.contains(&format!(" pid {} ", member.child.id())),
        "{text}"
    );
}

#[test]
fn a_standby_that_cannot_use_the_checkpoint_says_so_and_never_takes_the_lease() {
    let input = input_topic("ha-refuse");
    let outputs = Outputs::new(&input, "ha").with(&["--standby"]);
    let mut generator = start_generator(&input, 20_000);
    let mut active = Member::with(&outputs, &input, 0, METRICS);
    next_active(std::slice::from_ref(&active), 0, Duration::from_secs(60));
    wait_for_log(&active, "first epoch committed", Duration::from_secs(30));
    // operators see which one is active: progress line, /metrics, the checkpoint's owner
    wait_for_log(&active, "active since", Duration::from_secs(10));
    assert_metric(&active, "ratings_stream_active 1");
    assert_metric(&active, "ratings_stream_takeovers_total 1");
    assert_owner(&outputs, &active);

    // configured differently: refuses, naming the difference, and stays out of the group
    let other = Member::with(&outputs, &input, 1, &["--watermark-delay", "5min"]);
    wait_for_log(&other, "configured differently", Duration::from_secs(30));
    let said = other.log();
    assert!(
        said.contains("watermark delay 600 s there, 300 s here"),
        "{said}"
    );

    // the same job, but the checkpoint's latest epoch is damaged when the active one dies
    let standby = Member::with(&outputs, &input, 2, METRICS);
    wait_for_log(&standby, "joined the lease group", Duration::from_secs(30));
    assert_metric(&standby, "ratings_stream_active 0");
    assert_metric(&standby, "ratings_stream_takeovers_total 0");
    assert!(generator.wait().success());
    active.child.kill();
    let folder =
        std::path::Path::new(&outputs.storage).join(ratings_connectors::checkpoint::DEFAULT_DIR);
    let latest = std::fs::read_dir(folder.join("commits"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u64>().ok())
        .max()
        .unwrap();
    let offsets = folder.join("offsets").join(latest.to_string());
    let good = std::fs::read(&offsets).unwrap();
    std::fs::write(&offsets, b"RSCKPT 1 offsets crc32=00000000 len=3\nxyz").unwrap();
    wait_for_log(&standby, "is damaged", Duration::from_secs(30));
    std::thread::sleep(Duration::from_secs(8)); // past the session timeout of the killed one
    for member in [&other, &standby] {
        assert!(
            !member.log().contains("high availability: active"),
            "{}",
            member.log()
        );
    }
    assert!(
        standby.log().contains("cannot take over"),
        "{}",
        standby.log()
    );

    // repaired: the standby takes over, the one configured differently still does not
    std::fs::write(&offsets, good).unwrap();
    wait_for_log(&standby, "first epoch committed", Duration::from_secs(30));
    assert_metric(&standby, "ratings_stream_active 1");
    assert_metric(&standby, "ratings_stream_takeovers_total 1");
    assert_owner(&outputs, &standby);
    assert!(
        !other.log().contains("high availability: active"),
        "{}",
        other.log()
    );
}

#[test]
fn the_windows_of_a_job_with_standbys_change_as_the_docs_say() {
    let input = input_topic("ha-windows");
    let outputs = Outputs::new(&input, "ha");
    let mut generator = start_generator(&input, 30_000);
    let mut old = Member::with(&outputs, &input, 0, &["--standby"]);
    wait_for_log(&old, "first epoch committed", Duration::from_secs(60));
    old.child.kill();
    // one with the new windows, without --standby: it rebuilds and records its settings
    let windows = "tumbling_1min,sliding_5min_1min,tumbling_15min";
    let mut first = Member::with(&outputs, &input, 1, &["--windows", windows]);
    wait_for_log(&first, "first epoch committed", Duration::from_secs(60));
    assert!(
        first
            .log()
            .contains("windows changed since the checkpoint (added tumbling_15min)"),
        "{}",
        first.log()
    );
    first.child.kill();
    // then the standbys with the new windows: one takes over without a rebuild; one left with
    // the old windows refuses, naming the difference
    let standby = Member::with(&outputs, &input, 2, &["--standby", "--windows", windows]);
    let stale = Member::with(&outputs, &input, 3, &["--standby"]);
    wait_for_log(&standby, "first epoch committed", Duration::from_secs(60));
    let log = standby.log();
    assert!(
        log.contains("resuming after epoch") && !log.contains("windows changed"),
        "{log}"
    );
    wait_for_log(&stale, "configured differently", Duration::from_secs(30));
    assert!(
        stale
            .log()
            .contains(&format!("windows {windows} there, unset here")),
        "{}",
        stale.log()
    );
    assert!(!stale.log().contains("high availability: active"));
    assert!(generator.wait().success());
}
