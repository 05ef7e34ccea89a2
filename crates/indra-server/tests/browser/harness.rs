//! The machinery behind the browser tests: a real server on a loopback port over a fresh demo
//! database, a `chromedriver` child process, one headless Chromium session, and helpers that
//! wait for elements instead of sleeping.
//!
//! Each flow gets its own [`Browser`]: its own database, server, chromedriver and Chromium
//! profile, so flows run in parallel (nextest runs each test in its own process) and never see
//! each other's sessions or users.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use indra_db::testing::TestDb;
use indra_server::config::Config;
use indra_server::state::AppState;
use serde_json::json;

/// How long to wait for an element, a page or chromedriver before calling it a failure.
pub const WAIT: Duration = Duration::from_secs(10);

/// Set to `1` to skip the browser tests (for machines without Chromium; see docs/testing.md).
pub const SKIP_VAR: &str = "INDRA_SKIP_BROWSER_TESTS";

const JWT_SECRET: &[u8] = b"browser-test-secret-browser-test-secret!";

/// The Chromium flags for a headless run as root on a machine with a closed network.
const CHROMIUM_ARGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
];

/// The browser window, in CSS pixels (the viewport is a little shorter).
const WINDOW: (u32, u32) = (1280, 900);

/// Screenshots of long pages stop here.
const MAX_SHOT_HEIGHT: u32 = 5000;

/// Where screenshots (and, for a failed flow, the page's HTML and chromedriver's log) go.
pub fn output_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-output/browser");
    // Without the `..`s in messages, once the folder exists.
    dir.canonicalize().unwrap_or(dir)
}

/// A signed-out browser pointed at a fresh server, for one flow.
pub struct Browser {
    flow: String,
    base: String,
    client: Option<Client>,
    server: tokio::task::JoinHandle<()>,
    db: Option<TestDb>,
    // Declared last: dropped after the fields above, and it ends Chromium itself.
    driver: Driver,
}

impl Browser {
    /// Starts everything for `flow`; `None` when browser tests are switched off with
    /// `INDRA_SKIP_BROWSER_TESTS=1`. Panics, naming the packages, when Chromium or
    /// chromedriver is missing: a missing browser must not pass for a passing test.
    pub async fn start(flow: &str) -> Option<Self> {
        if std::env::var(SKIP_VAR).is_ok_and(|v| v == "1") {
            eprintln!("browser test {flow}: SKIPPED because {SKIP_VAR}=1");
            return None;
        }
        match Self::try_start(flow).await {
            Ok(browser) => Some(browser),
            Err(e) => panic!("browser test {flow} could not start: {e:#}"),
        }
    }

    async fn try_start(flow: &str) -> anyhow::Result<Self> {
        let (chromium, chromedriver) = find_browser()?;
        let out = output_dir();
        std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
        // A page saved by an earlier failed run would mislead.
        let _ = std::fs::remove_file(out.join(format!("{flow}.html")));

        let db = TestDb::with_demo(1).await?;
        let state = AppState::with_pool(
            Config::for_tests(db.url().to_owned(), JWT_SECRET),
            db.pool.clone(),
        )?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let server = tokio::spawn(async move {
            let app = indra_server::app(state).into_make_service_with_connect_info::<SocketAddr>();
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("browser test server stopped: {e}");
            }
        });

        let mut driver =
            Driver::start(&chromedriver, &out.join(format!("{flow}.chromedriver.log")))?;
        let profile =
            std::env::temp_dir().join(format!("indra-chromium-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&profile)?;
        driver.profile = Some(profile.clone());
        let mut args: Vec<String> = CHROMIUM_ARGS.iter().map(|a| (*a).to_owned()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        args.push(format!("--window-size={},{}", WINDOW.0, WINDOW.1));
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": chromium, "args": args },
        });
        let serde_json::Value::Object(capabilities) = capabilities else {
            bail!("capabilities are an object");
        };
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&driver.url())
            .await
            .with_context(|| {
                format!(
                    "opening a Chromium session through chromedriver (its log: {})",
                    driver.log.display()
                )
            })?;
        driver.session = client.session_id().await?;
        driver.chromium_pid = client
            .capabilities()
            .and_then(|c| c.get("goog:processID"))
            .and_then(serde_json::Value::as_u64);

        Ok(Self {
            flow: flow.to_owned(),
            base,
            client: Some(client),
            server,
            db: Some(db),
            driver,
        })
    }

    pub fn client(&self) -> &Client {
        self.client
            .as_ref()
            .expect("the session is open until finish")
    }

    /// Opens `path` on the test server.
    pub async fn goto(&self, path: &str) -> anyhow::Result<()> {
        let url = format!("{}{path}", self.base);
        self.client()
            .goto(&url)
            .await
            .with_context(|| format!("opening {url}"))
    }

    /// The current page's path, e.g. `/login`.
    pub async fn path(&self) -> anyhow::Result<String> {
        Ok(self.client().current_url().await?.path().to_owned())
    }

    /// Waits until the current path is `path` (after a redirect or a form post).
    pub async fn wait_for_path(&self, path: &str) -> anyhow::Result<()> {
        let deadline = Instant::now() + WAIT;
        loop {
            let now = self.path().await?;
            if now == path {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("expected to be on {path} within {WAIT:?}, still on {now}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits for the first element matching `css`.
    pub async fn wait_for(&self, css: &str) -> anyhow::Result<Element> {
        match self
            .client()
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
        {
            Ok(element) => Ok(element),
            Err(e) => {
                let at = self.path().await.unwrap_or_else(|_| "?".into());
                Err(anyhow!(e).context(format!("waiting {WAIT:?} for `{css}` on {at}")))
            }
        }
    }

    /// Every element matching `css` now, without waiting.
    pub async fn find_all(&self, css: &str) -> anyhow::Result<Vec<Element>> {
        Ok(self.client().find_all(Locator::Css(css)).await?)
    }

    /// Whether anything matches `css` now.
    pub async fn exists(&self, css: &str) -> anyhow::Result<bool> {
        Ok(!self.find_all(css).await?.is_empty())
    }

    /// The visible text of the first element matching `css`, waiting for it.
    pub async fn text(&self, css: &str) -> anyhow::Result<String> {
        Ok(self.wait_for(css).await?.text().await?)
    }

    /// Types `value` into the field matching `css`, replacing what was there.
    pub async fn fill(&self, css: &str, value: &str) -> anyhow::Result<()> {
        let field = self.wait_for(css).await?;
        field
            .clear()
            .await
            .with_context(|| format!("clearing `{css}`"))?;
        field
            .send_keys(value)
            .await
            .with_context(|| format!("typing into `{css}`"))?;
        Ok(())
    }

    /// Chooses the option with `value` in the `<select>` matching `css`.
    pub async fn select(&self, css: &str, value: &str) -> anyhow::Result<()> {
        let select = self.wait_for(css).await?;
        select
            .select_by_value(value)
            .await
            .with_context(|| format!("choosing {value:?} in `{css}`"))
    }

    /// Clicks the submit button of the form matching `form`, as a person would.
    pub async fn submit(&self, form: &str) -> anyhow::Result<()> {
        let button = self
            .wait_for(&format!(
                "{form} button:not([type=button]):not([type=reset]), {form} input[type=submit]"
            ))
            .await
            .with_context(|| format!("no submit button in `{form}`"))?;
        // The page the form is on: once the answer replaces it, this element goes stale. Waiting
        // for that keeps the next lookup from finding an element of the old page (a status line
        // of the previous step, say) just before it disappears.
        let old_page = self.client().find(Locator::Css("html")).await?;
        button
            .click()
            .await
            .with_context(|| format!("clicking the submit button of `{form}`"))?;
        let deadline = Instant::now() + WAIT;
        while old_page.tag_name().await.is_ok() {
            if Instant::now() > deadline {
                bail!("submitting `{form}` did not load a new page within {WAIT:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }

    /// Signs in through the login page (and does not wait for the outcome).
    pub async fn sign_in(&self, email: &str, password: &str) -> anyhow::Result<()> {
        self.goto("/login").await?;
        self.wait_for("form#sign-in").await?;
        self.fill("form#sign-in #email", email).await?;
        self.fill("form#sign-in #password", password).await?;
        self.submit("form#sign-in").await
    }

    /// Saves the whole page (not just the viewport; up to [`MAX_SHOT_HEIGHT`] pixels) as
    /// `<output dir>/<name>.png`.
    pub async fn screenshot(&self, name: &str) -> anyhow::Result<PathBuf> {
        let client = self.client();
        // WebDriver captures the viewport only: grow the window to the page, then restore it.
        let sizes = client
            .execute(
                "return [document.documentElement.scrollHeight, \
                 window.outerHeight - window.innerHeight];",
                vec![],
            )
            .await
            .context("measuring the page")?;
        let page = sizes
            .get(0)
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0);
        let chrome = sizes
            .get(1)
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0);
        let (width, height) = client.get_window_size().await?;
        let tall = page + chrome > height;
        if tall {
            let full = u32::try_from(page + chrome).unwrap_or(MAX_SHOT_HEIGHT);
            let width = u32::try_from(width).unwrap_or(WINDOW.0);
            client
                .set_window_size(width, full.min(MAX_SHOT_HEIGHT))
                .await?;
        }
        let png = client.screenshot().await.context("taking a screenshot");
        if tall {
            let width = u32::try_from(width).unwrap_or(WINDOW.0);
            let height = u32::try_from(height).unwrap_or(WINDOW.1);
            client.set_window_size(width, height).await?;
        }
        let png = png?;
        let path = output_dir().join(format!("{name}.png"));
        std::fs::write(&path, png).with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    }

    /// Ends the flow: saves the end state as `<flow>.png` (and, when the flow failed, the page
    /// as `<flow>.html`), closes the browser, the server and the database, and panics with the
    /// flow's error, if any.
    pub async fn finish(mut self, outcome: anyhow::Result<()>) {
        let shot = self.screenshot(&self.flow).await;
        let mut report = String::new();
        if outcome.is_err() {
            let at = self
                .client()
                .current_url()
                .await
                .map(|u| u.to_string())
                .unwrap_or_default();
            report.push_str(&format!("\n  page: {at}"));
            if let Ok(html) = self.client().source().await {
                let path = output_dir().join(format!("{}.html", self.flow));
                if std::fs::write(&path, html).is_ok() {
                    report.push_str(&format!("\n  its HTML: {}", path.display()));
                }
            }
        }
        match &shot {
            Ok(path) => report.push_str(&format!("\n  screenshot: {}", path.display())),
            Err(e) => report.push_str(&format!("\n  no screenshot: {e:#}")),
        }
        if let Some(client) = self.client.take()
            && client.close().await.is_ok()
        {
            self.driver.session = None;
        }
        self.server.abort();
        if let Some(db) = self.db.take()
            && let Err(e) = db.close().await
        {
            eprintln!("warning: could not drop the browser test's database: {e:#}");
        }
        if let Err(e) = outcome {
            panic!("browser flow {} failed: {e:#}{report}", self.flow);
        }
        if let Err(e) = shot {
            panic!(
                "browser flow {} passed but its screenshot failed: {e:#}",
                self.flow
            );
        }
        eprintln!("browser flow {}: passed{report}", self.flow);
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Finds Chromium and chromedriver on `PATH`, or explains how to install them.
fn find_browser() -> anyhow::Result<(PathBuf, PathBuf)> {
    let chromium = which("chromium");
    let chromedriver = which("chromedriver");
    match (chromium, chromedriver) {
        (Some(chromium), Some(chromedriver)) => Ok((chromium, chromedriver)),
        (chromium, chromedriver) => {
            let missing: Vec<&str> = [
                ("chromium", chromium.is_none()),
                ("chromedriver", chromedriver.is_none()),
            ]
            .into_iter()
            .filter_map(|(name, missing)| missing.then_some(name))
            .collect();
            bail!(
                "{} not found on PATH. The browser tests need Debian's packages `chromium` and \
                 `chromium-driver`: `sudo apt-get install -y chromium chromium-driver` \
                 (scripts/test installs them when it can). To skip these tests instead, set \
                 {SKIP_VAR}=1.",
                missing.join(" and ")
            )
        }
    }
}

fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

/// A chromedriver child process on a free loopback port. On drop it ends the Chromium session
/// (killing chromedriver alone would leave Chromium running), then kills chromedriver and
/// removes the browser profile.
struct Driver {
    child: Child,
    port: u16,
    log: PathBuf,
    session: Option<String>,
    chromium_pid: Option<u64>,
    profile: Option<PathBuf>,
}

impl Driver {
    fn start(chromedriver: &Path, log: &Path) -> anyhow::Result<Self> {
        // A free port can be taken between our probe and chromedriver's bind: try a few.
        let mut last_error = anyhow!("chromedriver did not start");
        for _ in 0..3 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")?
                .local_addr()?
                .port();
            let log_file = std::fs::File::create(log)
                .with_context(|| format!("creating {}", log.display()))?;
            let child = Command::new(chromedriver)
                .arg(format!("--port={port}"))
                .stdin(Stdio::null())
                .stdout(log_file.try_clone()?)
                .stderr(log_file)
                .spawn()
                .with_context(|| format!("starting {}", chromedriver.display()))?;
            let mut driver = Driver {
                child,
                port,
                log: log.to_owned(),
                session: None,
                chromium_pid: None,
                profile: None,
            };
            match driver.wait_until_listening() {
                Ok(()) => return Ok(driver),
                Err(e) => last_error = e,
            }
        }
        Err(last_error)
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn wait_until_listening(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + WAIT;
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "chromedriver exited at start ({status}); its log: {}",
                    self.log.display()
                );
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "chromedriver did not listen on port {} within {WAIT:?}",
                    self.port
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `DELETE /session/<id>` over a plain socket: Drop cannot await the WebDriver client.
    fn delete_session(&self, session: &str) -> std::io::Result<()> {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        write!(
            stream,
            "DELETE /session/{session} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        )?;
        // chromedriver answers once Chromium has quit. Only the status line is read: it keeps
        // the connection open afterwards, whatever `Connection: close` says.
        let mut answer = [0u8; 12];
        stream.read_exact(&mut answer)?;
        if answer.starts_with(b"HTTP/1.1 200") {
            Ok(())
        } else {
            Err(std::io::Error::other(
                "chromedriver refused to end the session",
            ))
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if let Some(session) = self.session.take()
            && self.delete_session(&session).is_err()
            && let Some(pid) = self.chromium_pid
        {
            // The Chromium this chromedriver started: SIGTERM lets it take its helpers along.
            let _ = Command::new("kill").arg(pid.to_string()).status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(profile) = &self.profile {
            let _ = std::fs::remove_dir_all(profile);
        }
    }
}
