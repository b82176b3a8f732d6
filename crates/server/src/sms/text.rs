//! The text of the SMS, in the language the login page asked for (`culture`).

use crate::otp::OneTimeCode;

/// The first line before the code, per language; unknown cultures get English.
fn code_prefix(culture: Option<&str>) -> &'static str {
    let language = culture.and_then(|c| c.split(['-', '_']).next()).map(str::to_ascii_lowercase).unwrap_or_default();
    match language.as_str() {
        "de" | "fr" => "Code: ",
        "es" | "pt" => "Código: ",
        "ru" => "Код: ",
        "it" => "Codice: ",
        "pl" => "Kod: ",
        "zh" => "验证码：",
        "ja" => "認証コード：",
        _ => "Code: ",
    }
}

/// `Code: 123456`, localised; with a public host, then the origin-bound line browsers use to offer
/// the code for autofill (WICG origin-bound one-time codes: `@host #code`).
pub fn render(culture: Option<&str>, code: &OneTimeCode, origin_host: Option<&str>) -> String {
    let code = code.expose();
    let prefix = code_prefix(culture);
    match origin_host {
        Some(host) => format!("{prefix}{code}\n\n@{host} #{code}"),
        None => format!("{prefix}{code}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn english_by_default_with_the_origin_bound_line() {
        let code = OneTimeCode::generate(6);
        let c = code.expose();
        assert_eq!(render(None, &code, Some("auth.example.com")), format!("Code: {c}\n\n@auth.example.com #{c}"));
        assert_eq!(render(Some("xx-YY"), &code, None), format!("Code: {c}"));
    }

    #[test]
    fn culture_picks_the_language() {
        let code = OneTimeCode::generate(6);
        let c = code.expose();
        assert!(render(Some("ru-RU"), &code, Some("h")).starts_with(&format!("Код: {c}\n")));
        assert!(render(Some("es"), &code, Some("h")).starts_with(&format!("Código: {c}\n")));
        assert!(render(Some("zh_CN"), &code, Some("h")).starts_with(&format!("验证码：{c}\n")));
        assert!(render(Some("JA-jp"), &code, Some("h")).starts_with(&format!("認証コード：{c}\n")));
        assert!(render(Some("it"), &code, Some("h")).starts_with(&format!("Codice: {c}\n")));
    }
}
