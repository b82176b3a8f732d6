//! HTTP hygiene: security headers on every answer (errors too), `Allow` on 405 and the Swagger UI
//! Content-Security-Policy (issue 10).

use base64::Engine;
use reqwest::{Method, Response};
use serde_json::json;
use sha2::Digest;

use crate::helpers::*;

fn header<'a>(response: &'a Response, name: &str) -> Option<&'a str> {
    response.headers().get(name).map(|v| v.to_str().unwrap())
}

/// `nosniff` and `no-referrer` on every answer; `no-store` on every authentication answer.
fn assert_hygiene(response: &Response, authentication: bool) {
    let place = format!("{} {}", response.status(), response.url().path());
    assert_eq!(header(response, "x-content-type-options"), Some("nosniff"), "{place}");
    assert_eq!(header(response, "referrer-policy"), Some("no-referrer"), "{place}");
    if authentication {
        assert_eq!(header(response, "cache-control"), Some("no-store"), "{place}");
    }
}

#[backend_test]
async fn every_answer_carries_the_security_headers_and_authentication_is_never_cached(backend: Backend) {
    let app = spawn_app(backend).await;
    app.add_alice().await;
    let get = |path: &str| app.http.get(app.url(path)).send();
    let authentication = [
        app.send_sms(&login_body()).await,
        app.send_sms(&json!({"userName": EMAIL, "password": "wrong"})).await,
        app.post_raw("/api/2.0/authentication/sendsms", "application/json", "{").await,
        app.post_raw("/api/2.0/authentication/sendsms", "text/html", "{}").await,
        app.post_raw("/api/2.0/authentication/123456", "application/json", login_body().to_string()).await,
        app.post_raw("/api/2.0/authentication/logout", "application/json", "").await,
        app.post_raw("/api/2.0/authentication/confirm", "application/json", "{}").await,
        app.post_raw("/api/2.0/authentication/setphone", "application/json", "{}").await,
        get("/api/2.0/authentication").await.unwrap(),
        get("/api/2.0/authentication/sendsms").await.unwrap(),
        get("/api/2.0/authentication/no/such/thing").await.unwrap(),
        // The address the router matches, however it is spelt.
        get("/api/2.0/authentic%61tion").await.unwrap(),
    ];
    let statuses: Vec<u16> = authentication.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(statuses, [200, 401, 400, 415, 401, 200, 200, 401, 200, 405, 404, 200]);
    for response in &authentication {
        assert_hygiene(response, true);
        assert!(response.headers().get("strict-transport-security").is_none(), "not over plain http");
    }
    for path in ["/api/2.0/settings", "/health", "/metrics", "/openapi.json", "/swagger-ui/", "/nothing"] {
        let response = get(path).await.unwrap();
        assert_hygiene(&response, false);
        assert!(response.headers().get("strict-transport-security").is_none(), "not over plain http");
    }
}

#[backend_test]
async fn an_https_public_url_adds_strict_transport_security(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.public_url = Some("https://auth.example.com/".parse().unwrap())).await;
    for response in [
        app.http.get(app.url("/health")).send().await.unwrap(),
        app.http.get(app.url("/nothing")).send().await.unwrap(),
        app.post_raw("/api/2.0/authentication/sendsms", "application/json", "{").await,
    ] {
        assert_eq!(header(&response, "strict-transport-security"), Some("max-age=31536000"));
        assert_hygiene(&response, false);
    }
}

#[backend_test]
async fn a_405_names_the_methods_its_address_allows(backend: Backend) {
    let app = spawn_app(backend).await;
    for (path, allowed) in [
        ("/api/2.0/authentication", "GET, POST"),
        ("/api/2.0/authentication/sendsms", "POST"),
        ("/api/2.0/authentication/setphone", "POST"),
        ("/api/2.0/authentication/confirm", "POST"),
        ("/api/2.0/authentication/logout", "POST"),
        ("/api/2.0/authentication/123456", "POST"),
        ("/api/2.0/settings", "GET"),
        ("/health", "GET"),
        ("/metrics", "GET"),
        ("/sms/receipts/twilio", "POST"),
    ] {
        for method in [Method::GET, Method::POST, Method::PUT, Method::DELETE, Method::PATCH, Method::OPTIONS] {
            let response = app.http.request(method.clone(), app.url(path)).send().await.unwrap();
            let listed = allowed.split(", ").any(|m| m == method.as_str());
            assert_eq!(response.status() == 405, !listed, "{method} {path}");
            if !listed {
                assert_eq!(header(&response, "allow"), Some(allowed), "{method} {path}");
                assert_error(response, 405, "MethodNotAllowed").await;
            }
        }
    }
}

/// Swagger UI works offline: its page loads only scripts and styles from this server, none inline,
/// and the policy lets exactly those (and the document) load.
#[backend_test]
async fn swagger_ui_has_a_content_security_policy_its_own_assets_satisfy(backend: Backend) {
    let app = spawn_app(backend).await;
    let page = app.http.get(app.url("/swagger-ui/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = header(&page, "content-security-policy").expect("a CSP on the page").to_owned();
    let directive = |name: &str| {
        csp.split(';').map(str::trim).find_map(|d| d.strip_prefix(name)).unwrap_or_else(|| panic!("{name} in {csp}"))
    };
    assert_eq!(directive("default-src "), "'none'");
    assert_eq!(directive("script-src "), "'self'");
    assert_eq!(directive("connect-src "), "'self'");
    assert_eq!(directive("frame-ancestors "), "'none'");
    assert!(directive("img-src ").contains("data:"), "swagger-ui.css embeds data: images");
    let html = page.text().await.unwrap();

    // No inline script or style that the policy would block: every <script> has a src.
    assert!(!html.contains("<style") && !html.contains(" style="), "{html}");
    let scripts: Vec<&str> = html.split("<script").skip(1).collect();
    assert!(scripts.len() >= 3, "{html}");
    for script in &scripts {
        let (attributes, rest) = script.split_once('>').unwrap();
        assert!(attributes.contains("src="), "inline script: {script}");
        assert!(rest.trim_start().starts_with("</script>"), "inline script: {script}");
    }
    // Every script and stylesheet comes from this server, relative to the page.
    let assets: Vec<&str> =
        html.split(['"', '\'']).filter(|s| s.ends_with(".js") || s.ends_with(".css") || s.ends_with(".png")).collect();
    assert!(assets.len() >= 5, "{assets:?}");
    let mut inline_styles = Vec::new();
    for asset in assets {
        assert!(!asset.contains("//"), "only same-origin assets: {asset}");
        let response = app.http.get(app.url(&format!("/swagger-ui/{}", asset.trim_start_matches("./")))).send().await;
        let response = response.unwrap();
        assert_eq!(response.status(), 200, "{asset}");
        assert_eq!(header(&response, "content-security-policy"), Some(csp.as_str()), "{asset}");
        assert_hygiene(&response, false);
        if asset.ends_with(".js") {
            let script = response.text().await.unwrap();
            // React renders `<style>` elements from `createElement("style",null,"…")`.
            inline_styles.extend(script.split("createElement(\"style\",null,\"").skip(1).map(|rest| {
                let css = rest.split('"').next().unwrap();
                base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(css.as_bytes()))
            }));
        }
    }
    // Each inline <style> the scripts render is allowed by its hash, and only those are.
    let mut allowed: Vec<&str> =
        directive("style-src ").split(' ').filter_map(|s| s.strip_prefix("'sha256-")?.strip_suffix('\'')).collect();
    allowed.sort();
    inline_styles.sort();
    assert_eq!(allowed, inline_styles, "style-src hashes vs the <style> elements Swagger UI renders");
    // The initializer fetches the document from this server: connect-src 'self' allows it.
    let initializer = app.http.get(app.url("/swagger-ui/swagger-initializer.js")).send().await.unwrap();
    let initializer = initializer.text().await.unwrap();
    assert!(initializer.contains("\"/openapi.json\""), "{initializer}");
}
