//! The checked-in OpenAPI document and generated client against the server, and the check itself
//! against artefacts that have drifted.

use std::fs;
use std::path::Path;

use serde_json::Value;
use xtask::{CLIENT_PATH, DOCUMENT_PATH, FIX_COMMAND, Report, Status};

/// `cargo test --workspace` fails here when the server's API changed and
/// `cargo xtask openapi generate` was not run (or the generated files were edited by hand).
#[test]
fn checked_in_artefacts_are_fresh() {
    let report = xtask::check(&xtask::workspace_root()).expect("the check runs");
    assert!(report.is_fresh(), "the checked-in OpenAPI artefacts do not match the server:\n\n{report}");
}

/// The canonical comparison goes through `openapiv3`; if `openapiv3` silently dropped a field of
/// the document, a change to that field could never be seen as drift. It drops none (it only
/// spells out defaults such as a header's `style: simple`).
#[test]
fn openapiv3_keeps_every_field_of_the_derived_document() {
    let derived = xtask::derived_document().unwrap();
    let canonical = xtask::canonical::canonical_text(&derived).unwrap();
    let round_tripped: Value = serde_json::from_str(&canonical).unwrap();
    let mut lost = Vec::new();
    collect_lost(&derived, &round_tripped, String::new(), &mut lost);
    assert!(lost.is_empty(), "openapiv3 loses these parts of the derived document: {lost:#?}");
}

#[test]
fn generated_artefacts_are_fresh() {
    let root = generated_root();
    let report = xtask::check(root.path()).unwrap();
    assert!(report.is_fresh(), "{report}");
    assert_eq!(report.to_string(), format!("{DOCUMENT_PATH}: Fresh\n{CLIENT_PATH}: Fresh\n"));
}

#[test]
fn a_changed_description_makes_the_document_and_client_stale() {
    let root = generated_root();
    edit(root.path(), DOCUMENT_PATH, |text| {
        text.replace("\"Whether the code is sent by SMS.\"", "\"Whether the code goes by SMS.\"")
    });

    let report = xtask::check(root.path()).unwrap();
    assert!(!report.is_fresh());
    let diff = stale_diff(&report, DOCUMENT_PATH);
    assert!(
        diff.lines().any(|line| line.starts_with('-') && line.contains("\"Whether the code goes by SMS.\"")),
        "{diff}"
    );
    assert!(
        diff.lines().any(|line| line.starts_with('+') && line.contains("\"Whether the code is sent by SMS.\"")),
        "{diff}"
    );
    assert!(diff.starts_with("--- checked-in\n+++ derived from server\n"), "{diff}");

    let printed = report.to_string();
    assert!(printed.contains(&format!("{DOCUMENT_PATH}: Stale\n")), "{printed}");
    assert!(printed.contains(&format!("run `{FIX_COMMAND}` to update it")), "{printed}");
    // The client is generated from the checked-in document, whose changed description is not what
    // the checked-in client says: it is stale too.
    let client_diff = stale_diff(&report, CLIENT_PATH);
    assert!(
        client_diff
            .contains("-        ///Whether the code is sent by SMS.\n+        ///Whether the code goes by SMS.\n"),
        "{client_diff}"
    );
}

#[test]
fn a_removed_property_makes_the_document_stale() {
    let root = generated_root();
    edit(root.path(), DOCUMENT_PATH, |text| {
        let mut document: Value = serde_json::from_str(&text).unwrap();
        let dto = &mut document["components"]["schemas"]["AuthenticationTokenDto"];
        dto["properties"].as_object_mut().unwrap().remove("phoneNoise");
        xtask::canonical::canonical_text(&document).unwrap()
    });

    let report = xtask::check(root.path()).unwrap();
    let diff = stale_diff(&report, DOCUMENT_PATH);
    assert!(diff.lines().any(|line| line.starts_with('+') && line.contains("\"phoneNoise\"")), "{diff}");
}

#[test]
fn formatting_and_key_order_are_not_drift() {
    let root = generated_root();
    edit(root.path(), DOCUMENT_PATH, |text| {
        let document: Value = serde_json::from_str(&text).unwrap();
        // Compact, with the top-level keys in utoipa's order rather than sorted.
        let mut reordered = serde_json::Map::new();
        for key in ["openapi", "info", "paths", "components", "tags"] {
            reordered.insert(key.into(), document[key].clone());
        }
        serde_json::to_string(&Value::Object(reordered)).unwrap()
    });
    let report = xtask::check(root.path()).unwrap();
    assert_eq!(report.artefact(DOCUMENT_PATH).unwrap().status, Status::Fresh, "{report}");
}

#[test]
fn an_edited_client_is_stale() {
    let root = generated_root();
    edit(root.path(), CLIENT_PATH, |text| {
        assert!(text.contains("pub async fn get_health<'a>("));
        text.replace("pub async fn get_health<'a>(", "pub async fn get_healthz<'a>(")
    });

    let report = xtask::check(root.path()).unwrap();
    assert_eq!(report.artefact(DOCUMENT_PATH).unwrap().status, Status::Fresh);
    let diff = stale_diff(&report, CLIENT_PATH);
    assert!(diff.contains("-    pub async fn get_healthz<'a>(\n+    pub async fn get_health<'a>(\n"), "{diff}");
}

#[test]
fn missing_files_are_stale_with_an_explanation() {
    let root = tempfile::tempdir().unwrap();
    let report = xtask::check(root.path()).unwrap();
    assert!(!report.is_fresh());
    let printed = report.to_string();
    assert!(
        printed
            .starts_with(&format!("{DOCUMENT_PATH}: Stale\n  it does not exist\nrun `{FIX_COMMAND}` to update it\n")),
        "{printed}"
    );
    assert!(
        printed.contains(&format!(
            "{CLIENT_PATH}: Stale\n  it cannot be checked because {DOCUMENT_PATH}, which it is \
             generated from, does not exist\n"
        )),
        "{printed}"
    );

    // With the document in place, a missing client is reported on its own.
    let root = generated_root();
    fs::remove_file(root.path().join(CLIENT_PATH)).unwrap();
    let report = xtask::check(root.path()).unwrap();
    assert_eq!(report.artefact(DOCUMENT_PATH).unwrap().status, Status::Fresh);
    assert_eq!(
        report.artefact(CLIENT_PATH).unwrap().status,
        Status::Stale { reason: "it does not exist".into(), diff: None }
    );
}

#[test]
fn a_document_that_is_not_openapi_3_0_is_stale() {
    let root = generated_root();
    edit(root.path(), DOCUMENT_PATH, |_| r#"{"openapi": "3.0.3", "info": {}}"#.into());
    let report = xtask::check(root.path()).unwrap();
    let Status::Stale { reason, diff: None } = &report.artefact(DOCUMENT_PATH).unwrap().status else {
        panic!("expected stale without a diff:\n{report}");
    };
    assert!(reason.contains("not a valid OpenAPI 3.0 document"), "{reason}");
}

#[test]
fn generate_reports_what_it_wrote() {
    let root = tempfile::tempdir().unwrap();
    let derived = xtask::derived_document().unwrap();
    let created = xtask::generate_from(root.path(), &derived).unwrap();
    assert_eq!(created, vec![(DOCUMENT_PATH, xtask::Outcome::Created), (CLIENT_PATH, xtask::Outcome::Created)]);
    let again = xtask::generate_from(root.path(), &derived).unwrap();
    assert_eq!(again, vec![(DOCUMENT_PATH, xtask::Outcome::Unchanged), (CLIENT_PATH, xtask::Outcome::Unchanged)]);
    let client = fs::read_to_string(root.path().join(CLIENT_PATH)).unwrap();
    assert!(
        client.starts_with(
            "// @generated by `cargo xtask openapi generate` from openapi/docspace-auth.json; \
             do not edit.\n"
        ),
        "{client}"
    );
}

/// A temporary workspace layout holding the artefacts `generate` writes for the current server:
/// the same files as the repository's when those are fresh.
fn generated_root() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    xtask::generate(root.path()).unwrap();
    root
}

fn edit(root: &Path, relative: &str, change: impl FnOnce(String) -> String) {
    let path = root.join(relative);
    let before = fs::read_to_string(&path).unwrap();
    let after = change(before.clone());
    assert_ne!(before, after, "the edit changed nothing");
    fs::write(&path, after).unwrap();
}

fn stale_diff<'a>(report: &'a Report, path: &str) -> &'a str {
    match &report.artefact(path).unwrap().status {
        Status::Stale { diff: Some(diff), .. } => diff,
        other => panic!("expected {path} to be stale with a diff, got {other:?}\n{report}"),
    }
}

/// The JSON pointers of the values in `original` that `round_tripped` lacks or has different.
fn collect_lost(original: &Value, round_tripped: &Value, pointer: String, lost: &mut Vec<String>) {
    match (original, round_tripped) {
        (Value::Object(original), Value::Object(round_tripped)) => {
            for (key, value) in original {
                let pointer = format!("{pointer}/{}", key.replace('~', "~0").replace('/', "~1"));
                match round_tripped.get(key) {
                    Some(other) => collect_lost(value, other, pointer, lost),
                    None => lost.push(pointer),
                }
            }
        }
        (Value::Array(original), Value::Array(round_tripped)) if original.len() == round_tripped.len() => {
            for (index, (value, other)) in original.iter().zip(round_tripped).enumerate() {
                collect_lost(value, other, format!("{pointer}/{index}"), lost);
            }
        }
        (original, round_tripped) if original == round_tripped => {}
        _ => lost.push(pointer),
    }
}
