//! Browsers for the browser sign-in tests: a real Chromium driven over WebDriver (Debian's
//! `chromium` and `chromium-driver`), a scripted HTTP user agent with a cookie jar for the
//! cases a person cannot click (a forged callback), and the `$BROWSER` hook through which
//! `cognitoctl` hands its URL to them.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

/// WebDriver's key of an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Whether Chromium and its driver are installed.
pub fn chromium_available() -> bool {
    Path::new("/usr/bin/chromium").exists() && Path::new("/usr/bin/chromedriver").exists()
}

/// A `$BROWSER` for `cognitoctl`: a script that writes each URL it is asked to open to a file,
/// from which the test takes it to its browser.
#[derive(Debug)]
pub struct BrowserHook {
    dir: tempfile::TempDir,
    taken: usize,
}

impl BrowserHook {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let script = dir.path().join("browser");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\nprintf '%s\\n' \"$1\" >> '{}'\n",
                dir.path().join("urls").display()
            ),
        )
        .expect("script written");
        let mut permissions = std::fs::metadata(&script).expect("script").permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
        std::fs::set_permissions(&script, permissions).expect("script is executable");
        Self { dir, taken: 0 }
    }

    /// The value for `$BROWSER`.
    pub fn command(&self) -> PathBuf {
        self.dir.path().join("browser")
    }

    /// The next URL cognitoctl asked to open (waits up to 20 s).
    pub fn next_url(&mut self) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let text = std::fs::read_to_string(self.dir.path().join("urls")).unwrap_or_default();
            if let Some(url) = text.lines().nth(self.taken) {
                self.taken += 1;
                return url.to_owned();
            }
            assert!(Instant::now() < deadline, "cognitoctl opened no browser");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Default for BrowserHook {
    fn default() -> Self {
        Self::new()
    }
}

/// A page an HTTP agent got.
#[derive(Debug)]
pub struct Page {
    pub status: u16,
    pub url: String,
    pub location: Option<String>,
    pub body: String,
}

/// A scripted user agent: a cookie jar, redirects followed by hand so each hop can be seen.
#[derive(Debug)]
pub struct HttpAgent {
    client: reqwest::blocking::Client,
}

impl HttpAgent {
    pub fn new() -> Self {
        Self {
            client: reqwest::blocking::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(20))
                .build()
                .expect("an HTTP client"),
        }
    }

    pub fn get(&self, url: &str) -> Page {
        page(url, self.client.get(url).send())
    }

    pub fn post_form(&self, url: &str, form: &[(&str, &str)]) -> Page {
        page(url, self.client.post(url).form(form).send())
    }

    /// Follows redirects from `page` until one points at `stop_at` (a prefix), returning
    /// that URL unvisited, or until a page that is not a redirect.
    pub fn follow_until(&self, mut page: Page, stop_at: &str) -> Result<String, Page> {
        for _ in 0..10 {
            let Some(location) = page.location.clone() else {
                return Err(page);
            };
            let next = reqwest::Url::parse(&page.url)
                .and_then(|base| base.join(&location))
                .expect("a valid redirect")
                .to_string();
            if next.starts_with(stop_at) {
                return Ok(next);
            }
            page = self.get(&next);
        }
        Err(page)
    }
}

impl Default for HttpAgent {
    fn default() -> Self {
        Self::new()
    }
}

fn page(url: &str, sent: reqwest::Result<reqwest::blocking::Response>) -> Page {
    let response = sent.unwrap_or_else(|e| panic!("GET/POST {url}: {e}"));
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    Page {
        status,
        url: url.to_owned(),
        location,
        body: response.text().unwrap_or_default(),
    }
}

/// A headless Chromium driven over WebDriver by its own chromedriver.
#[derive(Debug)]
pub struct Chromium {
    driver: Child,
    base: String,
    http: reqwest::blocking::Client,
    _profile: tempfile::TempDir,
}

impl Chromium {
    pub fn start() -> Self {
        let port = crate::free_port();
        let driver = Command::new("/usr/bin/chromedriver")
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("an HTTP client");
        let profile = tempfile::tempdir().expect("a profile folder");
        let mut chromium = Self {
            driver,
            base: format!("http://127.0.0.1:{port}"),
            http,
            _profile: profile,
        };
        chromium.wait_ready();
        let args = json!([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--window-size=900,600",
            format!("--user-data-dir={}", chromium._profile.path().display()),
        ]);
        let session = chromium.call(
            "POST",
            "/session",
            &json!({"capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args},
            }}}),
        );
        let id = session["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {session}"));
        chromium.base = format!("{}/session/{id}", chromium.base);
        chromium
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = self
                .http
                .get(format!("{}/status", self.base))
                .send()
                .ok()
                .and_then(|r| r.json::<Value>().ok())
                .is_some_and(|v| v["value"]["ready"] == json!(true));
            if ready {
                return;
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn call(&self, method: &str, path: &str, body: &Value) -> Value {
        let url = format!("{}{path}", self.base);
        let request = match method {
            "GET" => self.http.get(&url),
            "DELETE" => self.http.delete(&url),
            _ => self.http.post(&url).json(body),
        };
        let response = request
            .send()
            .unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"));
        let value: Value = response.json().expect("WebDriver answers JSON");
        if value["value"]["error"].is_string() {
            panic!("WebDriver {method} {path}: {}", value["value"]);
        }
        value["value"].clone()
    }

    /// Navigates to `url` and waits for the page to load.
    pub fn open(&self, url: &str) {
        self.call("POST", "/url", &json!({ "url": url }));
    }

    pub fn current_url(&self) -> String {
        self.call("GET", "/url", &Value::Null)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The element `css` selects now, if any.
    fn find(&self, css: &str) -> Option<String> {
        let found: Value = self
            .http
            .post(format!("{}/element", self.base))
            .json(&json!({"using": "css selector", "value": css}))
            .send()
            .and_then(reqwest::blocking::Response::json)
            .unwrap_or(Value::Null);
        found["value"][ELEMENT].as_str().map(str::to_owned)
    }

    /// The element `css` selects, waiting up to 15 s for it to appear.
    pub fn element(&self, css: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(id) = self.find(css) {
                return id;
            }
            assert!(
                Instant::now() < deadline,
                "no {css} on {}:\n{}",
                self.current_url(),
                self.text("body")
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether `css` selects something now (a WebDriver failure fails the test).
    pub fn has(&self, css: &str) -> bool {
        let found = self.call(
            "POST",
            "/elements",
            &json!({"using": "css selector", "value": css}),
        );
        found
            .as_array()
            .unwrap_or_else(|| panic!("WebDriver found no list: {found}"))
            .iter()
            .any(|e| e[ELEMENT].is_string())
    }

    pub fn type_into(&self, css: &str, text: &str) {
        let id = self.element(css);
        self.call(
            "POST",
            &format!("/element/{id}/value"),
            &json!({ "text": text }),
        );
    }

    pub fn click(&self, css: &str) {
        let id = self.element(css);
        self.call("POST", &format!("/element/{id}/click"), &json!({}));
    }

    /// The text of the first element `css` selects now ("" when there is none).
    pub fn text(&self, css: &str) -> String {
        let Some(id) = self.find(css) else {
            return String::new();
        };
        self.call("GET", &format!("/element/{id}/text"), &Value::Null)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Waits up to 15 s until the text of `css` contains `expected`; returns it.
    pub fn wait_for_text(&self, css: &str, expected: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let text = self.text(css);
            if text.contains(expected) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "{css} never said {expected:?} on {} (it says {text:?})",
                self.current_url()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A PNG of the page, written to `path`.
    pub fn screenshot(&self, path: &Path) {
        let png = self.call("GET", "/screenshot", &Value::Null);
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap_or_default())
            .expect("a base64 PNG");
        if let Some(parent) = path.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        std::fs::write(path, bytes).expect("screenshot written");
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        let _ = self.http.delete(&self.base).send();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
