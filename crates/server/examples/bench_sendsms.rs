//! Load and latency of `sendsms` on this machine, with DocSpace's real PBKDF2 cost (100 000
//! iterations) for `password` logins and the cheap `passwordHash` path.
//!
//! `cargo run --release --example bench_sendsms -- [REQUESTS] [CONCURRENCY]`
//!
//! Starts the server on 127.0.0.1:0 with a throw-away data directory, adds one user per request
//! (so the per-phone cap is never what is measured) and sends a bounded number of requests.

use std::sync::Arc;
use std::time::{Duration, Instant};

use docspace_auth_server::config::Settings;
use docspace_auth_server::password;
use docspace_auth_server::startup::Application;
use docspace_auth_server::users::NewUser;
use serde_json::json;
use tokio::sync::Semaphore;

const PASSWORD: &str = "benchmark password";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let requests: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(200);
    let concurrency: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(16);

    let data = tempfile::tempdir()?;
    let mut settings = Settings { bind: "127.0.0.1:0".parse()?, data_dir: data.path().into(), ..Default::default() };
    // This measures timing, not blocking: let the repeated 401s below through.
    settings.brute_force.max_failures = u32::MAX;
    let app = Application::build(settings).await?;
    let base = format!("http://127.0.0.1:{}", app.port());
    let auth = app.auth();
    tokio::spawn(app.run_until_stopped());

    println!("adding {requests} users (each costs one PBKDF2 at 100 000 iterations)...");
    let mut emails = Vec::with_capacity(requests);
    for i in 0..requests {
        let email = format!("user{i}@example.com");
        let phone = format!("+4474{:08}", 100_000 + i);
        auth.add_user(NewUser { email: &email, password: PASSWORD, phone: Some(&phone), disabled: false }).await?;
        emails.push(email);
    }
    let client_hash = password::client_hash(PASSWORD, auth.hash_params());

    let http = reqwest::Client::new();
    for (label, body_for) in [
        (
            "passwordHash (client-side PBKDF2)",
            Box::new(|e: &str| json!({"userName": e, "passwordHash": client_hash}))
                as Box<dyn Fn(&str) -> serde_json::Value>,
        ),
        ("password (server-side PBKDF2)", Box::new(|e: &str| json!({"userName": e, "password": PASSWORD}))),
    ] {
        let limiter = Arc::new(Semaphore::new(concurrency));
        let started = Instant::now();
        let mut tasks = Vec::with_capacity(requests);
        for email in &emails {
            let permit = limiter.clone().acquire_owned().await?;
            let request = http.post(format!("{base}/api/2.0/authentication/sendsms")).json(&body_for(email));
            tasks.push(tokio::spawn(async move {
                let t = Instant::now();
                let status = request.send().await.map(|r| r.status().as_u16()).unwrap_or(0);
                drop(permit);
                (status, t.elapsed())
            }));
        }
        let mut latencies = Vec::with_capacity(requests);
        let mut failures = 0;
        for task in tasks {
            let (status, elapsed) = task.await?;
            if status != 200 {
                failures += 1;
            }
            latencies.push(elapsed);
        }
        let wall = started.elapsed();
        latencies.sort();
        let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
        println!(
            "{label}: {requests} requests, concurrency {concurrency}: {:.0} req/s, p50 {:?}, p95 {:?}, p99 {:?}, max {:?}, non-200: {failures}",
            requests as f64 / wall.as_secs_f64(),
            pct(0.50),
            pct(0.95),
            pct(0.99),
            latencies.last().copied().unwrap_or(Duration::ZERO),
        );
    }

    // Unknown user and wrong password must cost the same (one PBKDF2 plus one keyed hash each), so
    // that timing does not reveal which accounts exist.
    for (label, user) in [("wrong password", emails[0].as_str()), ("unknown user", "nobody@example.com")] {
        let mut latencies = Vec::new();
        for _ in 0..50 {
            let t = Instant::now();
            let status = http
                .post(format!("{base}/api/2.0/authentication/sendsms"))
                .json(&json!({"userName": user, "password": "not the password"}))
                .send()
                .await?
                .status();
            anyhow::ensure!(status == 401, "expected 401, got {status}");
            latencies.push(t.elapsed());
        }
        latencies.sort();
        println!("{label}: 50 sequential 401s, p50 {:?}, p90 {:?}", latencies[25], latencies[45]);
    }
    Ok(())
}
