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
