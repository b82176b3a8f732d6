//! Pulling the plug: acknowledged messages survive SIGKILL and are delivered once after restart.

use std::path::Path;
use std::process::Command;

use serde_json::json;

use crate::binary::{Server, docspace_auth};
use crate::helpers::*;

/// `docspace-auth` with fast delivery retries, short claims and the development outbox at `outbox`.
fn with_outbox(mut command: Command, outbox: &Path) -> Command {
    command
        .env("DOCSPACE_AUTH__SMS__OUTBOX_FILE", outbox)
        .env("DOCSPACE_AUTH__DELIVERY__FIRST_RETRY_MS", "50")
        .env("DOCSPACE_AUTH__DELIVERY__POLL_INTERVAL_MS", "20")
        // The kill may land while the first process's worker holds a claim; the second takes the
        // message over once the claim's lease ends.
        .env("DOCSPACE_AUTH__DELIVERY__LEASE_SECONDS", "2");
    command
}

#[backend_test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_queued_when_the_process_is_killed_are_delivered_once_after_restart(backend: Backend) {
    let database = backend.fresh_database();
    let data = tempfile::tempdir().unwrap();
    let command = || docspace_auth(data.path(), database.as_ref());
    let outbox = data.path().join("sms-outbox.jsonl");
    let status = command()
        .args(["user", "add", "--email", EMAIL, "--password", PASSWORD, "--phone", "+44 7400 123456"])
        .output()
        .unwrap();
    assert!(status.status.success());

    // The provider is down (its file path is a directory): three acknowledged, undelivered SMS.
    std::fs::create_dir(&outbox).unwrap();
    let mut first = Server::start(with_outbox(command(), &outbox));
    let http = reqwest::Client::new();
    for _ in 0..3 {
        let response = http
            .post(format!("{}/api/2.0/authentication/sendsms", first.base))
            .json(&json!({"userName": EMAIL, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    first.kill(); // SIGKILL: no shutdown code runs

    // The provider is back; a new process delivers what the dead one acknowledged.
    std::fs::remove_dir(&outbox).unwrap();
    let mut second = Server::start(with_outbox(command(), &outbox));
    for _ in 0..1500 {
        if std::fs::read_to_string(&outbox).map(|t| t.lines().count()).unwrap_or(0) >= 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // A little longer, so a duplicate delivery would have time to show.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let delivered: Vec<serde_json::Value> =
        std::fs::read_to_string(&outbox).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    second.kill();
    assert_eq!(delivered.len(), 3, "every acknowledged SMS, once: {delivered:?}");
    let ids: std::collections::HashSet<_> = delivered.iter().map(|m| m["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(ids.len(), 3, "no message twice");
    assert!(delivered.iter().all(|m| m["to"] == "+447400123456"));

    // Operators see the history, never the texts.
    let list = command().args(["outbox", "list", "--state", "sent"]).output().unwrap();
    let list = String::from_utf8_lossy(&list.stdout);
    assert!(list.contains("3 message(s)") && list.contains("+4474****3456"), "{list}");
    assert!(!list.contains("Code"), "{list}");
}
