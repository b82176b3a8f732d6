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
