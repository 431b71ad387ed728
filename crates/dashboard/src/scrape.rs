//! Scraping processors' Prometheus endpoints: the counters the page and the alerts need (records
//! read, rejected, late; Kafka errors; storage retries; windows out), consumer lag, and the
//! output-latency histogram, kept as timed samples so that rates, increases and quantiles can be
//! taken over any span up to [`KEEP`]. An endpoint that does not answer is shown as down.

use std::collections::VecDeque;
use std::time::Duration;

use serde::Serialize;

/// How long samples are kept (the longest span a rule can ask about).
pub const KEEP: i64 = 3600;

/// The values of one scrape.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counters {
    pub records_in: f64,
    /// Rejected records, all reasons.
    pub records_invalid: f64,
    pub records_late: f64,
    pub windows_out: f64,
    pub kafka_errors: f64,
    pub storage_retries: f64,
    pub lag: Option<f64>,
    /// Output latency histogram: (upper bound in seconds, cumulative count), ascending.
    pub latency_buckets: Vec<(f64, f64)>,
}

/// Reads the metrics of a ratings-stream `/metrics` page (Prometheus text format). Lines of
/// other metrics are ignored; a page without `ratings_stream_records_in_total` is not a
/// processor's.
pub fn parse(text: &str) -> Result<Counters, String> {
    let mut counters = Counters::default();
    let mut found = false;
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(value) = value.parse::<f64>() else {
            continue;
        };
        let (name, labels) = series.split_once('{').unwrap_or((series, ""));
        match name.strip_prefix("ratings_stream_").unwrap_or("") {
            "records_in_total" => {
                counters.records_in = value;
                found = true;
            }
            "records_invalid_total" => counters.records_invalid += value,
            "records_late_total" => counters.records_late = value,
            "windows_out_total" => counters.windows_out = value,
            "kafka_errors_total" => counters.kafka_errors = value,
            "storage_retries_total" => counters.storage_retries = value,
            "consumer_lag_records" => counters.lag = Some(value),
            "output_latency_seconds_bucket" => {
                if let Some(bound) = label(labels, "le").and_then(|b| b.parse().ok()) {
                    counters.latency_buckets.push((bound, value));
                }
            }
            _ => {}
        }
    }
    if !found {
        return Err("no ratings_stream_records_in_total: not a ratings-stream endpoint".into());
    }
    counters.latency_buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    Ok(counters)
}

/// The value of label `name` in `labels` (`a="x",le="0.5"}`).
fn label<'a>(labels: &'a str, name: &str) -> Option<&'a str> {
    let start = labels.find(&format!("{name}=\""))? + name.len() + 2;
    let rest = &labels[start..];
    Some(&rest[..rest.find('"')?])
}

/// One processor endpoint and its recent samples.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub url: String,
    pub error: Option<String>,
    samples: VecDeque<(i64, Counters)>,
}

/// What the page shows of an endpoint.
#[derive(Debug, Clone, Serialize)]
pub struct EndpointView {
    pub url: String,
    pub up: bool,
    pub error: Option<String>,
    /// Records read per second over the last minute.
    pub records_per_second: Option<f64>,
    pub lag: Option<f64>,
    /// Output latency p99 over the last 5 minutes, seconds.
    pub latency_p99: Option<f64>,
}

impl Endpoint {
    pub fn new(url: &str) -> Endpoint {
        // its password is never shown (the page shows the URL without it)
        ratings_core::secrets::register_url(url);
        Endpoint {
            url: url.to_string(),
            error: None,
            samples: VecDeque::new(),
        }
    }

    /// Keeps the result of a scrape at `now`.
    pub fn record(&mut self, now: i64, result: Result<Counters, String>) {
        match result {
            Ok(counters) => {
                self.error = None;
                self.samples.push_back((now, counters));
                while self.samples.front().is_some_and(|(t, _)| *t < now - KEEP) {
                    self.samples.pop_front();
                }
            }
            Err(error) => self.error = Some(error),
        }
    }

    /// The latest sample and the oldest one within `over` of it (a counter that went down, a
    /// restarted processor, makes the span start after the restart).
    fn span(&self, over: Duration) -> Option<(&Counters, &Counters, i64)> {
        let (latest_at, latest) = self.samples.back()?;
        let oldest_at = latest_at - over.as_secs() as i64;
        let mut first = (*latest_at, latest);
        for (at, counters) in self.samples.iter().rev().skip(1) {
            if *at < oldest_at || counters.records_in > first.1.records_in {
                break;
            }
            first = (*at, counters);
        }
        Some((latest, first.1, latest_at - first.0))
    }

    /// How much `value` grew over the last `over`; `None` without two samples in it.
    pub fn increase(&self, over: Duration, value: fn(&Counters) -> f64) -> Option<f64> {
        let (latest, first, seconds) = self.span(over)?;
        (seconds > 0).then(|| (value(latest) - value(first)).max(0.0))
    }

    /// Records read per second over the last `over`.
    pub fn rate(&self, over: Duration) -> Option<f64> {
        let (_, _, seconds) = self.span(over)?;
        Some(self.increase(over, |c| c.records_in)? / seconds as f64)
    }

    /// Dead letters (rejected and late) per record read over the last `over`; `None` when
    /// nothing was read.
    pub fn dead_letter_share(&self, over: Duration) -> Option<f64> {
        let read = self.increase(over, |c| c.records_in)?;
        let dead = self.increase(over, |c| c.records_invalid + c.records_late)?;
        (read > 0.0).then(|| dead / read)
    }

    /// Quantile `q` of the output latency over the last `over`, from the histogram's buckets as
    /// Prometheus' `histogram_quantile` computes it (linear within a bucket); `None` when no
    /// window was published.
    pub fn latency_quantile(&self, q: f64, over: Duration) -> Option<f64> {
        let (latest, first, _) = self.span(over)?;
        let counts: Vec<(f64, f64)> = latest
            .latency_buckets
            .iter()
            .map(|(bound, count)| {
                let before = first
                    .latency_buckets
                    .iter()
                    .find(|(b, _)| b == bound)
                    .map_or(0.0, |(_, c)| *c);
                (*bound, count - before)
            })
            .collect();
        let total = counts.last()?.1;
        if total <= 0.0 {
            return None;
        }
        let rank = q * total;
        let mut previous = (0.0, 0.0);
        for (bound, count) in &counts {
            if *count >= rank {
                if bound.is_infinite() {
                    return Some(previous.0);
                }
                let within = (rank - previous.1) / (count - previous.1).max(f64::MIN_POSITIVE);
                return Some(previous.0 + (bound - previous.0) * within);
            }
            previous = (*bound, *count);
        }
        Some(previous.0)
    }

    /// The page's view.
    pub fn view(&self) -> EndpointView {
        let minute = Duration::from_secs(60);
        EndpointView {
            url: ratings_core::secrets::without_user_info(&self.url).into_owned(),
            up: self.error.is_none() && !self.samples.is_empty(),
            error: self.error.clone(),
            records_per_second: self.rate(minute),
            lag: self.samples.back().and_then(|(_, c)| c.lag),
            latency_p99: self.latency_quantile(0.99, Duration::from_secs(300)),
        }
    }
}

fn scrubbed(text: String) -> String {
    ratings_core::secrets::scrub(&text).into_owned()
}

/// Fetches `url` (a processor's `/metrics`) within `timeout`.
pub fn fetch(url: &str, timeout: Duration) -> Result<Counters, String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .build()
        .into();
    let shown = ratings_core::secrets::without_user_info(url);
    let text = agent
        .get(url)
        .call()
        .map_err(|e| scrubbed(format!("cannot scrape {shown}: {e}")))?
        .body_mut()
        .read_to_string()
        .map_err(|e| scrubbed(format!("cannot read {shown}: {e}")))?;
    parse(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = "# HELP ratings_stream_records_in Input records read\n\
        # TYPE ratings_stream_records_in counter\n\
        ratings_stream_records_in_total 1000\n\
        ratings_stream_records_invalid_total{reason=\"invalid_json\"} 30\n\
        ratings_stream_records_invalid_total{reason=\"rating_out_of_range\"} 20\n\
        ratings_stream_records_late_total 50\n\
        ratings_stream_kafka_errors_total 2\n\
        ratings_stream_consumer_lag_records 17\n\
        ratings_stream_output_latency_seconds_bucket{le=\"0.01\"} 50\n\
        ratings_stream_output_latency_seconds_bucket{le=\"0.1\"} 90\n\
        ratings_stream_output_latency_seconds_bucket{le=\"1.0\"} 100\n\
        ratings_stream_output_latency_seconds_bucket{le=\"+Inf\"} 100\n\
        other_metric 5\n";

    #[test]
    fn a_processor_page_is_read_and_a_foreign_one_refused() {
        let counters = parse(PAGE).unwrap();
        assert_eq!(counters.records_in, 1000.0);
        assert_eq!(counters.records_invalid, 50.0);
        assert_eq!(counters.lag, Some(17.0));
        assert_eq!(counters.latency_buckets.len(), 4);
        assert!(counters.latency_buckets[3].0.is_infinite());
        assert!(parse("node_cpu_seconds_total 5\n").is_err());
    }

    #[test]
    fn rates_increases_and_quantiles_over_a_span() {
        let mut endpoint = Endpoint::new("http://x/metrics");
        let zero = Counters {
            latency_buckets: vec![(0.01, 0.0), (0.1, 0.0), (1.0, 0.0), (f64::INFINITY, 0.0)],
            ..Counters::default()
        };
        endpoint.record(0, Ok(zero));
        endpoint.record(100, parse(PAGE));
        let span = Duration::from_secs(300);
        assert_eq!(endpoint.rate(span), Some(10.0));
        assert_eq!(endpoint.increase(span, |c| c.kafka_errors), Some(2.0));
        assert_eq!(endpoint.dead_letter_share(span), Some(0.1));
        // 100 windows: 50 ≤ 10 ms, 40 in (10, 100] ms, 10 in (0.1, 1] s
        let p50 = endpoint.latency_quantile(0.5, span).unwrap();
        assert!((p50 - 0.01).abs() < 1e-9, "{p50}");
        let p99 = endpoint.latency_quantile(0.99, span).unwrap();
        assert!((p99 - (0.1 + 0.9 * 0.9)).abs() < 1e-9, "{p99}");
        // a span with one sample has no rate
        assert_eq!(endpoint.rate(Duration::from_secs(10)), None);
    }

    #[test]
    fn a_restarted_processor_starts_its_span_after_the_restart() {
        let mut endpoint = Endpoint::new("http://x/metrics");
        let at = |records| Counters {
            records_in: records,
            ..Counters::default()
        };
        endpoint.record(0, Ok(at(5000.0)));
        endpoint.record(10, Ok(at(100.0)));
        endpoint.record(20, Ok(at(300.0)));
        assert_eq!(endpoint.rate(Duration::from_secs(60)), Some(20.0));
    }

    #[test]
    fn a_failed_scrape_shows_the_endpoint_down_with_the_cause() {
        let mut endpoint = Endpoint::new("http://127.0.0.1:1/metrics");
        endpoint.record(0, fetch(&endpoint.url.clone(), Duration::from_secs(2)));
        let view = endpoint.view();
        assert!(!view.up);
        assert!(view.error.unwrap().contains("cannot scrape"));
    }
}
