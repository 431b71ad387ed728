//! Hostile HTTP clients against a working processor, through the real broker: an exactly-once
//! `run --dashboard … --metrics-address …` processes a live stream while an attacker on
//! 127.0.0.1 sends, to both ports, what broke the old server — a `Content-Length` of 10^15 (GET
//! and POST), slow headers and slow bodies, 1,000 idle connections, 300 live streams, a 200 MB
//! header line, 3,000 pipelined requests never read, cross-site `text/plain` POSTs, a foreign
//! `Host`, path traversal. Throughout, a well-behaved client polls `/metrics` and
//! `/api/status`: every poll is answered, and none waits on an attacker (the attackers hold on
//! for the whole attack; an answer is bounded by [`NO_WAIT`], far below that). The processor's
//! memory stays under [`RSS_BOUND`], no silence is created, and at the end its outputs equal a
//! run with no attacker.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::eos::{input_topic, run_through_outage, Outputs};

/// How long the attack lasts: every attacker holds on for all of it.
const ATTACK: Duration = Duration::from_secs(20);
/// The longest a well-behaved poll may take: well below [`ATTACK`], so that an answer that
/// waited for an attacker to go fails, whatever the machine's speed.
const NO_WAIT: Duration = Duration::from_secs(5);
/// The processor's resident memory under attack.
const RSS_BOUND: u64 = 256 << 20;

#[test]
fn hostile_clients_on_both_ports_change_nothing_for_the_others_or_the_outputs() {
    let input = input_topic("http-hostile");
    let tested = Outputs::new(&input, "attacked").with(&["--dashboard", "127.0.0.1:0"]);
    let reference = Outputs::new(&input, "reference");
    let log = tested.dir.join("processor.log");
    run_through_outage(&input, &tested, &reference, 30_000, |metrics_port, pid| {
        let metrics = SocketAddr::from(([127, 0, 0, 1], metrics_port));
        let dashboard = dashboard_address(&log);
        let report = attack(metrics, dashboard, pid);
        eprintln!("{report:?}");
        assert_eq!(report.failed_polls, Vec::<String>::new());
        assert!(report.polls > 10, "{report:?}");
        assert!(report.slowest_poll < NO_WAIT, "{report:?}");
        assert!(report.max_rss < RSS_BOUND, "{report:?}");
        let (_, alerts) = get(dashboard, "/api/alerts", "127.0.0.1");
        assert!(
            alerts.contains("\"silences\":[]"),
            "a silence was created: {alerts}"
        );
    });
}

/// What the attack left behind.
#[derive(Debug, Default)]
struct Report {
    polls: usize,
    failed_polls: Vec<String>,
    slowest_poll: Duration,
    max_rss: u64,
}

/// The dashboard's address, from the processor's log (`dashboard: http://…/`).
fn dashboard_address(log: &std::path::Path) -> SocketAddr {
    common::poll(Duration::from_secs(60), || {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        text.lines()
            .find_map(|l| l.split("dashboard: http://").nth(1))
            .and_then(|rest| rest.trim().trim_end_matches('/').parse().ok())
            .ok_or_else(|| format!("no dashboard address in the log: {text}"))
    })
}

/// Runs every attacker against both ports for [`ATTACK`] while polling as a good client.
fn attack(metrics: SocketAddr, dashboard: SocketAddr, pid: u32) -> Report {
    let stop = Arc::new(AtomicBool::new(false));
    let report = Arc::new(Mutex::new(Report::default()));
    let mut attackers: Vec<JoinHandle<()>> = Vec::new();
    for target in [metrics, dashboard] {
        attackers.push(held(target, &stop, 500, b""));
        attackers.push(held(
            target,
            &stop,
            20,
            b"GET /metrics HTTP/1.1\r\nHost: 127",
        ));
        attackers.push(held(
            target,
            &stop,
            20,
            b"POST /api/silences HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{",
        ));
        attackers.push(pipelined(target, &stop));
        attackers.push(spawn(move || huge_header_line(target)));
        attackers.push(spawn(move || refused_requests(target)));
    }
    attackers.push(held(
        dashboard,
        &stop,
        300,
        b"GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    ));
    attackers.push(spawn(move || cross_site(dashboard)));
    let polling = poll_as_a_good_client(metrics, dashboard, pid, &stop, &report);
    std::thread::sleep(ATTACK);
    stop.store(true, Ordering::SeqCst);
    for attacker in attackers {
        attacker
            .join()
            .expect("an attacker thread panicked: see its message");
    }
    polling.join().unwrap();
    let mut report = report.lock().unwrap();
    std::mem::take(&mut *report)
}

fn spawn(work: impl FnOnce() + Send + 'static) -> JoinHandle<()> {
    std::thread::spawn(work)
}

/// `count` connections that send `opening` (maybe nothing, maybe part of a request) and then
/// hold on without reading until the attack ends (one thread: writes only, no waiting).
fn held(
    target: SocketAddr,
    stop: &Arc<AtomicBool>,
    count: usize,
    opening: &'static [u8],
) -> JoinHandle<()> {
    let stop = Arc::clone(stop);
    spawn(move || {
        let mut open: Vec<TcpStream> = Vec::new();
        for _ in 0..count {
            if let Ok(mut stream) = TcpStream::connect(target) {
                let _ = stream.write_all(opening);
                open.push(stream);
            }
        }
        while !stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(500));
        }
        drop(open);
    })
}

/// 3,000 requests in one go on one connection, whose answers are never read.
fn pipelined(target: SocketAddr, stop: &Arc<AtomicBool>) -> JoinHandle<()> {
    let stop = Arc::clone(stop);
    spawn(move || {
        let Ok(mut stream) = TcpStream::connect(target) else {
            return;
        };
        let requests = b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".repeat(3000);
        stream
            .set_write_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let _ = stream.write_all(&requests);
        while !stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(200));
        }
    })
}

/// A header line of up to 200 MB: the server must refuse it (431) long before, and close.
fn huge_header_line(target: SocketAddr) {
    let mut stream = TcpStream::connect(target).unwrap();
    stream
        .set_write_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let _ = stream.write_all(b"GET /metrics HTTP/1.1\r\nX-Huge: ");
    let chunk = vec![b'a'; 1 << 20];
    let mut sent = 0;
    while sent < 200 && stream.write_all(&chunk).is_ok() {
        sent += 1;
    }
    assert!(sent < 200, "{target}: the server read a 200 MB header line");
    let answer = read_all(&mut stream);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 431"),
        "{target}: {answer}"
    );
}

/// Requests that must be refused at once with their status.
fn refused_requests(target: SocketAddr) {
    let cases: [(&str, &str); 5] = [
        (
            "GET /app.js HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000000000000000\r\n\r\nabc",
            "413",
        ),
        (
            "POST /api/silences HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000000000000000\r\n\r\nabc",
            "413",
        ),
        ("GET /../../../etc/passwd HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", "4"),
        ("GET /%2e%2e/%2e%2e/etc/passwd HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", "4"),
        ("GET /app.js/../../../etc/passwd HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", "4"),
    ];
    for (request, status) in cases {
        let answer = exchange(target, request.as_bytes());
        assert!(
            answer.get(9..12).is_some_and(|s| s.starts_with(status)),
            "{target} {request:?}: {answer}"
        );
        assert!(!answer.contains("root:"), "{target}: {answer}");
    }
}

/// What a page of another site, or a rebinding name, can send.
fn cross_site(dashboard: SocketAddr) {
    let body = r#"{"duration":"30d","comment":"x"}"#;
    let plain = format!(
        "POST /api/silences HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: http://attacker.example\r\n\
         Content-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let answer = exchange(dashboard, plain.as_bytes());
    assert!(answer.starts_with("HTTP/1.1 415"), "{answer}");
    let json = plain.replace("text/plain", "application/json");
    let answer = exchange(dashboard, json.as_bytes());
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    let (status, _) = get(dashboard, "/api/status", "attacker.example");
    assert_eq!(status, 421);
}

/// Polls `/metrics` and `/api/status` every 200 ms, and the processor's memory, until `stop`.
fn poll_as_a_good_client(
    metrics: SocketAddr,
    dashboard: SocketAddr,
    pid: u32,
    stop: &Arc<AtomicBool>,
    report: &Arc<Mutex<Report>>,
) -> JoinHandle<()> {
    let (stop, report) = (Arc::clone(stop), Arc::clone(report));
    spawn(move || {
        while !stop.load(Ordering::SeqCst) {
            for (target, path) in [(metrics, "/metrics"), (dashboard, "/api/status")] {
                let asked = Instant::now();
                let (status, body) = get(target, path, "127.0.0.1");
                let took = asked.elapsed();
                let mut report = report.lock().unwrap();
                report.polls += 1;
                report.slowest_poll = report.slowest_poll.max(took);
                if status != 200 {
                    report.failed_polls.push(format!("{path}: {status} {body}"));
                }
            }
            let rss = resident_bytes(pid);
            let mut report = report.lock().unwrap();
            report.max_rss = report.max_rss.max(rss);
            drop(report);
            std::thread::sleep(Duration::from_millis(200));
        }
    })
}

/// The process's resident memory (`VmRSS`).
fn resident_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// A GET with this `Host`: status and body (status 0 when nothing answered).
fn get(target: SocketAddr, path: &str, host: &str) -> (u16, String) {
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    let answer = exchange(target, request.as_bytes());
    let status = answer.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, body.to_string())
}

/// Sends `request` on a new connection and reads the answer until the server closes.
fn exchange(target: SocketAddr, request: &[u8]) -> String {
    let Ok(mut stream) = TcpStream::connect(target) else {
        return String::new();
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let _ = stream.write_all(request);
    read_all(&mut stream)
}

fn read_all(stream: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}
