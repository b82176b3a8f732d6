//! Request and response bodies, with DocSpace's field names.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use utoipa::ToSchema;

use super::envelope::envelope_schema;
pub use super::fields::{BoolOrString, LoginProvider};
use super::fields::{bool_or_string, object_only};
use crate::auth::{Credentials, PasswordProof};
use crate::captcha::CaptchaKind;
use crate::error::Error;
use crate::guard::CaptchaAnswer;

/// Authentication request parameters. No field is required; which ones are used depends on the
/// operation. Unknown fields are ignored.
#[derive(Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthRequestsDto {
    /// User name or email (or the user's id).
    #[schema(example = "alice@example.com")]
    pub user_name: Option<String>,
    /// Password. Prefer `passwordHash`; given the password, the server derives the hash itself.
    pub password: Option<String>,
    /// Lowercase hex PBKDF2-HMAC-SHA256 of the password with the portal's published settings
    /// (`GET /api/2.0/settings`, `passwordHash`).
    pub password_hash: Option<String>,
    /// Login provider: empty or `email` (any letter case) for password login.
    #[schema(value_type = Option<LoginProvider>)]
    pub provider: Option<String>,
    /// Third-party provider access token (unused: third-party login is not supported).
    pub access_token: Option<String>,
    /// Serialized third-party profile (unused).
    pub serialized_profile: Option<String>,
    /// Two-factor authentication code (ignored by `sendsms`).
    pub code: Option<String>,
    /// Code for getting a token from a third-party provider (unused).
    #[serde(rename = "codeOAuth")]
    pub code_oauth: Option<String>,
    /// Session-based authentication: the cookie ends with the browser session (ignored by `sendsms`).
    pub session: Option<bool>,
    /// Login-link data (a signed `Auth` confirm key), used instead of `userName` and a password.
    #[serde(default, deserialize_with = "object_only")]
    pub confirm_data: Option<ConfirmData>,
    /// Kind of CAPTCHA `recaptchaResponse` comes from.
    pub recaptcha_type: Option<RecaptchaType>,
    /// reCAPTCHA or hCaptcha response token.
    pub recaptcha_response: Option<String>,
    /// Culture of the SMS text, e.g. `en-US`, `de`, `ru-RU`; unknown cultures get English.
    #[schema(example = "en-US")]
    pub culture: Option<String>,
}

/// Data of a confirmation link that logs a user in (`Auth` confirm key).
#[derive(Default, Deserialize, ToSchema)]
pub struct ConfirmData {
    /// Email address the key was issued for.
    #[schema(format = Email)]
    pub email: Option<String>,
    /// Whether the user accesses the account for the first time.
    pub first: Option<bool>,
    /// The signed confirm key.
    pub key: Option<String>,
}

/// CAPTCHA kind: 0 Default (reCAPTCHA), 1 AndroidV2, 2 iOSV2, 3 hCaptcha. The names
/// `Default`, `AndroidV2`, `iOSV2` and `hCaptcha` are accepted as strings too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde_repr::Serialize_repr, ToSchema)]
#[repr(u8)]
pub enum RecaptchaType {
    Default = 0,
    AndroidV2 = 1,
    IosV2 = 2,
    HCaptcha = 3,
}

impl<'de> Deserialize<'de> for RecaptchaType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum NumberOrName {
            Number(u64),
            Name(String),
        }
        let from_number = |n: u64| match n {
            0 => Some(RecaptchaType::Default),
            1 => Some(RecaptchaType::AndroidV2),
            2 => Some(RecaptchaType::IosV2),
            3 => Some(RecaptchaType::HCaptcha),
            _ => None,
        };
        let parsed = match NumberOrName::deserialize(deserializer)
            .map_err(|_| serde::de::Error::custom("expected 0..3 or Default, AndroidV2, iOSV2, hCaptcha"))?
        {
            NumberOrName::Number(n) => from_number(n),
            NumberOrName::Name(name) => match name.to_ascii_lowercase().as_str() {
                "default" => Some(RecaptchaType::Default),
                "androidv2" => Some(RecaptchaType::AndroidV2),
                "iosv2" => Some(RecaptchaType::IosV2),
                "hcaptcha" => Some(RecaptchaType::HCaptcha),
                other => other.parse().ok().and_then(from_number),
            },
        };
        parsed.ok_or_else(|| serde::de::Error::custom("expected 0..3 or Default, AndroidV2, iOSV2, hCaptcha"))
    }
}

/// Authentication data.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticationTokenDto {
    /// Session token (absent until the second factor is passed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Expiry of the token, or of the SMS code just sent (RFC 3339, UTC).
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "rfc3339_millis", default)]
    pub expires: Option<DateTime<Utc>>,
    /// Whether the code is sent by SMS.
    pub sms: bool,
    /// The phone the code went to, mostly hidden, e.g. `+1201***0123`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_noise: Option<String>,
    /// Whether a two-factor authenticator app is used.
    pub tfa: bool,
    /// Authenticator app key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tfa_key: Option<String>,
    /// Confirmation link to continue the login.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = Uri)]
    pub confirm_url: Option<String>,
}

/// Date-times as DocSpace writes them: RFC 3339, UTC, milliseconds, `Z`.
fn rfc3339_millis<S: Serializer>(value: &Option<DateTime<Utc>>, serializer: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(t) => serializer.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Millis, true)),
        None => serializer.serialize_none(),
    }
}

/// The portal settings a login page needs (a subset of DocSpace's).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SettingsDto {
    /// How clients compute the `passwordHash` field of login requests.
    pub password_hash: PasswordHasherDto,
    /// The portal's default culture.
    #[schema(example = "en-US")]
    pub culture: String,
    /// Always true: this is a DocSpace portal.
    pub doc_space: bool,
    /// Always true: a self-hosted portal.
    pub standalone: bool,
    /// The CAPTCHA a login page shows after too many failed logins; absent when none is configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recaptcha_type: Option<RecaptchaType>,
    /// The site key of that CAPTCHA.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recaptcha_public_key: Option<String>,
}

/// Parameters for computing `passwordHash` on the client: lowercase hex of
/// PBKDF2-HMAC-SHA256(password, salt as UTF-8, iterations, size bits).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PasswordHasherDto {
    /// Hash size in bits.
    #[schema(example = 256)]
    pub size: u32,
    /// PBKDF2 iteration count.
    #[schema(example = 100000)]
    pub iterations: u32,
    /// The portal's salt, used as its UTF-8 bytes.
    #[schema(example = "4c1d5e8f0a2b3c6d7e9f0a1b2c3d4e5f")]
    pub salt: String,
}

/// Health of this instance.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HealthDto {
    /// `ok` when the database answers.
    #[schema(example = "ok")]
    pub status: String,
}

/// The new mobile phone (`setphone`).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MobileRequestsDto {
    /// Mobile phone in international form, e.g. `+44 7400 123456`; stored in E.164.
    #[schema(example = "+44 7400 123456")]
    pub mobile_phone: Option<String>,
}

/// A confirmation link's data to check (`checkConfirm`). Fields this server does not use
/// (`emplType`, `encEmail`, `uiD`, `roomId`) are accepted and ignored.
#[derive(Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EmailValidationKeyModel {
    /// The key from the link.
    pub key: Option<String>,
    /// The email from the link.
    pub email: Option<String>,
    /// The confirmation type from the link: `PhoneActivation`, `PhoneAuth` or `Auth` (other
    /// DocSpace types are answered `Invalid`).
    #[serde(rename = "type")]
    #[schema(example = "PhoneActivation")]
    pub kind: Option<String>,
    /// Whether the user accesses the account for the first time: a boolean, or a string as
    /// DocSpace's SDKs send it.
    #[serde(default, deserialize_with = "bool_or_string")]
    #[schema(value_type = Option<BoolOrString>, example = "false")]
    pub first: Option<bool>,
}

/// Result of checking a confirmation key: 0 Ok, 1 Invalid, 2 Expired (DocSpace's
/// `ValidationResult`; 3 TariffLimit, 4 UserExisted, 5 UserExcluded, 6 QuotaFailed never occur here).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde_repr::Serialize_repr, serde_repr::Deserialize_repr, ToSchema)]
#[repr(u8)]
pub enum ValidationResult {
    Ok = 0,
    Invalid = 1,
    Expired = 2,
    TariffLimit = 3,
    UserExisted = 4,
    UserExcluded = 5,
    QuotaFailed = 6,
}

/// The answer of `checkConfirm`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConfirmDto {
    pub result: ValidationResult,
    /// The email the link is for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

envelope_schema!(ConfirmWrapper, ConfirmDto, "Success envelope of ConfirmDto.");
envelope_schema!(AuthenticationTokenWrapper, AuthenticationTokenDto, "Success envelope of AuthenticationTokenDto.");
envelope_schema!(SettingsWrapper, SettingsDto, "Success envelope of SettingsDto.");
envelope_schema!(HealthWrapper, HealthDto, "Success envelope of HealthDto.");
envelope_schema!(BooleanWrapper, bool, "Success envelope of a boolean.");
envelope_schema!(StringWrapper, Option<String>, "Success envelope of a string or null.");

impl AuthRequestsDto {
    /// The CAPTCHA answer, if one was sent; reCAPTCHA unless `recaptchaType` says hCaptcha.
    pub fn captcha_answer(&self) -> Option<CaptchaAnswer> {
        let response = self.recaptcha_response.clone().filter(|r| !r.is_empty())?;
        let kind = match self.recaptcha_type {
            Some(RecaptchaType::HCaptcha) => CaptchaKind::Hcaptcha,
            _ => CaptchaKind::Recaptcha,
        };
        Some(CaptchaAnswer { kind, response })
    }

    /// Which way of identifying the user this request uses, as DocSpace decides it.
    pub fn credentials(&self) -> Result<Credentials, Error> {
        if let Some(confirm) = &self.confirm_data {
            let email = confirm.email.clone().unwrap_or_default();
            if !email.is_empty() && !email_address::EmailAddress::is_valid(&email) {
                return Err(Error::InvalidRequest("Invalid value for confirmData.email: not an email address".into()));
            }
            return Ok(Credentials::ConfirmKey {
                email,
                first: confirm.first.unwrap_or(false),
                key: confirm.key.clone().unwrap_or_default(),
            });
        }
        if LoginProvider::from_request(self.provider.as_deref()).is_none() {
            let provider = self.provider.as_deref().unwrap_or_default().trim();
            return Ok(Credentials::ThirdParty { provider: provider.to_owned() });
        }
        let non_empty = |v: &Option<String>| v.as_deref().filter(|s| !s.is_empty()).map(str::to_owned);
        let proof = match (non_empty(&self.password_hash), non_empty(&self.password)) {
            (Some(hash), _) => PasswordProof::ClientHash(hash),
            (None, Some(password)) => PasswordProof::Plain(password),
            (None, None) => return Ok(Credentials::Missing),
        };
        match non_empty(&self.user_name) {
            Some(login) => Ok(Credentials::Password { login, proof }),
            None => Ok(Credentials::Missing),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recaptcha_type_accepts_numbers_and_names() {
        for (json, expected) in [
            ("0", RecaptchaType::Default),
            ("3", RecaptchaType::HCaptcha),
            ("\"iOSV2\"", RecaptchaType::IosV2),
            ("\"hCaptcha\"", RecaptchaType::HCaptcha),
            ("\"AndroidV2\"", RecaptchaType::AndroidV2),
        ] {
            assert_eq!(serde_json::from_str::<RecaptchaType>(json).unwrap(), expected, "{json}");
        }
        for bad in ["4", "-1", "\"Other\"", "true", "1.5"] {
            assert!(serde_json::from_str::<RecaptchaType>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn token_dto_omits_null_fields_but_keeps_sms_and_tfa() {
        let dto = AuthenticationTokenDto {
            expires: Some(DateTime::parse_from_rfc3339("2026-11-28T10:10:00.123Z").unwrap().to_utc()),
            sms: true,
            phone_noise: Some("+1201***0123".into()),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&dto).unwrap(),
            r#"{"expires":"2026-11-28T10:10:00.123Z","sms":true,"phoneNoise":"+1201***0123","tfa":false}"#
        );
    }

    fn dto(json: &str) -> AuthRequestsDto {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn credentials_follow_docspace_precedence() {
        assert!(matches!(
            dto(r#"{"userName":"a@b.c","password":"p","passwordHash":"H"}"#).credentials().unwrap(),
            Credentials::Password { proof: PasswordProof::ClientHash(h), .. } if h == "H"
        ));
        assert!(matches!(
            dto(r#"{"userName":"a@b.c","password":"p","passwordHash":""}"#).credentials().unwrap(),
            Credentials::Password { proof: PasswordProof::Plain(p), .. } if p == "p"
        ));
        assert!(matches!(dto(r#"{"userName":"a@b.c"}"#).credentials().unwrap(), Credentials::Missing));
        assert!(matches!(dto(r#"{"password":"p"}"#).credentials().unwrap(), Credentials::Missing));
        assert!(matches!(
            dto(r#"{"provider":"google","userName":"a@b.c","password":"p"}"#).credentials().unwrap(),
            Credentials::ThirdParty { .. }
        ));
        assert!(matches!(
            dto(r#"{"provider":"Email","userName":"a@b.c","password":"p"}"#).credentials().unwrap(),
            Credentials::Password { .. }
        ));
        assert!(matches!(
            dto(r#"{"confirmData":{"email":"a@b.c","key":"k"},"userName":"x","password":"p"}"#).credentials().unwrap(),
            Credentials::ConfirmKey { .. }
        ));
        assert!(dto(r#"{"confirmData":{"email":"not-an-email"}}"#).credentials().is_err());
    }

    /// Found by the property test below: serde's derive reads a struct from an array too, so
    /// `["", null, " "]` became a confirm key `" "`. Only an object (or null) is `confirmData`.
    #[test]
    fn confirm_data_is_an_object_or_nothing() {
        for body in [r#"{"confirmData":["", null, " "]}"#, r#"{"confirmData":[]}"#, r#"{"confirmData":"k"}"#] {
            assert!(serde_json::from_str::<AuthRequestsDto>(body).is_err(), "{body}");
        }
        assert!(dto(r#"{"confirmData":null}"#).confirm_data.is_none());
        assert!(dto(r#"{}"#).confirm_data.is_none());
        let confirm = dto(r#"{"confirmData":{"email":"a@b.c","key":"k","first":true}}"#).confirm_data.unwrap();
        assert_eq!(
            (confirm.email.as_deref(), confirm.key.as_deref(), confirm.first),
            (Some("a@b.c"), Some("k"), Some(true))
        );
    }
}

/// Property tests: request bodies are untrusted, so arbitrary JSON must never panic in the DTOs'
/// deserializers or in `credentials()`/`captcha_answer()`, and must never yield more than it carries.
#[cfg(test)]
pub(crate) mod properties {
    use proptest::collection::vec;
    use proptest::option::weighted;
    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::*;

    /// The property tests' configuration: 256 cases (PROPTEST_CASES raises it for a deeper run)
    /// and no regression files written into the source tree; a failure prints its shrunk input.
    pub(crate) fn config() -> ProptestConfig {
        let cases = std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(256);
        ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
    }

    const FIELDS: &[&str] = &[
        "userName",
        "password",
        "passwordHash",
        "provider",
        "confirmData",
        "recaptchaType",
        "recaptchaResponse",
        "session",
        "email",
        "first",
        "key",
        "type",
        "mobilePhone",
    ];

    /// Any JSON value, with object keys mostly drawn from the DTOs' field names.
    pub(crate) fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            text(),
        ];
        leaf.prop_recursive(3, 32, 5, |inner| {
            prop_oneof![vec(inner.clone(), 0..4).prop_map(Value::Array), object_of(inner)]
        })
    }

    fn object_of(values: impl Strategy<Value = Value>) -> impl Strategy<Value = Value> {
        let key = prop_oneof![3 => proptest::sample::select(FIELDS).prop_map(str::to_owned), 1 => any::<String>()];
        object_with_keys(key, values)
    }

    fn object_with_keys(
        keys: impl Strategy<Value = String>,
        values: impl Strategy<Value = Value>,
    ) -> impl Strategy<Value = Value> {
        vec((keys, values), 0..5).prop_map(|pairs| Value::Object(pairs.into_iter().collect()))
    }

    /// Strings that matter to the DTOs (empty, `email`, an address, `true`, CAPTCHA names) or any.
    fn text() -> impl Strategy<Value = Value> {
        prop_oneof![
            proptest::sample::select(
                &["", " ", "email", " Email ", "google", "a@b.c", "not-an-email", "true", "hCaptcha", "3"][..]
            )
            .prop_map(Value::from),
            any::<String>().prop_map(Value::from),
        ]
    }

    /// A field's value: mostly a string, sometimes null or the wrong type.
    fn field() -> impl Strategy<Value = Option<Value>> {
        weighted(0.7, prop_oneof![16 => text(), 2 => Just(Value::Null), 1 => any_json()])
    }

    /// A boolean field's value: mostly a boolean, sometimes a string.
    fn flag() -> impl Strategy<Value = Value> {
        prop_oneof![4 => any::<bool>().prop_map(Value::Bool), 1 => text()]
    }

    /// An `AuthRequestsDto`-shaped object: each known field absent, null, a string or anything, plus
    /// stray fields.
    pub(crate) fn auth_request() -> impl Strategy<Value = Value> {
        let confirm_data = prop_oneof![
            4 => (field(), weighted(0.7, flag()), field()).prop_map(
                |(email, first, key)| {
                    let fields = [("email", email), ("first", first), ("key", key)];
                    Value::Object(fields.into_iter().filter_map(|(k, v)| Some((k.to_owned(), v?))).collect())
                }
            ),
            1 => Just(Value::Null),
            1 => any_json(),
        ];
        let recaptcha_type = prop_oneof![
            4 => (0u64..4).prop_map(Value::from),
            2 => proptest::sample::select(&["Default", "hcaptcha", "HCAPTCHA", "iOSV2", "3"][..]).prop_map(Value::from),
            1 => Just(Value::Null),
            1 => prop_oneof![(4u64..6).prop_map(Value::from), text(), Just(json!(-1)), Just(json!(1.5))],
        ];
        let known = (
            field(),
            field(),
            field(),
            field(),
            weighted(0.4, confirm_data),
            weighted(0.5, recaptcha_type),
            field(),
            weighted(0.3, flag()),
        );
        // Stray fields: unknown names, mostly (a known name with a value of the wrong type fails
        // deserialization, which `field()` already tries).
        let stray = object_with_keys(
            prop_oneof![9 => any::<String>(), 1 => proptest::sample::select(FIELDS).prop_map(str::to_owned)],
            any_json(),
        );
        (known, stray).prop_map(|(known, extra)| {
            let Value::Object(mut m) = extra else { unreachable!("object_with_keys makes objects") };
            let (user, password, hash, provider, confirm, rtype, response, session) = known;
            for (name, value) in [
                ("userName", user),
                ("password", password),
                ("passwordHash", hash),
                ("provider", provider),
                ("confirmData", confirm),
                ("recaptchaType", rtype),
                ("recaptchaResponse", response),
                ("session", session),
            ] {
                if let Some(value) = value {
                    m.insert(name.into(), value);
                }
            }
            Value::Object(m)
        })
    }

    /// A non-empty string field of `body`, as `credentials()` reads it.
    fn non_empty<'a>(body: &'a Value, name: &str) -> Option<&'a str> {
        body.get(name).and_then(Value::as_str).filter(|s| !s.is_empty())
    }

    proptest! {
        #![proptest_config(config())]

        /// `credentials()` never panics and never yields more than the body carries: `Password` only
        /// with a non-empty `userName` and `passwordHash`/`password` taken verbatim (the hash winning),
        /// `ConfirmKey` only from a `confirmData` object, `ThirdParty` only from a non-email
        /// `provider`; a body with none of these is `Missing`. Errors only for a bad confirm email.
        #[test]
        fn credentials_never_exceed_what_the_body_carries(body in auth_request()) {
            let Ok(dto) = serde_json::from_value::<AuthRequestsDto>(body.clone()) else { return Ok(()) };
            let confirm = body.get("confirmData").filter(|v| !v.is_null());
            let provider = body.get("provider").and_then(Value::as_str).map(str::trim).unwrap_or("");
            let provider_is_email = provider.is_empty() || provider.eq_ignore_ascii_case("email");
            match dto.credentials() {
                Ok(Credentials::Password { login, proof }) => {
                    prop_assert!(confirm.is_none() && provider_is_email);
                    prop_assert_eq!(Some(login.as_str()), non_empty(&body, "userName"));
                    match proof {
                        PasswordProof::ClientHash(h) => prop_assert_eq!(Some(h.as_str()), non_empty(&body, "passwordHash")),
                        PasswordProof::Plain(p) => {
                            prop_assert_eq!(non_empty(&body, "passwordHash"), None);
                            prop_assert_eq!(Some(p.as_str()), non_empty(&body, "password"));
                        }
                    }
                }
                Ok(Credentials::ConfirmKey { email, first, key }) => {
                    let confirm = confirm.expect("ConfirmKey without confirmData");
                    prop_assert_eq!(email.as_str(), confirm.get("email").and_then(Value::as_str).unwrap_or(""));
                    prop_assert_eq!(key.as_str(), confirm.get("key").and_then(Value::as_str).unwrap_or(""));
                    prop_assert_eq!(first, confirm.get("first") == Some(&Value::Bool(true)));
                }
                Ok(Credentials::ThirdParty { provider: p }) => {
                    prop_assert!(confirm.is_none() && !provider_is_email);
                    prop_assert_eq!(p.as_str(), provider);
                }
                Ok(Credentials::Missing) => {
                    prop_assert!(confirm.is_none() && provider_is_email);
                    let password = non_empty(&body, "passwordHash").or(non_empty(&body, "password"));
                    prop_assert!(non_empty(&body, "userName").is_none() || password.is_none());
                }
                Err(e) => {
                    prop_assert!(matches!(e, Error::InvalidRequest(_)));
                    let email = confirm.and_then(|c| c.get("email")).and_then(Value::as_str).unwrap_or("");
                    prop_assert!(!email.is_empty() && !email_address::EmailAddress::is_valid(email));
                }
            }
        }

        /// A CAPTCHA answer exists only for a non-empty `recaptchaResponse`, carried verbatim, and is
        /// hCaptcha only when `recaptchaType` says so.
        #[test]
        fn captcha_answer_only_from_a_response(body in auth_request()) {
            let Ok(dto) = serde_json::from_value::<AuthRequestsDto>(body.clone()) else { return Ok(()) };
            match dto.captcha_answer() {
                None => prop_assert_eq!(non_empty(&body, "recaptchaResponse"), None),
                Some(answer) => {
                    prop_assert_eq!(Some(answer.response.as_str()), non_empty(&body, "recaptchaResponse"));
                    let hcaptcha = matches!(dto.recaptcha_type, Some(RecaptchaType::HCaptcha));
                    prop_assert_eq!(answer.kind == CaptchaKind::Hcaptcha, hcaptcha);
                }
            }
        }

        /// Any JSON at all deserializes into each DTO or fails cleanly, and `credentials()` on what
        /// deserialized never panics.
        #[test]
        fn any_json_is_a_dto_or_an_error(value in any_json()) {
            if let Ok(dto) = serde_json::from_value::<AuthRequestsDto>(value.clone()) {
                let _ = dto.credentials();
                let _ = dto.captcha_answer();
            }
            let _ = serde_json::from_value::<MobileRequestsDto>(value.clone());
            let _ = serde_json::from_value::<EmailValidationKeyModel>(value.clone());
            let _ = serde_json::from_value::<RecaptchaType>(value);
        }

        /// `checkConfirm`'s `first` is true only for JSON `true` or a string spelling `true`; its
        /// strings and `setphone`'s number round-trip verbatim.
        #[test]
        fn validation_key_and_mobile_fields(
            first in prop_oneof![any::<bool>().prop_map(Value::Bool), text(), Just(Value::Null), Just(json!(1))],
            key in any::<String>(),
            email in any::<String>(),
            kind in any::<String>(),
        ) {
            let body = json!({ "key": key, "email": email, "type": kind, "first": first, "mobilePhone": email });
            match serde_json::from_value::<EmailValidationKeyModel>(body.clone()) {
                Ok(model) => {
                    let truthy = first == Value::Bool(true) || first.as_str().is_some_and(|s| s.eq_ignore_ascii_case("true"));
                    prop_assert_eq!(model.first == Some(true), truthy);
                    prop_assert_eq!(model.first.is_none(), first.is_null());
                    prop_assert_eq!((model.key, model.email, model.kind), (Some(key), Some(email.clone()), Some(kind)));
                }
                Err(_) => prop_assert!(!first.is_boolean() && !first.is_string() && !first.is_null()),
            }
            let mobile: MobileRequestsDto = serde_json::from_value(body).expect("a string mobilePhone");
            prop_assert_eq!(mobile.mobile_phone, Some(email));
        }

        /// `recaptchaType` accepts exactly 0..=3 and the four names (any case); anything else fails.
        #[test]
        fn recaptcha_type_only_known_values(value in prop_oneof![any::<i64>().prop_map(Value::from), (0u64..8).prop_map(Value::from), text()]) {
            let known = match &value {
                Value::Number(n) => n.as_u64().is_some_and(|n| n <= 3),
                Value::String(s) => {
                    ["default", "androidv2", "iosv2", "hcaptcha"].contains(&s.to_ascii_lowercase().as_str())
                        || s.parse::<u64>().is_ok_and(|n| n <= 3)
                }
                _ => false,
            };
            prop_assert_eq!(serde_json::from_value::<RecaptchaType>(value).is_ok(), known);
        }
    }
}
