//! A database outage under a running server: a fast 503 `DatabaseUnavailable` (never a hang or a
//! 500), `/health` saying so, and recovery without a restart once the database is back.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use sqlx::Connection as _;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::helpers::*;

/// A TCP proxy to `upstream` that can be cut (open connections closed, new ones dropped on
/// arrival, as when the database host goes away) and restored.
struct CuttableProxy {
    address: SocketAddr,
    cut: Arc<AtomicBool>,
    cuts: watch::Sender<u64>,
}

impl CuttableProxy {
    async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let cut = Arc::new(AtomicBool::new(false));
        let (cuts, _) = watch::channel(0);
        let (is_cut, on_cut) = (cut.clone(), cuts.subscribe());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if is_cut.load(Ordering::SeqCst) {
                    continue; // dropped: the client sees its connection closed at once
                }
                let mut on_cut = on_cut.clone();
                on_cut.mark_unchanged();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(upstream).await else { return };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = on_cut.changed() => {}
                    }
                });
            }
        });
        Self { address, cut, cuts }
    }

    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        self.cuts.send_modify(|n| *n += 1);
    }

    fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

/// `url` with its host and port replaced by `address`.
fn through(url: &str, address: SocketAddr) -> String {
    let mut url = url::Url::parse(url).unwrap();
    url.set_ip_host(address.ip()).unwrap();
    url.set_port(Some(address.port())).unwrap();
    url.into()
}

/// Sends `request`, returning its answer and how long it took.
async fn timed(request: impl std::future::Future<Output = reqwest::Response>) -> (reqwest::Response, Duration) {
    let started = Instant::now();
    let response = request.await;
    (response, started.elapsed())
}

/// The database being unreachable is answered as such, promptly. The bound is generous (the pool
/// waits `database_timeout_ms`, 2 s here; before this answer existed the wait was 10 s and a 500).
async fn assert_unavailable(app: &TestApp) {
    let (response, took) = timed(app.send_sms(&login_body())).await;
    assert!(took < Duration::from_secs(6), "sendsms took {took:?}");
    assert_eq!(response.headers().get("retry-after").map(|v| v.to_str().unwrap()), Some("1"));
    let body = assert_error(response, 503, "DatabaseUnavailable").await;
    assert!(body["error"]["message"].as_str().unwrap().contains("database"), "{body}");

    let (response, took) = timed(async { app.http.get(app.url("/health")).send().await.unwrap() }).await;
    assert!(took < Duration::from_secs(6), "health took {took:?}");
    let body = assert_error(response, 503, "DatabaseUnavailable").await;
    assert!(body["error"]["message"].as_str().unwrap().contains("database"), "{body}");
}

async fn assert_recovered(app: &TestApp, codes_before: usize) {
    let health = app.http.get(app.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let response = app.send_sms(&login_body()).await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    assert_eq!(app.wait_for_outbox(codes_before + 1).await.len(), codes_before + 1);
}

#[tokio::test]
async fn postgres_cut_off_under_a_running_server_is_a_fast_503_and_recovers() {
    if !Backend::Postgres.available() {
        return;
    }
    let upstream: SocketAddr = "127.0.0.1:5432".parse().unwrap();
    let proxy = CuttableProxy::start(upstream).await;
    let app = spawn_app_with(Backend::Postgres, |s| {
        let direct = s.database_url.as_ref().expect("a PostgreSQL database").0.clone();
        s.database_url = Some(docspace_auth_server::config::SecretText(through(&direct, proxy.address)));
    })
    .await;
    app.add_alice().await;
    assert_eq!(app.send_sms(&login_body()).await.status(), 200);
    app.wait_for_outbox(1).await;

    proxy.cut();
    assert_unavailable(&app).await;
    // Still down: every request keeps answering promptly, none piles up behind another.
    let body = login_body();
    let answers = futures_util::future::join_all((0..8).map(|_| timed(app.send_sms(&body)))).await;
    for (response, took) in answers {
        assert_eq!(response.status(), 503);
        assert!(took < Duration::from_secs(6), "took {took:?}");
    }

    proxy.restore();
    assert_recovered(&app, 1).await;
}

#[tokio::test]
async fn a_sqlite_database_another_process_holds_locked_is_a_fast_503_and_recovers() {
    let app = spawn_app(Backend::Sqlite).await;
    app.add_alice().await;
    // Another program (a backup, an operator's shell) holds the write lock.
    let url = app.settings.database_url();
    let mut holder = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN EXCLUSIVE").execute(&mut holder).await.unwrap();

    assert_unavailable_writes(&app).await;
    assert_eq!(app.outbox().len(), 0, "nothing was sent while the database could not be written");

    sqlx::query("COMMIT").execute(&mut holder).await.unwrap();
    drop(holder);
    assert_recovered(&app, 0).await;
}

/// With SQLite locked, reads still work (`/health` and `/metrics` answer 200, promptly: they only
/// read); writes fail promptly.
async fn assert_unavailable_writes(app: &TestApp) {
    let (response, took) = timed(async { app.http.get(app.url("/health")).send().await.unwrap() }).await;
    assert!(took < Duration::from_secs(6), "health took {took:?}");
    assert_eq!(response.status(), 200);
    let body = json_of(response).await;
    assert_eq!((&body["response"]["status"], &body["statusCode"]), (&Value::from("ok"), &Value::from(200)), "{body}");
    let (response, took) = timed(async { app.http.get(app.url("/metrics")).send().await.unwrap() }).await;
    assert!(took < Duration::from_secs(6), "metrics took {took:?}");
    assert_eq!(response.status(), 200, "metrics only read");

    let (response, took) = timed(app.send_sms(&login_body())).await;
    // SQLite waits 10 s for the lock (its own writers queue for it too), then gives up.
    assert!(took < Duration::from_secs(15), "sendsms took {took:?}");
    let body: Value = assert_error(response, 503, "DatabaseUnavailable").await;
    assert!(body["error"]["message"].as_str().unwrap().contains("database"), "{body}");
}

/// The document tells clients of the answer: every operation that touches the database declares
/// 503 `DatabaseUnavailable`.
#[tokio::test]
async fn the_document_declares_database_unavailable_wherever_the_database_is_used() {
    let app = spawn_app(Backend::Sqlite).await;
    let document: Value = app.http.get(app.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    let mut declared = 0;
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let description = operation["responses"]["503"]["description"].as_str().unwrap_or_default();
            if path == "/api/2.0/settings" {
                continue; // answered from memory
            }
            assert!(description.contains("DatabaseUnavailable"), "{method} {path}: {description:?}");
            declared += 1;
        }
    }
    assert_eq!(declared, 8);
}
