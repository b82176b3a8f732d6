use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use docspace_auth_server::auth::AuthService;
use docspace_auth_server::clock::ManualClock;
use docspace_auth_server::config::{SecretText, Settings};
use docspace_auth_server::startup::Application;
use docspace_auth_server::users::NewUser;
use serde_json::{Value, json};
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::{PgPool, SqlitePool};

pub use crate::backend::{Backend, PgDatabase};
pub use docspace_auth_test_macros::backend_test;

pub const EMAIL: &str = "alice@example.com";
pub const PASSWORD: &str = "correct horse battery staple";
pub const PHONE: &str = "+1 201 555 0123";
pub const PHONE_E164: &str = "+12015550123";

pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub auth: Arc<AuthService>,
    pub clock: Arc<ManualClock>,
    pub settings: Settings,
    pub backend: Backend,
    _database: Option<PgDatabase>,
    // Dropped last: removes the data directory.
    _data: tempfile::TempDir,
}

/// Settings for a test: a fresh data dir, an ephemeral port, cheap PBKDF2 (the iteration count is
/// a setting; the default 100 000 is exercised by the benchmark and unit tests).
pub fn test_settings(data: &tempfile::TempDir) -> Settings {
    let mut settings =
        Settings { bind: "127.0.0.1:0".parse().unwrap(), data_dir: data.path().to_path_buf(), ..Default::default() };
    settings.password_hash.iterations = 1_000;
    // The delivery worker looks for due retries often, so tests wait milliseconds, not seconds.
    settings.delivery.poll_interval_ms = 20;
    // Tests that put a proxy or a public URL in front read codes from the development outbox and
    // scrape /metrics openly; the refusals without these are tested in `refusals` and `config`.
    settings.sms.development.allow_public = true;
    settings.metrics.public = true;
    settings
}

pub fn start_time() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-28T10:00:00.000Z").unwrap().to_utc()
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

pub async fn spawn_app_with(backend: Backend, configure: impl FnOnce(&mut Settings)) -> TestApp {
    let database = backend.fresh_database();
    let data = tempfile::tempdir().unwrap();
    let mut settings = test_settings(&data);
    settings.database_url = database.as_ref().map(|db| SecretText(db.url.clone()));
    configure(&mut settings);
    let clock = Arc::new(ManualClock::new(start_time()));
    let app = Application::build_with_clock(settings.clone(), clock.clone()).await.expect("app builds");
    let base = format!("http://127.0.0.1:{}", app.port());
    let auth = app.auth();
    tokio::spawn(app.run_until_stopped());
    TestApp { base, http: reqwest::Client::new(), auth, clock, settings, backend, _database: database, _data: data }
}

impl TestApp {
    pub async fn add_user(&self, email: &str, phone: Option<&str>, disabled: bool) {
        self.auth.add_user(NewUser { email, password: PASSWORD, phone, disabled }).await.expect("user added");
    }

    /// Alice: enabled, with a mobile phone.
    pub async fn add_alice(&self) {
        self.add_user(EMAIL, Some(PHONE), false).await;
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn send_sms(&self, body: &Value) -> reqwest::Response {
        self.post_raw("/api/2.0/authentication/sendsms", "application/json", body.to_string()).await
    }

    pub async fn post_raw(&self, path: &str, content_type: &str, body: impl Into<reqwest::Body>) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .header("Content-Type", content_type)
            .body(body)
            .send()
            .await
            .expect("request sent")
    }

    pub fn outbox_path(&self) -> PathBuf {
        self.settings.outbox_file()
    }

    /// Every message the development provider wrote.
    pub fn outbox(&self) -> Vec<Value> {
        match std::fs::read_to_string(self.outbox_path()) {
            Ok(text) => text.lines().map(|l| serde_json::from_str(l).expect("outbox line is JSON")).collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => panic!("reading outbox: {e}"),
        }
    }

    /// The code in the newest outbox message.
    pub fn last_code(&self) -> String {
        let outbox = self.outbox();
        let text = outbox.last().expect("a message was sent")["text"].as_str().unwrap().to_owned();
        text.split_whitespace().find(|w| w.len() >= 6 && w.bytes().all(|b| b.is_ascii_digit())).unwrap().to_owned()
    }

    /// Runs `sql` (one text for both backends) straight against the database.
    pub async fn query<T>(&self, sql: &str) -> Vec<T>
    where
        T: Send + Unpin + for<'r> sqlx::FromRow<'r, SqliteRow> + for<'r> sqlx::FromRow<'r, PgRow>,
    {
        let url = self.settings.database_url();
        match self.backend {
            Backend::Sqlite => {
                let pool = SqlitePool::connect(&url).await.unwrap();
                let rows = sqlx::query_as(sql).fetch_all(&pool).await.unwrap();
                pool.close().await;
                rows
            }
            Backend::Postgres => {
                let pool = PgPool::connect(&url).await.unwrap();
                let rows = sqlx::query_as(sql).fetch_all(&pool).await.unwrap();
                pool.close().await;
                rows
            }
        }
    }

    /// Rows of the codes table, read straight from the database.
    pub async fn stored_code_count(&self) -> i64 {
        self.query::<(i64,)>("SELECT COUNT(*) FROM sms_codes").await[0].0
    }

    /// Every byte the database keeps: on SQLite its files on disk (main file and write-ahead
    /// log); on PostgreSQL every stored value, with the names of the tables and columns.
    pub async fn database_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::new();
        match self.backend {
            Backend::Sqlite => {
                for entry in std::fs::read_dir(self.settings.data_dir.clone()).unwrap() {
                    let path = entry.unwrap().path();
                    if path.file_name().unwrap().to_string_lossy().starts_with("docspace-auth.db") {
                        bytes.extend(std::fs::read(path).unwrap());
                    }
                }
            }
            Backend::Postgres => {
                let columns: Vec<(String, String, String)> = self
                    .query(
                        "SELECT table_name::text, column_name::text, data_type::text \
                         FROM information_schema.columns WHERE table_schema = 'public'",
                    )
                    .await;
                for (table, column, data_type) in columns {
                    bytes.extend(format!("{table}.{column}").bytes());
                    let value =
                        if data_type == "bytea" { column } else { format!("convert_to({column}::text, 'UTF8')") };
                    let values: Vec<(Option<Vec<u8>>,)> = self.query(&format!("SELECT {value} FROM {table}")).await;
                    bytes.extend(values.into_iter().flat_map(|(v,)| v).flatten());
                }
            }
        }
        bytes
    }

    /// Rows of the SMS outbox: (state, attempts, has text, last error).
    pub async fn outbox_rows(&self) -> Vec<(String, i64, bool, Option<String>)> {
        self.query("SELECT state, attempts, payload IS NOT NULL, last_error FROM sms_outbox ORDER BY created_at").await
    }

    /// Waits until the development outbox holds `n` messages (returning as soon as it does).
    pub async fn wait_for_outbox(&self, n: usize) -> Vec<Value> {
        let reached = wait_until(|| async { Some(self.outbox()).filter(|outbox| outbox.len() >= n) }).await;
        reached.unwrap_or_else(|| panic!("the outbox never reached {n} messages: {:?}", self.outbox()))
    }

    /// Waits until every outbox row is in a final state (nothing queued or being sent: no worker
    /// can claim one again, so nothing more will be sent); returns the rows.
    pub async fn wait_for_settled_outbox(&self) -> Vec<(String, i64, bool, Option<String>)> {
        let settled = |rows: &Vec<(String, i64, bool, Option<String>)>| {
            rows.iter().all(|(state, ..)| state != "queued" && state != "sending")
        };
        match wait_until(|| async { Some(self.outbox_rows().await).filter(settled) }).await {
            Some(rows) => rows,
            None => panic!("the outbox never settled: {:?}", self.outbox_rows().await),
        }
    }

    /// Asserts no message is due for an attempt now (on the app's clock): the worker would find
    /// nothing to send. Claims nothing when right; an attempt when wrong, which the caller sees.
    /// Stop the worker first (`outbox_worker().shutdown()`), or it may claim a due message first.
    pub async fn assert_nothing_due(&self) {
        let attempted = self.auth.outbox_worker().deliver_one(None).await.expect("the store answers");
        assert!(!attempted, "a message was due for another attempt: {:?}", self.outbox_rows().await);
    }

    pub fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }

    /// The stored user with this login (email or id); it must exist.
    pub async fn user(&self, login: &str) -> docspace_auth_server::store::User {
        self.auth.store().find_user_by_login(login).await.unwrap().unwrap()
    }
}

/// Brute-force limits out of the way, for tests of concurrent requests: they are counted before
/// they are checked and would otherwise be refused 429 (see `brute_force`), hiding what is tested.
pub fn no_blocking(settings: &mut Settings) {
    settings.brute_force.max_failures = 1000;
    settings.brute_force.account_captcha_after = 1000;
    settings.brute_force.account_lock_after = 0;
}

/// How long a test waits for something the system does on its own; generous, for a loaded CI.
pub const PATIENCE: std::time::Duration = std::time::Duration::from_secs(30);

/// Polls `check` every 10 ms until it yields a value (returned at once), for up to [`PATIENCE`];
/// `None` if it never did.
pub async fn wait_until<T, F: std::future::Future<Output = Option<T>>>(mut check: impl FnMut() -> F) -> Option<T> {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Some(value) = check().await {
            return Some(value);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

pub fn login_body() -> Value {
    json!({"userName": EMAIL, "password": PASSWORD})
}

/// The body of a response, parsed as JSON (whatever its content type says).
pub async fn json_of(response: reqwest::Response) -> Value {
    let text = response.text().await.unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Asserts `response` is the error envelope with this status and type; returns the body.
pub async fn assert_error(response: reqwest::Response, status: u16, kind: &str) -> Value {
    assert_eq!(response.status().as_u16(), status, "status");
    let body = json_of(response).await;
    assert_eq!(body["error"]["type"], kind, "{body}");
    assert_eq!(body["status"], 1, "{body}");
    assert_eq!(body["statusCode"], status, "{body}");
    assert_eq!(body["error"]["stack"], Value::Null, "{body}");
    assert_eq!(body["error"]["hresult"], 0, "{body}");
    let keys: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["error", "status", "statusCode"], "{body}");
    body
}
