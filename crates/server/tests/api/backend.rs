//! The storage backends the integration tests run on, and a fresh PostgreSQL database per test.
//!
//! `#[backend_test]` makes each test function taking a `Backend` into two tests, `...::sqlite` and
//! `...::postgres`. PostgreSQL is reached through the maintenance database at
//! `DOCSPACE_AUTH_TEST_POSTGRES_URL` (default `postgres://root@127.0.0.1:5432/postgres`); each test
//! creates a database of its own there and drops it afterwards. PostgreSQL is required: when it
//! cannot be reached, every PostgreSQL test fails, naming the URL it tried and the way out,
//! `DOCSPACE_AUTH_SKIP_POSTGRES=1`, which runs only the SQLite half (and says so on stderr).

use std::future::Future;
use std::io::Write;
use std::sync::OnceLock;
use std::time::Duration;

use docspace_auth_server::store::redact_url;
use sqlx::{Connection, PgConnection};

const DEFAULT_ADMIN_URL: &str = "postgres://root@127.0.0.1:5432/postgres";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// Runs `test` on this backend, if it is available.
    pub async fn run<F: Future<Output = ()>>(self, test: impl FnOnce(Backend) -> F) {
        if self.available() {
            test(self).await;
        }
    }

    /// Runs a test that is not `async` on this backend, if it is available.
    pub fn run_sync(self, test: impl FnOnce(Backend)) {
        if self.available() {
            test(self);
        }
    }

    /// Whether tests run on this backend: SQLite always; PostgreSQL unless
    /// `DOCSPACE_AUTH_SKIP_POSTGRES=1` opts out (said once per test binary, on stderr). A
    /// PostgreSQL that does not answer, without the opt-out, panics: a test that did not run must
    /// not pass.
    pub fn available(self) -> bool {
        match self {
            Backend::Sqlite => true,
            Backend::Postgres => postgres_available(),
        }
    }

    /// A fresh, empty database for one test; `None` on SQLite, where the default database file in
    /// the test's own data directory is one.
    pub fn fresh_database(self) -> Option<PgDatabase> {
        match self {
            Backend::Sqlite => None,
            Backend::Postgres => Some(PgDatabase::create()),
        }
    }
}

/// A PostgreSQL database of one test's own, dropped with this value, also when the test fails.
pub struct PgDatabase {
    pub url: String,
    name: String,
}

impl PgDatabase {
    fn create() -> Self {
        let name = format!("docspace_auth_test_{}", uuid::Uuid::new_v4().simple());
        admin(format!("CREATE DATABASE {name}")).unwrap_or_else(|e| panic!("creating test database {name}: {e}"));
        let mut url = url::Url::parse(&admin_url()).expect("DOCSPACE_AUTH_TEST_POSTGRES_URL is a URL");
        url.set_path(&name);
        Self { url: url.into(), name }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        // FORCE: the servers a test started may still hold connections.
        if let Err(e) = admin(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)) {
            let _ = writeln!(std::io::stderr(), "could not drop test database {}: {e}", self.name);
        }
    }
}

fn admin_url() -> String {
    std::env::var("DOCSPACE_AUTH_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_owned())
}

/// The opt-out for machines without PostgreSQL.
const SKIP_VARIABLE: &str = "DOCSPACE_AUTH_SKIP_POSTGRES";

fn postgres_skipped() -> bool {
    std::env::var(SKIP_VARIABLE).is_ok_and(|v| v == "1")
}

fn postgres_available() -> bool {
    static REACHABLE: OnceLock<Result<(), String>> = OnceLock::new();
    if postgres_skipped() {
        static SAID: OnceLock<()> = OnceLock::new();
        SAID.get_or_init(|| {
            // Straight to stderr, past the test harness's capture, so a passing run shows it too.
            let _ = writeln!(
                std::io::stderr(),
                "\nPostgreSQL SKIPPED: {SKIP_VARIABLE}=1; the PostgreSQL half of this test suite did not run \
                 (its tests print `ok` without running).\n"
            );
        });
        return false;
    }
    match REACHABLE.get_or_init(|| admin("SELECT 1".to_owned())) {
        Ok(()) => true,
        Err(e) => panic!(
            "PostgreSQL at {} is unreachable: {e}. Every integration test also runs on PostgreSQL: start it, \
             point DOCSPACE_AUTH_TEST_POSTGRES_URL at a maintenance database (e.g. \
             postgres://user@host:5432/postgres), or set {SKIP_VARIABLE}=1 to run only the SQLite half.",
            redact_url(&admin_url())
        ),
    }
}

/// Runs one statement on the maintenance database, on a thread and runtime of its own, so that it
/// works from any test, async or not, and from `Drop`.
fn admin(sql: String) -> Result<(), String> {
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
        runtime.block_on(async {
            let connect = PgConnection::connect(&admin_url());
            let mut connection = tokio::time::timeout(Duration::from_secs(10), connect)
                .await
                .map_err(|_| "no answer within 10 s".to_owned())?
                .map_err(|e| e.to_string())?;
            sqlx::query(&sql).execute(&mut connection).await.map_err(|e| e.to_string())?;
            connection.close().await.map_err(|e| e.to_string())
        })
    })
    .join()
    .unwrap_or_else(|_| Err("the thread talking to PostgreSQL panicked".to_owned()))
}

#[test]
fn postgres_suite_availability() {
    // Fails, once, with the way out, when PostgreSQL is unreachable and not opted out of.
    Backend::Postgres.available();
}
