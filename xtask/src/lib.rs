//! `cargo xtask openapi check | generate`: keeps the checked-in OpenAPI document and the generated
//! client in step with the server.
//!
//! Three things must agree:
//! 1. the document the server derives from its handlers with utoipa (OpenAPI 3.1),
//! 2. the checked-in `openapi/docspace-auth.json` (OpenAPI 3.0.3, since progenitor reads only 3.0),
//! 3. the checked-in `crates/client/src/generated.rs`, which progenitor generates from 2.
//!
//! [`generate`] writes 2 from 1 (through [`convert::to_openapi_3_0`]) and 3 from 2. [`check`]
//! compares 1 with 2 canonically and 3 with what progenitor makes of 2, and reports each artefact
//! Fresh or Stale with a diff. The test `checked_in_artefacts_are_fresh` runs [`check`], so
//! `cargo test --workspace` fails whenever they drift.

pub mod canonical;
pub mod client;
pub mod convert;

use std::fmt;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde_json::Value;
use similar::TextDiff;

/// The checked-in document, relative to the workspace root.
pub const DOCUMENT_PATH: &str = "openapi/docspace-auth.json";
/// The generated client, relative to the workspace root.
pub const CLIENT_PATH: &str = "crates/client/src/generated.rs";
/// The command that brings stale artefacts up to date.
pub const FIX_COMMAND: &str = "cargo xtask openapi generate";

/// The workspace root: the parent of this crate's directory.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the xtask crate lives inside the workspace").to_path_buf()
}

/// The server's own document, as utoipa emits it (OpenAPI 3.1).
pub fn server_document() -> anyhow::Result<Value> {
    serde_json::to_value(docspace_auth_server::api::openapi::document())
        .context("serialising the server's OpenAPI document")
}

/// The server's document converted to OpenAPI 3.0.3: what `openapi/docspace-auth.json` must say.
pub fn derived_document() -> anyhow::Result<Value> {
    convert::to_openapi_3_0(server_document()?).context("converting the server's OpenAPI 3.1 document to 3.0")
}

/// Whether an artefact matches what it is derived from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Fresh,
    Stale {
        /// Why, in one sentence.
        reason: String,
        /// A unified diff from the checked-in text to the expected one, when both exist.
        diff: Option<String>,
    },
}

/// The status of one checked-in file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artefact {
    /// Relative to the workspace root, with `/` separators.
    pub path: &'static str,
    pub status: Status,
}

/// The outcome of [`check`]: one entry per artefact, the document first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub artefacts: Vec<Artefact>,
}

impl Report {
    /// True when no artefact is stale.
    pub fn is_fresh(&self) -> bool {
        self.artefacts.iter().all(|artefact| artefact.status == Status::Fresh)
    }

    /// The artefact at `path`, if the report has one.
    pub fn artefact(&self, path: &str) -> Option<&Artefact> {
        self.artefacts.iter().find(|artefact| artefact.path == path)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for Artefact { path, status } in &self.artefacts {
            match status {
                Status::Fresh => writeln!(f, "{path}: Fresh")?,
                Status::Stale { reason, diff } => {
                    writeln!(f, "{path}: Stale")?;
                    writeln!(f, "  {reason}")?;
                    if let Some(diff) = diff {
                        write!(f, "{diff}")?;
                        if !diff.ends_with('\n') {
                            writeln!(f)?;
                        }
                    }
                    writeln!(f, "run `{FIX_COMMAND}` to update it")?;
                }
            }
        }
        Ok(())
    }
}

/// Checks the artefacts under `root` against the server's document.
pub fn check(root: &Path) -> anyhow::Result<Report> {
    check_against(root, &derived_document()?)
}

/// Checks the artefacts under `root` against `derived`, an OpenAPI 3.0 document standing for the
/// server's (as [`derived_document`] returns it).
///
/// An `Err` means the check itself could not run (an I/O error, or `derived` is no valid OpenAPI
/// 3.0); anything wrong with the checked-in files is reported as [`Status::Stale`].
pub fn check_against(root: &Path, derived: &Value) -> anyhow::Result<Report> {
    let expected =
        canonical::canonical_text(derived).context("the document derived from the server is not valid OpenAPI 3.0")?;

    let checked_in = read_if_exists(&root.join(DOCUMENT_PATH))?;
    let (document_status, checked_in_document) = match checked_in {
        None => (missing(), Err("does not exist".to_string())),
        Some(text) => match parse_document(&text) {
            Err(error) => (stale(format!("it cannot be read: {error:#}"), None), Err("cannot be read".to_string())),
            Ok((value, parsed)) => {
                let actual = canonical::canonical_text(&value)?;
                let status = if actual == expected {
                    Status::Fresh
                } else {
                    stale(
                        "it differs from the document derived from the server",
                        Some(unified_diff(&actual, &expected, "derived from server")),
                    )
                };
                (status, Ok(parsed))
            }
        },
    };

    let client_status = match checked_in_document {
        Err(why) => {
            stale(format!("it cannot be checked because {DOCUMENT_PATH}, which it is generated from, {why}"), None)
        }
        Ok(document) => {
            let expected_client = client::client_source(&document);
            match (read_if_exists(&root.join(CLIENT_PATH))?, expected_client) {
                (_, Err(error)) => stale(format!("it cannot be generated from {DOCUMENT_PATH}: {error:#}"), None),
                (None, Ok(_)) => missing(),
                (Some(actual), Ok(expected)) if actual == expected => Status::Fresh,
                (Some(actual), Ok(expected)) => stale(
                    format!("it differs from what progenitor generates from {DOCUMENT_PATH}"),
                    Some(unified_diff(&actual, &expected, &format!("generated from {DOCUMENT_PATH}"))),
                ),
            }
        }
    };

    Ok(Report {
        artefacts: vec![
            Artefact { path: DOCUMENT_PATH, status: document_status },
            Artefact { path: CLIENT_PATH, status: client_status },
        ],
    })
}

/// What [`generate`] did to one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Created,
    Updated,
    Unchanged,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Outcome::Created => "created",
            Outcome::Updated => "updated",
            Outcome::Unchanged => "unchanged",
        })
    }
}

/// Writes the server's document to `root/openapi/docspace-auth.json` and the client generated
/// from it to `root/crates/client/src/generated.rs`. Returns what happened to each file.
pub fn generate(root: &Path) -> anyhow::Result<Vec<(&'static str, Outcome)>> {
    generate_from(root, &derived_document()?)
}

/// [`generate`] with `derived` standing for the server's document.
pub fn generate_from(root: &Path, derived: &Value) -> anyhow::Result<Vec<(&'static str, Outcome)>> {
    // The canonical text is what check compares, so a freshly written document is Fresh.
    let document_text =
        canonical::canonical_text(derived).context("the document derived from the server is not valid OpenAPI 3.0")?;
    let (_, document) = parse_document(&document_text)?;
    let client_text = client::client_source(&document)?;
    Ok(vec![
        (DOCUMENT_PATH, write_if_changed(root, DOCUMENT_PATH, &document_text)?),
        (CLIENT_PATH, write_if_changed(root, CLIENT_PATH, &client_text)?),
    ])
}

/// Parses a document's text as JSON and as OpenAPI 3.0.
fn parse_document(text: &str) -> anyhow::Result<(Value, openapiv3::OpenAPI)> {
    let value: Value = serde_json::from_str(text).context("not valid JSON")?;
    let parsed = serde_json::from_value(value.clone()).context("not a valid OpenAPI 3.0 document")?;
    Ok((value, parsed))
}

fn unified_diff(actual: &str, expected: &str, expected_label: &str) -> String {
    TextDiff::from_lines(actual, expected)
        .unified_diff()
        .context_radius(3)
        .header("checked-in", expected_label)
        .to_string()
}

fn stale(reason: impl Into<String>, diff: Option<String>) -> Status {
    Status::Stale { reason: reason.into(), diff }
}

fn missing() -> Status {
    stale("it does not exist", None)
}

fn read_if_exists(path: &Path) -> anyhow::Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(error) if error.kind() == ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error).with_context(|| format!("reading {}", path.display())),
    }
}

fn write_if_changed(root: &Path, relative: &str, text: &str) -> anyhow::Result<Outcome> {
    let path = root.join(relative);
    let outcome = match read_if_exists(&path)? {
        Some(existing) if existing == text => return Ok(Outcome::Unchanged),
        Some(_) => Outcome::Updated,
        None => Outcome::Created,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    Ok(outcome)
}
