//! Secrets never reach the log: a whole login flow through the real binary at the most verbose
//! level (`RUST_LOG=trace`), in both log formats, and its log scanned for every secret in it.

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use crate::binary::{Server, docspace_auth};
use crate::helpers::*;

const WRONG_PASSWORD: &str = "wrong battery horse staple";
const PASSWORD_HASH: &str = "5f4dcc3b5aa765d61d8327deb882cf995f4dcc3b5aa765d61d8327deb882cf99";

/// `docspace-auth` logging everything in `format`, its SMS going to `outbox`.
fn verbose(data: &Path, database: Option<&PgDatabase>, format: &str, outbox: &Path) -> Command {
    let mut command = docspace_auth(data, database);
    command
        .env("RUST_LOG", "trace")
        .env("DOCSPACE_AUTH__LOG_FORMAT", format)
        .env("DOCSPACE_AUTH__SMS__OUTBOX_FILE", outbox);
    command
}

/// Runs a CLI command; returns its stdout, and appends its stderr (its log) to `log`.
fn cli(mut command: Command, args: &[&str], log: &mut String) -> String {
    let output = command.args(args).output().unwrap();
    log.push_str(&String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

struct Client {
    http: reqwest::Client,
    base: String,
    outbox: std::path::PathBuf,
}

impl Client {
    async fn post(&self, path: &str, body: &Value, token: Option<&str>) -> reqwest::Response {
        let mut request = self.http.post(format!("{}{path}", self.base)).json(body);
        if let Some(token) = token {
            request = request.header("Authorization", token);
        }
        request.send().await.unwrap()
    }

    /// The code of the `n`th SMS (from 1), once delivered.
    async fn code(&self, n: usize) -> String {
        let delivered = || async {
            let text = std::fs::read_to_string(&self.outbox).unwrap_or_default();
            text.lines().nth(n - 1).map(|line| serde_json::from_str::<Value>(line).unwrap())
        };
        let message = wait_until(delivered).await.unwrap_or_else(|| panic!("SMS {n} was never delivered"));
        message["text"].as_str().unwrap().trim_start_matches("Code: ").to_owned()
    }
}

/// Everything the flow handled that must not be logged, and the log of that flow in `format`.
async fn log_of_a_whole_flow(backend: Backend, format: &str) -> (Vec<String>, String) {
    let database = backend.fresh_database();
    let data = tempfile::tempdir().unwrap();
    let outbox = data.path().join("sms-outbox.jsonl");
    let command = || verbose(data.path(), database.as_ref(), format, &outbox);
    let mut log = String::new();
    let add = ["user", "add", "--email", EMAIL, "--password", PASSWORD, "--phone", PHONE];
    cli(command(), &add, &mut log);
    let link = cli(command(), &["user", "login-link", "--email", EMAIL], &mut log);
    let key = url::Url::parse(link.trim()).unwrap().query_pairs().find(|(k, _)| k == "key").unwrap().1.into_owned();

    let log_path = data.path().join("server.log");
    let mut server = Server::start_logging_to(command(), std::fs::File::create(&log_path).unwrap());
    let client = Client { http: reqwest::Client::new(), base: server.base.clone(), outbox };
    let sendsms = "/api/2.0/authentication/sendsms";
    let code_step = "/api/2.0/authentication/code";
    let with = |password: &str| json!({"userName": EMAIL, "password": password});

    assert_eq!(client.post(sendsms, &with(WRONG_PASSWORD), None).await.status(), 401);
    let hash = json!({"userName": EMAIL, "passwordHash": PASSWORD_HASH});
    assert_eq!(client.post(sendsms, &hash, None).await.status(), 401);
    assert_eq!(client.post(sendsms, &with(PASSWORD), None).await.status(), 200);
    let code = client.code(1).await;
    let wrong_code = if code == "000000" { "111111" } else { "000000" };
    let mut redeem = with(PASSWORD);
    redeem["code"] = json!(wrong_code);
    assert_eq!(client.post(code_step, &redeem, None).await.status(), 401);
    redeem["code"] = json!(code);
    let session = json_of(client.post(code_step, &redeem, None).await).await;
    let token = session["response"]["token"].as_str().unwrap().to_owned();
    let me = client.http.get(format!("{}/api/2.0/authentication", client.base)).header("Authorization", &token);
    assert_eq!(json_of(me.send().await.unwrap()).await["response"], true);
    assert_eq!(client.post("/api/2.0/authentication/logout", &json!({}), Some(&token)).await.status(), 200);

    // The login link: its key names the user for sendsms and the code.
    let confirm = json!({"confirmData": {"email": EMAIL, "key": key, "first": false}});
    assert_eq!(client.post(sendsms, &confirm, None).await.status(), 200);
    let link_code = client.code(2).await;
    let mut redeem = confirm.clone();
    redeem["code"] = json!(link_code);
    let session = json_of(client.post(code_step, &redeem, None).await).await;
    let link_token = session["response"]["token"].as_str().unwrap().to_owned();

    assert!(server.terminate().success());
    log.push_str(&std::fs::read_to_string(&log_path).unwrap());
    let secrets = [PASSWORD, WRONG_PASSWORD, PASSWORD_HASH, &code, &link_code, &token, &link_token, &key];
    let mut secrets: Vec<String> = secrets.into_iter().map(str::to_owned).collect();
    // The number, however written: E.164, and the national digits alone.
    secrets.extend([PHONE_E164.to_owned(), PHONE_E164[2..].to_owned(), PHONE.to_owned()]);
    (secrets, log)
}

#[backend_test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_of_a_whole_flow_is_logged_even_at_trace(backend: Backend) {
    for format in ["text", "json"] {
        let (secrets, log) = log_of_a_whole_flow(backend, format).await;
        // The scan provably read the log of this flow: the event of the code sent, at trace.
        assert!(log.contains("SMS code queued"), "{format} log:\n{log}");
        assert!(log.contains("TRACE") || log.contains("\"level\":\"TRACE\""), "trace level is on:\n{log}");
        for secret in secrets {
            let line = log.lines().find(|line| holds(line, &secret));
            assert!(line.is_none(), "{format} log holds {secret:?}: {}", line.unwrap_or_default());
        }
    }
}

/// Whether `line` holds `secret` standing alone: not inside a longer run of hex digits or a
/// timestamp's fraction, where six decimal digits turn up by chance.
fn holds(line: &str, secret: &str) -> bool {
    let part_of_a_number = |c: Option<char>| c.is_some_and(|c| c.is_ascii_hexdigit() || c == '.');
    line.match_indices(secret).any(|(at, _)| {
        !part_of_a_number(line[..at].chars().next_back()) && !part_of_a_number(line[at + secret.len()..].chars().next())
    })
}
