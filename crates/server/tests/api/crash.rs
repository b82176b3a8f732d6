//! Pulling the plug: acknowledged messages survive SIGKILL and are delivered once after restart.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::json;

use crate::helpers::{EMAIL, PASSWORD};

/// Starts `docspace-auth serve` on an ephemeral port; returns the process and its base URL.
fn serve(data: &Path, outbox: &Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_docspace-auth"))
        .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .env("DOCSPACE_AUTH__SMS__OUTBOX_FILE", outbox)
        .env("DOCSPACE_AUTH__PASSWORD_HASH__ITERATIONS", "1000")
        .env("DOCSPACE_AUTH__DELIVERY__FIRST_RETRY_MS", "50")
        .env("DOCSPACE_AUTH__DELIVERY__POLL_INTERVAL_MS", "20")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let base = first.strip_prefix("docspace-auth listening on ").expect("start-up line").to_owned();
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    (child, base)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_queued_when_the_process_is_killed_are_delivered_once_after_restart() {
    let data = tempfile::tempdir().unwrap();
    let outbox = data.path().join("sms-outbox.jsonl");
    let status = Command::new(env!("CARGO_BIN_EXE_docspace-auth"))
        .args(["user", "add", "--email", EMAIL, "--password", PASSWORD, "--phone", "+44 7400 123456", "--data-dir"])
        .arg(data.path())
        .env("DOCSPACE_AUTH__PASSWORD_HASH__ITERATIONS", "1000")
        .output()
        .unwrap();
    assert!(status.status.success());

    // The provider is down (its file path is a directory): three acknowledged, undelivered SMS.
    std::fs::create_dir(&outbox).unwrap();
    let (mut first, base) = serve(data.path(), &outbox);
    let http = reqwest::Client::new();
    for _ in 0..3 {
        let response = http
            .post(format!("{base}/api/2.0/authentication/sendsms"))
            .json(&json!({"userName": EMAIL, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    first.kill().unwrap(); // SIGKILL: no shutdown code runs
    first.wait().unwrap();

    // The provider is back; a new process delivers what the dead one acknowledged.
    std::fs::remove_dir(&outbox).unwrap();
    let (mut second, _) = serve(data.path(), &outbox);
    for _ in 0..300 {
        if std::fs::read_to_string(&outbox).map(|t| t.lines().count()).unwrap_or(0) >= 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // A little longer, so a duplicate delivery would have time to show.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let delivered: Vec<serde_json::Value> =
        std::fs::read_to_string(&outbox).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    second.kill().unwrap();
    second.wait().unwrap();
    assert_eq!(delivered.len(), 3, "every acknowledged SMS, once: {delivered:?}");
    let ids: std::collections::HashSet<_> = delivered.iter().map(|m| m["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(ids.len(), 3, "no message twice");
    assert!(delivered.iter().all(|m| m["to"] == "+447400123456"));

    // Operators see the history, never the texts.
    let list = Command::new(env!("CARGO_BIN_EXE_docspace-auth"))
        .args(["outbox", "list", "--state", "sent", "--data-dir"])
        .arg(data.path())
        .output()
        .unwrap();
    let list = String::from_utf8_lossy(&list.stdout);
    assert!(list.contains("3 message(s)") && list.contains("+4474****3456"), "{list}");
    assert!(!list.contains("Code"), "{list}");
}
