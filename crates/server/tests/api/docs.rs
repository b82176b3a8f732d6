//! Swagger UI, the served document, health, and that documented examples are what the server says.

use serde_json::Value;

use crate::helpers::*;

#[backend_test]
async fn swagger_ui_and_the_document_are_served(backend: Backend) {
    let app = spawn_app(backend).await;
    let document = json_of(app.http.get(app.url("/openapi.json")).send().await.unwrap()).await;
    let expected = serde_json::to_value(docspace_auth_server::api::openapi::document()).unwrap();
    assert_eq!(document, expected);
    assert!(document["paths"]["/api/2.0/authentication/sendsms"]["post"]["operationId"] == "sendSmsCode");

    let ui = app.http.get(app.url("/swagger-ui/")).send().await.unwrap();
    assert_eq!(ui.status(), 200);
    assert!(ui.text().await.unwrap().contains("swagger-ui"));

    let no_redirect = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let redirect = no_redirect.get(app.url("/swagger-ui")).send().await.unwrap();
    assert_eq!(redirect.status(), 308);
    assert_eq!(redirect.headers()["location"], "/swagger-ui/");
}

#[backend_test]
async fn health_reports_ok(backend: Backend) {
    let app = spawn_app(backend).await;
    let body = json_of(app.http.get(app.url("/health")).send().await.unwrap()).await;
    assert_eq!(body["response"]["status"], "ok");
    assert_eq!(body["statusCode"], 200);
}

/// The shape of a JSON value: its object keys in order and the kinds of its leaves.
fn shape(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), shape(v))).collect()),
        Value::Array(items) => Value::Array(items.iter().map(shape).collect()),
        Value::String(_) => Value::String("string".into()),
        Value::Number(_) => Value::String("number".into()),
        Value::Bool(_) => Value::String("bool".into()),
        Value::Null => Value::Null,
    }
}

fn documented_example(path: &str, method: &str, status: &str) -> Value {
    let document = serde_json::to_value(docspace_auth_server::api::openapi::document()).unwrap();
    document["paths"][path][method]["responses"][status]["content"]["application/json"]["example"].clone()
}

#[backend_test]
async fn documented_examples_have_the_shape_of_real_answers(backend: Backend) {
    let app = spawn_app(backend).await;
    app.add_alice().await;

    let sent = json_of(app.send_sms(&login_body()).await).await;
    let example = documented_example("/api/2.0/authentication/sendsms", "post", "200");
    assert_eq!(shape(&example), shape(&sent));
    assert_eq!(example["response"]["phoneNoise"], sent["response"]["phoneNoise"]);

    let refused = json_of(app.send_sms(&serde_json::json!({"userName": EMAIL, "password": "x"})).await).await;
    assert_eq!(documented_example("/api/2.0/authentication/sendsms", "post", "401"), refused);

    let settings = json_of(app.http.get(app.url("/api/2.0/settings")).send().await.unwrap()).await;
    assert_eq!(shape(&documented_example("/api/2.0/settings", "get", "200")), shape(&settings));
}

#[test]
fn every_documented_example_matches_its_status() {
    let document = serde_json::to_value(docspace_auth_server::api::openapi::document()).unwrap();
    let mut checked = 0;
    for (path, operations) in document["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            for (status, response) in operation["responses"].as_object().unwrap() {
                let example = &response["content"]["application/json"]["example"];
                if example.is_null() {
                    continue;
                }
                let code: u64 = status.parse().unwrap();
                let place = format!("{method} {path} {status}");
                assert_eq!(example["statusCode"], code, "{place}");
                if code == 200 {
                    assert_eq!(example["status"], 0, "{place}");
                    assert_eq!(example["links"][0]["action"], method.to_uppercase(), "{place}");
                    // The link names the request: the path itself, or its literal prefix for templates.
                    let literal = path.split('{').next().unwrap();
                    assert!(example["links"][0]["href"].as_str().unwrap().contains(literal), "{place}");
                } else {
                    assert_eq!(example["status"], 1, "{place}");
                    assert!(!example["error"]["type"].as_str().unwrap().is_empty(), "{place}");
                    assert_eq!(example["error"]["stack"], Value::Null, "{place}");
                }
                checked += 1;
            }
        }
    }
    assert!(checked >= 20, "only {checked} examples checked");
}

/// Whether `value` fits `schema`, for the part of JSON Schema the document uses in request bodies
/// (`$ref`, `oneOf`, `anyOf`, `allOf`, `type`, `enum`).
fn fits(document: &Value, schema: &Value, value: &Value) -> bool {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.rsplit('/').next().unwrap();
        return fits(document, &document["components"]["schemas"][name], value);
    }
    let matching = |key: &str| schema[key].as_array().map(|s| s.iter().filter(|s| fits(document, s, value)).count());
    let type_is = |t: &Value| match t.as_str().unwrap() {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "object" => value.is_object(),
        "array" => value.is_array(),
        other => panic!("type {other}"),
    };
    matching("oneOf").is_none_or(|n| n == 1)
        && matching("anyOf").is_none_or(|n| n > 0)
        && schema["allOf"].as_array().is_none_or(|all| matching("allOf") == Some(all.len()))
        && schema["enum"].as_array().is_none_or(|values| values.contains(value))
        && match &schema["type"] {
            Value::Null => true,
            Value::Array(types) => types.iter().any(type_is),
            t => type_is(t),
        }
}

/// The document declares what the server accepts: `checkConfirm`'s `first` as a boolean or a
/// string, and `provider` as the values that mean password login (letter case and surrounding
/// whitespace ignored, as its description says). Checked value by value against real answers.
#[backend_test]
async fn the_document_declares_what_the_server_accepts(backend: Backend) {
    use serde_json::json;
    let app = spawn_app_with(backend, |s| s.two_factor.sms = false).await;
    app.add_alice().await;
    let document = serde_json::to_value(docspace_auth_server::api::openapi::document()).unwrap();
    let properties = |schema: &str| document["components"]["schemas"][schema]["properties"].clone();

    let first = properties("EmailValidationKeyModel")["first"].clone();
    for value in [json!(true), json!(false), json!("true"), json!("False"), json!("yes"), json!(""), Value::Null] {
        assert!(fits(&document, &first, &value), "first: {value} is accepted: {first}");
    }
    for value in [json!(1), json!(0.5), json!([]), json!({})] {
        assert!(!fits(&document, &first, &value), "first: {value} is refused: {first}");
    }
    for value in [json!(true), json!("true"), json!("yes"), json!(1), json!([]), Value::Null] {
        let body = json!({"type": "Auth", "email": EMAIL, "key": "k", "first": value});
        let response = app.post_raw("/api/2.0/authentication/confirm", "application/json", body.to_string()).await;
        assert_eq!(response.status() == 200, fits(&document, &first, &value), "first: {value}");
    }

    let provider = properties("AuthRequestsDto")["provider"].clone();
    let description = provider_description(&document, &provider);
    assert!(description.contains("letter case"), "{description}");
    for value in [json!(""), json!("email"), json!("Email"), json!(" EMAIL "), json!("google"), json!("e-mail")]
        .into_iter()
        .chain([Value::Null, json!(5), json!(true)])
    {
        let body = json!({"userName": EMAIL, "password": PASSWORD, "provider": value});
        let response = app.post_raw("/api/2.0/authentication", "application/json", body.to_string()).await;
        let canonical = value.as_str().map_or(value.clone(), |s| json!(s.trim().to_lowercase()));
        assert_eq!(response.status() == 200, fits(&document, &provider, &canonical), "provider: {value}");
    }
}

/// The description of `provider`'s schema, wherever the document puts it.
fn provider_description(document: &Value, schema: &Value) -> String {
    let mut text = schema.to_string();
    for reference in schema.to_string().split("\"$ref\":\"").skip(1) {
        let name = reference.split('"').next().unwrap().rsplit('/').next().unwrap();
        text.push_str(&document["components"]["schemas"][name].to_string());
    }
    text
}
