//! One-time SMS codes: random decimal digits from the operating system's CSPRNG. A code exists in
//! plain text only in memory on its way into the SMS; it is stored as a keyed hash.

use std::fmt;

use rand::Rng;
use rand::TryRngCore;
use rand::rngs::OsRng;

use crate::crypto::{Purpose, ServerSecret};

/// A code in plain text. `Debug` hides it so it cannot leak into logs by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct OneTimeCode(String);

impl fmt::Debug for OneTimeCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OneTimeCode(******)")
    }
}

impl OneTimeCode {
    /// A uniformly random code of `length` decimal digits (leading zeros included).
    pub fn generate(length: u8) -> Self {
        let mut rng = OsRng.unwrap_err();
        Self((0..length).map(|_| char::from(b'0' + rng.random_range(0..10u8))).collect())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The keyed hash stored for this code; bound to the user so a code is worthless for anyone
    /// else.
    pub fn stored_hash(&self, secret: &ServerSecret, user_id: &str) -> String {
        secret.keyed_hash(Purpose::SmsCode, &[user_id.as_bytes(), self.0.as_bytes()])
    }
}

/// Whether `candidate` is the code stored as `stored_hash` for the user; constant-time.
pub fn matches(secret: &ServerSecret, user_id: &str, candidate: &str, stored_hash: &str) -> bool {
    secret.verify(Purpose::SmsCode, &[user_id.as_bytes(), candidate.as_bytes()], stored_hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_have_the_requested_number_of_digits_and_vary() {
        for length in 6..=10 {
            let code = OneTimeCode::generate(length);
            assert_eq!(code.expose().len(), usize::from(length));
            assert!(code.expose().bytes().all(|b| b.is_ascii_digit()));
        }
        let distinct: std::collections::HashSet<String> =
            (0..50).map(|_| OneTimeCode::generate(6).expose().to_owned()).collect();
        assert!(distinct.len() > 45, "50 six-digit codes should almost never repeat");
    }

    #[test]
    fn debug_does_not_reveal_the_code() {
        let code = OneTimeCode::generate(6);
        assert!(!format!("{code:?}").contains(code.expose()));
    }

    #[test]
    fn stored_hash_is_bound_to_the_user() {
        let secret = ServerSecret::from_hex(&"22".repeat(32)).unwrap();
        let code = OneTimeCode::generate(6);
        assert_ne!(code.stored_hash(&secret, "alice"), code.stored_hash(&secret, "bob"));
        assert!(!code.stored_hash(&secret, "alice").contains(code.expose()));
        assert!(matches(&secret, "alice", code.expose(), &code.stored_hash(&secret, "alice")));
        assert!(!matches(&secret, "bob", code.expose(), &code.stored_hash(&secret, "alice")));
    }
}
