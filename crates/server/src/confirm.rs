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

/// Property tests: keys, emails, types and query strings all come from clients.
#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    const KINDS: [ConfirmType; 3] = [ConfirmType::PhoneActivation, ConfirmType::PhoneAuth, ConfirmType::Auth];

    fn secret() -> ServerSecret {
        ServerSecret::from_hex(&"44".repeat(32)).expect("a 32-byte secret")
    }

    fn kind() -> impl Strategy<Value = ConfirmType> {
        proptest::sample::select(&KINDS[..])
    }

    /// Any time from 1970 to 2100, in seconds.
    fn time() -> impl Strategy<Value = DateTime<Utc>> {
        (0i64..4_102_444_800).prop_map(|t| DateTime::from_timestamp(t, 0).expect("in range"))
    }

    /// Emails as clients may send them: any text, or address-like with `+`, `&`, `=`, `%` and case.
    fn email() -> impl Strategy<Value = String> {
        prop_oneof![any::<String>(), "[A-Za-z0-9.+&=%# -]{0,12}@[A-Za-z0-9.-]{1,12}"]
    }

    /// A forged key: any text, or `.<signature-like text>` to put after an issue time `Some(age)`
    /// seconds before the check (so that only the signature can refuse it).
    fn forged_key() -> impl Strategy<Value = (Option<i64>, String)> {
        let signature = prop_oneof![Just(String::new()), "[A-Za-z0-9_-]{43}", "[^.]{0,50}"];
        prop_oneof![
            any::<String>().prop_map(|key| (None, key)),
            "[+0]?[0-9]{1,11}\\.[A-Za-z0-9_-]{0,44}".prop_map(|key| (None, key)),
            (-100i64..4000, signature).prop_map(|(age, sig)| (Some(age), format!(".{sig}"))),
        ]
    }

    /// Any text, or `name=value` pairs with the names and type names `parse_query` looks for.
    fn query_string() -> impl Strategy<Value = String> {
        let names = &["type", "email", "key", "first", "Type", ""][..];
        let values = &["Auth", "PhoneAuth", " phoneactivation ", "true", "TRUE", "a@b.c", "1800000000.x"][..];
        let pair = (
            prop_oneof![proptest::sample::select(names).prop_map(str::to_owned), "[a-z%+]{0,6}"],
            prop_oneof![
                proptest::sample::select(values).prop_map(str::to_owned),
                "[A-Za-z0-9%+@._-]{0,20}",
                any::<String>()
            ],
        )
            .prop_map(|(name, value)| format!("{name}={value}"));
        prop_oneof![any::<String>(), proptest::collection::vec(pair, 0..6).prop_map(|pairs| pairs.join("&"))]
    }

    proptest! {
        #![proptest_config(crate::api::dto::properties::config())]

        /// A key that was not issued never checks `Ok`, for any type, email, flag or time.
        #[test]
        fn forged_keys_never_check_ok(kind in kind(), email in email(), first in any::<bool>(), forged in forged_key(), now in time()) {
            let key = match forged {
                (Some(age), rest) => format!("{}{rest}", now.timestamp() - age),
                (None, key) => key,
            };
            prop_assert_ne!(check(&secret(), kind, &email, first, &key, now), KeyCheck::Ok, "{}", key);
        }

        /// An issued key checks `Ok` within the hour (and 60 s of clock skew), `Expired` after it, and
        /// only for its type, (trimmed, lowercased) email and `first` flag, and only under its secret.
        #[test]
        fn issued_keys_check_only_for_what_they_were_issued_for(
            kind in kind(), other_kind in kind(),
            email in email(), other_email in email(), email_variant in 0u8..3,
            first in any::<bool>(), other_first in any::<bool>(),
            issued_at in time(), age in -4000i64..8000,
        ) {
            let s = secret();
            let key = issue(&s, kind, &email, first, issued_at);
            let now = issued_at + Duration::seconds(age);
            let expected = match age {
                ..-60 => KeyCheck::Invalid,
                -60..=3600 => KeyCheck::Ok,
                _ => KeyCheck::Expired,
            };
            prop_assert_eq!(check(&s, kind, &email, first, &key.0, now), expected);
            // Often the same address in another case or with padding, which must still match.
            let other_email = match email_variant {
                0 => other_email,
                1 => format!(" {} ", email.to_uppercase()),
                _ => email.clone(),
            };
            let same_email = email.trim().to_lowercase() == other_email.trim().to_lowercase();
            let same = kind == other_kind && same_email && first == other_first;
            let other = check(&s, other_kind, &other_email, other_first, &key.0, now);
            prop_assert_eq!(other, if same { expected } else { KeyCheck::Invalid });
            let foreign = ServerSecret::from_hex(&"55".repeat(32)).expect("a 32-byte secret");
            prop_assert_eq!(check(&foreign, kind, &email, first, &key.0, now), KeyCheck::Invalid);
        }

        /// Changing any one character of an issued key, to anything else, makes it `Invalid`.
        #[test]
        fn a_key_changed_in_one_character_is_invalid(
            kind in kind(), email in email(), first in any::<bool>(), issued_at in time(),
            index in any::<proptest::sample::Index>(), replacement in any::<char>(),
        ) {
            let s = secret();
            let key = issue(&s, kind, &email, first, issued_at).0;
            let mut chars: Vec<char> = key.chars().collect();
            let i = index.index(chars.len());
            prop_assume!(chars[i] != replacement);
            chars[i] = replacement;
            let tampered: String = chars.into_iter().collect();
            prop_assert_eq!(check(&s, kind, &email, first, &tampered, issued_at), KeyCheck::Invalid, "{}", tampered);
        }

        /// Issued keys survive `link`/`query` → `parse_query` with their type, email and flag intact,
        /// and what comes back checks `Ok`.
        #[test]
        fn links_round_trip_and_check(kind in kind(), email in email(), first in any::<bool>(), issued_at in time()) {
            let s = secret();
            // Only `Auth` links carry `first`; the others are issued with `false`.
            let first = first && kind == ConfirmType::Auth;
            let key = issue(&s, kind, &email, first, issued_at);
            let base = Url::parse("https://auth.example.com/portal/").expect("a URL");
            let link = link(&base, kind, &email, first, &key);
            let prefix = format!("https://auth.example.com/portal/confirm/{}?", kind.as_str());
            prop_assert!(link.starts_with(&prefix), "{}", link);
            let from_link = parse_query(&link[prefix.len()..]);
            let from_header = parse_query(&format!(" ?{} ", query(kind, &email, first, &key)));
            prop_assert_eq!(&from_link, &from_header);
            let expected = ConfirmQuery { kind: Some(kind.as_str().into()), email: Some(email), key: Some(key.0), first };
            prop_assert_eq!(&from_link, &expected);
            let parsed_kind = ConfirmType::parse(from_link.kind.as_deref().unwrap_or("")).expect("a known type");
            let (email, key) = (from_link.email.unwrap_or_default(), from_link.key.unwrap_or_default());
            prop_assert_eq!(check(&s, parsed_kind, &email, from_link.first, &key, issued_at), KeyCheck::Ok);
        }

        /// Any query string parses without panicking, and what it yields never checks `Ok`; a type
        /// name parses only to the type it spells.
        #[test]
        fn arbitrary_queries_never_check_ok(
            query in query_string(),
            now in time(),
        ) {
            let parsed = parse_query(&query);
            let name = parsed.kind.clone().unwrap_or_default();
            if let Some(kind) = ConfirmType::parse(&name) {
                prop_assert!(kind.as_str().eq_ignore_ascii_case(name.trim()));
                let (email, key) = (parsed.email.unwrap_or_default(), parsed.key.unwrap_or_default());
                prop_assert_ne!(check(&secret(), kind, &email, parsed.first, &key, now), KeyCheck::Ok);
            }
        }
    }
}
