//! The dashboard in a real browser: headless Chromium through chromedriver, against
//! `ratings-stream dashboard` reading a topic of the real broker. Each test asserts what the
//! page shows: values, titles, switches, the connection state, alerts, the theme.

mod common;

use std::time::{Duration, Instant};

use common::browser::{free_port, Browser};
use common::dashboard::{now_ms, window, DashboardProcess, Records, TITLES};
use serde_json::Value;

/// Minute-aligned start of the window `minutes_ago` minutes before now.
fn minutes_ago(minutes: i64) -> i64 {
    (now_ms() / 1000 / 60 - minutes) * 60
}

/// 30 tumbling windows (counts 101…130, newest 101) and 30 sliding ones (501…530).
fn history(records: &Records) {
    let now = now_ms();
    let values: Vec<String> = (1..=30)
        .flat_map(|m| {
            [
                window("tumbling", minutes_ago(m), 100 + m as u64, now).to_string(),
                window("sliding", minutes_ago(m + 4), 500 + m as u64, now).to_string(),
            ]
        })
        .collect();
    records.send(&values);
}

const SECOND: Duration = Duration::from_secs(1);

/// How long the page may take to show what it must: generous, since a busy machine is slow
/// (the dashboard's own latency is measured by `scripts/bench-dashboard.sh`).
const PATIENCE: Duration = Duration::from_secs(60);

/// Asserts that the page shows `window` (a tumbling one) as the latest: its count per minute,
/// average, p50 and p95 in the tiles, its top movies' titles in order, its genres and its rating
/// histogram.
fn assert_shows(browser: &Browser, window: &Value) {
    let number = |key: &str| window[key].as_f64().unwrap();
    let tiles = [
        ("#tile-rate .value", format!("{:.0}", number("count"))),
        ("#tile-avg .value", format!("{:.2}", number("avg_rating"))),
        ("#tile-p50 .value", format!("{:.1}", number("p50_rating"))),
        ("#tile-p95 .value", format!("{:.1}", number("p95_rating"))),
    ];
    for (tile, expected) in tiles {
        assert_eq!(browser.text(tile), expected, "{tile}");
    }
    let list = |selector: &str| {
        browser.script(&format!(
            "return [...document.querySelectorAll('{selector}')].map(e => e.textContent)"
        ))
    };
    let titles: Vec<Value> = window["top_movies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["title"].clone())
        .collect();
    assert_eq!(
        list("#trending tbody tr td:nth-child(2)"),
        Value::Array(titles)
    );
    let genres: Vec<Value> = window["metrics_by_genre"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["genre"].clone())
        .collect();
    assert_eq!(list("#genres text[text-anchor=end]"), Value::Array(genres));
    let bars = browser.script(
        "return [...document.querySelectorAll('#distribution rect')].map(r => Number(r.dataset.value))",
    );
    assert_eq!(bars, window["rating_histogram"]);
}

#[test]
fn the_page_shows_the_windows_live_switches_views_exports_and_keeps_the_theme() {
    let records = Records::new_topic("browser-page");
    history(&records);
    let dashboard = DashboardProcess::start(&records.topic, "127.0.0.1:0", &[]);
    let browser = Browser::start();
    browser.goto(&format!("{}?type=tumbling&range=1h", dashboard.url));
    browser.wait_text("#connection", PATIENCE, "connects", |t| t == "live");
    // the latest tumbling window: 101 ratings, top movies in order, genres, the histogram
    browser.wait_text("#tile-rate .value", PATIENCE, "latest count", |t| {
        t == "101"
    });
    let latest = window("tumbling", minutes_ago(1), 101, now_ms());
    assert_shows(&browser, &latest);
    assert_eq!(
        browser.text("#trending tbody tr:first-child td:nth-child(2)"),
        TITLES[0]
    );

    // a window published now appears without reload
    let published = Instant::now();
    records.send(&[window("tumbling", minutes_ago(0), 777, now_ms()).to_string()]);
    browser.wait_text("#tile-rate .value", PATIENCE, "the new window", |t| {
        t == "777"
    });
    let seen_after = published.elapsed();
    eprintln!(
        "window on the page {} ms after it was sent",
        seen_after.as_millis()
    );
    let change = browser.text("#trending tbody tr:first-child td:last-child");
    assert_eq!(change, "=", "same top movie as the window before");

    // the window type and range switches, kept in the URL
    browser.click("#kind button[data-kind=sliding]");
    browser.wait_text(
        "#tile-rate .value",
        PATIENCE,
        "sliding count per minute",
        |t| t == format!("{:.0}", 501.0 / 5.0),
    );
    browser.click("#range button[data-range='15m']");
    browser.wait_script(
        "return location.search === '?type=sliding&range=15m'",
        PATIENCE,
        "the URL keeps the view",
    );
    browser.refresh();
    browser.wait_text(
        "#tile-rate .value",
        PATIENCE,
        "the view after reload",
        |t| t == "100",
    );
    let pressed = browser
        .script("return document.querySelector('#range button[aria-pressed=true]').dataset.range");
    assert_eq!(pressed, "15m");

    // the CSV export of the range on screen equals the API's windows
    let csv_link = browser.script("return document.getElementById('export-csv').href");
    let (status, csv) = common::dashboard::http(csv_link.as_str().unwrap(), None);
    assert_eq!(status, 200);
    let api = browser.script("return document.getElementById('export-json').href");
    let (_, api) = common::dashboard::http(api.as_str().unwrap(), None);
    let api: Value = serde_json::from_str(&api).unwrap();
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let rows: Vec<(String, u64)> = reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            (r[0].to_string(), r[4].parse().unwrap())
        })
        .collect();
    let expected: Vec<(String, u64)> = api["windows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            (
                w["window_start"].as_str().unwrap().to_string(),
                w["count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert!(!rows.is_empty());
    assert_eq!(rows, expected);

    // dark mode: the toggle switches the palette, and the choice survives a reload
    let background = || browser.script("return getComputedStyle(document.body).backgroundColor");
    let before = background();
    browser.click("#theme");
    let toggled = background();
    assert_ne!(before, toggled);
    browser.refresh();
    browser.wait_text("#connection", PATIENCE, "connects", |t| t == "live");
    assert_eq!(background(), toggled, "the theme is remembered");
}

#[test]
fn after_a_restart_the_page_reconnects_and_no_window_is_missing() {
    let records = Records::new_topic("browser-restart");
    history(&records);
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let dashboard = DashboardProcess::start(&records.topic, &listen, &[]);
    let browser = Browser::start();
    browser.goto(&dashboard.url);
    browser.wait_text("#connection", PATIENCE, "connects", |t| t == "live");
    browser.wait_text("#tile-rate .value", PATIENCE, "latest count", |t| {
        t == "101"
    });
    dashboard.kill();
    browser.wait_text("#connection", PATIENCE, "shows the outage", |t| {
        t.starts_with("reconnecting") || t.starts_with("error")
    });
    // windows published while the dashboard is down
    let now = now_ms();
    records.send(&[
        window("tumbling", minutes_ago(0), 555, now).to_string(),
        window("tumbling", minutes_ago(-1), 666, now).to_string(),
    ]);
    let restarted = DashboardProcess::start(&records.topic, &listen, &[]);
    browser.wait_text("#connection", PATIENCE, "reconnects", |t| t == "live");
    browser.wait_text("#tile-rate .value", PATIENCE, "the window it missed", |t| {
        t == "666"
    });
    let (_, api) = restarted.get_json("/api/windows?type=tumbling&range=1h");
    let expected = api["windows"].as_array().unwrap().len();
    assert_eq!(expected, 32);
    browser.wait_script(
        &format!("return windowsInRange().length === {expected}"),
        PATIENCE,
        "every window of the range is on the page",
    );
}

#[test]
fn an_alert_fires_when_windows_stop_resolves_when_they_resume_and_a_silence_hides_it() {
    let records = Records::new_topic("browser-alerts");
    let rules = r#"[{"name":"LowThroughput","signal":"ratings_per_minute","when":"below","threshold":1.0,"for":"2s","over":"6s"}]"#;
    let publish = |minute: i64| {
        records.send(&[window("tumbling", minutes_ago(60 - minute), 50, now_ms()).to_string()]);
    };
    publish(0);
    let dashboard =
        DashboardProcess::start(&records.topic, "127.0.0.1:0", &["--alert-rules", rules]);
    let browser = Browser::start();
    // missing data is shown as missing: the last 15 minutes hold no window (the one published
    // ended an hour ago), so no value, not zero
    browser.goto(&format!("{}?range=15m", dashboard.url));
    browser.wait_text("#connection", PATIENCE, "connects", |t| t == "live");
    browser.wait_text("#updated", PATIENCE, "no data", |t| {
        t == "no data in this range"
    });
    assert_eq!(browser.text("#tile-rate .value"), "–");
    let missing = browser
        .script("return document.querySelector('#tile-rate .value').classList.contains('missing')");
    assert_eq!(missing, true);
    assert_eq!(
        browser.text("#count-chart svg text:last-of-type"),
        "no windows in this range"
    );
    let state = |rule: &str| {
        browser.script(&format!(
            "const li = document.querySelector('#alert-list li[data-rule={rule}]'); \
             return li ? li.dataset.state + (li.dataset.silenced === 'true' ? '+silenced' : '') : 'inactive'"
        ))
    };
    let wait_state = |rule: &str, wanted: &str, within: Duration| {
        let deadline = Instant::now() + within;
        while state(rule) != wanted {
            assert!(
                Instant::now() < deadline,
                "{rule} never {wanted}: {}",
                state(rule)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    // windows keep coming: no alert fires. (Before they came, the rule may have fired if
    // setting the page up took longer than its span: it resolves once they flow.)
    let quiet = |state: &Value| state == "inactive" || state == "resolved";
    let mut minute = 0;
    let mut publish_next = || {
        minute += 1;
        publish(minute);
        std::thread::sleep(SECOND);
    };
    let deadline = Instant::now() + PATIENCE;
    while !quiet(&state("LowThroughput")) {
        assert!(Instant::now() < deadline, "{}", state("LowThroughput"));
        publish_next();
    }
    for _ in 0..3 {
        publish_next();
        let now = state("LowThroughput");
        assert!(quiet(&now), "windows flow, yet the alert is {now}");
    }
    // the windows stop: pending, then firing once the 6 s span is empty and 2 s have passed
    wait_state("LowThroughput", "firing", PATIENCE);
    assert!(browser
        .text("#alert-count")
        .to_lowercase()
        .contains("1 firing"));
    // they resume: resolved
    publish_next();
    wait_state("LowThroughput", "resolved", PATIENCE);
    // they stop again; a silence hides the firing alert
    wait_state("LowThroughput", "firing", PATIENCE);
    browser.select("#silence-form select[name=rule]", "LowThroughput");
    browser.type_into(
        "#silence-form input[name=comment]",
        "planned broker maintenance",
    );
    browser.click("#silence-form button[type=submit]");
    wait_state("LowThroughput", "firing+silenced", PATIENCE);
    assert!(browser
        .text("#alert-count")
        .to_lowercase()
        .contains("none firing"));
    assert!(browser
        .text("#silence-list")
        .contains("planned broker maintenance"));
    let history = browser.script(
        "return [...document.querySelectorAll('#alert-history li')].map(li => li.textContent)",
    );
    let history: Vec<String> = serde_json::from_value(history).unwrap();
    assert!(
        history
            .iter()
            .any(|t| t.ends_with("LowThroughput: firing → resolved")),
        "{history:?}"
    );
}

#[test]
fn the_demo_serves_its_dashboard_and_the_screenshot_is_taken_from_it() {
    // the demo's dashboard on a port of its choosing, read from its log
    let demo =
        DashboardProcess::spawn(&["demo", "--duration", "120s", "--dashboard", "127.0.0.1:0"]);
    let browser = Browser::start();
    let url = format!("{}?type=tumbling&range=1h", demo.url);
    browser.goto(&url);
    // the demo's windows reach the page: a value, ten trending movies with titles, genres
    browser.wait_script(
        "return document.querySelectorAll('#trending tbody tr[data-movie-id]').length === 10 \
         && document.querySelectorAll('#count-chart path.line').length > 0",
        PATIENCE,
        "the demo's windows on the page",
    );
    // a few more windows for the charts
    std::thread::sleep(10 * SECOND);
    let titles = browser.text("#trending tbody");
    assert!(
        !titles.contains("movie "),
        "every trending movie has a title: {titles}"
    );
    browser.resize(1280, 1500);
    std::thread::sleep(SECOND);
    let screenshot = browser.screenshot();
    assert!(screenshot.starts_with(b"\x89PNG"));
    let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("dashboard.png"), screenshot).unwrap();
    demo.kill();
}

#[test]
fn dark_mode_follows_the_system_until_the_toggle_overrides_it() {
    let records = Records::new_topic("browser-theme");
    let dashboard = DashboardProcess::start(&records.topic, "127.0.0.1:0", &[]);
    let scheme = |browser: &Browser| {
        browser.script("return getComputedStyle(document.documentElement).colorScheme")
    };
    let light = Browser::start();
    light.goto(&dashboard.url);
    light.wait_text("#connection", PATIENCE, "connects", |t| t == "live");
    assert_eq!(scheme(&light), "light");
    drop(light);
    let dark = Browser::start_with(&["--force-dark-mode"]);
    dark.goto(&dashboard.url);
    dark.wait_text("#connection", PATIENCE, "connects", |t| t == "live");
    let prefers = dark.script("return matchMedia('(prefers-color-scheme: dark)').matches");
    assert_eq!(prefers, true, "the browser prefers dark");
    assert_eq!(scheme(&dark), "dark", "the page follows the system");
    dark.click("#theme");
    assert_eq!(scheme(&dark), "light", "the toggle overrides it");
    dark.refresh();
    dark.wait_text("#connection", PATIENCE, "connects", |t| t == "live");
    assert_eq!(scheme(&dark), "light", "and is remembered");
}

/// `generate` of `count` ratings into `topic` at 1,000/s with event time 10× the clock, from
/// `start` (epoch seconds); waits until they are written.
fn feed(topic: &str, start: i64, count: u64) {
    let broker = common::bootstrap();
    let (start, count) = (start.to_string(), count.to_string());
    common::binary(&[
        "generate",
        "--rate",
        "1000",
        "--events-per-second",
        "100",
        "--start-time",
        &start,
        "--count",
        &count,
        "--bootstrap-servers",
        &broker,
        "--ratings-topic",
        topic,
    ]);
}

#[test]
fn an_alert_fires_when_the_processors_input_stops_and_resolves_when_it_resumes() {
    let input = Records::new_topic("browser-alert-input");
    let outputs = common::OutputTopics::create(&common::unique_name("browser-alert"));
    let checkpoint = common::temp_dir(&common::unique_name("browser-alert-checkpoint"));
    let rules = r#"[{"name":"LowThroughput","signal":"ratings_per_minute","when":"below","threshold":1.0,"for":"2s","over":"15s"}]"#;
    let mut args = outputs.run_args(&input.topic);
    args.extend(
        [
            "--dashboard",
            "127.0.0.1:0",
            "--alert-rules",
            rules,
            "--watermark-delay",
            "10s",
            "--metrics-address",
            "off",
            "--checkpoint-storage",
            checkpoint.to_str().unwrap(),
        ]
        .map(String::from),
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let processor = DashboardProcess::spawn(&args);
    let browser = Browser::start();
    browser.goto(&processor.url);
    let state = || {
        browser.script(
            "const li = document.querySelector('#alert-list li[data-rule=LowThroughput]'); \
             return li ? li.dataset.state : 'inactive'",
        )
    };
    let wait_state = |wanted: &str, within: Duration| {
        let deadline = Instant::now() + within;
        while state() != wanted {
            assert!(Instant::now() < deadline, "never {wanted}: {}", state());
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    // 20 s of input (200 s of event time): windows become final every 6 s; then it stops
    let start = now_ms() / 1000 / 60 * 60 - 3600;
    feed(&input.topic, start, 20_000);
    browser.wait_text(
        "#tile-rate .value",
        PATIENCE,
        "windows from the processor",
        |t| t.parse::<f64>().is_ok(),
    );
    wait_state("firing", PATIENCE);
    // the input resumes where it stopped: the processor's windows resume and the alert resolves
    let topic = input.topic.clone();
    let resumed = std::thread::spawn(move || feed(&topic, start + 200, 20_000));
    wait_state("resolved", PATIENCE);
    resumed.join().unwrap();
}

#[test]
fn with_a_token_no_url_the_page_requests_carries_it() {
    use common::dashboard::TOKEN;
    let records = Records::new_topic("browser-token");
    history(&records);
    let dashboard =
        DashboardProcess::start(&records.topic, "127.0.0.1:0", &["--dashboard-token", TOKEN]);
    let browser = Browser::start();
    // the operator's link: the token in the fragment, which no request sends
    browser.goto(&format!("{}#token={TOKEN}", dashboard.url));
    browser.wait_text("#connection", PATIENCE, "connects", |t| t == "live");
    browser.wait_text("#tile-rate .value", PATIENCE, "latest count", |t| {
        t == "101"
    });
    // the live stream works (it rides the session cookie)
    records.send(&[window("tumbling", minutes_ago(0), 778, now_ms()).to_string()]);
    browser.wait_text("#tile-rate .value", PATIENCE, "a live window", |t| {
        t == "778"
    });
    // the browser's own list of what it requested, and where it stands
    // (and the live stream's URL, which the list names only once the stream ends)
    let requested = browser.script(
        "return performance.getEntriesByType('resource').map(e => e.name)\
         .concat([location.href, state.source.url])",
    );
    let requested: Vec<&str> = requested
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        requested.iter().any(|u| u.contains("/api/windows"))
            && requested.iter().any(|u| u.contains("/api/events")),
        "{requested:?}"
    );
    for url in &requested {
        assert!(
            !url.contains(TOKEN) && !url.contains("token="),
            "a URL with the token: {url}"
        );
    }
}

#[test]
fn a_page_of_another_site_cannot_add_a_silence_to_a_dashboard_without_a_token() {
    let records = Records::new_topic("browser-cross-site");
    history(&records);
    let dashboard = DashboardProcess::start(&records.topic, "127.0.0.1:0", &[]);
    let browser = Browser::start();
    // a page of another site (served from http://localhost:PORT, the dashboard being on
    // 127.0.0.1) posts a silence as a form or a no-cors fetch can: text/plain, no preflight
    let target = format!("{}api/silences", dashboard.url);
    let site = common::temp_dir("cross-site");
    std::fs::write(
        site.join("attack.html"),
        format!(
            "<script>fetch('{target}',{{method:'POST',mode:'no-cors',\
             headers:{{'Content-Type':'text/plain'}},\
             body:JSON.stringify({{duration:'30d',comment:'x'}})}})\
             .then(()=>document.title='sent',()=>document.title='failed')</script>"
        ),
    )
    .unwrap();
    let port = free_port();
    let _server = common::process::spawn(
        std::process::Command::new("python3")
            .args([
                "-m",
                "http.server",
                "--bind",
                "127.0.0.1",
                &port.to_string(),
            ])
            .current_dir(&site)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null()),
    );
    common::poll(PATIENCE, || {
        std::net::TcpStream::connect(("127.0.0.1", port))
            .map_err(|e| format!("the other site's server does not answer: {e}"))
    });
    browser.goto(&format!("http://localhost:{port}/attack.html"));
    browser.wait_script(
        "return document.title === 'sent'",
        PATIENCE,
        "the other site's request",
    );
    let (_, alerts) = dashboard.get_json("/api/alerts");
    assert_eq!(alerts["silences"], Value::Array(Vec::new()), "{alerts}");
}
