//! The server secret and the keyed hashes made with it. Codes and password hashes are stored only
//! as HMAC-SHA256 under a key derived from this secret, so a copy of the database alone reveals
//! neither; comparisons are constant-time.

use std::fmt;
use std::io::Write;
use std::path::Path;

use anyhow::Context;
use chacha20poly1305::KeyInit as _;
use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// What a keyed hash is for; each purpose gets its own derived key, so a hash made for one
/// purpose can never be replayed as another.
#[derive(Debug, Clone, Copy)]
pub enum Purpose {
    Password,
    SmsCode,
    SessionToken,
    ConfirmKey,
    /// Encryption of queued SMS texts (they carry codes).
    SmsOutbox,
    /// The fingerprint stored in the database, by which instances with another secret are refused.
    SecretFingerprint,
}

impl Purpose {
    fn label(self) -> &'static [u8] {
        match self {
            Purpose::Password => b"docspace-auth/password/v1",
            Purpose::SmsCode => b"docspace-auth/sms-code/v1",
            Purpose::SessionToken => b"docspace-auth/session-token/v1",
            Purpose::ConfirmKey => b"docspace-auth/confirm-key/v1",
            Purpose::SmsOutbox => b"docspace-auth/sms-outbox/v1",
            Purpose::SecretFingerprint => b"docspace-auth/secret-fingerprint/v1",
        }
    }
}

#[derive(Clone)]
pub struct ServerSecret {
    key: [u8; 32],
}

impl fmt::Debug for ServerSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ServerSecret(..)")
    }
}

impl ServerSecret {
    const MIN_BYTES: usize = 32;

    /// Parses a hex-encoded secret of at least 32 bytes.
    pub fn from_hex(hex_text: &str) -> anyhow::Result<Self> {
        let bytes = hex::decode(hex_text.trim()).context("the server secret must be hex")?;
        anyhow::ensure!(
            bytes.len() >= Self::MIN_BYTES,
            "the server secret must be at least {} bytes ({} hex digits)",
            Self::MIN_BYTES,
            Self::MIN_BYTES * 2
        );
        // Compress any length to one 32-byte master key.
        let mut mac = <HmacSha256 as Mac>::new_from_slice(b"docspace-auth/master").expect("any key length");
        mac.update(&bytes);
        Ok(Self { key: mac.finalize().into_bytes().into() })
    }

    /// Reads the secret from `path`, creating it (random, mode 0600) when it does not exist.
    pub fn load_or_create(path: &Path) -> anyhow::Result<Self> {
        if !path.exists() {
            let mut bytes = [0u8; 32];
            rand::rng().fill_bytes(&mut bytes);
            // Written in full under a private name, then linked into place: a process starting at the
            // same moment sees either no file or a complete one, and the first link wins.
            let staging = path.with_extension(format!("tmp-{}", std::process::id()));
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(&staging).with_context(|| format!("creating {}", staging.display()))?;
            file.write_all(hex::encode(bytes).as_bytes())?;
            file.sync_all()?;
            let linked = std::fs::hard_link(&staging, path);
            let _ = std::fs::remove_file(&staging);
            match linked {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e).with_context(|| format!("creating {}", path.display())),
            }
        }
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Self::from_hex(&text).with_context(|| format!("in {}", path.display()))
    }

    /// The key for one purpose, derived from the master key.
    fn subkey(&self, purpose: Purpose) -> [u8; 32] {
        let mut derive = <HmacSha256 as Mac>::new_from_slice(&self.key).expect("any key length");
        derive.update(purpose.label());
        derive.finalize().into_bytes().into()
    }

    /// Encrypts `plaintext` for storage (XChaCha20-Poly1305, random nonce), bound to `context`:
    /// a sealed value only opens for the same purpose and context.
    pub fn seal(&self, purpose: Purpose, context: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let cipher = XChaCha20Poly1305::new(&self.subkey(purpose).into());
        let mut nonce = [0u8; 24];
        rand::rng().fill_bytes(&mut nonce);
        let sealed = cipher
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: plaintext, aad: context })
            .expect("encryption into a Vec cannot fail");
        [nonce.as_slice(), &sealed].concat()
    }

    /// Opens what [`ServerSecret::seal`] made; `None` when it was made with another key, purpose or
    /// context, or altered.
    pub fn open(&self, purpose: Purpose, context: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() < 24 {
            return None;
        }
        let (nonce, ciphertext) = sealed.split_at(24);
        let cipher = XChaCha20Poly1305::new(&self.subkey(purpose).into());
        cipher.decrypt(XNonce::from_slice(nonce), Payload { msg: ciphertext, aad: context }).ok()
    }

    fn mac(&self, purpose: Purpose, parts: &[&[u8]]) -> HmacSha256 {
        let subkey = self.subkey(purpose);
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&subkey).expect("any key length");
        for part in parts {
            // Length-prefix each part so ("ab","c") and ("a","bc") differ.
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac
    }

    /// The keyed hash of `parts`, hex-encoded for storage.
    pub fn keyed_hash(&self, purpose: Purpose, parts: &[&[u8]]) -> String {
        hex::encode(self.mac(purpose, parts).finalize().into_bytes())
    }

    /// Whether `stored_hex` is the keyed hash of `parts`, compared in constant time.
    pub fn verify(&self, purpose: Purpose, parts: &[&[u8]], stored_hex: &str) -> bool {
        match hex::decode(stored_hex) {
            Ok(expected) => self.mac(purpose, parts).verify_slice(&expected).is_ok(),
            Err(_) => false,
        }
    }
}

/// `n` random bytes from the operating system's CSPRNG, hex-encoded.
pub fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> ServerSecret {
        ServerSecret::from_hex(&"ab".repeat(32)).unwrap()
    }

    #[test]
    fn verify_accepts_only_the_same_parts_and_purpose() {
        let s = secret();
        let h = s.keyed_hash(Purpose::SmsCode, &[b"user", b"123456"]);
        assert!(s.verify(Purpose::SmsCode, &[b"user", b"123456"], &h));
        assert!(!s.verify(Purpose::SmsCode, &[b"user", b"123457"], &h));
        assert!(!s.verify(Purpose::Password, &[b"user", b"123456"], &h));
        assert!(!s.verify(Purpose::SmsCode, &[b"use", b"r123456"], &h));
        assert!(!s.verify(Purpose::SmsCode, &[b"user", b"123456"], "not hex"));
    }

    #[test]
    fn a_different_secret_gives_a_different_hash() {
        let other = ServerSecret::from_hex(&"cd".repeat(32)).unwrap();
        assert_ne!(secret().keyed_hash(Purpose::Password, &[b"x"]), other.keyed_hash(Purpose::Password, &[b"x"]));
    }

    #[test]
    fn sealed_values_open_only_with_the_same_key_purpose_and_context() {
        let s = secret();
        let sealed = s.seal(Purpose::SmsOutbox, b"message-1", b"Code: 123456");
        assert!(!sealed.windows(6).any(|w| w == b"123456"));
        assert_eq!(s.open(Purpose::SmsOutbox, b"message-1", &sealed).unwrap(), b"Code: 123456");
        assert!(s.open(Purpose::SmsOutbox, b"message-2", &sealed).is_none());
        assert!(s.open(Purpose::Password, b"message-1", &sealed).is_none());
        let other = ServerSecret::from_hex(&"cd".repeat(32)).unwrap();
        assert!(other.open(Purpose::SmsOutbox, b"message-1", &sealed).is_none());
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert!(s.open(Purpose::SmsOutbox, b"message-1", &altered).is_none());
        assert!(s.open(Purpose::SmsOutbox, b"message-1", b"short").is_none());
    }

    #[test]
    fn short_or_non_hex_secrets_are_refused() {
        assert!(ServerSecret::from_hex("abcd").is_err());
        assert!(ServerSecret::from_hex(&"zz".repeat(32)).is_err());
    }

    #[test]
    fn load_or_create_persists_one_secret() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server-secret");
        let a = ServerSecret::load_or_create(&path).unwrap();
        let b = ServerSecret::load_or_create(&path).unwrap();
        assert_eq!(a.keyed_hash(Purpose::Password, &[b"x"]), b.keyed_hash(Purpose::Password, &[b"x"]));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }
}
