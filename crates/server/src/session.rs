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
