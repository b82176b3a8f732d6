//! Settings: embedded defaults, then an optional TOML file, then `DOCSPACE_AUTH__*` environment
//! variables, then command-line flags (each layer overrides the one before).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::captcha::CaptchaSettings;
use crate::client_ip::{IpRanges, TrustedProxies};
use crate::sms::breaker::FailoverSettings;
use crate::sms::outbox::DeliverySettings;
use crate::sms::providers::twilio::TwilioSettings;
use crate::sms::providers::{clickatell, messagebird, smsc, vonage, webhook};

mod validate;

/// Prefix of environment variables; `__` separates nested keys:
/// `DOCSPACE_AUTH__CODES__TTL_SECONDS=300` sets `codes.ttl_seconds`.
pub const ENV_PREFIX: &str = "DOCSPACE_AUTH__";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Address the HTTP server listens on.
    pub bind: SocketAddr,
    /// Folder for the SQLite database, the generated server secret and the development SMS outbox.
    pub data_dir: PathBuf,
    /// Database URL: `sqlite://...` or `postgres://...`; defaults to
    /// `sqlite://<data_dir>/docspace-auth.db`. It may hold a password, so `Debug` never prints it.
    pub database_url: Option<SecretText>,
    /// Longest wait for a PostgreSQL connection (opening one included); past it a request is
    /// answered 503 `DatabaseUnavailable` rather than left hanging. SQLite waits at least 10 s for
    /// its write lock, which this process's own requests queue for.
    pub database_timeout_ms: u64,
    /// Base URL people reach this server at (used in links and the SMS origin line);
    /// defaults to `http://<bind>`.
    pub public_url: Option<Url>,
    /// Server secret keying every stored hash (hex, at least 32 bytes). When unset, one is generated
    /// into `<data_dir>/server-secret` on first start. Several instances must share one.
    pub secret: Option<SecretText>,
    /// Log format: `text` for people, `json` for log collectors.
    pub log_format: LogFormat,
    /// Largest accepted request body in bytes; larger bodies are answered 413.
    pub max_body_bytes: usize,
    /// Days rows in a final state (ended sessions, expired codes, sent or failed SMS messages
    /// without their text, used login links past their expiry) are kept after they ended, for
    /// operators and audits, before the housekeeping purge deletes them.
    pub retention_days: u32,
    pub password_hash: PasswordHashSettings,
    pub codes: CodeSettings,
    pub sessions: SessionSettings,
    pub sms: SmsSettings,
    pub two_factor: TwoFactorSettings,
    /// Proxies (CIDR ranges) whose `X-Forwarded-For` is believed; nobody else's is.
    pub trusted_proxies: TrustedProxies,
    pub captcha: CaptchaSettings,
    pub brute_force: BruteForceSettings,
    pub delivery: DeliverySettings,
    pub send_caps: SendCapSettings,
    pub metrics: MetricsSettings,
}

/// Prometheus metrics at `/metrics`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsSettings {
    pub enabled: bool,
    /// When set, scrapers must send `Authorization: Bearer <token>`.
    pub bearer_token: Option<SecretText>,
    /// Serve `/metrics` without a token on a server others reach (a non-loopback `bind`, a proxy
    /// in `trusted_proxies`, a public `public_url`), for a scraper-only network. Without it, such
    /// a server needs `bearer_token` or `enabled = false`.
    pub public: bool,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        Self { enabled: true, bearer_token: None, public: false }
    }
}

/// A setting that is a secret: `Debug` never prints it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretText(pub String);

impl std::fmt::Debug for SecretText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretText(..)")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// The PBKDF2 parameters DocSpace clients use to compute `passwordHash` (published by
/// `GET /api/2.0/settings`). Changing them invalidates every stored password.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PasswordHashSettings {
    pub iterations: u32,
    /// Output size in bits (a multiple of 8).
    pub size: u32,
    /// The portal's salt. When unset, one is generated and kept in the database, so that every
    /// instance sharing the database publishes the same one.
    pub salt: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CodeSettings {
    /// Digits in a code, 6 to 10.
    pub length: u8,
    /// How long a code stays valid.
    pub ttl_seconds: u32,
    /// Codes that may be live for one phone at once; one more is refused with 429.
    pub max_live_per_phone: u32,
    /// Wrong codes a user may enter within a code lifetime; the last one kills every live code.
    pub max_failures: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionSettings {
    /// How long a session token stays valid.
    pub ttl_seconds: u32,
}

impl Default for SessionSettings {
    fn default() -> Self {
        Self { ttl_seconds: 14 * 24 * 3600 }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmsSettings {
    /// Providers in the order they are tried. `development` appends each message to the outbox
    /// file; an empty list means SMS is not configured and `sendsms` answers 503.
    pub providers: Vec<String>,
    /// Where the development provider writes; defaults to `<data_dir>/sms-outbox.jsonl`.
    pub outbox_file: Option<PathBuf>,
    pub development: DevelopmentSettings,
    /// When a failing provider is skipped in favour of the next one.
    pub failover: FailoverSettings,
    pub twilio: Option<TwilioSettings>,
    pub vonage: Option<vonage::VonageSettings>,
    pub messagebird: Option<messagebird::MessageBirdSettings>,
    pub smsc: Option<smsc::SmscSettings>,
    pub clickatell: Option<clickatell::ClickatellSettings>,
    pub webhook: Option<webhook::WebhookSettings>,
}

/// The development provider writes every code in plain text to the outbox file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DevelopmentSettings {
    /// Let it run on a server others reach (a non-loopback `bind`, a proxy in `trusted_proxies`,
    /// a public `public_url`), where people other than the developer log in.
    pub allow_public: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TwoFactorSettings {
    /// SMS two-factor authentication for the portal; when off, `sendsms` answers 403 and logins
    /// need only the password.
    pub sms: bool,
    /// Client addresses (CIDR ranges) that log in without a second factor, as DocSpace's
    /// "trusted IP" setting.
    pub trusted_ip_ranges: IpRanges,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8092)),
            data_dir: PathBuf::from("data"),
            database_url: None,
            database_timeout_ms: 2_000,
            public_url: None,
            secret: None,
            log_format: LogFormat::Text,
            max_body_bytes: 8 * 1024,
            retention_days: 30,
            password_hash: PasswordHashSettings::default(),
            codes: CodeSettings::default(),
            sessions: SessionSettings::default(),
            sms: SmsSettings::default(),
            two_factor: TwoFactorSettings::default(),
            trusted_proxies: TrustedProxies::default(),
            captcha: CaptchaSettings::default(),
            brute_force: BruteForceSettings::default(),
            delivery: DeliverySettings::default(),
            send_caps: SendCapSettings::default(),
            metrics: MetricsSettings::default(),
        }
    }
}

impl Default for PasswordHashSettings {
    fn default() -> Self {
        // DocSpace's defaults.
        Self { iterations: 100_000, size: 256, salt: None }
    }
}

impl Default for CodeSettings {
    fn default() -> Self {
        Self { length: 6, ttl_seconds: 600, max_live_per_phone: 6, max_failures: 5 }
    }
}

impl Default for SmsSettings {
    fn default() -> Self {
        Self {
            providers: vec!["development".to_owned()],
            outbox_file: None,
            development: DevelopmentSettings::default(),
            failover: FailoverSettings::default(),
            twilio: None,
            vonage: None,
            messagebird: None,
            smsc: None,
            clickatell: None,
            webhook: None,
        }
    }
}

impl Default for TwoFactorSettings {
    fn default() -> Self {
        Self { sms: true, trusted_ip_ranges: IpRanges::default() }
    }
}

/// Brute-force protection. Per (account, client address): DocSpace's rule, 5 attempts within
/// 60 s, then 60 s blocked. Per account, whatever the address (NIST SP 800-63B-4): consecutive
/// failures of passwords and codes together, reset only by a successful login.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BruteForceSettings {
    pub max_failures: u32,
    pub window_seconds: u32,
    pub block_seconds: u32,
    /// From this many consecutive failures of an account on, every attempt needs a valid CAPTCHA
    /// when one is configured, or else waits a delay doubling from 1 s up to an hour.
    pub account_captcha_after: u32,
    /// At this many the account is locked until `docspace-auth user unlock`; 0 never locks.
    pub account_lock_after: u32,
    /// IPv6 clients are counted per network of this many bits (one subscriber holds a /64).
    pub ipv6_prefix: u8,
}

impl Default for BruteForceSettings {
    fn default() -> Self {
        Self {
            max_failures: 5,
            window_seconds: 60,
            block_seconds: 60,
            account_captcha_after: 10,
            account_lock_after: 100,
            ipv6_prefix: 64,
        }
    }
}

/// SMS sent per hour, per scope, beyond the per-phone live-code cap; 0 switches a cap off. They
/// bound what a replayed link or a stolen password can cost in SMS.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SendCapSettings {
    /// Per number a user chose and has not confirmed (several accounts may choose one number);
    /// a number bound to its user (activated, or an administrator's) is bounded by `per_user`.
    pub per_phone_per_hour: u32,
    pub per_user_per_hour: u32,
    pub per_ip_per_hour: u32,
    /// Per country calling code (`+44`, `+1`, ...): limits toll fraud aimed at one country.
    pub per_country_per_hour: u32,
    pub global_per_hour: u32,
}

impl Default for SendCapSettings {
    fn default() -> Self {
        Self {
            per_phone_per_hour: 10,
            per_user_per_hour: 10,
            per_ip_per_hour: 30,
            per_country_per_hour: 1_000,
            global_per_hour: 10_000,
        }
    }
}

/// Command-line values that override every other source.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub bind: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
}

/// An environment variable's value: lists and tables (`[10.0.0.0/8]`) are parsed, anything else
/// stays text. Figment's own `Env` would read `+15005550006` as a number (losing the `+`) and
/// a password `123456` or `true` as a number or a boolean, which a text setting then refuses.
fn environment_value(text: &str) -> figment::value::Value {
    if text.trim_start().starts_with(['[', '{']) {
        text.parse().expect("parsing a figment value is infallible")
    } else {
        figment::value::Value::from(text.to_owned())
    }
}

impl Settings {
    /// Loads settings from the layers described in the module documentation.
    pub fn load(config_file: Option<&Path>, overrides: &Overrides) -> anyhow::Result<Self> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(path) = config_file {
            anyhow::ensure!(path.is_file(), "config file {} does not exist", path.display());
            figment = figment.merge(Toml::file_exact(path));
        }
        for (key, value) in Env::prefixed(ENV_PREFIX).split("__").iter() {
            figment = figment.merge(Serialized::default(key.as_str(), environment_value(&value)));
        }
        // Lossy: the environment's text becomes a number or a boolean where a setting wants one.
        let mut settings: Settings = figment.extract_lossy()?;
        if let Some(bind) = overrides.bind {
            settings.bind = bind;
        }
        if let Some(dir) = &overrides.data_dir {
            settings.data_dir = dir.clone();
        }
        if let Some(url) = &overrides.database_url {
            settings.database_url = Some(SecretText(url.clone()));
        }
        settings.validate()?;
        Ok(settings)
    }

    pub fn database_url(&self) -> String {
        self.database_url
            .as_ref()
            .map(|url| url.0.clone())
            .unwrap_or_else(|| format!("sqlite://{}?mode=rwc", self.data_dir.join("docspace-auth.db").display()))
    }

    pub fn database_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.database_timeout_ms)
    }

    pub fn public_url(&self) -> Url {
        self.public_url.clone().unwrap_or_else(|| {
            Url::parse(&format!("http://{}/", self.bind)).expect("a socket address makes a valid URL")
        })
    }

    /// Where Twilio should post delivery receipts: as configured, or under a configured
    /// `public_url` (the default one is this machine's bind address, which Twilio cannot reach).
    pub fn twilio_status_callback(&self) -> Option<Url> {
        let twilio = self.sms.twilio.as_ref()?;
        twilio.status_callback_url.clone().or_else(|| {
            let base = self.public_url.as_ref()?;
            Some(crate::sms::http::endpoint(base, crate::api::receipts::TWILIO_PATH))
        })
    }

    pub fn outbox_file(&self) -> PathBuf {
        self.sms.outbox_file.clone().unwrap_or_else(|| self.data_dir.join("sms-outbox.jsonl"))
    }
}

#[cfg(test)]
// figment's Jail closures return its (large) error type by design.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    #[test]
    fn environment_overrides_nested_keys_and_flags_override_environment() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("DOCSPACE_AUTH__CODES__TTL_SECONDS", "120");
            jail.set_env("DOCSPACE_AUTH__DATA_DIR", "/from/env");
            jail.set_env("DOCSPACE_AUTH__DATABASE_URL", "postgres://app:env-password@db/auth");
            jail.create_file("c.toml", "[sms]\nproviders = []\n")?;
            let s = Settings::load(Some(Path::new("c.toml")), &Overrides::default()).map_err(|e| e.to_string())?;
            assert_eq!(s.database_url(), "postgres://app:env-password@db/auth");
            assert!(!format!("{s:?}").contains("env-password"), "Debug must not print the database password");
            let overrides = Overrides {
                data_dir: Some("/from/flag".into()),
                database_url: Some("postgres://flag@db/auth".into()),
                ..Default::default()
            };
            let s = Settings::load(Some(Path::new("c.toml")), &overrides).map_err(|e| e.to_string())?;
            assert_eq!(s.codes.ttl_seconds, 120);
            assert_eq!(s.data_dir, PathBuf::from("/from/flag"));
            assert_eq!(s.database_url(), "postgres://flag@db/auth");
            assert!(s.sms.providers.is_empty());
            jail.set_env("DOCSPACE_AUTH__SECRET", "ab".repeat(32));
            let s = Settings::load(None, &Overrides::default()).map_err(|e| e.to_string())?;
            assert_eq!(s.secret.as_ref().map(|t| t.0.len()), Some(64));
            assert!(!format!("{s:?}").contains("abab"), "Debug must not print the secret");
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_and_bad_code_length_are_rejected() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("bad.toml", "no_such_key = 1\n")?;
            assert!(Settings::load(Some(Path::new("bad.toml")), &Overrides::default()).is_err());
            jail.set_env("DOCSPACE_AUTH__CODES__LENGTH", "5");
            assert!(Settings::load(None, &Overrides::default()).is_err());
            Ok(())
        });
    }

    #[test]
    fn unsafe_brute_force_and_exemption_settings_refuse_to_load() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "proxy.toml",
                "trusted_proxies = [\"10.0.0.0/8\"]\n[two_factor]\ntrusted_ip_ranges = [\"10.1.0.0/16\"]\n",
            )?;
            let error = Settings::load(Some(Path::new("proxy.toml")), &Overrides::default()).unwrap_err().to_string();
            assert!(error.contains("two_factor.trusted_ip_ranges") && error.contains("trusted_proxies"), "{error}");
            jail.create_file("lock.toml", "[brute_force]\naccount_captcha_after = 10\naccount_lock_after = 10\n")?;
            let error = Settings::load(Some(Path::new("lock.toml")), &Overrides::default()).unwrap_err().to_string();
            assert!(error.contains("brute_force.account_lock_after"), "{error}");
            jail.set_env("DOCSPACE_AUTH__BRUTE_FORCE__IPV6_PREFIX", "8");
            let error = Settings::load(None, &Overrides::default()).unwrap_err().to_string();
            assert!(error.contains("brute_force.ipv6_prefix"), "{error}");
            jail.set_env("DOCSPACE_AUTH__BRUTE_FORCE__IPV6_PREFIX", "56");
            jail.set_env("DOCSPACE_AUTH__BRUTE_FORCE__ACCOUNT_LOCK_AFTER", "0");
            let s = Settings::load(None, &Overrides::default()).map_err(|e| e.to_string())?;
            assert_eq!((s.brute_force.ipv6_prefix, s.brute_force.account_lock_after), (56, 0));
            Ok(())
        });
    }

    #[test]
    fn provider_credentials_come_from_the_environment_and_a_missing_section_is_named() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("DOCSPACE_AUTH__SMS__PROVIDERS", "[twilio, development]");
            jail.set_env("DOCSPACE_AUTH__SMS__TWILIO__ACCOUNT_SID", "AC1");
            // Values that look like numbers or booleans stay text where the setting is text.
            jail.set_env("DOCSPACE_AUTH__SMS__TWILIO__AUTH_TOKEN", "0123456789");
            jail.set_env("DOCSPACE_AUTH__SMS__TWILIO__FROM", "+15005550006");
            let s = Settings::load(None, &Overrides::default()).map_err(|e| e.to_string())?;
            let twilio = s.sms.twilio.as_ref().expect("twilio section");
            assert_eq!(twilio.auth_token.0, "0123456789");
            assert_eq!(twilio.from.as_deref(), Some("+15005550006"));
            assert_eq!(twilio.base_url.as_str(), "https://api.twilio.com/");
            assert!(!format!("{s:?}").contains("0123456789"), "Debug must not print provider secrets");
            let metrics = std::sync::Arc::new(crate::metrics::Metrics::new());
            let sender = crate::sms::SmsSender::from_settings(
                &s,
                metrics.clone(),
                std::sync::Arc::new(crate::clock::SystemClock),
            )
            .map_err(|e| e.to_string())?;
            assert_eq!(sender.describe(), ["twilio", "development"]);

            jail.set_env("DOCSPACE_AUTH__SMS__PROVIDERS", "[vonage, twilio]");
            let s = Settings::load(None, &Overrides::default()).map_err(|e| e.to_string())?;
            let error =
                crate::sms::SmsSender::from_settings(&s, metrics, std::sync::Arc::new(crate::clock::SystemClock))
                    .err()
                    .expect("no [sms.vonage]")
                    .to_string();
            assert!(error.contains("[sms.vonage] is not configured"), "{error}");
            assert!(error.contains("DOCSPACE_AUTH__SMS__VONAGE__"), "{error}");
            Ok(())
        });
    }
}
