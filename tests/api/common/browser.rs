//! A real browser for the web-app tests: Debian's headless Chromium driven
//! through ChromeDriver (WebDriver) with fantoccini. Each test starts its
//! own ChromeDriver on a free port and a fresh profile; `.ci/run` installs
//! both packages. A missing browser fails the test with what to install —
//! it is never skipped.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

const CHROMIUM: &str = "/usr/bin/chromium";
/// The longest wait for a page's element: generous, since CI runs the
/// browser tests beside the rest of the suite on two cores.
pub const WAIT: Duration = Duration::from_secs(120);
const DRIVER: &str = "/usr/bin/chromedriver";

impl Browser {
    pub async fn start() -> Browser {
        for bin in [CHROMIUM, DRIVER] {
            assert!(
                std::path::Path::new(bin).exists(),
                "{bin} is missing: apt-get install chromium chromium-driver (.ci/run does)"
            );
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new(DRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let url = format!("http://127.0.0.1:{port}");
        // Ready when it answers its status endpoint.
        let http = reqwest::Client::new();
        let mut ready = false;
        for _ in 0..1200 {
            if http.get(format!("{url}/status")).send().await.is_ok() {
                ready = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(ready, "chromedriver did not start");
        // WebDriver is plain HTTP on loopback, but the client's TLS stack
        // wants a process-wide provider chosen (once; later calls are no-ops).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let profile = tempfile::tempdir().unwrap();
        let caps = json!({
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.path().display()),
                ]
            }
        });
        let client = ClientBuilder::rustls()
            .unwrap()
            .capabilities(caps.as_object().unwrap().clone())
            .connect(&url)
            .await
            .expect("a Chromium session");
        Browser {
            client,
            driver,
            _profile: profile,
        }
    }

    /// Types into the field `css`.
    pub async fn fill(&self, css: &str, text: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap()
            .send_keys(text)
            .await
            .unwrap();
    }

    /// Clicks the element `css`.
    pub async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .click()
            .await
            .unwrap();
    }

    /// Clicks the form button `css` and waits until the page it submitted
    /// has been replaced by the answer (the old document's root goes stale)
    /// and the answer shows `ready`. Waiting for `ready` alone could match
    /// the page being left, when the answer is the same page.
    pub async fn submit(&self, css: &str, ready: &str) {
        let old = self.client.find(Locator::Css("html")).await.unwrap();
        self.click(css).await;
        let gone = tokio::time::Instant::now() + WAIT;
        while old.tag_name().await.is_ok() {
            assert!(
                tokio::time::Instant::now() < gone,
                "{css}: the page never changed"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        self.wait_for(ready).await;
    }

    /// Waits for `css` on the page.
    pub async fn wait_for(&self, css: &str) {
        self.client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"));
    }

    /// Signs out through the page header and waits for the signed-out page.
    pub async fn sign_out(&self) {
        self.click("header form button").await;
        self.client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::LinkText("Sign in again"))
            .await
            .unwrap();
    }

    /// Opens `url`, signs in on the form it leads to (password: the test
    /// people's), and waits for `ready` (CSS) on the page it returns to.
    pub async fn sign_in(&self, url: &str, name: &str, ready: &str) {
        self.client.goto(url).await.unwrap();
        self.fill("#username", name).await;
        let enter = fantoccini::key::Key::Enter.to_string();
        self.fill("#password", &format!("{}{enter}", super::people::PASSWORD))
            .await;
        self.client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(ready))
            .await
            .unwrap();
    }

    /// Saves a screenshot of the page as `target/screenshots/{name}.png`.
    pub async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    pub async fn stop(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
