//! The server against raw TCP clients on 127.0.0.1 that break each limit, with limits made
//! short so that each test takes a fraction of a second. A well-behaved request is answered
//! alongside each misbehaving client.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ratings_httpd::{serve, Limits, Method, Request, Response, Server};

/// Far beyond every limit below: an answer that takes this long is a failure.
const PATIENCE: Duration = Duration::from_secs(30);

fn limits() -> Limits {
    Limits {
        max_header_bytes: 4096,
        max_headers: 16,
        header_timeout: Duration::from_millis(300),
        max_body: 1024,
        body_timeout: Duration::from_millis(300),
        write_timeout: Duration::from_millis(300),
        max_connections: 8,
        handler_threads: 2,
    }
}

/// A server whose handler echoes the body, panics on `/panic` and streams on `/stream`; the
/// count of handler calls.
fn server(limits: Limits) -> (Server, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let server = serve(
        "test-http",
        "127.0.0.1:0",
        limits,
        move |request: Request| {
            counted.fetch_add(1, Ordering::SeqCst);
            match (request.method.clone(), request.path.as_str()) {
                (_, "/panic") => panic!("a handler bug"),
                (Method::POST, _) => Response::new(200, "text/plain", request.body),
                (_, "/big") => Response::new(200, "text/plain", vec![b'x'; 64 * 1024]),
                (_, "/stream") => {
                    let (response, sender) = Response::stream(200, "text/event-stream", 1);
                    std::thread::spawn(move || {
                        let mut n = 0;
                        while sender.send(format!("data: {n}\n\n")) {
                            n += 1;
                        }
                    });
                    response
                }
                _ => Response::text(200, "fine\n"),
            }
        },
    )
    .unwrap();
    (server, calls)
}

fn connect(address: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream
}

/// Everything the server sends until it closes the connection.
fn read_to_close(stream: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

/// Sends `request` on a new connection; the whole answer, the connection closed after it.
fn exchange(address: SocketAddr, request: &[u8]) -> String {
    let mut stream = connect(address);
    let _ = stream.write_all(request);
    read_to_close(&mut stream)
}

/// A well-behaved GET, answered.
fn assert_served(address: SocketAddr) {
    let answer = exchange(
        address,
        b"GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

fn status(answer: &str) -> &str {
    answer.get(9..12).unwrap_or(answer)
}

#[test]
fn a_request_is_answered_with_nosniff() {
    let (server, _) = server(limits());
    let answer = exchange(
        server.address(),
        b"GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("x-content-type-options: nosniff"),
        "{answer}"
    );
    assert!(answer.ends_with("fine\n"), "{answer}");
}

#[test]
fn a_huge_declared_body_is_refused_before_the_handler_and_nothing_is_allocated() {
    let (server, calls) = server(limits());
    for method in ["GET", "POST"] {
        let request = format!(
            "{method} /app.js HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000000000\r\n\r\nabc"
        );
        let answer = exchange(server.address(), request.as_bytes());
        assert_eq!(status(&answer), "413", "{method}: {answer}");
        assert!(
            answer.to_ascii_lowercase().contains("connection: close"),
            "{answer}"
        );
    }
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    assert_served(server.address());
}

#[test]
fn a_body_above_the_limit_sent_chunked_is_refused() {
    let (server, calls) = server(limits());
    let chunk = "x".repeat(2000);
    let request = format!(
        "POST /silences HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{chunk}\r\n0\r\n\r\n",
        chunk.len()
    );
    let answer = exchange(server.address(), request.as_bytes());
    assert_eq!(status(&answer), "413", "{answer}");
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[test]
fn a_body_within_the_limit_reaches_the_handler() {
    let (server, _) = server(limits());
    let answer = exchange(
        server.address(),
        b"POST /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello",
    );
    assert!(
        answer.starts_with("HTTP/1.1 200") && answer.ends_with("hello"),
        "{answer}"
    );
}

#[test]
fn headers_above_the_limit_get_431_and_malformed_ones_400() {
    let (server, calls) = server(limits());
    let long = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(10_000)
    );
    assert_eq!(status(&exchange(server.address(), long.as_bytes())), "431");
    let many: String = (0..40).map(|i| format!("X-{i}: y\r\n")).collect();
    let many = format!("GET / HTTP/1.1\r\nHost: x\r\n{many}\r\n");
    assert_eq!(status(&exchange(server.address(), many.as_bytes())), "431");
    assert_eq!(
        status(&exchange(server.address(), b"\x00\x01 garbage\r\n\r\n")),
        "400"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    assert_served(server.address());
}

#[test]
fn slow_headers_get_408_and_an_idle_connection_is_closed_without_a_word() {
    let (server, _) = server(limits());
    let mut slow = connect(server.address());
    slow.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
    let mut idle = connect(server.address());
    assert_served(server.address());
    assert_eq!(status(&read_to_close(&mut slow)), "408");
    assert_eq!(
        read_to_close(&mut idle),
        "",
        "an idle connection is closed silently"
    );
}

#[test]
fn a_slow_body_gets_408() {
    let (server, calls) = server(limits());
    let mut slow = connect(server.address());
    slow.write_all(b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
        .unwrap();
    assert_served(server.address());
    assert_eq!(status(&read_to_close(&mut slow)), "408");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "only the well-behaved request"
    );
}

#[test]
fn pipelined_requests_whose_answers_are_never_read_are_dropped_and_others_served_meanwhile() {
    let (server, calls) = server(limits());
    let mut flood = connect(server.address());
    // 3,000 requests in one go (90 KB), for 64 KiB answers each: far more than the buffers of
    // both ends hold, so the server's writes stall once they are full
    let requests = b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n".repeat(3000);
    flood.write_all(&requests).unwrap();
    assert_served(server.address());
    // the server gives up on the flood, which never reads: a write then finds it closed
    let deadline = Instant::now() + PATIENCE;
    while flood
        .write_all(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
        .is_ok()
    {
        assert!(
            Instant::now() < deadline,
            "the flood's connection was never closed"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        calls.load(Ordering::SeqCst) < 3000,
        "every request was answered"
    );
}

#[test]
fn connections_beyond_the_cap_get_503_and_the_served_ones_go_on() {
    let (server, _) = server(limits());
    // eight idle connections that have sent part of a request hold every permit
    let held: Vec<TcpStream> = (0..8)
        .map(|_| {
            let mut stream = connect(server.address());
            stream.write_all(b"GET / HTTP/1.1\r\n").unwrap();
            stream
        })
        .collect();
    let answer = exchange(server.address(), b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(status(&answer), "503", "{answer}");
    assert!(answer.contains("Retry-After"), "{answer}");
    drop(held);
    // once they time out (or close), permits return
    let deadline = Instant::now() + PATIENCE;
    loop {
        let answer = exchange(
            server.address(),
            b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        if answer.starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(Instant::now() < deadline, "never served again: {answer}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_handler_that_panics_is_a_500_and_the_server_goes_on() {
    let (server, _) = server(limits());
    let answer = exchange(server.address(), b"GET /panic HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(status(&answer), "500", "{answer}");
    assert_served(server.address());
}

#[test]
fn a_stream_flows_until_the_client_leaves_and_its_sender_then_stops() {
    let (server, _) = server(limits());
    let mut stream = connect(server.address());
    stream
        .write_all(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains("data: 100\n") {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "the stream ended early");
        seen.extend_from_slice(&buf[..n]);
    }
    assert!(String::from_utf8_lossy(&seen).starts_with("HTTP/1.1 200"));
    drop(stream);
    // the sender thread ends (its send fails) — the server keeps serving others
    assert_served(server.address());
}

#[test]
fn a_stopped_server_accepts_no_more_connections() {
    let (server, _) = server(limits());
    let address = server.address();
    assert_served(address);
    drop(server);
    let deadline = Instant::now() + PATIENCE;
    while TcpStream::connect(address).is_ok() {
        assert!(Instant::now() < deadline, "still accepting");
        std::thread::sleep(Duration::from_millis(20));
    }
}
