//! Configurations that would fail users or leak codes refuse to start, naming the setting to change.

use std::sync::Arc;

use docspace_auth_server::clock::ManualClock;
use docspace_auth_server::config::SecretText;
use docspace_auth_server::crypto::random_hex;
use docspace_auth_server::startup::Application;

use crate::binary::docspace_auth;
use crate::helpers::*;

async fn build(settings: docspace_auth_server::config::Settings) -> anyhow::Result<Application> {
    Application::build_with_clock(settings, Arc::new(ManualClock::new(start_time()))).await
}

/// A second instance on the same database with another secret would reject every code, session
/// and queued text of the first: it does not start, and says which setting to align.
#[backend_test]
async fn an_instance_whose_secret_differs_from_the_databases_refuses_to_start(backend: Backend) {
    let first = spawn_app_with(backend, |s| s.secret = Some(SecretText(random_hex(32)))).await;
    first.add_alice().await;
    assert_eq!(first.send_sms(&login_body()).await.status(), 200);

    let data = tempfile::tempdir().unwrap();
    let mut second = test_settings(&data);
    // The same database; on SQLite the first instance's file, read from another data directory.
    second.database_url = Some(SecretText(first.settings.database_url()));
    second.secret = Some(SecretText(random_hex(32)));
    let error = format!("{:#}", build(second.clone()).await.err().expect("another secret is refused"));
    assert!(error.contains("`secret`") && error.contains("DOCSPACE_AUTH__SECRET"), "{error}");
    assert!(!error.contains(&second.secret.as_ref().unwrap().0), "the message must not print the secret");

    // A generated secret (no `secret` setting) is named by its file.
    second.secret = None;
    let error = format!("{:#}", build(second.clone()).await.err().expect("a generated secret is refused too"));
    assert!(error.contains(&data.path().join("server-secret").display().to_string()), "{error}");

    // The first instance's secret is accepted, and its users' codes still work there.
    second.secret = first.settings.secret.clone();
    build(second).await.expect("the same secret starts");
    assert_eq!(first.send_sms(&login_body()).await.status(), 200);
}

/// What `serve` prints on standard error when it refuses to start; fails the test (rather than
/// waiting for ever) when it starts instead.
fn refusal(command: &mut std::process::Command) -> String {
    use std::process::Stdio;
    let mut child = command.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("serve started instead of refusing");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let output = child.wait_with_output().unwrap();
    assert!(!output.status.success(), "serve exited successfully");
    String::from_utf8(output.stderr).unwrap()
}

/// On an address others reach, the development provider (codes in a plain-text file) and an
/// open `/metrics` need an explicit yes.
#[test]
fn serve_on_a_public_address_refuses_the_development_provider_and_open_metrics() {
    let data = tempfile::tempdir().unwrap();
    let serve = |envs: &[(&str, &str)]| {
        let mut command = docspace_auth(data.path(), None);
        command.args(["serve", "--bind", "0.0.0.0:0"]).envs(envs.iter().copied());
        command
    };
    let error = refusal(&mut serve(&[]));
    assert!(error.contains("sms.development.allow_public") && error.contains("0.0.0.0:0"), "{error}");
    assert!(!data.path().join("sms-outbox.jsonl").exists());

    let allowed = [("DOCSPACE_AUTH__SMS__DEVELOPMENT__ALLOW_PUBLIC", "true")];
    let error = refusal(&mut serve(&allowed));
    assert!(error.contains("metrics.bearer_token") && error.contains("metrics.public"), "{error}");

    // Explicitly allowed: it starts (and is stopped at once).
    let mut command = serve(&[allowed[0], ("DOCSPACE_AUTH__METRICS__BEARER_TOKEN", "scrape-token")]);
    let mut child = command.stdout(std::process::Stdio::piped()).spawn().unwrap();
    let mut first_line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut first_line).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(first_line.starts_with("docspace-auth listening on http://0.0.0.0:"), "{first_line}");
}

/// A provider section that `sms.providers` does not list is a typo or a forgotten entry.
#[test]
fn a_provider_section_not_listed_in_sms_providers_refuses_to_start() {
    let data = tempfile::tempdir().unwrap();
    let error = refusal(
        docspace_auth(data.path(), None)
            .args(["serve", "--bind", "127.0.0.1:0"])
            .env("DOCSPACE_AUTH__SMS__WEBHOOK__URL", "http://127.0.0.1:9/sms"),
    );
    assert!(error.contains("[sms.webhook]") && error.contains("sms.providers"), "{error}");
}
