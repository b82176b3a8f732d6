//! Confirm keys: the signed, time-limited keys in DocSpace's confirmation links
//! (`<public URL>/confirm/<Type>?type=<Type>&email=<email>&key=<key>`). A key is bound to its type,
//! the user's email and (for `Auth`) the `first` flag; it carries its issue time and is valid for
//! an hour. It is a keyed hash, so nothing about it needs storing; `Auth` keys are single-use,
//! which the store enforces when a session starts.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use url::Url;

use crate::crypto::{Purpose, ServerSecret};

/// How long a confirm key stays valid.
pub const KEY_LIFETIME: Duration = Duration::hours(1);

/// The confirmation types this server issues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfirmType {
    /// Set a (first) mobile phone during login.
    PhoneActivation,
    /// Enter the SMS code during login.
    PhoneAuth,
    /// Log in without a password (login links).
    Auth,
}

impl ConfirmType {
    pub fn as_str(self) -> &'static str {
        match self {
            ConfirmType::PhoneActivation => "PhoneActivation",
            ConfirmType::PhoneAuth => "PhoneAuth",
            ConfirmType::Auth => "Auth",
        }
    }

    /// Parses DocSpace's name (case-insensitively); `None` for types this server does not issue.
    pub fn parse(name: &str) -> Option<Self> {
        [ConfirmType::PhoneActivation, ConfirmType::PhoneAuth, ConfirmType::Auth]
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(name.trim()))
    }
}

/// Why a key was not accepted; DocSpace's `ValidationResult` numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyCheck {
    Ok = 0,
    Invalid = 1,
    Expired = 2,
}

/// A key to embed in a link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfirmKey(pub String);

fn signature(secret: &ServerSecret, kind: ConfirmType, email: &str, first: bool, issued: i64) -> String {
    let hash = secret.keyed_hash(
        Purpose::ConfirmKey,
        &[
            kind.as_str().as_bytes(),
            email.trim().to_lowercase().as_bytes(),
            &[u8::from(first)],
            issued.to_string().as_bytes(),
        ],
    );
    // Shorter links: the hex hash re-encoded as base64url.
    URL_SAFE_NO_PAD.encode(hex::decode(hash).expect("keyed_hash returns hex"))
}

/// Issues a key of `kind` for `email` at `now`.
pub fn issue(secret: &ServerSecret, kind: ConfirmType, email: &str, first: bool, now: DateTime<Utc>) -> ConfirmKey {
    let issued = now.timestamp();
    ConfirmKey(format!("{issued}.{}", signature(secret, kind, email, first, issued)))
}

/// Checks a key against its claimed type, email and `first` flag at `now`, in constant time.
pub fn check(
    secret: &ServerSecret,
    kind: ConfirmType,
    email: &str,
    first: bool,
    key: &str,
    now: DateTime<Utc>,
) -> KeyCheck {
    let Some((issued_text, sig)) = key.trim().split_once('.') else { return KeyCheck::Invalid };
    let Ok(issued) = issued_text.parse::<i64>() else { return KeyCheck::Invalid };
    // Only the spelling we issue: `+1795…` or `01795…` would otherwise be new keys for used-key
    // bookkeeping while carrying the same signature.
    if issued_text != issued.to_string() {
        return KeyCheck::Invalid;
    }
    let expected = signature(secret, kind, email, first, issued);
    if !bool::from(subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), sig.as_bytes())) {
        return KeyCheck::Invalid;
    }
    let age = now.timestamp() - issued;
    if age < -60 {
        KeyCheck::Invalid // issued in the future: not ours
    } else if age > KEY_LIFETIME.num_seconds() {
        KeyCheck::Expired
    } else {
        KeyCheck::Ok
    }
}

/// What is stored of a single-use key once it has been used.
pub fn used_key_hash(secret: &ServerSecret, key: &str) -> String {
    secret.keyed_hash(Purpose::ConfirmKey, &[b"used", key.trim().as_bytes()])
}

/// The query string of a confirmation link, as clients pass it back in the `confirm` header.
pub fn query(kind: ConfirmType, email: &str, first: bool, key: &ConfirmKey) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair("type", kind.as_str()).append_pair("email", email).append_pair("key", &key.0);
    if kind == ConfirmType::Auth {
        query.append_pair("first", if first { "true" } else { "false" });
    }
    query.finish()
}

/// `<public URL>/confirm/<Type>?<query>`.
pub fn link(public_url: &Url, kind: ConfirmType, email: &str, first: bool, key: &ConfirmKey) -> String {
    let base = public_url.as_str().trim_end_matches('/');
    format!("{base}/confirm/{}?{}", kind.as_str(), query(kind, email, first, key))
}

/// The parts of a link's query string (from the `confirm` header).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfirmQuery {
    pub kind: Option<String>,
    pub email: Option<String>,
    pub key: Option<String>,
    pub first: bool,
}

pub fn parse_query(query: &str) -> ConfirmQuery {
    let query = query.trim().trim_start_matches('?');
    let mut parsed = ConfirmQuery::default();
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        match name.as_ref() {
            "type" => parsed.kind = Some(value.into_owned()),
            "email" => parsed.email = Some(value.into_owned()),
            "key" => parsed.key = Some(value.into_owned()),
            "first" => parsed.first = value.eq_ignore_ascii_case("true"),
            _ => {}
        }
    }
    parsed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> ServerSecret {
        ServerSecret::from_hex(&"44".repeat(32)).unwrap()
    }

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap()
    }

    #[test]
    fn a_key_checks_for_its_own_type_email_and_first_flag_within_the_hour() {
        let s = secret();
        let key = issue(&s, ConfirmType::PhoneAuth, "Alice@Example.com", false, at(0));
        assert_eq!(check(&s, ConfirmType::PhoneAuth, "alice@example.com", false, &key.0, at(3600)), KeyCheck::Ok);
        assert_eq!(check(&s, ConfirmType::PhoneAuth, "alice@example.com", false, &key.0, at(3601)), KeyCheck::Expired);
        assert_eq!(
            check(&s, ConfirmType::PhoneActivation, "alice@example.com", false, &key.0, at(1)),
            KeyCheck::Invalid
        );
        assert_eq!(check(&s, ConfirmType::PhoneAuth, "bob@example.com", false, &key.0, at(1)), KeyCheck::Invalid);
        assert_eq!(check(&s, ConfirmType::PhoneAuth, "alice@example.com", true, &key.0, at(1)), KeyCheck::Invalid);
    }

    #[test]
    fn tampered_foreign_and_future_keys_are_invalid() {
        let s = secret();
        let key = issue(&s, ConfirmType::Auth, "a@b.c", true, at(0)).0;
        let (issued, sig) = key.split_once('.').unwrap();
        let later = format!("{}.{sig}", issued.parse::<i64>().unwrap() + 600);
        assert_eq!(check(&s, ConfirmType::Auth, "a@b.c", true, &later, at(10)), KeyCheck::Invalid);
        let mut flipped = key.clone().into_bytes();
        let last = flipped.len() - 1;
        flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(
            check(&s, ConfirmType::Auth, "a@b.c", true, std::str::from_utf8(&flipped).unwrap(), at(10)),
            KeyCheck::Invalid
        );
        let other = ServerSecret::from_hex(&"55".repeat(32)).unwrap();
        assert_eq!(check(&other, ConfirmType::Auth, "a@b.c", true, &key, at(10)), KeyCheck::Invalid);
        let future = issue(&s, ConfirmType::Auth, "a@b.c", true, at(3600)).0;
        assert_eq!(check(&s, ConfirmType::Auth, "a@b.c", true, &future, at(0)), KeyCheck::Invalid);
        let padded = format!("0{key}");
        assert_eq!(check(&s, ConfirmType::Auth, "a@b.c", true, &padded, at(10)), KeyCheck::Invalid);
        let plus = format!("+{key}");
        assert_eq!(check(&s, ConfirmType::Auth, "a@b.c", true, &plus, at(10)), KeyCheck::Invalid);
        for garbage in ["", "abc", "12.", ".x", "x.y"] {
            assert_eq!(check(&s, ConfirmType::Auth, "a@b.c", true, garbage, at(0)), KeyCheck::Invalid);
        }
    }

    #[test]
    fn links_round_trip_through_the_query_string() {
        let s = secret();
        let key = issue(&s, ConfirmType::Auth, "a+b@example.com", true, at(0));
        let url = Url::parse("https://auth.example.com/").unwrap();
        let link = link(&url, ConfirmType::Auth, "a+b@example.com", true, &key);
        assert!(link.starts_with("https://auth.example.com/confirm/Auth?type=Auth&email=a%2Bb%40example.com&key="));
        let parsed = parse_query(link.split_once('?').unwrap().1);
        assert_eq!(parsed.kind.as_deref(), Some("Auth"));
        assert_eq!(parsed.email.as_deref(), Some("a+b@example.com"));
        assert_eq!(parsed.key.as_deref(), Some(key.0.as_str()));
        assert!(parsed.first);
        assert_eq!(ConfirmType::parse("phoneactivation"), Some(ConfirmType::PhoneActivation));
        assert_eq!(ConfirmType::parse("EmpInvite"), None);
    }
}
