//! Pulling the plug: acknowledged messages survive SIGKILL and are delivered once after restart;
//! SIGTERM lets a send under way finish.

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::binary::{Server, docspace_auth};
use crate::helpers::*;

/// `docspace-auth` retrying deliveries quickly, with claims of `lease_seconds`.
fn with_fast_delivery(mut command: Command, lease_seconds: u32) -> Command {
    command
        .env("DOCSPACE_AUTH__DELIVERY__FIRST_RETRY_MS", "50")
        .env("DOCSPACE_AUTH__DELIVERY__POLL_INTERVAL_MS", "20")
        .env("DOCSPACE_AUTH__DELIVERY__LEASE_SECONDS", lease_seconds.to_string());
    command
}

/// `docspace-auth` with fast delivery retries, short claims and the development outbox at `outbox`.
fn with_outbox(command: Command, outbox: &Path) -> Command {
    // The kill may land while the first process's worker holds a claim; the second takes the
    // message over once the claim's lease ends.
    let mut command = with_fast_delivery(command, 2);
    command.env("DOCSPACE_AUTH__SMS__OUTBOX_FILE", outbox);
    command
}

#[backend_test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_queued_when_the_process_is_killed_are_delivered_once_after_restart(backend: Backend) {
    let database = backend.fresh_database();
    let data = tempfile::tempdir().unwrap();
    let command = || docspace_auth(data.path(), database.as_ref());
    let outbox = data.path().join("sms-outbox.jsonl");
    add_alice(command());

    // The provider is down (its file path is a directory): three acknowledged, undelivered SMS.
    std::fs::create_dir(&outbox).unwrap();
    let mut first = Server::start(with_outbox(command(), &outbox));
    for _ in 0..3 {
        assert_eq!(send_sms(&first.base).await, 200);
    }
    first.kill(); // SIGKILL: no shutdown code runs
    // Operators see undelivered messages, whose texts are still stored, without their texts.
    // (All states: the kill may have left one mid-send.)
    let list = outbox_list(command(), None);
    assert!(list.contains("3 message(s)") && list.contains("+4474****3456"), "{list}");
    assert!(!list.contains("Code"), "{list}");

    // The provider is back; a new process delivers what the dead one acknowledged.
    std::fs::remove_dir(&outbox).unwrap();
    let mut second = Server::start(with_outbox(command(), &outbox));
    // Every message recorded sent, then a graceful stop, which lets any send still under way (a
    // duplicate, were claims not exclusive) finish before the file is read.
    wait_for_sent(command, 3).await;
    second.terminate();
    let delivered: Vec<serde_json::Value> =
        std::fs::read_to_string(&outbox).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(delivered.len(), 3, "every acknowledged SMS, once: {delivered:?}");
    let ids: std::collections::HashSet<_> = delivered.iter().map(|m| m["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(ids.len(), 3, "no message twice");
    assert!(delivered.iter().all(|m| m["to"] == "+447400123456"));

    // Operators see the history, never the texts.
    let list = outbox_list(command(), Some("sent"));
    assert!(list.contains("3 message(s)") && list.contains("+4474****3456"), "{list}");
    assert!(!list.contains("Code"), "{list}");
}

/// `docspace-auth outbox list` as an operator sees it.
fn outbox_list(mut command: Command, state: Option<&str>) -> String {
    command.args(["outbox", "list"]);
    if let Some(state) = state {
        command.args(["--state", state]);
    }
    let list = command.output().unwrap();
    String::from_utf8_lossy(&list.stdout).into_owned()
}

/// Waits until `n` messages are recorded sent (a final state: no worker claims them again).
async fn wait_for_sent(command: impl Fn() -> Command, n: usize) {
    let sent = format!("{n} message(s)");
    let reached = wait_until(|| async { outbox_list(command(), Some("sent")).contains(&sent).then_some(()) }).await;
    reached.unwrap_or_else(|| panic!("never {sent} sent: {}", outbox_list(command(), Some("sent"))));
}

fn add_alice(mut command: Command) {
    let status = command
        .args(["user", "add", "--email", EMAIL, "--password", PASSWORD, "--phone", "+44 7400 123456"])
        .output()
        .unwrap();
    assert!(status.status.success());
}

async fn send_sms(base: &str) -> reqwest::StatusCode {
    reqwest::Client::new()
        .post(format!("{base}/api/2.0/authentication/sendsms"))
        .json(&json!({"userName": EMAIL, "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .status()
}

/// The webhook provider pointed at `fake`, retrying quickly, with claims of `lease_seconds`.
fn with_webhook(command: Command, fake: &MockServer, lease_seconds: u32) -> Command {
    let mut command = with_fast_delivery(command, lease_seconds);
    command
        .env("DOCSPACE_AUTH__SMS__PROVIDERS", "[webhook]")
        .env("DOCSPACE_AUTH__SMS__WEBHOOK__URL", format!("{}/send", fake.uri()))
        .env("DOCSPACE_AUTH__SMS__WEBHOOK__TIMEOUT_MS", "10000")
        .env("DOCSPACE_AUTH__SMS__FAILOVER__FAILURES_TO_PAUSE", "0");
    command
}

/// Waits (a bounded while) until the fake has received `n` requests.
async fn wait_for_requests(fake: &MockServer, n: usize) -> Vec<wiremock::Request> {
    let enough = || async { Some(fake.received_requests().await.unwrap()).filter(|r| r.len() >= n) };
    wait_until(enough).await.unwrap_or_else(|| panic!("the fake gateway never got {n} requests"))
}

#[backend_test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_killed_mid_send_leaves_nothing_undelivered_and_retries_with_the_same_idempotency_key(
    backend: Backend,
) {
    let database = backend.fresh_database();
    let data = tempfile::tempdir().unwrap();
    let command = || docspace_auth(data.path(), database.as_ref());
    add_alice(command());
    let fake = MockServer::start().await;
    // Each first attempt fails fast (so the API acknowledges), then the gateway hangs mid-send.
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(503)).up_to_n_times(3).mount(&fake).await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(std::time::Duration::from_secs(30)))
        .mount(&fake)
        .await;
    // Short claims, so the restarted process takes over the message cut off mid-send quickly.
    let mut first = Server::start(with_webhook(command(), &fake, 2));
    for _ in 0..3 {
        assert_eq!(send_sms(&first.base).await, 200);
    }
    // The worker's retry of one message is in the gateway's hands when the plug is pulled.
    let hanging = wait_for_requests(&fake, 4).await.remove(3);
    let hanging_key = hanging.headers["idempotency-key"].to_str().unwrap().to_owned();
    first.kill();

    // The gateway answers again; a new process delivers every acknowledged message.
    fake.reset().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(200)).mount(&fake).await;
    let mut second = Server::start(with_webhook(command(), &fake, 2));
    let requests = wait_for_requests(&fake, 3).await;
    wait_for_sent(command, 3).await;
    let requests_after = fake.received_requests().await.unwrap();
    second.kill();

    assert_eq!(requests_after.len(), requests.len(), "no more sends once all were delivered");
    let mut ids = std::collections::HashSet::new();
    for request in &requests_after {
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        let id = body["id"].as_str().unwrap().to_owned();
        assert_eq!(request.headers["idempotency-key"], id.as_str());
        assert!(ids.insert(id), "each message sent once after the restart");
    }
    assert_eq!(ids.len(), 3, "every acknowledged message delivered");
    assert!(ids.contains(&hanging_key), "the message cut off mid-send went again under the same key");
    assert!(outbox_list(command(), Some("sent")).contains("3 message(s)"));
}

#[backend_test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_a_send_under_way_finish_before_the_process_exits(backend: Backend) {
    let database = backend.fresh_database();
    let data = tempfile::tempdir().unwrap();
    let command = || docspace_auth(data.path(), database.as_ref());
    add_alice(command());
    let fake = MockServer::start().await;
    // The first attempt fails fast; the worker's retry takes a while to be answered.
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(503)).up_to_n_times(1).mount(&fake).await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(std::time::Duration::from_millis(1500)))
        .mount(&fake)
        .await;
    let mut server = Server::start(with_webhook(command(), &fake, 30));
    assert_eq!(send_sms(&server.base).await, 200);
    wait_for_requests(&fake, 2).await;

    let status = server.terminate();

    assert!(status.success(), "a clean exit: {status:?}");
    let sent = outbox_list(command(), Some("sent"));
    assert!(sent.contains("1 message(s)"), "the send under way was finished and recorded: {sent}");
}
