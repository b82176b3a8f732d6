//! The forms in which OpenAPI documents are written and compared.

use anyhow::Context as _;
use serde_json::{Map, Value};

/// The canonical text of a document: what `generate` writes and what `check` compares. The
/// document is parsed as OpenAPI 3.0 with `openapiv3` (which proves it is one), serialised back,
/// stripped of empty `tags` lists, key-sorted (so diffs of the checked-in file are stable) and
/// pretty-printed with a two-space indent and a trailing newline. Differences in formatting, key
/// order and spelled-out defaults therefore never count as drift, and the line numbers of a
/// reported diff are those of the file `generate` writes.
pub fn canonical_text(document: &Value) -> anyhow::Result<String> {
    let parsed: openapiv3::OpenAPI =
        serde_json::from_value(document.clone()).context("not a valid OpenAPI 3.0 document")?;
    let mut value = serde_json::to_value(&parsed).context("serialising the parsed document")?;
    drop_empty_tags(&mut value);
    Ok(pretty(&sort_keys(value)))
}

/// `value` with the keys of every object in sorted order (`serde_json`'s `preserve_order` is on in
/// this workspace, so maps keep insertion order unless rebuilt).
pub fn sort_keys(value: Value) -> Value {
    match value {
        Value::Object(object) => {
            let mut entries: Vec<(String, Value)> = object.into_iter().collect();
            entries.sort_by(|(a, _), (b, _)| a.cmp(b));
            Value::Object(entries.into_iter().map(|(key, value)| (key, sort_keys(value))).collect::<Map<_, _>>())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sort_keys).collect()),
        other => other,
    }
}

/// Removes `tags: []` from the document and from every operation.
fn drop_empty_tags(document: &mut Value) {
    fn drop_if_empty(object: &mut Value) {
        if let Some(object) = object.as_object_mut()
            && object.get("tags").and_then(Value::as_array).is_some_and(Vec::is_empty)
        {
            object.remove("tags");
        }
    }

    drop_if_empty(document);
    if let Some(paths) = document.get_mut("paths").and_then(Value::as_object_mut) {
        for item in paths.values_mut() {
            if let Some(item) = item.as_object_mut() {
                for operation in item.values_mut() {
                    drop_if_empty(operation);
                }
            }
        }
    }
}

fn pretty(value: &Value) -> String {
    let mut text = serde_json::to_string_pretty(value).expect("a JSON value always serialises");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sorts_keys_recursively() {
        let sorted = sort_keys(json!({ "b": { "d": 1, "c": [{ "f": 1, "e": 2 }] }, "a": 0 }));
        assert_eq!(serde_json::to_string(&sorted).unwrap(), r#"{"a":0,"b":{"c":[{"e":2,"f":1}],"d":1}}"#);
    }

    #[test]
    fn canonical_text_ignores_key_order_and_empty_tags() {
        let a = json!({
            "openapi": "3.0.3",
            "info": { "title": "t", "version": "1" },
            "tags": [],
            "paths": { "/a": { "get": {
                "operationId": "a", "tags": [],
                "responses": { "204": { "description": "none" } }
            } } }
        });
        let b = json!({
            "paths": { "/a": { "get": {
                "responses": { "204": { "description": "none" } },
                "operationId": "a"
            } } },
            "info": { "version": "1", "title": "t" },
            "openapi": "3.0.3"
        });
        assert_eq!(canonical_text(&a).unwrap(), canonical_text(&b).unwrap());
    }

    #[test]
    fn canonical_text_rejects_what_is_not_openapi_3_0() {
        let error = canonical_text(&json!({ "openapi": "3.0.3", "info": {} })).unwrap_err();
        assert!(format!("{error:#}").contains("not a valid OpenAPI 3.0 document"), "{error:#}");
    }
}
