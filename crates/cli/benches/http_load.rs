//! Load on an HTTP endpoint: `clients` keep-alive connections each sending GETs one after the
//! other for a while; requests per second and latency percentiles. `bench/http.sh` runs it
//! against the old and the new server side by side (see BENCHMARKS.md).
//!
//! Usage: `http_load URL [SECONDS] [CLIENTS,…]` (defaults: 10 s; 1, 16 and 64 clients). Prints
//! one line per concurrency: `clients=N requests=… per_second=… p50_ms=… p99_ms=… errors=…`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let Some(url) = args.first() else {
        eprintln!("usage: http_load URL [SECONDS] [CLIENTS,…]");
        std::process::exit(2);
    };
    let seconds: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(10);
    let levels: Vec<usize> = args
        .get(2)
        .map(|s| s.split(',').filter_map(|n| n.parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 16, 64]);
    let (address, path) = split_url(url);
    for clients in levels {
        let result = load(&address, &path, clients, Duration::from_secs(seconds));
        println!("{}", result.line(clients));
    }
}

/// `http://host:port/path?query` → (`host:port`, `/path?query`).
fn split_url(url: &str) -> (String, String) {
    let rest = url.strip_prefix("http://").expect("an http:// URL");
    match rest.find('/') {
        Some(at) => (rest[..at].to_string(), rest[at..].to_string()),
        None => (rest.to_string(), "/".to_string()),
    }
}

/// What one run measured.
struct Outcome {
    latencies: Vec<Duration>,
    errors: usize,
    elapsed: Duration,
}

impl Outcome {
    fn line(mut self, clients: usize) -> String {
        self.latencies.sort_unstable();
        let at = |q: f64| {
            let n = self.latencies.len();
            if n == 0 {
                return f64::NAN;
            }
            self.latencies[((n as f64 * q) as usize).min(n - 1)].as_secs_f64() * 1000.0
        };
        format!(
            "clients={clients} requests={} per_second={:.0} p50_ms={:.2} p99_ms={:.2} errors={}",
            self.latencies.len(),
            self.latencies.len() as f64 / self.elapsed.as_secs_f64(),
            at(0.50),
            at(0.99),
            self.errors
        )
    }
}

/// `clients` threads, each on one keep-alive connection (reconnecting after an error).
fn load(address: &str, path: &str, clients: usize, length: Duration) -> Outcome {
    let started = Instant::now();
    let workers: Vec<_> = (0..clients)
        .map(|_| {
            let (address, path) = (address.to_string(), path.to_string());
            std::thread::spawn(move || client(&address, &path, started + length))
        })
        .collect();
    let mut outcome = Outcome {
        latencies: Vec::new(),
        errors: 0,
        elapsed: Duration::ZERO,
    };
    for worker in workers {
        let (latencies, errors) = worker.join().expect("a client thread");
        outcome.latencies.extend(latencies);
        outcome.errors += errors;
    }
    outcome.elapsed = started.elapsed();
    outcome
}

/// GETs until `until`: each latency, and the errors.
fn client(address: &str, path: &str, until: Instant) -> (Vec<Duration>, usize) {
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    let (mut latencies, mut errors) = (Vec::new(), 0);
    let mut connection: Option<BufReader<TcpStream>> = None;
    while Instant::now() < until {
        let reader = match &mut connection {
            Some(reader) => reader,
            empty => match TcpStream::connect(address) {
                Ok(stream) => empty.insert(BufReader::new(stream)),
                Err(_) => {
                    errors += 1;
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                }
            },
        };
        let asked = Instant::now();
        match exchange(reader, request.as_bytes()) {
            Ok(true) => latencies.push(asked.elapsed()),
            Ok(false) => {
                latencies.push(asked.elapsed());
                connection = None;
            }
            Err(_) => {
                errors += 1;
                connection = None;
            }
        }
    }
    (latencies, errors)
}

/// One request and its whole answer; whether the connection stays open.
fn exchange(reader: &mut BufReader<TcpStream>, request: &[u8]) -> std::io::Result<bool> {
    reader.get_mut().write_all(request)?;
    let mut line = String::new();
    reader.read_line(&mut line)?;
    if !line.starts_with("HTTP/1.1 200") {
        return Err(std::io::Error::other(format!("answer {line:?}")));
    }
    let (mut length, mut keep, mut chunked) = (0usize, true, false);
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let header = line.trim_end().to_ascii_lowercase();
        if header.is_empty() {
            break;
        }
        if let Some(value) = header.strip_prefix("content-length:") {
            length = value.trim().parse().unwrap_or(0);
        }
        if header == "connection: close" {
            keep = false;
        }
        chunked |= header == "transfer-encoding: chunked";
    }
    if chunked {
        read_chunks(reader)?;
    } else {
        let mut body = vec![0u8; length];
        reader.read_exact(&mut body)?;
    }
    Ok(keep)
}

/// A chunked body, to its last chunk.
fn read_chunks(reader: &mut BufReader<TcpStream>) -> std::io::Result<()> {
    let mut line = String::new();
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or("0"), 16)
            .map_err(std::io::Error::other)?;
        let mut chunk = vec![0u8; size + 2];
        if size == 0 {
            line.clear();
            reader.read_line(&mut line)?;
            return Ok(());
        }
        reader.read_exact(&mut chunk)?;
    }
}
