//! Session tokens: opaque, 256 random bits, handed to the client once and stored only as a keyed
//! hash, so a copy of the database cannot be replayed as sessions.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::TryRngCore;
use rand::rngs::OsRng;

use crate::crypto::{Purpose, ServerSecret};

/// The name of the session cookie DocSpace clients use.
pub const COOKIE_NAME: &str = "asc_auth_key";

/// A session token in plain text. `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionToken(String);

impl fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionToken(..)")
    }
}

impl SessionToken {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        OsRng.try_fill_bytes(&mut bytes).expect("the operating system's random source works");
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// A token as a client sent it back (cookie or `Authorization` header).
    pub fn from_client(value: &str) -> Option<Self> {
        let value = value.trim();
        let token = match value.split_once(char::is_whitespace) {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
            // Another scheme, or a space inside: not one of our tokens.
            Some(_) => return None,
            None if value.eq_ignore_ascii_case("bearer") => return None,
            None => value,
        };
        (!token.is_empty() && token.len() <= 256).then(|| Self(token.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What is stored and looked up: a keyed hash of the token.
    pub fn stored_hash(&self, secret: &ServerSecret) -> String {
        secret.keyed_hash(Purpose::SessionToken, &[self.0.as_bytes()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_hidden_from_debug() {
        let a = SessionToken::generate();
        let b = SessionToken::generate();
        assert_ne!(a, b);
        assert_eq!(a.expose().len(), 43);
        assert!(!format!("{a:?}").contains(a.expose()));
    }

    #[test]
    fn from_client_accepts_bare_and_bearer_forms() {
        assert_eq!(SessionToken::from_client("abc").unwrap().expose(), "abc");
        assert_eq!(SessionToken::from_client("Bearer abc").unwrap().expose(), "abc");
        assert_eq!(SessionToken::from_client(" bearer  abc ").unwrap().expose(), "abc");
        assert!(SessionToken::from_client("").is_none());
        assert!(SessionToken::from_client("Bearer ").is_none());
        assert!(SessionToken::from_client("Basic abc").is_none());
        assert!(SessionToken::from_client(&"x".repeat(300)).is_none());
    }

    #[test]
    fn stored_hash_differs_from_the_token() {
        let secret = ServerSecret::from_hex(&"33".repeat(32)).unwrap();
        let token = SessionToken::generate();
        let hash = token.stored_hash(&secret);
        assert_ne!(hash, token.expose());
        assert_eq!(hash, SessionToken::from_client(token.expose()).unwrap().stored_hash(&secret));
    }
}

/// Property tests: the token comes back in an untrusted header or cookie.
#[cfg(test)]
pub(crate) mod properties {
    use proptest::prelude::*;

    use super::*;

    /// Tokens as `generate` makes them: 32 bytes in base64url.
    pub(crate) fn token() -> impl Strategy<Value = String> {
        any::<[u8; 32]>().prop_map(|bytes| URL_SAFE_NO_PAD.encode(bytes))
    }

    /// "bearer" in any case.
    pub(crate) fn bearer() -> impl Strategy<Value = String> {
        proptest::collection::vec(any::<bool>(), 6).prop_map(|upper| {
            "bearer".chars().zip(upper).map(|(c, up)| if up { c.to_ascii_uppercase() } else { c }).collect()
        })
    }

    proptest! {
        #![proptest_config(crate::api::dto::properties::config())]

        /// Any value gives a token or nothing, never a panic; a token is non-empty, at most 256 bytes,
        /// and exactly the value sent: the whole (trimmed) value, or what follows `Bearer`.
        #[test]
        fn a_token_is_exactly_what_the_client_sent(input in prop_oneof![any::<String>(), "(?i:bearer)?[ \t]{0,2}[ -~]{0,300}"]) {
            let Some(token) = SessionToken::from_client(&input) else { return Ok(()) };
            let (t, v) = (token.expose(), input.trim());
            prop_assert!(!t.is_empty() && t.len() <= 256);
            let after_bearer = v
                .get(..6)
                .filter(|scheme| scheme.eq_ignore_ascii_case("bearer"))
                .and_then(|_| v[6..].strip_prefix(char::is_whitespace))
                .map(str::trim);
            prop_assert!(t == v || after_bearer == Some(t), "{:?} from {:?}", t, input);
        }

        /// Another scheme (`Basic`, `Digest`, …) never yields a token.
        #[test]
        fn other_schemes_yield_nothing(scheme in "[A-Za-z][A-Za-z0-9-]{0,9}", rest in "[!-~]{1,64}") {
            prop_assume!(!scheme.eq_ignore_ascii_case("bearer"));
            prop_assert_eq!(SessionToken::from_client(&format!("{scheme} {rest}")), None);
        }

        /// A generated token round-trips bare or after `Bearer`, with any case and padding.
        #[test]
        fn tokens_round_trip(token in token(), bearer in bearer(), pad in ("[ \t]{0,3}", "[ \t]{1,3}", "[ \t]{0,3}")) {
            let (before, between, after) = pad;
            let bare = SessionToken::from_client(&format!("{before}{token}{after}"));
            prop_assert_eq!(bare.as_ref().map(SessionToken::expose), Some(token.as_str()));
            let with_scheme = SessionToken::from_client(&format!("{before}{bearer}{between}{token}{after}"));
            prop_assert_eq!(with_scheme.as_ref().map(SessionToken::expose), Some(token.as_str()));
        }
    }
}
