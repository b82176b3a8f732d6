//! The `docspace-auth user ...` commands, run as a person would.

use crate::binary;
use crate::helpers::*;

#[backend_test]
fn users_are_added_listed_changed_and_removed(backend: Backend) {
    let database = backend.fresh_database();
    let data = tempfile::tempdir().unwrap();
    let docspace_auth = |args: &[&str]| {
        let output = binary::docspace_auth(data.path(), database.as_ref()).args(args).output().expect("runs");
        let text = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
        (output.status.success(), text)
    };

    let (ok, out) =
        docspace_auth(&["user", "add", "--email", "Bob@Example.com", "--password", "pw", "--phone", "+44 7400 123456"]);
    assert!(ok, "{out}");
    assert!(out.contains("added bob@example.com"), "{out}");

    let (ok, out) = docspace_auth(&["user", "add", "--email", "bob@example.com", "--password", "pw"]);
    assert!(!ok && out.contains("already exists"), "{out}");
    let (ok, out) = docspace_auth(&[
        "user",
        "add",
        "--email",
        "carol@example.com",
        "--password",
        "pw",
        "--phone",
        "+44 20 7946 0000",
    ]);
    assert!(!ok && out.contains("not a mobile number"), "{out}");
    let (ok, out) = docspace_auth(&["user", "add", "--email", "not-an-email", "--password", "pw"]);
    assert!(!ok && out.contains("not a valid email"), "{out}");

    let (ok, out) = docspace_auth(&["user", "list"]);
    assert!(
        ok && out.contains("bob@example.com") && out.contains("+447400123456") && out.contains("1 user(s)"),
        "{out}"
    );

    let (ok, out) = docspace_auth(&["user", "set-phone", "--email", "bob@example.com", "--phone", "+1 201 555 0123"]);
    assert!(ok, "{out}");
    let (_, out) = docspace_auth(&["user", "list"]);
    assert!(out.contains("+12015550123"), "{out}");

    let (ok, out) = docspace_auth(&["user", "login-link", "--email", "bob@example.com"]);
    assert!(ok, "{out}");
    assert!(
        out.trim().starts_with("http://127.0.0.1:8092/confirm/Auth?type=Auth&email=bob%40example.com&key="),
        "{out}"
    );
    let (ok, out) = docspace_auth(&["user", "login-link", "--email", "nobody@example.com"]);
    assert!(!ok && out.contains("no user"), "{out}");

    let (ok, out) = docspace_auth(&["user", "remove", "--email", "bob@example.com"]);
    assert!(ok, "{out}");
    let (_, out) = docspace_auth(&["user", "list"]);
    assert!(out.contains("0 user(s)"), "{out}");
}

#[backend_test]
fn an_account_locked_by_failed_logins_is_listed_and_unlocked(backend: Backend) {
    let database = backend.fresh_database();
    let data = tempfile::tempdir().unwrap();
    let docspace_auth = |args: &[&str]| {
        let output = binary::docspace_auth(data.path(), database.as_ref())
            .env("DOCSPACE_AUTH__BRUTE_FORCE__ACCOUNT_CAPTCHA_AFTER", "2")
            .env("DOCSPACE_AUTH__BRUTE_FORCE__ACCOUNT_LOCK_AFTER", "3")
            .args(args)
            .output()
            .expect("runs");
        let text = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
        (output.status.success(), text)
    };
    let (ok, out) = docspace_auth(&["user", "add", "--email", "bob@example.com", "--password", "pw"]);
    assert!(ok, "{out}");
    let id = out.split("(id ").nth(1).unwrap().split(')').next().unwrap().to_owned();

    // Three failures, as the server would count them.
    let url = match &database {
        Some(database) => database.url.clone(),
        None => format!("sqlite://{}?mode=rwc", data.path().join("docspace-auth.db").display()),
    };
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let store = docspace_auth_server::store::connect(&url, std::time::Duration::from_secs(10)).await.unwrap();
        let rule = docspace_auth_server::store::AccountRule {
            captcha_after: 2,
            lock_after: 3,
            captcha: true,
            max_delay_ms: 1_000,
        };
        for _ in 0..3 {
            store.admit_account_attempt(&format!("user:{id}"), start_time(), &rule, true).await.unwrap();
        }
    });

    let (ok, out) = docspace_auth(&["user", "list"]);
    assert!(ok && out.contains("locked"), "{out}");
    let (ok, out) = docspace_auth(&["user", "unlock", "--email", "bob@example.com"]);
    assert!(ok && out.contains("unlocked (3 consecutive failed attempts forgotten)"), "{out}");
    let (ok, out) = docspace_auth(&["user", "list"]);
    assert!(ok && out.contains("active") && !out.contains("locked"), "{out}");
    let (ok, out) = docspace_auth(&["user", "unlock", "--email", "nobody@example.com"]);
    assert!(!ok && out.contains("no user"), "{out}");
}

/// The binary on one data directory (and, on PostgreSQL, one database), for commands and a server.
struct Cli {
    data: tempfile::TempDir,
    database: Option<PgDatabase>,
}

impl Cli {
    fn new(backend: Backend) -> Self {
        Self { data: tempfile::tempdir().unwrap(), database: backend.fresh_database() }
    }

    fn command(&self) -> std::process::Command {
        binary::docspace_auth(self.data.path(), self.database.as_ref())
    }

    /// Runs a command with `stdin` as its standard input; whether it succeeded, and what it printed.
    fn run_with_stdin(&self, args: &[&str], stdin: &str) -> (bool, String) {
        use std::io::Write as _;
        let mut child = self
            .command()
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("runs");
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        let output = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
        (output.status.success(), text)
    }

    fn run(&self, args: &[&str]) -> (bool, String) {
        self.run_with_stdin(args, "")
    }

    /// Runs a command that must succeed; what it printed.
    fn ok(&self, args: &[&str]) -> String {
        let (ok, out) = self.run(args);
        assert!(ok, "{args:?}: {out}");
        out
    }

    /// The development outbox: the SMS the server sent.
    fn outbox(&self) -> std::path::PathBuf {
        self.data.path().join("sms-outbox.jsonl")
    }
}

async fn send_sms(server: &binary::Server, email: &str, password: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}/api/2.0/authentication/sendsms", server.base))
        .json(&serde_json::json!({"userName": email, "password": password}))
        .send()
        .await
        .unwrap()
}

#[backend_test]
async fn a_password_from_stdin_logs_in_and_a_user_added_disabled_cannot(backend: Backend) {
    let cli = Cli::new(backend);
    let (ok, out) = cli.run_with_stdin(
        &["user", "add", "--email", "bob@example.com", "--password-stdin", "--phone", PHONE],
        "pw from stdin\n",
    );
    assert!(ok, "{out}");
    cli.ok(&["user", "add", "--email", "carol@example.com", "--password", "pw", "--phone", PHONE, "--disabled"]);
    let server = binary::Server::start(cli.command());

    // The password is the line read, without its line ending.
    assert_eq!(send_sms(&server, "bob@example.com", "pw from stdin").await.status(), 200);
    assert_error(send_sms(&server, "carol@example.com", "pw").await, 403, "UserDisabled").await;
}

#[backend_test]
async fn set_phone_clear_leaves_the_user_without_a_phone(backend: Backend) {
    let cli = Cli::new(backend);
    cli.ok(&["user", "add", "--email", EMAIL, "--password", PASSWORD, "--phone", PHONE]);
    let out = cli.ok(&["user", "set-phone", "--email", EMAIL, "--clear"]);
    assert!(out.contains("phone removed"), "{out}");
    let server = binary::Server::start(cli.command());

    assert_error(send_sms(&server, EMAIL, PASSWORD).await, 400, "MobilePhoneRequired").await;
    assert!(!cli.outbox().exists(), "no SMS sent");
}

#[backend_test]
async fn outbox_retry_has_a_failed_message_delivered(backend: Backend) {
    let cli = Cli::new(backend);
    cli.ok(&["user", "add", "--email", EMAIL, "--password", PASSWORD, "--phone", PHONE]);
    // The development provider fails while its file is a directory; one attempt, and it fails for good.
    std::fs::create_dir(cli.outbox()).unwrap();
    let mut command = cli.command();
    command.env("DOCSPACE_AUTH__DELIVERY__MAX_ATTEMPTS", "1").env("DOCSPACE_AUTH__DELIVERY__POLL_INTERVAL_MS", "20");
    let server = binary::Server::start(command);
    assert_eq!(send_sms(&server, EMAIL, PASSWORD).await.status(), 200);
    let failed = cli.ok(&["outbox", "list", "--state", "failed"]);
    assert!(failed.contains("1 message(s)"), "{failed}");
    let id = failed.lines().nth(1).unwrap().split_whitespace().next().unwrap().to_owned();

    std::fs::remove_dir(cli.outbox()).unwrap();
    let out = cli.ok(&["outbox", "retry", &id]);
    assert!(out.contains("queued again"), "{out}");

    // The running server's worker delivers it.
    let delivered =
        wait_until(|| async { std::fs::read_to_string(cli.outbox()).ok().filter(|t| t.ends_with('\n')) }).await;
    let delivered = delivered.expect("the retried message was delivered");
    let message: serde_json::Value = serde_json::from_str(delivered.lines().next().unwrap()).unwrap();
    assert_eq!((message["id"].as_str(), message["to"].as_str()), (Some(id.as_str()), Some(PHONE_E164)));
    // Recorded sent (the file is written just before), then a second retry is refused.
    let sent = wait_until(|| async {
        Some(cli.ok(&["outbox", "list", "--state", "sent"])).filter(|l| l.contains("1 message(s)"))
    });
    sent.await.expect("the retried message was recorded sent");
    let (ok, out) = cli.run(&["outbox", "retry", &id]);
    assert!(!ok && out.contains("is not a failed message"), "a sent message is not retried: {out}");
}
