//! DocSpace's password scheme. Clients never send the password itself when they can avoid it: they
//! send `passwordHash`, the lowercase hex of PBKDF2-HMAC-SHA256(password, portal salt, iterations,
//! size bits) computed with the settings `GET /api/2.0/settings` publishes. The server stores only a
//! keyed hash of that value (with a per-user salt), never the value itself.

use sha2::Sha256;

use crate::crypto::{Purpose, ServerSecret};

/// The published parameters of the client-side hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientHashParams {
    pub iterations: u32,
    pub size_bits: u32,
    /// Used as its UTF-8 bytes, as DocSpace's web client does.
    pub salt: String,
}

/// What a DocSpace client computes from a password. CPU-heavy by design: call it off the async
/// executor.
pub fn client_hash(password: &str, params: &ClientHashParams) -> String {
    let mut out = vec![0u8; (params.size_bits / 8) as usize];
    pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), params.salt.as_bytes(), params.iterations, &mut out);
    hex::encode(out)
}

/// Normalises a client-sent `passwordHash`: trimmed, lowercase hex. Anything else cannot match.
pub fn normalise_client_hash(value: &str) -> String {
    value.trim().to_ascii_lowercase()
}

/// The value stored for a user: a keyed hash of the client hash under the user's own salt.
pub fn stored_hash(secret: &ServerSecret, user_salt: &str, client_hash: &str) -> String {
    secret.keyed_hash(Purpose::Password, &[user_salt.as_bytes(), client_hash.as_bytes()])
}

pub fn verify_stored(secret: &ServerSecret, user_salt: &str, client_hash: &str, stored: &str) -> bool {
    secret.verify(Purpose::Password, &[user_salt.as_bytes(), client_hash.as_bytes()], stored)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_hash_is_pbkdf2_hmac_sha256_in_lowercase_hex() {
        // RFC 7914 section 11 test vector for PBKDF2-HMAC-SHA256 (P="passwd", S="salt", c=1, 64 bytes).
        let params = ClientHashParams { iterations: 1, size_bits: 512, salt: "salt".into() };
        assert_eq!(
            client_hash("passwd", &params),
            "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc\
             49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783"
        );
    }

    #[test]
    fn stored_hash_verifies_only_the_same_client_hash_and_salt() {
        let secret = ServerSecret::from_hex(&"11".repeat(32)).unwrap();
        let stored = stored_hash(&secret, "user-salt", "abc123");
        assert!(verify_stored(&secret, "user-salt", "abc123", &stored));
        assert!(!verify_stored(&secret, "user-salt", "abc124", &stored));
        assert!(!verify_stored(&secret, "other-salt", "abc123", &stored));
        assert_eq!(normalise_client_hash(" ABC123 "), "abc123");
    }
}
