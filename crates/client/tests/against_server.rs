//! The generated client against the real server on 127.0.0.1:0.

use docspace_auth_client::{Client, ClientInfo, Error, error_envelope, password_hash, types};
use docspace_auth_server::config::Settings;
use docspace_auth_server::startup::Application;
use docspace_auth_server::users::NewUser;

const EMAIL: &str = "alice@example.com";
const PASSWORD: &str = "correct horse";

struct Server {
    client: Client,
    outbox: std::path::PathBuf,
    _data: tempfile::TempDir,
}

async fn start_server_with_alice() -> Server {
    let data = tempfile::tempdir().unwrap();
    let mut settings =
        Settings { bind: "127.0.0.1:0".parse().unwrap(), data_dir: data.path().into(), ..Default::default() };
    settings.password_hash.iterations = 1_000;
    let app = Application::build(settings.clone()).await.unwrap();
    app.auth()
        .add_user(NewUser { email: EMAIL, password: PASSWORD, phone: Some("+1 201 555 0123"), disabled: false })
        .await
        .unwrap();
    let client = Client::new(&format!("http://127.0.0.1:{}", app.port()));
    tokio::spawn(app.run_until_stopped());
    Server { client, outbox: settings.outbox_file(), _data: data }
}

#[tokio::test]
async fn send_sms_code_with_the_published_password_hash() {
    let server = start_server_with_alice().await;
    let settings = server.client.get_portal_settings().await.unwrap().into_inner();
    assert_eq!(settings.status_code, 200);
    assert_eq!(settings.response.password_hash.iterations, 1_000);

    let request = types::AuthRequestsDto {
        user_name: Some(EMAIL.into()),
        password_hash: Some(password_hash(PASSWORD, &settings.response.password_hash)),
        culture: Some("en-US".into()),
        recaptcha_type: Some(types::RecaptchaType::try_from(0).unwrap()),
        ..Default::default()
    };
    let response = server.client.send_sms_code(Some(&request)).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-ratelimit-remaining"], "5");
    let envelope = response.into_inner();
    assert_eq!((envelope.status, envelope.status_code, envelope.count), (0, 200, 1));
    assert_eq!(envelope.links[0].action, "POST");
    let token = envelope.response;
    assert!(token.sms && !token.tfa);
    assert_eq!(token.phone_noise.as_deref(), Some("+1201***0123"));
    assert!(token.expires.is_some() && token.token.is_none() && token.confirm_url.is_none());

    let outbox = std::fs::read_to_string(&server.outbox).unwrap();
    assert_eq!(outbox.lines().count(), 1);
    assert!(outbox.contains(r#""to":"+12015550123""#), "{outbox}");
}

#[tokio::test]
async fn a_wrong_password_is_a_typed_401() {
    let server = start_server_with_alice().await;
    let request =
        types::AuthRequestsDto { user_name: Some(EMAIL.into()), password: Some("wrong".into()), ..Default::default() };
    let error = server.client.send_sms_code(Some(&request)).await.unwrap_err();
    assert_eq!(error.status().map(|s| s.as_u16()), Some(401));
    let envelope = error_envelope(&error).expect("the error envelope, typed");
    assert_eq!(envelope.error.type_, "AuthenticationFailed");
    assert_eq!(envelope.error.message, "User authentication failed");
    assert_eq!((envelope.status, envelope.status_code), (1, 401));

    // No body at all (the SDKs' `send_sms_code()`): the same typed 401.
    let error = server.client.send_sms_code(None).await.unwrap_err();
    assert!(matches!(&error, Error::ErrorResponse(r) if r.status() == 401), "{error:?}");
    assert!(!server.outbox.exists(), "nothing was sent");
}

#[tokio::test]
async fn health_answers_through_the_client() {
    let server = start_server_with_alice().await;
    assert_eq!(server.client.get_health().await.unwrap().into_inner().response.status, "ok");
}

/// The newest code in the development outbox.
fn last_code(outbox: &std::path::Path) -> String {
    let text = std::fs::read_to_string(outbox).unwrap();
    let line: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    line["text"].as_str().unwrap().split_whitespace().nth(1).unwrap().to_owned()
}

#[tokio::test]
async fn the_whole_sms_login_flow_through_the_client() {
    let server = start_server_with_alice().await;
    let settings = server.client.get_portal_settings().await.unwrap().into_inner().response;
    let mut request = types::AuthRequestsDto {
        user_name: Some(EMAIL.into()),
        password_hash: Some(password_hash(PASSWORD, &settings.password_hash)),
        ..Default::default()
    };
    server.client.send_sms_code(Some(&request)).await.unwrap();
    let code = last_code(&server.outbox);

    request.code = Some(code.clone());
    let session = server.client.authenticate_me_from_body_with_code(&code, Some(&request)).await.unwrap();
    assert!(session.headers()["set-cookie"].to_str().unwrap().starts_with("asc_auth_key="));
    let token = session.into_inner().response.token.expect("a session token");

    // A client that sends the token on every request, as DocSpace's SDKs do.
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("Authorization", format!("Bearer {token}").parse().unwrap());
    let http = reqwest::Client::builder().default_headers(headers).build().unwrap();
    let authed = Client::new_with_client(server.client.baseurl(), http);
    assert!(authed.get_is_authentificated().await.unwrap().into_inner().response);
    assert!(!server.client.get_is_authentificated().await.unwrap().into_inner().response);

    // Replaying the code fails; logging out ends the session.
    assert_eq!(
        server.client.authenticate_me_from_body_with_code(&code, Some(&request)).await.unwrap_err().status(),
        Some(reqwest::StatusCode::UNAUTHORIZED)
    );
    assert_eq!(authed.logout().await.unwrap().into_inner().response, None);
    assert!(!authed.get_is_authentificated().await.unwrap().into_inner().response);
}

/// The `login` example, built by `cargo test` next to this test binary.
fn login_example() -> std::path::PathBuf {
    let deps = std::env::current_exe().unwrap().parent().unwrap().to_path_buf();
    deps.parent().unwrap().join("examples").join(format!("login{}", std::env::consts::EXE_SUFFIX))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_login_example_walks_the_whole_flow_at_a_terminal() {
    use std::io::Write;
    use std::process::{Command, Stdio};

    let data = tempfile::tempdir().unwrap();
    let mut settings =
        Settings { bind: "127.0.0.1:0".parse().unwrap(), data_dir: data.path().into(), ..Default::default() };
    settings.password_hash.iterations = 1_000;
    let app = Application::build(settings.clone()).await.unwrap();
    // No phone yet: the example must set one first.
    app.auth().add_user(NewUser { email: EMAIL, password: PASSWORD, phone: None, disabled: false }).await.unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());

    let mut child = Command::new(login_example())
        .args(["--base-url", &base, "--email", EMAIL])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the login example was built by cargo test");
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{PASSWORD}\n+44 7400 123456").unwrap();

    // Wait (bounded) for the SMS, then type its code.
    let outbox = settings.outbox_file();
    for _ in 0..100 {
        if outbox.exists() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    writeln!(stdin, "{}", last_code(&outbox)).unwrap();
    drop(stdin);

    let output = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap()).await.unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("This account has no activated phone yet."), "{stdout}");
    assert!(stdout.contains("Code sent to +4474****3456."), "{stdout}");
    assert!(stdout.contains("Authenticated: true"), "{stdout}");
    assert!(stdout.contains("Logged out. Authenticated: false"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_login_example_explains_a_wrong_password() {
    use std::io::Write;
    use std::process::{Command, Stdio};

    let server = start_server_with_alice().await;
    let mut child = Command::new(login_example())
        .args(["--base-url", server.client.baseurl(), "--email", EMAIL])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "wrong password").unwrap();
    let output = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap()).await.unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.trim(), "error: logging in: User authentication failed (AuthenticationFailed, HTTP 401)");
}
