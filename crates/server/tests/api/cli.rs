//! The `docspace-auth user ...` commands, run as a person would.

use std::process::Command;

fn docspace_auth(data_dir: &std::path::Path, args: &[&str]) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_docspace-auth"))
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env("DOCSPACE_AUTH__PASSWORD_HASH__ITERATIONS", "1000")
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), text)
}

#[test]
fn users_are_added_listed_changed_and_removed() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path();

    let (ok, out) = docspace_auth(
        dir,
        &["user", "add", "--email", "Bob@Example.com", "--password", "pw", "--phone", "+44 7400 123456"],
    );
    assert!(ok, "{out}");
    assert!(out.contains("added bob@example.com"), "{out}");

    let (ok, out) = docspace_auth(dir, &["user", "add", "--email", "bob@example.com", "--password", "pw"]);
    assert!(!ok && out.contains("already exists"), "{out}");
    let (ok, out) = docspace_auth(
        dir,
        &["user", "add", "--email", "carol@example.com", "--password", "pw", "--phone", "+44 20 7946 0000"],
    );
    assert!(!ok && out.contains("not a mobile number"), "{out}");
    let (ok, out) = docspace_auth(dir, &["user", "add", "--email", "not-an-email", "--password", "pw"]);
    assert!(!ok && out.contains("not a valid email"), "{out}");

    let (ok, out) = docspace_auth(dir, &["user", "list"]);
    assert!(
        ok && out.contains("bob@example.com") && out.contains("+447400123456") && out.contains("1 user(s)"),
        "{out}"
    );

    let (ok, out) =
        docspace_auth(dir, &["user", "set-phone", "--email", "bob@example.com", "--phone", "+1 201 555 0123"]);
    assert!(ok, "{out}");
    let (_, out) = docspace_auth(dir, &["user", "list"]);
    assert!(out.contains("+12015550123"), "{out}");

    let (ok, out) = docspace_auth(dir, &["user", "login-link", "--email", "bob@example.com"]);
    assert!(ok, "{out}");
    assert!(
        out.trim().starts_with("http://127.0.0.1:8092/confirm/Auth?type=Auth&email=bob%40example.com&key="),
        "{out}"
    );
    let (ok, out) = docspace_auth(dir, &["user", "login-link", "--email", "nobody@example.com"]);
    assert!(!ok && out.contains("no user"), "{out}");

    let (ok, out) = docspace_auth(dir, &["user", "remove", "--email", "bob@example.com"]);
    assert!(ok, "{out}");
    let (_, out) = docspace_auth(dir, &["user", "list"]);
    assert!(out.contains("0 user(s)"), "{out}");
}
