//! A headless Chromium driven through chromedriver (WebDriver), for the dashboard's browser
//! tests: both are Debian's packages (`chromium`, `chromium-driver`), started per test.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

use super::process::{spawn, Spawned};

/// A browser session and the chromedriver serving it (Chromium in its process group); both
/// stop when dropped.
pub struct Browser {
    runtime: tokio::runtime::Runtime,
    client: Option<Client>,
    driver: Spawned,
}

/// A free port on 127.0.0.1 (released at once for the process that will bind it).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Browser {
    /// Starts chromedriver and a headless Chromium window of 1280×900.
    pub fn start() -> Browser {
        Browser::start_with(&[])
    }

    /// The same, with more Chromium flags (e.g. `--force-dark-mode`: the system prefers dark).
    pub fn start_with(flags: &[&str]) -> Browser {
        let port = free_port();
        let driver = spawn(
            Command::new(std::env::var("CHROMEDRIVER").unwrap_or("chromedriver".into()))
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        );
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let mut args = vec![
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--window-size=1280,900",
        ];
        args.extend_from_slice(flags);
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": std::env::var("CHROMIUM").unwrap_or("/usr/bin/chromium".into()),
                "args": args,
            }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            let attempt = runtime.block_on(
                ClientBuilder::new(connector)
                    .capabilities(capabilities.clone())
                    .connect(&url),
            );
            match attempt {
                Ok(client) => break client,
                Err(error) if Instant::now() < deadline => {
                    let _ = error;
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(error) => panic!("no browser session through chromedriver: {error}"),
            }
        };
        Browser {
            runtime,
            client: Some(client),
            driver,
        }
    }

    fn client(&self) -> &Client {
        self.client.as_ref().expect("a session")
    }

    pub fn goto(&self, url: &str) {
        self.runtime.block_on(self.client().goto(url)).unwrap();
    }

    pub fn url(&self) -> String {
        self.runtime
            .block_on(self.client().current_url())
            .unwrap()
            .to_string()
    }

    pub fn refresh(&self) {
        self.runtime.block_on(self.client().refresh()).unwrap();
    }

    /// Runs `script` (a function body; `return` gives the value) in the page.
    pub fn script(&self, script: &str) -> Value {
        self.runtime
            .block_on(self.client().execute(script, Vec::new()))
            .unwrap()
    }

    /// The text of the first element matching `css` (empty when there is none).
    pub fn text(&self, css: &str) -> String {
        self.runtime.block_on(async {
            match self.client().find(Locator::Css(css)).await {
                Ok(element) => element.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            }
        })
    }

    pub fn click(&self, css: &str) {
        self.runtime.block_on(async {
            let element = self.client().find(Locator::Css(css)).await.unwrap();
            element.click().await.unwrap();
        });
    }

    /// Types `text` into the field matching `css`.
    pub fn type_into(&self, css: &str, text: &str) {
        self.runtime.block_on(async {
            let element = self.client().find(Locator::Css(css)).await.unwrap();
            element.send_keys(text).await.unwrap();
        });
    }

    /// Chooses `value` in the select matching `css`.
    pub fn select(&self, css: &str, value: &str) {
        self.runtime.block_on(async {
            let element = self.client().find(Locator::Css(css)).await.unwrap();
            element.select_by_value(value).await.unwrap();
        });
    }

    /// Resizes the window.
    pub fn resize(&self, width: u32, height: u32) {
        self.runtime
            .block_on(self.client().set_window_size(width, height))
            .unwrap();
    }

    /// A PNG of the window.
    pub fn screenshot(&self) -> Vec<u8> {
        self.runtime.block_on(self.client().screenshot()).unwrap()
    }

    /// Waits until `text(css)` satisfies `ready`; returns that text, or fails with `what` and
    /// the last text seen.
    pub fn wait_text(
        &self,
        css: &str,
        within: Duration,
        what: &str,
        ready: impl Fn(&str) -> bool,
    ) -> String {
        super::poll(within, || {
            let text = self.text(css);
            if ready(&text) {
                Ok(text)
            } else {
                Err(format!("{what}: {css} shows {text:?}"))
            }
        })
    }

    /// Waits until `script` returns `true`.
    pub fn wait_script(&self, script: &str, within: Duration, what: &str) {
        super::poll(within, || match self.script(script) {
            Value::Bool(true) => Ok(()),
            other => Err(format!("{what} ({script}): {other}")),
        });
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            let _ = self.runtime.block_on(client.close());
        }
        self.driver.kill();
    }
}
