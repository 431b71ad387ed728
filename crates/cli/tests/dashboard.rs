//! The dashboard's REST API against the real broker: `ratings-stream dashboard` reads a metrics
//! topic written here (history first, then live) and answers what it holds; bad parameters get
//! 400 with a message; a token is enforced when set.

mod common;

use std::time::Duration;

use common::dashboard::{http, now_ms, send, window, DashboardProcess, Records, TOKEN};
use serde_json::Value;

/// The windows the API answers for `query`.
fn windows(dashboard: &DashboardProcess, query: &str) -> Vec<Value> {
    let (status, body) = dashboard.get_json(&format!("/api/windows?{query}"));
    assert_eq!(status, 200, "{body}");
    body["windows"].as_array().unwrap().clone()
}

/// Minute-aligned start of the window `minutes_ago` minutes before now.
fn minutes_ago(minutes: i64) -> i64 {
    (now_ms() / 1000 / 60 - minutes) * 60
}

#[test]
fn the_api_serves_the_topics_windows_backfilled_then_live_and_skips_foreign_records() {
    let records = Records::new_topic("dashboard-api");
    // every window start from one reading of the clock: a minute may turn during the test
    let this_minute = minutes_ago(0);
    let minutes_ago = |minutes: i64| this_minute - minutes * 60;
    let now = now_ms();
    let mut values: Vec<String> = (1..=30)
        .flat_map(|m| {
            [
                window("tumbling", minutes_ago(m), 100 + m as u64, now).to_string(),
                window("sliding", minutes_ago(m + 4), 500 + m as u64, now).to_string(),
            ]
        })
        .collect();
    values.push("not a window".into());
    values.push(r#"{"some":"other json"}"#.into());
    records.send(&values);
    let dashboard = DashboardProcess::start(&records.topic, "127.0.0.1:0", &[]);

    // the last hour of tumbling windows: all 30, oldest first, exactly as published
    let tumbling = windows(&dashboard, "type=tumbling&range=1h");
    assert_eq!(tumbling.len(), 30);
    assert_eq!(
        tumbling[29],
        serde_json::from_str::<Value>(&values[0]).unwrap()
    );
    let counts: Vec<u64> = tumbling
        .iter()
        .map(|w| w["count"].as_u64().unwrap())
        .collect();
    assert_eq!(
        counts,
        (1..=30).rev().map(|m| 100 + m).collect::<Vec<u64>>()
    );
    // 15 minutes: windows ending in the last 15 minutes only
    let recent = windows(&dashboard, "range=15m");
    assert!((14..=15).contains(&recent.len()), "{}", recent.len());
    let sliding = windows(&dashboard, "type=sliding&range=24h");
    assert_eq!(sliding.len(), 30);
    assert!(sliding
        .iter()
        .all(|w| w["window_type"] == "sliding_5min_1min"));

    let (_, status) = dashboard.get_json("/api/status");
    assert_eq!(status["feed"]["skipped"], 2, "{status}");
    assert!(status["feed"]["last_skipped"]
        .as_str()
        .unwrap()
        .contains("not a window record"));
    assert_eq!(status["windows_kept"], 60);

    // live: a new window and a newer record of an existing one
    let later = now_ms();
    records.send(&[
        window("tumbling", minutes_ago(0), 999, later).to_string(),
        window("tumbling", minutes_ago(1), 4242, later).to_string(),
    ]);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let counts: Vec<u64> = windows(&dashboard, "range=1h")
            .iter()
            .map(|w| w["count"].as_u64().unwrap())
            .collect();
        if counts.len() == 31 && counts[29..] == [4242, 999] {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never live: {counts:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // the CSV export holds the same windows, one row each
    let (status, csv) = dashboard.get("/api/windows.csv?range=1h");
    assert_eq!(status, 200);
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let header = reader.headers().unwrap().clone();
    assert_eq!(&header[4], "count");
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let api = windows(&dashboard, "range=1h");
    assert_eq!(rows.len(), api.len());
    for (row, w) in rows.iter().zip(&api) {
        assert_eq!(row[0], *w["window_start"].as_str().unwrap());
        assert_eq!(row[4].parse::<u64>().unwrap(), w["count"].as_u64().unwrap());
        assert_eq!(
            row[15].parse::<u64>().unwrap(),
            w["rating_histogram"][7].as_u64().unwrap()
        );
    }
}

#[test]
fn bad_parameters_get_400_with_a_message_and_unknown_paths_404() {
    let records = Records::new_topic("dashboard-bad");
    let dashboard = DashboardProcess::start(&records.topic, "127.0.0.1:0", &[]);
    for (query, message) in [
        ("type=hopping", "type must be tumbling or sliding"),
        ("range=forever", "not a duration"),
        ("from=10", "either range, or both from and to"),
        ("from=20&to=10", "must be after from"),
        ("rnage=1h", "unknown parameter"),
    ] {
        let (status, body) = dashboard.get_json(&format!("/api/windows?{query}"));
        assert_eq!(status, 400, "{query}: {body}");
        assert!(
            body["error"].as_str().unwrap().contains(message),
            "{query}: {body}"
        );
    }
    let (status, body) = dashboard.get_json("/api/nothing");
    assert_eq!((status, body["error"].as_str().is_some()), (404, true));
    let silences = format!("{}api/silences", dashboard.url);
    let (status, body) = send("POST", &silences, r#"{"duration":"1h"}"#);
    assert_eq!(status, 400, "{body}");
    let (status, body) = send(
        "POST",
        &silences,
        r#"{"rule":"Nope","duration":"1h","comment":"x"}"#,
    );
    assert_eq!(status, 400);
    assert!(body.contains("no rule named"), "{body}");
    let (status, body) = send(
        "POST",
        &silences,
        r#"{"rule":"LowThroughput","duration":"1h","comment":"deploy"}"#,
    );
    assert_eq!(status, 201, "{body}");
    let (_, alerts) = dashboard.get_json("/api/alerts");
    assert_eq!(alerts["silences"][0]["comment"], "deploy");
    let (status, _) = send("DELETE", &format!("{silences}/1"), "");
    assert_eq!(status, 200);
    let (status, _) = send("DELETE", &format!("{silences}/1"), "");
    assert_eq!(status, 404);
}

#[test]
fn a_token_is_required_on_the_api_when_set_and_the_page_loads_without_it() {
    let records = Records::new_topic("dashboard-token");
    let dashboard =
        DashboardProcess::start(&records.topic, "127.0.0.1:0", &["--dashboard-token", TOKEN]);
    let api = format!("{}api/windows", dashboard.url);
    assert_eq!(http(&api, None).0, 401);
    assert_eq!(http(&api, Some("Bearer wrong")).0, 401);
    assert_eq!(http(&api, Some(&format!("Bearer {TOKEN}"))).0, 200);
    // never in a URL: the token in the query is not taken
    assert_eq!(http(&format!("{api}?token={TOKEN}"), None).0, 401);
    assert_eq!(http(&format!("{}api/events", dashboard.url), None).0, 401);
    // the page trades it for a session cookie, which its live stream and exports carry
    let session = format!("{}api/session", dashboard.url);
    let (status, cookie) = open_session(&session, &format!("Bearer {TOKEN}"));
    assert_eq!(status, 204);
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().unwrap().to_string();
    assert_eq!(with_cookie(&format!("{api}.csv"), &pair), 200);
    assert_eq!(
        with_cookie(&format!("{api}.csv"), "ratings_session=forged"),
        401
    );
    assert_eq!(open_session(&session, "Bearer wrong").0, 401);
    // the page itself holds no data; it asks for the token's data with the token of its URL
    let (status, page) = http(&dashboard.url, None);
    assert_eq!(status, 200);
    assert!(page.contains("ratings-stream"));
}

#[test]
fn an_unreachable_broker_and_processor_are_shown_with_their_cause() {
    let dashboard = DashboardProcess::spawn(&[
        "dashboard",
        "--listen",
        "127.0.0.1:0",
        "--bootstrap-servers",
        "127.0.0.1:1",
        "--scrape",
        "http://ops:scrape-secret-canary@127.0.0.1:1/metrics",
        "--scrape-interval",
        "1s",
    ]);
    let status = dashboard.wait_status(Duration::from_secs(30), "errors shown", |s| {
        s["feed"]["error"].is_string() && s["processors"][0]["error"].is_string()
    });
    assert_eq!(status["feed"]["connected"], false);
    let feed_error = status["feed"]["error"].as_str().unwrap();
    assert!(
        feed_error.contains("cannot reach Kafka at 127.0.0.1:1"),
        "{feed_error}"
    );
    assert_eq!(status["processors"][0]["up"], false);
    let scrape_error = status["processors"][0]["error"].as_str().unwrap();
    assert!(
        scrape_error.contains("cannot scrape http://127.0.0.1:1/metrics"),
        "{scrape_error}"
    );
    // the URL is shown without its user-info, its password nowhere
    assert_eq!(status["processors"][0]["url"], "http://127.0.0.1:1/metrics");
    assert!(
        !status.to_string().contains("scrape-secret-canary"),
        "{status}"
    );
    // the API still answers, with no windows
    assert!(windows(&dashboard, "range=1h").is_empty());
}

#[test]
fn run_with_a_dashboard_serves_its_own_windows_and_scrapes_its_own_metrics() {
    let input = Records::new_topic("dashboard-run-input");
    let outputs = common::OutputTopics::create(&common::unique_name("dashboard-run"));
    let generated = common::temp_dir(&common::unique_name("dashboard-run")).join("in.jsonl");
    // 2,000 s of event time ending an hour ago: windows within the dashboard's 24 h, most of
    // them final
    let start = now_ms() / 1000 - 3600 - 2000;
    common::generate_file(&generated, 20_000, 10, start, &[]);
    let lines: Vec<String> = std::fs::read_to_string(&generated)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    input.send(&lines);
    let metrics_port = common::browser::free_port();
    let metrics_address = format!("127.0.0.1:{metrics_port}");
    let mut args = outputs.run_args(&input.topic);
    let checkpoint = common::temp_dir(&common::unique_name("dashboard-run-checkpoint"));
    args.extend(
        [
            "--dashboard",
            "127.0.0.1:0",
            "--metrics-address",
            &metrics_address,
            "--checkpoint-storage",
            checkpoint.to_str().unwrap(),
            "--scrape-interval",
            "1s",
        ]
        .map(String::from),
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let processor = DashboardProcess::spawn(&args);
    let status = processor.wait_status(
        Duration::from_secs(60),
        "windows and a scraped processor",
        |s| s["windows_kept"].as_u64().unwrap_or(0) > 0 && s["processors"][0]["up"] == true,
    );
    assert_eq!(
        status["processors"][0]["url"],
        format!("http://{metrics_address}/metrics")
    );
    // the windows it serves are those it committed to its metrics topic
    let served = windows(&processor, "range=24h");
    assert!(!served.is_empty());
    let published = common::read_topic(&outputs.metrics);
    for window in &served {
        assert!(
            published.iter().any(|(_, _, w)| w == window),
            "served but not published: {window}"
        );
    }
}

#[test]
fn a_dashboard_beyond_this_machine_without_a_token_is_refused_unless_asked_for() {
    let refused = common::ratings_stream()
        .args(["demo", "--dashboard", "0.0.0.0:0", "--duration", "1s"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        said.contains("without a token") && said.contains("--dashboard-open"),
        "{said}"
    );
    let open = common::ratings_stream()
        .args([
            "demo",
            "--dashboard",
            "0.0.0.0:0",
            "--duration",
            "1s",
            "--dashboard-open",
        ])
        .output()
        .unwrap();
    assert!(
        open.status.success(),
        "{}",
        String::from_utf8_lossy(&open.stderr)
    );
    let tokened = common::ratings_stream()
        .args([
            "demo",
            "--dashboard",
            "0.0.0.0:0",
            "--duration",
            "1s",
            "--dashboard-token",
            "t0ken-for-test",
        ])
        .output()
        .unwrap();
    assert!(
        tokened.status.success(),
        "{}",
        String::from_utf8_lossy(&tokened.stderr)
    );
}

/// `POST /api/session` as the page sends it: the status and the `Set-Cookie` header.
fn open_session(url: &str, authorization: &str) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let response = agent
        .post(url)
        .header("Authorization", authorization)
        .header("Content-Type", "application/json")
        .send("{}")
        .unwrap();
    let cookie = response
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (response.status().as_u16(), cookie)
}

/// The status of a GET carrying `cookie` (`name=value`).
fn with_cookie(url: &str, cookie: &str) -> u16 {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let response = agent.get(url).header("Cookie", cookie).call().unwrap();
    response.status().as_u16()
}
