//! `X-Forwarded-For` read byte by byte over raw TCP, since HTTP clients refuse to send bytes that
//! are not ASCII: an unreadable entry fails closed, never turning a client into the proxy; and a
//! configuration that would exempt the proxy from the second factor does not start (issue 9,
//! item 2).

use std::sync::Arc;

use docspace_auth_server::clock::ManualClock;
use docspace_auth_server::startup::Application;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::*;

const LOGIN: &str = "/api/2.0/authentication";

/// Sends one request over a fresh TCP connection with `X-Forwarded-For: <forwarded>` as raw bytes;
/// the status and the JSON body.
async fn post_forwarded(app: &TestApp, path: &str, forwarded: Option<&[u8]>, body: &Value) -> (u16, Value) {
    let address = app.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let body = body.to_string();
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n",
        body.len()
    )
    .into_bytes();
    if let Some(forwarded) = forwarded {
        request.extend_from_slice(b"X-Forwarded-For: ");
        request.extend_from_slice(forwarded);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"\r\n");
    request.extend_from_slice(body.as_bytes());
    stream.write_all(&request).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8(answer).expect("answers are UTF-8");
    let (head, body) = answer.split_once("\r\n\r\n").expect("a header block");
    let status = head.split(' ').nth(1).expect("a status line").parse().unwrap();
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

fn wrong_password() -> Value {
    json!({"userName": EMAIL, "password": "not it"})
}

#[backend_test]
async fn unreadable_clients_share_one_bucket_and_are_never_the_proxy(backend: Backend) {
    let app =
        spawn_app_with(backend, |s| s.trusted_proxies = serde_json::from_value(json!(["127.0.0.1/32"])).unwrap()).await;
    app.add_alice().await;
    // Five failures from clients whose hop the proxy could not spell.
    for (i, garbage) in [b"\x80".as_slice(), b"\xff", b"\xc3\xa9", b"unknown", b"\xfe\xff"].into_iter().enumerate() {
        let forwarded = [format!("198.51.100.{i}, ").as_bytes(), garbage].concat();
        let (status, body) = post_forwarded(&app, LOGIN, Some(&forwarded), &wrong_password()).await;
        assert_eq!((status, &body["error"]["type"]), (401, &json!("AuthenticationFailed")), "{forwarded:?}");
    }
    // Another unreadable client is in the same (now blocked) bucket...
    let (status, body) = post_forwarded(&app, LOGIN, Some(b"203.0.113.9, \x81"), &login_body()).await;
    assert_eq!((status, &body["error"]["type"]), (429, &json!("RateLimited")));
    // ...but the proxy itself, and a readable client, are not.
    let (status, _) = post_forwarded(&app, LOGIN, None, &login_body()).await;
    assert_eq!(status, 200);
    let (status, _) = post_forwarded(&app, LOGIN, Some(b"\xff, 203.0.113.9"), &login_body()).await;
    assert_eq!(status, 200, "garbage left of the client is forged history");
}

#[backend_test]
async fn no_byte_an_attacker_forwards_skips_the_second_factor(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.trusted_proxies = serde_json::from_value(json!(["127.0.0.1/32"])).unwrap();
        s.two_factor.trusted_ip_ranges = serde_json::from_value(json!(["203.0.113.0/24"])).unwrap();
        s.brute_force.max_failures = 1_000;
    })
    .await;
    app.add_alice().await;
    // The trusted client, as the proxy forwards it, is exempt.
    let (status, body) = post_forwarded(&app, LOGIN, Some(b"203.0.113.9"), &login_body()).await;
    assert_eq!(status, 200);
    assert!(body["response"]["token"].is_string(), "{body}");
    // Any byte that is not ASCII in the client's place: the second factor, never a token.
    for byte in 0x80..=0xFFu8 {
        let forwarded = [b"203.0.113.9, ".as_slice(), &[byte]].concat();
        let (status, body) = post_forwarded(&app, LOGIN, Some(&forwarded), &login_body()).await;
        assert_eq!(status, 200, "{byte:#x}: {body}");
        assert!(body["response"].get("token").is_none(), "{byte:#x}: {body}");
        assert_eq!(body["response"]["sms"], true, "{byte:#x}");
    }
}

#[backend_test]
async fn a_proxy_inside_the_two_factor_exemption_refuses_to_start(backend: Backend) {
    let database = backend.fresh_database();
    let data = tempfile::tempdir().unwrap();
    let mut settings = test_settings(&data);
    settings.database_url = database.as_ref().map(|db| docspace_auth_server::config::SecretText(db.url.clone()));
    settings.trusted_proxies = serde_json::from_value(json!(["127.0.0.1/32"])).unwrap();
    settings.two_factor.trusted_ip_ranges = serde_json::from_value(json!(["127.0.0.0/8"])).unwrap();
    let clock = Arc::new(ManualClock::new(start_time()));
    let error = Application::build_with_clock(settings, clock).await.err().expect("refused").to_string();
    assert!(error.contains("two_factor.trusted_ip_ranges") && error.contains("trusted_proxies"), "{error}");
}
