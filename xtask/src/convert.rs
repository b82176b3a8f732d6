//! Converting the OpenAPI 3.1 document utoipa emits into the OpenAPI 3.0.3 that progenitor and
//! `openapiv3` read.
//!
//! [`to_openapi_3_0`] is a pure function on JSON values. It knows the places in a document where
//! schemas live (`components.schemas` and every `schema` of a parameter, header or media type), and
//! inside a schema it rewrites the JSON Schema 2020-12 spellings into their 3.0 equivalents:
//!
//! | OpenAPI 3.1                                  | OpenAPI 3.0.3                                     |
//! |----------------------------------------------|---------------------------------------------------|
//! | `type: [X, "null"]`                          | `type: X, nullable: true`                         |
//! | `oneOf`/`anyOf: [{$ref}, {type: null}]`      | `allOf: [{$ref}], nullable: true`                 |
//! | `oneOf`/`anyOf: [{inline}, {type: null}]`    | the inline schema, `nullable: true`               |
//! | `$ref` with sibling keywords                 | `allOf: [{$ref}]` with the siblings               |
//! | `examples: [a, ...]`                         | `example: a`                                      |
//! | `const: v`                                   | `enum: [v]`                                       |
//! | `exclusiveMinimum: n` (also `...Maximum`)    | `minimum: n, exclusiveMinimum: true`              |
//! | `propertyNames`, `$schema`, `$comment`       | dropped                                           |
//! | `info.license.identifier`                    | dropped                                           |
//!
//! Anything else that 3.0 cannot say (`prefixItems`, `if`/`then`/`else`, `$defs`, `webhooks`, a
//! type array with two non-null types, ...) is an error naming the JSON pointer of the construct,
//! so that a new kind of schema in the server fails the check loudly instead of drifting silently.

use serde_json::{Map, Value, json};

/// A construct that OpenAPI 3.0 cannot express, and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversionError {
    /// JSON pointer (RFC 6901) to the offending value.
    pub pointer: String,
    /// What is wrong there.
    pub message: String,
}

impl std::fmt::Display for ConversionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pointer = if self.pointer.is_empty() { "/" } else { &self.pointer };
        write!(f, "cannot convert OpenAPI 3.1 to 3.0 at {pointer}: {}", self.message)
    }
}

impl std::error::Error for ConversionError {}

type Result<T> = std::result::Result<T, ConversionError>;

/// JSON Schema keywords that OpenAPI 3.0 does not have and that cannot be rewritten.
const UNCONVERTIBLE_SCHEMA_KEYWORDS: &[&str] = &[
    "$anchor",
    "$defs",
    "$dynamicAnchor",
    "$dynamicRef",
    "$id",
    "$vocabulary",
    "contains",
    "contentEncoding",
    "contentMediaType",
    "contentSchema",
    "dependentRequired",
    "dependentSchemas",
    "else",
    "if",
    "maxContains",
    "minContains",
    "patternProperties",
    "prefixItems",
    "then",
    "unevaluatedItems",
    "unevaluatedProperties",
];

/// Keywords dropped from schemas: 3.0 has no place for them and they do not change what a client
/// sends or accepts in a way the generated types could express.
const DROPPED_SCHEMA_KEYWORDS: &[&str] = &["$schema", "$comment", "propertyNames"];

/// Top-level fields of a 3.1 document that 3.0 has no place for.
const UNCONVERTIBLE_DOCUMENT_FIELDS: &[&str] = &["webhooks", "jsonSchemaDialect"];

/// Fields of non-schema objects whose values are maps from a user-chosen name to another
/// (non-schema) object: `paths`, `responses`, `content`, ... Their keys are names, never keywords.
const NAMED_MAPS: &[&str] = &[
    "callbacks",
    "content",
    "encoding",
    "headers",
    "links",
    "parameters",
    "paths",
    "requestBodies",
    "responses",
    "securitySchemes",
];

/// Fields of non-schema objects that hold example data or vendor extensions: never rewritten.
fn is_opaque_field(key: &str) -> bool {
    matches!(key, "example" | "examples" | "default" | "value") || key.starts_with("x-")
}

/// Converts an OpenAPI 3.1 document (as utoipa serialises it) into OpenAPI 3.0.3.
pub fn to_openapi_3_0(mut document: Value) -> Result<Value> {
    let root = document.as_object_mut().ok_or_else(|| ConversionError {
        pointer: String::new(),
        message: "the document is not a JSON object".into(),
    })?;

    match root.get("openapi").and_then(Value::as_str) {
        Some(version) if version.starts_with("3.1.") || version.starts_with("3.0.") => {}
        other => {
            return Err(ConversionError {
                pointer: "/openapi".into(),
                message: format!("expected an OpenAPI 3.1 document, found version {other:?}"),
            });
        }
    }
    root.insert("openapi".into(), json!("3.0.3"));

    for field in UNCONVERTIBLE_DOCUMENT_FIELDS {
        if root.contains_key(*field) {
            return Err(unconvertible(&child("", field), field));
        }
    }
    if let Some(info) = root.get_mut("info").and_then(Value::as_object_mut) {
        if info.contains_key("summary") {
            return Err(unconvertible("/info/summary", "info.summary"));
        }
        if let Some(license) = info.get_mut("license").and_then(Value::as_object_mut) {
            license.remove("identifier");
        }
    }

    for (key, value) in root.iter_mut() {
        let pointer = child("", key);
        match key.as_str() {
            "components" => convert_components(value, &pointer)?,
            "info" | "openapi" | "tags" | "servers" | "security" | "externalDocs" => {}
            _ if key.starts_with("x-") => {}
            _ => convert_structure(value, &pointer)?,
        }
    }
    Ok(document)
}

fn convert_components(components: &mut Value, pointer: &str) -> Result<()> {
    let Some(components) = components.as_object_mut() else {
        return Ok(());
    };
    if components.contains_key("pathItems") {
        return Err(unconvertible(&child(pointer, "pathItems"), "components.pathItems"));
    }
    for (key, value) in components.iter_mut() {
        let pointer = child(pointer, key);
        if key == "schemas" {
            if let Some(schemas) = value.as_object_mut() {
                for (name, schema) in schemas.iter_mut() {
                    convert_schema(schema, &child(&pointer, name))?;
                }
            }
        } else if !is_opaque_field(key) {
            // responses, parameters, headers, requestBodies, ...: maps of named objects.
            convert_named_map(value, &pointer)?;
        }
    }
    Ok(())
}

/// Walks a non-schema object (path item, operation, response, media type, ...) and converts every
/// schema it holds.
fn convert_structure(value: &mut Value, pointer: &str) -> Result<()> {
    match value {
        Value::Object(object) => {
            for (key, value) in object.iter_mut() {
                let pointer = child(pointer, key);
                if key == "schema" {
                    convert_schema(value, &pointer)?;
                } else if NAMED_MAPS.contains(&key.as_str()) {
                    convert_named_map(value, &pointer)?;
                } else if !is_opaque_field(key) {
                    convert_structure(value, &pointer)?;
                }
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter_mut().enumerate() {
                convert_structure(item, &child(pointer, &index.to_string()))?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// A map (or, for `parameters`, an array) of named non-schema objects.
fn convert_named_map(value: &mut Value, pointer: &str) -> Result<()> {
    match value {
        Value::Object(map) => {
            for (name, entry) in map.iter_mut() {
                convert_structure(entry, &child(pointer, name))?;
            }
            Ok(())
        }
        other => convert_structure(other, pointer),
    }
}

/// Converts one schema, and the schemas inside it, in place.
fn convert_schema(schema: &mut Value, pointer: &str) -> Result<()> {
    let Value::Object(object) = schema else {
        return Err(ConversionError {
            pointer: pointer.into(),
            message: format!("a schema must be an object in OpenAPI 3.0, found {}", compact(schema)),
        });
    };

    if let Some(keyword) = UNCONVERTIBLE_SCHEMA_KEYWORDS.iter().find(|keyword| object.contains_key(**keyword)) {
        return Err(unconvertible(&child(pointer, keyword), keyword));
    }
    for keyword in DROPPED_SCHEMA_KEYWORDS {
        object.remove(*keyword);
    }

    convert_type(object, pointer)?;
    for combinator in ["oneOf", "anyOf"] {
        convert_nullable_combinator(object, combinator, pointer)?;
    }
    convert_examples(object, pointer)?;
    convert_const(object, pointer)?;
    convert_exclusive_bound(object, "exclusiveMinimum", "minimum", pointer, |a, b| a >= b)?;
    convert_exclusive_bound(object, "exclusiveMaximum", "maximum", pointer, |a, b| a <= b)?;
    wrap_ref_with_siblings(object);

    // The schemas nested inside this one.
    for (key, value) in object.iter_mut() {
        let pointer = child(pointer, key);
        match key.as_str() {
            "items" | "not" => convert_schema(value, &pointer)?,
            "additionalProperties" if !value.is_boolean() => convert_schema(value, &pointer)?,
            "properties" => {
                if let Some(properties) = value.as_object_mut() {
                    for (name, property) in properties.iter_mut() {
                        convert_schema(property, &child(&pointer, name))?;
                    }
                }
            }
            "allOf" | "oneOf" | "anyOf" => {
                if let Some(schemas) = value.as_array_mut() {
                    for (index, schema) in schemas.iter_mut().enumerate() {
                        convert_schema(schema, &child(&pointer, &index.to_string()))?;
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// `type: [X, "null"]` → `type: X, nullable: true`.
fn convert_type(object: &mut Map<String, Value>, pointer: &str) -> Result<()> {
    let pointer = child(pointer, "type");
    match object.get("type") {
        Some(Value::Array(types)) => {
            let nullable = types.iter().any(|t| t == "null");
            let others: Vec<Value> = types.iter().filter(|t| *t != "null").cloned().collect();
            match others.as_slice() {
                [single] if single.is_string() => {
                    object.insert("type".into(), single.clone());
                    if nullable {
                        object.insert("nullable".into(), Value::Bool(true));
                    }
                    Ok(())
                }
                [] => Err(ConversionError {
                    pointer,
                    message: "a schema whose only type is null has no OpenAPI 3.0 equivalent".into(),
                }),
                _ => Err(ConversionError {
                    pointer,
                    message: format!(
                        "a type array with several non-null types ({}) has no OpenAPI 3.0 \
                         equivalent; use oneOf",
                        compact(&Value::Array(others))
                    ),
                }),
            }
        }
        Some(Value::String(t)) if t == "null" => Err(ConversionError {
            pointer,
            message: "a schema whose only type is null has no OpenAPI 3.0 equivalent".into(),
        }),
        _ => Ok(()),
    }
}

/// `oneOf: [X, {type: null}]` → `allOf: [X], nullable: true` when X is a reference, or X's keywords
/// merged in with `nullable: true` when X is inline. With several non-null alternatives the
/// combinator stays and only the null alternative is replaced by `nullable: true`.
fn convert_nullable_combinator(object: &mut Map<String, Value>, combinator: &str, pointer: &str) -> Result<()> {
    let Some(Value::Array(alternatives)) = object.get(combinator) else {
        return Ok(());
    };
    if !alternatives.iter().any(is_null_schema) {
        return Ok(());
    }
    let first_index = alternatives.iter().position(|schema| !is_null_schema(schema)).unwrap_or(0);
    let rest: Vec<Value> = alternatives.iter().filter(|schema| !is_null_schema(schema)).cloned().collect();
    let combinator_pointer = child(pointer, combinator);
    let single_pointer = child(&combinator_pointer, &first_index.to_string());
    object.remove(combinator);
    object.insert("nullable".into(), Value::Bool(true));

    match <[Value; 1]>::try_from(rest) {
        Err(rest) if rest.is_empty() => Err(ConversionError {
            pointer: combinator_pointer,
            message: "every alternative is null; OpenAPI 3.0 has no null type".into(),
        }),
        Err(rest) => {
            object.insert(combinator.into(), Value::Array(rest));
            Ok(())
        }
        Ok([single]) if is_plain_ref(&single) => {
            match object.get_mut("allOf") {
                Some(Value::Array(all_of)) => all_of.push(single),
                _ => {
                    object.insert("allOf".into(), Value::Array(vec![single]));
                }
            }
            Ok(())
        }
        Ok([mut inline @ Value::Object(_)]) => {
            convert_schema(&mut inline, &single_pointer)?;
            let Value::Object(inline) = inline else { unreachable!("matched an object above") };
            for (key, value) in inline {
                if let Some(existing) = object.get(&key)
                    && existing != &value
                {
                    return Err(ConversionError {
                        pointer: single_pointer,
                        message: format!(
                            "cannot inline the only non-null alternative: its `{key}` conflicts \
                             with the enclosing schema's"
                        ),
                    });
                }
                object.insert(key, value);
            }
            Ok(())
        }
        Ok([other]) => Err(ConversionError {
            pointer: single_pointer,
            message: format!("a schema must be an object in OpenAPI 3.0, found {}", compact(&other)),
        }),
    }
}

/// `examples: [a, b]` → `example: a` (an explicit `example` wins).
fn convert_examples(object: &mut Map<String, Value>, pointer: &str) -> Result<()> {
    match object.remove("examples") {
        None => Ok(()),
        Some(Value::Array(examples)) => {
            if let Some(first) = examples.into_iter().next()
                && !object.contains_key("example")
            {
                object.insert("example".into(), first);
            }
            Ok(())
        }
        Some(other) => Err(ConversionError {
            pointer: child(pointer, "examples"),
            message: format!("schema `examples` must be an array, found {}", compact(&other)),
        }),
    }
}

/// `const: v` → `enum: [v]`.
fn convert_const(object: &mut Map<String, Value>, pointer: &str) -> Result<()> {
    let Some(value) = object.remove("const") else {
        return Ok(());
    };
    match object.get("enum") {
        None => {
            object.insert("enum".into(), Value::Array(vec![value]));
            Ok(())
        }
        Some(Value::Array(values)) if values.contains(&value) => {
            object.insert("enum".into(), Value::Array(vec![value]));
            Ok(())
        }
        Some(_) => Err(ConversionError {
            pointer: child(pointer, "const"),
            message: "`const` together with an `enum` that does not contain it".into(),
        }),
    }
}

/// 3.1's numeric `exclusiveMinimum: n` → 3.0's `minimum: n, exclusiveMinimum: true`. When an
/// inclusive bound is present too, the stricter of the two is kept. `stricter(a, b)` tells whether
/// the exclusive bound `a` is at least as strict as the inclusive bound `b`.
fn convert_exclusive_bound(
    object: &mut Map<String, Value>,
    exclusive: &str,
    inclusive: &str,
    pointer: &str,
    stricter: fn(f64, f64) -> bool,
) -> Result<()> {
    let bound = match object.get(exclusive) {
        None | Some(Value::Bool(_)) => return Ok(()),
        Some(Value::Number(bound)) => bound.clone(),
        Some(other) => {
            return Err(ConversionError {
                pointer: child(pointer, exclusive),
                message: format!("expected a number, found {}", compact(other)),
            });
        }
    };
    let exclusive_wins = match object.get(inclusive).and_then(Value::as_f64) {
        None => true,
        Some(existing) => stricter(bound.as_f64().unwrap_or(f64::NAN), existing),
    };
    if exclusive_wins {
        object.insert(inclusive.into(), Value::Number(bound));
        object.insert(exclusive.into(), Value::Bool(true));
    } else {
        object.remove(exclusive);
    }
    Ok(())
}

/// In 3.1 a `$ref` may have siblings (`description`, `nullable`, ...); 3.0 ignores them, so the
/// reference moves into an `allOf` and the siblings stay.
fn wrap_ref_with_siblings(object: &mut Map<String, Value>) {
    if object.len() > 1
        && let Some(reference) = object.remove("$ref")
    {
        let reference = json!({ "$ref": reference });
        match object.get_mut("allOf") {
            Some(Value::Array(all_of)) => all_of.insert(0, reference),
            _ => {
                object.insert("allOf".into(), Value::Array(vec![reference]));
            }
        }
    }
}

fn is_null_schema(schema: &Value) -> bool {
    schema.as_object().is_some_and(|object| {
        object.get("type").is_some_and(|t| t == "null")
            && object.keys().all(|key| matches!(key.as_str(), "type" | "description" | "title"))
    })
}

fn is_plain_ref(schema: &Value) -> bool {
    schema.as_object().is_some_and(|object| object.len() == 1 && object.contains_key("$ref"))
}

fn unconvertible(pointer: &str, what: &str) -> ConversionError {
    ConversionError {
        pointer: pointer.into(),
        message: format!("`{what}` is OpenAPI 3.1 only and has no 3.0 equivalent"),
    }
}

/// `pointer` extended by one reference token, escaped per RFC 6901.
fn child(pointer: &str, token: &str) -> String {
    format!("{pointer}/{}", token.replace('~', "~0").replace('/', "~1"))
}

fn compact(value: &Value) -> String {
    let text = value.to_string();
    if text.len() > 80 { format!("{}...", &text[..text.floor_char_boundary(77)]) } else { text }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal 3.1 document holding `schema` as the component `S`.
    fn document_with_schema(schema: Value) -> Value {
        json!({
            "openapi": "3.1.0",
            "info": { "title": "t", "version": "1" },
            "paths": {},
            "components": { "schemas": { "S": schema } }
        })
    }

    fn convert_schema_ok(schema: Value) -> Value {
        let converted = to_openapi_3_0(document_with_schema(schema)).expect("converts");
        converted["components"]["schemas"]["S"].clone()
    }

    fn convert_schema_err(schema: Value) -> ConversionError {
        to_openapi_3_0(document_with_schema(schema)).expect_err("must not convert")
    }

    #[test]
    fn sets_the_version_to_3_0_3() {
        let converted = to_openapi_3_0(document_with_schema(json!({}))).unwrap();
        assert_eq!(converted["openapi"], "3.0.3");
    }

    #[test]
    fn rejects_other_versions() {
        let mut document = document_with_schema(json!({}));
        document["openapi"] = json!("2.0");
        assert_eq!(to_openapi_3_0(document).unwrap_err().pointer, "/openapi");
    }

    #[test]
    fn nullable_type_array_becomes_nullable() {
        assert_eq!(
            convert_schema_ok(json!({ "type": ["string", "null"], "format": "uri" })),
            json!({ "type": "string", "nullable": true, "format": "uri" })
        );
        assert_eq!(
            convert_schema_ok(json!({ "type": ["null", "boolean"] })),
            json!({ "type": "boolean", "nullable": true })
        );
        assert_eq!(convert_schema_ok(json!({ "type": ["integer"] })), json!({ "type": "integer" }));
    }

    #[test]
    fn type_array_with_two_non_null_types_fails_naming_the_pointer() {
        let error = convert_schema_err(json!({
            "type": "object",
            "properties": { "id": { "type": ["string", "integer", "null"] } }
        }));
        assert_eq!(error.pointer, "/components/schemas/S/properties/id/type");
        assert!(error.message.contains("several non-null types"), "{error}");
        assert!(error.to_string().contains("/components/schemas/S/properties/id/type"));
    }

    #[test]
    fn null_only_type_fails() {
        let error = convert_schema_err(json!({ "type": "null" }));
        assert_eq!(error.pointer, "/components/schemas/S/type");
    }

    #[test]
    fn one_of_ref_or_null_becomes_all_of_nullable() {
        for combinator in ["oneOf", "anyOf"] {
            assert_eq!(
                convert_schema_ok(json!({
                    combinator: [{ "$ref": "#/components/schemas/T" }, { "type": "null" }],
                    "description": "d"
                })),
                json!({
                    "description": "d",
                    "nullable": true,
                    "allOf": [{ "$ref": "#/components/schemas/T" }]
                })
            );
        }
    }

    #[test]
    fn one_of_inline_or_null_inlines_the_schema() {
        assert_eq!(
            convert_schema_ok(json!({
                "oneOf": [{ "type": "null" }, { "type": ["array", "null"], "items": { "type": "string" } }]
            })),
            json!({ "nullable": true, "type": "array", "items": { "type": "string" } })
        );
    }

    #[test]
    fn one_of_several_or_null_keeps_the_rest() {
        assert_eq!(
            convert_schema_ok(json!({
                "oneOf": [{ "type": "string" }, { "type": "integer" }, { "type": "null" }]
            })),
            json!({ "nullable": true, "oneOf": [{ "type": "string" }, { "type": "integer" }] })
        );
    }

    #[test]
    fn ref_with_siblings_moves_into_all_of() {
        assert_eq!(
            convert_schema_ok(json!({ "$ref": "#/components/schemas/T", "description": "d" })),
            json!({ "description": "d", "allOf": [{ "$ref": "#/components/schemas/T" }] })
        );
        assert_eq!(
            convert_schema_ok(json!({ "$ref": "#/components/schemas/T" })),
            json!({ "$ref": "#/components/schemas/T" })
        );
    }

    #[test]
    fn schema_examples_array_becomes_example() {
        assert_eq!(
            convert_schema_ok(json!({ "type": "string", "examples": ["a", "b"] })),
            json!({ "type": "string", "example": "a" })
        );
        assert_eq!(
            convert_schema_ok(json!({ "type": "string", "example": "x", "examples": ["a"] })),
            json!({ "type": "string", "example": "x" })
        );
        assert_eq!(convert_schema_ok(json!({ "type": "string", "examples": [] })), json!({ "type": "string" }));
    }

    #[test]
    fn media_type_examples_map_is_left_alone() {
        let examples = json!({
            "one": { "value": { "type": ["string", "null"], "examples": [1, 2] } }
        });
        let document = json!({
            "openapi": "3.1.0",
            "info": { "title": "t", "version": "1" },
            "paths": { "/a": { "get": { "operationId": "a", "responses": { "200": {
                "description": "ok",
                "content": { "application/json": {
                    "schema": { "type": ["string", "null"] },
                    "examples": examples.clone()
                } }
            } } } } }
        });
        let converted = to_openapi_3_0(document).unwrap();
        let media = &converted["paths"]["/a"]["get"]["responses"]["200"]["content"]["application/json"];
        assert_eq!(media["examples"], examples);
        assert_eq!(media["schema"], json!({ "type": "string", "nullable": true }));
    }

    #[test]
    fn drops_property_names_schema_and_license_identifier() {
        assert_eq!(
            convert_schema_ok(json!({
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "type": "object",
                "propertyNames": { "type": "string" },
                "additionalProperties": { "type": ["integer", "null"] }
            })),
            json!({
                "type": "object",
                "additionalProperties": { "type": "integer", "nullable": true }
            })
        );
        let mut document = document_with_schema(json!({}));
        document["info"]["license"] = json!({ "name": "Apache-2.0", "identifier": "Apache-2.0" });
        let converted = to_openapi_3_0(document).unwrap();
        assert_eq!(converted["info"]["license"], json!({ "name": "Apache-2.0" }));
    }

    #[test]
    fn const_becomes_single_value_enum() {
        assert_eq!(
            convert_schema_ok(json!({ "type": "string", "const": "ok" })),
            json!({ "type": "string", "enum": ["ok"] })
        );
    }

    #[test]
    fn numeric_exclusive_bounds_become_boolean() {
        assert_eq!(
            convert_schema_ok(json!({ "type": "integer", "exclusiveMinimum": 0, "exclusiveMaximum": 10 })),
            json!({
                "type": "integer",
                "exclusiveMinimum": true,
                "minimum": 0,
                "exclusiveMaximum": true,
                "maximum": 10
            })
        );
        // The stricter bound wins when both forms are present.
        assert_eq!(
            convert_schema_ok(json!({ "type": "number", "minimum": 5, "exclusiveMinimum": 1 })),
            json!({ "type": "number", "minimum": 5 })
        );
        assert_eq!(
            convert_schema_ok(json!({ "type": "number", "maximum": 5, "exclusiveMaximum": 1 })),
            json!({ "type": "number", "maximum": 1, "exclusiveMaximum": true })
        );
        // Already in 3.0 form.
        assert_eq!(
            convert_schema_ok(json!({ "minimum": 1, "exclusiveMinimum": true })),
            json!({ "minimum": 1, "exclusiveMinimum": true })
        );
    }

    #[test]
    fn converts_nested_schemas_everywhere() {
        let document = json!({
            "openapi": "3.1.0",
            "info": { "title": "t", "version": "1" },
            "paths": { "/a/{id}": { "post": {
                "operationId": "a",
                "parameters": [{ "name": "id", "in": "path", "required": true,
                                 "schema": { "type": ["string", "null"] } }],
                "requestBody": { "content": { "application/json": {
                    "schema": { "type": "array", "items": { "type": ["integer", "null"] } }
                } } },
                "responses": { "200": {
                    "description": "ok",
                    "headers": { "X-N": { "schema": { "type": "integer", "examples": [3] } } }
                } }
            } } },
            "components": { "schemas": { "S": {
                "allOf": [{ "type": "object", "properties": { "p": { "const": 1 } } }],
                "not": { "type": ["boolean", "null"] }
            } } }
        });
        let converted = to_openapi_3_0(document).unwrap();
        let operation = &converted["paths"]["/a/{id}"]["post"];
        assert_eq!(operation["parameters"][0]["schema"], json!({ "type": "string", "nullable": true }));
        assert_eq!(
            operation["requestBody"]["content"]["application/json"]["schema"]["items"],
            json!({ "type": "integer", "nullable": true })
        );
        assert_eq!(
            operation["responses"]["200"]["headers"]["X-N"]["schema"],
            json!({ "type": "integer", "example": 3 })
        );
        let schema = &converted["components"]["schemas"]["S"];
        assert_eq!(schema["allOf"][0]["properties"]["p"], json!({ "enum": [1] }));
        assert_eq!(schema["not"], json!({ "type": "boolean", "nullable": true }));
    }

    #[test]
    fn unconvertible_schema_keywords_fail_naming_the_pointer() {
        for keyword in ["prefixItems", "if", "$defs", "unevaluatedProperties", "contentMediaType"] {
            let error = convert_schema_err(json!({
                "type": "object",
                "properties": { "a~b/c": { keyword: {} } }
            }));
            assert_eq!(error.pointer, format!("/components/schemas/S/properties/a~0b~1c/{keyword}"));
            assert!(error.message.contains(keyword), "{error}");
        }
    }

    #[test]
    fn boolean_schemas_fail_except_additional_properties() {
        let error = convert_schema_err(json!({ "type": "array", "items": true }));
        assert_eq!(error.pointer, "/components/schemas/S/items");
        assert_eq!(
            convert_schema_ok(json!({ "type": "object", "additionalProperties": false })),
            json!({ "type": "object", "additionalProperties": false })
        );
    }

    #[test]
    fn webhooks_fail() {
        let mut document = document_with_schema(json!({}));
        document["webhooks"] = json!({});
        let error = to_openapi_3_0(document).unwrap_err();
        assert_eq!(error.pointer, "/webhooks");
    }
}
