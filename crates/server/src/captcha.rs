//! Server-side CAPTCHA verification: a valid CAPTCHA lets a person through a brute-force block.
//!
//! DocSpace's `recaptchaType` 0 (Default), 1 (AndroidV2) and 2 (iOSV2) are all Google reCAPTCHA;
//! 3 is hCaptcha. Both speak the same `siteverify` protocol: a form POST of `secret`, `response`
//! and `remoteip`, answered `{"success": bool, "error-codes": [...]}`.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CaptchaSettings {
    /// reCAPTCHA secret key; unset (or empty) means reCAPTCHA answers cannot be checked.
    pub recaptcha_secret: Option<String>,
    /// reCAPTCHA site key, published to clients so they can show the widget.
    pub recaptcha_public_key: Option<String>,
    pub recaptcha_verify_url: Url,
    /// hCaptcha secret key; unset (or empty) means hCaptcha answers cannot be checked.
    pub hcaptcha_secret: Option<String>,
    /// hCaptcha site key, published to clients so they can show the widget.
    pub hcaptcha_public_key: Option<String>,
    pub hcaptcha_verify_url: Url,
    /// How long one verification may take, connecting included.
    pub timeout_ms: u64,
}

impl Default for CaptchaSettings {
    fn default() -> Self {
        Self {
            recaptcha_secret: None,
            recaptcha_public_key: None,
            recaptcha_verify_url: const_url("https://www.google.com/recaptcha/api/siteverify"),
            hcaptcha_secret: None,
            hcaptcha_public_key: None,
            hcaptcha_verify_url: const_url("https://api.hcaptcha.com/siteverify"),
            timeout_ms: 5000,
        }
    }
}

/// Settings are logged at startup; the secrets must not be.
impl fmt::Debug for CaptchaSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaptchaSettings")
            .field("recaptcha_secret", &Redacted(self.recaptcha_secret.is_some()))
            .field("recaptcha_public_key", &self.recaptcha_public_key)
            .field("recaptcha_verify_url", &self.recaptcha_verify_url.as_str())
            .field("hcaptcha_secret", &Redacted(self.hcaptcha_secret.is_some()))
            .field("hcaptcha_public_key", &self.hcaptcha_public_key)
            .field("hcaptcha_verify_url", &self.hcaptcha_verify_url.as_str())
            .field("timeout_ms", &self.timeout_ms)
            .finish()
    }
}

/// Prints `Some(..)` or `None` for a secret that is or is not set.
struct Redacted(bool);

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0 { "Some(..)" } else { "None" })
    }
}

/// The defaults are literals known to parse; a test checks them.
fn const_url(url: &'static str) -> Url {
    Url::parse(url).expect("built-in verify URL is valid")
}

/// Which service a CAPTCHA answer comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CaptchaKind {
    Recaptcha,
    Hcaptcha,
}

impl CaptchaKind {
    fn name(self) -> &'static str {
        match self {
            CaptchaKind::Recaptcha => "reCAPTCHA",
            CaptchaKind::Hcaptcha => "hCaptcha",
        }
    }
}

impl fmt::Display for CaptchaKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CaptchaError {
    /// No secret for this kind, so its answers cannot be checked.
    #[error("CAPTCHA verification is not configured")]
    NotConfigured,
    /// The verify service could not give a verdict. The caller answers 503: letting the person
    /// through would turn an outage into a brute-force window, and refusing would blame them.
    #[error("CAPTCHA verification is unavailable: {0}")]
    Unavailable(String),
}

/// One configured verify service. Debug leaves the secret out.
#[derive(Clone)]
struct Provider {
    secret: String,
    public_key: Option<String>,
    verify_url: Url,
}

impl fmt::Debug for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Provider")
            .field("public_key", &self.public_key)
            .field("verify_url", &self.verify_url.as_str())
            .finish_non_exhaustive()
    }
}

/// The verify service's answer; other fields (`challenge_ts`, `hostname`, ...) are ignored.
#[derive(Deserialize)]
struct SiteVerify {
    success: bool,
    #[serde(default, rename = "error-codes")]
    error_codes: Vec<String>,
}

/// Error codes that mean our side is misconfigured, not that the person failed the CAPTCHA.
const SECRET_ERROR_CODES: &[&str] = &["missing-input-secret", "invalid-input-secret", "sitekey-secret-mismatch"];

/// Checks CAPTCHA answers against reCAPTCHA or hCaptcha. Cheap to clone (the HTTP client is shared).
#[derive(Debug, Clone)]
pub struct CaptchaVerifier {
    client: reqwest::Client,
    recaptcha: Option<Provider>,
    hcaptcha: Option<Provider>,
    timeout: Duration,
}

impl CaptchaVerifier {
    pub fn new(settings: &CaptchaSettings) -> anyhow::Result<Self> {
        anyhow::ensure!(settings.timeout_ms > 0, "captcha.timeout_ms must be positive");
        for url in [&settings.recaptcha_verify_url, &settings.hcaptcha_verify_url] {
            anyhow::ensure!(matches!(url.scheme(), "http" | "https"), "captcha verify URL {url} must be http or https");
        }
        let timeout = Duration::from_millis(settings.timeout_ms);
        let client = reqwest::Client::builder()
            .timeout(timeout)
            // A redirect would carry the secret to wherever it points; the services never redirect.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let provider = |secret: &Option<String>, public_key: &Option<String>, verify_url: &Url| {
            let secret = secret.as_deref().filter(|s| !s.is_empty())?;
            Some(Provider {
                secret: secret.to_owned(),
                public_key: public_key.clone().filter(|k| !k.is_empty()),
                verify_url: verify_url.clone(),
            })
        };
        Ok(Self {
            client,
            recaptcha: provider(
                &settings.recaptcha_secret,
                &settings.recaptcha_public_key,
                &settings.recaptcha_verify_url,
            ),
            hcaptcha: provider(&settings.hcaptcha_secret, &settings.hcaptcha_public_key, &settings.hcaptcha_verify_url),
            timeout,
        })
    }

    fn provider(&self, kind: CaptchaKind) -> Option<&Provider> {
        match kind {
            CaptchaKind::Recaptcha => self.recaptcha.as_ref(),
            CaptchaKind::Hcaptcha => self.hcaptcha.as_ref(),
        }
    }

    pub fn is_configured(&self, kind: CaptchaKind) -> bool {
        self.provider(kind).is_some()
    }

    /// The site key clients need to show the widget; only for a configured kind, since answers
    /// to a widget we cannot check would be useless.
    pub fn public_key(&self, kind: CaptchaKind) -> Option<&str> {
        self.provider(kind)?.public_key.as_deref()
    }

    /// Whether `response` is a valid answer of `kind`, solved from `remote_ip`.
    ///
    /// `Ok(false)` is the person's failure (403 "Invalid Recaptcha"); `Err` is ours or the
    /// service's. Neither the secret nor the response token is ever logged.
    /// Without a readable client address (`None`), `remoteip` is left out.
    pub async fn verify(
        &self,
        kind: CaptchaKind,
        response: &str,
        remote_ip: Option<IpAddr>,
    ) -> Result<bool, CaptchaError> {
        let provider = self.provider(kind).ok_or(CaptchaError::NotConfigured)?;
        if response.is_empty() {
            return Ok(false);
        }
        let remote_ip = remote_ip.map(|ip| ip.to_canonical().to_string());
        let mut form = vec![("secret", provider.secret.as_str()), ("response", response)];
        form.extend(remote_ip.as_deref().map(|ip| ("remoteip", ip)));
        let answer = self
            .client
            .post(provider.verify_url.clone())
            .form(&form)
            .send()
            .await
            .map_err(|e| self.unavailable(kind, &e))?;
        let status = answer.status();
        if !status.is_success() {
            return Err(CaptchaError::Unavailable(format!("{kind} answered HTTP {status}")));
        }
        let body = answer.bytes().await.map_err(|e| self.unavailable(kind, &e))?;
        let verdict: SiteVerify = serde_json::from_slice(&body)
            .map_err(|e| CaptchaError::Unavailable(format!("{kind} answered an unreadable body: {e}")))?;
        if !verdict.success {
            if verdict.error_codes.iter().any(|code| SECRET_ERROR_CODES.contains(&code.as_str())) {
                tracing::warn!(provider = %kind, error_codes = ?verdict.error_codes, "CAPTCHA secret rejected; check the captcha settings");
            } else {
                tracing::debug!(provider = %kind, error_codes = ?verdict.error_codes, "CAPTCHA answer rejected");
            }
        }
        Ok(verdict.success)
    }

    /// Describes a transport failure with its causes (reqwest's own message omits them).
    fn unavailable(&self, kind: CaptchaKind, error: &reqwest::Error) -> CaptchaError {
        if error.is_timeout() {
            return CaptchaError::Unavailable(format!("{kind} did not answer within {} ms", self.timeout.as_millis()));
        }
        let mut message = format!("{kind} could not be reached: {error}");
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        CaptchaError::Unavailable(message)
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::{Ipv4Addr, TcpListener, TcpStream};
    use std::sync::mpsc;
    use std::thread;

    use super::*;

    /// What the fake verify service received.
    #[derive(Debug)]
    struct Received {
        path: String,
        content_type: Option<String>,
        form: Vec<(String, String)>,
    }

    /// A fake verify service on 127.0.0.1 that records each request, waits `delay`, then answers
    /// `status` with `body`. It runs on a plain thread so the tests need no extra tokio features;
    /// the thread ends with the test process.
    fn fake_service(status: u16, body: &'static str, delay: Duration) -> (Url, mpsc::Receiver<Received>) {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind fake service");
        let addr = listener.local_addr().expect("fake service address");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let Some(received) = read_request(&mut stream) else { continue };
                if tx.send(received).is_err() {
                    return;
                }
                thread::sleep(delay);
                let reply = format!(
                    "HTTP/1.1 {status} Fake\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
                     Connection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(reply.as_bytes());
            }
        });
        let url = Url::parse(&format!("http://{addr}/siteverify")).expect("fake service URL");
        (url, rx)
    }

    fn read_request(stream: &mut TcpStream) -> Option<Received> {
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let header_end = loop {
            if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break pos + 4;
            }
            let n = stream.read(&mut chunk).ok()?;
            if n == 0 {
                return None;
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8(buf[..header_end].to_vec()).ok()?;
        let mut lines = head.lines();
        let path = lines.next()?.split(' ').nth(1)?.to_owned();
        let mut content_type = None;
        let mut content_length = 0;
        for line in lines {
            if let Some((name, value)) = line.split_once(':') {
                match name.trim().to_ascii_lowercase().as_str() {
                    "content-type" => content_type = Some(value.trim().to_owned()),
                    "content-length" => content_length = value.trim().parse().ok()?,
                    _ => {}
                }
            }
        }
        while buf.len() < header_end + content_length {
            let n = stream.read(&mut chunk).ok()?;
            if n == 0 {
                return None;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let form = url::form_urlencoded::parse(&buf[header_end..header_end + content_length]).into_owned().collect();
        Some(Received { path, content_type, form })
    }

    fn settings_for(recaptcha_url: &Url) -> CaptchaSettings {
        CaptchaSettings {
            recaptcha_secret: Some("re-secret".into()),
            recaptcha_public_key: Some("re-site-key".into()),
            recaptcha_verify_url: recaptcha_url.clone(),
            ..Default::default()
        }
    }

    fn client_ip() -> Option<IpAddr> {
        Some(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7)))
    }

    fn no_more_requests(rx: &mpsc::Receiver<Received>) {
        assert!(rx.recv_timeout(Duration::from_millis(100)).is_err(), "no request expected");
    }

    #[tokio::test]
    async fn a_successful_answer_is_accepted_and_the_form_is_exact() {
        let (url, rx) =
            fake_service(200, r#"{"success": true, "challenge_ts": "2024-01-01T00:00:00Z"}"#, Duration::ZERO);
        let verifier = CaptchaVerifier::new(&settings_for(&url)).expect("verifier");
        assert!(verifier.verify(CaptchaKind::Recaptcha, "token-1", client_ip()).await.expect("verdict"));
        let received = rx.recv_timeout(Duration::from_secs(1)).expect("one request");
        assert_eq!(received.path, "/siteverify");
        assert_eq!(received.content_type.as_deref(), Some("application/x-www-form-urlencoded"));
        let expected = [("secret", "re-secret"), ("response", "token-1"), ("remoteip", "198.51.100.7")];
        let expected: Vec<(String, String)> = expected.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        assert_eq!(received.form, expected);
    }

    #[tokio::test]
    async fn a_failed_answer_is_rejected() {
        let (url, rx) =
            fake_service(200, r#"{"success": false, "error-codes": ["invalid-input-response"]}"#, Duration::ZERO);
        let verifier = CaptchaVerifier::new(&settings_for(&url)).expect("verifier");
        assert!(!verifier.verify(CaptchaKind::Recaptcha, "wrong", client_ip()).await.expect("verdict"));
        assert!(rx.recv_timeout(Duration::from_secs(1)).is_ok());
    }

    #[tokio::test]
    async fn a_server_error_makes_verification_unavailable() {
        let (url, _rx) = fake_service(500, r#"{"success": true}"#, Duration::ZERO);
        let verifier = CaptchaVerifier::new(&settings_for(&url)).expect("verifier");
        let err = verifier.verify(CaptchaKind::Recaptcha, "token", client_ip()).await.expect_err("unavailable");
        assert!(matches!(&err, CaptchaError::Unavailable(m) if m.contains("500")), "{err:?}");
    }

    #[tokio::test]
    async fn an_unreadable_body_makes_verification_unavailable() {
        let (url, _rx) = fake_service(200, "<html>not json</html>", Duration::ZERO);
        let verifier = CaptchaVerifier::new(&settings_for(&url)).expect("verifier");
        let err = verifier.verify(CaptchaKind::Recaptcha, "token", client_ip()).await.expect_err("unavailable");
        assert!(matches!(err, CaptchaError::Unavailable(_)), "{err:?}");

        // A JSON body without a verdict is no better.
        let (url, _rx) = fake_service(200, r#"{"error-codes": []}"#, Duration::ZERO);
        let verifier = CaptchaVerifier::new(&settings_for(&url)).expect("verifier");
        let err = verifier.verify(CaptchaKind::Recaptcha, "token", client_ip()).await.expect_err("unavailable");
        assert!(matches!(err, CaptchaError::Unavailable(_)), "{err:?}");
    }

    #[tokio::test]
    async fn a_slow_service_times_out() {
        let (url, _rx) = fake_service(200, r#"{"success": true}"#, Duration::from_secs(2));
        let settings = CaptchaSettings { timeout_ms: 200, ..settings_for(&url) };
        let verifier = CaptchaVerifier::new(&settings).expect("verifier");
        let started = std::time::Instant::now();
        let err = verifier.verify(CaptchaKind::Recaptcha, "token", client_ip()).await.expect_err("timeout");
        assert!(started.elapsed() < Duration::from_millis(1500), "took {:?}", started.elapsed());
        assert!(matches!(&err, CaptchaError::Unavailable(m) if m.contains("200 ms")), "{err:?}");
    }

    #[tokio::test]
    async fn a_dropped_connection_makes_verification_unavailable() {
        // Hangs up on every request without a word.
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        let addr = listener.local_addr().expect("address");
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let _ = read_request(&mut stream);
            }
        });
        let url = Url::parse(&format!("http://{addr}/siteverify")).expect("url");
        let verifier = CaptchaVerifier::new(&settings_for(&url)).expect("verifier");
        let err = verifier.verify(CaptchaKind::Recaptcha, "token", client_ip()).await.expect_err("unavailable");
        assert!(matches!(&err, CaptchaError::Unavailable(m) if !m.contains("re-secret")), "{err:?}");
    }

    #[tokio::test]
    async fn an_unconfigured_kind_or_empty_answer_sends_nothing() {
        let (url, rx) = fake_service(200, r#"{"success": true}"#, Duration::ZERO);
        let verifier = CaptchaVerifier::new(&settings_for(&url)).expect("verifier");
        assert!(verifier.is_configured(CaptchaKind::Recaptcha));
        assert!(!verifier.is_configured(CaptchaKind::Hcaptcha));
        assert_eq!(verifier.public_key(CaptchaKind::Recaptcha), Some("re-site-key"));
        assert_eq!(verifier.public_key(CaptchaKind::Hcaptcha), None);
        let err = verifier.verify(CaptchaKind::Hcaptcha, "token", client_ip()).await.expect_err("not configured");
        assert!(matches!(err, CaptchaError::NotConfigured), "{err:?}");
        assert!(!verifier.verify(CaptchaKind::Recaptcha, "", client_ip()).await.expect("verdict"));
        no_more_requests(&rx);

        // An empty secret (say, from an empty environment variable) is no secret.
        let empty = CaptchaSettings { recaptcha_secret: Some(String::new()), ..settings_for(&url) };
        let verifier = CaptchaVerifier::new(&empty).expect("verifier");
        assert!(!verifier.is_configured(CaptchaKind::Recaptcha));
        assert_eq!(verifier.public_key(CaptchaKind::Recaptcha), None);
        let err = verifier.verify(CaptchaKind::Recaptcha, "token", client_ip()).await.expect_err("not configured");
        assert!(matches!(err, CaptchaError::NotConfigured), "{err:?}");
        no_more_requests(&rx);
    }

    #[tokio::test]
    async fn hcaptcha_uses_its_own_url_and_secret() {
        let (re_url, re_rx) = fake_service(200, r#"{"success": false}"#, Duration::ZERO);
        let (h_url, h_rx) = fake_service(200, r#"{"success": true}"#, Duration::ZERO);
        let settings = CaptchaSettings {
            hcaptcha_secret: Some("h-secret".into()),
            hcaptcha_public_key: Some("h-site-key".into()),
            hcaptcha_verify_url: h_url,
            ..settings_for(&re_url)
        };
        let verifier = CaptchaVerifier::new(&settings).expect("verifier");
        assert_eq!(verifier.public_key(CaptchaKind::Hcaptcha), Some("h-site-key"));
        let mapped_v6: IpAddr = "::ffff:198.51.100.7".parse().expect("address");
        assert!(verifier.verify(CaptchaKind::Hcaptcha, "h-token", Some(mapped_v6)).await.expect("verdict"));
        let received = h_rx.recv_timeout(Duration::from_secs(1)).expect("one request");
        let field = |name: &str| received.form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        assert_eq!(field("secret"), Some("h-secret"));
        assert_eq!(field("response"), Some("h-token"));
        assert_eq!(field("remoteip"), Some("198.51.100.7"));
        no_more_requests(&re_rx);
    }

    #[test]
    fn defaults_parse_and_debug_hides_secrets() {
        let settings: CaptchaSettings =
            serde_json::from_str(r#"{"recaptcha_secret": "s3cr3t-value"}"#).expect("settings");
        assert_eq!(settings.recaptcha_verify_url.as_str(), "https://www.google.com/recaptcha/api/siteverify");
        assert_eq!(settings.hcaptcha_verify_url.as_str(), "https://api.hcaptcha.com/siteverify");
        assert_eq!(settings.timeout_ms, 5000);
        let shown = format!("{settings:?}");
        assert!(!shown.contains("s3cr3t-value"), "{shown}");
        assert!(shown.contains("recaptcha_secret: Some(..)") && shown.contains("hcaptcha_secret: None"), "{shown}");

        let verifier = CaptchaVerifier::new(&settings).expect("verifier with https URLs");
        assert!(!format!("{verifier:?}").contains("s3cr3t-value"));

        assert!(serde_json::from_str::<CaptchaSettings>(r#"{"no_such_key": 1}"#).is_err());
        let zero = CaptchaSettings { timeout_ms: 0, ..CaptchaSettings::default() };
        assert!(CaptchaVerifier::new(&zero).is_err());
    }
}
