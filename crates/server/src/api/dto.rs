//! Request and response bodies, with DocSpace's field names.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use utoipa::ToSchema;

use super::envelope::envelope_schema;
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
    /// Login provider: empty or `email` for password login. Third-party providers are answered
    /// 400 `ProviderNotSupported`.
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
    /// `true` or `false` (DocSpace's SDKs send it as a string).
    #[serde(default, deserialize_with = "bool_or_string")]
    #[schema(value_type = Option<String>, example = "false")]
    pub first: Option<bool>,
}

fn bool_or_string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<bool>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum BoolOrString {
        Bool(bool),
        String(String),
    }
    Ok(match Option::<BoolOrString>::deserialize(deserializer)? {
        None => None,
        Some(BoolOrString::Bool(b)) => Some(b),
        Some(BoolOrString::String(s)) => Some(s.eq_ignore_ascii_case("true")),
    })
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
        let provider = self.provider.as_deref().map(str::trim).unwrap_or("");
        if !provider.is_empty() && !provider.eq_ignore_ascii_case("email") {
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
}
