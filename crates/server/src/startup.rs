//! Wiring: settings → store, secret, SMS providers → the rules → the HTTP server.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use anyhow::Context;

use crate::api;
use crate::api::body::BodyLimit;
use crate::api::metrics::MetricsAccess;
use crate::api::receipts::TwilioReceipts;
use crate::api::session::CookiePolicy;
use crate::auth::{AuthService, AuthServiceParts};
use crate::captcha::CaptchaVerifier;
use crate::clock::{Clock, SystemClock};
use crate::config::Settings;
use crate::crypto::{Purpose, ServerSecret, random_hex};
use crate::metrics::Metrics;
use crate::password::ClientHashParams;
use crate::sms::SmsSender;
use crate::sms::outbox::Outbox;
use crate::store;
use crate::telemetry::log_requests;

/// Key of the generated password salt in the portal settings table.
const PASSWORD_SALT_KEY: &str = "password_hash.salt";
/// Key of the server secret's fingerprint in the portal settings table.
const SECRET_FINGERPRINT_KEY: &str = "secret.fingerprint";

/// Refuses a secret other than the one the database was first used with: an instance with its own
/// secret would reject every other instance's codes, sessions and queued texts, silently.
async fn check_secret(store: &dyn store::Store, secret: &ServerSecret, settings: &Settings) -> anyhow::Result<()> {
    let ours = secret.keyed_hash(Purpose::SecretFingerprint, &[]);
    let stored = store.portal_setting_or_init(SECRET_FINGERPRINT_KEY, &ours).await?;
    let source = match &settings.secret {
        Some(_) => "from the `secret` setting".to_owned(),
        None => format!("generated in {}", settings.data_dir.join("server-secret").display()),
    };
    anyhow::ensure!(
        secret.verify(Purpose::SecretFingerprint, &[], &stored),
        "the server secret ({source}) is not the one this database was first used with: every instance \
         sharing a database must have the same secret. Set `secret` (DOCSPACE_AUTH__SECRET) to the other \
         instances' value, or copy their server-secret file into this data directory (the fingerprint is the \
         `secret.fingerprint` row of the portal_settings table: delete it only to abandon what was stored \
         under the other secret)"
    );
    Ok(())
}

/// Opens the data directory and database and assembles the rules; used by `serve` and by the
/// `user` commands alike.
pub async fn build_auth_service(settings: &Settings, clock: Arc<dyn Clock>) -> anyhow::Result<AuthService> {
    // However the settings were made, an unsafe combination never starts.
    settings.validate()?;
    std::fs::create_dir_all(&settings.data_dir)
        .with_context(|| format!("creating data directory {}", settings.data_dir.display()))?;
    let secret = match &settings.secret {
        Some(hex) => ServerSecret::from_hex(&hex.0).context("in setting `secret`")?,
        None => ServerSecret::load_or_create(&settings.data_dir.join("server-secret"))?,
    };
    let store = store::connect(&settings.database_url(), settings.database_timeout()).await?;
    check_secret(store.as_ref(), &secret, settings).await?;
    let salt = match &settings.password_hash.salt {
        Some(salt) => salt.clone(),
        None => store.portal_setting_or_init(PASSWORD_SALT_KEY, &random_hex(16)).await?,
    };
    let metrics = Arc::new(Metrics::new());
    let sms = SmsSender::from_settings(settings, metrics.clone(), clock.clone())?;
    let outbox = Arc::new(Outbox::new(
        store.clone(),
        secret.clone(),
        sms.clone(),
        clock.clone(),
        settings.delivery.clone(),
        settings.retention_days,
        metrics.clone(),
    ));
    Ok(AuthService::new(AuthServiceParts {
        store,
        secret,
        clock,
        sms,
        outbox,
        metrics,
        hash_params: ClientHashParams {
            iterations: settings.password_hash.iterations,
            size_bits: settings.password_hash.size,
            salt,
        },
        codes: settings.codes.clone(),
        sessions: settings.sessions.clone(),
        sms_two_factor: settings.two_factor.sms,
        // Only a configured public URL names a host browsers will match.
        origin_host: settings.public_url.as_ref().and_then(|u| u.host_str()).map(str::to_owned),
        public_url: settings.public_url(),
        two_factor_exempt: settings.two_factor.trusted_ip_ranges.clone(),
        captcha: CaptchaVerifier::new(&settings.captcha).context("in the `captcha` settings")?,
        brute_force: settings.brute_force.clone(),
        send_caps: settings.send_caps.clone(),
    }))
}

/// A bound, not yet running server.
pub struct Application {
    address: SocketAddr,
    server: actix_web::dev::Server,
    auth: web::Data<AuthService>,
    worker: tokio::task::JoinHandle<()>,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::build_with_clock(settings, Arc::new(SystemClock)).await
    }

    /// Builds with a given clock, so tests can move time.
    pub async fn build_with_clock(settings: Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let auth = build_auth_service(&settings, clock).await?;
        // Retries and messages left behind by a process that died: delivered from here.
        let worker = tokio::spawn(auth.outbox_worker().run());
        let auth = web::Data::new(auth);
        let shared = auth.clone();
        let listener = TcpListener::bind(settings.bind).with_context(|| format!("listening on {}", settings.bind))?;
        let address = listener.local_addr()?;
        let body_limit = BodyLimit(settings.max_body_bytes);
        let trusted_proxies = web::Data::new(settings.trusted_proxies.clone());
        let cookie_policy = web::Data::new(CookiePolicy { secure: settings.public_url().scheme() == "https" });
        let metrics_access = web::Data::new(MetricsAccess {
            enabled: settings.metrics.enabled,
            bearer_token: settings.metrics.bearer_token.clone(),
        });
        let twilio_receipts =
            settings.sms.twilio.as_ref().zip(settings.twilio_status_callback()).map(|(t, url)| {
                web::Data::new(TwilioReceipts { auth_token: t.auth_token.0.clone(), callback_url: url })
            });
        let server = HttpServer::new(move || {
            let mut app = App::new()
                .app_data(shared.clone())
                .app_data(body_limit)
                .app_data(cookie_policy.clone())
                .app_data(trusted_proxies.clone())
                .app_data(metrics_access.clone());
            if let Some(receipts) = &twilio_receipts {
                app = app.app_data(receipts.clone());
            }
            app.wrap(from_fn(api::negotiate::negotiate_media_type))
                .wrap(from_fn(log_requests))
                .wrap(from_fn(api::headers::security_headers))
                .configure(api::configure)
                .default_service(api::default_service())
        })
        .listen(listener)?
        .run();
        Ok(Self { address, server, auth, worker })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    pub fn port(&self) -> u16 {
        self.address.port()
    }

    /// The rules the server runs on (tests and admin tooling use it to set up users).
    pub fn auth(&self) -> Arc<AuthService> {
        self.auth.clone().into_inner()
    }

    /// Serves until SIGINT/SIGTERM, finishing requests in flight, then lets SMS sends under way
    /// finish. Unsent messages stay queued in the database for the next start.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        let outbox = self.auth.outbox_worker();
        outbox.shutdown().await;
        if tokio::time::timeout(std::time::Duration::from_secs(5), self.worker).await.is_err() {
            tracing::warn!("SMS delivery worker did not stop in time");
        }
        result
    }
}
