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
