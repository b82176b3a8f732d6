//! The SMS text in the language `culture` asks for, over HTTP, for every language shipped
//! (`sms::text`): the template with the code filled in, English for anything else.

use serde_json::json;

use crate::helpers::*;

/// Every language `sms::text` ships, with a region variant or underscore spelling where the code
/// handles one, and the text before the code. German and French say `Code: ` as English does.
const CULTURES: [(&str, &str); 14] = [
    ("en-US", "Code: "),
    ("de", "Code: "),
    ("de-AT", "Code: "),
    ("fr-FR", "Code: "),
    ("es", "Código: "),
    ("es-MX", "Código: "),
    ("pt-BR", "Código: "),
    ("ru-RU", "Код: "),
    ("ru_RU", "Код: "),
    ("it", "Codice: "),
    ("pl-PL", "Kod: "),
    ("zh-CN", "验证码："),
    ("ja-JP", "認証コード："),
    // A language not shipped gets English.
    ("nl-NL", "Code: "),
];

/// Sends a code with `culture` (none: the field left out) and returns the SMS text and its code.
async fn text_for(app: &TestApp, culture: Option<&str>) -> (String, String) {
    let mut body = login_body();
    if let Some(culture) = culture {
        body["culture"] = json!(culture);
    }
    let sent = app.outbox().len();
    assert_eq!(app.send_sms(&body).await.status(), 200, "{culture:?}");
    let text = app.wait_for_outbox(sent + 1).await[sent]["text"].as_str().unwrap().to_owned();
    let code = text[text.trim_end_matches(|c: char| c.is_ascii_digit()).len()..].to_owned();
    (text, code)
}

#[backend_test]
async fn each_culture_gets_its_languages_text_with_the_code(backend: Backend) {
    // Fifteen codes for one user: out of the way of the hourly cap.
    let app = spawn_app_with(backend, |s| s.send_caps.per_user_per_hour = 0).await;
    app.add_alice().await;
    let cultures = CULTURES.iter().map(|(c, p)| (Some(*c), *p)).chain([(None, "Code: ")]);
    for (culture, prefix) in cultures {
        let (text, code) = text_for(&app, culture).await;
        assert_eq!(text, format!("{prefix}{code}"), "culture {culture:?}");
        // The digits are the code itself: it logs in (and frees the phone's live-code slot).
        let redeem = json!({"userName": EMAIL, "password": PASSWORD, "code": code});
        let response = app.post_raw("/api/2.0/authentication/code", "application/json", redeem.to_string()).await;
        assert_eq!(response.status(), 200, "culture {culture:?}: {text}");
    }
}
